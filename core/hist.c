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

typedef struct hist_tool {
    char *id, *name;
    buf_t args;
} hist_tool_t;

/* Per request (arena), present once a request opted in. */
struct hist {
    char session[MAX_SESSION_ID + 1];
    char owner[96];
    cJSON *prev; /* stored messages, as loaded (NULL for a new session) */
    cJSON *mine; /* the request's own messages, before the merge */
    bool loaded;
    /* the streamed answer, reassembled */
    buf_t text;
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

/* Who owns sessions made by this request: the principal, or "anonymous" without auth. */
static void owner_of(const req_t *r, char *out, size_t len)
{
    if (r->has_principal && r->principal.id.len > 0)
        snprintf(out, len, "%.*s", (int)r->principal.id.len, r->principal.id.ptr);
    else
        snprintf(out, len, "anonymous");
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
    char *owner;
    char *messages; /* found: the stored JSON */
    bool found;
} load_job_t;

static void load_run(sqlite3 *db, store_job_t *j)
{
    load_job_t *lj = (load_job_t *)j;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT owner, messages FROM chat_sessions WHERE session_id = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, lj->session, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        lj->found = true;
        lj->owner = strdup((const char *)sqlite3_column_text(st, 0));
        lj->messages = strdup((const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
}

static void load_done(store_job_t *j)
{
    load_job_t *lj = (load_job_t *)j;
    req_t *r = lj->r;
    r->pending--;
    struct hist *h = r->hist;
    if (!r->client_gone) {
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
    free(lj->owner);
    free(lj->messages);
    free(lj);
    req_maybe_finish(r);
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
    owner_of(r, h->owner, sizeof h->owner);
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
    lj->job = (store_job_t){.run = load_run, .done = load_done, .w = r->w};
    lj->r = r;
    snprintf(lj->session, sizeof lj->session, "%s", h->session);
    if (store_submit(&lj->job) != 0) {
        free(lj);
        req_set_error(r, 503, GANTRY_ERR_SERVER, "api_error", "history_unavailable", NULL,
                      "The chat history store is overloaded; try again shortly.");
        return -1;
    }
    r->pending++;
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
    if (cJSON_IsString(text))
        buf_appendz(&h->text, text->valuestring); /* over max_bytes: the rest is not kept */
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(d, "tool_calls"))
    {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(tc, "index");
        int i = cJSON_IsNumber(idx) ? (int)idx->valuedouble : 0;
        if (i < 0 || i >= (int)(sizeof h->tools / sizeof h->tools[0]))
            continue;
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
        if (cJSON_IsString(args))
            buf_appendz(&t->args, args->valuestring);
    }
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
    buf_append(&h->text, "", 1);
    h->text.len--;
    if (h->text.len > 0 || h->ntools == 0)
        cJSON_AddStringToObject(m, "content", h->text.ptr ? h->text.ptr : "");
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
            buf_append(&t->args, "", 1);
            t->args.len--;
            cJSON_AddStringToObject(fn, "arguments", t->args.ptr ? t->args.ptr : "");
            cJSON_AddItemToArray(calls, tc);
        }
    }
    return m;
}

typedef struct save_job {
    store_job_t job;
    char session[MAX_SESSION_ID + 1];
    char owner[96];
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
    exec_bound(db, "DELETE FROM chat_sessions WHERE owner = ?1 AND updated_ms < ?2", sj,
               sj->now_ms - sj->ttl_ms);
    cJSON_free(sj->messages);
}

/* Drop the oldest turns until both bounds hold; leading system messages stay. */
static char *bounded(cJSON *msgs, const cfg_history_t *hc)
{
    for (;;) {
        int n = cJSON_GetArraySize(msgs);
        char *s = cJSON_PrintUnformatted(msgs);
        if (s == NULL)
            return NULL;
        if ((n <= hc->max_messages && (int64_t)strlen(s) <= hc->max_bytes) || n <= 1)
            return s;
        cJSON_free(s);
        int first = 0;
        cJSON *m;
        cJSON_ArrayForEach(m, msgs)
        {
            if (!is_system(m))
                break;
            first++;
        }
        if (first >= n - 1)
            first = 0;
        cJSON_DeleteItemFromArray(msgs, first);
        /* A tool result without the call that asked for it would be refused by providers. */
        cJSON *next = cJSON_GetArrayItem(msgs, first);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(next, "role");
        while (next != NULL && cJSON_IsString(role) && strcmp(role->valuestring, "tool") == 0) {
            cJSON_DeleteItemFromArray(msgs, first);
            next = cJSON_GetArrayItem(msgs, first);
            role = cJSON_GetObjectItemCaseSensitive(next, "role");
        }
    }
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
    sj->job = (store_job_t){.run = save_run};
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
