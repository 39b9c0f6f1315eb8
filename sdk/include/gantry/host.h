/*
 * Gantry plugin SDK v1: the host function table.
 *
 * The core passes a `const gantry_host_t *` to create(); it stays valid until destroy() returns and is
 * the plugin's only way into the core.  Entries are appended over minor versions: before calling one
 * that is newer than ABI 1.0, check it with GANTRY_HOST_HAS(host, entry).
 *
 * Ownership words used below:
 *   borrowed   - valid for the duration of the callback unless stated otherwise; do not free.
 *   request    - lives until the request is finished (after the LOG phase); freed by the core.
 *   instance   - lives as long as the plugin instance.
 *   take       - the function takes ownership of what you pass; do not use it afterwards.
 * Thread: "main" = only in create()/deployment_create()/destroy(); "worker" = only on the worker
 * thread that owns the request; "any" = any thread.
 */
#ifndef GANTRY_HOST_H
#define GANTRY_HOST_H

#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GANTRY_HOST_HAS(h, fn) (GANTRY_HAS(h, fn) && (h)->fn != NULL)

typedef enum gantry_json_type {
    GANTRY_JSON_INVALID = 0, /* NULL node */
    GANTRY_JSON_NULL = 1,
    GANTRY_JSON_BOOL = 2,
    GANTRY_JSON_NUMBER = 3,
    GANTRY_JSON_STRING = 4,
    GANTRY_JSON_ARRAY = 5,
    GANTRY_JSON_OBJECT = 6,
} gantry_json_type_t;

/* Who is calling, as established by an auth plugin.  The host copies every string. */
typedef struct gantry_principal {
    uint32_t size;
    gantry_str_t id;      /* stable identifier, safe to log (never the secret itself) */
    gantry_str_t name;    /* display name / alias */
    gantry_str_t role;    /* "proxy_admin", "internal_user", ... */
    gantry_str_t user_id; /* may be empty */
    gantry_str_t team_id; /* may be empty */
    /* ABI 1.0 ends here. */
} gantry_principal_t;

/* A summary of a request for loggers.  Strings are request-owned views (borrowed for the call). */
typedef struct gantry_req_info {
    uint32_t size;
    gantry_str_t request_id;
    gantry_str_t route;          /* "/v1/chat/completions" */
    gantry_str_t model_group;    /* model requested by the client (a model_name) */
    gantry_str_t deployment_id;  /* model_info.id of the deployment that answered; empty if none */
    gantry_str_t provider;       /* provider prefix of that deployment, e.g. "openai" */
    gantry_str_t upstream_model; /* model id sent upstream */
    gantry_str_t principal;      /* principal id; empty when unauthenticated */
    gantry_str_t end_user;       /* the request's "user" field */
    int status;                  /* HTTP status given to the client (499 if it went away first) */
    bool stream;
    bool cache_hit;
    bool client_aborted;
    int attempts;                /* upstream attempts made */
    int64_t start_unix_ms;       /* wall clock when the request arrived */
    int64_t duration_us;         /* arrival to last byte */
    int64_t ttft_us;             /* arrival to first streamed token; -1 if not streamed */
    int64_t upstream_us;         /* time spent waiting for upstreams */
    int64_t overhead_us;         /* duration minus upstream time: what the gateway itself cost */
    int64_t prompt_tokens;       /* -1 when unknown */
    int64_t completion_tokens;
    int64_t total_tokens;
    int64_t cached_tokens;
    gantry_error_class_t error_class;
    gantry_str_t error_type;
    gantry_str_t error_message;
    /* ABI 1.0 ends here. */
} gantry_req_info_t;

typedef void (*gantry_timer_cb)(gantry_req_t *req, void *arg);

/* ABI 1.1: which client endpoint a request came through; decides the canonical body's shape. */
typedef enum gantry_endpoint {
    GANTRY_EP_CHAT = 1,        /* canonical body: an OpenAI chat completions request */
    GANTRY_EP_COMPLETIONS = 2, /* /v1/completions: the body is still a canonical *chat* request (the
                                  prompt became one user message); the original "prompt" is kept
                                  under "prompt" for providers with a native text-completion API.
                                  Answers are canonical chat responses and chunks. */
    GANTRY_EP_EMBEDDINGS = 3,  /* canonical body and response: OpenAI /v1/embeddings; no streams */
} gantry_endpoint_t;

/* ABI 1.1: one header of a host->http_call(); views borrowed for the call only. */
typedef struct gantry_http_header {
    gantry_str_t name;
    gantry_str_t value;
} gantry_http_header_t;

/* ABI 1.1: a side HTTP call made by a plugin (credentials, prompt templates, guardrail services).
 * Everything is copied by http_call(); nothing needs to outlive it. */
typedef struct gantry_http_call {
    uint32_t size;
    const char *method;                  /* NULL: POST when there is a body, else GET */
    gantry_str_t url;
    const gantry_http_header_t *headers; /* may be NULL */
    size_t nheaders;
    gantry_str_t body;          /* may be empty */
    int64_t timeout_ms;         /* whole call; <= 0 means 30 s */
    size_t max_response_bytes;  /* 0 means 8 MiB; a longer answer fails the call */
    /* ABI 1.1 ends here. */
} gantry_http_call_t;

/* ABI 1.1: the outcome of a side HTTP call; views borrowed for the callback only. */
typedef struct gantry_http_result {
    uint32_t size;
    int status;         /* HTTP status; 0 when no answer came (then `error` says why) */
    gantry_str_t body;  /* the whole response body */
    gantry_str_t error; /* transport failure (connect, timeout, too large); empty on an answer */
    /* ABI 1.1 ends here. */
} gantry_http_result_t;

typedef void (*gantry_http_cb)(gantry_req_t *req, void *arg, const gantry_http_result_t *res);

/* ABI 1.2: the modes a guardrail instance runs in (LiteLLM's `mode`), as bits. */
#define GANTRY_GUARD_PRE_CALL 0x1u    /* check_request before the upstream call */
#define GANTRY_GUARD_DURING_CALL 0x2u /* check_request alongside the upstream call: defer the
                                         verdict (verdict_defer with GANTRY_VERDICT_HOLD) */
#define GANTRY_GUARD_POST_CALL 0x4u   /* check_response / check_chunk on the completion */
#define GANTRY_GUARD_LOGGING_ONLY 0x8u /* check_request / check_response on what loggers see only;
                                          verdicts are ignored, masking applies to the log copy */

/* ABI 1.2: verdict_defer() flags. */
#define GANTRY_VERDICT_HOLD 0x1u /* nothing of the response reaches the client before the verdict */

/* ABI 1.2: I/O readiness bits for watches. */
#define GANTRY_IO_READ 0x1u
#define GANTRY_IO_WRITE 0x2u

/* ABI 1.2: opaque worker-level handles (not tied to a request). */
typedef struct gantry_watch gantry_watch_t;
typedef struct gantry_wtimer gantry_wtimer_t;
typedef void (*gantry_watch_cb)(gantry_watch_t *w, void *arg, unsigned events);
typedef void (*gantry_wtimer_cb)(gantry_wtimer_t *t, void *arg);
typedef void (*gantry_cleanup_cb)(void *arg);

struct gantry_host {
    uint32_t size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* --- general (any thread) --- */

    /* Message of a gantry_status_t; a static string. */
    const char *(*strerror)(int status);
    /* Log one line, tagged with the instance and the request id (req may be NULL). */
    void (*log)(gantry_instance_t *self, gantry_req_t *req, gantry_log_level_t level, const char *fmt,
                ...) GANTRY_PRINTF(4, 5);
    /* Monotonic clock in microseconds, and the wall clock in milliseconds since the epoch. */
    int64_t (*now_us)(void);
    int64_t (*unix_ms)(void);
    /* The name of an instance (its `name:` in the config), borrowed for the instance's life. */
    const char *(*instance_name)(gantry_instance_t *self);

    /* --- instance memory (any thread); the allocator can be made to fail in tests --- */
    void *(*mem_alloc)(size_t size);
    void *(*mem_calloc)(size_t n, size_t size);
    void *(*mem_realloc)(void *ptr, size_t size);
    void (*mem_free)(void *ptr);

    /* --- configuration (main; nodes and strings live as long as the instance) --- */

    /* Child of a map by key, or NULL. */
    const gantry_conf_t *(*conf_get)(const gantry_conf_t *map, const char *key);
    gantry_conf_type_t (*conf_type)(const gantry_conf_t *node);
    /* Scalars.  Return GANTRY_OK, or GANTRY_ETYPE (node of another type) / GANTRY_EINVAL (NULL). */
    int (*conf_string)(const gantry_conf_t *node, gantry_str_t *out); /* NUL-terminated */
    int (*conf_int)(const gantry_conf_t *node, int64_t *out);
    int (*conf_number)(const gantry_conf_t *node, double *out); /* integers are numbers too */
    int (*conf_bool)(const gantry_conf_t *node, bool *out);
    /* Sequences and maps: element count, i-th value, i-th key (maps only). */
    size_t (*conf_count)(const gantry_conf_t *node);
    const gantry_conf_t *(*conf_at)(const gantry_conf_t *node, size_t i);
    gantry_str_t (*conf_key_at)(const gantry_conf_t *map, size_t i);
    /* Report a configuration error at the node's file:line:col (no position when node is NULL);
     * returns GANTRY_ECONFIG. */
    int (*conf_error)(const gantry_conf_t *node, const char *fmt, ...) GANTRY_PRINTF(2, 3);

    /* --- request memory (worker) --- */

    /* Arena memory, aligned for any type, freed with the request; NULL when the budget is spent. */
    void *(*alloc)(gantry_req_t *req, size_t size);
    /* NUL-terminated copy in the arena. */
    char *(*strdup)(gantry_req_t *req, const char *ptr, size_t len);
    /* Run fn(arg) when the request is finished (after LOG), in reverse order of registration. */
    int (*on_cleanup)(gantry_req_t *req, gantry_cleanup_cb fn, void *arg);
    /* Per-request slot of an instance (NULL until set). */
    void *(*req_data)(gantry_req_t *req, gantry_instance_t *self);
    void (*req_set_data)(gantry_req_t *req, gantry_instance_t *self, void *data);

    /* --- the request (worker) --- */

    gantry_str_t (*req_id)(gantry_req_t *req);        /* request */
    gantry_str_t (*req_model)(gantry_req_t *req);     /* request: the model group asked for */
    bool (*req_is_stream)(gantry_req_t *req);
    /* A request header by lowercase name; the value is request-owned.  GANTRY_ENOENT if absent. */
    int (*req_header)(gantry_req_t *req, const char *name, gantry_str_t *out);
    /* The canonical (OpenAI chat) request body; mutable until the upstream request is built. */
    gantry_json_t *(*req_body)(gantry_req_t *req);
    int (*req_set_principal)(gantry_req_t *req, const gantry_principal_t *p);
    const gantry_principal_t *(*req_principal)(gantry_req_t *req); /* request, or NULL */
    /*
     * Set the error the request ends with (copied) and return GANTRY_FAIL, so that a callback can
     * `return host->req_fail(...)`.  `type` and `code` may be NULL.
     */
    gantry_action_t (*req_fail)(gantry_req_t *req, int status, gantry_error_class_t cls,
                                const char *type, const char *code, const char *fmt, ...)
        GANTRY_PRINTF(6, 7);
    /* Fill `out` (set out->size first) with the request summary. */
    void (*req_info)(gantry_req_t *req, gantry_req_info_t *out);
    /* Add a header to the client response (copied); before the response starts only. */
    int (*resp_add_header)(gantry_req_t *req, const char *name, gantry_str_t value);
    /* Record that a guardrail acted: listed in x-gantry-applied-guardrails when the response headers
     * are still to be sent, and in the request's log record in any case. */
    void (*req_note_guardrail)(gantry_req_t *req, const char *name);

    /* --- asynchrony (worker) --- */

    /*
     * Continue a request a callback PAUSEd, with the action the callback would have returned.
     * Call exactly once, on the request's worker thread (from a timer or an I/O completion).
     */
    void (*resume)(gantry_req_t *req, gantry_action_t action);
    /*
     * Call cb(req, arg) after delay_ms on the request's worker loop.  Cancelled automatically when the
     * request finishes first (e.g. the client went away).
     */
    int (*timer_start)(gantry_req_t *req, uint64_t delay_ms, gantry_timer_cb cb, void *arg);

    /* --- responses (worker) --- */

    /* The canonical (OpenAI chat.completion) response, or NULL before there is one. */
    gantry_json_t *(*resp_body)(gantry_req_t *req);
    /* Install the canonical response (take: a root from json_parse/json_new). */
    int (*resp_set_take)(gantry_req_t *req, gantry_json_t *root);
    /* Emit one canonical chat.completion.chunk (take).  Usage in the chunk is recorded. */
    int (*stream_chunk_take)(gantry_req_t *req, gantry_json_t *chunk);
    /* The stream is complete. */
    void (*stream_end)(gantry_req_t *req);
    /* A cache lookup hit: `value` is what store() was given (copied). */
    int (*cache_hit)(gantry_req_t *req, gantry_str_t value);

    /* --- the upstream request (worker, inside prepare()) --- */

    int (*up_set_method)(gantry_upstream_t *up, const char *method); /* default POST */
    int (*up_set_url)(gantry_upstream_t *up, gantry_str_t url);      /* copied */
    int (*up_add_header)(gantry_upstream_t *up, const char *name, gantry_str_t value); /* copied */
    /* The body; must stay valid for the request (arena memory, json_write output). */
    int (*up_set_body)(gantry_upstream_t *up, gantry_str_t body);
    int (*up_set_framing)(gantry_upstream_t *up, gantry_framing_t framing);

    /* --- JSON documents (worker) --- */
    /*
     * Roots made by json_parse/json_new/json_dup are request-owned and freed with the request unless
     * handed over with a *_take function or json_attach.  Every function accepts a NULL node and then
     * returns NULL / GANTRY_JSON_INVALID / an empty string / GANTRY_EINVAL.  Child nodes belong to their root.  String
     * views returned by json_string/json_key live as long as the node is unchanged.
     */
    gantry_json_t *(*json_parse)(gantry_req_t *req, gantry_str_t text); /* NULL if malformed */
    gantry_json_t *(*json_new)(gantry_req_t *req, gantry_json_type_t type);
    gantry_json_t *(*json_dup)(gantry_req_t *req, const gantry_json_t *node);
    gantry_json_type_t (*json_type)(const gantry_json_t *node);
    gantry_json_t *(*json_get)(const gantry_json_t *obj, const char *key);
    size_t (*json_count)(const gantry_json_t *node);
    /* Iterate an array's elements or an object's members: first, then next until NULL. */
    gantry_json_t *(*json_first)(const gantry_json_t *node); /* NULL for non-containers */
    gantry_json_t *(*json_next)(const gantry_json_t *node);
    gantry_str_t (*json_key)(const gantry_json_t *member);
    /* A string's bytes, NUL-terminated after len; {NULL,0} unless a string. */
    gantry_str_t (*json_string)(const gantry_json_t *node);
    int (*json_number)(const gantry_json_t *node, double *out);
    int (*json_bool)(const gantry_json_t *node, bool *out);
    /* Create or replace obj[key] with a new node of `type`; returns it. */
    gantry_json_t *(*json_set)(gantry_json_t *obj, const char *key, gantry_json_type_t type);
    /* Append a new node of `type` to an array; returns it. */
    gantry_json_t *(*json_append)(gantry_json_t *arr, gantry_json_type_t type);
    /* Change a node's value in place (the node keeps its place in its parent); strings are copied. */
    int (*json_set_string)(gantry_json_t *node, gantry_str_t value);
    int (*json_set_number)(gantry_json_t *node, double value);
    int (*json_set_bool)(gantry_json_t *node, bool value);
    void (*json_remove)(gantry_json_t *obj, const char *key);
    /* Move a detached root into obj[key] (key NULL: append to an array).  Takes `root`. */
    int (*json_attach)(gantry_req_t *req, gantry_json_t *parent, const char *key, gantry_json_t *root);
    /* Serialize a node's value (not its key) compactly into arena memory (request-owned). */
    int (*json_write)(gantry_req_t *req, const gantry_json_t *node, gantry_str_t *out);
    /* Free a request-owned root now instead of at the end of the request (e.g. per-attempt copies). */
    void (*json_release)(gantry_req_t *req, gantry_json_t *root);

    /* ABI 1.0 ends here. */

    /* --- ABI 1.1 (check with GANTRY_HOST_HAS before use) --- */

    /* The client endpoint of the request (request). */
    gantry_endpoint_t (*req_endpoint)(gantry_req_t *req);
    /* Whether parameters the provider cannot honour are to be dropped silently (the deployment's or
     * litellm_settings' drop_params) rather than refused with a 400 naming the parameter.  Worker,
     * inside prepare()/invoke(): it answers for the deployment of the attempt being prepared. */
    bool (*req_drop_params)(gantry_req_t *req);
    /*
     * Start a side HTTP call on the request's worker loop (never blocking it).  cb runs later on the
     * same worker, exactly once, unless the request finishes first (then the call is cancelled and
     * cb never runs).  Returns GANTRY_OK, or an error (then cb will not run).  Typical use: return
     * GANTRY_PAUSE from a phase callback and call host->resume() from cb.
     */
    int (*http_call)(gantry_req_t *req, const gantry_http_call_t *call, gantry_http_cb cb, void *arg);
    /* req_fail() that also names the request parameter at fault (OpenAI's error "param"), e.g. for
     * a parameter the provider cannot honour.  `param` may be NULL. */
    gantry_action_t (*req_fail_param)(gantry_req_t *req, int status, gantry_error_class_t cls,
                                      const char *type, const char *code, const char *param,
                                      const char *fmt, ...) GANTRY_PRINTF(7, 8);
    /* ABI 1.1 ends here. */

    /* --- ABI 1.2: guardrails (worker) --- */

    /* The GANTRY_GUARD_* modes the instance was configured with (any thread). */
    unsigned (*guard_modes)(gantry_instance_t *self);
    /*
     * Announce a verdict that will come later, e.g. from a host->http_call() started by
     * check_request() (DURING_CALL) or check_chunk() (a window of a stream): the callback returns
     * CONTINUE at once and the request goes on.  Returns a ticket (>= 0) for verdict_deliver(), or
     * a negative status.  With GANTRY_VERDICT_HOLD nothing of the response reaches the client
     * before the verdict; without it the stream flows and only its end waits for the verdict.
     */
    int (*verdict_defer)(gantry_req_t *req, gantry_instance_t *self, unsigned flags);
    /*
     * The verdict of a ticket, exactly once, on the request's worker: CONTINUE lets the response
     * go; FAIL (after host->req_fail() with class GANTRY_ERR_GUARDRAIL) cancels the upstream call
     * if it is still running and answers the error, or ends a started stream with an error event.
     * A ticket whose request finished first is ignored.
     */
    void (*verdict_deliver)(gantry_req_t *req, int ticket, gantry_action_t action);

    /* --- ABI 1.2: worker I/O, for plugins that keep their own connections (worker thread) --- */

    /* The worker a request runs on (its worker_state's worker_id). */
    unsigned (*req_worker)(gantry_req_t *req);
    /* Watch fd on the worker's loop; cb runs on that worker with the ready GANTRY_IO_* bits.
     * Create, change and free only on that worker's thread (e.g. from worker_init()). */
    gantry_watch_t *(*watch_new)(unsigned worker_id, int fd, gantry_watch_cb cb, void *arg);
    int (*watch_set)(gantry_watch_t *w, unsigned events); /* 0 stops watching */
    void (*watch_free)(gantry_watch_t *w);                /* does not close fd */
    /* A timer on the worker's loop, not tied to any request. */
    gantry_wtimer_t *(*wtimer_new)(unsigned worker_id, gantry_wtimer_cb cb, void *arg);
    int (*wtimer_start)(gantry_wtimer_t *t, uint64_t delay_ms, uint64_t repeat_ms);
    void (*wtimer_stop)(gantry_wtimer_t *t);
    void (*wtimer_free)(gantry_wtimer_t *t);
    /* ABI 1.2 ends here. */
};

GANTRY_STATIC_ASSERT(offsetof(gantry_host_t, json_write) == 536, "ABI 1.0 host layout is frozen");
GANTRY_STATIC_ASSERT(offsetof(gantry_req_info_t, error_message) == 248, "ABI 1.0 req_info is frozen");
GANTRY_STATIC_ASSERT(offsetof(gantry_principal_t, team_id) == 72, "ABI 1.0 principal is frozen");

#ifdef __cplusplus
}
#endif
#endif
