/*
 * guard: how the core runs guardrail instances - which ones a request selects, in which modes
 * (pre_call, during_call, post_call, logging_only), what a failing guardrail service means
 * (fail closed, or open), and verdicts that arrive later than the callback that asked for them
 * (during_call checks and stream windows: host->verdict_defer / verdict_deliver).
 */
#ifndef GANTRY_GUARD_H
#define GANTRY_GUARD_H

#include "gen.h"
#include "req.h"

#define GUARD_MAX_TICKETS 32

typedef struct guard_ticket {
    inst_t *in;
    unsigned flags;
    bool done;
} guard_ticket_t;

/* Per request (arena), created on first use. */
typedef struct guard_state {
    bool *on;   /* by instance slot: selected for this request */
    guard_ticket_t tickets[GUARD_MAX_TICKETS];
    int ntickets;
    int pending; /* tickets not delivered yet */
    int holding; /* of those, GANTRY_VERDICT_HOLD ones */
    bool failed;        /* a verdict blocked while the pipeline could not act on it at once */
    bool parked;        /* a non-streamed answer waits for verdicts */
    bool end_deferred;  /* the stream's end waits for verdicts */
} guard_state_t;

/* Read and remove the request's "guardrails" selection (["name", ...] to add, {"name": false} to
 * switch off); false with r->err set when it names an unknown guardrail or one that may not be
 * switched off. */
bool guard_select(req_t *r);
/* Whether instance `in` runs for r in one of the `modes`. */
bool guard_runs(const req_t *r, const inst_t *in, unsigned modes);
/* A guardrail's FAIL that is not a verdict (its service failed) becomes CONTINUE when the
 * guardrail fails open; logged either way. */
gantry_action_t guard_settle(req_t *r, inst_t *in, gantry_action_t act);

int guard_defer(req_t *r, inst_t *in, unsigned flags);
void guard_deliver(req_t *r, int ticket, gantry_action_t act);
/* Verdicts still outstanding (any / holding the response). */
int guard_pending(const req_t *r);
int guard_holding(const req_t *r);
/* For pipe.c: the response or the stream's end waits; guard_deliver() continues it. */
void guard_park(req_t *r);
void guard_defer_end(req_t *r);
bool guard_failed(const req_t *r);

/* LOG phase: logging_only guardrails mask the copy the loggers see. */
void guard_log_copy(req_t *r);

#endif
