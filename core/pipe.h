/*
 * pipe: the request pipeline (STYLE.md §2).  RECEIVE happens in the route handler, then
 * AUTH -> POLICY -> CACHE_LOOKUP -> GUARD_PRE -> ROUTE -> UPSTREAM -> STREAM (per chunk) ->
 * GUARD_POST -> CACHE_STORE -> LOG -> DONE.  Within a phase, plugins run in config order.  Any
 * plugin may PAUSE; host->resume() continues exactly where it stopped.
 */
#ifndef GANTRY_PIPE_H
#define GANTRY_PIPE_H

#include <gantry/host.h>

#include "req.h"
#include "upstream.h"
#include "policy.h"

/* A request as the policy rules see it, with the buffers its strings live in. */
typedef struct pipe_pol {
    pol_input_t in;
    char model[256], user[256];
    const char *tags[64];
} pipe_pol_t;

/* Fill pp for r (its strings point into pp and r: use while both live). */
void pipe_policy_input(req_t *r, pipe_pol_t *pp);

/* What runs after AUTH for routes that are not completions. */
typedef void (*pipe_op_fn)(req_t *r);

void pipe_start(req_t *r, pipe_op_fn op); /* op NULL: a chat completion */
void pipe_resume(req_t *r, gantry_action_t action);
/* Go on with the pipeline after the core's own asynchronous step (a history load). */
void pipe_continue(req_t *r);
void pipe_fail(req_t *r); /* answer with r->err (as a body or a final stream event) */

/* Close the open upstream attempt (router statistics); ok=false with no error set = abandoned. */
void pipe_attempt_end(req_t *r, bool ok);

/* Upstream callbacks (upstream.c). */
int pipe_upstream_frame(req_t *r, const gantry_frame_t *f);
void pipe_upstream_done(req_t *r, up_result_t res, int status, const char *body, size_t len,
                        const char *errtext, int64_t retry_after_ms);
bool pipe_output_full(req_t *r);

/* Host callbacks (host.c). */
/* Takes chunk; raw (may be NULL) is its unmodified JSON text, valid for the call. */
int pipe_stream_chunk(req_t *r, cJSON *chunk, const char *raw, size_t raw_len);
void pipe_stream_end(req_t *r);
int pipe_cache_hit(req_t *r, const char *value, size_t len);
void pipe_log(req_t *r);

/* Sending (respond.c). */
void resp_send_body(req_t *r, int status, const char *content_type, const char *body, size_t len);
void resp_stream_push(req_t *r, const char *bytes, size_t len, bool final);
void resp_send_error(req_t *r);
void resp_add_common_headers(req_t *r);
/* Send what a held stream collected while a verdict was outstanding (guard.c). */
void resp_stream_release(req_t *r);

#endif
