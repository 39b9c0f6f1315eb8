/* routes: the fixed HTTP routes; srv.c dispatches on the exact path (h2o's routes cannot change).
 */
#ifndef GANTRY_ROUTES_H
#define GANTRY_ROUTES_H

#include <h2o.h>

#include "req.h"
#include "srv.h"

/* Each returns 0 when it answers (now or later), as h2o handlers do. */
int api_openai_chat(worker_t *w, h2o_req_t *h);
int api_openai_models(worker_t *w, h2o_req_t *h);
/* GET /model/info and /v1/model/info: the deployments the caller may call, without secrets. */
int api_model_info(worker_t *w, h2o_req_t *h);
int api_anthropic_messages(worker_t *w, h2o_req_t *h);
int api_anthropic_count_tokens(worker_t *w, h2o_req_t *h);
/* Every POST /bedrock/model/{modelId}/{operation} (a prefix route, see srv.c). */
int api_bedrock(worker_t *w, h2o_req_t *h);
int api_openai_embeddings(worker_t *w, h2o_req_t *h);
int api_openai_completions(worker_t *w, h2o_req_t *h);
int health_live(worker_t *w, h2o_req_t *h);
int health_ready(worker_t *w, h2o_req_t *h);
int health_full(worker_t *w, h2o_req_t *h);
int routes_not_found(worker_t *w, h2o_req_t *h);
/* GET /cache/ping and POST /cache/delete (cache_api.c). */
int cache_route_ping(worker_t *w, h2o_req_t *h);
int cache_route_delete(worker_t *w, h2o_req_t *h);

/* LiteLLM's management and spend routes (gov_api.c): every path gov_is_route() claims. */
bool gov_is_route(const char *path, size_t len);
int gov_route(worker_t *w, h2o_req_t *h);

/* Background health checks on worker w (worker 0), for the generation it serves. */
void health_bg_start(worker_t *w, gen_t *g);
void health_bg_stop(void);

/* A request object for a route (request id from x-request-id or random). */
req_t *routes_new_req(worker_t *w, h2o_req_t *h, const char *route);

#endif
