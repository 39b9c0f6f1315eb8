/*
 * api_anthropic: the Anthropic-compatible client API - POST /v1/messages and
 * /v1/messages/count_tokens - so Anthropic's SDKs work unchanged against any model group.  The
 * request becomes canonical on arrival (anth_req.c); answers, stream events and errors are written
 * back in Anthropic's shapes (anth_resp.c).
 */
#include <stdio.h>
#include <string.h>

#include "anth.h"
#include "api.h"
#include "pipe.h"
#include "routes.h"
#include "srv.h"

/* ---- formatting ---- */

static int put_json(const cJSON *j, buf_t *out)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    if (s == NULL)
        return -1;
    int rc = buf_appendz(out, s);
    cJSON_free(s);
    return rc;
}

/* "msg_<request id>" and the model group the client named, both in the arena. */
static const char *msg_id(req_t *r)
{
    char *s = arena_alloc(&r->arena, r->id_len + 5);
    if (s == NULL)
        return "msg_gantry";
    memcpy(s, "msg_", 4);
    memcpy(s + 4, r->id, r->id_len + 1);
    return s;
}

static const char *model_name(req_t *r)
{
    char *s = r->model.ptr ? arena_strndup(&r->arena, r->model.ptr, r->model.len) : NULL;
    return s ? s : "";
}

static int anth_response(req_t *r, const cJSON *resp, buf_t *out)
{
    cJSON *m = anth_from_canonical_response(resp, msg_id(r), model_name(r));
    int rc = put_json(m, out);
    cJSON_Delete(m);
    return rc;
}

/* One event as Anthropic streams it: its type names the SSE event. */
static int emit_sse(void *ctx, const cJSON *ev)
{
    buf_t *out = ctx;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
    if (!cJSON_IsString(t))
        return -1;
    if (buf_append(out, "event: ", 7) != 0 || buf_appendz(out, t->valuestring) != 0 ||
        buf_append(out, "\ndata: ", 7) != 0 || put_json(ev, out) != 0)
        return -1;
    return buf_append(out, "\n\n", 2);
}

static anth_stream_t *stream_state(req_t *r)
{
    if (r->api_state == NULL) {
        anth_stream_t *s = arena_alloc(&r->arena, sizeof *s);
        if (s == NULL)
            return NULL;
        anth_stream_init(s, msg_id(r), model_name(r));
        r->api_state = s;
    }
    return r->api_state;
}

static int anth_chunk(req_t *r, const cJSON *chunk, buf_t *out)
{
    anth_stream_t *s = stream_state(r);
    if (s == NULL)
        return -1;
    return anth_stream_chunk(s, chunk, emit_sse, out);
}

static int anth_stream_end(req_t *r, buf_t *out)
{
    anth_stream_t *s = stream_state(r);
    if (s == NULL)
        return -1;
    return anth_stream_finish(s, emit_sse, out);
}

/* {"type":"error","error":{"type","message"},"request_id"} */
static cJSON *error_object(req_t *r, const gantry_error_t *e)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *o = cJSON_CreateObject();
    char msg[2048];
    snprintf(msg, sizeof msg, "%.*s", (int)e->message.len, e->message.ptr ? e->message.ptr : "");
    /* The type follows the status, not the upstream's own words: an OpenAI upstream's
     * "server_error" means nothing to an Anthropic client. */
    if (root == NULL || o == NULL || cJSON_AddStringToObject(root, "type", "error") == NULL ||
        cJSON_AddStringToObject(o, "type", anth_error_type(e->status, (int)e->class_)) == NULL ||
        cJSON_AddStringToObject(o, "message", msg) == NULL ||
        !cJSON_AddItemToObject(root, "error", o)) {
        cJSON_Delete(o);
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddStringToObject(root, "request_id", r->id);
    return root;
}

static int anth_error_body(req_t *r, const gantry_error_t *e, buf_t *out)
{
    cJSON *root = error_object(r, e);
    int rc = put_json(root, out);
    cJSON_Delete(root);
    return rc;
}

static int anth_stream_error(req_t *r, const gantry_error_t *e, buf_t *out)
{
    /* Anthropic's SDKs raise the error of an `error` event and stop reading. */
    cJSON *root = error_object(r, e);
    int rc = buf_appendz(out, "event: error\ndata: ") == 0 && put_json(root, out) == 0
                 ? buf_append(out, "\n\n", 2)
                 : -1;
    cJSON_Delete(root);
    return rc;
}

/* Anthropic says "overloaded" with 529, which its SDKs know; a 503 from anywhere means the same. */
static void anth_error_headers(req_t *r, const gantry_error_t *e, int *status)
{
    (void)r;
    if (e->status == 503)
        *status = 529;
}

const struct api_fmt api_anthropic = {
    .name = "anthropic",
    .stream_content_type = "text/event-stream",
    .native = false,
    .response = anth_response,
    .chunk = anth_chunk,
    .stream_end = anth_stream_end,
    .error_body = anth_error_body,
    .stream_error = anth_stream_error,
    .error_headers = anth_error_headers,
};

/* ---- handlers ---- */

static void op_refuse(req_t *r)
{
    pipe_fail(r);
}

/*
 * A new request for an Anthropic route, or NULL after answering (405, 413) when the method or size
 * is wrong.  *answered says which.  Refusals still pass AUTH first, so strangers learn nothing.
 */
static req_t *begin(worker_t *w, h2o_req_t *h, const char *route, bool *answered)
{
    *answered = false;
    req_t *r = routes_new_req(w, h, route);
    if (r == NULL)
        return NULL;
    r->api = &api_anthropic;
    r->endpoint = GANTRY_EP_CHAT;
    /* Anthropic's SDKs read the request id from this header (x-request-id is sent as well). */
    req_add_header(r, "request-id", r->id, r->id_len);
    req_hold(r);
    if (!h2o_memis(h->method.base, h->method.len, H2O_STRLIT("POST"))) {
        req_set_error(r, 405, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", NULL, NULL,
                      "Only POST is supported on this endpoint.");
    } else if ((int64_t)h->entity.len > srv.cfg->server.max_request_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "The request body is %zu bytes; the limit is %lld bytes.",
                 h->entity.len, (long long)srv.cfg->server.max_request_bytes);
        req_set_error(r, 413, GANTRY_ERR_BAD_REQUEST, "request_too_large", NULL, NULL, msg);
    } else {
        return r;
    }
    *answered = true;
    pipe_start(r, op_refuse);
    req_release(r);
    return NULL;
}

static void refuse(req_t *r, const anth_err_t *err)
{
    req_set_error(r, err->status, err->status >= 500 ? GANTRY_ERR_INTERNAL : GANTRY_ERR_BAD_REQUEST,
                  err->type, NULL, err->param, err->message);
    pipe_start(r, op_refuse);
    req_release(r);
}

int api_anthropic_messages(worker_t *w, h2o_req_t *h)
{
    bool answered;
    req_t *r = begin(w, h, "/v1/messages", &answered);
    if (r == NULL)
        return answered ? 0 : -1;
    cJSON *canon;
    anth_err_t err;
    if (anth_parse(h->entity.base, h->entity.len, &canon, &err) != 0) {
        refuse(r, &err);
        return 0;
    }
    r->body = canon;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(canon, "model");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(canon, "user");
    r->model = (gantry_str_t){model->valuestring, strlen(model->valuestring)};
    r->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(canon, "stream"));
    /* message_delta carries the final usage, so the usage chunk must reach anth_chunk(). */
    r->include_usage = r->stream;
    if (cJSON_IsString(user))
        r->end_user = (gantry_str_t){user->valuestring, strlen(user->valuestring)};
    pipe_start(r, NULL);
    req_release(r);
    return 0;
}

/* count_tokens names a model too: an unknown one is a 404, as a message would be. */
static void op_count(req_t *r)
{
    if (gen_group(r->gen, r->model.ptr, r->model.len) == NULL) {
        char msg[320];
        snprintf(msg, sizeof msg, "model: '%.*s' does not exist or you do not have access to it.",
                 (int)(r->model.len > 200 ? 200 : r->model.len), r->model.ptr);
        req_set_error(r, 404, GANTRY_ERR_NOT_FOUND, "not_found_error", NULL, "model", msg);
        pipe_fail(r);
        return;
    }
    char body[64];
    int n = snprintf(body, sizeof body, "{\"input_tokens\":%lld}",
                     (long long)anth_count_tokens(r->body));
    r->phase = PH_SENT;
    resp_send_body(r, 200, "application/json", body, (size_t)n);
}

int api_anthropic_count_tokens(worker_t *w, h2o_req_t *h)
{
    bool answered;
    req_t *r = begin(w, h, "/v1/messages/count_tokens", &answered);
    if (r == NULL)
        return answered ? 0 : -1;
    anth_err_t err = {.status = 400, .type = "invalid_request_error"};
    cJSON *root = h->entity.len ? cJSON_ParseWithLength(h->entity.base, h->entity.len) : NULL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *msg = NULL;
    if (!cJSON_IsObject(root)) {
        msg = "The request body must be a JSON object.";
    } else if (!cJSON_IsString(model) || model->valuestring[0] == '\0') {
        err.param = "model";
        msg = "model: Field required (a non-empty string).";
    } else if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "messages"))) {
        err.param = "messages";
        msg = "messages: Field required (a list).";
    }
    if (msg != NULL) {
        snprintf(err.message, sizeof err.message, "%s", msg);
        cJSON_Delete(root);
        refuse(r, &err);
        return 0;
    }
    /* The body is kept (not translated): the estimate reads Anthropic's own shapes. */
    r->body = root;
    r->model = (gantry_str_t){model->valuestring, strlen(model->valuestring)};
    pipe_start(r, op_count);
    req_release(r);
    return 0;
}
