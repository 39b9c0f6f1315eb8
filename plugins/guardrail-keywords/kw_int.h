/*
 * keywords guardrail: internal declarations shared by the runtime (keywords.c), the stream checks
 * (kw_stream.c) and the configuration (kw_conf.c).  The matching itself is kw_match.h.
 */
#ifndef GANTRY_PLUGIN_KW_INT_H
#define GANTRY_PLUGIN_KW_INT_H

#include <gantry/gantry.h>

#include "kw_match.h"

/* Instance state: read-only after create(). */
typedef struct kw_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
    const char *name;
    kw_set_t set;
    kw_mem_t mem; /* the host's instance allocator, for the matcher */
    char *default_repl;
    bool on_request;
    bool on_response;
} kw_instance_t;

/* The held-back text of one choice of a stream. */
typedef struct kw_choice {
    struct kw_choice *next;
    int64_t index;
    kw_carry_t carry;
    bool done;
} kw_choice_t;

/* Per-request state (arena); the buffers inside are instance memory, freed by a cleanup hook. */
typedef struct kw_req {
    const kw_instance_t *ki;
    bool noted;
    kw_choice_t *choices;
    kw_buf_t out;
} kw_req_t;

/* keywords.c */
kw_req_t *kw_req_state(gantry_req_t *req, const kw_instance_t *ki);
void kw_note(gantry_req_t *req, const kw_instance_t *ki);
/* Turn a BLOCKED or NOMEM verdict into the request's error; returns GANTRY_FAIL. */
gantry_action_t kw_fail(gantry_req_t *req, const kw_instance_t *ki, kw_verdict_t v, size_t word,
                        bool request);
gantry_action_t kw_check_request(gantry_req_t *req, void *state, void *worker_state);
gantry_action_t kw_check_response(gantry_req_t *req, void *state, void *worker_state);

/* kw_stream.c */
gantry_action_t kw_check_chunk(gantry_req_t *req, void *state, void *worker_state,
                               gantry_json_t *chunk);

#endif
