/*
 * hist: chat history, what the reference deployment's middleware offered, built in.
 *
 * A request opts in with `"enable_history": true` (a new session) or `"session_id": "<id>"` (resume
 * or create), in the body or in Bedrock's `additionalModelRequestFields`.  The stored messages of
 * the session are put before the request's own, the answer is appended after it has been
 * delivered, and the session id comes back in `x-session-id`.  Sessions belong to the principal
 * (key) that created them; others cannot read or extend them.  Bounded per session (messages and
 * bytes, oldest dropped first), per key (sessions) and in time (ttl).
 */
#ifndef GANTRY_HIST_H
#define GANTRY_HIST_H

#include <cJSON.h>

#include "req.h"

/*
 * Called once the request's model group is known.  0: go on now (no history, or a new session);
 * 1: the stored session is being loaded and the pipeline continues by itself afterwards (through
 * pipe_continue()); -1: refused (r->err set).
 */
int hist_begin(req_t *r);
/* A streamed canonical chunk, for the answer to remember. */
void hist_chunk(req_t *r, const cJSON *chunk);
/* The request succeeded: store the new turns.  Called before the end of the answer is sent, so a
 * client's next turn cannot be loaded before this one is saved. */
void hist_finish(req_t *r);

/* The owner id of sessions made by r (its principal, or "anonymous" without auth); false when the
 * id does not fit in len. */
bool hist_owner(const req_t *r, char *out, size_t len);
#define HIST_MAX_OWNER 256

/* The routes: POST /chat-history, /bedrock/chat-history, /session-ids. */
int hist_route_messages(worker_t *w, h2o_req_t *h);
int hist_route_bedrock(worker_t *w, h2o_req_t *h);
int hist_route_sessions(worker_t *w, h2o_req_t *h);

#endif
