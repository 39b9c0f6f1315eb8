/*
 * Unit test of the bedrock provider's pure helpers: model strings (routes, families, region
 * prefixes, ARNs, managed prompt ARNs), regions read from endpoint URLs, and base64 / data URLs.
 * Includes the sources to reach their statics, as the other unit tests do.
 */
#include "check.h"

#include "bedrock_model.c"
#include "bedrock_util.c"

static bool view_is(gantry_str_t s, const char *lit)
{
    return br_str_eq(s, lit);
}

static br_model_t parse_ok(const char *s)
{
    br_model_t m;
    char err[300] = "";
    int rc = br_model_parse((gantry_str_t){s, strlen(s)}, &m, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "unexpected refusal of %s: %s\n", s, err);
    CHECK(rc == 0);
    return m;
}

static void parse_bad(const char *s, const char *why)
{
    br_model_t m;
    char err[300] = "";
    CHECK(br_model_parse((gantry_str_t){s, strlen(s)}, &m, err, sizeof err) == -1);
    CHECK(strstr(err, why) != NULL);
}

static void test_models(void)
{
    br_model_t m = parse_ok("anthropic.claude-3-5-sonnet-20240620-v1:0");
    CHECK(m.api == BR_API_CONVERSE && m.family == BR_FAM_ANTHROPIC && !m.prompt);
    CHECK(view_is(m.id, "anthropic.claude-3-5-sonnet-20240620-v1:0"));

    m = parse_ok("converse/us.anthropic.claude-3-5-haiku-20241022-v1:0");
    CHECK(m.api == BR_API_CONVERSE && m.family == BR_FAM_ANTHROPIC);
    CHECK(view_is(m.id, "us.anthropic.claude-3-5-haiku-20241022-v1:0"));

    m = parse_ok("invoke/global.anthropic.claude-sonnet-4-20250514-v1:0");
    CHECK(m.api == BR_API_INVOKE && m.family == BR_FAM_ANTHROPIC);
    CHECK(parse_ok("invoke/apac.amazon.nova-lite-v1:0").family == BR_FAM_NOVA);
    CHECK(parse_ok("invoke/meta.llama3-1-70b-instruct-v1:0").family == BR_FAM_LLAMA);
    CHECK(parse_ok("invoke/mistral.mistral-large-2402-v1:0").family == BR_FAM_MISTRAL);
    CHECK(parse_ok("invoke/amazon.titan-text-premier-v1:0").family == BR_FAM_TITAN_TEXT);
    CHECK(parse_ok("openai.gpt-oss-120b-1:0").family == BR_FAM_OPENAI);
    CHECK(parse_ok("amazon.nova-2-multimodal-embeddings-v1:0").family == BR_FAM_OTHER);

    /* Embedding models always go through InvokeModel. */
    m = parse_ok("amazon.titan-embed-text-v2:0");
    CHECK(m.api == BR_API_INVOKE && m.family == BR_FAM_TITAN_EMBED);
    m = parse_ok("cohere.embed-multilingual-v3");
    CHECK(m.api == BR_API_INVOKE && m.family == BR_FAM_COHERE_EMBED);

    /* ARNs: the region comes along; the family from the resource's tail when it says it. */
    m = parse_ok("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/"
                 "eu.mistral.pixtral-large-2502-v1:0");
    CHECK(m.family == BR_FAM_MISTRAL && view_is(m.region, "eu-west-1"));
    m = parse_ok("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3");
    CHECK(m.family == BR_FAM_OTHER && m.api == BR_API_CONVERSE);

    /* Managed prompts. */
    m = parse_ok("arn:aws:bedrock:us-west-2:123456789012:prompt/PROMPT12345:3");
    CHECK(m.prompt && view_is(m.prompt_id, "PROMPT12345") && view_is(m.prompt_version, "3"));
    CHECK(view_is(m.region, "us-west-2"));
    m = parse_ok("converse/arn:aws:bedrock:us-west-2:123456789012:prompt/PROMPT12345");
    CHECK(m.prompt && m.prompt_version.len == 0);

    parse_bad("", "model id");
    parse_bad("invoke/", "model id");
    parse_bad("anthropic.claude v1", "spaces");
    parse_bad("invoke/ai21.jamba-1-5-large-v1:0", "converse/");
    parse_bad("invoke/arn:aws:bedrock:us-west-2:1:application-inference-profile/x", "converse/");
    parse_bad("invoke/arn:aws:bedrock:us-west-2:1:prompt/P1", "not invoke/");
    parse_bad("arn:aws:s3:::bucket/key", "arn:aws:bedrock");
    parse_bad("arn:aws:bedrock:us-west-2:1:prompt/P$1", "invalid character");
    parse_bad("arn:aws:bedrock:us-west-2:1:prompt/P1:", "empty version");
    parse_bad("arn:aws:bedrock:us-west-2:1:prompt/P1:1?x=y", "invalid character");
}

static void test_regions(void)
{
    static const struct {
        const char *url, *region;
    } cases[] = {
        {"https://bedrock-runtime.eu-west-3.amazonaws.com", "eu-west-3"},
        {"https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com/", "us-gov-west-1"},
        {"https://vpce-0abc.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com", "ap-southeast-2"},
        {"https://bedrock-agent.ca-central-1.amazonaws.com:443/x", "ca-central-1"},
        {"http://127.0.0.1:8080", ""},
        {"https://proxy.example.com/bedrock", ""},
        {"not a url", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gantry_str_t r = br_region_of_url((gantry_str_t){cases[i].url, strlen(cases[i].url)});
        CHECK(view_is(r, cases[i].region));
    }
}

static void test_data_urls(void)
{
    gantry_str_t mime, data;
    const char *u = "data:image/png;base64,AAAA";
    CHECK(br_data_url((gantry_str_t){u, strlen(u)}, &mime, &data));
    CHECK(view_is(mime, "image/png") && view_is(data, "AAAA"));
    u = "data:text/plain;charset=utf-8;base64,aGk=";
    CHECK(br_data_url((gantry_str_t){u, strlen(u)}, &mime, &data));
    CHECK(view_is(mime, "text/plain") && view_is(data, "aGk="));
    u = "data:text/plain,hello";
    CHECK(!br_data_url((gantry_str_t){u, strlen(u)}, &mime, &data));
    u = "https://example.com/a.png";
    CHECK(!br_data_url((gantry_str_t){u, strlen(u)}, &mime, &data));
}

/* base64 goes through host->alloc: a bump allocator over a static buffer stands in. */
static char arena[4096];
static size_t arena_used;

static void *t_alloc(gantry_req_t *req, size_t n)
{
    (void)req;
    n = (n + 15) & ~(size_t)15;
    if (n > sizeof arena - arena_used)
        return NULL;
    arena_used += n;
    return arena + arena_used - n;
}

static void test_base64(void)
{
    gantry_host_t host = {.size = sizeof host, .alloc = t_alloc};
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        size_t len;
        char *e = br_b64_encode(NULL, &host, plain[i], strlen(plain[i]), &len);
        CHECK_STR(e, coded[i]);
        gantry_str_t d;
        CHECK(br_b64_decode(NULL, &host, (gantry_str_t){coded[i], strlen(coded[i])}, &d) == 0);
        CHECK(view_is(d, plain[i]));
    }
    gantry_str_t d;
    /* Padding is optional; anything outside the alphabet, or an impossible length, is refused. */
    CHECK(br_b64_decode(NULL, &host, GANTRY_STR_LIT("Zm9vYg"), &d) == 0 && view_is(d, "foob"));
    CHECK(br_b64_decode(NULL, &host, GANTRY_STR_LIT("Zm9v YmFy"), &d) == -1);
    CHECK(br_b64_decode(NULL, &host, GANTRY_STR_LIT("Zm9vY"), &d) == -1);
    CHECK(br_b64_decode(NULL, &host, GANTRY_STR_LIT("Zg==="), &d) == -1);
    CHECK(br_b64_decode(NULL, &host, GANTRY_STR_LIT("!!!!"), &d) == -1);
}

int main(void)
{
    test_models();
    test_regions();
    test_data_urls();
    test_base64();
    return check_report();
}
