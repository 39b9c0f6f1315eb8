/*
 * router: picks the deployment of a model group that serves a request.  The pick reads only the
 * generation (immutable) and per-deployment atomics, and draws from a per-worker generator: no lock.
 */
#ifndef GANTRY_ROUTER_H
#define GANTRY_ROUTER_H

#include "req.h"

deployment_t *rt_pick(req_t *r);
/* xorshift64* state, one per worker. */
uint64_t rt_rand(uint64_t *state);

#endif
