/*
 * redis cache: lookup, store, remove and health.
 *
 * A lookup sends GET and PAUSEs; the reply callback (or the command timeout, whichever comes
 * first) resumes the request exactly once.  The cache must never fail or hold up a request, so
 * every trouble - no connection, too many commands outstanding, an error reply, no answer in
 * command_timeout - is a miss, and stores are fire-and-forget.
 */
#include "redis_int.h"

#include <stdio.h>
#include <string.h>

/* "<namespace>:<key>" into buf (at least RD_MAX_NAMESPACE + 1 + RD_MAX_KEY bytes); 0 when the
 * key is unusable. */
static size_t full_key(const rd_instance_t *rd, gantry_str_t key, char *buf)
{
    size_t n = 0;

    if (key.ptr == NULL || key.len == 0 || key.len > RD_MAX_KEY)
        return 0;
    if (rd->ns_len > 0) {
        memcpy(buf, rd->ns, rd->ns_len);
        buf[rd->ns_len] = ':';
        n = rd->ns_len + 1;
    }
    memcpy(buf + n, key.ptr, key.len);
    return n + key.len;
}

/* The connection is up and can take one more command (max_pending bounds them). */
static bool can_send(const rd_worker_t *w)
{
    return w != NULL && w->state == RD_READY && w->free_head != RD_NO_SLOT;
}

/* The first error reply of a connection is logged; the others are counted. */
static void error_reply(rd_worker_t *w, gantry_req_t *req, const char *cmd, const redisReply *r)
{
    w->errors++;
    if (w->error_logged)
        return;
    w->error_logged = true;
    w->rd->host->log(w->rd->self, req, GANTRY_LOG_WARN,
                     "worker %u: Redis refused %s: %.*s (further errors on this connection are "
                     "only counted)",
                     w->id, cmd, (int)r->len, r->str);
}

/* Stop waiting: the slot's reply, when it comes, no longer reaches this lookup. */
static void detach(rd_lookup_t *lk)
{
    rd_slot_t *s = &lk->w->slots[lk->slot];

    lk->done = true;
    if (s->id == lk->id)
        s->lk = NULL;
}

static void on_get(redisAsyncContext *ac, void *r, void *privdata)
{
    rd_worker_t *w = ac->data;
    rd_slot_t *s = privdata;
    rd_lookup_t *lk = s->lk;
    const redisReply *reply = r;
    const gantry_host_t *host = w->rd->host;
    gantry_req_t *req;
    int rc;

    /* Free the slot first: a request resumed below may store at once. */
    rd_slot_put(w, s);
    rd_conn_note_reply(w, reply != NULL);
    if (lk == NULL || lk->done)
        return; /* the request timed out or finished */
    lk->done = true;
    req = lk->req;
    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        rc = host->cache_hit(req, (gantry_str_t){reply->str, reply->len});
        if (rc == GANTRY_OK) {
            w->hits++;
            host->resume(req, GANTRY_RESPOND);
            return;
        }
        host->log(w->rd->self, req, GANTRY_LOG_WARN, "cached entry not served: %s",
                  host->strerror(rc));
    } else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        error_reply(w, req, "GET", reply);
    }
    w->misses++;
    host->resume(req, GANTRY_CONTINUE);
}

/* command_timeout passed: a miss.  The reply may still come and frees the slot then. */
static void on_timeout(gantry_req_t *req, void *arg)
{
    rd_lookup_t *lk = arg;

    if (lk->done)
        return;
    detach(lk);
    lk->w->timeouts++;
    lk->w->rd->host->log(lk->w->rd->self, req, GANTRY_LOG_DEBUG,
                         "lookup not answered within %llu ms: served as a miss",
                         (unsigned long long)lk->w->rd->command_timeout_ms);
    lk->w->rd->host->resume(req, GANTRY_CONTINUE);
}

/* The request is finished (answered, failed or abandoned by its client). */
static void on_request_done(void *arg)
{
    rd_lookup_t *lk = arg;

    if (!lk->done)
        detach(lk);
}

gantry_action_t rd_lookup(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key)
{
    const rd_instance_t *rd = state;
    const gantry_host_t *host = rd->host;
    rd_worker_t *w = worker_state;
    char buf[RD_MAX_NAMESPACE + 1 + RD_MAX_KEY];
    const char *argv[2] = {"GET", buf};
    size_t lens[2] = {3, full_key(rd, key, buf)};
    rd_lookup_t *lk;
    uint32_t i;

    if (lens[1] == 0 || !can_send(w)) {
        if (w != NULL)
            w->misses++;
        return GANTRY_CONTINUE;
    }
    lk = host->alloc(req, sizeof(*lk));
    if (lk == NULL)
        return GANTRY_CONTINUE;
    *lk = (rd_lookup_t){.w = w, .req = req, .slot = RD_NO_SLOT, .done = true};
    if (host->on_cleanup(req, on_request_done, lk) != GANTRY_OK ||
        host->timer_start(req, rd->command_timeout_ms, on_timeout, lk) != GANTRY_OK)
        return GANTRY_CONTINUE; /* done stays true: the timer, if any, does nothing */
    i = rd_slot_take(w);
    if (redisAsyncCommandArgv(w->ac, on_get, &w->slots[i], 2, argv, lens) != REDIS_OK) {
        rd_slot_put(w, &w->slots[i]);
        w->misses++;
        return GANTRY_CONTINUE;
    }
    lk->slot = i;
    lk->id = w->slots[i].id;
    lk->done = false;
    w->slots[i].lk = lk;
    return GANTRY_PAUSE;
}

/* SET and DEL replies: nobody waits for them, but they hold a slot until they come. */
static void on_write_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    rd_worker_t *w = ac->data;
    const redisReply *reply = r;

    rd_slot_put(w, privdata);
    rd_conn_note_reply(w, reply != NULL);
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        error_reply(w, NULL, "a write", reply);
}

/* Send a write command; false when it could not go out. */
static bool send_write(rd_worker_t *w, int argc, const char **argv, const size_t *lens)
{
    uint32_t i = rd_slot_take(w);

    if (redisAsyncCommandArgv(w->ac, on_write_reply, &w->slots[i], argc, argv, lens) != REDIS_OK) {
        rd_slot_put(w, &w->slots[i]);
        return false;
    }
    return true;
}

void rd_store(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key,
              gantry_str_t value, uint32_t ttl_s)
{
    const rd_instance_t *rd = state;
    rd_worker_t *w = worker_state;
    char buf[RD_MAX_NAMESPACE + 1 + RD_MAX_KEY], ttl[24];
    const char *argv[5] = {"SET", buf, value.ptr, "EX", ttl};
    size_t lens[5] = {3, full_key(rd, key, buf), value.len, 2, 0};

    (void)req;
    if (lens[1] == 0 || value.ptr == NULL)
        return;
    if (!can_send(w)) {
        if (w != NULL)
            w->skipped++;
        return;
    }
    lens[4] = (size_t)snprintf(ttl, sizeof ttl, "%lld",
                               (long long)(ttl_s != 0 ? (int64_t)ttl_s : rd->ttl_s));
    if (!send_write(w, 5, argv, lens))
        w->skipped++;
}

void rd_remove(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key)
{
    const rd_instance_t *rd = state;
    rd_worker_t *w = worker_state;
    char buf[RD_MAX_NAMESPACE + 1 + RD_MAX_KEY];
    const char *argv[2] = {"DEL", buf};
    size_t lens[2] = {3, full_key(rd, key, buf)};
    const char *why = NULL;

    if (lens[1] == 0)
        return;
    if (w == NULL || w->state != RD_READY)
        why = "not connected";
    else if (w->free_head == RD_NO_SLOT)
        why = "too many commands outstanding";
    else if (!send_write(w, 2, argv, lens))
        why = "out of memory";
    if (why != NULL)
        rd->host->log(rd->self, req, GANTRY_LOG_WARN, "entry not deleted from Redis: %s", why);
}

int rd_health(void *state, void *worker_state, char *detail, size_t len)
{
    const rd_instance_t *rd = state;
    const rd_worker_t *w = worker_state;
    bool up = w != NULL && w->state == RD_READY;

    if (detail != NULL && len > 0) {
        if (w == NULL)
            snprintf(detail, len,
                     "Redis at %s:%d: this worker has no connection (it failed to "
                     "initialise)",
                     rd->host_name, rd->port);
        else if (up)
            snprintf(detail, len, "connected to Redis at %s:%d", rd->host_name, rd->port);
        else
            snprintf(detail, len, "Redis at %s:%d is not available: %s", rd->host_name, rd->port,
                     w->reason[0] != '\0'                                    ? w->reason
                     : w->state == RD_CONNECTING || w->state == RD_HANDSHAKE ? "connecting"
                                                                             : "reconnecting");
    }
    return up ? GANTRY_OK : GANTRY_EIO;
}
