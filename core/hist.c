/*
 * hist: chat history (see hist.h).  Loading and saving are store jobs, so SQLite never runs on a
 * worker loop; a load pauses the request's pipeline, a save is fire-and-forget.
 */
#include "hist.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipe.h"
#include "srv.h"
#include "store.h"

#define MAX_SESSION_ID 128
#define MAX_OWNER HIST_MAX_OWNER
#define LOAD_DEADLINE_US 5000000 /* a load queued longer than this answers 503 */
#define PURGE_EVERY_MS 60000     /* expired sessions of every owner are deleted at most this often */

typedef struct hist_tool {
    char *id, *name;
    buf_t args;
    bool full;
} hist_tool_t;

/* Per request (arena), present once a request opted in. */
struct hist {
    char session[MAX_SESSION_ID + 1];
    char owner[MAX_OWNER];
    cJSON *prev; /* stored messages, as loaded (NULL for a new session) */
    cJSON *mine; /* the request's own messages, before the merge */
    bool loaded;
    /* the streamed answer, reassembled; once max_bytes is reached nothing more is kept, so the
     * stored text never has holes in it */
    buf_t text;
    bool text_full;
    hist_tool_t tools[16];
    int ntools;
};

/* ---- helpers ---- */

static bool valid_session_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_SESSION_ID)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

static void new_session_id(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        /* Unguessability is a defence in depth (ownership is checked), so fall back quietly. */
        uint64_t x = (uint64_t)now_us() * 0x9E3779B97F4A7C15ULL, y = x ^ (uint64_t)unix_ms();
        memcpy(b, &x, 8);
        memcpy(b + 8, &y, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

/*
 * Who owns sessions made by this request: the principal, or "anonymous" when the gateway has no
 * auth plugin (then every caller is the same owner, as every caller is the same user).  false when
 * the id does not fit: truncating could merge two principals.
 */
bool hist_owner(const req_t *r, char *out, size_t len)
{
    if (!(r->has_principal && r->principal.id.len > 0)) {
        snprintf(out, len, "anonymous");
        return true;
    }
    if (r->principal.id.len >= len)
        return false;
    memcpy(out, r->principal.id.ptr, r->principal.id.len);
    out[r->principal.id.len] = '\0';
    return true;
}

static void cleanup(void *arg)
{
    struct hist *h = arg;
    cJSON_Delete(h->prev);
    cJSON_Delete(h->mine);
    buf_free(&h->text);
    for (int i = 0; i < h->ntools; i++) {
        free(h->tools[i].id);
        free(h->tools[i].name);
        buf_free(&h->tools[i].args);
    }
}

/* Take the opt-in fields out of the body (they must not reach a provider). */
static void take_opt_in(cJSON *body, bool *enable, char **session)
{
    cJSON *places[2] = {body, cJSON_GetObjectItemCaseSensitive(body, "additionalModelRequestFields")};
    for (int i = 0; i < 2; i++) {
        if (!cJSON_IsObject(places[i]))
            continue;
        cJSON *en = cJSON_DetachItemFromObjectCaseSensitive(places[i], "enable_history");
        cJSON *sid = cJSON_DetachItemFromObjectCaseSensitive(places[i], "session_id");
        if (cJSON_IsTrue(en))
            *enable = true;
        if (cJSON_IsString(sid) && *session == NULL)
            *session = strdup(sid->valuestring);
        else if (sid != NULL && !cJSON_IsNull(sid) && *session == NULL)
            *session = strdup(""); /* present but not a string: refused below */
        cJSON_Delete(en);
        cJSON_Delete(sid);
    }
    cJSON *amrf = cJSON_GetObjectItemCaseSensitive(body, "additionalModelRequestFields");
    if (cJSON_IsObject(amrf) && amrf->child == NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(body, "additionalModelRequestFields");
}

static bool is_system(const cJSON *m)
{
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    return cJSON_IsString(role) &&
           (strcmp(role->valuestring, "system") == 0 || strcmp(role->valuestring, "developer") == 0);
}

/* Stored messages first; a system message of the request replaces stored ones. */
static void merge(req_t *r, struct hist *h)
{
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->body, "messages");
    if (!cJSON_IsArray(msgs) || !cJSON_IsArray(h->prev) || h->prev->child == NULL)
        return;
    bool own_system = false;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) own_system = own_system || is_system(m);
    cJSON *merged = cJSON_CreateArray();
    /* The request's system messages lead, then the history, then the rest of the request. */
    for (int pass = 0; pass < 3; pass++) {
        const cJSON *src = pass == 1 ? h->prev : msgs;
        cJSON_ArrayForEach(m, src)
        {
            bool sys = is_system(m);
            if ((pass == 0 && !sys) || (pass == 2 && sys) || (pass == 1 && sys && own_system))
                continue;
            cJSON_AddItemToArray(merged, cJSON_Duplicate(m, true));
        }
    }
    cJSON_ReplaceItemInObjectCaseSensitive(r->body, "messages", merged);
}

/* ---- loading ---- */

typedef struct load_job {
    store_job_t job;
    req_t *r;
    char session[MAX_SESSION_ID + 1];
    int64_t since_ms; /* sessions untouched since before this have expired */
    char *owner;
    char *messages; /* found: the stored JSON */
    bool found;
    bool failed; /* the database could not answer (busy, full, too late) */
} load_job_t;

static char *dup_column(sqlite3_stmt *st, int i, bool *failed)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    char *d = t ? strdup((const char *)t) : NULL;
    if (d == NULL)
        *failed = true;
    return d;
}

static void load_run(sqlite3 *db, store_job_t *j)
{
    load_job_t *lj = (load_job_t *)j;
    if (now_us() - j->queued_us > LOAD_DEADLINE_US) {
        lj->failed = true; /* the client has waited long enough: answer now, not later */
        return;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT owner, messages FROM chat_sessions WHERE session_id = ? AND "
                           "updated_ms >= ?",
                           -1, &st, NULL) != SQLITE_OK) {
        lj->failed = true;
        return;
    }
    sqlite3_bind_text(st, 1, lj->session, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, lj->since_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        lj->found = true;
        lj->owner = dup_column(st, 0, &lj->failed);
        lj->messages = dup_column(st, 1, &lj->failed);
    } else if (rc != SQLITE_DONE) {
        lj->failed = true;
    }
    sqlite3_finalize(st);
}

static void load_drop(store_job_t *j)
{
    load_job_t *lj = (load_job_t *)j;
    free(lj->owner);
    free(lj->messages);
    free(lj);
}

static void load_done(store_job_t *j)
{
    load_job_t *lj = (load_job_t *)j;
    req_t *r = lj->r;
    req_hold(r); /* answering may dispose the request inside h2o_send() */
    r->pending--;
    struct hist *h = r->hist;
    if (!r->client_gone && lj->failed) {
        /* Going on without the stored turns would overwrite them with this one when saved. */
        req_set_error(r, 503, GANTRY_ERR_SERVER, "api_error", "history_unavailable", NULL,
                      "The chat history store could not be read; try again shortly.");
        r->hist = NULL;
        pipe_fail(r);
    } else if (!r->client_gone) {
        if (lj->found && (lj->owner == NULL || strcmp(lj->owner, h->owner) != 0)) {
            /* Someone else's session: the same answer as no session, so ids cannot be probed. */
            req_set_error(r, 404, GANTRY_ERR_NOT_FOUND, "invalid_request_error",
                          "session_not_found", "session_id",
                          "No chat session with this session_id belongs to your key.");
            pipe_fail(r);
        } else {
            if (lj->found) {
                h->prev = cJSON_Parse(lj->messages ? lj->messages : "[]");
                if (!cJSON_IsArray(h->prev)) {
                    cJSON_Delete(h->prev);
                    h->prev = NULL;
                }
            }
            h->loaded = true;
            merge(r, h);
            pipe_continue(r);
        }
    }
    load_drop(j);
    req_release(r);
}

int hist_begin(req_t *r)
{
    if (r->hist != NULL)
        return 0; /* resumed after the load: already merged */
    bool enable = false;
    char *session = NULL;
    if (!cJSON_IsObject(r->body))
        return 0;
    take_opt_in(r->body, &enable, &session);
    if (!enable && session == NULL)
        return 0;
    if (r->endpoint != GANTRY_EP_CHAT && r->endpoint != 0) {
        free(session);
        req_set_error(r, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", "invalid_value",
                      "enable_history", "Chat history is kept for chat requests only.");
        return -1;
    }
    const cfg_history_t *hc = &r->gen->cfg->history;
    if (!hc->enabled || !store_is_open()) {
        free(session);
        req_set_error(r, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                      "history_disabled", "enable_history",
                      "Chat history is disabled on this gateway (chat_history.enabled).");
        return -1;
    }
    if (session != NULL && !valid_session_id(session)) {
        free(session);
        req_set_error(r, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", "invalid_value",
                      "session_id",
                      "Invalid 'session_id': 1 to 128 characters of A-Z a-z 0-9 - _ . :");
        return -1;
    }
    struct hist *h = arena_alloc(&r->arena, sizeof *h);
    if (h == NULL) {
        free(session);
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL,
                      "request memory exhausted");
        return -1;
    }
    memset(h, 0, sizeof *h);
    if (!hist_owner(r, h->owner, sizeof h->owner)) {
        free(session);
        req_set_error(r, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", "invalid_value",
                      "session_id", "The caller's id is too long to own chat sessions.");
        return -1;
    }
    h->text.limit = (size_t)hc->max_bytes;
    req_cleanup_t *c = arena_alloc(&r->arena, sizeof *c);
    if (c == NULL) {
        free(session);
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL,
                      "request memory exhausted");
        return -1;
    }
    *c = (req_cleanup_t){.next = r->cleanups, .fn = cleanup, .arg = h};
    r->cleanups = c;
    r->hist = h;
    bool given = session != NULL;
    if (given)
        snprintf(h->session, sizeof h->session, "%s", session);
    else
        new_session_id(h->session);
    free(session);
    h->mine = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r->body, "messages"), true);
    req_add_header(r, "x-session-id", h->session, strlen(h->session));
    if (!given)
        return 0; /* a brand-new session has nothing stored */
    load_job_t *lj = calloc(1, sizeof *lj);
    if (lj == NULL) {
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL, "out of memory");
        return -1;
    }
    lj->job = (store_job_t){.run = load_run, .done = load_done, .drop = load_drop, .w = r->w};
    lj->r = r;
    lj->since_ms = unix_ms() - hc->ttl_ms;
    snprintf(lj->session, sizeof lj->session, "%s", h->session);
    if (store_submit(&lj->job) != 0) {
        free(lj);
        req_set_error(r, 503, GANTRY_ERR_SERVER, "api_error", "history_unavailable", NULL,
                      "The chat history store is overloaded; try again shortly.");
        return -1;
    }
    r->pending++;
    if (r->h != NULL && r->h->version < 0x200)
        srv_watch(r); /* an HTTP/1 client that hangs up meanwhile is noticed */
    return 1;
}

/* ---- remembering the answer ---- */

void hist_chunk(req_t *r, const cJSON *chunk)
{
    struct hist *h = r->hist;
    if (h == NULL)
        return;
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(chunk, "choices"), 0);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "delta");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(d, "content");
    if (cJSON_IsString(text) && !h->text_full && buf_appendz(&h->text, text->valuestring) != 0)
        h->text_full = true; /* over max_bytes: the rest is not kept */
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(d, "tool_calls"))
    {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(tc, "index");
        double di = cJSON_IsNumber(idx) ? idx->valuedouble : 0;
        /* Upstream-controlled: range-check before the cast (out of range is undefined). */
        if (!(di >= 0 && di < (double)(sizeof h->tools / sizeof h->tools[0])))
            continue;
        int i = (int)di;
        while (h->ntools <= i) {
            hist_tool_t *t = &h->tools[h->ntools++];
            memset(t, 0, sizeof *t);
            t->args.limit = h->text.limit;
        }
        hist_tool_t *t = &h->tools[i];
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        if (cJSON_IsString(id) && t->id == NULL)
            t->id = strdup(id->valuestring);
        if (cJSON_IsString(name) && t->name == NULL)
            t->name = strdup(name->valuestring);
        if (cJSON_IsString(args) && !t->full && buf_appendz(&t->args, args->valuestring) != 0)
            t->full = true;
    }
}

/* obj[key] = the buffer's bytes as a string (buffers are not NUL-terminated). */
static void add_text(cJSON *obj, const char *key, const buf_t *b)
{
    char *t = strndup(b->ptr ? b->ptr : "", b->len);
    cJSON_AddStringToObject(obj, key, t ? t : "");
    free(t);
}

/* The assistant message of the answer: the response's, or the one reassembled from the stream. */
static cJSON *answer(req_t *r, struct hist *h)
{
    if (!r->stream) {
        const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->resp, "choices"), 0);
        cJSON *m = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(c, "message"), true);
        if (cJSON_IsObject(m)) {
            /* Provider-specific extras stay out of the stored conversation. */
            cJSON_DeleteItemFromObjectCaseSensitive(m, "annotations");
            cJSON_DeleteItemFromObjectCaseSensitive(m, "refusal");
        }
        return m;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    if (h->text.len > 0 || h->ntools == 0)
        add_text(m, "content", &h->text);
    else
        cJSON_AddNullToObject(m, "content");
    if (h->ntools > 0) {
        cJSON *calls = cJSON_AddArrayToObject(m, "tool_calls");
        for (int i = 0; i < h->ntools; i++) {
            hist_tool_t *t = &h->tools[i];
            cJSON *tc = cJSON_CreateObject();
            cJSON_AddStringToObject(tc, "id", t->id ? t->id : "");
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(tc, "function");
            cJSON_AddStringToObject(fn, "name", t->name ? t->name : "");
            add_text(fn, "arguments", &t->args);
            cJSON_AddItemToArray(calls, tc);
        }
    }
    return m;
}

typedef struct save_job {
    store_job_t job;
    char session[MAX_SESSION_ID + 1];
    char owner[MAX_OWNER];
    char *messages;
    int64_t now_ms, ttl_ms, max_sessions;
} save_job_t;

static void exec_bound(sqlite3 *db, const char *sql, const save_job_t *sj, int64_t n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_warn("chat history: %s", sqlite3_errmsg(db));
        return;
    }
    sqlite3_bind_text(st, 1, sj->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, n);
    if (sqlite3_step(st) != SQLITE_DONE)
        log_warn("chat history: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

static void save_run(sqlite3 *db, store_job_t *j)
{
    save_job_t *sj = (save_job_t *)j;
    sqlite3_stmt *st = NULL;
    /* The owner is part of the conflict rule, so a session id can never change hands. */
    const char *sql = "INSERT INTO chat_sessions(session_id, owner, messages, created_ms, "
                      "updated_ms) VALUES(?1, ?2, ?3, ?4, ?4) ON CONFLICT(session_id) DO UPDATE "
                      "SET messages = excluded.messages, updated_ms = excluded.updated_ms "
                      "WHERE chat_sessions.owner = excluded.owner";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, sj->session, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, sj->owner, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, sj->messages, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, sj->now_ms);
        if (sqlite3_step(st) != SQLITE_DONE)
            log_warn("chat history: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
    }
    /* Bounds: the owner's oldest sessions beyond the limit, and everything past its ttl. */
    exec_bound(db,
               "DELETE FROM chat_sessions WHERE owner = ?1 AND session_id IN (SELECT session_id "
               "FROM chat_sessions WHERE owner = ?1 ORDER BY updated_ms DESC LIMIT -1 OFFSET ?2)",
               sj, sj->max_sessions);
    /* Expired sessions of every owner, not only this one's, at most once a minute. */
    static int64_t last_purge_ms;
    if (sj->now_ms - last_purge_ms >= PURGE_EVERY_MS) {
        last_purge_ms = sj->now_ms;
        sqlite3_stmt *st2 = NULL;
        if (sqlite3_prepare_v2(db, "DELETE FROM chat_sessions WHERE updated_ms < ?", -1, &st2,
                               NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st2, 1, sj->now_ms - sj->ttl_ms);
            if (sqlite3_step(st2) != SQLITE_DONE)
                log_warn("chat history: %s", sqlite3_errmsg(db));
            sqlite3_finalize(st2);
        }
    }
    cJSON_free(sj->messages);
    sj->messages = NULL;
}

static void save_drop(store_job_t *j)
{
    save_job_t *sj = (save_job_t *)j;
    cJSON_free(sj->messages);
    free(sj);
}

/*
 * Drop the oldest turns until both bounds hold, and print the rest.  Leading system messages stay,
 * and tool results whose call was dropped go too (providers refuse orphans).  Each message is
 * printed once to measure it, so a long history costs linear time, not a print per dropped turn.
 */
static char *bounded(cJSON *msgs, const cfg_history_t *hc)
{
    int n = cJSON_GetArraySize(msgs);
    size_t *size = calloc((size_t)n + 1, sizeof *size);
    if (size == NULL)
        return NULL;
    size_t total = 2; /* [] */
    int i = 0, first = 0;
    bool lead = true;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        char *t = cJSON_PrintUnformatted(m);
        size[i] = (t ? strlen(t) : 0) + 1; /* with its comma */
        cJSON_free(t);
        total += size[i];
        if (lead && is_system(m))
            first = i + 1;
        else
            lead = false;
        i++;
    }
    if (first >= n)
        first = 0;
    /* Drop from `first` on: whole turns while over a bound, then any orphaned tool results. */
    int drop = 0, left = n;
    while (first + drop < n - 1 &&
           (left > hc->max_messages || (int64_t)total > hc->max_bytes)) {
        total -= size[first + drop];
        drop++;
        left--;
    }
    while (first + drop < n - 1) {
        const cJSON *role =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, first + drop), "role");
        if (!(cJSON_IsString(role) && strcmp(role->valuestring, "tool") == 0))
            break;
        drop++;
    }
    free(size);
    for (int k = 0; k < drop; k++)
        cJSON_DeleteItemFromArray(msgs, first);
    return cJSON_PrintUnformatted(msgs);
}

void hist_finish(req_t *r)
{
    struct hist *h = r->hist;
    if (h == NULL || r->failed)
        return;
    const cfg_history_t *hc = &r->gen->cfg->history;
    cJSON *all = cJSON_CreateArray();
    const cJSON *m;
    /* As in merge(): the request's own system message replaces the stored ones. */
    bool own_system = false;
    cJSON_ArrayForEach(m, h->mine) own_system = own_system || is_system(m);
    cJSON_ArrayForEach(m, h->prev)
    {
        if (!(own_system && is_system(m)))
            cJSON_AddItemToArray(all, cJSON_Duplicate(m, true));
    }
    cJSON_ArrayForEach(m, h->mine) cJSON_AddItemToArray(all, cJSON_Duplicate(m, true));
    cJSON *a = answer(r, h);
    if (a != NULL)
        cJSON_AddItemToArray(all, a);
    save_job_t *sj = calloc(1, sizeof *sj);
    char *text = bounded(all, hc);
    cJSON_Delete(all);
    if (sj == NULL || text == NULL) {
        free(sj);
        cJSON_free(text);
        log_msg(LOG_WARN, r->id, "chat history: out of memory; session %s not saved", h->session);
        return;
    }
    sj->job = (store_job_t){.run = save_run, .drop = save_drop, .bytes = strlen(text)};
    snprintf(sj->session, sizeof sj->session, "%s", h->session);
    snprintf(sj->owner, sizeof sj->owner, "%s", h->owner);
    sj->messages = text;
    sj->now_ms = unix_ms();
    sj->ttl_ms = hc->ttl_ms;
    sj->max_sessions = hc->max_sessions;
    if (store_submit(&sj->job) != 0) {
        log_msg(LOG_WARN, r->id, "chat history: the store is overloaded; session %s not saved",
                h->session);
        cJSON_free(text);
        free(sj);
    }
}
