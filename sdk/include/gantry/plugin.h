/*
 * Gantry plugin SDK v1: what a plugin exports.
 *
 * ABI POLICY
 *   - A plugin is a shared object exporting exactly one symbol, gantry_plugin_describe(), which has no
 *     side effects and returns a pointer to a static, const descriptor (gantry_plugin_desc_t).
 *   - The core validates the descriptor before calling anything else: abi_major must equal the core's,
 *     abi_minor must be <= the core's, every `size` must cover the fields of ABI 1.0, the kind must be
 *     known and the name unique.  A refused plugin is one log line and is not loaded.
 *   - Every struct crossing the boundary starts with `uint32_t size`.  Fields are only ever appended,
 *     grouped under an "ABI 1.N" comment, never reordered or removed; released layouts are frozen with
 *     _Static_assert.  A new field is read only when `size` says it is there (GANTRY_HAS()).
 *   - Plugins link no core symbols: the core hands its function table (gantry_host_t, host.h) to
 *     create(); everything else is reached through it.  Handles (request, config, JSON) are opaque.
 *   - A minor version adds things; a major version would change or remove them.
 *     1.0: the first release.
 *     1.1: host->req_endpoint, req_drop_params, http_call, req_fail_param (host.h);
 *          prepare() may PAUSE.
 *     1.2: guardrail modes and deferred verdicts, worker I/O watches and timers (host.h); cache
 *          ops remove and health.
 *
 * LIFETIMES AND THREADS
 *   plugin (.so) -> instance (create/destroy) -> worker (worker_init/worker_fini) -> request.
 *   - create() and destroy() run on the main thread.  The instance state is read-only after create()
 *     returns: it is shared by all worker threads without locks.
 *   - worker_init()/worker_fini() run on the worker's own thread; the worker state they return is used
 *     by that thread only, so it needs no locking.
 *   - Every phase callback runs on the worker thread that owns the request, and must not block: start
 *     I/O through the host, return GANTRY_PAUSE, and call host->resume() from the completion.
 *   - Per-request memory comes from host->alloc(req, ...) and is freed with the request.
 */
#ifndef GANTRY_PLUGIN_H
#define GANTRY_PLUGIN_H

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GANTRY_ABI_MAJOR 1
#define GANTRY_ABI_MINOR 2

/* True when a struct received from the other side is new enough to contain `field`. */
#define GANTRY_HAS(sp, field) \
    ((sp) != NULL && (sp)->size >= offsetof(__typeof__(*(sp)), field) + sizeof((sp)->field))

typedef enum gantry_kind {
    GANTRY_KIND_PROVIDER = 1,  /* translates to and from one upstream API */
    GANTRY_KIND_AUTH = 2,      /* establishes who is calling */
    GANTRY_KIND_GUARDRAIL = 3, /* inspects, masks or blocks prompts and completions */
    GANTRY_KIND_CACHE = 4,     /* answers repeated requests */
    GANTRY_KIND_LOGGER = 5,    /* records finished requests */
} gantry_kind_t;

/* Types of configuration values, for the schema in the descriptor. */
typedef enum gantry_conf_type {
    GANTRY_CONF_ANY = 0,
    GANTRY_CONF_STRING = 1,
    GANTRY_CONF_INT = 2,
    GANTRY_CONF_NUMBER = 3, /* an int is accepted too */
    GANTRY_CONF_BOOL = 4,
    GANTRY_CONF_MAP = 5,
    GANTRY_CONF_SEQ = 6,
} gantry_conf_type_t;

#define GANTRY_CONF_REQUIRED 0x1u /* the key must be present */
#define GANTRY_CONF_SECRET 0x2u   /* never printed in logs or dumps */

/*
 * One accepted configuration key.  Arrays of these end with an entry whose name is NULL.  The core
 * refuses, with file:line:col, any key not listed and any value of another type, before create().
 */
typedef struct gantry_conf_field {
    const char *name;
    gantry_conf_type_t type;
    uint32_t flags;
    const char *help;
} gantry_conf_field_t;

/*
 * Upstream framing of a streamed response, chosen by a provider in prepare(); the core splits the
 * byte stream into frames and hands each one to parse_frame().
 */
typedef enum gantry_framing {
    GANTRY_FRAMING_SSE = 1,         /* text/event-stream: one frame per event */
    GANTRY_FRAMING_EVENTSTREAM = 2, /* application/vnd.amazon.eventstream: one frame per message */
    GANTRY_FRAMING_NDJSON = 3,      /* one frame per line */
} gantry_framing_t;

/* One frame of a streamed upstream response.  Views valid for the parse_frame() call only. */
typedef struct gantry_frame {
    uint32_t size;
    gantry_str_t event; /* SSE "event:" name (empty when absent); eventstream ":event-type" */
    gantry_str_t data;  /* SSE "data:" lines joined with "\n"; eventstream payload; NDJSON line */
    /* ABI 1.0 */
    gantry_str_t message_type; /* eventstream ":message-type" ("event", "exception"); else empty */
} gantry_frame_t;

/*
 * Error classes, which decide retries, cooldowns and fallbacks.  Providers map upstream errors to
 * these in map_error().
 */
typedef enum gantry_error_class {
    GANTRY_ERR_NONE = 0,
    GANTRY_ERR_BAD_REQUEST = 1,    /* the client's request is wrong: 400 */
    GANTRY_ERR_AUTH = 2,           /* 401/403 */
    GANTRY_ERR_NOT_FOUND = 3,      /* 404 */
    GANTRY_ERR_RATE_LIMIT = 4,     /* 429 */
    GANTRY_ERR_TIMEOUT = 5,        /* 408, 504, or our own timeout */
    GANTRY_ERR_SERVER = 6,         /* 5xx */
    GANTRY_ERR_CONNECT = 7,        /* connection refused, reset, DNS, TLS */
    GANTRY_ERR_CONTEXT_WINDOW = 8, /* the prompt is too long for the model */
    GANTRY_ERR_CONTENT_POLICY = 9, /* refused by the provider's content filter */
    GANTRY_ERR_BUDGET = 10,        /* a budget is exhausted */
    GANTRY_ERR_GUARDRAIL = 11,     /* a guardrail blocked the request or the completion */
    GANTRY_ERR_INTERNAL = 12,      /* a fault inside the gateway */
} gantry_error_class_t;

/*
 * An error as map_error() fills it.  The core initialises every field (status from the upstream,
 * class guessed from the status, empty strings) and passes `size`; the plugin overwrites what it
 * knows.  Strings must live as long as the request: use host->alloc()/host->strdup().
 */
typedef struct gantry_error {
    uint32_t size;
    int status;                 /* HTTP status to give the client */
    gantry_error_class_t class_;
    gantry_str_t type;          /* OpenAI error "type", e.g. "invalid_request_error" */
    gantry_str_t code;          /* OpenAI error "code", may be empty */
    gantry_str_t param;         /* OpenAI error "param", may be empty */
    gantry_str_t message;       /* human readable, never containing secrets */
    /* ABI 1.0 */
    int64_t retry_after_ms;     /* from Retry-After / retry-after-ms; -1 when absent */
} gantry_error_t;

/*
 * The operations of a plugin.  One table for all kinds: a plugin fills the lifecycle entries it
 * needs and the entries of its kind; the loader checks that the entries its kind requires are set.
 * Every callback receives the instance state returned by create() and, for phase callbacks, the
 * worker state returned by worker_init() (NULL when there is no worker_init).
 */
typedef struct gantry_ops {
    uint32_t size;

    /* --- lifecycle (all kinds) --- */

    /*
     * Create an instance from its configuration block (already checked against config_fields).
     * `self` identifies the instance in host->log() and host->conf_error(); it lives as long as the
     * instance.  Return GANTRY_OK and set *state, or a negative status after reporting the reason
     * with host->conf_error() or host->log().  Runs on the main thread.
     */
    int (*create)(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                  void **state);
    /* Free the instance.  Called once, after every request using it has finished and after
     * worker_fini() has run for every worker that ran worker_init(). */
    void (*destroy)(void *state);
    /* Per-worker state, created on the worker's thread before it serves requests with this instance
     * (also for instances of a reloaded configuration).  Optional.  A failure is logged and the
     * worker serves the instance's requests with worker_state NULL. */
    int (*worker_init)(void *state, unsigned worker_id, void **worker_state);
    void (*worker_fini)(void *state, unsigned worker_id, void *worker_state);

    /* --- auth (required: authenticate) --- */

    /*
     * Look at the credentials of the request.  Accept with host->req_set_principal() and CONTINUE;
     * ignore credentials that are not yours by returning CONTINUE without a principal; reject with
     * host->req_fail(req, 401, ...) and FAIL.  When every auth plugin has run and none set a
     * principal, the core answers 401.
     */
    gantry_action_t (*authenticate)(gantry_req_t *req, void *state, void *worker_state);

    /* --- guardrail (at least one of the three) --- */

    /* Before the upstream call: read or rewrite host->req_body(); FAIL blocks. */
    gantry_action_t (*check_request)(gantry_req_t *req, void *state, void *worker_state);
    /* Each streamed chunk (canonical OpenAI chunk), before it reaches the client. FAIL cuts the stream. */
    gantry_action_t (*check_chunk)(gantry_req_t *req, void *state, void *worker_state,
                                   gantry_json_t *chunk);
    /* The whole non-streamed completion (host->resp_body()); FAIL blocks.  Not called for streams:
     * their chunks went through check_chunk(). */
    gantry_action_t (*check_response)(gantry_req_t *req, void *state, void *worker_state);

    /* --- cache (required: lookup, store) --- */

    /*
     * `key` is the request's cache key (hex SHA-256, computed by the core), valid for the call.  On a
     * hit call host->cache_hit() and return RESPOND; on a miss CONTINUE; asynchronous lookups PAUSE
     * and call host->cache_hit() (when hit) then host->resume().
     */
    gantry_action_t (*lookup)(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key);
    /* Keep `value` (the serialized response; copy it, it is borrowed) under `key` for ttl_s seconds
     * (0: the instance's own default). */
    void (*store)(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key,
                  gantry_str_t value, uint32_t ttl_s);

    /* --- logger (required: log) --- */

    /* Record the finished request (host->req_info()).  Runs for every request, also failed ones,
     * and also when the request's memory budget is spent: do not rely on host->alloc() here. */
    void (*log)(gantry_req_t *req, void *state, void *worker_state);

    /* --- provider (required: deployment_create and either prepare+parse_response or invoke) --- */

    /*
     * Check one model_list entry served by this provider and build its read-only state.  `params` is
     * the entry's litellm_params map; `model_id` is the model string without the provider prefix
     * (e.g. "gpt-4o" for "openai/gpt-4o"); `prefix` is the prefix the entry used ("openai", "groq").
     * Report problems with host->conf_error(params-or-child, ...) and return a negative status.
     */
    int (*deployment_create)(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                             gantry_str_t model_id, void **deployment);
    void (*deployment_destroy)(void *state, void *deployment);

    /*
     * Build the upstream HTTP request for one attempt from the canonical request (host->req_body(),
     * an OpenAI chat request).  Set URL, headers, body and, for streams, framing through
     * host->up_*().  FAIL (after host->req_fail()) for a request this deployment cannot serve.
     * Since ABI 1.1 prepare() may also PAUSE (e.g. credentials still being fetched, a template to
     * load with host->http_call()): after host->resume(req, GANTRY_CONTINUE) the core calls prepare()
     * again from the start with a fresh `up`, so keep progress in host->req_data(); resume with FAIL
     * (after host->req_fail()) to give up.
     */
    gantry_action_t (*prepare)(gantry_req_t *req, void *state, void *deployment, gantry_upstream_t *up);
    /* Turn a 2xx upstream body into the canonical response (host->resp_set_take()). */
    gantry_action_t (*parse_response)(gantry_req_t *req, void *state, void *deployment, int status,
                                      gantry_str_t body);
    /*
     * One upstream stream frame: emit zero or more canonical chunks with host->stream_chunk_take(),
     * and call host->stream_end() on the frame that ends the stream.  FAIL (after host->req_fail())
     * ends the stream with an error event.
     */
    gantry_action_t (*parse_frame)(gantry_req_t *req, void *state, void *deployment,
                                   const gantry_frame_t *frame);
    /* Describe a non-2xx upstream answer.  Optional: the core maps by status when NULL. */
    void (*map_error)(gantry_req_t *req, void *state, void *deployment, int status, gantry_str_t body,
                      gantry_error_t *err);
    /*
     * For providers that answer without HTTP (the fake provider, local models): produce the response
     * yourself.
     *   Non-streaming: host->resp_set_take() then return RESPOND; or PAUSE and later
     *   host->resp_set_take() + host->resume(req, GANTRY_RESPOND).
     *   Streaming: emit chunks with host->stream_chunk_take() - inside invoke() or later from host
     *   timers - and end with host->stream_end(), which completes the request: no resume() follows
     *   it.  Return PAUSE while chunks are still to come (CONTINUE if the stream already ended).  To
     *   fail: inside invoke() return FAIL after host->req_fail(); later, host->req_fail() then
     *   host->resume(req, GANTRY_FAIL) (ends the stream with an error event once it has started).
     */
    gantry_action_t (*invoke)(gantry_req_t *req, void *state, void *deployment);

    /* ABI 1.0 ends here. */

    /* --- ABI 1.2: cache (optional) --- */

    /* Forget `key` (/cache/delete).  Asynchronous removals need not be awaited. */
    void (*remove)(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key);
    /* Is the cache usable right now (/cache/ping)?  GANTRY_OK, or an error with a reason in
     * detail (NUL-terminated, at most len bytes).  Must not block: report what is known. */
    int (*health)(void *state, void *worker_state, char *detail, size_t len);

    /* ABI 1.2 ends here. */
} gantry_ops_t;

/* The descriptor: the only thing gantry_plugin_describe() returns. */
typedef struct gantry_plugin_desc {
    uint32_t size;
    uint16_t abi_major;   /* GANTRY_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;   /* GANTRY_ABI_MINOR the plugin was built with */
    gantry_kind_t kind;
    const char *name;     /* unique among loaded plugins, [a-z0-9_-]+; also the .so base name */
    const char *version;  /* the plugin's own version, free form */
    const char *summary;  /* one line for --help and logs */
    uint32_t flags;       /* none defined yet: 0 */
    const gantry_conf_field_t *config_fields;     /* keys of the instance's config block */
    const gantry_conf_field_t *deployment_fields; /* providers: extra litellm_params keys */
    const gantry_ops_t *ops;
    /* ABI 1.0 ends here. */
} gantry_plugin_desc_t;

/* The one exported symbol, by name and by type. */
#define GANTRY_PLUGIN_SYMBOL "gantry_plugin_describe"
typedef const gantry_plugin_desc_t *(*gantry_plugin_describe_fn)(void);

/* Declare the entry point in a plugin: GANTRY_PLUGIN(&my_descriptor); */
#define GANTRY_PLUGIN(desc_ptr)                                                   \
    GANTRY_EXPORT const gantry_plugin_desc_t *gantry_plugin_describe(void);        \
    GANTRY_EXPORT const gantry_plugin_desc_t *gantry_plugin_describe(void)         \
    {                                                                             \
        return (desc_ptr);                                                        \
    }

/* Released layouts never move. */
GANTRY_STATIC_ASSERT(offsetof(gantry_plugin_desc_t, ops) == 64, "ABI 1.0 descriptor layout is frozen");
GANTRY_STATIC_ASSERT(offsetof(gantry_ops_t, invoke) == 144, "ABI 1.0 ops layout is frozen");
GANTRY_STATIC_ASSERT(offsetof(gantry_error_t, retry_after_ms) == 80, "ABI 1.0 error layout is frozen");
GANTRY_STATIC_ASSERT(offsetof(gantry_frame_t, message_type) == 40, "ABI 1.0 frame layout is frozen");

#ifdef __cplusplus
}
#endif
#endif
