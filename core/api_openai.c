/*
 * api_openai: the OpenAI-compatible client API - /v1/chat/completions, /v1/embeddings,
 * /v1/completions and /v1/models - and how the canonical response, chunks and errors are written
 * back in OpenAI's format.
 */
#include <stdio.h>
#include <string.h>

#include "gov.h"
#include "api.h"
#include "log.h"
#include "oai_parse.h"
#include "pipe.h"
#include "router.h"
#include "routes.h"
#include "srv.h"

/* ---- formatting ---- */

static int put_json(const cJSON *j, buf_t *out)
{
    char *s = cJSON_PrintUnformatted(j);
    if (s == NULL)
        return -1;
    int rc = buf_appendz(out, s);
    cJSON_free(s);
    return rc;
}

static int oai_response(req_t *r, const cJSON *resp, buf_t *out)
{
    (void)r;
    return put_json(resp, out);
}

static int oai_chunk(req_t *r, const cJSON *chunk, buf_t *out)
{
    (void)r;
    if (buf_append(out, "data: ", 6) != 0 || put_json(chunk, out) != 0)
        return -1;
    return buf_append(out, "\n\n", 2);
}

static int oai_stream_end(req_t *r, buf_t *out)
{
    (void)r;
    return buf_appendz(out, "data: [DONE]\n\n");
}

static cJSON *error_object(const gantry_error_t *e)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *o = cJSON_AddObjectToObject(root, "error");
    char msg[2048];
    snprintf(msg, sizeof msg, "%.*s", (int)e->message.len, e->message.ptr ? e->message.ptr : "");
    cJSON_AddStringToObject(o, "message", msg);
    char t[128];
    snprintf(t, sizeof t, "%.*s", (int)e->type.len, e->type.ptr ? e->type.ptr : "");
    cJSON_AddStringToObject(o, "type", e->type.len ? t : "api_error");
    if (e->param.len) {
        snprintf(t, sizeof t, "%.*s", (int)e->param.len, e->param.ptr);
        cJSON_AddStringToObject(o, "param", t);
    } else {
        cJSON_AddNullToObject(o, "param");
    }
    if (e->code.len) {
        snprintf(t, sizeof t, "%.*s", (int)e->code.len, e->code.ptr);
        cJSON_AddStringToObject(o, "code", t);
    } else {
        cJSON_AddNullToObject(o, "code");
    }
    return root;
}

static int oai_error_body(req_t *r, const gantry_error_t *e, buf_t *out)
{
    (void)r;
    cJSON *root = error_object(e);
    int rc = put_json(root, out);
    cJSON_Delete(root);
    return rc;
}

static int oai_stream_error(req_t *r, const gantry_error_t *e, buf_t *out)
{
    /* The OpenAI SDKs raise an APIError on a data event carrying "error"; [DONE] then ends it. */
    if (buf_append(out, "data: ", 6) != 0 || oai_error_body(r, e, out) != 0)
        return -1;
    return buf_appendz(out, "\n\ndata: [DONE]\n\n");
}

const struct api_fmt api_openai = {
    .name = "openai",
    .stream_content_type = "text/event-stream",
    .native = true,
    .response = oai_response,
    .chunk = oai_chunk,
    .stream_end = oai_stream_end,
    .error_body = oai_error_body,
    .stream_error = oai_stream_error,
};

/* ---- handlers ---- */

static void set_request_id(req_t *r)
{
    h2o_req_t *h = r->h;
    ssize_t i = h2o_find_header_by_str(&h->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0) {
        h2o_iovec_t v = h->headers.entries[i].value;
        bool ok = v.len > 0 && v.len < sizeof r->id;
        for (size_t k = 0; ok && k < v.len; k++) {
            char c = v.base[k];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.' || c == ':';
        }
        if (ok) {
            memcpy(r->id, v.base, v.len);
            r->id[v.len] = '\0';
            r->id_len = v.len;
            return;
        }
    }
    /* Request ids need to be unique, not secret: the worker's generator avoids a CSPRNG call. */
    static const char hex[] = "0123456789abcdef";
    uint64_t a = rt_rand(&r->w->rng), b = rt_rand(&r->w->rng);
    for (int k = 0; k < 16; k++) {
        r->id[k] = hex[(a >> (k * 4)) & 15];
        r->id[16 + k] = hex[(b >> (k * 4)) & 15];
    }
    r->id[32] = '\0';
    r->id_len = 32;
}

req_t *routes_new_req(worker_t *w, h2o_req_t *h, const char *route)
{
    req_t *r = req_new(w, h, &api_openai, route);
    if (r != NULL)
        set_request_id(r);
    return r;
}

/* A request refused before it could be parsed still passes AUTH first, so strangers learn nothing.
 */
static void op_refuse(req_t *r)
{
    pipe_fail(r);
}

typedef int (*parse_fn)(const char *body, size_t len, oai_chat_t *out, oai_err_t *err);

/* The model endpoints share everything but the body check and the response format. */
static int model_route(worker_t *w, h2o_req_t *h, const char *route, parse_fn parse,
                       const api_fmt_t *api, gantry_endpoint_t ep)
{
    req_t *r = routes_new_req(w, h, route);
    if (r == NULL)
        return -1;
    r->api = api;
    r->endpoint = ep;
    req_hold(r);
    if (!h2o_memis(h->method.base, h->method.len, H2O_STRLIT("POST"))) {
        req_set_error(r, 405, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", "method_not_allowed",
                      NULL, "Only POST is supported on this endpoint.");
        pipe_start(r, op_refuse);
        req_release(r);
        return 0;
    }
    if ((int64_t)h->entity.len > srv.cfg->server.max_request_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "The request body is %zu bytes; the limit is %lld bytes.",
                 h->entity.len, (long long)srv.cfg->server.max_request_bytes);
        req_set_error(r, 413, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", "request_too_large",
                      NULL, msg);
        pipe_start(r, op_refuse);
        req_release(r);
        return 0;
    }
    oai_chat_t chat;
    oai_err_t err;
    if (parse(h->entity.base, h->entity.len, &chat, &err) != 0) {
        req_set_error(r, err.status, GANTRY_ERR_BAD_REQUEST, err.type, err.code, err.param,
                      err.message);
        pipe_start(r, op_refuse);
        req_release(r);
        return 0;
    }
    r->body = chat.root;
    r->model = (gantry_str_t){chat.model, chat.model_len};
    r->stream = chat.stream;
    r->include_usage = chat.include_usage;
    if (chat.user != NULL)
        r->end_user = (gantry_str_t){chat.user, strlen(chat.user)};
    pipe_start(r, NULL);
    req_release(r);
    return 0;
}

int api_openai_chat(worker_t *w, h2o_req_t *h)
{
    return model_route(w, h, "/v1/chat/completions", oai_parse_chat, &api_openai, GANTRY_EP_CHAT);
}

int api_openai_embeddings(worker_t *w, h2o_req_t *h)
{
    /* Embeddings are canonical as they are: the OpenAI format and its raw relay serve them. */
    return model_route(w, h, "/v1/embeddings", oai_parse_embeddings, &api_openai,
                       GANTRY_EP_EMBEDDINGS);
}

int api_openai_completions(worker_t *w, h2o_req_t *h)
{
    return model_route(w, h, "/v1/completions", oai_parse_completion, &api_completions,
                       GANTRY_EP_COMPLETIONS);
}

static void op_models(req_t *r)
{
    gen_t *g = r->gen;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    int64_t created = srv.started_unix_ms / 1000;
    for (size_t i = 0; i < g->ngroups; i++) {
        if (r->gov != NULL && !gov_model_visible(r, g->groups[i].name))
            continue; /* a virtual key sees the models it may call */
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", g->groups[i].name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", (double)created);
        cJSON_AddStringToObject(m, "owned_by", "gantry");
        cJSON_AddItemToArray(data, m);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    r->phase = PH_SENT;
    resp_send_body(r, 200, "application/json", s ? s : "{}", s ? strlen(s) : 2);
    cJSON_free(s);
}

/* A config scalar as JSON (strings stay strings; os.environ/ values are not shown). */
static void add_scalar(cJSON *o, const char *key, const cfg_node_t *n)
{
    if (n == NULL)
        return;
    if (n->kind == CFG_INT || n->kind == CFG_NUM)
        cJSON_AddNumberToObject(o, key, n->kind == CFG_INT ? (double)n->i : n->d);
    else if (n->kind == CFG_BOOL)
        cJSON_AddBoolToObject(o, key, n->b);
    else if (n->kind == CFG_STR && strncmp(n->str, "os.environ/", 11) != 0)
        cJSON_AddStringToObject(o, key, n->str);
}

/*
 * GET /model/info: LiteLLM's model list with each deployment's settings - never its credentials -
 * limited to the models the caller may call.
 */
static void op_model_info(req_t *r)
{
    static const char *const params[] = {"model", "api_base", "api_version", "rpm", "tpm",
                                         "max_parallel_requests", "input_cost_per_token",
                                         "output_cost_per_token", "aws_region_name", "order",
                                         "weight", NULL};
    gen_t *g = r->gen;
    cJSON *root = cJSON_CreateObject();
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < g->ndeps; i++) {
        const deployment_t *d = &g->deps[i];
        if (r->gov != NULL && !gov_model_visible(r, d->group->name))
            continue;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "model_name", d->group->name);
        cJSON *lp = cJSON_AddObjectToObject(m, "litellm_params");
        for (const char *const *k = params; *k; k++)
            add_scalar(lp, *k, cfg_map_get(d->cfg->params, *k));
        cJSON_AddStringToObject(lp, "custom_llm_provider", d->cfg->prefix);
        cJSON *mi = cJSON_AddObjectToObject(m, "model_info");
        cJSON_AddStringToObject(mi, "id", d->cfg->id);
        const cfg_node_t *info = d->cfg->info;
        for (size_t k = 0; info != NULL && info->kind == CFG_MAP && k < info->count; k++) {
            const cfg_pair_t *p = &info->pairs[k];
            if (strcmp(p->key, "id") == 0)
                continue;
            if (p->value->kind == CFG_SEQ) {
                cJSON *arr = cJSON_AddArrayToObject(mi, p->key);
                for (size_t j = 0; j < p->value->count; j++) {
                    if (p->value->items[j]->kind == CFG_STR)
                        cJSON_AddItemToArray(arr, cJSON_CreateString(p->value->items[j]->str));
                }
            } else {
                add_scalar(mi, p->key, p->value);
            }
        }
        if (d->cost_in >= 0 && cJSON_GetObjectItemCaseSensitive(mi, "input_cost_per_token") == NULL)
            cJSON_AddNumberToObject(mi, "input_cost_per_token", d->cost_in);
        if (d->cost_out >= 0 && cJSON_GetObjectItemCaseSensitive(mi, "output_cost_per_token") == NULL)
            cJSON_AddNumberToObject(mi, "output_cost_per_token", d->cost_out);
        cJSON_AddItemToArray(data, m);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    r->phase = PH_SENT;
    resp_send_body(r, 200, "application/json", s ? s : "{}", s ? strlen(s) : 2);
    cJSON_free(s);
}

/* A GET-only route that answers from the configuration (after AUTH). */
static int get_route(worker_t *w, h2o_req_t *h, const char *path, pipe_op_fn op)
{
    req_t *r = routes_new_req(w, h, path);
    if (r == NULL)
        return -1;
    req_hold(r);
    if (!h2o_memis(h->method.base, h->method.len, H2O_STRLIT("GET"))) {
        req_set_error(r, 405, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", "method_not_allowed",
                      NULL, "Only GET is supported on this endpoint.");
        op = op_refuse;
    }
    pipe_start(r, op);
    req_release(r);
    return 0;
}

int api_model_info(worker_t *w, h2o_req_t *h)
{
    return get_route(w, h, "/model/info", op_model_info);
}

int api_openai_models(worker_t *w, h2o_req_t *h)
{
    return get_route(w, h, "/v1/models", op_models);
}
