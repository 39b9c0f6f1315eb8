/*
 * wio: worker-level I/O for plugins that keep their own connections (host->watch_* and
 * host->wtimer_*, ABI 1.2), e.g. the Redis cache's hiredis connection on each worker loop.  The
 * handles belong to one worker and are used on its thread only; freeing one closes its libuv
 * handle, and the memory goes when libuv is done with it.
 */
#include "wio.h"

#include <stdlib.h>

#include "srv.h"

struct gantry_watch {
    uv_poll_t poll;
    gantry_watch_cb cb;
    void *arg;
    unsigned events;
};

struct gantry_wtimer {
    uv_timer_t timer;
    gantry_wtimer_cb cb;
    void *arg;
};

static void free_handle(uv_handle_t *h)
{
    free(h->data);
}

static uv_loop_t *loop_of(unsigned worker_id)
{
    return worker_id < srv.nworkers ? &srv.workers[worker_id].loop : NULL;
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    gantry_watch_t *w = p->data;
    unsigned ev = 0;
    /* An error is reported as readiness: the plugin's read or write then sees it. */
    if (status < 0)
        ev = w->events;
    if (events & UV_READABLE)
        ev |= GANTRY_IO_READ;
    if (events & UV_WRITABLE)
        ev |= GANTRY_IO_WRITE;
    w->cb(w, w->arg, ev & w->events);
}

gantry_watch_t *wio_watch_new(unsigned worker_id, int fd, gantry_watch_cb cb, void *arg)
{
    uv_loop_t *loop = loop_of(worker_id);
    if (loop == NULL || cb == NULL || fd < 0)
        return NULL;
    gantry_watch_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    if (uv_poll_init(loop, &w->poll, fd) != 0) {
        free(w);
        return NULL;
    }
    w->poll.data = w;
    w->cb = cb;
    w->arg = arg;
    return w;
}

int wio_watch_set(gantry_watch_t *w, unsigned events)
{
    if (w == NULL)
        return GANTRY_EINVAL;
    w->events = events & (GANTRY_IO_READ | GANTRY_IO_WRITE);
    if (w->events == 0)
        return uv_poll_stop(&w->poll) == 0 ? GANTRY_OK : GANTRY_EIO;
    int uvev = ((w->events & GANTRY_IO_READ) ? UV_READABLE : 0) |
               ((w->events & GANTRY_IO_WRITE) ? UV_WRITABLE : 0);
    return uv_poll_start(&w->poll, uvev, on_poll) == 0 ? GANTRY_OK : GANTRY_EIO;
}

void wio_watch_free(gantry_watch_t *w)
{
    if (w == NULL)
        return;
    uv_poll_stop(&w->poll);
    w->poll.data = w;
    uv_close((uv_handle_t *)&w->poll, free_handle);
}

static void on_timer(uv_timer_t *t)
{
    gantry_wtimer_t *wt = t->data;
    wt->cb(wt, wt->arg);
}

gantry_wtimer_t *wio_timer_new(unsigned worker_id, gantry_wtimer_cb cb, void *arg)
{
    uv_loop_t *loop = loop_of(worker_id);
    if (loop == NULL || cb == NULL)
        return NULL;
    gantry_wtimer_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    t->cb = cb;
    t->arg = arg;
    /* A plugin's housekeeping timer must not keep a stopping worker alive. */
    uv_unref((uv_handle_t *)&t->timer);
    return t;
}

int wio_timer_start(gantry_wtimer_t *t, uint64_t delay_ms, uint64_t repeat_ms)
{
    if (t == NULL)
        return GANTRY_EINVAL;
    return uv_timer_start(&t->timer, on_timer, delay_ms, repeat_ms) == 0 ? GANTRY_OK : GANTRY_EIO;
}

void wio_timer_stop(gantry_wtimer_t *t)
{
    if (t != NULL)
        uv_timer_stop(&t->timer);
}

void wio_timer_free(gantry_wtimer_t *t)
{
    if (t == NULL)
        return;
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, free_handle);
}
