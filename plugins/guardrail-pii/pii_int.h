/*
 * pii guardrail: internal declarations shared by the runtime (pii.c), the stream checks
 * (pii_stream.c) and the configuration (pii_conf.c).  The scanning itself is pii_scan.h.
 */
#ifndef GANTRY_PLUGIN_PII_INT_H
#define GANTRY_PLUGIN_PII_INT_H

#include <gantry/gantry.h>

#include "pii_scan.h"

/* Instance state: read-only after create(). */
typedef struct pii_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
    const char *name;
    pii_rules_t rules;
    pii_mem_t mem; /* the host's instance allocator, for the scanner */
    char *repl_owned[PII_NENTITIES];
    bool on_request;
    bool on_response;
} pii_instance_t;

/* The held-back text of one choice of a stream. */
typedef struct pii_choice {
    struct pii_choice *next;
    int64_t index; /* choices[].index */
    pii_carry_t carry;
    bool done; /* its finish_reason went by: everything was released */
} pii_choice_t;

/* Per-request state of an instance (arena memory, host->req_data); the buffers inside are
 * instance memory, freed by a cleanup hook when the request ends. */
typedef struct pii_req {
    const pii_instance_t *pi;
    bool noted; /* the guardrail was already named in x-gantry-applied-guardrails */
    pii_choice_t *choices;
    pii_buf_t out; /* scratch for the masked text */
} pii_req_t;

/* pii.c */
pii_req_t *pii_req_state(gantry_req_t *req, const pii_instance_t *pi);
void pii_note(gantry_req_t *req, const pii_instance_t *pi);
/* Turn a BLOCKED or NOMEM verdict into the request's error; returns GANTRY_FAIL. */
gantry_action_t pii_fail(gantry_req_t *req, const pii_instance_t *pi, pii_verdict_t v,
                         pii_entity_t entity, const char *what);
gantry_action_t pii_check_request(gantry_req_t *req, void *state, void *worker_state);
gantry_action_t pii_check_response(gantry_req_t *req, void *state, void *worker_state);

/* pii_stream.c */
gantry_action_t pii_check_chunk(gantry_req_t *req, void *state, void *worker_state,
                                gantry_json_t *chunk);

#endif
