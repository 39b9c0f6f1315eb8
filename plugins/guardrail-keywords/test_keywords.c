/*
 * Unit tests of the keywords guardrail: whole words and substrings, case, UTF-8 boundaries,
 * masking and blocking, streams split at every byte, and the plugin through a host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kw_int.h"
#include "test_host.h"

extern const gantry_plugin_desc_t *gantry_plugin_describe(void);

static th_inst_t inst;

static void open_with(const char *conf)
{
    int rc = th_inst_open(&inst, gantry_plugin_describe(), "kw", conf);
    if (rc != GANTRY_OK) {
        fprintf(stderr, "config %s: %s\n", conf, th_conf_error());
        abort();
    }
}

static const kw_instance_t *ki(void)
{
    return inst.state;
}

/* The whole text checked: masked text, the text itself, or "BLOCKED:<keyword>". */
static const char *check(const char *text)
{
    static char result[4096];
    kw_buf_t out = {NULL, 0, 0};
    size_t word = 0;
    kw_verdict_t v = kw_check_text(&ki()->set, &ki()->mem, text, strlen(text), &out, &word);

    if (v == KW_BLOCKED)
        snprintf(result, sizeof(result), "BLOCKED:%.*s", (int)ki()->set.words[word].len,
                 ki()->set.words[word].text);
    else
        snprintf(result, sizeof(result), "%s", v == KW_MASKED ? out.ptr : text);
    kw_buf_free(&ki()->mem, &out);
    return result;
}

#define EXPECT(text, want)                                                                 \
    do {                                                                                   \
        const char *got_ = check(text);                                                    \
        if (strcmp(got_, want) != 0)                                                       \
            fprintf(stderr, "  input: %s\n  expected: %s\n  got: %s\n", text, want, got_); \
        CHECK(strcmp(got_, want) == 0);                                                    \
    } while (0)

static void test_matching(void)
{
    open_with("{\"keywords\": [\"secret\", \"project x\", \"c++\", {\"keyword\": \"Apple\", "
              "\"case_sensitive\": true}, {\"keyword\": \"bad\", \"match\": \"substring\"}, "
              "\"\xe7\xa7\x98\xe5\xaf\x86\", \"caf\xc3\xa9\"], \"action\": \"mask\"}");
    EXPECT("the secret plan", "the [REDACTED] plan");
    EXPECT("the SECRET, plan", "the [REDACTED], plan");
    EXPECT("secrets and secretary", "secrets and secretary");
    EXPECT("top_secret", "top_secret");
    EXPECT("about Project  X and project x.", "about Project  X and [REDACTED].");
    EXPECT("I like c++ a lot, c++11 too", "I like [REDACTED] a lot, [REDACTED]11 too");
    EXPECT("Apple apple APPLE", "[REDACTED] apple APPLE");
    EXPECT("badge embadded", "[REDACTED]ge em[REDACTED]ded");
    /* Ideographs stand alone as words; accented letters are letters. */
    EXPECT("\xe8\xbf\x99\xe6\x98\xaf\xe7\xa7\x98\xe5\xaf\x86\xe7\x9a\x84",
           "\xe8\xbf\x99\xe6\x98\xaf[REDACTED]\xe7\x9a\x84");
    EXPECT("un caf\xc3\xa9 noir", "un [REDACTED] noir");
    EXPECT("caf\xc3\xa9s", "caf\xc3\xa9s");
    EXPECT("\xc3\xa9secret", "\xc3\xa9secret");
    EXPECT("\xe2\x80\x9csecret\xe2\x80\x9d", "\xe2\x80\x9c[REDACTED]\xe2\x80\x9d");
    th_inst_close(&inst);

    /* Overlapping keywords merge; block wins over mask. */
    open_with("{\"keywords\": [{\"keyword\": \"new york\", \"action\": \"mask\", \"replacement\": "
              "\"<city>\"}, {\"keyword\": \"york city\", \"action\": \"mask\"}, \"forbidden\"], "
              "\"match\": \"substring\"}");
    EXPECT("in new york city now", "in <city> now");
    EXPECT("a forbidden word and new york", "BLOCKED:forbidden");
    EXPECT("FORBIDDEN", "BLOCKED:forbidden");
    th_inst_close(&inst);
}

static void test_config(void)
{
    const gantry_plugin_desc_t *d = gantry_plugin_describe();
    th_inst_t in;

    CHECK(th_inst_open(&in, d, "kw", "{}") == GANTRY_ECONFIG);
    CHECK(strstr(th_conf_error(), "`keywords` is required") != NULL);
    CHECK(th_inst_open(&in, d, "kw", "{\"keywords\": []}") == GANTRY_ECONFIG);
    CHECK(th_inst_open(&in, d, "kw", "{\"keywords\": [\"\"]}") == GANTRY_ECONFIG);
    CHECK(th_inst_open(&in, d, "kw", "{\"keywords\": [{\"action\": \"mask\"}]}") == GANTRY_ECONFIG);
    CHECK(strstr(th_conf_error(), "needs a `keyword`") != NULL);
    CHECK(th_inst_open(&in, d, "kw", "{\"keywords\": [{\"keyword\": \"a\", \"colour\": 1}]}") ==
          GANTRY_ECONFIG);
    CHECK(strstr(th_conf_error(), "unknown key 'colour'") != NULL);
    CHECK(th_inst_open(&in, d, "kw", "{\"keywords\": [\"a\"], \"match\": \"regex\"}") ==
          GANTRY_ECONFIG);
    CHECK(th_inst_open(&in, d, "kw", "{\"keywords\": [\"a\"], \"action\": \"warn\"}") ==
          GANTRY_ECONFIG);
    CHECK(th_inst_open(&in, d, "kw",
                       "{\"keywords\": [{\"keyword\": \"a\", \"replacement\": \"b\"}]}") ==
          GANTRY_ECONFIG);
    CHECK(strstr(th_conf_error(), "needs `action: mask`") != NULL);
    CHECK(th_inst_open(&in, d, "kw", "{\"keywords\": [\"a\"], \"check_response\": 1}") ==
          GANTRY_ECONFIG);
}

/* ---- streams ---- */

static char *feed(const char *text, const size_t *cuts, size_t ncuts, const char **blocked)
{
    kw_carry_t c = {0};
    kw_buf_t out = {NULL, 0, 0}, all = {NULL, 0, 0};
    size_t n = strlen(text), at = 0, word = 0;

    *blocked = NULL;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t to = k < ncuts ? cuts[k] : n;
        kw_verdict_t v =
            kw_carry_feed(&ki()->set, &ki()->mem, &c, text + at, to - at, k == ncuts, &out, &word);
        if (v == KW_BLOCKED) {
            *blocked = ki()->set.words[word].text;
            break;
        }
        CHECK(v == KW_CLEAN || v == KW_MASKED);
        CHECK(kw_buf_put(&ki()->mem, &all, out.ptr, out.len));
        at = to;
    }
    CHECK(!c.forced);
    kw_carry_free(&ki()->mem, &c);
    kw_buf_free(&ki()->mem, &out);
    if (all.ptr == NULL)
        CHECK(kw_buf_put(&ki()->mem, &all, "", 0));
    return all.ptr;
}

static void test_stream_splits(void)
{
    static const char *const texts[] = {
        ("The secret of Project X: a badge, c++ code, Apple and apple, new york city, "
         "\xe8\xbf\x99\xe6\x98\xaf\xe7\xa7\x98\xe5\xaf\x86\xe7\x9a\x84 and caf\xc3\xa9 secret"),
        "secret",
        "secretary secrets secret",
    };

    open_with("{\"keywords\": [\"secret\", \"project x\", \"c++\", {\"keyword\": \"Apple\", "
              "\"case_sensitive\": true}, {\"keyword\": \"bad\", \"match\": \"substring\"}, "
              "{\"keyword\": \"new york\", \"match\": \"substring\"}, {\"keyword\": \"york city\", "
              "\"match\": \"substring\", \"replacement\": \"<c>\"}, \"\xe7\xa7\x98\xe5\xaf\x86\", "
              "\"caf\xc3\xa9\"], \"action\": \"mask\"}");
    for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
        const char *text = texts[t];
        size_t n = strlen(text);
        char *whole = strdup(check(text));
        size_t *cuts = malloc((n + 1) * sizeof(*cuts));
        const char *blocked;

        for (size_t k = 0; k <= n; k++) {
            char *got = feed(text, &k, 1, &blocked);
            if (strcmp(got, whole) != 0)
                fprintf(stderr, "  split at %zu:\n  whole: %s\n  split: %s\n", k, whole, got);
            CHECK(strcmp(got, whole) == 0);
            free(got);
        }
        for (size_t k = 0; k < n; k++)
            cuts[k] = k;
        {
            char *got = feed(text, cuts, n, &blocked);
            CHECK(strcmp(got, whole) == 0);
            free(got);
        }
        free(cuts);
        free(whole);
    }
    th_inst_close(&inst);

    /* A blocking keyword split across pieces blocks before any of it is released. */
    open_with("{\"keywords\": [\"forbidden\"]}");
    {
        kw_carry_t c = {0};
        kw_buf_t out = {NULL, 0, 0};
        size_t word;

        CHECK(kw_carry_feed(&ki()->set, &ki()->mem, &c, "this is forb", 12, false, &out, &word) ==
              KW_CLEAN);
        CHECK(strstr(out.ptr, "forb") == NULL);
        CHECK(kw_carry_feed(&ki()->set, &ki()->mem, &c, "idden", 5, false, &out, &word) ==
              KW_CLEAN); /* "forbiddenX" may still follow */
        CHECK(kw_carry_feed(&ki()->set, &ki()->mem, &c, " text", 5, false, &out, &word) ==
              KW_BLOCKED);
        kw_carry_free(&ki()->mem, &c);
        kw_buf_free(&ki()->mem, &out);
    }
    th_inst_close(&inst);
}

/* ---- the plugin through the host ---- */

static void test_plugin(void)
{
    const gantry_plugin_desc_t *d = gantry_plugin_describe();
    gantry_req_t *req;
    char *s;

    open_with("{\"keywords\": [\"forbidden\", {\"keyword\": \"acme\", \"action\": \"mask\"}]}");
    req = th_req_new("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                     "\"text\":\"ask ACME\"}]}]}",
                     false);
    CHECK(d->ops->check_request(req, inst.state, NULL) == GANTRY_CONTINUE);
    s = cJSON_PrintUnformatted(th_req_body(req));
    CHECK(strstr(s, "ask [REDACTED]") != NULL);
    free(s);
    CHECK_STR(th_req_noted(req), "kw");
    th_req_free(req);

    req =
        th_req_new("{\"messages\":[{\"role\":\"user\",\"content\":\"a Forbidden thing\"}]}", false);
    CHECK(d->ops->check_request(req, inst.state, NULL) == GANTRY_FAIL);
    CHECK(th_req_status(req) == 400 && th_req_class(req) == GANTRY_ERR_GUARDRAIL);
    CHECK_STR(th_req_type(req), "guardrail_violation");
    CHECK_STR(th_req_code(req), "keyword_detected");
    CHECK_STR(th_req_message(req),
              "guardrail 'kw' blocked the request: it contains the keyword 'forbidden'");
    th_req_free(req);

    req = th_req_new("{\"messages\":[]}", false);
    th_req_set_resp(req, "{\"choices\":[{\"message\":{\"content\":\"it is forbidden\"}}]}");
    CHECK(d->ops->check_response(req, inst.state, NULL) == GANTRY_FAIL);
    CHECK_STR(th_req_message(req),
              "guardrail 'kw' blocked the response: it contains a denied keyword");
    th_req_free(req);

    /* A stream: "acme" split across chunks is masked whole; the finish chunk releases the rest. */
    req = th_req_new("{\"messages\":[]}", true);
    {
        static const char *const pieces[] = {"Buy from Ac", "me today", NULL};
        char seen[256] = "";

        for (size_t k = 0; k < 3; k++) {
            char json[256];
            cJSON *chunk, *content;

            if (pieces[k] != NULL)
                snprintf(json, sizeof(json),
                         "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},"
                         "\"finish_reason\":null}]}",
                         pieces[k]);
            else
                snprintf(json, sizeof(json),
                         "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}");
            chunk = cJSON_Parse(json);
            CHECK(d->ops->check_chunk(req, inst.state, NULL, (gantry_json_t *)chunk) ==
                  GANTRY_CONTINUE);
            content = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(chunk, "choices"), 0),
                    "delta"),
                "content");
            if (cJSON_IsString(content))
                strncat(seen, content->valuestring, sizeof(seen) - strlen(seen) - 1);
            cJSON_Delete(chunk);
        }
        CHECK_STR(seen, "Buy from [REDACTED] today");
    }
    CHECK_STR(th_req_noted(req), "kw");
    th_req_free(req);
    th_inst_close(&inst);
}

int main(void)
{
    test_matching();
    test_config();
    test_stream_splits();
    test_plugin();
    return check_report();
}
