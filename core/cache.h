/*
 * cache: response caching in the core.  The cache plugins (memory, redis) only keep bytes under
 * keys; the core decides what a key covers, which requests look up and store, and what a stored
 * entry is:
 *
 *   cache_conf.c   LiteLLM's litellm_settings.cache / cache_params -> the cache instance's plugin
 *                  and config, and the settings every cache instance follows (mode, scope, ...).
 *   cache.c        the key, the request's `cache` controls, hits and stores (an envelope with the
 *                  creation time around the canonical response).
 *   cache_stream.c a streamed answer assembled into the canonical response as it passes, and a
 *                  cached response replayed as a stream through the client API's formatter.
 *   cache_api.c    GET /cache/ping and POST /cache/delete (declared in routes.h).
 *
 * Everything here runs on the request's worker thread, except cache_conf_* (main thread, while a
 * configuration loads).
 */
#ifndef GANTRY_CACHE_H
#define GANTRY_CACHE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

typedef struct gantry_req req_t;

/* ---- configuration (cache_conf.c) ---- */

/* Read litellm_settings.cache and cache_params into c->cache (defaults when absent); problems are
 * reported with cfg_error(). */
void cache_conf_load(cfg_t *c, const cfg_node_t *litellm_settings);
void cache_conf_free(cfg_t *c);

/* ---- the pipeline (cache.c) ---- */

/*
 * CACHE_LOOKUP, once per request: read and remove the body's `cache` controls, decide whether the
 * request looks up and stores (r->cache_lookup, r->cache_store) and compute r->cache_key.  False
 * with r->err set (400 naming the field) when a control is invalid.
 */
bool cache_begin(req_t *r);
/* Split an entry (bytes from a cache backend, possibly another gateway's or corrupt) into its
 * creation time and the response text inside; false when it is not an entry of ours. */
bool cache_entry_parse(const char *value, size_t len, int64_t *created_ms, const char **raw,
                       size_t *raw_len);
/* host->cache_hit(): a cache plugin found `value` (an entry written by cache_store_value()).
 * GANTRY_OK whether or not it is served (an entry older than s-maxage is quietly not a hit). */
int cache_take_hit(req_t *r, const char *value, size_t len);
/* Before a non-streamed answer is sent: store it, or, for a hit, report no upstream usage. */
void cache_response(req_t *r);

/* Store the canonical response `resp` (its text when already printed: raw, may be NULL). */
void cache_store_value(req_t *r, const cJSON *resp, const char *raw, size_t raw_len);

/* ---- streams (cache_stream.c) ---- */

/* Each chunk of a streamed answer as the client gets it (after the guardrails). */
void cache_chunk(req_t *r, const cJSON *chunk);
/* The stream ended cleanly: store the assembled answer. */
void cache_stream_done(req_t *r);
/* A hit for a streaming request: send r->resp as a stream and end it. */
void cache_replay(req_t *r);

#endif
