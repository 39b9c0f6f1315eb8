/*
 * regex guardrail: internal declarations shared by the runtime (regex.c), the stream checks
 * (regex_stream.c) and the configuration (regex_conf.c).
 *
 * The header is not called regex.h on purpose: meson puts the source directory on the include
 * path, and a local regex.h would shadow the system's <regex.h>.
 */
#ifndef GANTRY_PLUGIN_REGEX_INT_H
#define GANTRY_PLUGIN_REGEX_INT_H

#include <gantry/gantry.h>

#include <regex.h>

/*
 * Bytes of earlier completion text re-checked, with the new text, for each streamed chunk: how
 * far back a block match may start before the chunk that completes it.  Each chunk costs one
 * regexec() over window + chunk per block pattern, so the window is what a stream pays per token:
 * measured on glibc 2.36, two patterns over a 64 KiB window cost ~210 us per chunk, seconds of
 * event-loop time for one long completion, while 1 KiB costs a few microseconds and still
 * catches any phrase that the model splits across chunks.
 */
#define RX_DEFAULT_STREAM_WINDOW 1024
#define RX_MAX_STREAM_WINDOW (64 * 1024)
/*
 * Masking one string stops at this many replacements per pattern and blocks the text instead:
 * the work per string stays bounded, and a guardrail that cannot finish must not let text through.
 */
#define RX_MAX_MATCHES 65536

/* One configured pattern.  Strings are borrowed from the configuration (instance lifetime). */
typedef struct rx_pattern {
    const char *name;
    const char *source; /* the POSIX ERE as written */
    int cflags;         /* REG_EXTENDED, maybe REG_ICASE; REG_NOSUB is added for block patterns */
    bool mask;          /* action: mask (else block) */
    gantry_str_t replacement; /* NUL-terminated */
    char *replacement_owned;  /* the default replacement, allocated with host->mem_alloc */
} rx_pattern_t;

/* Instance state: read-only after create(). */
typedef struct rx_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
    const char *name;
    rx_pattern_t *patterns;
    size_t npatterns;
    bool has_block;
    bool has_mask;
    bool on_request;
    bool on_response;
    size_t stream_window;
} rx_instance_t;

/*
 * Worker state.  glibc's regexec() takes a lock inside the compiled pattern, so sharing one
 * regex_t between workers would serialise them; each worker compiles its own copy instead.
 */
typedef struct rx_worker {
    regex_t *re; /* re[i] is patterns[i] */
    size_t n;
} rx_worker_t;

/* Per-choice accumulated completion text of a stream (arena memory). */
typedef struct rx_acc {
    struct rx_acc *next;
    int64_t index; /* choices[].index */
    char *buf;
    size_t len;
    size_t cap;
    bool dropped; /* text older than buf[0] was discarded */
} rx_acc_t;

/* Per-request state of an instance (arena memory, host->req_data). */
typedef struct rx_req {
    bool noted; /* the guardrail was already named in x-gantry-applied-guardrails */
    rx_acc_t *accs;
} rx_req_t;

/* Outcome of checking one text. */
typedef enum rx_result {
    RX_PASS = 0,     /* nothing to do, or masked */
    RX_BLOCKED = 1,  /* *hit names the block pattern that matched */
    RX_ERROR = 2,    /* the matcher or an allocation failed: fail closed */
    RX_TOO_MANY = 3, /* masking hit RX_MAX_MATCHES; *hit names the pattern */
} rx_result_t;

/* regex.c */
rx_req_t *rx_req_state(gantry_req_t *req, const rx_instance_t *rx);
void rx_note(gantry_req_t *req, const rx_instance_t *rx);
/*
 * Look for the block patterns in text[start, len) (bytes before `start` are context for ^ and
 * word boundaries).  RX_BLOCKED with *hit set on the first that matches.
 */
rx_result_t rx_block_scan(const rx_instance_t *rx, const rx_worker_t *ws, const char *text,
                          size_t start, size_t len, int eflags, const rx_pattern_t **hit);
/*
 * Check one JSON string node: block patterns on the original text, then every mask pattern in
 * order; a masked text replaces the node's value.  *masked is set when something was replaced.
 */
rx_result_t rx_check_string(gantry_req_t *req, const rx_instance_t *rx, const rx_worker_t *ws,
                            gantry_json_t *node, bool block, bool *masked,
                            const rx_pattern_t **hit);
/* Turn a non-PASS result into the request's error; returns GANTRY_FAIL. */
gantry_action_t rx_fail(gantry_req_t *req, const rx_instance_t *rx, rx_result_t res,
                        const rx_pattern_t *hit, const char *what);
/* The error for a callback that got no worker state (fail closed). */
gantry_action_t rx_no_worker(gantry_req_t *req, const rx_instance_t *rx);
gantry_action_t rx_check_request(gantry_req_t *req, void *state, void *worker_state);
gantry_action_t rx_check_response(gantry_req_t *req, void *state, void *worker_state);

/* regex_stream.c */
gantry_action_t rx_check_chunk(gantry_req_t *req, void *state, void *worker_state,
                               gantry_json_t *chunk);

/* regex_conf.c */
int rx_compile(const rx_pattern_t *p, regex_t *re);

#endif
