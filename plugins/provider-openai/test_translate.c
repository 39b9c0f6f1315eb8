/*
 * Unit tests of the openai provider's translations beyond the chat body: Azure URLs and headers,
 * embeddings, legacy text completions (request bodies, answers and stream events), the parameter
 * rules of strict upstreams, and error mapping (Azure's content filter, secrets scrubbed).  Runs
 * the plugin's own code over the stand-in host of test_host.h.
 */
#include "openai_azure.c"
#include "openai_completions.c"
#include "openai_conf.c"
#include "openai_error.c"
#include "openai_json.c"
#include "openai_request.c"
#include "openai_response.c"

#include "test_host.h"

/* ---- helpers ---- */

/*
 * A deployment from litellm_params written as JSON; "model" is "<prefix>/<id>".  Returns NULL
 * (with conf_errors filled) when deployment_create refuses it.
 */
static openai_deployment_t *deploy(const char *params_json)
{
    cJSON *params = cJSON_Parse(params_json);
    CHECK(params != NULL);
    const char *model = cJSON_GetObjectItem(params, "model")->valuestring;
    const char *slash = strchr(model, '/');
    CHECK(slash != NULL);
    gantry_str_t prefix = {model, (size_t)(slash - model)};
    gantry_str_t id = {slash + 1, strlen(slash + 1)};
    void *dep = NULL;

    conf_errors[0] = '\0';
    int rc = openai_deployment_create(&inst, (const gantry_conf_t *)params, prefix, id, &dep);
    cJSON_Delete(params);
    if (rc != GANTRY_OK) {
        CHECK(dep == NULL && conf_errors[0] != '\0');
        return NULL;
    }
    return dep;
}

static void undeploy(openai_deployment_t *dep)
{
    openai_deployment_destroy(&inst, dep);
}

static bool has_header(const gantry_upstream_t *up, const char *line)
{
    for (size_t i = 0; i < up->nheaders; i++) {
        if (strcmp(up->headers[i], line) == 0)
            return true;
    }
    return false;
}

static bool has_header_named(const gantry_upstream_t *up, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < up->nheaders; i++) {
        if (strncasecmp(up->headers[i], name, n) == 0 && up->headers[i][n] == ':')
            return true;
    }
    return false;
}

/* Compare two JSON texts structurally; prints both on a mismatch. */
static void expect_json(const char *what, const char *got, size_t got_len, const char *want)
{
    cJSON *g = cJSON_ParseWithLength(got, got_len), *w = cJSON_Parse(want);
    CHECK(w != NULL);
    if (g == NULL || !cJSON_Compare(g, w, 1)) {
        fprintf(stderr, "%s:\n got:  %.*s\n want: %s\n", what, (int)got_len, got, want);
        exit(1);
    }
    cJSON_Delete(g);
    cJSON_Delete(w);
}

typedef struct run {
    gantry_req_t req;
    gantry_upstream_t up;
    gantry_action_t act;
} run_t;

/* prepare() for a canonical body on an endpoint. */
static void prepare(run_t *r, openai_deployment_t *dep, gantry_endpoint_t ep, bool stream,
                    bool drop, const char *body)
{
    memset(r, 0, sizeof(*r));
    r->req.body = cJSON_Parse(body);
    CHECK(r->req.body != NULL);
    r->req.endpoint = ep;
    r->req.stream = stream;
    r->req.drop_params = drop;
    r->act = openai_prepare(&r->req, &inst, dep, &r->up);
}

/* prepare() must succeed with this URL and body. */
static void expect_upstream(openai_deployment_t *dep, gantry_endpoint_t ep, bool stream,
                            const char *body, const char *url, const char *want_body)
{
    run_t r;
    prepare(&r, dep, ep, stream, false, body);
    if (r.act != GANTRY_CONTINUE) {
        fprintf(stderr, "prepare failed: %d %s\n", r.req.fail_status, r.req.fail_message);
        exit(1);
    }
    if (strcmp(r.up.url, url) != 0) {
        fprintf(stderr, "url:\n got:  %s\n want: %s\n", r.up.url, url);
        exit(1);
    }
    expect_json("upstream body", r.up.body.ptr, r.up.body.len, want_body);
    CHECK(r.up.framing == (stream ? GANTRY_FRAMING_SSE : 0));
    req_reset(&r.req);
}

/* prepare() must refuse with a 400 naming `param`. */
static void expect_refused(openai_deployment_t *dep, gantry_endpoint_t ep, const char *body,
                           const char *param)
{
    run_t r;
    prepare(&r, dep, ep, false, false, body);
    CHECK(r.act == GANTRY_FAIL);
    CHECK(r.req.fail_status == 400 && r.req.fail_class == GANTRY_ERR_BAD_REQUEST);
    if (strstr(r.req.fail_message, param) == NULL) {
        fprintf(stderr, "refusal should name %s: %s\n", param, r.req.fail_message);
        exit(1);
    }
    req_reset(&r.req);
    /* With drop_params the same request goes out. */
    prepare(&r, dep, ep, false, true, body);
    CHECK(r.act == GANTRY_CONTINUE);
    CHECK(strstr(r.up.body.ptr, param) == NULL);
    req_reset(&r.req);
}

/* ---- Azure ---- */

static void expect_azure_urls(const char *params, const char *chat, const char *emb,
                              const char *cmpl)
{
    openai_deployment_t *dep = deploy(params);
    if (dep == NULL) {
        fprintf(stderr, "refused: %s\n%s", params, conf_errors);
        exit(1);
    }
    CHECK(dep->azure);
    if (strcmp(dep->url.ptr, chat) != 0 || strcmp(dep->url_embeddings.ptr, emb) != 0 ||
        strcmp(dep->url_completions.ptr, cmpl) != 0) {
        fprintf(stderr, "%s\n got: %s\n      %s\n      %s\n", params, dep->url.ptr,
                dep->url_embeddings.ptr, dep->url_completions.ptr);
        exit(1);
    }
    undeploy(dep);
}

static void test_azure_urls(void)
{
    unsetenv("AZURE_API_VERSION");
    unsetenv("AZURE_API_BASE");
    expect_azure_urls(
        "{\"model\":\"azure/my-gpt4o\",\"api_base\":\"https://res.openai.azure.com/\","
        "\"api_key\":\"k\"}",
        "https://res.openai.azure.com/openai/deployments/my-gpt4o/chat/completions"
        "?api-version=2024-10-21",
        "https://res.openai.azure.com/openai/deployments/my-gpt4o/embeddings"
        "?api-version=2024-10-21",
        "https://res.openai.azure.com/openai/deployments/my-gpt4o/completions"
        "?api-version=2024-10-21");
    expect_azure_urls("{\"model\":\"azure/d\",\"api_base\":\"https://r.openai.azure.com/openai\","
                      "\"api_version\":\"2025-04-01-preview\"}",
                      "https://r.openai.azure.com/openai/deployments/d/chat/completions"
                      "?api-version=2025-04-01-preview",
                      "https://r.openai.azure.com/openai/deployments/d/embeddings"
                      "?api-version=2025-04-01-preview",
                      "https://r.openai.azure.com/openai/deployments/d/completions"
                      "?api-version=2025-04-01-preview");
    /* A deployment name is one path segment. */
    expect_azure_urls("{\"model\":\"azure/a b/c%\",\"api_base\":\"http://127.0.0.1:9\"}",
                      "http://127.0.0.1:9/openai/deployments/a%20b%2Fc%25/chat/completions"
                      "?api-version=2024-10-21",
                      "http://127.0.0.1:9/openai/deployments/a%20b%2Fc%25/embeddings"
                      "?api-version=2024-10-21",
                      "http://127.0.0.1:9/openai/deployments/a%20b%2Fc%25/completions"
                      "?api-version=2024-10-21");
    /* The v1 API. */
    expect_azure_urls("{\"model\":\"azure/d\",\"api_base\":\"https://r.openai.azure.com\","
                      "\"api_version\":\"v1\"}",
                      "https://r.openai.azure.com/openai/v1/chat/completions",
                      "https://r.openai.azure.com/openai/v1/embeddings",
                      "https://r.openai.azure.com/openai/v1/completions");
    expect_azure_urls(
        "{\"model\":\"azure/d\",\"api_base\":\"https://r.openai.azure.com/openai/v1/\","
        "\"api_version\":\"latest\"}",
        "https://r.openai.azure.com/openai/v1/chat/completions",
        "https://r.openai.azure.com/openai/v1/embeddings",
        "https://r.openai.azure.com/openai/v1/completions");
    expect_azure_urls("{\"model\":\"azure/d\",\"api_base\":\"https://r.openai.azure.com\","
                      "\"api_version\":\"preview\"}",
                      "https://r.openai.azure.com/openai/v1/chat/completions?api-version=preview",
                      "https://r.openai.azure.com/openai/v1/embeddings?api-version=preview",
                      "https://r.openai.azure.com/openai/v1/completions?api-version=preview");
    /* AZURE_API_VERSION and AZURE_API_BASE stand in for missing keys, as in LiteLLM. */
    setenv("AZURE_API_VERSION", "2024-06-01", 1);
    setenv("AZURE_API_BASE", "https://env.openai.azure.com", 1);
    expect_azure_urls("{\"model\":\"azure/d\"}",
                      "https://env.openai.azure.com/openai/deployments/d/chat/completions"
                      "?api-version=2024-06-01",
                      "https://env.openai.azure.com/openai/deployments/d/embeddings"
                      "?api-version=2024-06-01",
                      "https://env.openai.azure.com/openai/deployments/d/completions"
                      "?api-version=2024-06-01");
    /* The entry's own keys win over the environment. */
    expect_azure_urls("{\"model\":\"azure/d\",\"api_base\":\"https://x.openai.azure.com\","
                      "\"api_version\":\"2024-10-21\"}",
                      "https://x.openai.azure.com/openai/deployments/d/chat/completions"
                      "?api-version=2024-10-21",
                      "https://x.openai.azure.com/openai/deployments/d/embeddings"
                      "?api-version=2024-10-21",
                      "https://x.openai.azure.com/openai/deployments/d/completions"
                      "?api-version=2024-10-21");
    unsetenv("AZURE_API_VERSION");
    unsetenv("AZURE_API_BASE");

    /* Refusals, each with a message. */
    static const char *const bad[] = {
        "{\"model\":\"azure/d\"}", /* no api_base anywhere */
        "{\"model\":\"azure/d\",\"api_base\":\"https://r\",\"api_version\":\"2024-10-21&x=1\"}",
        "{\"model\":\"azure/d\",\"api_base\":\"https://r\",\"api_version\":\"\"}",
        "{\"model\":\"azure/d\",\"api_base\":\"https://r?api-version=1\"}",
        "{\"model\":\"azure/d\",\"api_base\":\"https://r\",\"tenant_id\":\"t\"}",
        "{\"model\":\"azure/d\",\"api_base\":\"https://r\",\"client_secret\":\"s\"}",
        "{\"model\":\"openai/gpt-4o\",\"azure_ad_token\":\"tok\"}",
        "{\"model\":\"azure/d\",\"api_base\":\"https://r\",\"azure_ad_token\":\"a\\nb\"}",
        "{\"model\":\"azure/d\",\"api_base\":\"https://r\",\"completion_api\":\"yes\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        openai_deployment_t *dep = deploy(bad[i]);
        if (dep != NULL) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            exit(1);
        }
    }
}

static void test_azure_headers(void)
{
    run_t r;
    openai_deployment_t *dep =
        deploy("{\"model\":\"azure/dep1\",\"api_base\":\"https://r.openai.azure.com\","
               "\"api_key\":\"azure-key-123456\"}");
    CHECK(dep != NULL && !dep->completion_api && dep->strict);
    prepare(&r, dep, GANTRY_EP_CHAT, false, false,
            "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    CHECK(r.act == GANTRY_CONTINUE);
    CHECK(has_header(&r.up, "api-key: azure-key-123456"));
    CHECK(!has_header_named(&r.up, "Authorization"));
    CHECK(has_header(&r.up, "Content-Type: application/json"));
    /* The deployment name is the model of the body as well (the v1 API needs it there). */
    expect_json("azure body", r.up.body.ptr, r.up.body.len,
                "{\"model\":\"dep1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    req_reset(&r.req);
    undeploy(dep);

    /* An Entra ID token is a bearer token and replaces the key. */
    dep = deploy("{\"model\":\"azure/dep1\",\"api_base\":\"https://r.openai.azure.com\","
                 "\"api_key\":\"azure-key-123456\",\"azure_ad_token\":\"eyJ0eXAi.token\"}");
    CHECK(dep != NULL);
    prepare(&r, dep, GANTRY_EP_CHAT, false, false, "{\"messages\":[]}");
    CHECK(has_header(&r.up, "Authorization: Bearer eyJ0eXAi.token"));
    CHECK(!has_header_named(&r.up, "api-key"));
    req_reset(&r.req);
    undeploy(dep);

    /* extra_headers may carry its own api-key. */
    dep = deploy("{\"model\":\"azure/dep1\",\"api_base\":\"https://r.openai.azure.com\","
                 "\"api_key\":\"azure-key-123456\",\"extra_headers\":{\"API-Key\":\"other\"}}");
    CHECK(dep != NULL);
    prepare(&r, dep, GANTRY_EP_CHAT, false, false, "{\"messages\":[]}");
    CHECK(has_header(&r.up, "API-Key: other"));
    CHECK(!has_header(&r.up, "api-key: azure-key-123456"));
    req_reset(&r.req);
    undeploy(dep);

    /* AZURE_API_KEY stands in for a missing api_key; OpenAI deployments ignore it. */
    setenv("AZURE_API_KEY", "env-key-abcdefgh", 1);
    dep = deploy("{\"model\":\"azure/dep1\",\"api_base\":\"https://r.openai.azure.com\"}");
    CHECK(dep != NULL);
    prepare(&r, dep, GANTRY_EP_CHAT, false, false, "{\"messages\":[]}");
    CHECK(has_header(&r.up, "api-key: env-key-abcdefgh"));
    req_reset(&r.req);
    undeploy(dep);
    dep = deploy("{\"model\":\"openai/gpt-4o\"}");
    CHECK(dep != NULL && !dep->azure && dep->strict);
    prepare(&r, dep, GANTRY_EP_CHAT, false, false, "{\"messages\":[]}");
    CHECK(!has_header_named(&r.up, "Authorization") && !has_header_named(&r.up, "api-key"));
    req_reset(&r.req);
    undeploy(dep);
    unsetenv("AZURE_API_KEY");

    /* AZURE_AD_TOKEN stands in when there is no key, and never overrides a configured one. */
    setenv("AZURE_AD_TOKEN", "env-token-abcdefgh", 1);
    dep = deploy("{\"model\":\"azure/dep1\",\"api_base\":\"https://r.openai.azure.com\"}");
    CHECK(dep != NULL);
    prepare(&r, dep, GANTRY_EP_CHAT, false, false, "{\"messages\":[]}");
    CHECK(has_header(&r.up, "Authorization: Bearer env-token-abcdefgh"));
    req_reset(&r.req);
    undeploy(dep);
    dep = deploy("{\"model\":\"azure/dep1\",\"api_base\":\"https://r.openai.azure.com\","
                 "\"api_key\":\"azure-key-123456\"}");
    CHECK(dep != NULL);
    prepare(&r, dep, GANTRY_EP_CHAT, false, false, "{\"messages\":[]}");
    CHECK(has_header(&r.up, "api-key: azure-key-123456"));
    CHECK(!has_header_named(&r.up, "Authorization"));
    req_reset(&r.req);
    undeploy(dep);
    unsetenv("AZURE_AD_TOKEN");
}

/* ---- embeddings ---- */

static void test_embeddings(void)
{
    openai_deployment_t *dep = deploy("{\"model\":\"openai/text-embedding-3-small\","
                                      "\"api_base\":\"http://127.0.0.1:1/v1/\",\"api_key\":\"k\"}");
    CHECK(dep != NULL);
    /* Model replaced, gateway fields gone, the rest as sent; never a stream. */
    expect_upstream(dep, GANTRY_EP_EMBEDDINGS, false,
                    "{\"model\":\"emb\",\"input\":[\"a\",\"b\"],\"encoding_format\":\"base64\","
                    "\"dimensions\":256,\"user\":\"u\",\"metadata\":{\"x\":1},\"tags\":[\"t\"],"
                    "\"stream\":true,\"stream_options\":{}}",
                    "http://127.0.0.1:1/v1/embeddings",
                    "{\"model\":\"text-embedding-3-small\",\"input\":[\"a\",\"b\"],"
                    "\"encoding_format\":\"base64\",\"dimensions\":256,\"user\":\"u\"}");
    expect_upstream(dep, GANTRY_EP_EMBEDDINGS, false, "{\"input\":[[1,2,3]]}",
                    "http://127.0.0.1:1/v1/embeddings",
                    "{\"input\":[[1,2,3]],\"model\":\"text-embedding-3-small\"}");

    /* The answer is installed unchanged. */
    static const char answer[] =
        "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":"
        "[0.1,-0.2]}],\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":2,"
        "\"total_tokens\":2}}";
    gantry_req_t req = {.endpoint = GANTRY_EP_EMBEDDINGS};
    CHECK(openai_parse_response(&req, &inst, dep, 200, GANTRY_STR_LIT(answer)) == GANTRY_CONTINUE);
    char *got = cJSON_PrintUnformatted(req.resp);
    expect_json("embeddings answer", got, strlen(got), answer);
    free(got);
    req_reset(&req);

    /* An answer without a data list is the upstream's fault. */
    static const char *const broken[] = {"{\"object\":\"list\"}", "{\"data\":{}}", "[1]", "x"};
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        gantry_req_t r2 = {.endpoint = GANTRY_EP_EMBEDDINGS};
        gantry_str_t b = {broken[i], strlen(broken[i])};
        CHECK(openai_parse_response(&r2, &inst, dep, 200, b) == GANTRY_FAIL);
        CHECK(r2.fail_status == 502 && r2.resp == NULL);
        req_reset(&r2);
    }
    gantry_req_t r3 = {.endpoint = GANTRY_EP_EMBEDDINGS};
    CHECK(openai_parse_response(&r3, &inst, dep, 200,
                                GANTRY_STR_LIT("{\"error\":{\"message\":\"bad input\","
                                               "\"code\":400}}")) == GANTRY_FAIL);
    CHECK(r3.fail_status == 400 && strstr(r3.fail_message, "bad input") != NULL);
    req_reset(&r3);
    undeploy(dep);

    /* Azure embeddings go to the deployment's embeddings path. */
    dep = deploy("{\"model\":\"azure/emb-dep\",\"api_base\":\"https://r.openai.azure.com\","
                 "\"api_key\":\"k\"}");
    expect_upstream(dep, GANTRY_EP_EMBEDDINGS, false, "{\"model\":\"e\",\"input\":\"hi\"}",
                    "https://r.openai.azure.com/openai/deployments/emb-dep/embeddings"
                    "?api-version=2024-10-21",
                    "{\"model\":\"emb-dep\",\"input\":\"hi\"}");
    undeploy(dep);
}

/* ---- text completions: requests ---- */

static void test_completion_requests(void)
{
    openai_deployment_t *dep =
        deploy("{\"model\":\"text-completion-openai/gpt-3.5-turbo-instruct\","
               "\"api_key\":\"sk-1\"}");
    CHECK(dep != NULL && dep->completion_api && dep->strict);
    CHECK(strcmp(dep->url_completions.ptr, "https://api.openai.com/v1/completions") == 0);

    /* The original prompt and the text completion parameters; chat-only members stay behind. */
    expect_upstream(dep, GANTRY_EP_COMPLETIONS, false,
                    "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"Say\"}],"
                    "\"prompt\":[\"Say\",\"this\"],\"max_tokens\":7,\"temperature\":0,"
                    "\"top_p\":1,\"n\":2,\"stop\":[\"\\n\"],\"logprobs\":3,\"echo\":true,"
                    "\"suffix\":\"end\",\"best_of\":3,\"seed\":1,\"user\":\"u\","
                    "\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,"
                    "\"logit_bias\":{\"50256\":-100},\"metadata\":{},\"reasoning_effort\":\"low\","
                    "\"parallel_tool_calls\":true}",
                    "https://api.openai.com/v1/completions",
                    "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":[\"Say\",\"this\"],"
                    "\"max_tokens\":7,\"temperature\":0,\"top_p\":1,\"n\":2,\"stop\":[\"\\n\"],"
                    "\"logprobs\":3,\"echo\":true,\"suffix\":\"end\",\"best_of\":3,\"seed\":1,"
                    "\"user\":\"u\",\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,"
                    "\"logit_bias\":{\"50256\":-100}}");
    /* Streams ask for usage; max_completion_tokens wins; chat-style logprobs become a count. */
    expect_upstream(dep, GANTRY_EP_COMPLETIONS, true,
                    "{\"prompt\":\"p\",\"max_tokens\":5,\"max_completion_tokens\":9,"
                    "\"logprobs\":true,\"top_logprobs\":2,\"stream\":true,"
                    "\"stream_options\":{\"include_usage\":false}}",
                    "https://api.openai.com/v1/completions",
                    "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"p\",\"max_tokens\":9,"
                    "\"logprobs\":2,\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    expect_upstream(dep, GANTRY_EP_COMPLETIONS, false, "{\"prompt\":\"p\",\"logprobs\":true}",
                    "https://api.openai.com/v1/completions",
                    "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"p\",\"logprobs\":0}");
    expect_upstream(dep, GANTRY_EP_COMPLETIONS, false, "{\"prompt\":\"p\",\"logprobs\":false}",
                    "https://api.openai.com/v1/completions",
                    "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"p\"}");
    /* A chat request to a completion model: the messages' text is the prompt. */
    expect_upstream(dep, GANTRY_EP_CHAT, false,
                    "{\"messages\":[{\"role\":\"system\",\"content\":\"Be \\\"brief\\\".\"},"
                    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"},"
                    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}},{\"type\":\"text\","
                    "\"text\":\"there\"}]},{\"role\":\"assistant\"}],\"max_tokens\":3}",
                    "https://api.openai.com/v1/completions",
                    "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"Be \\\"brief\\\".\\nHi\\n"
                    "there\",\"max_tokens\":3}");
    expect_upstream(dep, GANTRY_EP_CHAT, false, "{}", "https://api.openai.com/v1/completions",
                    "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"\"}");
    /* What this API cannot do is refused, unless drop_params. */
    expect_refused(dep, GANTRY_EP_CHAT,
                   "{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
                   "\"f\"}}]}",
                   "tools");
    expect_refused(dep, GANTRY_EP_COMPLETIONS,
                   "{\"prompt\":\"p\",\"response_format\":{\"type\":\"json_object\"}}",
                   "response_format");
    expect_refused(dep, GANTRY_EP_COMPLETIONS, "{\"prompt\":\"p\",\"top_k\":3}", "top_k");
    expect_upstream(dep, GANTRY_EP_COMPLETIONS, false,
                    "{\"prompt\":\"p\",\"tools\":[],\"response_format\":{\"type\":\"text\"}}",
                    "https://api.openai.com/v1/completions",
                    "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"p\"}");
    /* Embeddings on a completion deployment are still embeddings. */
    expect_upstream(dep, GANTRY_EP_EMBEDDINGS, false, "{\"input\":\"x\"}",
                    "https://api.openai.com/v1/embeddings",
                    "{\"input\":\"x\",\"model\":\"gpt-3.5-turbo-instruct\"}");
    undeploy(dep);

    /* completion_api: false turns it off; azure_text turns it on for Azure. */
    dep = deploy("{\"model\":\"text-completion-openai/gpt-3.5-turbo-instruct\","
                 "\"completion_api\":false}");
    CHECK(dep != NULL && !dep->completion_api);
    undeploy(dep);
    dep = deploy("{\"model\":\"azure_text/instruct\",\"api_base\":\"https://r.openai.azure.com\","
                 "\"api_key\":\"k\"}");
    CHECK(dep != NULL && dep->azure && dep->completion_api);
    expect_upstream(dep, GANTRY_EP_COMPLETIONS, false, "{\"prompt\":\"p\"}",
                    "https://r.openai.azure.com/openai/deployments/instruct/completions"
                    "?api-version=2024-10-21",
                    "{\"model\":\"instruct\",\"prompt\":\"p\"}");
    undeploy(dep);
    dep = deploy("{\"model\":\"hosted_vllm/llama\",\"api_base\":\"http://h/v1\","
                 "\"completion_api\":true}");
    CHECK(dep != NULL && dep->completion_api && !dep->strict);
    /* A lenient upstream (vLLM) keeps top_k. */
    expect_upstream(dep, GANTRY_EP_COMPLETIONS, false, "{\"prompt\":\"p\",\"top_k\":3}",
                    "http://h/v1/completions",
                    "{\"model\":\"llama\",\"prompt\":\"p\",\"top_k\":3}");
    undeploy(dep);

    /* A completion sent as a chat: the prompt member goes, completion-only parameters are
     * refused unless they ask nothing, an integer logprobs becomes the chat flags. */
    dep = deploy("{\"model\":\"openai/gpt-4o-mini\",\"api_base\":\"http://h/v1\"}");
    CHECK(dep != NULL && !dep->completion_api);
    expect_upstream(dep, GANTRY_EP_COMPLETIONS, false,
                    "{\"model\":\"g\",\"messages\":[{\"role\":\"user\",\"content\":\"p\"}],"
                    "\"prompt\":\"p\",\"logprobs\":2,\"echo\":false,\"best_of\":1,\"suffix\":\"\","
                    "\"max_tokens\":4}",
                    "http://h/v1/chat/completions",
                    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                    "\"p\"}],\"logprobs\":true,\"max_tokens\":4,\"top_logprobs\":2}");
    expect_refused(dep, GANTRY_EP_COMPLETIONS, "{\"prompt\":\"p\",\"echo\":true}", "echo");
    expect_refused(dep, GANTRY_EP_COMPLETIONS, "{\"prompt\":\"p\",\"suffix\":\"s\"}", "suffix");
    expect_refused(dep, GANTRY_EP_COMPLETIONS, "{\"prompt\":\"p\",\"best_of\":3}", "best_of");
    /* On the chat endpoint a stray prompt is dropped and echo is just another member. */
    expect_upstream(dep, GANTRY_EP_CHAT, false, "{\"prompt\":\"p\",\"echo\":true,\"logprobs\":2}",
                    "http://h/v1/chat/completions",
                    "{\"echo\":true,\"logprobs\":2,\"model\":\"gpt-4o-mini\"}");
    /* OpenAI's own API: top_k refused unless drop_params, thinking dropped quietly. */
    expect_refused(dep, GANTRY_EP_CHAT, "{\"messages\":[],\"top_k\":40}", "top_k");
    expect_upstream(dep, GANTRY_EP_CHAT, false,
                    "{\"messages\":[],\"top_k\":null,\"thinking\":{\"type\":\"enabled\","
                    "\"budget_tokens\":2048}}",
                    "http://h/v1/chat/completions", "{\"messages\":[],\"model\":\"gpt-4o-mini\"}");
    undeploy(dep);
    /* A compatible server keeps them. */
    dep = deploy("{\"model\":\"hosted_vllm/llama\",\"api_base\":\"http://h/v1\"}");
    expect_upstream(dep, GANTRY_EP_CHAT, false,
                    "{\"messages\":[],\"top_k\":40,\"thinking\":{\"type\":\"enabled\"}}",
                    "http://h/v1/chat/completions",
                    "{\"messages\":[],\"top_k\":40,\"thinking\":{\"type\":\"enabled\"},"
                    "\"model\":\"llama\"}");
    undeploy(dep);
}

/* ---- text completions: answers ---- */

static void test_completion_answers(void)
{
    openai_deployment_t *dep =
        deploy("{\"model\":\"text-completion-openai/gpt-3.5-turbo-instruct\"}");
    CHECK(dep != NULL);

    static const char answer[] =
        "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":"
        "\"gpt-3.5-turbo-instruct\",\"choices\":[{\"text\":\"\\n\\nHello\",\"index\":0,"
        "\"logprobs\":null,\"finish_reason\":\"length\"},{\"text\":\"Hi\",\"index\":1,"
        "\"logprobs\":{\"tokens\":[\"H\",\"i\"],\"token_logprobs\":[-0.5,null],\"top_logprobs\":"
        "[{\"H\":-0.5,\"Y\":-1.5},null],\"text_offset\":[0,1]},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}";
    gantry_req_t req = {.endpoint = GANTRY_EP_COMPLETIONS};
    CHECK(openai_parse_response(&req, &inst, dep, 200, GANTRY_STR_LIT(answer)) == GANTRY_CONTINUE);
    char *got = cJSON_PrintUnformatted(req.resp);
    expect_json(
        "text completion answer", got, strlen(got),
        "{\"id\":\"cmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":"
        "\"gpt-3.5-turbo-instruct\",\"choices\":[{\"index\":0,\"logprobs\":null,"
        "\"finish_reason\":\"length\",\"message\":{\"role\":\"assistant\",\"content\":"
        "\"\\n\\nHello\"}},{\"index\":1,\"logprobs\":{\"content\":[{\"token\":\"H\",\"logprob\":"
        "-0.5,\"bytes\":null,\"top_logprobs\":[{\"token\":\"H\",\"logprob\":-0.5,\"bytes\":null},"
        "{\"token\":\"Y\",\"logprob\":-1.5,\"bytes\":null}]},{\"token\":\"i\",\"logprob\":null,"
        "\"bytes\":null,\"top_logprobs\":[]}]},\"finish_reason\":\"stop\",\"message\":{\"role\":"
        "\"assistant\",\"content\":\"Hi\"}}],\"usage\":{\"prompt_tokens\":5,"
        "\"completion_tokens\":7,\"total_tokens\":12}}");
    free(got);
    req_reset(&req);

    /* The same answer reaches a chat client the same way. */
    gantry_req_t chat = {.endpoint = GANTRY_EP_CHAT};
    CHECK(openai_parse_response(&chat, &inst, dep, 200, GANTRY_STR_LIT(answer)) == GANTRY_CONTINUE);
    CHECK(strcmp(cJSON_GetObjectItem(chat.resp, "object")->valuestring, "chat.completion") == 0);
    req_reset(&chat);

    static const char *const broken[] = {
        "{\"choices\":{}}",
        "{\"choices\":[1]}",
        "{\"choices\":[{\"text\":5}]}",
        "{\"object\":\"text_completion\"}",
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        gantry_req_t r = {.endpoint = GANTRY_EP_COMPLETIONS};
        gantry_str_t b = {broken[i], strlen(broken[i])};
        CHECK(openai_parse_response(&r, &inst, dep, 200, b) == GANTRY_FAIL);
        CHECK(r.fail_status == 502);
        req_reset(&r);
    }
    undeploy(dep);
}

static gantry_action_t frame(gantry_req_t *req, openai_deployment_t *dep, const char *data)
{
    gantry_frame_t f = {.size = sizeof(f), .data = {data, strlen(data)}};
    return openai_parse_frame(req, &inst, dep, &f);
}

static void test_completion_stream(void)
{
    openai_deployment_t *dep =
        deploy("{\"model\":\"text-completion-openai/gpt-3.5-turbo-instruct\"}");
    run_t r;

    /* prepare() starts the attempt's state; a retry starts it again. */
    prepare(&r, dep, GANTRY_EP_COMPLETIONS, true, false, "{\"prompt\":\"p\",\"n\":2}");
    CHECK(r.act == GANTRY_CONTINUE && r.req.data != NULL);
    gantry_req_t *req = &r.req;
    static const char *const events[] = {
        "{\"id\":\"cmpl-2\",\"object\":\"text_completion\",\"created\":1,\"choices\":[{\"text\":"
        "\"Hel\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}],\"model\":\"m\"}",
        "{\"id\":\"cmpl-2\",\"object\":\"text_completion\",\"created\":1,\"choices\":[{\"text\":"
        "\"Yo\",\"index\":1,\"logprobs\":null,\"finish_reason\":null}],\"model\":\"m\"}",
        "{\"id\":\"cmpl-2\",\"object\":\"text_completion\",\"created\":1,\"choices\":[{\"text\":"
        "\"lo\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}],\"model\":\"m\"}",
        "{\"id\":\"cmpl-2\",\"object\":\"text_completion\",\"created\":1,\"choices\":[{\"text\":"
        "\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}],\"model\":\"m\"}",
        "{\"id\":\"cmpl-2\",\"object\":\"text_completion\",\"created\":1,\"choices\":[],"
        "\"model\":\"m\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":3,"
        "\"total_tokens\":4}}",
    };
    static const char *const want[] = {
        "{\"id\":\"cmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"choices\":[{"
        "\"index\":0,\"logprobs\":null,\"finish_reason\":null,\"delta\":{\"role\":\"assistant\","
        "\"content\":\"Hel\"}}],\"model\":\"m\"}",
        "{\"id\":\"cmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"choices\":[{"
        "\"index\":1,\"logprobs\":null,\"finish_reason\":null,\"delta\":{\"role\":\"assistant\","
        "\"content\":\"Yo\"}}],\"model\":\"m\"}",
        "{\"id\":\"cmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"choices\":[{"
        "\"index\":0,\"logprobs\":null,\"finish_reason\":null,\"delta\":{\"content\":\"lo\"}}],"
        "\"model\":\"m\"}",
        "{\"id\":\"cmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"choices\":[{"
        "\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\",\"delta\":{}}],\"model\":\"m\"}",
        "{\"id\":\"cmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1,\"choices\":[],"
        "\"model\":\"m\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":3,"
        "\"total_tokens\":4}}",
    };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        CHECK(frame(req, dep, events[i]) == GANTRY_CONTINUE);
    CHECK(frame(req, dep, " [DONE] ") == GANTRY_CONTINUE && req->ended);
    CHECK(req->nchunks == sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < req->nchunks; i++)
        expect_json("text completion chunk", req->chunks[i], strlen(req->chunks[i]), want[i]);
    req_reset(req);

    /* Errors inside the stream, and broken events. */
    prepare(&r, dep, GANTRY_EP_COMPLETIONS, true, false, "{\"prompt\":\"p\"}");
    CHECK(frame(&r.req, dep, "{\"error\":{\"message\":\"overloaded\",\"code\":503}}") ==
          GANTRY_FAIL);
    CHECK(r.req.fail_status == 503 && strstr(r.req.fail_message, "overloaded") != NULL);
    req_reset(&r.req);
    prepare(&r, dep, GANTRY_EP_COMPLETIONS, true, false, "{\"prompt\":\"p\"}");
    CHECK(frame(&r.req, dep, "{\"choices\":[{\"text\":[1]}]}") == GANTRY_FAIL);
    CHECK(r.req.fail_status == 502);
    req_reset(&r.req);
    undeploy(dep);
}

/* Arbitrary events must never crash the translation (the ASan build watches). */
static void test_completion_garbage(void)
{
    static const char *const pieces[] = {
        "{",
        "}",
        "[",
        "]",
        ",",
        "\"choices\":",
        "\"text\":",
        "\"index\":",
        "0",
        "63",
        "64",
        "-1",
        "1e300",
        "null",
        "\"x\"",
        "\"logprobs\":",
        "{}",
        "[]",
        "true",
        ":",
        "\"tokens\":",
        "\"token_logprobs\":",
        "\"top_logprobs\":",
        "\"usage\":",
        "\"finish_reason\":",
        "\"a\":",
    };
    openai_deployment_t *dep = deploy("{\"model\":\"text-completion-openai/m\"}");
    uint64_t x = 88172645463325252ULL;
    char buf[512];

    for (int i = 0; i < 20000; i++) {
        size_t len = 0;
        int n = 1 + (int)(x % 24);
        for (int k = 0; k < n; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            const char *p = pieces[x % (sizeof(pieces) / sizeof(pieces[0]))];
            size_t pl = strlen(p);
            if (len + pl >= sizeof(buf))
                break;
            memcpy(buf + len, p, pl);
            len += pl;
        }
        buf[len] = '\0';
        gantry_req_t req = {.endpoint = GANTRY_EP_COMPLETIONS, .stream = true};
        (void)frame(&req, dep, buf);
        gantry_req_t resp = {.endpoint = GANTRY_EP_COMPLETIONS};
        (void)openai_parse_response(&resp, &inst, dep, 200, (gantry_str_t){buf, len});
        req_reset(&req);
        req_reset(&resp);
    }
    /* And well-formed ones with odd logprobs. */
    static const char *const odd[] = {
        "{\"choices\":[{\"text\":\"a\",\"logprobs\":{\"tokens\":[1,null,\"b\"],\"token_logprobs\":"
        "\"x\",\"top_logprobs\":[{\"a\":\"b\"},5]}}]}",
        "{\"choices\":[{\"text\":\"a\",\"logprobs\":{\"tokens\":{\"a\":1}}}]}",
        "{\"choices\":[{\"text\":null,\"index\":1e30}]}",
    };
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        gantry_req_t req = {.endpoint = GANTRY_EP_COMPLETIONS, .stream = true};
        CHECK(frame(&req, dep, odd[i]) == GANTRY_CONTINUE && req.nchunks == 1);
        req_reset(&req);
    }
    undeploy(dep);
}

/* ---- Azure streams and errors ---- */

static void test_azure_stream(void)
{
    openai_deployment_t *dep = deploy("{\"model\":\"azure/gpt\",\"api_base\":\"https://r\","
                                      "\"api_key\":\"k\"}");
    gantry_req_t req = {.stream = true};

    /* The prompt-filter annotation event goes; content_filter finishes pass through. */
    CHECK(
        frame(&req, dep,
              "{\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\","
              "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}") ==
        GANTRY_CONTINUE);
    CHECK(req.nchunks == 0);
    CHECK(frame(&req, dep,
                "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"content_filter\","
                "\"content_filter_results\":{\"hate\":{\"filtered\":true,\"severity\":\"high\"}}}],"
                "\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\"}") ==
          GANTRY_CONTINUE);
    CHECK(req.nchunks == 1 && strstr(req.chunks[0], "\"finish_reason\":\"content_filter\""));
    /* The usage chunk stays, though its choices are empty. */
    CHECK(frame(&req, dep, "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}") == GANTRY_CONTINUE);
    CHECK(req.nchunks == 2);
    req_reset(&req);
    undeploy(dep);

    /* Other deployments pass every chunk on. */
    dep = deploy("{\"model\":\"openai/gpt\"}");
    gantry_req_t req2 = {.stream = true};
    CHECK(frame(&req2, dep, "{\"choices\":[]}") == GANTRY_CONTINUE && req2.nchunks == 1);
    req_reset(&req2);
    undeploy(dep);
}

static void map(openai_deployment_t *dep, int status, const char *body, gantry_error_t *err,
                gantry_req_t *req)
{
    memset(err, 0, sizeof(*err));
    err->size = sizeof(*err);
    err->retry_after_ms = -1;
    openai_map_error(req, &inst, dep, status, (gantry_str_t){body, strlen(body)}, err);
}

static void test_azure_errors(void)
{
    openai_deployment_t *dep =
        deploy("{\"model\":\"azure/gpt\",\"api_base\":\"https://r\",\"api_key\":"
               "\"0123456789abcdef0123\",\"azure_ad_token\":\"tok-abcdefghijkl\"}");
    gantry_req_t req = {0};
    gantry_error_t err;

    map(dep, 400,
        "{\"error\":{\"message\":\"The response was filtered due to the prompt triggering Azure "
        "OpenAI's content management policy.\",\"type\":null,\"param\":\"prompt\",\"code\":"
        "\"content_filter\",\"status\":400,\"innererror\":{\"code\":"
        "\"ResponsibleAIPolicyViolation\",\"content_filter_result\":{\"hate\":{\"filtered\":true,"
        "\"severity\":\"high\"}}}}}",
        &err, &req);
    CHECK(err.status == 400 && err.class_ == GANTRY_ERR_CONTENT_POLICY);
    CHECK(openai_str_eq(err.code, "content_filter") && openai_str_eq(err.param, "prompt"));
    /* innererror alone is enough. */
    map(dep, 400,
        "{\"error\":{\"message\":\"filtered\",\"code\":\"invalid_prompt\",\"innererror\":{"
        "\"code\":\"ResponsibleAIPolicyViolation\"}}}",
        &err, &req);
    CHECK(err.class_ == GANTRY_ERR_CONTENT_POLICY);
    /* The secrets never come back. */
    map(dep, 401,
        "{\"error\":{\"code\":\"401\",\"message\":\"Access denied due to invalid subscription "
        "key 0123456789abcdef0123 or token tok-abcdefghijkl.\"}}",
        &err, &req);
    CHECK(err.class_ == GANTRY_ERR_AUTH);
    CHECK(memmem(err.message.ptr, err.message.len, "0123456789abcdef0123", 20) == NULL);
    CHECK(memmem(err.message.ptr, err.message.len, "tok-abcdefghijkl", 16) == NULL);
    CHECK(memmem(err.message.ptr, err.message.len, "[redacted]", 10) != NULL);
    map(dep, 404,
        "{\"error\":{\"code\":\"DeploymentNotFound\",\"message\":\"The API deployment for this "
        "resource does not exist.\"}}",
        &err, &req);
    CHECK(err.class_ == GANTRY_ERR_NOT_FOUND && openai_str_eq(err.code, "DeploymentNotFound"));
    req_reset(&req);
    undeploy(dep);
}

/* Every allocation failure while loading an Azure deployment ends in a clean refusal. */
static void test_alloc_failures(void)
{
    bool passed_once = false;
    for (size_t budget = 0; !passed_once; budget++) {
        alloc_budget = budget;
        openai_deployment_t *dep = deploy("{\"model\":\"azure/d\",\"api_base\":\"https://r\","
                                          "\"api_key\":\"k\",\"extra_headers\":{\"a\":\"b\"}}");
        alloc_budget = SIZE_MAX;
        if (dep != NULL) {
            passed_once = true;
            undeploy(dep);
        }
        CHECK(budget < 200);
    }
    passed_once = false;
    openai_deployment_t *dep = deploy("{\"model\":\"text-completion-openai/m\"}");
    for (size_t budget = 0; !passed_once; budget++) {
        run_t r;
        memset(&r, 0, sizeof(r));
        r.req.body = cJSON_Parse("{\"prompt\":\"p\",\"logprobs\":true,\"top_logprobs\":1}");
        r.req.stream = true;
        alloc_budget = budget;
        r.act = openai_prepare(&r.req, &inst, dep, &r.up);
        alloc_budget = SIZE_MAX;
        CHECK(r.act == GANTRY_CONTINUE || (r.act == GANTRY_FAIL && r.req.failed));
        passed_once = r.act == GANTRY_CONTINUE;
        req_reset(&r.req);
        CHECK(budget < 200);
    }
    static const char answer[] = "{\"choices\":[{\"text\":\"a\",\"index\":0,\"logprobs\":{"
                                 "\"tokens\":[\"a\"],\"token_logprobs\":[-1],\"top_logprobs\":"
                                 "[{\"a\":-1}]}}]}";
    passed_once = false;
    for (size_t budget = 0; !passed_once; budget++) {
        gantry_req_t req = {.endpoint = GANTRY_EP_COMPLETIONS};
        alloc_budget = budget;
        gantry_action_t act = openai_parse_response(&req, &inst, dep, 200, GANTRY_STR_LIT(answer));
        alloc_budget = SIZE_MAX;
        CHECK(act == GANTRY_CONTINUE || (act == GANTRY_FAIL && req.failed));
        passed_once = act == GANTRY_CONTINUE;
        req_reset(&req);
        CHECK(budget < 200);
    }
    undeploy(dep);
}

int main(void)
{
    test_azure_urls();
    test_azure_headers();
    test_embeddings();
    test_completion_requests();
    test_completion_answers();
    test_completion_stream();
    test_completion_garbage();
    test_azure_stream();
    test_azure_errors();
    test_alloc_failures();
    printf("openai translate: ok\n");
    return 0;
}
