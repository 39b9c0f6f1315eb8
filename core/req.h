/*
 * req: one client request from arrival to the end of its LOG phase (gantry_req_t for plugins).
 *
 * Two sides keep a request alive: the client side (the h2o request, until h2o disposes it: response
 * written, or the client gone) and the work side (an upstream transfer, host timers, a paused
 * plugin).  req_maybe_finish() runs LOG and frees everything once both are done.  h2o may dispose
 * the request synchronously inside h2o_send(), so code that touches a request after calling out
 * holds `busy` (req_hold/req_release) and the free is deferred until the outermost release.
 */
#ifndef GANTRY_REQ_H
#define GANTRY_REQ_H

#include <cJSON.h>
#include <gantry/host.h>
#include <h2o.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "gen.h"
#include "util.h"

typedef struct worker worker_t;
typedef struct up_xfer up_xfer_t;
typedef struct gantry_req req_t;
typedef struct req_timer req_timer_t;
typedef struct api_fmt api_fmt_t;

typedef enum phase {
    PH_RECEIVE = 0,
    PH_AUTH,
    PH_POLICY,
    PH_CACHE_LOOKUP,
    PH_GUARD_PRE,
    PH_ROUTE,
    PH_UPSTREAM,
    PH_RESPONSE, /* GUARD_POST and CACHE_STORE, then the response is sent */
    PH_SENT,     /* response handed to h2o; waiting for it to be written */
    PH_DONE,
} phase_t;

typedef struct req_hdr {
    struct req_hdr *next;
    const char *name;
    size_t name_len;
    gantry_str_t value;
} req_hdr_t;

typedef struct req_cleanup {
    struct req_cleanup *next;
    gantry_cleanup_cb fn;
    void *arg;
} req_cleanup_t;

struct gantry_req {
    worker_t *w;
    gen_t *gen;
    h2o_req_t *h; /* NULL once h2o disposed the request */
    const api_fmt_t *api;
    const char *route;
    arena_t arena;

    int busy;         /* > 0 while code up the stack still uses the request */
    int pending;      /* host timers and other host-tracked async work */
    bool in_call;     /* inside a plugin callback (for resume() called before PAUSE returns) */
    bool paused;      /* a plugin returned PAUSE and has not resumed */
    int resume_early; /* -1, or the action passed to resume() inside the call */
    bool client_gone; /* the client went away before the response was complete */
    bool freed_pending;
    bool logged;
    phase_t phase;
    size_t pidx; /* next plugin within the phase */

    char id[72];
    size_t id_len;
    bool has_principal;
    gantry_principal_t principal;

    cJSON *body;            /* canonical request */
    cJSON *resp;            /* canonical response (non-streaming) */
    struct req_root *roots; /* request-owned JSON roots */
    size_t nroots, caproots;
    char *resp_raw; /* the upstream's bytes for r->resp while nothing modified it */
    size_t resp_raw_len;

    gantry_str_t model;
    group_t *group;
    deployment_t *dep;
    bool stream;
    bool include_usage; /* the client asked for the usage chunk */
    gantry_str_t end_user;

    bool failed;
    gantry_error_t err;
    int status;
    int attempts;

    /* cache */
    char cache_key[65];
    bool cacheable;
    bool cache_hit;
    char *cached;
    size_t cached_len;

    /* upstream */
    up_xfer_t *xfer;
    bool preparing; /* the provider's prepare() paused; resume(CONTINUE) calls it again */
    gantry_endpoint_t endpoint;
    struct hcall *hcalls; /* side HTTP calls of plugins in flight (hcall.c) */
    struct hist *hist;    /* chat history of an opted-in request (hist.c) */
    struct guard_state *guard; /* guardrail selection and deferred verdicts (guard.c) */
    bool hist_checked;
    bool cache_keyed;

    /* routing: attempts, retries and fallbacks (pipe.c) */
    deployment_t *attempt_dep; /* deployment of the attempt in progress (rt_begin done) */
    bool attempt_probe;        /* that attempt holds the deployment's half-open probe slot */
    int64_t attempt_start;
    const deployment_t *last_failed;
    const deployment_t *tried[8]; /* deployments that failed this request (retries go elsewhere) */
    int ntried;
    int retries;         /* retries made within the current model group */
    int req_num_retries; /* the request's own "num_retries"; -1 when absent */
    int fallbacks_used;
    bool fb_chosen; /* the fallback chain was picked (at the first exhausted group) */
    const char **fb_list;
    size_t fb_n, fb_i;
    gantry_error_t last_err; /* the latest upstream error, reported when nothing else answers */
    bool has_last_err;
    bool has_filter;
    struct rt_filter *filter;

    /* streaming output (double buffer: one being sent, one being filled) */
    h2o_generator_t generator;
    bool started;     /* response headers sent */
    bool sending;     /* an h2o_send is outstanding */
    bool stream_done; /* no more chunks will come */
    bool final_sent;
    buf_t out_fill, out_send;
    bool chunk_seen; /* a content chunk was emitted (first token time) */

    req_hdr_t *hdrs;
    char *guardrails;
    size_t guardrails_len;

    req_timer_t *timers;
    req_cleanup_t *cleanups;
    void **slots;

    /* watchdog for HTTP/1 clients that hang up while we wait (see srv.c) */
    req_t *wd_prev, *wd_next;
    bool in_wd;

    int64_t t_start, t_up_start, t_up_total, t_first, t_end, start_unix_ms;
    int64_t prompt_tokens, completion_tokens, total_tokens, cached_tokens;
    int64_t cache_write_tokens; /* usage.cache_creation_input_tokens (0 when not given) */

    struct gov_ctx *gov; /* governance: the caller's entities, limits and spend (gov_req.c) */

    /* The client API's per-request state (e.g. Anthropic stream translation), in the arena. */
    void *api_state;

    /* cache controls of this request (cache.c) and its streamed answer being assembled */
    bool cache_lookup;        /* the cache plugins are asked (not no-cache, mode, call type) */
    bool cache_store;         /* the answer is stored (not no-store, ...); cleared once stored */
    uint32_t cache_ttl_s;     /* the request's cache.ttl; 0: the cache's own default */
    int64_t cache_max_age_ms; /* cache.s-maxage: older entries are no hit; -1: any age */
    struct cache_acc *cache_acc;
};

/* Create a request for an h2o request on worker w (takes a generation reference). */
req_t *req_new(worker_t *w, h2o_req_t *h, const api_fmt_t *api, const char *route);
void req_hold(req_t *r);
void req_release(req_t *r); /* may free the request */
void req_maybe_finish(req_t *r);
/* The client side is gone (h2o disposed the request). */
void req_client_detached(req_t *r);
/* Abort work in progress: cancel the upstream transfer and host timers. */
void req_abort_work(req_t *r);

/*
 * Request-owned JSON roots.  A root parsed from text remembers that text (a borrowed view, valid as
 * long as its source) and the JSON mutation count at parse time, so an untouched document can be
 * sent on as the original bytes instead of being printed again.
 */
typedef struct req_root {
    cJSON *root;
    const char *src;
    size_t len;
    uint64_t mut;
} req_root_t;
/* Both take root; false means it could not be tracked and was already freed. */
bool req_own_json(req_t *r, cJSON *root);
bool req_own_json_src(req_t *r, cJSON *root, const char *src, size_t len, uint64_t mut);
bool req_disown_json(req_t *r, cJSON *root, req_root_t *info);

/* Set the request's error (copying strings into the arena). */
void req_set_error(req_t *r, int status, gantry_error_class_t cls, const char *type,
                   const char *code, const char *param, const char *msg);
int req_add_header(req_t *r, const char *name, const char *value, size_t len);
void req_note_guardrail(req_t *r, const char *name);

/* Record usage from a canonical response or chunk's "usage" object. */
void req_take_usage(req_t *r, const cJSON *usage);

int req_timer_start(req_t *r, uint64_t ms, gantry_timer_cb cb, void *arg);
void req_cancel_timers(req_t *r);

#endif
