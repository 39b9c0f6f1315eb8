/*
 * cache_api: LiteLLM's cache admin routes.  GET /cache/ping asks every cache instance whether it
 * works (ABI 1.2 health); POST /cache/delete {"keys": [...]} forgets entries by key (ABI 1.2
 * remove; the keys are what x-gantry-cache-key reported).  Both pass AUTH like every route and
 * then need the proxy admin (the master key) when the gateway has keys at all.
 */
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "host.h"
#include "pipe.h"
#include "req.h"
#include "routes.h"
#include "srv.h"

#define MAX_DELETE_KEYS 1000
#define MAX_KEY_LEN 512

static bool is_admin(req_t *r)
{
    if (r->gen->nkind[GANTRY_KIND_AUTH] == 0)
        return true; /* a gateway without keys: every caller is trusted, as on other routes */
    const gantry_str_t role = r->principal.role;
    if (r->has_principal && role.len == 11 && memcmp(role.ptr, "proxy_admin", 11) == 0)
        return true;
    req_set_error(r, 403, GANTRY_ERR_AUTH, "invalid_request_error", "forbidden", NULL,
                  "The cache routes need the master key.");
    pipe_fail(r);
    return false;
}

static void send_json(req_t *r, int status, cJSON *root)
{
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (s == NULL) {
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL,
                      "could not encode the response");
        pipe_fail(r);
        return;
    }
    r->phase = PH_SENT;
    resp_send_body(r, status, "application/json", s, strlen(s));
    cJSON_free(s);
}

/* LiteLLM's names for the backends: local for the memory plugin. */
static const char *cache_type(const inst_t *in)
{
    const char *name = in->pl->desc->name;
    return strcmp(name, "memory") == 0 ? "local" : name;
}

static void *wstate(req_t *r, inst_t *in)
{
    return in->wstate[r->w->id];
}

static void op_ping(req_t *r)
{
    if (!is_admin(r))
        return;
    size_t n = r->gen->nkind[GANTRY_KIND_CACHE];
    cJSON *root = cJSON_CreateObject();
    if (n == 0) {
        cJSON_AddStringToObject(root, "status", "unhealthy");
        cJSON_AddNullToObject(root, "cache_type");
        cJSON_AddStringToObject(root, "details", "No cache is configured (litellm_settings.cache).");
        send_json(r, 503, root);
        return;
    }
    bool healthy = true;
    cJSON_AddStringToObject(root, "status", "healthy");
    cJSON_AddStringToObject(root, "cache_type", cache_type(r->gen->by_kind[GANTRY_KIND_CACHE][0]));
    cJSON *details = cJSON_AddArrayToObject(root, "details");
    for (size_t i = 0; i < n; i++) {
        inst_t *in = r->gen->by_kind[GANTRY_KIND_CACHE][i];
        char detail[512] = "";
        int rc = GANTRY_OK;
        if (GANTRY_HAS(in->ops, health) && in->ops->health != NULL)
            rc = in->ops->health(in->state, wstate(r, in), detail, sizeof detail);
        else
            snprintf(detail, sizeof detail, "the plugin does not report its health");
        detail[sizeof detail - 1] = '\0';
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "name", in->name);
        cJSON_AddStringToObject(d, "cache_type", cache_type(in));
        cJSON_AddStringToObject(d, "status", rc == GANTRY_OK ? "healthy" : "unhealthy");
        if (detail[0] != '\0' || rc != GANTRY_OK)
            cJSON_AddStringToObject(d, "detail", detail[0] ? detail : host_table.strerror(rc));
        cJSON_AddItemToArray(details, d);
        healthy = healthy && rc == GANTRY_OK;
    }
    if (!healthy)
        cJSON_ReplaceItemInObjectCaseSensitive(root, "status", cJSON_CreateString("unhealthy"));
    /* LiteLLM clients read this one. */
    cJSON_AddBoolToObject(root, "ping_response", healthy);
    send_json(r, healthy ? 200 : 503, root);
}

static void op_delete(req_t *r)
{
    if (!is_admin(r))
        return;
    cJSON *body = cJSON_ParseWithLength(r->h->entity.base, r->h->entity.len);
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(body, "keys");
    bool ok = cJSON_IsArray(keys) && cJSON_GetArraySize(keys) <= MAX_DELETE_KEYS;
    const cJSON *k;
    const cJSON *list = ok ? keys : NULL;
    cJSON_ArrayForEach(k, list)
    {
        ok = ok && cJSON_IsString(k) && k->valuestring[0] != '\0' &&
             strlen(k->valuestring) <= MAX_KEY_LEN;
    }
    if (!ok) {
        cJSON_Delete(body);
        req_set_error(r, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", "invalid_value",
                      "keys", "Send a JSON body {\"keys\": [\"<cache key>\", ...]} (at most 1000).");
        pipe_fail(r);
        return;
    }
    size_t n = r->gen->nkind[GANTRY_KIND_CACHE], removers = 0;
    for (size_t i = 0; i < n; i++) {
        inst_t *in = r->gen->by_kind[GANTRY_KIND_CACHE][i];
        if (!GANTRY_HAS(in->ops, remove) || in->ops->remove == NULL)
            continue;
        removers++;
        cJSON_ArrayForEach(k, keys)
        {
            gantry_str_t key = {k->valuestring, strlen(k->valuestring)};
            in->ops->remove(r, in->state, wstate(r, in), key);
        }
    }
    cJSON_Delete(body);
    if (removers == 0) {
        req_set_error(r, n == 0 ? 503 : 501, GANTRY_ERR_SERVER, "api_error", "cache_unavailable",
                      NULL,
                      n == 0 ? "No cache is configured (litellm_settings.cache)."
                             : "The configured cache cannot delete entries.");
        pipe_fail(r);
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "status", "success");
    send_json(r, 200, root);
}

static void op_refuse(req_t *r)
{
    pipe_fail(r);
}

static int route(worker_t *w, h2o_req_t *h, const char *path, const char *method, pipe_op_fn op)
{
    req_t *r = routes_new_req(w, h, path);
    if (r == NULL)
        return -1;
    req_hold(r);
    if (!h2o_memis(h->method.base, h->method.len, method, strlen(method))) {
        char msg[80];
        snprintf(msg, sizeof msg, "Only %s is supported on this endpoint.", method);
        req_set_error(r, 405, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", "method_not_allowed",
                      NULL, msg);
        op = op_refuse;
    }
    pipe_start(r, op);
    req_release(r);
    return 0;
}

int cache_route_ping(worker_t *w, h2o_req_t *h)
{
    return route(w, h, "/cache/ping", "GET", op_ping);
}

int cache_route_delete(worker_t *w, h2o_req_t *h)
{
    return route(w, h, "/cache/delete", "POST", op_delete);
}
