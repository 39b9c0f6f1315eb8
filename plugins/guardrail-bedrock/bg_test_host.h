/*
 * A stand-in host for the Bedrock guardrail's unit test and fuzz target.  The JSON functions
 * follow core/host.c over the same cJSON library; the request records what the plugin did with
 * it: its error, notes, resume() and verdict_deliver() calls, deferred tickets, and the side calls
 * it started (whose callbacks the test then runs with a canned answer).
 *
 * Included by exactly one file, after the plugin's .c files (everything here is static).
 */
#ifndef BG_TEST_HOST_H
#define BG_TEST_HOST_H

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TH_MAX 64

typedef struct th_call {
    char url[512];
    char headers[8][600];
    size_t nheaders;
    char *body;
    int64_t timeout_ms;
    gantry_http_cb cb;
    void *arg;
    bool done;
} th_call_t;

struct gantry_req {
    void *blocks[4096];
    size_t nblocks;
    cJSON *roots[1024];
    size_t nroots;
    cJSON *body;
    cJSON *resp;
    bool stream;
    gantry_endpoint_t endpoint;
    void *data;
    gantry_cleanup_cb cleanup_fn[TH_MAX];
    void *cleanup_arg[TH_MAX];
    size_t ncleanups;
    /* what the plugin did */
    bool failed;
    int fail_status;
    gantry_error_class_t fail_class;
    char fail_type[64], fail_code[64], fail_message[1024];
    char notes[256];
    int resumes;
    gantry_action_t resumed;
    int tickets;
    unsigned ticket_flags[TH_MAX];
    int delivered[TH_MAX]; /* -1: not yet; else the action */
    th_call_t calls[TH_MAX];
    size_t ncalls;
    int timers;
    gantry_timer_cb timer_cb[TH_MAX];
    void *timer_arg[TH_MAX];
    size_t ntimers; /* pending */
};

struct gantry_instance {
    unsigned modes;
};

static int64_t th_now_ms = 1440938160000LL; /* fixed: signatures are deterministic */
static size_t th_alloc_budget = (size_t)-1; /* allocations left before alloc() fails */

static void *th_track(gantry_req_t *r, void *p)
{
    if (p != NULL && r->nblocks < sizeof r->blocks / sizeof r->blocks[0])
        r->blocks[r->nblocks++] = p;
    else if (p != NULL) {
        free(p);
        return NULL;
    }
    return p;
}

static void *th_alloc(gantry_req_t *r, size_t n)
{
    if (th_alloc_budget == 0)
        return NULL;
    th_alloc_budget--;
    return th_track(r, calloc(1, n ? n : 1));
}

static char *th_strdup(gantry_req_t *r, const char *p, size_t n)
{
    char *s = th_alloc(r, n + 1);
    if (s == NULL)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static gantry_json_t *th_root(gantry_req_t *r, cJSON *j)
{
    if (j == NULL)
        return NULL;
    if (r->nroots == sizeof r->roots / sizeof r->roots[0]) {
        cJSON_Delete(j);
        return NULL;
    }
    r->roots[r->nroots++] = j;
    return (gantry_json_t *)j;
}

static void th_req_init(gantry_req_t *r)
{
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < TH_MAX; i++)
        r->delivered[i] = -1;
}

static void th_req_free(gantry_req_t *r)
{
    while (r->ncleanups > 0) {
        r->ncleanups--;
        r->cleanup_fn[r->ncleanups](r->cleanup_arg[r->ncleanups]);
    }
    for (size_t i = 0; i < r->nblocks; i++)
        free(r->blocks[i]);
    for (size_t i = 0; i < r->nroots; i++)
        cJSON_Delete(r->roots[i]);
    for (size_t i = 0; i < r->ncalls; i++)
        free(r->calls[i].body);
    cJSON_Delete(r->body);
    cJSON_Delete(r->resp);
    memset(r, 0, sizeof(*r));
}

/* ---- JSON, as core/host.c ---- */

#define J(n) ((cJSON *)(n))

static gantry_json_t *th_json_parse(gantry_req_t *r, gantry_str_t t)
{
    if (t.ptr == NULL)
        return NULL;
    return th_root(r, cJSON_ParseWithLength(t.ptr, t.len));
}

static cJSON *th_make(gantry_json_type_t type)
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

static gantry_json_t *th_json_new(gantry_req_t *r, gantry_json_type_t type)
{
    return th_root(r, th_make(type));
}

static gantry_json_type_t th_json_type(const gantry_json_t *n)
{
    const cJSON *j = (const cJSON *)n;
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

static gantry_json_t *th_json_get(const gantry_json_t *o, const char *key)
{
    if (!cJSON_IsObject((const cJSON *)o))
        return NULL;
    return (gantry_json_t *)cJSON_GetObjectItemCaseSensitive((const cJSON *)o, key);
}

static size_t th_json_count(const gantry_json_t *n)
{
    const cJSON *j = (const cJSON *)n;
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? (size_t)cJSON_GetArraySize(j) : 0;
}

static gantry_json_t *th_json_first(const gantry_json_t *n)
{
    const cJSON *j = (const cJSON *)n;
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? (gantry_json_t *)j->child : NULL;
}

static gantry_json_t *th_json_next(const gantry_json_t *n)
{
    return n != NULL ? (gantry_json_t *)((const cJSON *)n)->next : NULL;
}

static gantry_str_t th_json_key(const gantry_json_t *n)
{
    const cJSON *j = (const cJSON *)n;
    if (j == NULL || j->string == NULL)
        return GANTRY_STR_NULL;
    return (gantry_str_t){j->string, strlen(j->string)};
}

static gantry_str_t th_json_string(const gantry_json_t *n)
{
    const cJSON *j = (const cJSON *)n;
    if (!cJSON_IsString(j) || j->valuestring == NULL)
        return GANTRY_STR_NULL;
    return (gantry_str_t){j->valuestring, strlen(j->valuestring)};
}

static int th_json_number(const gantry_json_t *n, double *out)
{
    if (!cJSON_IsNumber((const cJSON *)n))
        return GANTRY_ETYPE;
    *out = ((const cJSON *)n)->valuedouble;
    return GANTRY_OK;
}

static int th_json_bool(const gantry_json_t *n, bool *out)
{
    if (!cJSON_IsBool((const cJSON *)n))
        return GANTRY_ETYPE;
    *out = cJSON_IsTrue((const cJSON *)n);
    return GANTRY_OK;
}

static gantry_json_t *th_json_set(gantry_json_t *o, const char *key, gantry_json_type_t type)
{
    if (!cJSON_IsObject(J(o)))
        return NULL;
    cJSON *item = th_make(type);
    if (item == NULL)
        return NULL;
    if (cJSON_GetObjectItemCaseSensitive(J(o), key) != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(J(o), key, item);
    else
        cJSON_AddItemToObject(J(o), key, item);
    return (gantry_json_t *)item;
}

static gantry_json_t *th_json_append(gantry_json_t *a, gantry_json_type_t type)
{
    if (!cJSON_IsArray(J(a)))
        return NULL;
    cJSON *item = th_make(type);
    if (item == NULL)
        return NULL;
    cJSON_AddItemToArray(J(a), item);
    return (gantry_json_t *)item;
}

static int th_json_set_string(gantry_json_t *n, gantry_str_t v)
{
    cJSON *j = J(n);
    if (!cJSON_IsString(j))
        return GANTRY_ETYPE;
    char *s = malloc(v.len + 1);
    if (s == NULL)
        return GANTRY_ENOMEM;
    if (v.len)
        memcpy(s, v.ptr, v.len);
    s[v.len] = '\0';
    free(j->valuestring);
    j->valuestring = s;
    return GANTRY_OK;
}

static int th_json_set_number(gantry_json_t *n, double v)
{
    if (!cJSON_IsNumber(J(n)))
        return GANTRY_ETYPE;
    cJSON_SetNumberValue(J(n), v);
    return GANTRY_OK;
}

static int th_json_set_bool(gantry_json_t *n, bool v)
{
    if (!cJSON_IsBool(J(n)))
        return GANTRY_ETYPE;
    J(n)->type = (J(n)->type & ~0xff) | (v ? cJSON_True : cJSON_False);
    return GANTRY_OK;
}

static void th_json_remove(gantry_json_t *o, const char *key)
{
    if (cJSON_IsObject(J(o)))
        cJSON_DeleteItemFromObjectCaseSensitive(J(o), key);
}

static int th_json_write(gantry_req_t *r, const gantry_json_t *n, gantry_str_t *out)
{
    char *s = cJSON_PrintUnformatted((const cJSON *)n);
    if (s == NULL)
        return GANTRY_ENOMEM;
    char *copy = th_strdup(r, s, strlen(s));
    size_t len = strlen(s);
    free(s);
    if (copy == NULL)
        return GANTRY_ENOMEM;
    *out = (gantry_str_t){copy, len};
    return GANTRY_OK;
}

static void th_json_release(gantry_req_t *r, gantry_json_t *root)
{
    for (size_t i = 0; root != NULL && i < r->nroots; i++) {
        if (r->roots[i] == J(root)) {
            cJSON_Delete(r->roots[i]);
            r->roots[i] = r->roots[--r->nroots];
            return;
        }
    }
}

/* ---- the rest of the table ---- */

static const char *th_strerror(int s)
{
    return s == 0 ? "success" : "error";
}

static void th_log(gantry_instance_t *self, gantry_req_t *req, gantry_log_level_t level,
                   const char *fmt, ...)
{
    (void)self;
    (void)req;
    (void)level;
    (void)fmt;
}

static int64_t th_now_us(void)
{
    return th_now_ms * 1000;
}

static int64_t th_unix_ms(void)
{
    return th_now_ms;
}

static const char *th_instance_name(gantry_instance_t *self)
{
    (void)self;
    return "bg-test";
}

static int th_on_cleanup(gantry_req_t *r, gantry_cleanup_cb fn, void *arg)
{
    if (r->ncleanups == TH_MAX)
        return GANTRY_ELIMIT;
    r->cleanup_fn[r->ncleanups] = fn;
    r->cleanup_arg[r->ncleanups++] = arg;
    return GANTRY_OK;
}

static void *th_req_data(gantry_req_t *r, gantry_instance_t *self)
{
    (void)self;
    return r->data;
}

static void th_req_set_data(gantry_req_t *r, gantry_instance_t *self, void *data)
{
    (void)self;
    r->data = data;
}

static bool th_req_is_stream(gantry_req_t *r)
{
    return r->stream;
}

static gantry_json_t *th_req_body(gantry_req_t *r)
{
    return (gantry_json_t *)r->body;
}

static gantry_json_t *th_resp_body(gantry_req_t *r)
{
    return (gantry_json_t *)r->resp;
}

static gantry_action_t th_req_fail(gantry_req_t *r, int status, gantry_error_class_t cls,
                                   const char *type, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fail_message, sizeof r->fail_message, fmt, ap);
    va_end(ap);
    r->failed = true;
    r->fail_status = status;
    r->fail_class = cls;
    snprintf(r->fail_type, sizeof r->fail_type, "%s", type ? type : "");
    snprintf(r->fail_code, sizeof r->fail_code, "%s", code ? code : "");
    return GANTRY_FAIL;
}

static void th_note(gantry_req_t *r, const char *name)
{
    size_t n = strlen(r->notes);
    snprintf(r->notes + n, sizeof r->notes - n, "%s%s", n ? "," : "", name);
}

static void th_resume(gantry_req_t *r, gantry_action_t a)
{
    r->resumes++;
    r->resumed = a;
}

static int th_timer_start(gantry_req_t *r, uint64_t ms, gantry_timer_cb cb, void *arg)
{
    (void)ms;
    if (r->ntimers == TH_MAX)
        return GANTRY_ELIMIT;
    r->timers++;
    r->timer_cb[r->ntimers] = cb;
    r->timer_arg[r->ntimers++] = arg;
    return GANTRY_OK;
}

/* The next turn of the loop: run the timers started so far (and those they start). */
static void th_run_timers(gantry_req_t *r)
{
    for (int rounds = 0; rounds < 100 && r->ntimers > 0; rounds++) {
        size_t n = r->ntimers;
        gantry_timer_cb cb[TH_MAX];
        void *arg[TH_MAX];
        memcpy(cb, r->timer_cb, n * sizeof cb[0]);
        memcpy(arg, r->timer_arg, n * sizeof arg[0]);
        r->ntimers = 0;
        for (size_t i = 0; i < n; i++)
            cb[i](r, arg[i]);
    }
}

static gantry_endpoint_t th_req_endpoint(gantry_req_t *r)
{
    return r->endpoint ? r->endpoint : GANTRY_EP_CHAT;
}

static int th_http_call(gantry_req_t *r, const gantry_http_call_t *call, gantry_http_cb cb,
                        void *arg)
{
    if (r->ncalls == TH_MAX)
        return GANTRY_ELIMIT;
    th_call_t *c = &r->calls[r->ncalls++];
    memset(c, 0, sizeof(*c));
    snprintf(c->url, sizeof c->url, "%.*s", (int)call->url.len, call->url.ptr);
    for (size_t i = 0; i < call->nheaders && i < 8; i++)
        snprintf(c->headers[c->nheaders++], sizeof c->headers[0], "%.*s: %.*s",
                 (int)call->headers[i].name.len, call->headers[i].name.ptr,
                 (int)call->headers[i].value.len, call->headers[i].value.ptr);
    c->body = malloc(call->body.len + 1);
    memcpy(c->body, call->body.ptr, call->body.len);
    c->body[call->body.len] = '\0';
    c->timeout_ms = call->timeout_ms;
    c->cb = cb;
    c->arg = arg;
    return GANTRY_OK;
}

static unsigned th_guard_modes(gantry_instance_t *self)
{
    return self->modes;
}

static int th_verdict_defer(gantry_req_t *r, gantry_instance_t *self, unsigned flags)
{
    (void)self;
    if (r->tickets == 32)
        return GANTRY_ELIMIT;
    r->ticket_flags[r->tickets] = flags;
    return r->tickets++;
}

static void th_verdict_deliver(gantry_req_t *r, int ticket, gantry_action_t a)
{
    if (ticket >= 0 && ticket < TH_MAX)
        r->delivered[ticket] = (int)a;
}

static void *th_mem_alloc(size_t n)
{
    return malloc(n);
}

static void *th_mem_calloc(size_t n, size_t s)
{
    return calloc(n, s);
}

static void *th_mem_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

static void th_mem_free(void *p)
{
    free(p);
}

static const gantry_host_t th_host = {
    .size = sizeof(gantry_host_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .strerror = th_strerror,
    .log = th_log,
    .now_us = th_now_us,
    .unix_ms = th_unix_ms,
    .instance_name = th_instance_name,
    .mem_alloc = th_mem_alloc,
    .mem_calloc = th_mem_calloc,
    .mem_realloc = th_mem_realloc,
    .mem_free = th_mem_free,
    .alloc = th_alloc,
    .strdup = th_strdup,
    .on_cleanup = th_on_cleanup,
    .req_data = th_req_data,
    .req_set_data = th_req_set_data,
    .req_is_stream = th_req_is_stream,
    .req_body = th_req_body,
    .req_fail = th_req_fail,
    .req_note_guardrail = th_note,
    .resume = th_resume,
    .timer_start = th_timer_start,
    .resp_body = th_resp_body,
    .json_parse = th_json_parse,
    .json_new = th_json_new,
    .json_type = th_json_type,
    .json_get = th_json_get,
    .json_count = th_json_count,
    .json_first = th_json_first,
    .json_next = th_json_next,
    .json_key = th_json_key,
    .json_string = th_json_string,
    .json_number = th_json_number,
    .json_bool = th_json_bool,
    .json_set = th_json_set,
    .json_append = th_json_append,
    .json_set_string = th_json_set_string,
    .json_set_number = th_json_set_number,
    .json_set_bool = th_json_set_bool,
    .json_remove = th_json_remove,
    .json_write = th_json_write,
    .json_release = th_json_release,
    .req_endpoint = th_req_endpoint,
    .http_call = th_http_call,
    .guard_modes = th_guard_modes,
    .verdict_defer = th_verdict_defer,
    .verdict_deliver = th_verdict_deliver,
};

#endif
