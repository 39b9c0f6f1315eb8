/*
 * hist_api: reading chat history back - POST /chat-history (OpenAI messages), POST
 * /bedrock/chat-history (Bedrock Converse messages and system) and POST /session-ids - each
 * limited to the sessions of the calling key.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "hist.h"
#include "pipe.h"
#include "routes.h"
#include "srv.h"
#include "store.h"

typedef enum { Q_MESSAGES, Q_BEDROCK, Q_SESSIONS } query_t;

typedef struct read_job {
    store_job_t job;
    req_t *r;
    query_t q;
    char owner[HIST_MAX_OWNER];
    char session[160];
    int64_t since_ms; /* sessions untouched since before this have expired */
    cJSON *out;       /* the answer, built on the store thread */
    bool found;
    bool failed;
} read_job_t;

static void read_run(sqlite3 *db, store_job_t *j)
{
    read_job_t *rj = (read_job_t *)j;
    sqlite3_stmt *st = NULL;
    if (rj->q == Q_SESSIONS) {
        if (sqlite3_prepare_v2(db,
                               "SELECT session_id FROM chat_sessions WHERE owner = ? AND "
                               "updated_ms >= ? ORDER BY updated_ms DESC",
                               -1, &st, NULL) != SQLITE_OK) {
            rj->failed = true;
            return;
        }
        sqlite3_bind_text(st, 1, rj->owner, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, rj->since_ms);
        rj->out = cJSON_CreateObject();
        cJSON *ids = cJSON_AddArrayToObject(rj->out, "session_ids");
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *id = sqlite3_column_text(st, 0);
            cJSON_AddItemToArray(ids, cJSON_CreateString(id ? (const char *)id : ""));
        }
        rj->found = true;
        rj->failed = rc != SQLITE_DONE;
        sqlite3_finalize(st);
        return;
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT messages FROM chat_sessions WHERE session_id = ? AND owner = ? "
                           "AND updated_ms >= ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rj->failed = true;
        return;
    }
    sqlite3_bind_text(st, 1, rj->session, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rj->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, rj->since_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        rj->found = true;
        rj->out = cJSON_Parse(t ? (const char *)t : "[]");
    } else if (rc != SQLITE_DONE) {
        rj->failed = true;
    }
    sqlite3_finalize(st);
}

static void read_drop(store_job_t *j)
{
    read_job_t *rj = (read_job_t *)j;
    cJSON_Delete(rj->out);
    free(rj);
}

/* An OpenAI message's content as Converse content blocks (text, images from data URLs). */
static void converse_content(const cJSON *content, cJSON *blocks)
{
    if (cJSON_IsString(content)) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "text", content->valuestring);
        cJSON_AddItemToArray(blocks, b);
        return;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0 && cJSON_IsString(text)) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "text", text->valuestring);
            cJSON_AddItemToArray(blocks, b);
        }
    }
}

/* Stored OpenAI messages as Bedrock's {messages, system}. */
static cJSON *to_converse(const cJSON *msgs)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *system = cJSON_AddArrayToObject(out, "system");
    cJSON *list = cJSON_AddArrayToObject(out, "messages");
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        const char *rs = cJSON_IsString(role) ? role->valuestring : "user";
        if (strcmp(rs, "system") == 0 || strcmp(rs, "developer") == 0) {
            converse_content(content, system);
            continue;
        }
        cJSON *blocks = cJSON_CreateArray();
        if (strcmp(rs, "tool") == 0) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
            cJSON *tr = cJSON_CreateObject();
            cJSON *res = cJSON_AddObjectToObject(tr, "toolResult");
            cJSON_AddStringToObject(res, "toolUseId", cJSON_IsString(id) ? id->valuestring : "");
            converse_content(content, cJSON_AddArrayToObject(res, "content"));
            cJSON_AddItemToArray(blocks, tr);
            rs = "user";
        } else {
            converse_content(content, blocks);
            const cJSON *tc;
            cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
            {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
                const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
                cJSON *tu = cJSON_CreateObject();
                cJSON *u = cJSON_AddObjectToObject(tu, "toolUse");
                cJSON_AddStringToObject(u, "toolUseId", cJSON_IsString(id) ? id->valuestring : "");
                cJSON_AddStringToObject(u, "name", cJSON_IsString(name) ? name->valuestring : "");
                cJSON *input = cJSON_IsString(args) ? cJSON_Parse(args->valuestring) : NULL;
                cJSON_AddItemToObject(u, "input", cJSON_IsObject(input) ? input : cJSON_CreateObject());
                if (!cJSON_IsObject(input))
                    cJSON_Delete(input);
                cJSON_AddItemToArray(blocks, tu);
            }
            if (strcmp(rs, "assistant") != 0)
                rs = "user";
        }
        cJSON *cm = cJSON_CreateObject();
        cJSON_AddStringToObject(cm, "role", rs);
        cJSON_AddItemToObject(cm, "content", blocks);
        cJSON_AddItemToArray(list, cm);
    }
    return out;
}

static void read_done(store_job_t *j)
{
    read_job_t *rj = (read_job_t *)j;
    req_t *r = rj->r;
    req_hold(r); /* answering may dispose the request inside h2o_send() */
    r->pending--;
    if (!r->client_gone) {
        if (rj->failed) {
            req_set_error(r, 503, GANTRY_ERR_SERVER, "api_error", "history_unavailable", NULL,
                          "The chat history store could not be read; try again shortly.");
            pipe_fail(r);
        } else if (!rj->found) {
            req_set_error(r, 404, GANTRY_ERR_NOT_FOUND, "invalid_request_error",
                          "session_not_found", "session_id",
                          "No chat session with this session_id belongs to your key.");
            pipe_fail(r);
        } else {
            cJSON *body = rj->out;
            if (rj->q == Q_MESSAGES) {
                body = cJSON_CreateObject();
                cJSON_AddStringToObject(body, "session_id", rj->session);
                cJSON_AddItemToObject(body, "messages",
                                      cJSON_IsArray(rj->out) ? rj->out : cJSON_CreateArray());
                if (!cJSON_IsArray(rj->out))
                    cJSON_Delete(rj->out);
            } else if (rj->q == Q_BEDROCK) {
                body = to_converse(rj->out);
                cJSON_AddStringToObject(body, "session_id", rj->session);
                cJSON_Delete(rj->out);
            }
            rj->out = NULL;
            char *s = cJSON_PrintUnformatted(body);
            cJSON_Delete(body);
            r->phase = PH_SENT;
            resp_send_body(r, 200, "application/json", s ? s : "{}", s ? strlen(s) : 2);
            cJSON_free(s);
        }
    }
    read_drop(j);
    req_release(r);
}

static void start_read(req_t *r, query_t q)
{
    read_job_t *rj = calloc(1, sizeof *rj);
    if (rj == NULL || !store_is_open()) {
        free(rj);
        req_set_error(r, 503, GANTRY_ERR_SERVER, "api_error", "history_unavailable", NULL,
                      "Chat history is not available on this gateway.");
        pipe_fail(r);
        return;
    }
    rj->job = (store_job_t){.run = read_run, .done = read_done, .drop = read_drop, .w = r->w};
    rj->r = r;
    rj->q = q;
    rj->since_ms = unix_ms() - r->gen->cfg->history.ttl_ms;
    if (!hist_owner(r, rj->owner, sizeof rj->owner)) {
        free(rj);
        req_set_error(r, 404, GANTRY_ERR_NOT_FOUND, "invalid_request_error", "session_not_found",
                      "session_id", "No chat session with this session_id belongs to your key.");
        pipe_fail(r);
        return;
    }
    if (q != Q_SESSIONS) {
        cJSON *b = cJSON_ParseWithLength(r->h->entity.base, r->h->entity.len);
        const cJSON *sid = cJSON_GetObjectItemCaseSensitive(b, "session_id");
        if (!cJSON_IsString(sid) || sid->valuestring[0] == '\0' ||
            strlen(sid->valuestring) >= sizeof rj->session) {
            cJSON_Delete(b);
            free(rj);
            req_set_error(r, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                          "missing_required_parameter", "session_id",
                          "Send a JSON body with a string 'session_id'.");
            pipe_fail(r);
            return;
        }
        snprintf(rj->session, sizeof rj->session, "%s", sid->valuestring);
        cJSON_Delete(b);
    }
    if (store_submit(&rj->job) != 0) {
        free(rj);
        req_set_error(r, 503, GANTRY_ERR_SERVER, "api_error", "history_unavailable", NULL,
                      "The chat history store is overloaded; try again shortly.");
        pipe_fail(r);
        return;
    }
    r->pending++;
}

static void op_messages(req_t *r)
{
    start_read(r, Q_MESSAGES);
}

static void op_bedrock(req_t *r)
{
    start_read(r, Q_BEDROCK);
}

static void op_sessions(req_t *r)
{
    start_read(r, Q_SESSIONS);
}

static void op_refuse(req_t *r)
{
    pipe_fail(r);
}

static int route(worker_t *w, h2o_req_t *h, const char *path, pipe_op_fn op)
{
    req_t *r = routes_new_req(w, h, path);
    if (r == NULL)
        return -1;
    req_hold(r);
    if (!h2o_memis(h->method.base, h->method.len, H2O_STRLIT("POST"))) {
        req_set_error(r, 405, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", "method_not_allowed",
                      NULL, "Only POST is supported on this endpoint.");
        op = op_refuse;
    }
    pipe_start(r, op);
    req_release(r);
    return 0;
}

int hist_route_messages(worker_t *w, h2o_req_t *h)
{
    return route(w, h, "/chat-history", op_messages);
}

int hist_route_bedrock(worker_t *w, h2o_req_t *h)
{
    return route(w, h, "/bedrock/chat-history", op_bedrock);
}

int hist_route_sessions(worker_t *w, h2o_req_t *h)
{
    return route(w, h, "/session-ids", op_sessions);
}
