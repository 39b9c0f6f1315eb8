/*
 * Unit tests for core/cost.c: the shipped price table (every entry loads, with non-negative
 * prices equal to the file's), lookups (exact, provider-prefixed keys, Bedrock route and region
 * prefixes, dropped dates, unknown models), the arithmetic with and without cache tokens and
 * long-context tiers, deployment overrides, canonical usage parsing, override files, and malformed
 * tables refused with a message naming the fault.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg_node.h"
#include "check.h"
#include "cost.h"

#define NEAR(a, b) (fabs((a) - (b)) <= 1e-12 + 1e-9 * fabs(b))

static char srcdir[4096];

/* The repository root: $GANTRY_SOURCE_DIR, or derived from this file's path (meson compiles from
 * the build directory, and meson test runs there too). */
static void find_srcdir(void)
{
    const char *env = getenv("GANTRY_SOURCE_DIR");
    if (env != NULL && env[0] != '\0') {
        snprintf(srcdir, sizeof srcdir, "%s", env);
        return;
    }
    snprintf(srcdir, sizeof srcdir, "%s", __FILE__);
    char *p = strstr(srcdir, "tests/unit/test_cost.c");
    if (p == srcdir)
        snprintf(srcdir, sizeof srcdir, ".");
    else if (p != NULL)
        p[-1] = '\0';
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(1 << 20);
    *len = buf != NULL ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf != NULL)
        buf[*len] = '\0';
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

static const char *key_of(const cost_table_t *t, const char *provider, const char *model)
{
    const cost_price_t *p = cost_lookup(t, provider, model);
    return p != NULL ? p->key : "(none)";
}

/* ---- The shipped table ----------------------------------------------------------------------- */

static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* An entry that prices only one side charges 0 for the other. */
static double absent0(double v)
{
    return v < 0 ? 0 : v;
}

static void test_shipped(void)
{
    char err[512] = "";
    cost_table_t *t = cost_table_load(NULL, err, sizeof err);
    if (t == NULL)
        fprintf(stderr, "default table: %s\n", err);
    CHECK(t != NULL);

    char path[4200];
    snprintf(path, sizeof path, "%s/config/model_prices.json", srcdir);
    size_t len = 0;
    char *text = slurp(path, &len);
    CHECK(text != NULL);
    cJSON *root = text != NULL ? cJSON_Parse(text) : NULL;
    CHECK(cJSON_IsObject(root));
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "_comment")));

    /* Every entry of the file is in the table with the file's numbers, all of them >= 0. */
    size_t entries = 0, bad = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        if (e->string[0] == '_')
            continue;
        entries++;
        const cost_price_t *p = cost_lookup(t, NULL, e->string);
        const char *prov =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "litellm_provider"));
        bool ok = p != NULL && strcmp(p->key, e->string) == 0 && prov != NULL &&
                  strcmp(p->provider, prov) == 0 && p->input >= 0 && p->output >= 0 &&
                  p->input == absent0(num(e, "input_cost_per_token")) &&
                  p->output == absent0(num(e, "output_cost_per_token")) &&
                  p->cache_read == num(e, "cache_read_input_token_cost") &&
                  p->cache_write == num(e, "cache_creation_input_token_cost") &&
                  (p->cache_read == -1 || p->cache_read >= 0) &&
                  (p->cache_write == -1 || p->cache_write >= 0) && p->tier_tokens >= 0 &&
                  (p->tier_tokens == 0 || p->tier_input >= 0 || p->tier_output >= 0 ||
                   p->tier_cache_read >= 0 || p->tier_cache_write >= 0);
        if (!ok) {
            fprintf(stderr, "shipped entry \"%s\" does not load as written\n", e->string);
            bad++;
        }
    }
    CHECK(bad == 0);
    CHECK(entries >= 100);
    CHECK(cost_table_count(t) == entries);
    for (size_t i = 0; i < cost_table_count(t); i++) {
        const cost_price_t *p = cost_table_entry(t, i);
        CHECK(p != NULL && p->input >= 0 && p->output >= 0);
    }
    CHECK(cost_table_entry(t, cost_table_count(t)) == NULL);

    /* A few prices everybody knows, straight from the file. */
    const cost_price_t *p = cost_lookup(t, "openai", "gpt-4o");
    CHECK(p != NULL && p->input == 2.5e-06 && p->output == 1e-05 && p->cache_read == 1.25e-06);
    CHECK(p != NULL && strcmp(p->provider, "openai") == 0 && p->mode == COST_MODE_CHAT);
    p = cost_lookup(t, "openai", "text-embedding-3-small");
    CHECK(p != NULL && p->mode == COST_MODE_EMBEDDING && p->input == 2e-08);
    p = cost_lookup(t, "text-completion-openai", "gpt-3.5-turbo-instruct");
    CHECK(p != NULL && p->mode == COST_MODE_COMPLETION);
    p = cost_lookup(t, "gemini", "gemini-2.5-pro");
    CHECK(p != NULL && p->tier_tokens == 200000 && p->tier_input == 2.5e-06);

    /* The shipped file as an override of itself: every key replaced, none doubled. */
    cost_table_t *t2 = cost_table_load(path, err, sizeof err);
    CHECK(t2 != NULL && cost_table_count(t2) == entries);
    cost_table_free(t2);

    cJSON_Delete(root);
    free(text);
    cost_table_free(t);
}

/* ---- Lookups --------------------------------------------------------------------------------- */

static void test_lookup(void)
{
    char err[512];
    cost_table_t *t = cost_table_load(NULL, err, sizeof err);
    CHECK(t != NULL);

    /* Exact ids, and LiteLLM's "<provider>/<id>" keys. */
    CHECK_STR(key_of(t, "openai", "gpt-4o"), "gpt-4o");
    CHECK_STR(key_of(t, NULL, "gpt-4o-mini"), "gpt-4o-mini");
    CHECK_STR(key_of(t, "", "o3-mini"), "o3-mini");
    CHECK_STR(key_of(t, "anthropic", "claude-sonnet-4-5-20250929"), "claude-sonnet-4-5-20250929");
    CHECK_STR(key_of(t, "gemini", "gemini-2.5-pro"), "gemini/gemini-2.5-pro");
    CHECK_STR(key_of(t, "vertex_ai", "gemini-2.5-pro"), "gemini-2.5-pro");
    CHECK_STR(key_of(t, "groq", "openai/gpt-oss-120b"), "groq/openai/gpt-oss-120b");
    CHECK_STR(key_of(t, "mistral", "mistral-large-latest"), "mistral/mistral-large-latest");
    CHECK_STR(key_of(t, "deepseek", "deepseek-chat"), "deepseek/deepseek-chat");
    CHECK_STR(key_of(t, "xai", "grok-3-mini"), "xai/grok-3-mini");
    CHECK_STR(key_of(t, NULL, "xai/grok-3-mini"), "xai/grok-3-mini");
    /* Azure and other OpenAI-compatible hosts fall back to the bare id. */
    CHECK_STR(key_of(t, "azure", "gpt-4.1-mini"), "gpt-4.1-mini");

    /* Bedrock: a cross-region profile with its own price is found as such ... */
    const cost_price_t *p =
        cost_lookup(t, "bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    CHECK(p != NULL && strcmp(p->key, "us.anthropic.claude-sonnet-4-5-20250929-v1:0") == 0);
    CHECK(p != NULL && p->input == 3.3e-06);
    CHECK_STR(key_of(t, "bedrock", "global.anthropic.claude-haiku-4-5-20251001-v1:0"),
              "global.anthropic.claude-haiku-4-5-20251001-v1:0");
    /* ... else the base model's entry. */
    CHECK_STR(key_of(t, "bedrock", "apac.anthropic.claude-3-haiku-20240307-v1:0"),
              "anthropic.claude-3-haiku-20240307-v1:0");
    CHECK_STR(key_of(t, "bedrock", "jp.anthropic.claude-haiku-4-5-20251001-v1:0"),
              "anthropic.claude-haiku-4-5-20251001-v1:0");
    CHECK_STR(key_of(t, "bedrock", "us-gov.amazon.titan-embed-text-v2:0"),
              "amazon.titan-embed-text-v2:0");
    CHECK_STR(key_of(t, "bedrock_converse", "apac.amazon.nova-micro-v1:0"),
              "amazon.nova-micro-v1:0");
    /* LiteLLM's route prefixes: the profile after the route still wins over the base model. */
    CHECK_STR(key_of(t, "bedrock", "converse/eu.amazon.nova-lite-v1:0"),
              "eu.amazon.nova-lite-v1:0");
    CHECK_STR(key_of(t, "bedrock", "converse/apac.amazon.nova-lite-v1:0"), "amazon.nova-lite-v1:0");
    CHECK_STR(key_of(t, "bedrock", "invoke/anthropic.claude-3-haiku-20240307-v1:0"),
              "anthropic.claude-3-haiku-20240307-v1:0");
    CHECK_STR(key_of(t, "bedrock", "invoke/us.meta.llama3-3-70b-instruct-v1:0"),
              "us.meta.llama3-3-70b-instruct-v1:0");
    /* Region prefixes mean nothing outside Bedrock, and only known ones are dropped. */
    CHECK(cost_lookup(t, "openai", "apac.anthropic.claude-3-haiku-20240307-v1:0") == NULL);
    CHECK(cost_lookup(t, "bedrock", "mars.anthropic.claude-3-haiku-20240307-v1:0") == NULL);

    /* A trailing date goes only when the dated id is missing. */
    p = cost_lookup(t, "openai", "gpt-4o-2024-05-13");
    CHECK(p != NULL && strcmp(p->key, "gpt-4o-2024-05-13") == 0 && p->input == 5e-06);
    CHECK_STR(key_of(t, "openai", "gpt-4o-2099-01-01"), "gpt-4o");
    CHECK_STR(key_of(t, "anthropic", "claude-haiku-4-5-20991231"), "claude-haiku-4-5");
    CHECK_STR(key_of(t, "vertex_ai", "claude-opus-4-1@20250805"), "claude-opus-4-1");
    CHECK_STR(key_of(t, "gemini", "gemini-2.5-flash-20990101"), "gemini/gemini-2.5-flash");
    /* Dates inside Bedrock ids and things that only look like dates stay. */
    CHECK(cost_lookup(t, "bedrock", "anthropic.claude-sonnet-4-20990101-v1:0") == NULL);
    CHECK(cost_lookup(t, "openai", "gpt-4o-12345678") == NULL);
    CHECK(cost_lookup(t, "openai", "gpt-4o-2024-1-011") == NULL);
    CHECK(cost_lookup(t, "openai", "-20240101") == NULL);

    /* Unknown models and bad arguments. */
    CHECK(cost_lookup(t, "openai", "gpt-nonexistent") == NULL);
    CHECK(cost_lookup(t, "bedrock", "us.nothing.here-v1:0") == NULL);
    CHECK(cost_lookup(t, "bedrock", "converse/") == NULL);
    CHECK(cost_lookup(t, "openai", "") == NULL);
    CHECK(cost_lookup(t, "openai", NULL) == NULL);
    CHECK(cost_lookup(NULL, "openai", "gpt-4o") == NULL);
    CHECK(cost_lookup(t, "openai", "GPT-4O") == NULL);
    CHECK(cost_lookup(t, "gpt-4o", "") == NULL);
    /* Prefix matches are not matches. */
    CHECK(cost_lookup(t, "openai", "gpt-4") == NULL);
    CHECK(cost_lookup(t, "gemini", "gemini/gemini-2.5-pro-x") == NULL);
    cost_table_free(t);
}

/* ---- Arithmetic ------------------------------------------------------------------------------ */

static const char test_table[] =
    "{\n"
    "  \"_comment\": \"test prices\",\n"
    "  \"sample_spec\": {\"input_cost_per_token\": \"ignored\"},\n"
    "  \"m\": {\"litellm_provider\": \"x\", \"mode\": \"chat\", \"input_cost_per_token\": 1e-6,\n"
    "         \"output_cost_per_token\": 2e-6, \"cache_read_input_token_cost\": 1e-7,\n"
    "         \"cache_creation_input_token_cost\": 1.25e-6},\n"
    "  \"nocache\": {\"litellm_provider\": \"x\", \"input_cost_per_token\": 1e-6,\n"
    "               \"output_cost_per_token\": 2e-6},\n"
    "  \"long\": {\"litellm_provider\": \"x\", \"input_cost_per_token\": 1e-6,\n"
    "            \"output_cost_per_token\": 2e-6, \"cache_read_input_token_cost\": 1e-7,\n"
    "            \"input_cost_per_token_above_200k_tokens\": 2e-6,\n"
    "            \"output_cost_per_token_above_200k_tokens\": 3e-6,\n"
    "            \"cache_read_input_token_cost_above_200k_tokens\": 2e-7,\n"
    "            \"cache_creation_input_token_cost_above_1hr\": 9,\n"
    "            \"input_cost_per_token_above_200k_tokens_priority\": 9},\n"
    "  \"emb\": {\"litellm_provider\": \"x\", \"mode\": \"embedding\", \"input_cost_per_token\": "
    "1e-7},\n"
    "  \"outonly\": {\"output_cost_per_token\": 4e-6},\n"
    "  \"image\": {\"litellm_provider\": \"x\", \"mode\": \"image_generation\",\n"
    "             \"output_cost_per_image\": 0.04}\n"
    "}\n";

static void test_arithmetic(void)
{
    char err[512] = "";
    cost_table_t *t =
        cost_table_parse("test.json", test_table, strlen(test_table), err, sizeof err);
    if (t == NULL)
        fprintf(stderr, "%s\n", err);
    CHECK(t != NULL);
    /* Comments, sample_spec and entries not priced per token are not in the table. */
    CHECK(cost_table_count(t) == 5);
    CHECK(cost_lookup(t, NULL, "image") == NULL);
    CHECK(cost_lookup(t, NULL, "sample_spec") == NULL);
    CHECK(cost_lookup(t, NULL, "_comment") == NULL);

    const cost_price_t *m = cost_lookup(t, NULL, "m");
    cost_breakdown_t b;

    /* No cache tokens. */
    cost_usage_t u = {.prompt_tokens = 1000, .completion_tokens = 500};
    CHECK(cost_of(m, NULL, &u, &b) == 0);
    CHECK(NEAR(b.input, 1e-3) && NEAR(b.output, 1e-3) && b.cache_read == 0 && b.cache_write == 0);
    CHECK(NEAR(b.total, 2e-3));

    /* Cache reads and writes are part of prompt_tokens and priced on their own. */
    u = (cost_usage_t){.prompt_tokens = 1000,
                       .completion_tokens = 500,
                       .cache_read_tokens = 600,
                       .cache_write_tokens = 100};
    CHECK(cost_of(m, NULL, &u, &b) == 0);
    CHECK(NEAR(b.input, 300 * 1e-6));
    CHECK(NEAR(b.cache_read, 600 * 1e-7));
    CHECK(NEAR(b.cache_write, 100 * 1.25e-6));
    CHECK(NEAR(b.output, 500 * 2e-6));
    CHECK(NEAR(b.total, 300 * 1e-6 + 600 * 1e-7 + 100 * 1.25e-6 + 500 * 2e-6));

    /* Without cache prices, cache tokens cost what input tokens cost. */
    const cost_price_t *nc = cost_lookup(t, NULL, "nocache");
    CHECK(cost_of(nc, NULL, &u, &b) == 0);
    CHECK(NEAR(b.input, 300e-6) && NEAR(b.cache_read, 600e-6) && NEAR(b.cache_write, 100e-6));
    CHECK(NEAR(b.total, 1000e-6 + 1000e-6));

    /* Inconsistent counts: never a negative uncached part; negative counts read as 0. */
    u = (cost_usage_t){.prompt_tokens = 100, .cache_read_tokens = 80, .cache_write_tokens = 50};
    CHECK(cost_of(m, NULL, &u, &b) == 0);
    CHECK(b.input == 0 && NEAR(b.cache_read, 80e-7) && NEAR(b.cache_write, 50 * 1.25e-6));
    u = (cost_usage_t){.prompt_tokens = -5, .completion_tokens = -1, .cache_read_tokens = -3};
    CHECK(cost_of(m, NULL, &u, &b) == 0 && b.total == 0);
    u = (cost_usage_t){0};
    CHECK(cost_of(m, NULL, &u, &b) == 0 && b.total == 0);

    /* Long-context tier: above the threshold every token takes the tier price. */
    const cost_price_t *lg = cost_lookup(t, NULL, "long");
    CHECK(lg != NULL && lg->tier_tokens == 200000 && lg->tier_cache_write == -1);
    u = (cost_usage_t){.prompt_tokens = 200000, .completion_tokens = 10};
    CHECK(cost_of(lg, NULL, &u, &b) == 0);
    CHECK(NEAR(b.input, 200000 * 1e-6) && NEAR(b.output, 10 * 2e-6));
    u = (cost_usage_t){.prompt_tokens = 200001,
                       .completion_tokens = 10,
                       .cache_read_tokens = 1,
                       .cache_write_tokens = 1};
    CHECK(cost_of(lg, NULL, &u, &b) == 0);
    CHECK(NEAR(b.input, 199999 * 2e-6) && NEAR(b.output, 10 * 3e-6));
    /* The tier gives a cache read price but no cache write price: writes fall to the tier input. */
    CHECK(NEAR(b.cache_read, 2e-7) && NEAR(b.cache_write, 2e-6));

    /* Embeddings charge input only, by mode or by the request. */
    const cost_price_t *emb = cost_lookup(t, NULL, "emb");
    CHECK(emb != NULL && emb->output == 0 && emb->mode == COST_MODE_EMBEDDING);
    u = (cost_usage_t){.prompt_tokens = 1000, .completion_tokens = 1000};
    CHECK(cost_of(emb, NULL, &u, &b) == 0 && NEAR(b.total, 1000 * 1e-7) && b.output == 0);
    u.input_only = true;
    CHECK(cost_of(m, NULL, &u, &b) == 0 && NEAR(b.total, 1000 * 1e-6) && b.output == 0);

    /* An entry with only an output price charges input as 0. */
    const cost_price_t *oo = cost_lookup(t, NULL, "outonly");
    CHECK(oo != NULL && oo->input == 0 && strcmp(oo->provider, "") == 0);
    u = (cost_usage_t){.prompt_tokens = 10, .completion_tokens = 10};
    CHECK(cost_of(oo, NULL, &u, &b) == 0 && b.input == 0 && NEAR(b.output, 40e-6));

    /* A real one: Claude Sonnet 4.5 with prompt caching. */
    cost_table_t *def = cost_table_load(NULL, err, sizeof err);
    const cost_price_t *s45 = cost_lookup(def, "anthropic", "claude-sonnet-4-5");
    u = (cost_usage_t){.prompt_tokens = 10000,
                       .completion_tokens = 500,
                       .cache_read_tokens = 8000,
                       .cache_write_tokens = 1000};
    CHECK(s45 != NULL && cost_of(s45, NULL, &u, &b) == 0);
    CHECK(NEAR(b.total, 1000 * 3e-6 + 8000 * 3e-7 + 1000 * 3.75e-6 + 500 * 1.5e-5));
    CHECK(NEAR(b.total, 0.01665));
    cost_table_free(def);
    cost_table_free(t);
}

/* ---- Overrides ------------------------------------------------------------------------------- */

static void test_overrides(void)
{
    char err[512];
    cost_table_t *t =
        cost_table_parse("test.json", test_table, strlen(test_table), err, sizeof err);
    const cost_price_t *m = cost_lookup(t, NULL, "m");
    const cost_price_t *lg = cost_lookup(t, NULL, "long");
    cost_breakdown_t b;
    cost_usage_t u = {.prompt_tokens = 1000,
                      .completion_tokens = 500,
                      .cache_read_tokens = 600,
                      .cache_write_tokens = 100};

    /* Each price the deployment sets wins; the others come from the table. */
    cost_override_t ov = COST_OVERRIDE_NONE;
    ov.input = 5e-6;
    CHECK(cost_of(m, &ov, &u, &b) == 0);
    CHECK(NEAR(b.input, 300 * 5e-6) && NEAR(b.output, 500 * 2e-6));
    CHECK(NEAR(b.cache_read, 600 * 1e-7) && NEAR(b.cache_write, 100 * 1.25e-6));
    ov = (cost_override_t){.input = 0, .output = 1e-5, .cache_read = 0, .cache_write = 2e-6};
    CHECK(cost_of(m, &ov, &u, &b) == 0);
    CHECK(b.input == 0 && b.cache_read == 0 && NEAR(b.cache_write, 2e-4) && NEAR(b.output, 5e-3));
    /* An override that sets nothing changes nothing. */
    ov = COST_OVERRIDE_NONE;
    CHECK(cost_of(m, &ov, &u, &b) == 0 && NEAR(b.total, 300e-6 + 60e-6 + 125e-6 + 1000e-6));

    /* A model missing from the table is priced by the deployment alone ... */
    ov = COST_OVERRIDE_NONE;
    ov.output = 1e-6;
    CHECK(cost_of(NULL, &ov, &u, &b) == 0);
    CHECK(b.input == 0 && b.cache_read == 0 && b.cache_write == 0 && NEAR(b.output, 500e-6));
    ov.input = 2e-6;
    CHECK(cost_of(NULL, &ov, &u, &b) == 0);
    CHECK(NEAR(b.input, 300 * 2e-6) && NEAR(b.cache_read, 600 * 2e-6));
    /* ... and without either the cost is unknown, not zero. */
    ov = COST_OVERRIDE_NONE;
    b.total = 123;
    CHECK(cost_of(NULL, &ov, &u, &b) == -1 && b.total == 0);
    CHECK(cost_of(NULL, NULL, &u, &b) == -1);
    ov.cache_read = 1e-7; /* cache prices alone do not make a price */
    CHECK(cost_of(NULL, &ov, &u, &b) == -1);

    /* A flat deployment price switches the long-context tier off. */
    u = (cost_usage_t){.prompt_tokens = 300000, .completion_tokens = 10};
    ov = COST_OVERRIDE_NONE;
    ov.output = 1e-6;
    CHECK(cost_of(lg, &ov, &u, &b) == 0);
    CHECK(NEAR(b.input, 300000 * 1e-6) && NEAR(b.output, 10e-6));
    ov = COST_OVERRIDE_NONE;
    ov.cache_read = 0; /* only a cache price: the tier stays */
    CHECK(cost_of(lg, &ov, &u, &b) == 0 && NEAR(b.input, 300000 * 2e-6));

    /* From the config: litellm_params first, then model_info; junk is left unset. */
    const char *yaml = "litellm_params:\n"
                       "  model: openai/gpt-4o\n"
                       "  input_cost_per_token: 0.000001\n"
                       "  cache_creation_input_token_cost: nope\n"
                       "model_info:\n"
                       "  input_cost_per_token: 0.000009\n"
                       "  output_cost_per_token: 2\n"
                       "  cache_read_input_token_cost: 1.0e-7\n"
                       "  cache_creation_input_token_cost: -1\n";
    cfg_doc_t *doc = cfg_doc_load_mem("d.yaml", yaml, strlen(yaml), NULL, NULL, err, sizeof err);
    CHECK(doc != NULL);
    if (doc != NULL) {
        ov = cost_override_from_config(cfg_map_get(doc->root, "litellm_params"),
                                       cfg_map_get(doc->root, "model_info"));
        CHECK(ov.input == 1e-6 && ov.output == 2 && ov.cache_read == 1e-7 && ov.cache_write < 0);
        ov = cost_override_from_config(NULL, cfg_map_get(doc->root, "model_info"));
        CHECK(ov.input == 9e-6);
        cfg_doc_free(doc);
    }
    ov = cost_override_from_config(NULL, NULL);
    CHECK(ov.input < 0 && ov.output < 0 && ov.cache_read < 0 && ov.cache_write < 0);
    cost_table_free(t);
}

/* ---- Usage ----------------------------------------------------------------------------------- */

static void test_usage(void)
{
    cost_usage_t u;
    cJSON *j = cJSON_Parse("{\"prompt_tokens\":100,\"completion_tokens\":20,\"total_tokens\":120,"
                           "\"prompt_tokens_details\":{\"cached_tokens\":30},"
                           "\"cache_read_input_tokens\":31,\"cache_creation_input_tokens\":10}");
    CHECK(cost_usage_from_json(j, &u) == 0);
    CHECK(u.prompt_tokens == 100 && u.completion_tokens == 20 && u.cache_read_tokens == 30 &&
          u.cache_write_tokens == 10 && !u.input_only);
    cJSON_Delete(j);

    /* Anthropic-style reads without prompt_tokens_details; embeddings usage; junk. */
    j = cJSON_Parse("{\"prompt_tokens\":100,\"cache_read_input_tokens\":40}");
    CHECK(cost_usage_from_json(j, &u) == 0 && u.cache_read_tokens == 40 &&
          u.completion_tokens == 0);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"prompt_tokens\":8,\"total_tokens\":8}");
    CHECK(cost_usage_from_json(j, &u) == 0 && u.prompt_tokens == 8 && u.cache_read_tokens == 0);
    cJSON_Delete(j);
    j = cJSON_Parse(
        "{\"prompt_tokens\":-4,\"completion_tokens\":\"7\",\"cache_creation_input_tokens\":"
        "1e300}");
    CHECK(cost_usage_from_json(j, &u) == 0 && u.prompt_tokens == 0 && u.completion_tokens == 0 &&
          u.cache_write_tokens == INT64_MAX);
    cJSON_Delete(j);
    j = cJSON_Parse("[1]");
    u.prompt_tokens = 5;
    CHECK(cost_usage_from_json(j, &u) == -1 && u.prompt_tokens == 0);
    CHECK(cost_usage_from_json(NULL, &u) == -1);
    cJSON_Delete(j);
}

/* ---- Malformed tables and override files ----------------------------------------------------- */

static void refused(const char *json, const char *want)
{
    char err[512] = "";
    cost_table_t *t = cost_table_parse("bad.json", json, strlen(json), err, sizeof err);
    CHECK(t == NULL);
    if (strstr(err, want) == NULL)
        fprintf(stderr, "for %s\n  got:  %s\n  want: %s\n", json, err, want);
    CHECK(strstr(err, want) != NULL);
    cost_table_free(t);
}

static void test_malformed(void)
{
    refused("{\"m\": {\"input_cost_per_token\": 1e-6,}", "bad.json:1:");
    /* cJSON reports a truncated document at its last character. */
    refused("{\"m\":\n  {\"input_cost_per_token\": 1e-6\n", "bad.json:2:32: not valid JSON");
    refused("", "not valid JSON");
    refused("[]", "bad.json: must be a JSON object mapping model names to prices");
    refused("{\"m\": 3}", "bad.json: \"m\": must be an object of prices");
    refused("{\"m\": {\"input_cost_per_token\": -1e-6}}",
            "bad.json: \"m\".input_cost_per_token: must be a non-negative number");
    refused("{\"m\": {\"output_cost_per_token\": \"2e-6\"}}",
            "\"m\".output_cost_per_token: must be a non-negative number");
    refused("{\"m\": {\"input_cost_per_token\": 1, \"cache_read_input_token_cost\": null}}",
            "\"m\".cache_read_input_token_cost: must be a non-negative number");
    refused("{\"m\": {\"input_cost_per_token\": 1e999}}", "must be a non-negative number");
    refused(
        "{\"m\": {\"input_cost_per_token\": 1, \"input_cost_per_token_above_128k_tokens\": -2}}",
        "\"m\".input_cost_per_token_above_128k_tokens: must be a non-negative number");
    refused("{\"m\": {\"input_cost_per_token\": 1, \"litellm_provider\": 7}}",
            "\"m\".litellm_provider: must be a string");
    refused("{\"m\": {\"input_cost_per_token\": 1, \"mode\": false}}",
            "\"m\".mode: must be a string");
    refused("{\"m\": {\"input_cost_per_token\": 1, \"input_cost_per_token_above_128k_tokens\": 2,"
            " \"output_cost_per_token_above_200k_tokens\": 3}}",
            "\"m\": prices above 128k and above 200k tokens: only one long-context tier");
    refused("{\"m\": {\"input_cost_per_token\": 1}, \"m\": {\"input_cost_per_token\": 2}}",
            "bad.json: \"m\": the model is listed twice");
    refused("{\"\": {\"input_cost_per_token\": 1}}", "bad.json: an entry has an empty model name");

    /* Fine: unknown fields, odd "_above_" fields that are not token tiers, an empty table. */
    char err[512];
    const char *ok = "{\"m\": {\"input_cost_per_token\": 1, \"supports_vision\": true,"
                     " \"input_cost_per_token_above_200k\": \"x\","
                     " \"input_cost_per_token_above_0k_tokens\": \"x\","
                     " \"input_cost_per_token_above_k_tokens\": \"x\","
                     " \"output_cost_per_token_above_200k_tokens_priority\": \"x\"}}";
    cost_table_t *t = cost_table_parse("ok.json", ok, strlen(ok), err, sizeof err);
    CHECK(t != NULL && cost_table_count(t) == 1 && cost_lookup(t, NULL, "m")->tier_tokens == 0);
    cost_table_free(t);
    t = cost_table_parse("empty.json", "{}", 2, err, sizeof err);
    CHECK(t != NULL && cost_table_count(t) == 0 && cost_lookup(t, NULL, "m") == NULL);
    cost_table_free(t);
    /* No room for a message is fine too. */
    CHECK(cost_table_parse("bad.json", "[]", 2, NULL, 0) == NULL);

    /* Override files: merged over the default, replacing and adding. */
    char dir[] = "/tmp/gantry-test-cost-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/prices.json", dir);
    write_file(path,
               "{\"_comment\": \"ours\",\n"
               " \"gpt-4o\": {\"litellm_provider\": \"openai\", \"input_cost_per_token\": 1e-6,"
               " \"output_cost_per_token\": 4e-6},\n"
               " \"openai/my-finetune\": {\"input_cost_per_token\": 3e-6,"
               " \"output_cost_per_token\": 1.2e-5}}\n");
    cost_table_t *def = cost_table_load(NULL, err, sizeof err);
    t = cost_table_load(path, err, sizeof err);
    CHECK(def != NULL && t != NULL);
    CHECK(cost_table_count(t) == cost_table_count(def) + 1);
    const cost_price_t *p = cost_lookup(t, "openai", "gpt-4o");
    CHECK(p != NULL && p->input == 1e-6 && p->output == 4e-6 && p->cache_read == -1);
    p = cost_lookup(t, "openai", "my-finetune");
    CHECK(p != NULL && p->output == 1.2e-5);
    CHECK(cost_lookup(t, "openai", "gpt-4o-mini") != NULL); /* the rest of the default stays */
    cost_table_free(t);
    cost_table_free(def);

    /* A broken override refuses the whole table and names the file. */
    write_file(path, "{\"gpt-4o\": {\"input_cost_per_token\": \"cheap\"}}");
    t = cost_table_load(path, err, sizeof err);
    CHECK(t == NULL && strstr(err, path) == err &&
          strstr(err, "\"gpt-4o\".input_cost_per_token: must be a non-negative number") != NULL);
    write_file(path, "{\"gpt-4o\": ");
    t = cost_table_load(path, err, sizeof err);
    CHECK(t == NULL && strstr(err, "prices.json:1:11: not valid JSON") != NULL);
    unlink(path);
    t = cost_table_load(path, err, sizeof err);
    CHECK(t == NULL && strstr(err, "cannot open: No such file or directory") != NULL);
    t = cost_table_load(dir, err, sizeof err);
    CHECK(t == NULL && strstr(err, "not a regular file") != NULL);
    rmdir(dir);
    /* An empty path means no override. */
    t = cost_table_load("", err, sizeof err);
    CHECK(t != NULL);
    cost_table_free(t);
}

int main(void)
{
    find_srcdir();
    test_shipped();
    test_lookup();
    test_arithmetic();
    test_overrides();
    test_usage();
    test_malformed();
    return check_report();
}
