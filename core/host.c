/*
 * The host table.  gantry_json_t is a cJSON node and gantry_conf_t a cfg_node_t inside the core,
 * but plugins never learn that: the casts stay in this file.
 */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "gen.h"
#include "guard.h"
#include "hcall.h"
#include "log.h"
#include "pipe.h"
#include "req.h"
#include "srv.h"
#include "upstream.h"
#include "wio.h"

#define J(x) ((cJSON *)(x))

/*
 * Counts JSON changes made through the host on this thread.  A document whose parse-time count
 * still matches was not changed by anyone since (over-approximate: a change to any document
 * counts).
 */
static __thread uint64_t json_mut;

uint64_t host_json_mutations(void)
{
    return json_mut;
}
#define CJ(x) ((const cJSON *)(x))
#define N(x) ((const cfg_node_t *)(x))

static const char *h_strerror(int status)
{
    switch (status) {
#define GANTRY_X_CASE(name, value, msg) \
    case value:                         \
        return msg;
        GANTRY_ERRORS(GANTRY_X_CASE)
#undef GANTRY_X_CASE
    }
    return "unknown status";
}

static void h_log(gantry_instance_t *self, gantry_req_t *req, gantry_log_level_t level,
                  const char *fmt, ...)
{
    char where[160];
    snprintf(where, sizeof where, "%s%s%.*s", self ? self->name : "plugin", req ? " " : "",
             req ? (int)req->id_len : 0, req ? req->id : "");
    va_list ap;
    va_start(ap, fmt);
    log_vmsg((int)level, where, fmt, ap);
    va_end(ap);
}

static const char *h_instance_name(gantry_instance_t *self)
{
    return self->name;
}

/* ---- configuration ---- */

static const gantry_conf_t *h_conf_get(const gantry_conf_t *map, const char *key)
{
    return (const gantry_conf_t *)cfg_map_get(N(map), key);
}

static gantry_conf_type_t h_conf_type(const gantry_conf_t *node)
{
    const cfg_node_t *n = N(node);
    if (n == NULL)
        return GANTRY_CONF_ANY;
    switch (n->kind) {
    case CFG_STR:
        return GANTRY_CONF_STRING;
    case CFG_INT:
        return GANTRY_CONF_INT;
    case CFG_NUM:
        return GANTRY_CONF_NUMBER;
    case CFG_BOOL:
        return GANTRY_CONF_BOOL;
    case CFG_MAP:
        return GANTRY_CONF_MAP;
    case CFG_SEQ:
        return GANTRY_CONF_SEQ;
    default:
        return GANTRY_CONF_ANY;
    }
}

static int h_conf_string(const gantry_conf_t *node, gantry_str_t *out)
{
    const cfg_node_t *n = N(node);
    if (n == NULL)
        return GANTRY_EINVAL;
    if (n->kind != CFG_STR && n->kind != CFG_INT && n->kind != CFG_NUM)
        return GANTRY_ETYPE;
    out->ptr = n->str;
    out->len = n->len;
    return GANTRY_OK;
}

static int h_conf_int(const gantry_conf_t *node, int64_t *out)
{
    if (node == NULL)
        return GANTRY_EINVAL;
    return cfg_read_int(N(node), out) == 0 ? GANTRY_OK : GANTRY_ETYPE;
}

static int h_conf_number(const gantry_conf_t *node, double *out)
{
    if (node == NULL)
        return GANTRY_EINVAL;
    return cfg_read_num(N(node), out) == 0 ? GANTRY_OK : GANTRY_ETYPE;
}

static int h_conf_bool(const gantry_conf_t *node, bool *out)
{
    if (node == NULL)
        return GANTRY_EINVAL;
    return cfg_read_bool(N(node), out) == 0 ? GANTRY_OK : GANTRY_ETYPE;
}

static size_t h_conf_count(const gantry_conf_t *node)
{
    const cfg_node_t *n = N(node);
    return n != NULL && (n->kind == CFG_SEQ || n->kind == CFG_MAP) ? n->count : 0;
}

static const gantry_conf_t *h_conf_at(const gantry_conf_t *node, size_t i)
{
    const cfg_node_t *n = N(node);
    if (n == NULL || i >= n->count)
        return NULL;
    if (n->kind == CFG_SEQ)
        return (const gantry_conf_t *)n->items[i];
    if (n->kind == CFG_MAP)
        return (const gantry_conf_t *)n->pairs[i].value;
    return NULL;
}

static gantry_str_t h_conf_key_at(const gantry_conf_t *node, size_t i)
{
    const cfg_node_t *n = N(node);
    if (n == NULL || n->kind != CFG_MAP || i >= n->count)
        return GANTRY_STR_NULL;
    return (gantry_str_t){n->pairs[i].key, strlen(n->pairs[i].key)};
}

static int h_conf_error(const gantry_conf_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfg_verror(N(node), fmt, ap);
    va_end(ap);
    return GANTRY_ECONFIG;
}

/* ---- request memory ---- */

static void *h_alloc(gantry_req_t *r, size_t size)
{
    return arena_alloc(&r->arena, size);
}

static char *h_strdup(gantry_req_t *r, const char *p, size_t len)
{
    return arena_strndup(&r->arena, p, len);
}

static int h_on_cleanup(gantry_req_t *r, gantry_cleanup_cb fn, void *arg)
{
    req_cleanup_t *c = arena_alloc(&r->arena, sizeof *c);
    if (c == NULL)
        return GANTRY_ENOMEM;
    c->fn = fn;
    c->arg = arg;
    c->next = r->cleanups; /* head insertion: runs in reverse order of registration */
    r->cleanups = c;
    return GANTRY_OK;
}

static void *h_req_data(gantry_req_t *r, gantry_instance_t *self)
{
    return r->slots != NULL && self->gen == r->gen ? r->slots[self->slot] : NULL;
}

static void h_req_set_data(gantry_req_t *r, gantry_instance_t *self, void *data)
{
    if (r->slots != NULL && self->gen == r->gen)
        r->slots[self->slot] = data;
}

/* ---- the request ---- */

static gantry_str_t h_req_id(gantry_req_t *r)
{
    return (gantry_str_t){r->id, r->id_len};
}

static gantry_str_t h_req_model(gantry_req_t *r)
{
    return r->model;
}

static bool h_req_is_stream(gantry_req_t *r)
{
    return r->stream;
}

static int h_req_header(gantry_req_t *r, const char *name, gantry_str_t *out)
{
    if (r->h == NULL)
        return GANTRY_ESTATE;
    ssize_t i = h2o_find_header_by_str(&r->h->headers, name, strlen(name), -1);
    if (i < 0)
        return GANTRY_ENOENT;
    h2o_iovec_t v = r->h->headers.entries[i].value;
    out->ptr = v.base;
    out->len = v.len;
    return GANTRY_OK;
}

static gantry_json_t *h_req_body(gantry_req_t *r)
{
    return (gantry_json_t *)r->body;
}

static gantry_str_t copy_str(req_t *r, gantry_str_t s)
{
    if (s.ptr == NULL)
        return (gantry_str_t){"", 0};
    char *p = arena_strndup(&r->arena, s.ptr, s.len);
    return p ? (gantry_str_t){p, s.len} : (gantry_str_t){"", 0};
}

static int h_req_set_principal(gantry_req_t *r, const gantry_principal_t *p)
{
    if (p == NULL || p->size < offsetof(gantry_principal_t, team_id) + sizeof(p->team_id))
        return GANTRY_EINVAL;
    r->principal.size = sizeof r->principal;
    r->principal.id = copy_str(r, p->id);
    r->principal.name = copy_str(r, p->name);
    r->principal.role = copy_str(r, p->role);
    r->principal.user_id = copy_str(r, p->user_id);
    r->principal.team_id = copy_str(r, p->team_id);
    r->has_principal = true;
    return GANTRY_OK;
}

static const gantry_principal_t *h_req_principal(gantry_req_t *r)
{
    return r->has_principal ? &r->principal : NULL;
}

static gantry_action_t vfail(gantry_req_t *r, int status, gantry_error_class_t cls,
                             const char *type, const char *code, const char *param,
                             const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (status < 400 || status > 599)
        status = 500;
    req_set_error(r, status, cls, type ? type : "api_error", code, param, msg);
    return GANTRY_FAIL;
}

static gantry_action_t h_req_fail(gantry_req_t *r, int status, gantry_error_class_t cls,
                                  const char *type, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gantry_action_t a = vfail(r, status, cls, type, code, NULL, fmt, ap);
    va_end(ap);
    return a;
}

static gantry_action_t h_req_fail_param(gantry_req_t *r, int status, gantry_error_class_t cls,
                                        const char *type, const char *code, const char *param,
                                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gantry_action_t a = vfail(r, status, cls, type, code, param, fmt, ap);
    va_end(ap);
    return a;
}

static void h_req_info(gantry_req_t *r, gantry_req_info_t *out)
{
    gantry_req_info_t i;
    memset(&i, 0, sizeof i);
    i.size = sizeof i;
    i.request_id = (gantry_str_t){r->id, r->id_len};
    i.route = (gantry_str_t){r->route, strlen(r->route)};
    i.model_group = r->model;
    if (r->dep != NULL) {
        const cfg_deployment_t *c = r->dep->cfg;
        i.deployment_id = (gantry_str_t){c->id, strlen(c->id)};
        i.provider = (gantry_str_t){c->prefix, strlen(c->prefix)};
        i.upstream_model = (gantry_str_t){c->model_id, strlen(c->model_id)};
    }
    if (r->has_principal)
        i.principal = r->principal.id;
    i.end_user = r->end_user;
    i.client_aborted = r->client_gone;
    i.status = r->client_gone ? 499 : r->failed ? r->err.status : r->status;
    i.stream = r->stream;
    i.cache_hit = r->cache_hit;
    i.attempts = r->attempts;
    i.start_unix_ms = r->start_unix_ms;
    int64_t end = r->t_end ? r->t_end : now_us();
    i.duration_us = end - r->t_start;
    i.ttft_us = r->stream && r->t_first ? r->t_first - r->t_start : -1;
    i.upstream_us = r->t_up_total;
    i.overhead_us = i.duration_us - r->t_up_total;
    if (i.overhead_us < 0)
        i.overhead_us = 0;
    i.prompt_tokens = r->prompt_tokens;
    i.completion_tokens = r->completion_tokens;
    i.total_tokens = r->total_tokens;
    i.cached_tokens = r->cached_tokens;
    if (r->failed) {
        i.error_class = r->err.class_;
        i.error_type = r->err.type;
        i.error_message = r->err.message;
    }
    /* Copy no more than the caller's struct can hold: it may be from an older SDK. */
    uint32_t n = out->size < sizeof i ? out->size : (uint32_t)sizeof i;
    memcpy(out, &i, n);
    out->size = n;
}

static int h_resp_add_header(gantry_req_t *r, const char *name, gantry_str_t value)
{
    if (r->started)
        return GANTRY_ESTATE;
    return req_add_header(r, name, value.ptr, value.len) == 0 ? GANTRY_OK : GANTRY_ENOMEM;
}

static void h_req_note_guardrail(gantry_req_t *r, const char *name)
{
    req_note_guardrail(r, name);
}

static void h_resume(gantry_req_t *r, gantry_action_t action)
{
    pipe_resume(r, action);
}

static int h_timer_start(gantry_req_t *r, uint64_t ms, gantry_timer_cb cb, void *arg)
{
    return req_timer_start(r, ms, cb, arg);
}

/* ---- responses ---- */

static gantry_json_t *h_resp_body(gantry_req_t *r)
{
    return (gantry_json_t *)r->resp;
}

static int h_resp_set_take(gantry_req_t *r, gantry_json_t *root)
{
    if (root == NULL)
        return GANTRY_EINVAL;
    if (J(root) == r->resp)
        return GANTRY_OK; /* installing the current response again: deleting it first would free it
                           */
    req_root_t info = {0};
    req_disown_json(r, J(root), &info);
    cJSON_Delete(r->resp);
    r->resp = J(root);
    r->resp_raw = NULL;
    /* Parsed and untouched: keep the bytes (the source view dies with the upstream buffer). */
    if (info.src != NULL && info.mut == json_mut) {
        r->resp_raw = arena_strndup(&r->arena, info.src, info.len);
        r->resp_raw_len = r->resp_raw ? info.len : 0;
    }
    return GANTRY_OK;
}

static int h_stream_chunk_take(gantry_req_t *r, gantry_json_t *chunk)
{
    if (chunk == NULL)
        return GANTRY_EINVAL;
    req_root_t info = {0};
    if (!req_disown_json(r, J(chunk), &info))
        return GANTRY_EINVAL; /* only a detached, request-owned root can be handed over */
    bool raw = info.src != NULL && info.mut == json_mut;
    return pipe_stream_chunk(r, J(chunk), raw ? info.src : NULL, raw ? info.len : 0);
}

static void h_stream_end(gantry_req_t *r)
{
    pipe_stream_end(r);
}

static int h_cache_hit(gantry_req_t *r, gantry_str_t value)
{
    return pipe_cache_hit(r, value.ptr, value.len);
}

/* ---- upstream request ---- */

static int h_up_set_method(gantry_upstream_t *up, const char *method)
{
    static const char *const ok[] = {"GET", "POST", "PUT", "DELETE", "PATCH", NULL};
    for (const char *const *m = ok; *m; m++) {
        if (strcmp(*m, method) == 0) {
            up->method = *m;
            return GANTRY_OK;
        }
    }
    return GANTRY_EINVAL;
}

static int h_up_set_url(gantry_upstream_t *up, gantry_str_t url)
{
    if (url.len == 0 || memchr(url.ptr, '\0', url.len) != NULL)
        return GANTRY_EINVAL;
    char *p = strndup(url.ptr, url.len);
    if (p == NULL)
        return GANTRY_ENOMEM;
    free(up->url);
    up->url = p;
    return GANTRY_OK;
}

static int h_up_add_header(gantry_upstream_t *up, const char *name, gantry_str_t value)
{
    /* Header injection guard: no CR/LF may reach the wire from config or request data. */
    if (strpbrk(name, "\r\n:") != NULL || memchr(value.ptr, '\r', value.len) != NULL ||
        memchr(value.ptr, '\n', value.len) != NULL)
        return GANTRY_EINVAL;
    size_t n = strlen(name) + 2 + value.len + 1;
    char *line = malloc(n);
    if (line == NULL)
        return GANTRY_ENOMEM;
    snprintf(line, n, "%s: %.*s", name, (int)value.len, value.ptr);
    struct curl_slist *l = curl_slist_append(up->headers, line);
    free(line);
    if (l == NULL)
        return GANTRY_ENOMEM;
    up->headers = l;
    return GANTRY_OK;
}

static int h_up_set_body(gantry_upstream_t *up, gantry_str_t body)
{
    up->body = body;
    return GANTRY_OK;
}

static int h_up_set_framing(gantry_upstream_t *up, gantry_framing_t f)
{
    if (f != GANTRY_FRAMING_SSE && f != GANTRY_FRAMING_NDJSON && f != GANTRY_FRAMING_EVENTSTREAM)
        return GANTRY_EINVAL;
    up->framing = f;
    return GANTRY_OK;
}

/* ---- JSON ---- */

static cJSON *make(gantry_json_type_t t)
{
    switch (t) {
    case GANTRY_JSON_NULL:
        return cJSON_CreateNull();
    case GANTRY_JSON_BOOL:
        return cJSON_CreateFalse();
    case GANTRY_JSON_NUMBER:
        return cJSON_CreateNumber(0);
    case GANTRY_JSON_STRING:
        return cJSON_CreateString("");
    case GANTRY_JSON_ARRAY:
        return cJSON_CreateArray();
    case GANTRY_JSON_OBJECT:
        return cJSON_CreateObject();
    default:
        return NULL;
    }
}

static gantry_json_t *h_json_parse(gantry_req_t *r, gantry_str_t text)
{
    cJSON *j = cJSON_ParseWithLength(text.ptr, text.len);
    if (j == NULL || !req_own_json_src(r, j, text.ptr, text.len, json_mut))
        return NULL; /* untracked roots are freed at once: never hand them out */
    return (gantry_json_t *)j;
}

static gantry_json_t *h_json_new(gantry_req_t *r, gantry_json_type_t type)
{
    cJSON *j = make(type);
    if (j == NULL || !req_own_json(r, j))
        return NULL;
    return (gantry_json_t *)j;
}

static gantry_json_t *h_json_dup(gantry_req_t *r, const gantry_json_t *node)
{
    cJSON *j = cJSON_Duplicate(CJ(node), 1);
    if (j == NULL)
        return NULL;
    /* cJSON copies an object member's key too; a copy is a detached root, so it has none. */
    if (j->string != NULL) {
        if (!(j->type & cJSON_StringIsConst))
            cJSON_free(j->string);
        j->string = NULL;
        j->type &= ~cJSON_StringIsConst;
    }
    if (!req_own_json(r, j))
        return NULL;
    return (gantry_json_t *)j;
}

static gantry_json_type_t h_json_type(const gantry_json_t *node)
{
    const cJSON *j = CJ(node);
    if (j == NULL)
        return GANTRY_JSON_INVALID;
    switch (j->type & 0xff) {
    case cJSON_NULL:
        return GANTRY_JSON_NULL;
    case cJSON_False:
    case cJSON_True:
        return GANTRY_JSON_BOOL;
    case cJSON_Number:
        return GANTRY_JSON_NUMBER;
    case cJSON_String:
        return GANTRY_JSON_STRING;
    case cJSON_Array:
        return GANTRY_JSON_ARRAY;
    case cJSON_Object:
        return GANTRY_JSON_OBJECT;
    default:
        return GANTRY_JSON_INVALID;
    }
}

static gantry_json_t *h_json_get(const gantry_json_t *obj, const char *key)
{
    if (!cJSON_IsObject(CJ(obj)))
        return NULL;
    return (gantry_json_t *)cJSON_GetObjectItemCaseSensitive(CJ(obj), key);
}

static size_t h_json_count(const gantry_json_t *node)
{
    const cJSON *j = CJ(node);
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? (size_t)cJSON_GetArraySize(j) : 0;
}

static gantry_json_t *h_json_first(const gantry_json_t *node)
{
    const cJSON *j = CJ(node);
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? (gantry_json_t *)j->child : NULL;
}

static gantry_json_t *h_json_next(const gantry_json_t *node)
{
    return node ? (gantry_json_t *)CJ(node)->next : NULL;
}

static gantry_str_t h_json_key(const gantry_json_t *m)
{
    const cJSON *j = CJ(m);
    if (j == NULL || j->string == NULL)
        return GANTRY_STR_NULL;
    return (gantry_str_t){j->string, strlen(j->string)};
}

static gantry_str_t h_json_string(const gantry_json_t *node)
{
    const cJSON *j = CJ(node);
    if (!cJSON_IsString(j) || j->valuestring == NULL)
        return GANTRY_STR_NULL;
    return (gantry_str_t){j->valuestring, strlen(j->valuestring)};
}

static int h_json_number(const gantry_json_t *node, double *out)
{
    if (!cJSON_IsNumber(CJ(node)))
        return GANTRY_ETYPE;
    *out = CJ(node)->valuedouble;
    return GANTRY_OK;
}

static int h_json_bool(const gantry_json_t *node, bool *out)
{
    if (!cJSON_IsBool(CJ(node)))
        return GANTRY_ETYPE;
    *out = cJSON_IsTrue(CJ(node));
    return GANTRY_OK;
}

static gantry_json_t *h_json_set(gantry_json_t *obj, const char *key, gantry_json_type_t type)
{
    json_mut++;
    if (!cJSON_IsObject(J(obj)) || key == NULL)
        return NULL;
    cJSON *n = make(type);
    if (n == NULL)
        return NULL;
    if (cJSON_GetObjectItemCaseSensitive(J(obj), key) != NULL) {
        cJSON_ReplaceItemInObjectCaseSensitive(J(obj), key, n);
    } else if (!cJSON_AddItemToObject(J(obj), key, n)) {
        cJSON_Delete(n);
        return NULL;
    }
    return (gantry_json_t *)n;
}

static gantry_json_t *h_json_append(gantry_json_t *arr, gantry_json_type_t type)
{
    json_mut++;
    if (!cJSON_IsArray(J(arr)))
        return NULL;
    cJSON *n = make(type);
    if (n == NULL || !cJSON_AddItemToArray(J(arr), n)) {
        cJSON_Delete(n);
        return NULL;
    }
    return (gantry_json_t *)n;
}

/* Turn a node into a scalar of another type in place, keeping its key and its place. */
static void clear(cJSON *j)
{
    if (j->child != NULL) {
        cJSON_Delete(j->child);
        j->child = NULL;
    }
    if (j->valuestring != NULL && !(j->type & cJSON_IsReference))
        cJSON_free(j->valuestring);
    j->valuestring = NULL;
    j->type &= cJSON_StringIsConst; /* keep only the flag about the key */
}

static int h_json_set_string(gantry_json_t *node, gantry_str_t value)
{
    json_mut++;
    cJSON *j = J(node);
    if (j == NULL || (j->type & cJSON_IsReference))
        return GANTRY_EINVAL;
    char *copy = cJSON_malloc(value.len + 1);
    if (copy == NULL)
        return GANTRY_ENOMEM;
    if (value.len)
        memcpy(copy, value.ptr, value.len);
    copy[value.len] = '\0';
    clear(j);
    j->type |= cJSON_String;
    j->valuestring = copy;
    return GANTRY_OK;
}

static int h_json_set_number(gantry_json_t *node, double value)
{
    json_mut++;
    cJSON *j = J(node);
    if (j == NULL || (j->type & cJSON_IsReference))
        return GANTRY_EINVAL;
    clear(j);
    j->type |= cJSON_Number;
    cJSON_SetNumberHelper(j, value);
    return GANTRY_OK;
}

static int h_json_set_bool(gantry_json_t *node, bool value)
{
    json_mut++;
    cJSON *j = J(node);
    if (j == NULL || (j->type & cJSON_IsReference))
        return GANTRY_EINVAL;
    clear(j);
    j->type |= value ? cJSON_True : cJSON_False;
    return GANTRY_OK;
}

static void h_json_remove(gantry_json_t *obj, const char *key)
{
    json_mut++;
    if (cJSON_IsObject(J(obj)))
        cJSON_DeleteItemFromObjectCaseSensitive(J(obj), key);
}

static int h_json_attach(gantry_req_t *r, gantry_json_t *parent, const char *key,
                         gantry_json_t *root)
{
    json_mut++;
    cJSON *p = J(parent), *n = J(root);
    if (p == NULL || n == NULL || n == p || n->string != NULL || n->prev != NULL)
        return GANTRY_EINVAL;
    if (!req_disown_json(r, n, NULL))
        return GANTRY_EINVAL; /* only detached, request-owned roots can move */
    bool ok;
    if (key == NULL) {
        ok = cJSON_IsArray(p) && cJSON_AddItemToArray(p, n);
    } else if (!cJSON_IsObject(p)) {
        ok = false;
    } else if (cJSON_GetObjectItemCaseSensitive(p, key) != NULL) {
        ok = cJSON_ReplaceItemInObjectCaseSensitive(p, key, n);
    } else {
        ok = cJSON_AddItemToObject(p, key, n);
    }
    if (!ok) {
        req_own_json(r, n);
        return GANTRY_EINVAL;
    }
    return GANTRY_OK;
}

static int h_json_write(gantry_req_t *r, const gantry_json_t *node, gantry_str_t *out)
{
    if (node == NULL)
        return GANTRY_EINVAL;
    char *s = cJSON_PrintUnformatted(CJ(node));
    if (s == NULL)
        return GANTRY_ENOMEM;
    size_t n = strlen(s);
    char *p = arena_strndup(&r->arena, s, n);
    cJSON_free(s);
    if (p == NULL)
        return GANTRY_ENOMEM;
    out->ptr = p;
    out->len = n;
    return GANTRY_OK;
}

static void h_json_release(gantry_req_t *r, gantry_json_t *root)
{
    if (root != NULL && req_disown_json(r, J(root), NULL))
        cJSON_Delete(J(root));
}

static int64_t h_now_us(void)
{
    return now_us();
}

static int64_t h_unix_ms(void)
{
    return unix_ms();
}

/* ---- ABI 1.1 ---- */

static gantry_endpoint_t h_req_endpoint(gantry_req_t *r)
{
    return r->endpoint ? r->endpoint : GANTRY_EP_CHAT;
}

static bool h_req_drop_params(gantry_req_t *r)
{
    const deployment_t *d = r->attempt_dep ? r->attempt_dep : r->dep;
    return d != NULL && d->cfg->drop_params;
}

static int h_http_call(gantry_req_t *r, const gantry_http_call_t *call, gantry_http_cb cb,
                       void *arg)
{
    if (call == NULL || !GANTRY_HAS(call, max_response_bytes))
        return GANTRY_EINVAL;
    return hcall_start(r, call, cb, arg);
}

/* ---- ABI 1.2 ---- */

static unsigned h_guard_modes(gantry_instance_t *self)
{
    return self->guard_modes;
}

static int h_verdict_defer(gantry_req_t *r, gantry_instance_t *self, unsigned flags)
{
    return guard_defer(r, self, flags);
}

static void h_verdict_deliver(gantry_req_t *r, int ticket, gantry_action_t action)
{
    guard_deliver(r, ticket, action);
}

static unsigned h_req_worker(gantry_req_t *r)
{
    return r->w->id;
}

const gantry_host_t host_table = {
    .size = sizeof(gantry_host_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .strerror = h_strerror,
    .log = h_log,
    .now_us = h_now_us,
    .unix_ms = h_unix_ms,
    .instance_name = h_instance_name,
    .mem_alloc = malloc,
    .mem_calloc = calloc,
    .mem_realloc = realloc,
    .mem_free = free,
    .conf_get = h_conf_get,
    .conf_type = h_conf_type,
    .conf_string = h_conf_string,
    .conf_int = h_conf_int,
    .conf_number = h_conf_number,
    .conf_bool = h_conf_bool,
    .conf_count = h_conf_count,
    .conf_at = h_conf_at,
    .conf_key_at = h_conf_key_at,
    .conf_error = h_conf_error,
    .alloc = h_alloc,
    .strdup = h_strdup,
    .on_cleanup = h_on_cleanup,
    .req_data = h_req_data,
    .req_set_data = h_req_set_data,
    .req_id = h_req_id,
    .req_model = h_req_model,
    .req_is_stream = h_req_is_stream,
    .req_header = h_req_header,
    .req_body = h_req_body,
    .req_set_principal = h_req_set_principal,
    .req_principal = h_req_principal,
    .req_fail = h_req_fail,
    .req_info = h_req_info,
    .resp_add_header = h_resp_add_header,
    .req_note_guardrail = h_req_note_guardrail,
    .resume = h_resume,
    .timer_start = h_timer_start,
    .resp_body = h_resp_body,
    .resp_set_take = h_resp_set_take,
    .stream_chunk_take = h_stream_chunk_take,
    .stream_end = h_stream_end,
    .cache_hit = h_cache_hit,
    .up_set_method = h_up_set_method,
    .up_set_url = h_up_set_url,
    .up_add_header = h_up_add_header,
    .up_set_body = h_up_set_body,
    .up_set_framing = h_up_set_framing,
    .json_parse = h_json_parse,
    .json_new = h_json_new,
    .json_dup = h_json_dup,
    .json_type = h_json_type,
    .json_get = h_json_get,
    .json_count = h_json_count,
    .json_first = h_json_first,
    .json_next = h_json_next,
    .json_key = h_json_key,
    .json_string = h_json_string,
    .json_number = h_json_number,
    .json_bool = h_json_bool,
    .json_set = h_json_set,
    .json_append = h_json_append,
    .json_set_string = h_json_set_string,
    .json_set_number = h_json_set_number,
    .json_set_bool = h_json_set_bool,
    .json_remove = h_json_remove,
    .json_attach = h_json_attach,
    .json_write = h_json_write,
    .json_release = h_json_release,
    .req_endpoint = h_req_endpoint,
    .req_drop_params = h_req_drop_params,
    .http_call = h_http_call,
    .req_fail_param = h_req_fail_param,
    .guard_modes = h_guard_modes,
    .verdict_defer = h_verdict_defer,
    .verdict_deliver = h_verdict_deliver,
    .req_worker = h_req_worker,
    .watch_new = wio_watch_new,
    .watch_set = wio_watch_set,
    .watch_free = wio_watch_free,
    .wtimer_new = wio_timer_new,
    .wtimer_start = wio_timer_start,
    .wtimer_stop = wio_timer_stop,
    .wtimer_free = wio_timer_free,
};
