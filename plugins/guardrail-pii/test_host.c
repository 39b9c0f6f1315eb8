/*
 * test_host: the host table of the built-in guardrails' unit tests (see test_host.h).
 */
#include "test_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TH_SLOTS 8

struct gantry_instance {
    char name[64];
    int slot;
};

typedef struct th_cleanup {
    struct th_cleanup *next;
    gantry_cleanup_cb fn;
    void *arg;
} th_cleanup_t;

typedef struct th_block {
    struct th_block *next;
    max_align_t data[];
} th_block_t;

struct gantry_req {
    cJSON *body;
    cJSON *resp;
    bool stream;
    void *slots[TH_SLOTS];
    th_block_t *blocks;
    th_cleanup_t *cleanups;
    int status;
    gantry_error_class_t cls;
    char type[64];
    char code[64];
    char message[512];
    char noted[256];
};

static int next_slot;
static long fail_after = -1, allocs;
static char conf_err[512];

long th_fail_after(long n)
{
    long made = allocs;

    fail_after = n;
    allocs = 0;
    return made;
}

static bool may_alloc(void)
{
    allocs++;
    if (fail_after < 0)
        return true;
    if (fail_after == 0)
        return false;
    fail_after--;
    return true;
}

/* ---- general ---- */

static const char *t_strerror(int status)
{
    return status == GANTRY_OK ? "success" : "error";
}

static void t_log(gantry_instance_t *self, gantry_req_t *req, gantry_log_level_t level,
                  const char *fmt, ...)
{
    (void)self, (void)req, (void)level, (void)fmt;
}

static const char *t_instance_name(gantry_instance_t *self)
{
    return self->name;
}

static void *t_mem_alloc(size_t n)
{
    return may_alloc() ? malloc(n) : NULL;
}

static void *t_mem_calloc(size_t n, size_t size)
{
    return may_alloc() ? calloc(n, size) : NULL;
}

static void *t_mem_realloc(void *p, size_t n)
{
    return may_alloc() ? realloc(p, n) : NULL;
}

static void t_mem_free(void *p)
{
    free(p);
}

/* ---- configuration (cJSON nodes) ---- */

#define C(node) ((const cJSON *)(node))

static const gantry_conf_t *t_conf_get(const gantry_conf_t *map, const char *key)
{
    return (const gantry_conf_t *)cJSON_GetObjectItemCaseSensitive(C(map), key);
}

static gantry_conf_type_t t_conf_type(const gantry_conf_t *node)
{
    const cJSON *j = C(node);

    if (cJSON_IsString(j))
        return GANTRY_CONF_STRING;
    if (cJSON_IsNumber(j))
        return j->valuedouble == (double)(int64_t)j->valuedouble ? GANTRY_CONF_INT
                                                                 : GANTRY_CONF_NUMBER;
    if (cJSON_IsBool(j))
        return GANTRY_CONF_BOOL;
    if (cJSON_IsObject(j))
        return GANTRY_CONF_MAP;
    if (cJSON_IsArray(j))
        return GANTRY_CONF_SEQ;
    return GANTRY_CONF_ANY;
}

static int t_conf_string(const gantry_conf_t *node, gantry_str_t *out)
{
    const cJSON *j = C(node);

    if (j == NULL)
        return GANTRY_EINVAL;
    if (!cJSON_IsString(j))
        return GANTRY_ETYPE;
    *out = (gantry_str_t){j->valuestring, strlen(j->valuestring)};
    return GANTRY_OK;
}

static int t_conf_int(const gantry_conf_t *node, int64_t *out)
{
    if (node == NULL)
        return GANTRY_EINVAL;
    if (t_conf_type(node) != GANTRY_CONF_INT)
        return GANTRY_ETYPE;
    *out = (int64_t)C(node)->valuedouble;
    return GANTRY_OK;
}

static int t_conf_number(const gantry_conf_t *node, double *out)
{
    if (node == NULL)
        return GANTRY_EINVAL;
    if (!cJSON_IsNumber(C(node)))
        return GANTRY_ETYPE;
    *out = C(node)->valuedouble;
    return GANTRY_OK;
}

static int t_conf_bool(const gantry_conf_t *node, bool *out)
{
    if (node == NULL)
        return GANTRY_EINVAL;
    if (!cJSON_IsBool(C(node)))
        return GANTRY_ETYPE;
    *out = cJSON_IsTrue(C(node));
    return GANTRY_OK;
}

static size_t t_conf_count(const gantry_conf_t *node)
{
    const cJSON *j = C(node);
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? (size_t)cJSON_GetArraySize(j) : 0;
}

static const gantry_conf_t *t_conf_at(const gantry_conf_t *node, size_t i)
{
    return (const gantry_conf_t *)cJSON_GetArrayItem(C(node), (int)i);
}

static gantry_str_t t_conf_key_at(const gantry_conf_t *map, size_t i)
{
    const cJSON *j = cJSON_GetArrayItem(C(map), (int)i);
    return j != NULL && j->string != NULL ? (gantry_str_t){j->string, strlen(j->string)}
                                          : GANTRY_STR_NULL;
}

static int t_conf_error(const gantry_conf_t *node, const char *fmt, ...)
{
    va_list ap;

    (void)node;
    va_start(ap, fmt);
    vsnprintf(conf_err, sizeof(conf_err), fmt, ap);
    va_end(ap);
    return GANTRY_ECONFIG;
}

const char *th_conf_error(void)
{
    return conf_err;
}

/* ---- request memory and state ---- */

static void *t_alloc(gantry_req_t *req, size_t n)
{
    th_block_t *b;

    if (!may_alloc())
        return NULL;
    b = malloc(sizeof(*b) + n);
    if (b == NULL)
        return NULL;
    b->next = req->blocks;
    req->blocks = b;
    return b->data;
}

static char *t_strdup(gantry_req_t *req, const char *p, size_t n)
{
    char *s = t_alloc(req, n + 1);

    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int t_on_cleanup(gantry_req_t *req, gantry_cleanup_cb fn, void *arg)
{
    th_cleanup_t *c = t_alloc(req, sizeof(*c));

    if (c == NULL)
        return GANTRY_ENOMEM;
    *c = (th_cleanup_t){req->cleanups, fn, arg};
    req->cleanups = c;
    return GANTRY_OK;
}

static void *t_req_data(gantry_req_t *req, gantry_instance_t *self)
{
    return req->slots[self->slot];
}

static void t_req_set_data(gantry_req_t *req, gantry_instance_t *self, void *data)
{
    req->slots[self->slot] = data;
}

static bool t_req_is_stream(gantry_req_t *req)
{
    return req->stream;
}

static gantry_json_t *t_req_body(gantry_req_t *req)
{
    return (gantry_json_t *)req->body;
}

static gantry_json_t *t_resp_body(gantry_req_t *req)
{
    return (gantry_json_t *)req->resp;
}

static gantry_action_t t_req_fail(gantry_req_t *req, int status, gantry_error_class_t cls,
                                  const char *type, const char *code, const char *fmt, ...)
{
    va_list ap;

    req->status = status;
    req->cls = cls;
    snprintf(req->type, sizeof(req->type), "%s", type != NULL ? type : "");
    snprintf(req->code, sizeof(req->code), "%s", code != NULL ? code : "");
    va_start(ap, fmt);
    vsnprintf(req->message, sizeof(req->message), fmt, ap);
    va_end(ap);
    return GANTRY_FAIL;
}

static void t_req_note_guardrail(gantry_req_t *req, const char *name)
{
    size_t n = strlen(req->noted);
    snprintf(req->noted + n, sizeof(req->noted) - n, "%s%s", n > 0 ? "," : "", name);
}

static gantry_endpoint_t t_req_endpoint(gantry_req_t *req)
{
    (void)req;
    return GANTRY_EP_CHAT;
}

static unsigned t_guard_modes(gantry_instance_t *self)
{
    (void)self;
    return GANTRY_GUARD_PRE_CALL | GANTRY_GUARD_POST_CALL;
}

/* ---- JSON ---- */

#define J(node) ((cJSON *)(node))

static gantry_json_type_t t_json_type(const gantry_json_t *node)
{
    const cJSON *j = (const cJSON *)node;

    if (j == NULL)
        return GANTRY_JSON_INVALID;
    if (cJSON_IsNull(j))
        return GANTRY_JSON_NULL;
    if (cJSON_IsBool(j))
        return GANTRY_JSON_BOOL;
    if (cJSON_IsNumber(j))
        return GANTRY_JSON_NUMBER;
    if (cJSON_IsString(j))
        return GANTRY_JSON_STRING;
    if (cJSON_IsArray(j))
        return GANTRY_JSON_ARRAY;
    if (cJSON_IsObject(j))
        return GANTRY_JSON_OBJECT;
    return GANTRY_JSON_INVALID;
}

static gantry_json_t *t_json_get(const gantry_json_t *obj, const char *key)
{
    return cJSON_IsObject((const cJSON *)obj)
               ? (gantry_json_t *)cJSON_GetObjectItemCaseSensitive((const cJSON *)obj, key)
               : NULL;
}

static size_t t_json_count(const gantry_json_t *node)
{
    const cJSON *j = (const cJSON *)node;
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? (size_t)cJSON_GetArraySize(j) : 0;
}

static gantry_json_t *t_json_first(const gantry_json_t *node)
{
    const cJSON *j = (const cJSON *)node;
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? (gantry_json_t *)j->child : NULL;
}

static gantry_json_t *t_json_next(const gantry_json_t *node)
{
    return node != NULL ? (gantry_json_t *)((const cJSON *)node)->next : NULL;
}

static gantry_str_t t_json_key(const gantry_json_t *node)
{
    const cJSON *j = (const cJSON *)node;
    return j != NULL && j->string != NULL ? (gantry_str_t){j->string, strlen(j->string)}
                                          : GANTRY_STR_NULL;
}

static gantry_str_t t_json_string(const gantry_json_t *node)
{
    const cJSON *j = (const cJSON *)node;
    return cJSON_IsString(j) ? (gantry_str_t){j->valuestring, strlen(j->valuestring)}
                             : GANTRY_STR_NULL;
}

static int t_json_number(const gantry_json_t *node, double *out)
{
    if (!cJSON_IsNumber((const cJSON *)node))
        return GANTRY_ETYPE;
    *out = ((const cJSON *)node)->valuedouble;
    return GANTRY_OK;
}

static cJSON *make(gantry_json_type_t type)
{
    switch (type) {
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

static gantry_json_t *t_json_set(gantry_json_t *obj, const char *key, gantry_json_type_t type)
{
    cJSON *n;

    if (!cJSON_IsObject(J(obj)) || !may_alloc() || (n = make(type)) == NULL)
        return NULL;
    if (cJSON_GetObjectItemCaseSensitive(J(obj), key) != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(J(obj), key, n);
    else
        cJSON_AddItemToObject(J(obj), key, n);
    return (gantry_json_t *)n;
}

static int t_json_set_string(gantry_json_t *node, gantry_str_t value)
{
    cJSON *j = J(node);
    char *copy;

    if (j == NULL)
        return GANTRY_EINVAL;
    if (!may_alloc() || (copy = cJSON_malloc(value.len + 1)) == NULL)
        return GANTRY_ENOMEM;
    if (value.len > 0)
        memcpy(copy, value.ptr, value.len);
    copy[value.len] = '\0';
    if (j->valuestring != NULL)
        cJSON_free(j->valuestring);
    j->type = (j->type & cJSON_StringIsConst) | cJSON_String;
    j->valuestring = copy;
    return GANTRY_OK;
}

const gantry_host_t th_host = {
    .size = sizeof(gantry_host_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .strerror = t_strerror,
    .log = t_log,
    .instance_name = t_instance_name,
    .mem_alloc = t_mem_alloc,
    .mem_calloc = t_mem_calloc,
    .mem_realloc = t_mem_realloc,
    .mem_free = t_mem_free,
    .conf_get = t_conf_get,
    .conf_type = t_conf_type,
    .conf_string = t_conf_string,
    .conf_int = t_conf_int,
    .conf_number = t_conf_number,
    .conf_bool = t_conf_bool,
    .conf_count = t_conf_count,
    .conf_at = t_conf_at,
    .conf_key_at = t_conf_key_at,
    .conf_error = t_conf_error,
    .alloc = t_alloc,
    .strdup = t_strdup,
    .on_cleanup = t_on_cleanup,
    .req_data = t_req_data,
    .req_set_data = t_req_set_data,
    .req_is_stream = t_req_is_stream,
    .req_body = t_req_body,
    .req_fail = t_req_fail,
    .req_note_guardrail = t_req_note_guardrail,
    .resp_body = t_resp_body,
    .json_type = t_json_type,
    .json_get = t_json_get,
    .json_count = t_json_count,
    .json_first = t_json_first,
    .json_next = t_json_next,
    .json_key = t_json_key,
    .json_string = t_json_string,
    .json_number = t_json_number,
    .json_set = t_json_set,
    .json_set_string = t_json_set_string,
    .req_endpoint = t_req_endpoint,
    .guard_modes = t_guard_modes,
};

/* ---- instances and requests ---- */

int th_inst_open(th_inst_t *in, const gantry_plugin_desc_t *desc, const char *name,
                 const char *conf_json)
{
    int rc;

    memset(in, 0, sizeof(*in));
    conf_err[0] = '\0';
    in->desc = desc;
    in->conf = cJSON_Parse(conf_json != NULL ? conf_json : "{}");
    in->self = calloc(1, sizeof(*in->self));
    if (in->conf == NULL || in->self == NULL) {
        fprintf(stderr, "th_inst_open: bad config JSON: %s\n", conf_json);
        abort();
    }
    snprintf(in->self->name, sizeof(in->self->name), "%s", name);
    in->self->slot = next_slot++ % TH_SLOTS;
    rc = desc->ops->create(&th_host, in->self, (const gantry_conf_t *)in->conf, &in->state);
    if (rc != GANTRY_OK) {
        cJSON_Delete(in->conf);
        free(in->self);
        memset(in, 0, sizeof(*in));
    }
    return rc;
}

void th_inst_close(th_inst_t *in)
{
    if (in->desc != NULL && in->desc->ops->destroy != NULL)
        in->desc->ops->destroy(in->state);
    cJSON_Delete(in->conf);
    free(in->self);
    memset(in, 0, sizeof(*in));
}

gantry_req_t *th_req_new(const char *body_json, bool stream)
{
    gantry_req_t *req = calloc(1, sizeof(*req));

    if (req == NULL || (req->body = cJSON_Parse(body_json)) == NULL) {
        fprintf(stderr, "th_req_new: bad body JSON: %s\n", body_json);
        abort();
    }
    req->stream = stream;
    return req;
}

void th_req_set_resp(gantry_req_t *req, const char *resp_json)
{
    cJSON_Delete(req->resp);
    req->resp = cJSON_Parse(resp_json);
    if (req->resp == NULL) {
        fprintf(stderr, "th_req_set_resp: bad JSON: %s\n", resp_json);
        abort();
    }
}

void th_req_free(gantry_req_t *req)
{
    if (req == NULL)
        return;
    for (th_cleanup_t *c = req->cleanups; c != NULL; c = c->next)
        c->fn(c->arg);
    while (req->blocks != NULL) {
        th_block_t *b = req->blocks;
        req->blocks = b->next;
        free(b);
    }
    cJSON_Delete(req->body);
    cJSON_Delete(req->resp);
    free(req);
}

cJSON *th_req_body(gantry_req_t *req)
{
    return req->body;
}

cJSON *th_req_resp(gantry_req_t *req)
{
    return req->resp;
}

int th_req_status(gantry_req_t *req)
{
    return req->status;
}

gantry_error_class_t th_req_class(gantry_req_t *req)
{
    return req->cls;
}

const char *th_req_type(gantry_req_t *req)
{
    return req->type;
}

const char *th_req_code(gantry_req_t *req)
{
    return req->code;
}

const char *th_req_message(gantry_req_t *req)
{
    return req->message;
}

const char *th_req_noted(gantry_req_t *req)
{
    return req->noted;
}
