/*
 * redis cache: one connection per worker.  Its life:
 *
 *   DOWN --timer--> CONNECTING --connected--> HANDSHAKE --PING answered--> READY
 *     ^                  |                        |                          |
 *     +----- back-off ---+---- error, timeout ----+---- error, EOF, stall ---+
 *
 * Every deadline is the worker timer: the back-off before the next attempt, connect_timeout for
 * connect + AUTH/SELECT/PING, and in READY a watchdog that replaces a connection whose commands
 * stay unanswered (a Redis that accepts and then says nothing).  A connection counts as up only
 * once Redis has answered, so a silent server never gets lookups queued behind it.
 */
#include "redis_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Handshake steps, told apart by the address passed as hiredis privdata. */
static char tag_auth, tag_select, tag_ping;

static int64_t now_us(const rd_worker_t *w)
{
    return w->rd->host->now_us();
}

static void set_reason(rd_worker_t *w, const char *fmt, va_list ap)
{
    vsnprintf(w->reason, sizeof w->reason, fmt, ap);
}

static void arm(rd_worker_t *w, uint64_t delay_ms, uint64_t repeat_ms)
{
    const gantry_host_t *host = w->rd->host;

    if (host->wtimer_start(w->timer, delay_ms, repeat_ms) != GANTRY_OK)
        host->log(w->rd->self, NULL, GANTRY_LOG_ERROR, "worker %u: could not start a timer", w->id);
}

/* The back-off with +-25% jitter (xorshift64: only needs to differ between workers). */
static uint64_t jittered(rd_worker_t *w, uint64_t ms)
{
    uint64_t x = w->rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w->rng = x;
    return ms - ms / 4 + x % (ms / 2 + 1);
}

/* The watchdog looks often enough to notice a stall within about 1.5 x stall_ms. */
static uint64_t watchdog_period(const rd_instance_t *rd)
{
    uint64_t p = rd->stall_ms / 2;

    return p < 50 ? 50 : p > 1000 ? 1000 : p;
}

/* A connect attempt failed or a connection went away: say so once per outage, try again later. */
static void retry_later(rd_worker_t *w, bool was_ready)
{
    const rd_instance_t *rd = w->rd;
    const gantry_host_t *host = rd->host;
    uint64_t delay;

    w->state = RD_DOWN;
    w->ac = NULL;
    if (w->closing)
        return;
    if (was_ready) {
        /* Redis closing idle clients, a restart or a failover: often over by the time we try
         * again, so the first attempt is immediate and only its failure counts as an outage. */
        host->log(rd->self, NULL, GANTRY_LOG_DEBUG, "worker %u: connection to %s:%d lost (%s)",
                  w->id, rd->host_name, rd->port, w->reason);
        w->down_since_us = now_us(w);
        w->backoff_ms = RD_BACKOFF_MIN_MS;
        arm(w, 0, 0);
        return;
    }
    if (!w->outage) {
        w->outage = true;
        if (w->down_since_us == 0)
            w->down_since_us = now_us(w);
        host->log(rd->self, NULL, GANTRY_LOG_WARN,
                  "worker %u: Redis at %s:%d is unavailable (%s); lookups are misses and stores "
                  "are skipped until it is back",
                  w->id, rd->host_name, rd->port, w->reason);
    } else {
        host->log(rd->self, NULL, GANTRY_LOG_DEBUG, "worker %u: reconnect failed: %s", w->id,
                  w->reason);
    }
    delay = jittered(w, w->backoff_ms);
    w->backoff_ms = w->backoff_ms * 2 > RD_BACKOFF_MAX_MS ? RD_BACKOFF_MAX_MS : w->backoff_ms * 2;
    arm(w, delay, 0);
}

void rd_conn_drop(rd_worker_t *w, const char *fmt, ...)
{
    va_list ap;

    if (w->ac == NULL || w->state == RD_CLOSING)
        return;
    va_start(ap, fmt);
    set_reason(w, fmt, ap);
    va_end(ap);
    w->dropping = true;
    w->state = RD_CLOSING;
    /* Inside a reply callback hiredis defers the free until the callback returns; either way the
     * pending callbacks run with a NULL reply, then cleanup (rd_conn_gone) runs. */
    redisAsyncFree(w->ac);
}

void rd_conn_gone(rd_worker_t *w)
{
    redisAsyncContext *ac = w->ac;
    bool was_ready = w->was_ready;

    if (w->watch != NULL) {
        w->rd->host->watch_free(w->watch);
        w->watch = NULL;
    }
    w->io = 0;
    if (!w->dropping && ac != NULL) {
        const char *why = ac->err != 0 && ac->errstr != NULL ? ac->errstr
                          : ac->c.err != 0                   ? ac->c.errstr
                                                             : "connection closed";
        snprintf(w->reason, sizeof w->reason, "%s%s",
                 w->state == RD_CONNECTING ? "connect failed: " : "", why);
    }
    w->dropping = false;
    w->was_ready = false;
    retry_later(w, was_ready);
}

void rd_conn_note_reply(rd_worker_t *w, bool got_reply)
{
    if (got_reply)
        w->progress_us = now_us(w);
    else if (w->state != RD_DOWN)
        w->state = RD_CLOSING; /* NULL replies only come while hiredis frees the connection */
}

uint32_t rd_slot_take(rd_worker_t *w)
{
    uint32_t i = w->free_head;
    rd_slot_t *s;

    if (i == RD_NO_SLOT)
        return RD_NO_SLOT;
    s = &w->slots[i];
    w->free_head = s->next_free;
    s->id = ++w->next_id;
    s->lk = NULL;
    if (w->npending++ == 0)
        w->progress_us = now_us(w); /* the watchdog measures the oldest command from here */
    return i;
}

void rd_slot_put(rd_worker_t *w, rd_slot_t *s)
{
    s->id = 0;
    s->lk = NULL;
    s->next_free = w->free_head;
    w->free_head = (uint32_t)(s - w->slots);
    w->npending--;
}

static void ready(rd_worker_t *w)
{
    const rd_instance_t *rd = w->rd;
    const gantry_host_t *host = rd->host;

    w->state = RD_READY;
    w->was_ready = true;
    w->backoff_ms = RD_BACKOFF_MIN_MS;
    w->progress_us = now_us(w);
    w->reason[0] = '\0';
    if (w->outage) {
        host->log(rd->self, NULL, GANTRY_LOG_INFO, "worker %u: Redis at %s:%d is back after %.1f s",
                  w->id, rd->host_name, rd->port, (double)(now_us(w) - w->down_since_us) / 1e6);
    } else {
        host->log(rd->self, NULL, GANTRY_LOG_DEBUG, "worker %u: connected to Redis at %s:%d", w->id,
                  rd->host_name, rd->port);
    }
    w->outage = false;
    w->down_since_us = 0;
    arm(w, watchdog_period(rd), watchdog_period(rd));
}

static void on_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
    rd_worker_t *w = ac->data;
    const redisReply *reply = r;
    const char *step = privdata == &tag_auth ? "AUTH" : privdata == &tag_select ? "SELECT" : "PING";

    if (reply == NULL || w->state != RD_HANDSHAKE)
        return; /* the connection is going away; rd_conn_gone() follows */
    if (reply->type == REDIS_REPLY_ERROR) {
        rd_conn_drop(w, "%s refused: %.*s", step, (int)reply->len, reply->str);
        return;
    }
    if (privdata == &tag_ping)
        ready(w);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    rd_worker_t *w = cac->data;
    const rd_instance_t *rd = w->rd;
    redisAsyncContext *ac = w->ac;
    const char *argv[3];
    size_t lens[3];
    char db[24];
    int argc = 0, ok = REDIS_OK;

    if (status != REDIS_OK)
        return; /* hiredis frees the context next; rd_conn_gone() takes the reason from it */
    w->state = RD_HANDSHAKE;
    /* A peer that vanishes without a FIN/RST is found by the watchdog while commands wait, and by
     * keepalive probes while idle. */
    redisEnableKeepAlive(&ac->c);
    if (rd->password != NULL) {
        argv[argc] = "AUTH";
        lens[argc++] = 4;
        if (rd->username != NULL) {
            argv[argc] = rd->username;
            lens[argc++] = strlen(rd->username);
        }
        argv[argc] = rd->password;
        lens[argc++] = strlen(rd->password);
        ok |= redisAsyncCommandArgv(ac, on_handshake, &tag_auth, argc, argv, lens);
    }
    if (rd->db != 0) {
        snprintf(db, sizeof db, "%lld", (long long)rd->db);
        argv[0] = "SELECT";
        lens[0] = 6;
        argv[1] = db;
        lens[1] = strlen(db);
        ok |= redisAsyncCommandArgv(ac, on_handshake, &tag_select, 2, argv, lens);
    }
    argv[0] = "PING";
    lens[0] = 4;
    ok |= redisAsyncCommandArgv(ac, on_handshake, &tag_ping, 1, argv, lens);
    if (ok != REDIS_OK) {
        /* hiredis may not be freed from inside this callback: let the timer do it now. */
        snprintf(w->reason, sizeof w->reason, "could not queue the handshake (out of memory)");
        w->dropping = true;
        arm(w, 0, 0);
    }
}

static void connect_now(rd_worker_t *w)
{
    const rd_instance_t *rd = w->rd;
    const gantry_host_t *host = rd->host;
    redisAsyncContext *ac;

    w->dropping = false;
    w->was_ready = false;
    w->error_logged = false;
    w->io = 0;
    /* rd->addr is numeric, so this resolves nothing and the connect itself does not block. */
    ac = redisAsyncConnect(rd->addr, rd->port);
    if (ac == NULL) {
        snprintf(w->reason, sizeof w->reason, "out of memory");
        retry_later(w, false);
        return;
    }
    if (ac->err != 0) {
        snprintf(w->reason, sizeof w->reason, "connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        retry_later(w, false);
        return;
    }
    w->watch = host->watch_new(w->id, ac->c.fd, rd_ev_on_io, w);
    if (w->watch == NULL) {
        snprintf(w->reason, sizeof w->reason, "could not watch the socket");
        redisAsyncFree(ac); /* no hooks attached yet: nothing calls back */
        retry_later(w, false);
        return;
    }
    ac->data = w;
    w->ac = ac;
    w->state = RD_CONNECTING;
    rd_ev_attach(w, ac);
    /* Setting the connect callback asks for the first write event, so the hooks go first. */
    redisAsyncSetConnectCallback(ac, on_connect);
    arm(w, rd->connect_timeout_ms, 0);
}

static void on_timer(gantry_wtimer_t *t, void *arg)
{
    rd_worker_t *w = arg;
    const rd_instance_t *rd = w->rd;

    (void)t;
    switch (w->state) {
    case RD_DOWN:
        connect_now(w);
        break;
    case RD_CONNECTING:
    case RD_HANDSHAKE:
        if (w->dropping) /* on_connect() could not queue the handshake; reason is set */
            rd_conn_drop(w, "%s", w->reason);
        else
            rd_conn_drop(w, "no answer within connect_timeout (%llu ms)",
                         (unsigned long long)rd->connect_timeout_ms);
        break;
    case RD_READY:
        if (w->npending > 0 && now_us(w) - w->progress_us > (int64_t)rd->stall_ms * 1000)
            rd_conn_drop(w, "no reply for %llu ms with %u commands outstanding",
                         (unsigned long long)rd->stall_ms, w->npending);
        break;
    case RD_CLOSING:
        break;
    }
}

int rd_worker_init(void *state, unsigned worker_id, void **worker_state)
{
    const rd_instance_t *rd = state;
    const gantry_host_t *host = rd->host;
    rd_worker_t *w;

    w = host->mem_calloc(1, sizeof(*w));
    if (w == NULL)
        return GANTRY_ENOMEM;
    w->rd = rd;
    w->id = worker_id;
    w->slots = host->mem_calloc(rd->max_pending, sizeof(*w->slots));
    w->timer = host->wtimer_new(worker_id, on_timer, w);
    if (w->slots == NULL || w->timer == NULL) {
        if (w->timer != NULL)
            host->wtimer_free(w->timer);
        host->mem_free(w->slots);
        host->mem_free(w);
        return GANTRY_ENOMEM;
    }
    for (uint32_t i = 0; i < rd->max_pending; i++)
        w->slots[i].next_free = i + 1 < rd->max_pending ? i + 1 : RD_NO_SLOT;
    w->free_head = 0;
    w->rng = ((uint64_t)host->now_us() ^ ((uint64_t)worker_id + 1) * 0x9E3779B97F4A7C15u) | 1u;
    w->backoff_ms = RD_BACKOFF_MIN_MS;
    connect_now(w);
    *worker_state = w;
    return GANTRY_OK;
}

void rd_worker_fini(void *state, unsigned worker_id, void *worker_state)
{
    const rd_instance_t *rd = state;
    const gantry_host_t *host = rd->host;
    rd_worker_t *w = worker_state;

    (void)worker_id;
    if (w == NULL)
        return;
    w->closing = true;
    /* No request is resumed from here: the loop has stopped. */
    for (uint32_t i = 0; i < rd->max_pending; i++)
        w->slots[i].lk = NULL;
    if (w->ac != NULL) {
        w->dropping = true;
        w->state = RD_CLOSING;
        redisAsyncFree(w->ac);
    }
    host->wtimer_free(w->timer);
    host->log(rd->self, NULL, GANTRY_LOG_INFO,
              "worker %u: hits=%llu misses=%llu timeouts=%llu errors=%llu skipped=%llu", w->id,
              (unsigned long long)w->hits, (unsigned long long)w->misses,
              (unsigned long long)w->timeouts, (unsigned long long)w->errors,
              (unsigned long long)w->skipped);
    host->mem_free(w->slots);
    host->mem_free(w);
}
