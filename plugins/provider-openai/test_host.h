/*
 * A stand-in host for the openai provider's unit tests.  The JSON functions mirror core/host.c over
 * the same cJSON library the core uses, configuration nodes are cJSON too (a litellm_params map is
 * written as a JSON object), and the request records what the plugin did with it: the upstream
 * request it built, the response or chunks it produced, and the error it failed with.
 *
 * Included by exactly one test file after the plugin's .c files (everything here is static).
 */
#ifndef OPENAI_TEST_HOST_H
#define OPENAI_TEST_HOST_H

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

/* ---- requests ---- */

#define MAX_CHUNKS 64

/* Everything a request owns, freed by req_reset(). */
struct gantry_req {
    void **blocks;
    size_t nblocks, capblocks;
    cJSON **roots;
    size_t nroots, caproots;
    cJSON *body;
    bool stream;
    gantry_endpoint_t endpoint; /* 0: chat */
    bool drop_params;
    void *data;
    /* what the plugin produced */
    bool failed;
    int fail_status;
    gantry_error_class_t fail_class;
    char fail_message[1024];
    char fail_code[64];
    cJSON *resp;
    char *chunks[MAX_CHUNKS]; /* printed canonical chunks */
    size_t nchunks;
    bool ended;
};

struct gantry_upstream {
    gantry_str_t body;
    char url[512];
    size_t nheaders;
    char headers[8][256];
    gantry_framing_t framing;
};

/* mem_alloc/mem_realloc/alloc fail once this many calls have succeeded (SIZE_MAX: never). */
static size_t alloc_budget = SIZE_MAX;

static bool take_budget(void)
{
    if (alloc_budget == 0)
        return false;
    if (alloc_budget != SIZE_MAX)
        alloc_budget--;
    return true;
}

static void *t_mem_alloc(size_t size)
{
    return take_budget() ? malloc(size) : NULL;
}

static void *t_mem_calloc(size_t n, size_t size)
{
    return take_budget() ? calloc(n, size) : NULL;
}

static void *t_mem_realloc(void *p, size_t size)
{
    return take_budget() ? realloc(p, size) : NULL;
}

static void push(void ***arr, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *arr = realloc(*arr, *cap * sizeof(**arr));
        CHECK(*arr != NULL);
    }
    (*arr)[(*n)++] = p;
}

static void *t_alloc(gantry_req_t *r, size_t size)
{
    if (!take_budget())
        return NULL;
    void *p = malloc(size ? size : 1);
    CHECK(p != NULL);
    push(&r->blocks, &r->nblocks, &r->capblocks, p);
    return p;
}

static char *t_strdup(gantry_req_t *r, const char *p, size_t len)
{
    char *q = t_alloc(r, len + 1);
    if (q == NULL)
        return NULL;
    if (len)
        memcpy(q, p, len);
    q[len] = '\0';
    return q;
}

static void own(gantry_req_t *r, cJSON *j)
{
    push((void ***)&r->roots, &r->nroots, &r->caproots, j);
}

/* Remove j from the owned roots; false when it is not one of them. */
static bool disown(gantry_req_t *r, cJSON *j)
{
    for (size_t i = 0; i < r->nroots; i++) {
        if (r->roots[i] == j) {
            r->roots[i] = r->roots[--r->nroots];
            return true;
        }
    }
    return false;
}

static void req_reset(gantry_req_t *r)
{
    for (size_t i = 0; i < r->nblocks; i++)
        free(r->blocks[i]);
    for (size_t i = 0; i < r->nroots; i++)
        cJSON_Delete(r->roots[i]);
    for (size_t i = 0; i < r->nchunks; i++)
        free(r->chunks[i]);
    free(r->blocks);
    free(r->roots);
    cJSON_Delete(r->body);
    cJSON_Delete(r->resp);
    memset(r, 0, sizeof(*r));
}

static gantry_json_t *t_req_body(gantry_req_t *r)
{
    return (gantry_json_t *)r->body;
}

static bool t_req_is_stream(gantry_req_t *r)
{
    return r->stream;
}

static gantry_endpoint_t t_req_endpoint(gantry_req_t *r)
{
    return r->endpoint ? r->endpoint : GANTRY_EP_CHAT;
}

static bool t_req_drop_params(gantry_req_t *r)
{
    return r->drop_params;
}

static void *t_req_data(gantry_req_t *r, gantry_instance_t *self)
{
    (void)self;
    return r->data;
}

static void t_req_set_data(gantry_req_t *r, gantry_instance_t *self, void *data)
{
    (void)self;
    r->data = data;
}

static gantry_action_t t_req_fail(gantry_req_t *r, int status, gantry_error_class_t cls,
                                  const char *type, const char *code, const char *fmt, ...)
{
    va_list ap;
    (void)type;
    r->failed = true;
    r->fail_status = status;
    r->fail_class = cls;
    snprintf(r->fail_code, sizeof(r->fail_code), "%s", code ? code : "");
    va_start(ap, fmt);
    vsnprintf(r->fail_message, sizeof(r->fail_message), fmt, ap);
    va_end(ap);
    return GANTRY_FAIL;
}

static const char *t_strerror(int status)
{
    (void)status;
    return "error";
}

static int t_resp_set_take(gantry_req_t *r, gantry_json_t *root)
{
    if (root == NULL || !disown(r, (cJSON *)root))
        return GANTRY_EINVAL;
    cJSON_Delete(r->resp);
    r->resp = (cJSON *)root;
    return GANTRY_OK;
}

static int t_stream_chunk_take(gantry_req_t *r, gantry_json_t *chunk)
{
    if (chunk == NULL || !disown(r, (cJSON *)chunk))
        return GANTRY_EINVAL;
    CHECK(r->nchunks < MAX_CHUNKS);
    r->chunks[r->nchunks++] = cJSON_PrintUnformatted((cJSON *)chunk);
    cJSON_Delete((cJSON *)chunk);
    return GANTRY_OK;
}

static void t_stream_end(gantry_req_t *r)
{
    r->ended = true;
}

/* ---- the upstream request ---- */

static int t_up_set_url(gantry_upstream_t *up, gantry_str_t url)
{
    snprintf(up->url, sizeof(up->url), "%.*s", (int)url.len, url.ptr);
    return GANTRY_OK;
}

static int t_up_add_header(gantry_upstream_t *up, const char *name, gantry_str_t value)
{
    CHECK(up->nheaders < 8);
    snprintf(up->headers[up->nheaders++], sizeof(up->headers[0]), "%s: %.*s", name, (int)value.len,
             value.ptr);
    return GANTRY_OK;
}

static int t_up_set_body(gantry_upstream_t *up, gantry_str_t body)
{
    up->body = body;
    return GANTRY_OK;
}

static int t_up_set_framing(gantry_upstream_t *up, gantry_framing_t f)
{
    up->framing = f;
    return GANTRY_OK;
}

/* ---- JSON, as core/host.c implements it ---- */

#define CJ(n) ((const cJSON *)(n))
#define J(n) ((cJSON *)(n))

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

static gantry_json_t *t_json_parse(gantry_req_t *r, gantry_str_t text)
{
    cJSON *j = cJSON_ParseWithLength(text.ptr, text.len);
    if (j == NULL || !take_budget()) {
        cJSON_Delete(j);
        return NULL;
    }
    own(r, j);
    return (gantry_json_t *)j;
}

static gantry_json_t *t_json_new(gantry_req_t *r, gantry_json_type_t type)
{
    cJSON *j = make(type);
    if (j == NULL || !take_budget()) {
        cJSON_Delete(j);
        return NULL;
    }
    own(r, j);
    return (gantry_json_t *)j;
}

static gantry_json_t *t_json_dup(gantry_req_t *r, const gantry_json_t *node)
{
    cJSON *j = cJSON_Duplicate(CJ(node), 1);
    if (j != NULL)
        own(r, j);
    return (gantry_json_t *)j;
}

static gantry_json_type_t t_json_type(const gantry_json_t *node)
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

static gantry_json_t *t_json_get(const gantry_json_t *obj, const char *key)
{
    if (!cJSON_IsObject(CJ(obj)))
        return NULL;
    return (gantry_json_t *)cJSON_GetObjectItemCaseSensitive(CJ(obj), key);
}

static size_t t_json_count(const gantry_json_t *node)
{
    const cJSON *j = CJ(node);
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? (size_t)cJSON_GetArraySize(j) : 0;
}

static gantry_json_t *t_json_first(const gantry_json_t *node)
{
    const cJSON *j = CJ(node);
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? (gantry_json_t *)j->child : NULL;
}

static gantry_json_t *t_json_next(const gantry_json_t *node)
{
    return node ? (gantry_json_t *)CJ(node)->next : NULL;
}

static gantry_str_t t_json_key(const gantry_json_t *m)
{
    const cJSON *j = CJ(m);
    if (j == NULL || j->string == NULL)
        return GANTRY_STR_NULL;
    return (gantry_str_t){j->string, strlen(j->string)};
}

static gantry_str_t t_json_string(const gantry_json_t *node)
{
    const cJSON *j = CJ(node);
    if (!cJSON_IsString(j) || j->valuestring == NULL)
        return GANTRY_STR_NULL;
    return (gantry_str_t){j->valuestring, strlen(j->valuestring)};
}

static int t_json_number(const gantry_json_t *node, double *out)
{
    if (!cJSON_IsNumber(CJ(node)))
        return GANTRY_ETYPE;
    *out = CJ(node)->valuedouble;
    return GANTRY_OK;
}

static int t_json_bool(const gantry_json_t *node, bool *out)
{
    if (!cJSON_IsBool(CJ(node)))
        return GANTRY_ETYPE;
    *out = cJSON_IsTrue(CJ(node));
    return GANTRY_OK;
}

static gantry_json_t *t_json_set(gantry_json_t *obj, const char *key, gantry_json_type_t type)
{
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

static gantry_json_t *t_json_append(gantry_json_t *arr, gantry_json_type_t type)
{
    if (!cJSON_IsArray(J(arr)))
        return NULL;
    cJSON *n = make(type);
    if (n == NULL || !cJSON_AddItemToArray(J(arr), n)) {
        cJSON_Delete(n);
        return NULL;
    }
    return (gantry_json_t *)n;
}

static void clear(cJSON *j)
{
    if (j->child != NULL) {
        cJSON_Delete(j->child);
        j->child = NULL;
    }
    if (j->valuestring != NULL && !(j->type & cJSON_IsReference))
        cJSON_free(j->valuestring);
    j->valuestring = NULL;
    j->type &= cJSON_StringIsConst;
}

static int t_json_set_string(gantry_json_t *node, gantry_str_t value)
{
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

static int t_json_set_number(gantry_json_t *node, double value)
{
    cJSON *j = J(node);
    if (j == NULL || (j->type & cJSON_IsReference))
        return GANTRY_EINVAL;
    clear(j);
    j->type |= cJSON_Number;
    cJSON_SetNumberHelper(j, value);
    return GANTRY_OK;
}

static int t_json_set_bool(gantry_json_t *node, bool value)
{
    cJSON *j = J(node);
    if (j == NULL || (j->type & cJSON_IsReference))
        return GANTRY_EINVAL;
    clear(j);
    j->type |= value ? cJSON_True : cJSON_False;
    return GANTRY_OK;
}

static void t_json_remove(gantry_json_t *obj, const char *key)
{
    if (cJSON_IsObject(J(obj)))
        cJSON_DeleteItemFromObjectCaseSensitive(J(obj), key);
}

static int t_json_attach(gantry_req_t *r, gantry_json_t *parent, const char *key,
                         gantry_json_t *root)
{
    cJSON *p = J(parent), *n = J(root);
    if (p == NULL || n == NULL || n == p || !disown(r, n))
        return GANTRY_EINVAL;
    bool ok;
    if (key == NULL)
        ok = cJSON_IsArray(p) && cJSON_AddItemToArray(p, n);
    else if (!cJSON_IsObject(p))
        ok = false;
    else if (cJSON_GetObjectItemCaseSensitive(p, key) != NULL)
        ok = cJSON_ReplaceItemInObjectCaseSensitive(p, key, n);
    else
        ok = cJSON_AddItemToObject(p, key, n);
    if (!ok) {
        own(r, n);
        return GANTRY_EINVAL;
    }
    return GANTRY_OK;
}

static int t_json_write(gantry_req_t *r, const gantry_json_t *node, gantry_str_t *out)
{
    if (node == NULL)
        return GANTRY_EINVAL;
    char *s = cJSON_PrintUnformatted(CJ(node));
    if (s == NULL)
        return GANTRY_ENOMEM;
    size_t n = strlen(s);
    char *p = t_strdup(r, s, n);
    cJSON_free(s);
    if (p == NULL)
        return GANTRY_ENOMEM;
    out->ptr = p;
    out->len = n;
    return GANTRY_OK;
}

static void t_json_release(gantry_req_t *r, gantry_json_t *root)
{
    if (root != NULL && disown(r, J(root)))
        cJSON_Delete(J(root));
}

/* ---- configuration: cJSON nodes stand in for YAML ---- */

static char conf_errors[2048];

static const gantry_conf_t *t_conf_get(const gantry_conf_t *map, const char *key)
{
    return (const gantry_conf_t *)t_json_get((const gantry_json_t *)map, key);
}

static gantry_conf_type_t t_conf_type(const gantry_conf_t *node)
{
    const cJSON *j = (const cJSON *)node;
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
    if (node == NULL)
        return GANTRY_EINVAL;
    gantry_str_t s = t_json_string((const gantry_json_t *)node);
    if (s.ptr == NULL)
        return GANTRY_ETYPE;
    *out = s;
    return GANTRY_OK;
}

static int t_conf_bool(const gantry_conf_t *node, bool *out)
{
    if (node == NULL)
        return GANTRY_EINVAL;
    return t_json_bool((const gantry_json_t *)node, out);
}

static size_t t_conf_count(const gantry_conf_t *node)
{
    return t_json_count((const gantry_json_t *)node);
}

static const gantry_conf_t *t_conf_at(const gantry_conf_t *node, size_t i)
{
    const cJSON *j = (const cJSON *)node;
    if (!cJSON_IsArray(j) && !cJSON_IsObject(j))
        return NULL;
    return (const gantry_conf_t *)cJSON_GetArrayItem(j, (int)i);
}

static gantry_str_t t_conf_key_at(const gantry_conf_t *node, size_t i)
{
    const cJSON *j = (const cJSON *)t_conf_at(node, i);
    if (j == NULL || j->string == NULL)
        return GANTRY_STR_NULL;
    return (gantry_str_t){j->string, strlen(j->string)};
}

static int t_conf_error(const gantry_conf_t *node, const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(conf_errors);
    (void)node;
    va_start(ap, fmt);
    vsnprintf(conf_errors + n, sizeof(conf_errors) - n, fmt, ap);
    va_end(ap);
    n = strlen(conf_errors);
    if (n + 1 < sizeof(conf_errors)) {
        conf_errors[n] = '\n';
        conf_errors[n + 1] = '\0';
    }
    return GANTRY_ECONFIG;
}

static const gantry_host_t test_host = {
    .size = sizeof(gantry_host_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .strerror = t_strerror,
    .mem_alloc = t_mem_alloc,
    .mem_calloc = t_mem_calloc,
    .mem_realloc = t_mem_realloc,
    .mem_free = free,
    .conf_get = t_conf_get,
    .conf_type = t_conf_type,
    .conf_string = t_conf_string,
    .conf_bool = t_conf_bool,
    .conf_count = t_conf_count,
    .conf_at = t_conf_at,
    .conf_key_at = t_conf_key_at,
    .conf_error = t_conf_error,
    .alloc = t_alloc,
    .strdup = t_strdup,
    .req_data = t_req_data,
    .req_set_data = t_req_set_data,
    .req_is_stream = t_req_is_stream,
    .req_body = t_req_body,
    .req_fail = t_req_fail,
    .resp_set_take = t_resp_set_take,
    .stream_chunk_take = t_stream_chunk_take,
    .stream_end = t_stream_end,
    .up_set_url = t_up_set_url,
    .up_add_header = t_up_add_header,
    .up_set_body = t_up_set_body,
    .up_set_framing = t_up_set_framing,
    .json_parse = t_json_parse,
    .json_new = t_json_new,
    .json_dup = t_json_dup,
    .json_type = t_json_type,
    .json_get = t_json_get,
    .json_count = t_json_count,
    .json_first = t_json_first,
    .json_next = t_json_next,
    .json_key = t_json_key,
    .json_string = t_json_string,
    .json_number = t_json_number,
    .json_bool = t_json_bool,
    .json_set = t_json_set,
    .json_append = t_json_append,
    .json_set_string = t_json_set_string,
    .json_set_number = t_json_set_number,
    .json_set_bool = t_json_set_bool,
    .json_remove = t_json_remove,
    .json_attach = t_json_attach,
    .json_write = t_json_write,
    .json_release = t_json_release,
    .req_endpoint = t_req_endpoint,
    .req_drop_params = t_req_drop_params,
};

static openai_instance_t inst = {.host = &test_host};

#endif
