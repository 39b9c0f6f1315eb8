/*
 * api_bedrock: the Bedrock Runtime client API, so the AWS SDKs (boto3, the JavaScript v3 client)
 * work unchanged with endpoint <gantry>/bedrock and the Gantry key as their credential:
 *
 *   POST /bedrock/model/{modelId}/converse                       Converse
 *   POST /bedrock/model/{modelId}/converse-stream                ConverseStream
 *   POST /bedrock/model/{modelId}/invoke                         InvokeModel
 *   POST /bedrock/model/{modelId}/invoke-with-response-stream    InvokeModelWithResponseStream
 *
 * modelId is a Gantry model group (URL-encoded in the path), routed to any provider.  Requests
 * become canonical on arrival (brk_req.c, brk_invoke.c); answers, event streams and errors are
 * written back in Bedrock's shapes (brk_resp.c, brk_invoke.c).
 *
 * Credentials: "Authorization: Bearer <key>" (Bedrock API keys; what the SDKs send with a token),
 * or a SigV4 header signed with the key as the access key id ("AWS4-HMAC-SHA256
 * Credential=<key>/<scope>..." or "Credential=Bearer <key>/..."), which is rewritten to
 * "Bearer <key>" before AUTH so every auth plugin sees one form.  The SigV4 signature is not
 * checked (the gateway does not hold a secret key to check it with): the key itself is the
 * credential, exactly as with a bearer token, so the same transport security applies.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "brk.h"
#include "pipe.h"
#include "routes.h"
#include "srv.h"

typedef enum brk_op {
    OP_CONVERSE,
    OP_CONVERSE_STREAM,
    OP_INVOKE,
    OP_INVOKE_STREAM,
} brk_op_t;

static const struct {
    const char *name;
    const char *route; /* for logs: the route without the model */
    brk_op_t op;
} ops[] = {
    {"converse", "/bedrock/model/{modelId}/converse", OP_CONVERSE},
    {"converse-stream", "/bedrock/model/{modelId}/converse-stream", OP_CONVERSE_STREAM},
    {"invoke", "/bedrock/model/{modelId}/invoke", OP_INVOKE},
    {"invoke-with-response-stream", "/bedrock/model/{modelId}/invoke-with-response-stream",
     OP_INVOKE_STREAM},
};

/* Per request, in the arena (r->api_state). */
typedef struct brk_state {
    brk_op_t op;
    brk_family_t fam;
    const char *model;  /* the model group, decoded */
    const char *msg_id; /* Anthropic message id for InvokeModel */
    brk_stream_t conv;
    brk_istream_t inv;
} brk_state_t;

/* ---- formatting ---- */

static int put_json(cJSON *j, buf_t *out)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (s == NULL)
        return -1;
    int rc = buf_appendz(out, s);
    cJSON_free(s);
    return rc;
}

static int64_t ms_since_start(req_t *r, int64_t t_us)
{
    int64_t d = t_us - r->t_start;
    return d > 0 ? d / 1000 : 0;
}

static brk_metrics_t metrics(req_t *r)
{
    brk_metrics_t m;
    m.latency_ms = ms_since_start(r, now_us());
    m.first_byte_ms = r->t_first ? ms_since_start(r, r->t_first) : m.latency_ms;
    return m;
}

static int emit_evs(void *ctx, const char *event_type, const cJSON *payload)
{
    return brk_evs_event(ctx, event_type, payload);
}

static int conv_response(req_t *r, const cJSON *resp, buf_t *out)
{
    return put_json(brk_converse_response(resp, ms_since_start(r, now_us()), 0), out);
}

static int conv_chunk(req_t *r, const cJSON *chunk, buf_t *out)
{
    brk_state_t *st = r->api_state;
    return st ? brk_stream_chunk(&st->conv, chunk, emit_evs, out) : -1;
}

static int conv_stream_end(req_t *r, buf_t *out)
{
    brk_state_t *st = r->api_state;
    return st ? brk_stream_finish(&st->conv, ms_since_start(r, now_us()), emit_evs, out) : -1;
}

static int inv_response(req_t *r, const cJSON *resp, buf_t *out)
{
    brk_state_t *st = r->api_state;
    if (st == NULL)
        return -1;
    return put_json(brk_invoke_response(st->fam, resp, st->msg_id, st->model), out);
}

static int inv_chunk(req_t *r, const cJSON *chunk, buf_t *out)
{
    brk_state_t *st = r->api_state;
    brk_metrics_t m = metrics(r);
    return st ? brk_istream_chunk(&st->inv, chunk, &m, out) : -1;
}

static int inv_stream_end(req_t *r, buf_t *out)
{
    brk_state_t *st = r->api_state;
    brk_metrics_t m = metrics(r);
    return st ? brk_istream_finish(&st->inv, &m, out) : -1;
}

static void map_error(req_t *r, const gantry_error_t *e, brk_errmap_t *m)
{
    /* Errors after an upstream attempt came from a provider (or the route to one). */
    brk_error_map(e->status, (int)e->class_, r->attempts > 0, r->api == &api_bedrock_invoke, m);
}

static void error_headers(req_t *r, const gantry_error_t *e, int *status)
{
    brk_errmap_t m;
    map_error(r, e, &m);
    req_add_header(r, "x-amzn-errortype", m.type, strlen(m.type));
    *status = m.status;
}

static int error_body(req_t *r, const gantry_error_t *e, buf_t *out)
{
    (void)r;
    return brk_error_json(out, e->message.ptr, e->message.len);
}

static int stream_error(req_t *r, const gantry_error_t *e, buf_t *out)
{
    brk_errmap_t m;
    map_error(r, e, &m);
    return brk_evs_exception(out, m.event, e->message.ptr, e->message.len, e->status);
}

const struct api_fmt api_bedrock_converse = {
    .name = "bedrock-converse",
    .stream_content_type = "application/vnd.amazon.eventstream",
    .native = false,
    .response = conv_response,
    .chunk = conv_chunk,
    .stream_end = conv_stream_end,
    .error_body = error_body,
    .stream_error = stream_error,
    .error_headers = error_headers,
};

const struct api_fmt api_bedrock_invoke = {
    .name = "bedrock-invoke",
    .stream_content_type = "application/vnd.amazon.eventstream",
    .native = false,
    .response = inv_response,
    .chunk = inv_chunk,
    .stream_end = inv_stream_end,
    .error_body = error_body,
    .stream_error = stream_error,
    .error_headers = error_headers,
};

/* ---- credentials ---- */

/*
 * A SigV4 header signed with the Gantry key as the access key id becomes "Bearer <key>", in
 * place, so every auth plugin finds the key where it looks.  Anything else is left alone for the
 * auth plugins to judge.
 */
static void normalise_auth(h2o_req_t *h)
{
    ssize_t i = h2o_find_header(&h->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return;
    h2o_iovec_t v = h->headers.entries[i].value;
    const char *key;
    size_t n;
    if (!brk_sigv4_key(v.base, v.len, &key, &n))
        return;
    char *nv = h2o_mem_alloc_pool(&h->pool, n + 7);
    memcpy(nv, "Bearer ", 7);
    memcpy(nv + 7, key, n);
    h->headers.entries[i].value = h2o_iovec_init(nv, n + 7);
}

/* ---- the route ---- */

/*
 * Split the raw path (not h2o's normalised one, which may already have decoded an encoded '/'
 * inside the model id) into the model segment and the operation.  The operation is after the last
 * '/', so a model group named with an unencoded '/' still works.  -1 when it is no known operation.
 */
static int split_path(h2o_req_t *h, const char **model, size_t *model_len)
{
    static const char prefix[] = "/bedrock/model/";
    size_t len = h->query_at != SIZE_MAX && h->query_at < h->path.len ? h->query_at : h->path.len;
    const char *p = h->path.base;
    if (len > 1 && p[len - 1] == '/')
        len--;
    if (len <= sizeof prefix - 1 || memcmp(p, prefix, sizeof prefix - 1) != 0)
        return -1;
    const char *seg = p + sizeof prefix - 1, *end = p + len, *slash = end;
    while (slash > seg && slash[-1] != '/')
        slash--;
    if (slash <= seg + 1)
        return -1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].name);
        if ((size_t)(end - slash) == n && memcmp(slash, ops[i].name, n) == 0) {
            *model = seg;
            *model_len = (size_t)(slash - 1 - seg);
            return (int)i;
        }
    }
    return -1;
}

static void op_refuse(req_t *r)
{
    pipe_fail(r);
}

/* Answer with an error (after AUTH, so strangers learn nothing). */
static int refuse(req_t *r, int status, gantry_error_class_t cls, const char *msg)
{
    req_set_error(r, status, cls, status >= 500 ? "api_error" : "invalid_request_error", NULL, NULL,
                  msg);
    pipe_start(r, op_refuse);
    req_release(r);
    return 0;
}

static const char *anthropic_msg_id(req_t *r)
{
    char *s = arena_alloc(&r->arena, r->id_len + 10);
    if (s == NULL)
        return "msg_bdrk_gantry";
    memcpy(s, "msg_bdrk_", 9);
    memcpy(s + 9, r->id, r->id_len + 1);
    return s;
}

int api_bedrock(worker_t *w, h2o_req_t *h)
{
    normalise_auth(h);
    const char *seg = NULL;
    size_t seg_len = 0;
    int oi = split_path(h, &seg, &seg_len);
    req_t *r = routes_new_req(w, h, oi >= 0 ? ops[oi].route : "/bedrock/model/{modelId}");
    if (r == NULL)
        return -1;
    brk_op_t op = oi >= 0 ? ops[oi].op : OP_CONVERSE;
    bool converse = op == OP_CONVERSE || op == OP_CONVERSE_STREAM;
    bool stream = op == OP_CONVERSE_STREAM || op == OP_INVOKE_STREAM;
    r->api = converse ? &api_bedrock_converse : &api_bedrock_invoke;
    r->endpoint = GANTRY_EP_CHAT;
    req_hold(r);
    /* The SDKs report this as the request id of every answer and error. */
    req_add_header(r, "x-amzn-requestid", r->id, r->id_len);
    brk_state_t *st = arena_alloc(&r->arena, sizeof *st);
    if (st == NULL)
        return refuse(r, 500, GANTRY_ERR_INTERNAL, "out of request memory");
    memset(st, 0, sizeof *st);
    st->op = op;
    r->api_state = st;
    if (oi < 0)
        return refuse(r, 404, GANTRY_ERR_NOT_FOUND,
                      "Unknown operation: use /bedrock/model/{modelId}/converse, "
                      "converse-stream, invoke or invoke-with-response-stream.");
    if (!h2o_memis(h->method.base, h->method.len, H2O_STRLIT("POST")))
        return refuse(r, 405, GANTRY_ERR_BAD_REQUEST, "Only POST is supported on this endpoint.");
    if ((int64_t)h->entity.len > srv.cfg->server.max_request_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "The request body is %zu bytes; the limit is %lld bytes.",
                 h->entity.len, (long long)srv.cfg->server.max_request_bytes);
        return refuse(r, 413, GANTRY_ERR_BAD_REQUEST, msg);
    }
    char *model = seg_len <= 1024 ? arena_alloc(&r->arena, seg_len + 1) : NULL;
    if (model == NULL || !brk_decode_model(seg, seg_len, model, seg_len + 1))
        return refuse(r, 400, GANTRY_ERR_BAD_REQUEST,
                      "The model id in the path is empty or not validly URL-encoded.");
    st->model = model;
    st->msg_id = anthropic_msg_id(r);
    cJSON *canon = NULL;
    brk_err_t err;
    int rc;
    if (converse) {
        rc = brk_converse_parse(h->entity.base, h->entity.len, model, stream, &canon, &err);
    } else {
        rc = brk_invoke_parse(h->entity.base, h->entity.len, model, stream, &st->fam, &canon, &err);
        brk_istream_init(&st->inv, st->fam, st->msg_id, st->model);
    }
    brk_stream_init(&st->conv, 0);
    if (rc != 0)
        return refuse(r, err.status,
                      err.status >= 500 ? GANTRY_ERR_INTERNAL : GANTRY_ERR_BAD_REQUEST,
                      err.message);
    r->body = canon;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(canon, "model");
    r->model = (gantry_str_t){m->valuestring, strlen(m->valuestring)};
    r->stream = stream;
    /* The metadata event and the invocation metrics need the usage chunk. */
    r->include_usage = stream;
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(canon, "user");
    if (cJSON_IsString(user))
        r->end_user = (gantry_str_t){user->valuestring, strlen(user->valuestring)};
    if (op == OP_INVOKE_STREAM)
        req_add_header(r, "x-amzn-bedrock-content-type", "application/json", 16);
    pipe_start(r, NULL);
    req_release(r);
    return 0;
}
