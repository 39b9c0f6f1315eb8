/*
 * Unit test of the upstream body builder (openai_prepare).  The body is written in one pass over
 * the canonical tree instead of being a copy edited with keyed removes and sets and printed by the
 * host; this test keeps that way as the reference (with the removals inside messages and tools
 * added) and checks, on fixed and on random bodies, that both give the same bytes.  The host is a
 * small stand-in (test_host.h) whose JSON functions mirror core/host.c over the same cJSON library
 * the core uses.
 */
#include "openai_azure.c"
#include "openai_completions.c"
#include "openai_conf.c"
#include "openai_json.c"
#include "openai_request.c"

#include "test_host.h"

/* ---- the reference: the body as the plugin built it before the one-pass writer ---- */

static const char *const ref_gateway_fields[] = {
    "fallbacks",     "guardrails", "cache",      "num_retries",    "metadata",
    "mock_response", "tags",       "session_id", "enable_history", "context_window_fallback_dict",
};

/* Remove every member named `key` of an object. */
static void remove_all(cJSON *obj, const char *key)
{
    while (cJSON_IsObject(obj) && cJSON_GetObjectItemCaseSensitive(obj, key) != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
}

/* The rules inside messages and tools: every top-level member of those names follows them. */
static void ref_edit_lists(const openai_deployment_t *dep, cJSON *body)
{
    bool strip = !dep->forward_cache_control;
    for (cJSON *m = cJSON_IsObject(body) ? body->child : NULL; m != NULL; m = m->next) {
        if (strcmp(m->string, "messages") == 0 && cJSON_IsArray(m)) {
            for (cJSON *msg = m->child; msg != NULL; msg = msg->next) {
                remove_all(msg, "thinking_blocks");
                remove_all(msg, "reasoning_content");
                if (!strip || !cJSON_IsObject(msg))
                    continue;
                remove_all(msg, "cache_control");
                for (cJSON *c = msg->child; c != NULL; c = c->next) {
                    if (strcmp(c->string, "content") != 0 || !cJSON_IsArray(c))
                        continue;
                    for (cJSON *part = c->child; part != NULL; part = part->next)
                        remove_all(part, "cache_control");
                }
            }
        } else if (strip && strcmp(m->string, "tools") == 0 && cJSON_IsArray(m)) {
            for (cJSON *tool = m->child; tool != NULL; tool = tool->next)
                remove_all(tool, "cache_control");
        }
    }
}

static int ref_edit_body(const gantry_host_t *host, const openai_deployment_t *dep,
                         gantry_json_t *body, bool stream)
{
    for (size_t i = 0; i < sizeof(ref_gateway_fields) / sizeof(ref_gateway_fields[0]); i++)
        host->json_remove(body, ref_gateway_fields[i]);
    host->json_remove(body, "prompt");
    if (dep->strict) {
        host->json_remove(body, "thinking");
        host->json_remove(body, "top_k");
    }
    ref_edit_lists(dep, (cJSON *)body);
    gantry_json_t *model = host->json_set(body, "model", GANTRY_JSON_STRING);
    if (model == NULL || host->json_set_string(model, dep->model) != GANTRY_OK)
        return GANTRY_ENOMEM;
    if (!stream) {
        host->json_remove(body, "stream");
        host->json_remove(body, "stream_options");
        return GANTRY_OK;
    }
    gantry_json_t *flag = host->json_set(body, "stream", GANTRY_JSON_BOOL);
    if (flag == NULL || host->json_set_bool(flag, true) != GANTRY_OK)
        return GANTRY_ENOMEM;
    gantry_json_t *opts = host->json_get(body, "stream_options");
    if (host->json_type(opts) != GANTRY_JSON_OBJECT)
        opts = host->json_set(body, "stream_options", GANTRY_JSON_OBJECT);
    if (opts == NULL)
        return GANTRY_ENOMEM;
    gantry_json_t *usage = host->json_set(opts, "include_usage", GANTRY_JSON_BOOL);
    if (usage == NULL || host->json_set_bool(usage, true) != GANTRY_OK)
        return GANTRY_ENOMEM;
    return GANTRY_OK;
}

/* The reference body for `body`, malloc'd. */
static char *reference(const openai_deployment_t *dep, const cJSON *body, bool stream)
{
    gantry_req_t req = {0};
    cJSON *copy = cJSON_Duplicate(body, 1);
    char *out;

    CHECK(copy != NULL);
    CHECK(ref_edit_body(&test_host, dep, (gantry_json_t *)copy, stream) == GANTRY_OK);
    out = cJSON_PrintUnformatted(copy);
    CHECK(out != NULL);
    cJSON_Delete(copy);
    req_reset(&req);
    return out;
}

/* ---- the cases ---- */

static openai_deployment_t *make_deployment(const char *model, const char *key, const char *org,
                                            bool extra_auth)
{
    static openai_header_t extra[1];
    openai_deployment_t *dep = calloc(1, sizeof(*dep));

    CHECK(dep != NULL);
    dep->model = (gantry_str_t){model, strlen(model)};
    dep->url = GANTRY_STR_LIT("http://127.0.0.1/v1/chat/completions");
    if (key != NULL)
        dep->authorization = (gantry_str_t){key, strlen(key)};
    if (org != NULL)
        dep->organization = (gantry_str_t){org, strlen(org)};
    if (extra_auth) {
        extra[0] = (openai_header_t){GANTRY_STR_LIT("authorization"), GANTRY_STR_LIT("Token x")};
        dep->extra = extra;
        dep->n_extra = 1;
        dep->extra_has_authorization = true;
    }
    CHECK(build_headers(&test_host, dep) == GANTRY_OK);
    CHECK(build_model_member(&test_host, dep) == GANTRY_OK);
    return dep;
}

static void free_deployment(openai_deployment_t *dep)
{
    free((void *)dep->model_member.ptr);
    free(dep->headers);
    free(dep);
}

static unsigned long ncases;

/* openai_prepare() on `body` must give the reference bytes, for both stream settings. */
static void expect_same(const openai_deployment_t *dep, cJSON *body)
{
    for (int stream = 0; stream < 2; stream++) {
        gantry_req_t req = {0};
        gantry_upstream_t up = {0};
        char *want = reference(dep, body, stream);

        req.body = cJSON_Duplicate(body, 1);
        req.stream = stream;
        /* A strict deployment refuses top_k unless drop_params; test_refusals() checks that. */
        req.drop_params = true;
        CHECK(req.body != NULL);
        CHECK(openai_prepare(&req, &inst, (void *)dep, &up) == GANTRY_CONTINUE);
        if (up.body.len != strlen(want) || memcmp(up.body.ptr, want, up.body.len) != 0 ||
            up.body.ptr[up.body.len] != '\0') {
            char *in = cJSON_PrintUnformatted(body);
            fprintf(stderr, "stream=%d\nin:   %s\ngot:  %.*s\nwant: %s\n", stream, in,
                    (int)up.body.len, up.body.ptr, want);
            exit(1);
        }
        /* The client's body is left as it was (compared as text: cJSON_Compare mismatches
         * objects with duplicate keys). */
        char *before = cJSON_PrintUnformatted(body), *after = cJSON_PrintUnformatted(req.body);
        CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
        free(before);
        free(after);
        free(want);
        req_reset(&req);
        ncases++;
    }
}

static void expect_same_text(const openai_deployment_t *dep, const char *json)
{
    cJSON *body = cJSON_Parse(json);

    if (body == NULL) {
        fprintf(stderr, "test input does not parse: %s\n", json);
        exit(1);
    }
    expect_same(dep, body);
    cJSON_Delete(body);
}

static void test_fixed(void)
{
    static const char *const bodies[] = {
        "{\"model\":\"gpt-mock\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}],"
        "\"max_tokens\":16}",
        "{\"model\":\"gpt-mock\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
        "\"x\"}]}",
        "{}",
        "{\"messages\":[]}",
        "{\"model\":\"a\",\"model\":\"b\",\"stream\":false,\"stream\":true}",
        "{\"stream_options\":{\"include_usage\":false,\"x\":1},\"model\":\"m\"}",
        "{\"stream_options\":{\"x\":[1,2,{}],\"include_usage\":null,\"include_usage\":false}}",
        "{\"stream_options\":{},\"stream_options\":{\"a\":1}}",
        "{\"stream_options\":null}",
        "{\"stream_options\":\"yes\",\"stream\":\"no\"}",
        "{\"stream_options\":[1]}",
        "{\"tags\":[\"a\"],\"tags\":[\"b\"],\"metadata\":{\"k\":\"v\"},\"fallbacks\":[\"m2\"],"
        "\"guardrails\":[],\"cache\":{\"no-cache\":true},\"num_retries\":3,\"mock_response\":"
        "\"hi\","
        "\"session_id\":\"s\",\"enable_history\":true,\"context_window_fallback_dict\":{},"
        "\"user\":\"u\"}",
        "{\"Model\":\"case\",\"STREAM\":true,\"model \":1,\"modelx\":2,\"\":3}",
        "{\"temperature\":0.7,\"top_p\":1,\"n\":1,\"seed\":-42,\"presence_penalty\":-0.5,"
        "\"frequency_penalty\":0,\"logit_bias\":{\"50256\":-100},\"x\":-0.0,\"y\":1e15,"
        "\"z\":999999999999999,\"w\":-999999999999999,\"v\":1e300,\"u\":1.5e-300,"
        "\"t\":0.1,\"s\":123456789.123456789,\"r\":2147483648,\"q\":-2147483649,\"p\":1e-7,"
        "\"o\":4294967296.0,\"n2\":12345678901234567890}",
        "{\"s\":\"quote\\\" backslash\\\\ slash/ \\b\\f\\n\\r\\t \\u0001\\u001f\\u007f "
        "\\u00e9 \\u20ac \\ud83d\\ude00\",\"k\\\"ey\\n\":\"v\"}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}]},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
        "{\"type\":\"object\",\"properties\":{},\"required\":[]}}}],\"tool_choice\":\"auto\","
        "\"response_format\":{\"type\":\"json_object\"},\"stop\":[\"\\n\"],\"logprobs\":true}",
        "{\"a\":[[[[[]]]],{},[{}],[null,true,false,0,\"\"]]}",
        /* The canonical extensions and the text completion prompt. */
        "{\"model\":\"m\",\"prompt\":\"p\",\"prompt\":\"q\",\"thinking\":{\"type\":\"enabled\","
        "\"budget_tokens\":1024},\"top_k\":5,\"reasoning_effort\":\"low\",\"messages\":[{\"role\":"
        "\"system\",\"content\":[{\"type\":\"text\",\"text\":\"s\",\"cache_control\":{\"type\":"
        "\"ephemeral\"}}],\"cache_control\":{\"type\":\"ephemeral\"}},{\"role\":\"assistant\","
        "\"content\":\"a\",\"reasoning_content\":\"r\",\"thinking_blocks\":[{\"type\":"
        "\"thinking\",\"thinking\":\"t\",\"signature\":\"sig\"}],\"reasoning_content\":\"r2\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"https://x/y.png\"},\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}},"
        "\"not an object\",7]},\"odd\",[1]],\"tools\":[{\"type\":\"function\",\"function\":"
        "{\"name\":\"f\"},\"cache_control\":{\"type\":\"ephemeral\"}},3],\"messages\":[{"
        "\"reasoning_content\":1}],\"tools\":{\"cache_control\":1}}",
        "{\"messages\":{\"reasoning_content\":1},\"tools\":\"x\",\"top_k\":null,\"thinking\":null}",
        "{\"messages\":[{\"content\":{\"cache_control\":1}},{\"content\":[[{\"cache_control\":"
        "1}]]}]}",
    };
    openai_deployment_t *dep = make_deployment("gpt-4o-mini", "Bearer k", NULL, false);
    openai_deployment_t *odd = make_deployment("we\"ird\\model\n\x01", NULL, "org", true);

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        expect_same_text(dep, bodies[i]);
        expect_same_text(odd, bodies[i]);
        /* The rules of the upstream's kind: strict drops top_k and thinking, and cache_control
         * markers stay when the deployment forwards them. */
        dep->strict = true;
        expect_same_text(dep, bodies[i]);
        dep->strict = false;
        dep->forward_cache_control = true;
        expect_same_text(dep, bodies[i]);
        dep->forward_cache_control = false;
    }

    /* A model id with a NUL inside (a YAML "\0") ends at the NUL, as the C string it used to be. */
    static const char nul_model[] = "ab\0cd";
    free((void *)odd->model_member.ptr);
    odd->model = (gantry_str_t){nul_model, sizeof(nul_model) - 1};
    CHECK(build_model_member(&test_host, odd) == GANTRY_OK);
    CHECK(strcmp(odd->model_member.ptr, "\"model\":\"ab\"") == 0);
    expect_same_text(odd, bodies[0]);
    free_deployment(dep);
    free_deployment(odd);
}

/* A big body goes past the stack buffer and through the heap. */
static void test_large(void)
{
    openai_deployment_t *dep = make_deployment("m", NULL, NULL, false);
    cJSON *body = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(body, "messages");
    char text[3000];

    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    text[100] = '"';
    text[2000] = '\n';
    for (int i = 0; i < 40; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", text);
        cJSON_AddItemToArray(msgs, m);
    }
    cJSON_AddStringToObject(body, "model", "x");
    expect_same(dep, body);
    cJSON_Delete(body);
    free_deployment(dep);
}

/* ---- random bodies ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const key_pool[] = {
    "model",
    "stream",
    "stream_options",
    "include_usage",
    "tags",
    "metadata",
    "fallbacks",
    "cache",
    "messages",
    "tools",
    "prompt",
    "top_k",
    "thinking",
    "content",
    "role",
    "cache_control",
    "thinking_blocks",
    "reasoning_content",
    "temperature",
    "max_tokens",
    "user",
    "n",
    "a\"b",
    "é",
    "",
};

/* Mostly plain text, so that the escapes land at every offset of the writer's 8-byte words. */
static void random_string(char *buf, size_t cap)
{
    static const char alphabet[] = "ab \"\\/\n\t\x01\x1f\x7f\x80\xc3\xa9\xe2\x82\xac\xff{}[]:,0";
    size_t n = rnd((uint32_t)cap);

    for (size_t i = 0; i < n; i++)
        buf[i] = rnd(4) ? 'a' + (char)rnd(26) : alphabet[rnd(sizeof(alphabet) - 1)];
    buf[n] = '\0';
}

static cJSON *random_value(int depth)
{
    static const double numbers[] = {
        0,    1,     -1,    16,        0.5, -0.0, 1e15,  -1e15, 1e14, 0.1,  0.7,
        1e-5, 3e100, -2.25, 123456789, 2e9, -3e9, 1e308, 42,    7.0,  1e16, 99999999999999.0};
    char s[72];

    switch (rnd(depth > 3 ? 5 : 7)) {
    case 0:
        return cJSON_CreateNull();
    case 1:
        return cJSON_CreateBool(rnd(2));
    case 2:
        return cJSON_CreateNumber(numbers[rnd(sizeof(numbers) / sizeof(numbers[0]))]);
    case 3:
        return cJSON_CreateNumber((double)(int32_t)(rnd(UINT32_MAX)) * (rnd(2) ? 1 : 1000.5));
    case 4:
        random_string(s, sizeof(s));
        return cJSON_CreateString(s);
    case 5: {
        cJSON *a = cJSON_CreateArray();
        for (uint32_t i = rnd(4); i > 0; i--)
            cJSON_AddItemToArray(a, random_value(depth + 1));
        return a;
    }
    default: {
        cJSON *o = cJSON_CreateObject();
        for (uint32_t i = rnd(5); i > 0; i--)
            cJSON_AddItemToObject(o, key_pool[rnd(sizeof(key_pool) / sizeof(key_pool[0]))],
                                  random_value(depth + 1));
        return o;
    }
    }
}

static void test_random(void)
{
    openai_deployment_t *dep = make_deployment("gpt-4o-mini", NULL, NULL, false);

    for (int i = 0; i < 3000; i++) {
        cJSON *body = cJSON_CreateObject();
        for (uint32_t k = rnd(8); k > 0; k--) {
            /* Special keys often, so that duplicates and odd types of them come up. */
            const char *key = rnd(2) ? key_pool[rnd(13)]
                                     : ref_gateway_fields[rnd(sizeof(ref_gateway_fields) /
                                                              sizeof(ref_gateway_fields[0]))];
            cJSON_AddItemToObject(body, key, random_value(0));
        }
        dep->strict = rnd(2);
        dep->forward_cache_control = rnd(4) == 0;
        expect_same(dep, body);
        cJSON_Delete(body);
    }
    free_deployment(dep);
}

/* Headers: the plugin's own, minus those extra_headers replaces, then the extra ones. */
static void test_headers(void)
{
    openai_deployment_t *dep = make_deployment("m", "Bearer k", "org-1", true);
    gantry_req_t req = {0};
    gantry_upstream_t up = {0};

    req.body = cJSON_Parse("{\"model\":\"x\"}");
    CHECK(openai_prepare(&req, &inst, dep, &up) == GANTRY_CONTINUE);
    CHECK(up.nheaders == 3);
    CHECK(strcmp(up.headers[0], "Content-Type: application/json") == 0);
    CHECK(strcmp(up.headers[1], "OpenAI-Organization: org-1") == 0);
    CHECK(strcmp(up.headers[2], "authorization: Token x") == 0);
    req_reset(&req);
    free_deployment(dep);

    dep = make_deployment("m", "Bearer k", NULL, false);
    req.body = cJSON_Parse("{\"model\":\"x\"}");
    memset(&up, 0, sizeof(up));
    CHECK(openai_prepare(&req, &inst, dep, &up) == GANTRY_CONTINUE);
    CHECK(up.nheaders == 2);
    CHECK(strcmp(up.headers[1], "Authorization: Bearer k") == 0);
    req_reset(&req);
    free_deployment(dep);
}

/* Every allocation failure ends in a clean FAIL, without leaks (the ASan build checks those). */
static void test_alloc_failures(void)
{
    openai_deployment_t *dep = make_deployment("m", NULL, NULL, false);
    cJSON *body = cJSON_CreateObject();
    char text[5000];
    bool passed = false;

    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    cJSON_AddStringToObject(body, "a", text);
    cJSON_AddStringToObject(body, "b", text);
    cJSON_AddNumberToObject(body, "t", 0.25);
    for (size_t budget = 0; !passed; budget++) {
        gantry_req_t req = {0};
        gantry_upstream_t up = {0};
        gantry_action_t act;

        req.body = cJSON_Duplicate(body, 1);
        alloc_budget = budget;
        act = openai_prepare(&req, &inst, dep, &up);
        alloc_budget = SIZE_MAX;
        CHECK(act == GANTRY_CONTINUE || (act == GANTRY_FAIL && req.failed));
        passed = act == GANTRY_CONTINUE;
        req_reset(&req);
        CHECK(budget < 100);
    }
    cJSON_Delete(body);
    free_deployment(dep);
}

/* The by-length table finds every special key, and nothing else. */
static void test_special_keys(void)
{
    for (int k = 0; k < KEY_COUNT; k++)
        CHECK(special_key(special_keys[k]) == k);
    static const char *const others[] = {"Model", "models",      "stream_option",
                                         "top_p", "tool",        "n",
                                         "a",     "temperature", "user",
                                         "toolz", "max_tokens",  "context_window_fallback_dicT"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        CHECK(special_key((gantry_str_t){others[i], strlen(others[i])}) == -1);
}

int main(void)
{
    test_special_keys();
    test_fixed();
    test_large();
    test_random();
    test_headers();
    test_alloc_failures();
    printf("openai request: ok (%lu bodies)\n", ncases);
    return 0;
}
