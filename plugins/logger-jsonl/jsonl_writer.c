/*
 * jsonl logger: the per-worker buffers and the writer thread that empties them.
 *
 * Locks, always taken in this order: reg_lock (the slot list), then a slot's lock.  wlock (the
 * writer's wake-up flag) is never held together with another.  Workers only ever hold their own
 * slot's lock, for a memcpy, and wlock, to wake the writer when their buffer is half full.
 */
#include "jsonl_int.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* At most one warning per this many microseconds about dropped lines or failed writes. */
#define JL_WARN_INTERVAL_US 1000000

jl_slot_t *jl_slot_new(jl_instance_t *jl)
{
    const gantry_host_t *host = jl->host;
    jl_slot_t *slot = host->mem_calloc(1, sizeof(*slot));

    if (slot == NULL)
        return NULL;
    slot->buf = host->mem_alloc(jl->buf_size);
    slot->scratch = host->mem_alloc(JL_LINE_MAX);
    if (slot->buf == NULL || slot->scratch == NULL || pthread_mutex_init(&slot->lock, NULL) != 0) {
        host->mem_free(slot->buf);
        host->mem_free(slot->scratch);
        host->mem_free(slot);
        return NULL;
    }
    return slot;
}

void jl_slot_free(jl_instance_t *jl, jl_slot_t *slot)
{
    pthread_mutex_destroy(&slot->lock);
    jl->host->mem_free(slot->buf);
    jl->host->mem_free(slot->scratch);
    jl->host->mem_free(slot);
}

void jl_kick(jl_instance_t *jl)
{
    pthread_mutex_lock(&jl->wlock);
    jl->wake = true;
    pthread_cond_signal(&jl->wcond);
    pthread_mutex_unlock(&jl->wlock);
}

/*
 * Write all of buf, riding out EINTR, short writes and a non-blocking descriptor that is
 * momentarily full (stdout may be a pipe someone made non-blocking).  Returns false when the
 * rest had to be given up.
 */
static bool write_all(int fd, const char *buf, size_t n)
{
    int stalls = 0;

    while (n > 0) {
        ssize_t w = write(fd, buf, n);

        if (w > 0) {
            buf += w;
            n -= (size_t)w;
            stalls = 0;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && stalls++ < 10) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            (void)poll(&pfd, 1, 100);
            continue;
        }
        return false;
    }
    return true;
}

/* Rate-limited warnings, from the writer thread (or destroy(), which reports whatever is left). */
static void warn_pending(jl_instance_t *jl, bool force)
{
    int64_t now = jl->host->now_us();

    if (jl->drops_pending == 0 && jl->errors_pending == 0)
        return;
    if (!force && now - jl->last_warn_us < JL_WARN_INTERVAL_US)
        return;
    if (jl->drops_pending > 0)
        jl->host->log(jl->self, NULL, GANTRY_LOG_WARN,
                      "dropped %llu log lines: buffer full (buffer_bytes=%zu); the output '%s' is "
                      "too slow or the buffer too small",
                      (unsigned long long)jl->drops_pending, jl->buf_size, jl->path);
    if (jl->errors_pending > 0)
        jl->host->log(jl->self, NULL, GANTRY_LOG_WARN,
                      "%llu writes to '%s' failed; their lines are lost",
                      (unsigned long long)jl->errors_pending, jl->path);
    jl->drops_pending = 0;
    jl->errors_pending = 0;
    jl->last_warn_us = now;
}

void jl_flush_all(jl_instance_t *jl, bool final)
{
    jl_slot_t **pp, *slot;

    pthread_mutex_lock(&jl->reg_lock);
    pp = &jl->slots;
    while ((slot = *pp) != NULL) {
        size_t n;
        bool retired;

        /* Swap, do not copy: the worker gets an empty buffer and the lock is held for pointers. */
        pthread_mutex_lock(&slot->lock);
        n = slot->len;
        if (n > 0) {
            char *full = slot->buf;
            slot->buf = jl->spare;
            jl->spare = full;
            slot->len = 0;
        }
        jl->drops_pending += slot->dropped;
        slot->dropped = 0;
        slot->kicked = false;
        retired = slot->retired;
        pthread_mutex_unlock(&slot->lock);

        if (n > 0 && !write_all(jl->fd, jl->spare, n))
            jl->errors_pending++;
        if (retired) {
            /* Its worker is gone and nothing can refill it: this was the last drain. */
            *pp = slot->next;
            jl_slot_free(jl, slot);
        } else {
            pp = &slot->next;
        }
    }
    pthread_mutex_unlock(&jl->reg_lock);
    warn_pending(jl, final);
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *writer_main(void *arg)
{
    jl_instance_t *jl = arg;
    struct timespec deadline;
    bool stopping = false;

    while (!stopping) {
        deadline_after(&deadline, jl->flush_ms);
        pthread_mutex_lock(&jl->wlock);
        while (!jl->stop && !jl->wake) {
            if (pthread_cond_timedwait(&jl->wcond, &jl->wlock, &deadline) == ETIMEDOUT)
                break;
        }
        jl->wake = false;
        stopping = jl->stop;
        pthread_mutex_unlock(&jl->wlock);
        /* The last drain happens in jl_writer_stop(), after the join, on the caller's thread. */
        if (!stopping)
            jl_flush_all(jl, false);
    }
    return NULL;
}

int jl_writer_start(jl_instance_t *jl)
{
    sigset_t all, old;
    int rc;

    /*
     * The writer inherits the creator's signal mask: block everything while creating it so that
     * process signals (SIGTERM, SIGHUP, ...) go to the threads that handle them, never to it.
     */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&jl->thread, NULL, writer_main, jl);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return GANTRY_EIO;
    jl->thread_started = true;
    return GANTRY_OK;
}

void jl_writer_stop(jl_instance_t *jl)
{
    if (jl->thread_started) {
        pthread_mutex_lock(&jl->wlock);
        jl->stop = true;
        pthread_cond_signal(&jl->wcond);
        pthread_mutex_unlock(&jl->wlock);
        pthread_join(jl->thread, NULL);
        jl->thread_started = false;
    }
    jl_flush_all(jl, true);
}
