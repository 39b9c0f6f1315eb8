/*
 * cost: the model price table and the cost of one request.
 *
 * The table maps LiteLLM-style model keys ("gpt-4o", "gemini/gemini-2.5-pro",
 * "us.anthropic.claude-sonnet-4-20250514-v1:0") to per-token prices in USD, read from JSON in the
 * format of LiteLLM's model_prices_and_context_window.json and with its field names.  The default
 * table is config/model_prices.json, embedded into the binary at build time; an optional override
 * file in the same format (LiteLLM's own file works) is merged over it, its entries replacing the
 * default's entries of the same key and adding new ones.
 *
 * Per entry we read `litellm_provider`, `mode`, `input_cost_per_token`, `output_cost_per_token`,
 * `cache_read_input_token_cost`, `cache_creation_input_token_cost`, and one long-context tier
 * (`<any of those four>_above_<N>k_tokens`).  Other fields are ignored.  Entries that price
 * neither input nor output tokens (image generation, per-second audio, ...) are skipped.  Keys
 * starting with '_' (comments) and LiteLLM's "sample_spec" are skipped.  Anything else that is not
 * well formed refuses the whole file with one message naming the key and the field.
 *
 * Tables are immutable once built: cost_lookup() and cost_of() only read, so any thread may call
 * them at the same time without locks.  The table owns all its strings; a cost_price_t returned by
 * cost_lookup() lives as long as the table.
 */
#ifndef GANTRY_COST_H
#define GANTRY_COST_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg_node.h"

/* Largest table file we read (LiteLLM's full file is about 1.6 MB). */
#define COST_MAX_FILE_BYTES (64u << 20)

typedef enum cost_mode {
    COST_MODE_CHAT = 0,   /* "chat", "responses" and anything not listed below */
    COST_MODE_COMPLETION, /* "completion" */
    COST_MODE_EMBEDDING,  /* "embedding": only input tokens are charged */
} cost_mode_t;

/* One entry.  Prices are USD per token; < 0 means the entry does not give that price. */
typedef struct cost_price {
    const char *key;      /* the table key, e.g. "gpt-4o" */
    const char *provider; /* litellm_provider, e.g. "openai"; "" when absent */
    cost_mode_t mode;
    double input;       /* input_cost_per_token (0 when only the output is priced) */
    double output;      /* output_cost_per_token (0 when only the input is priced) */
    double cache_read;  /* cache_read_input_token_cost, or < 0 */
    double cache_write; /* cache_creation_input_token_cost, or < 0 */
    /* Long-context tier: when prompt_tokens > tier_tokens, each price the tier gives replaces the
     * base price for every token of the request (LiteLLM's *_above_<N>k_tokens).  0: no tier. */
    int64_t tier_tokens;
    double tier_input, tier_output, tier_cache_read, tier_cache_write; /* < 0: not given */
} cost_price_t;

typedef struct cost_table cost_table_t;

/*
 * Build a table from the embedded default, with the file at `override_path` merged over it (NULL
 * or "" for none).  On failure return NULL and write one message into err (always NUL-terminated
 * when errlen > 0), e.g. "prices.json: \"gpt-4o\".input_cost_per_token: must be a non-negative
 * number".  Free with cost_table_free().
 */
cost_table_t *cost_table_load(const char *override_path, char *err, size_t errlen);

/*
 * Build a table from JSON text alone (no default underneath); `name` is used in messages.  For
 * tests and tools.  Same errors and ownership as cost_table_load().
 */
cost_table_t *cost_table_parse(const char *name, const char *json, size_t len, char *err,
                               size_t errlen);

void cost_table_free(cost_table_t *t); /* NULL is fine */

size_t cost_table_count(const cost_table_t *t);

/* The i-th entry (0 <= i < count) in no particular order, for listing and tests. */
const cost_price_t *cost_table_entry(const cost_table_t *t, size_t i);

/*
 * The price of a deployment's model, or NULL when unknown.  `provider` is the deployment's prefix
 * ("openai", "bedrock", "gemini", ...; NULL or "" for none), `model_id` what follows it
 * ("gpt-4o", "us.anthropic.claude-sonnet-4-20250514-v1:0").  A deployment whose model name says
 * nothing about the real model (Azure deployment names, Bedrock ARNs) should pass
 * model_info.base_model as `model_id`.
 *
 * Candidates are tried in this order; the first key present wins:
 *   1. "<provider>/<model_id>", then "<model_id>"                    exact
 *   2. Bedrock only (provider "bedrock" or "bedrock_converse"): LiteLLM's route prefix
 *      "converse/" or "invoke/" is dropped and the rest tried as in 1; then the cross-region
 *      inference profile prefix ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", ...)
 *      is dropped and the base model id tried.  So "us.anthropic.X" (or "converse/us.anthropic.X")
 *      finds its own entry when the table has one (cross-region profiles are sometimes priced
 *      differently, e.g. +10% for Claude 4.5 regional profiles) and "anthropic.X" otherwise.
 *   3. Only when all of the above miss, a trailing date is dropped: "-YYYY-MM-DD", "-YYYYMMDD" or
 *      "@YYYYMMDD" ("gpt-4o-2024-11-20" -> "gpt-4o"), then "<provider>/<undated>", "<undated>".
 *      Dates inside Bedrock ids ("...-20250514-v1:0") are not touched.
 * Keys compare case-sensitively, as LiteLLM's do.
 */
const cost_price_t *cost_lookup(const cost_table_t *t, const char *provider, const char *model_id);

/* What a request used, in the canonical (OpenAI-shaped) usage of sdk/CANONICAL.md. */
typedef struct cost_usage {
    int64_t prompt_tokens;      /* all input tokens, including cache reads and writes */
    int64_t completion_tokens;  /* includes reasoning tokens */
    int64_t cache_read_tokens;  /* prompt_tokens_details.cached_tokens */
    int64_t cache_write_tokens; /* cache_creation_input_tokens */
    bool input_only;            /* an embeddings request: completion tokens are not charged */
} cost_usage_t;

/*
 * Fill *u from a canonical `usage` object: prompt_tokens, completion_tokens,
 * prompt_tokens_details.cached_tokens (else cache_read_input_tokens) and
 * cache_creation_input_tokens; missing members read as 0.  input_only is left false.  Returns 0,
 * or -1 (and *u zeroed) when `usage` is not an object.
 */
int cost_usage_from_json(const cJSON *usage, cost_usage_t *u);

/* Prices a deployment sets itself (litellm_params or model_info); < 0: not set. */
typedef struct cost_override {
    double input, output, cache_read, cache_write;
} cost_override_t;

#define COST_OVERRIDE_NONE ((cost_override_t){-1, -1, -1, -1})

/*
 * Read input_cost_per_token, output_cost_per_token, cache_read_input_token_cost and
 * cache_creation_input_token_cost from `litellm_params`, else from `model_info` (either may be
 * NULL).  Values that are not non-negative numbers are left unset (the config schema reports them).
 */
cost_override_t cost_override_from_config(const cfg_node_t *litellm_params,
                                          const cfg_node_t *model_info);

typedef struct cost_breakdown {
    double input;       /* prompt tokens that were neither read from nor written to a cache */
    double cache_read;  /* cache_read_tokens */
    double cache_write; /* cache_write_tokens */
    double output;      /* completion_tokens */
    double total;
} cost_breakdown_t;

/*
 * The cost of one request in USD.  `price` may be NULL (model not in the table) and `ov` may be
 * NULL (no deployment prices).  Each price the deployment sets wins over the table's; if it sets
 * the input or output price, the table's long-context tier is not applied (the deployment named a
 * flat price).  A cache price that neither gives is the input price (cache tokens are never free
 * by omission; this over- rather than under-counts a budget).  Uncached input tokens are
 * prompt_tokens - cache_read_tokens - cache_write_tokens, never below 0; negative counts read as 0.
 * Embedding entries and input_only usage charge no output.
 *
 * Returns 0 and fills *out, or -1 (and *out zeroed) when neither `price` nor `ov` gives an input
 * or output price: the cost is unknown, not zero.
 */
int cost_of(const cost_price_t *price, const cost_override_t *ov, const cost_usage_t *u,
            cost_breakdown_t *out);

#endif
