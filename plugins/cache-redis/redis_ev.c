/*
 * redis cache: the hiredis event adapter.  hiredis's async API does no I/O waiting of its own; it
 * asks an event library to watch its socket through the ev hooks of redisAsyncContext.  Here those
 * hooks drive one host watch (ABI 1.2 watch_new/watch_set/watch_free) on the worker's loop.
 *
 * hiredis 0.14 (Debian 12) has addRead, delRead, addWrite, delWrite and cleanup; it has no
 * scheduleTimer hook and no async connect or command timeouts, so every deadline is a worker
 * timer of our own (redis_conn.c) or a request timer (redis.c).
 */
#include "redis_int.h"

/* Tell the loop what hiredis wants now; only changes reach it. */
static void apply(rd_worker_t *w, unsigned io)
{
    if (io == w->io)
        return;
    w->io = io;
    if (w->watch != NULL && w->rd->host->watch_set(w->watch, io) != GANTRY_OK)
        w->rd->host->log(w->rd->self, NULL, GANTRY_LOG_ERROR,
                         "worker %u: could not watch the Redis socket", w->id);
}

static void add_read(void *privdata)
{
    rd_worker_t *w = privdata;

    apply(w, w->io | GANTRY_IO_READ);
}

static void del_read(void *privdata)
{
    rd_worker_t *w = privdata;

    apply(w, w->io & ~GANTRY_IO_READ);
}

static void add_write(void *privdata)
{
    rd_worker_t *w = privdata;

    apply(w, w->io | GANTRY_IO_WRITE);
}

static void del_write(void *privdata)
{
    rd_worker_t *w = privdata;

    apply(w, w->io & ~GANTRY_IO_WRITE);
}

/* hiredis is freeing the context (an error, the server closing, or redisAsyncFree()): the watch
 * must go before hiredis closes the socket under it. */
static void cleanup(void *privdata)
{
    rd_conn_gone(privdata);
}

void rd_ev_attach(rd_worker_t *w, redisAsyncContext *ac)
{
    ac->ev.data = w;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
}

void rd_ev_on_io(gantry_watch_t *watch, void *arg, unsigned events)
{
    rd_worker_t *w = arg;
    redisAsyncContext *ac = w->ac;

    (void)watch;
    if (ac == NULL)
        return;
    if (events & GANTRY_IO_READ)
        redisAsyncHandleRead(ac);
    /* Reading may have freed the context (the server closed the connection); a new one is only
     * ever made from the worker timer, so a changed pointer means this one is gone. */
    if ((events & GANTRY_IO_WRITE) && w->ac == ac)
        redisAsyncHandleWrite(ac);
}
