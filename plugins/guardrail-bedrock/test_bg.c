/*
 * Unit tests of the Bedrock guardrail without a gateway: the ApplyGuardrail body (golden), the
 * parsing of answers and their assessments, the texts taken from requests and responses, masking,
 * and each mode's flow through a stand-in host (bg_test_host.h) whose side calls the test answers
 * by hand: pre_call pauses and resumes, during_call defers a holding verdict, post_call masks the
 * answer, and a stream is checked in windows whose verdicts chain in order.
 */
#include "bedrock_guardrail.h"

#include "bg_test_host.h"

static int passed, failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            passed++;                                                                \
        } else {                                                                     \
            failed++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_STR(a, b) CHECK((a) != NULL && strcmp((a), (b)) == 0)
#define CHECK_HAS(hay, needle) CHECK(strstr((hay), (needle)) != NULL)
#define CHECK_LACKS(hay, needle) CHECK(strstr((hay), (needle)) == NULL)

static gantry_str_t S(const char *s)
{
    return (gantry_str_t){s, strlen(s)};
}

/* ---- answers of the mock's shape ---- */

static const char *const ANSWER_NONE =
    "{\"action\":\"NONE\",\"actionReason\":\"No action.\",\"outputs\":[],\"assessments\":[{}],"
    "\"usage\":{\"topicPolicyUnits\":1}}";
static const char *const ANSWER_BLOCKED =
    "{\"action\":\"GUARDRAIL_INTERVENED\",\"outputs\":[{\"text\":\"Sorry, blocked.\"}],"
    "\"assessments\":[{\"topicPolicy\":{\"topics\":[{\"name\":\"Forbidden\",\"type\":\"DENY\","
    "\"action\":\"BLOCKED\",\"detected\":true}]},\"contentPolicy\":{\"filters\":[{\"type\":"
    "\"MISCONDUCT\",\"confidence\":\"HIGH\",\"action\":\"BLOCKED\"},{\"type\":\"HATE\","
    "\"confidence\":\"NONE\",\"action\":\"NONE\",\"detected\":false}]}}]}";
static const char *const ANSWER_MASKED_2 =
    "{\"action\":\"GUARDRAIL_INTERVENED\",\"outputs\":[{\"text\":\"be nice\"},{\"text\":\"mail "
    "{EMAIL} and SSN {US_SOCIAL_SECURITY_NUMBER}\"}],\"assessments\":[{\"sensitiveInformation"
    "Policy\":{\"piiEntities\":[{\"type\":\"EMAIL\",\"match\":\"bob@example.com\",\"action\":"
    "\"ANONYMIZED\"},{\"type\":\"US_SOCIAL_SECURITY_NUMBER\",\"match\":\"123-45-6789\",\"action\""
    ":\"ANONYMIZED\"},{\"type\":\"EMAIL\",\"match\":\"al@example.com\",\"action\":\"ANONYMIZED\""
    "}]}}]}";

static bg_verdict_t parse(gantry_req_t *r, const char *text, int *rc, char *err, size_t errlen)
{
    bg_verdict_t v;
    *rc = bg_parse_verdict(&th_host, r, S(text), &v, err, errlen);
    return v;
}

static void test_body(void)
{
    gantry_req_t r;
    th_req_init(&r);
    gantry_str_t texts[2] = {S("hello"), S("a \"quoted\"\nline")};
    gantry_str_t out;
    CHECK(bg_build_body(&th_host, &r, "INPUT", texts, 2, &out) == GANTRY_OK);
    CHECK(out.len == strlen(out.ptr));
    CHECK_STR(out.ptr, "{\"source\":\"INPUT\",\"content\":[{\"text\":{\"text\":\"hello\"}},"
                       "{\"text\":{\"text\":\"a \\\"quoted\\\"\\nline\"}}]}");
    CHECK(bg_build_body(&th_host, &r, "OUTPUT", texts, 1, &out) == GANTRY_OK);
    CHECK_STR(out.ptr, "{\"source\":\"OUTPUT\",\"content\":[{\"text\":{\"text\":\"hello\"}}]}");
    /* An allocation failure is reported, not crashed on. */
    th_alloc_budget = 0;
    CHECK(bg_build_body(&th_host, &r, "INPUT", texts, 2, &out) == GANTRY_ENOMEM);
    th_alloc_budget = (size_t)-1;
    th_req_free(&r);
}

static void test_parse(void)
{
    gantry_req_t r;
    th_req_init(&r);
    char err[160];
    int rc;

    bg_verdict_t v = parse(&r, ANSWER_NONE, &rc, err, sizeof err);
    CHECK(rc == 0 && !v.intervened && bg_outcome(&v) == BG_PASS && v.summary[0] == '\0');

    v = parse(&r, ANSWER_BLOCKED, &rc, err, sizeof err);
    CHECK(rc == 0 && v.intervened && v.blocked && !v.anonymized);
    CHECK(bg_outcome(&v) == BG_BLOCK);
    CHECK_STR(v.summary, "topic 'Forbidden', content filter MISCONDUCT");
    CHECK_STR(v.message, "Sorry, blocked.");

    v = parse(&r, ANSWER_MASKED_2, &rc, err, sizeof err);
    CHECK(rc == 0 && v.intervened && !v.blocked && v.anonymized && bg_outcome(&v) == BG_MASK);
    /* Each entity once, and never the matched text. */
    CHECK_STR(v.summary, "PII EMAIL (anonymized), PII US_SOCIAL_SECURITY_NUMBER (anonymized)");
    CHECK_LACKS(v.summary, "example.com");
    CHECK(v.noutputs == 2);
    CHECK(bg_output_text(&th_host, &v, 1).len == strlen("mail {EMAIL} and SSN "
                                                        "{US_SOCIAL_SECURITY_NUMBER}"));
    CHECK(bg_output_text(&th_host, &v, 2).ptr == NULL);

    /* Anonymized plus a blocked word: the block wins; the word itself is not named. */
    v = parse(&r,
              "{\"action\":\"GUARDRAIL_INTERVENED\",\"outputs\":[{\"text\":\"no\"}],"
              "\"assessments\":[{\"sensitiveInformationPolicy\":{\"regexes\":[{\"name\":\"acct\","
              "\"match\":\"A-1\",\"regex\":\"A-\\\\d\",\"action\":\"ANONYMIZED\"}]},"
              "\"wordPolicy\":{\"customWords\":[{\"match\":\"darn\",\"action\":\"BLOCKED\"}],"
              "\"managedWordLists\":[{\"match\":\"heck\",\"type\":\"PROFANITY\",\"action\":"
              "\"BLOCKED\"}]}},{\"contextualGroundingPolicy\":{\"filters\":[{\"type\":"
              "\"GROUNDING\",\"threshold\":0.5,\"score\":0.1,\"action\":\"BLOCKED\"}]}}]}",
              &rc, err, sizeof err);
    CHECK(rc == 0 && v.blocked && v.anonymized && bg_outcome(&v) == BG_BLOCK);
    CHECK_STR(v.summary, "custom word, managed word list PROFANITY, regex 'acct' (anonymized), "
                         "contextual grounding GROUNDING");
    CHECK_LACKS(v.summary, "darn");
    CHECK_LACKS(v.summary, "heck");

    /* Intervened without saying how: blocked, not let through. */
    v = parse(&r,
              "{\"action\":\"GUARDRAIL_INTERVENED\",\"outputs\":[],\"assessments\":[{\""
              "automatedReasoningPolicy\":{\"findings\":[{}]}}]}",
              &rc, err, sizeof err);
    CHECK(rc == 0 && bg_outcome(&v) == BG_BLOCK);
    CHECK_STR(v.summary, "a policy intervened");
    CHECK(v.message[0] == '\0');

    /* Names are cleaned of control characters. */
    v = parse(&r,
              "{\"action\":\"GUARDRAIL_INTERVENED\",\"assessments\":[{\"topicPolicy\":{"
              "\"topics\":[{\"name\":\"a\\u0001b\\nc\",\"action\":\"BLOCKED\"}]}}]}",
              &rc, err, sizeof err);
    CHECK(rc == 0);
    CHECK_STR(v.summary, "topic 'a?b c'");

    /* A long list is cut, marked, and stays within its size. */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof big,
                                "{\"action\":\"GUARDRAIL_INTERVENED\","
                                "\"assessments\":[{\"sensitiveInformationPolicy\":"
                                "{\"regexes\":[");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(big + n, sizeof big - n,
                              "%s{\"name\":\"pattern-%02d\",\"action\":"
                              "\"BLOCKED\"}",
                              i ? "," : "", i);
    snprintf(big + n, sizeof big - n, "]}}]}");
    v = parse(&r, big, &rc, err, sizeof err);
    CHECK(rc == 0 && strlen(v.summary) <= BG_SUMMARY_LEN);
    CHECK(strlen(v.summary) > 200);
    CHECK(strcmp(v.summary + strlen(v.summary) - 3, "...") == 0);

    /* Not answers. */
    static const char *const bad[] = {
        "not json",
        "[]",
        "{\"outputs\":[]}",
        "{\"action\":\"MAYBE\"}",
        "{\"action\":\"NONE\",\"outputs\":{}}",
        "{\"action\":7}",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        v = parse(&r, bad[i], &rc, err, sizeof err);
        CHECK(rc == -1 && err[0] != '\0');
    }
    v = parse(&r, "{\"action\":\"MAYBE\"}", &rc, err, sizeof err);
    CHECK_STR(err, "unknown action \"MAYBE\"");
    th_req_free(&r);
}

static void test_clean(void)
{
    char out[64];
    bg_clean(S("a\nb\x01"
               "c"),
             50, out, sizeof out);
    CHECK_STR(out, "a b?c");
    bg_clean(S("a\xc3\xa9\xc3\xa9"), 3, out, sizeof out); /* "aéé": the second é does not fit */
    CHECK_STR(out, "a\xc3\xa9...");
    bg_clean(S("x\xff"
               "y\xc3"),
             50, out, sizeof out); /* broken sequences */
    CHECK_STR(out, "x y ");
    bg_clean(GANTRY_STR_NULL, 50, out, sizeof out);
    CHECK_STR(out, "");
    bg_clean(S("abcdef"), 50, out, 5); /* the buffer, not max, is the limit */
    CHECK(strlen(out) < 5);

    gantry_req_t r;
    th_req_init(&r);
    bg_error_message(&th_host, &r,
                     S("{\"message\":\"The security token included in the "
                       "request is invalid.\"}"),
                     out, sizeof out);
    CHECK_STR(out, "The security token included in the request is invalid.");
    bg_error_message(&th_host, &r, S("{\"Message\":\"x\"}"), out, sizeof out);
    CHECK_STR(out, "x");
    bg_error_message(&th_host, &r, S("<html>oops</html>\n"), out, sizeof out);
    CHECK_STR(out, "<html>oops</html> ");
    th_req_free(&r);
}

static void test_utf8(void)
{
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* a é € 😀 */
    CHECK(bg_utf8_chars(s, strlen(s)) == 4);
    CHECK(bg_utf8_tail("abcd\xc3\xa9", 6, 2) == 3);
    CHECK(bg_utf8_tail("abc", 3, 10) == 0);
    CHECK(bg_utf8_tail("abc", 3, 0) == 3);
    CHECK(bg_window_size(1000, 0) == 1000 && bg_window_size(1000, 7) == 1000);
    CHECK(bg_window_size(1000, 8) == 2000 && bg_window_size(1000, 16) == 4000);
    CHECK(bg_window_size(1000, 1000) == (size_t)1000 << 10);
}

static cJSON *parse_json(const char *s)
{
    cJSON *j = cJSON_Parse(s);
    if (j == NULL) {
        fprintf(stderr, "bad test JSON: %s\n", s);
        exit(2);
    }
    return j;
}

static void texts_joined(bg_nodes_t *l, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s%s", i ? "|" : "", th_json_string(l->v[i]).ptr);
    }
}

static void test_texts(void)
{
    gantry_req_t r;
    th_req_init(&r);
    char got[512];
    r.body = parse_json(
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"sys\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"dev\"}]},"
        "{\"role\":\"user\",\"content\":\"u1\"},"
        "{\"role\":\"assistant\",\"content\":\"a1\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"t\",\"content\":\"tool out\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}},"
        "{\"type\":\"text\",\"text\":\"\"},{\"type\":\"text\",\"text\":\"u2\"},{\"text\":\"no "
        "type\"}]},"
        "{\"role\":\"user\",\"content\":null},\"junk\",{\"content\":\"no role\"}]}");
    bg_nodes_t l = {0};
    CHECK(bg_request_texts(&th_host, &r, (gantry_json_t *)r.body, GANTRY_EP_CHAT, &l) == GANTRY_OK);
    texts_joined(&l, got, sizeof got);
    CHECK_STR(got, "sys|dev|u1|u2");

    cJSON_Delete(r.body);
    r.body = parse_json("{\"model\":\"e\",\"input\":[\"a\",\"\",\"b\",3]}");
    l = (bg_nodes_t){0};
    CHECK(bg_request_texts(&th_host, &r, (gantry_json_t *)r.body, GANTRY_EP_EMBEDDINGS, &l) ==
          GANTRY_OK);
    texts_joined(&l, got, sizeof got);
    CHECK_STR(got, "a|b");
    cJSON_Delete(r.body);
    r.body = parse_json("{\"model\":\"e\",\"input\":[[1,2],[3]]}");
    l = (bg_nodes_t){0};
    bg_request_texts(&th_host, &r, (gantry_json_t *)r.body, GANTRY_EP_EMBEDDINGS, &l);
    CHECK(l.n == 0);

    r.resp = parse_json("{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                        "\"content\":\"first\"}},{\"index\":1,\"message\":{\"content\":null,"
                        "\"tool_calls\":[]}},{\"index\":2,\"message\":{\"content\":[{\"type\":"
                        "\"text\",\"text\":\"third\"}]}}]}");
    l = (bg_nodes_t){0};
    CHECK(bg_response_texts(&th_host, &r, (gantry_json_t *)r.resp, &l) == GANTRY_OK);
    texts_joined(&l, got, sizeof got);
    CHECK_STR(got, "first|third");
    th_req_free(&r);
}

/* ---- flows through the stand-in host ---- */

static char k_id[] = "gr1";
static char k_version[] = "DRAFT";
static char k_endpoint[] = "http://127.0.0.1:9";
static char k_url[] = "http://127.0.0.1:9/guardrail/gr1/version/DRAFT/apply";
static char k_region[] = "us-east-1";
static aws_cred_provider_t *k_creds;

static bg_instance_t inst(struct gantry_instance *self, unsigned modes, bool mask_req,
                          bool mask_resp, size_t window)
{
    self->modes = modes;
    bg_instance_t bg = {
        .host = &th_host,
        .self = self,
        .name = "bg-test",
        .modes = modes,
        .guardrail_id = k_id,
        .version = k_version,
        .endpoint = k_endpoint,
        .url = k_url,
        .region = k_region,
        .creds = k_creds,
        .mask_request = mask_req,
        .mask_response = mask_resp,
        .timeout_ms = 5000,
        .stream_window = window,
    };
    return bg;
}

static void answer(gantry_req_t *r, size_t call, int status, const char *body, const char *error)
{
    gantry_http_result_t res = {.size = sizeof res, .status = status};
    if (body != NULL)
        res.body = S(body);
    if (error != NULL)
        res.error = S(error);
    CHECK(call < r->ncalls && !r->calls[call].done);
    if (call >= r->ncalls)
        return;
    r->calls[call].done = true;
    r->calls[call].cb(r, r->calls[call].arg, &res);
    th_run_timers(r);
}

static const char *header(const th_call_t *c, const char *prefix)
{
    for (size_t i = 0; i < c->nheaders; i++) {
        if (strncmp(c->headers[i], prefix, strlen(prefix)) == 0)
            return c->headers[i] + strlen(prefix);
    }
    return "";
}

static const char *const CHAT_PII =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be nice\"},"
    "{\"role\":\"user\",\"content\":\"mail bob@example.com and SSN 123-45-6789\"}]}";

static void test_pre_call(void)
{
    struct gantry_instance self;
    bg_instance_t bg = inst(&self, GANTRY_GUARD_PRE_CALL, true, false, 1000);
    gantry_req_t r;

    /* Masked: the request continues with the guardrail's text, and the guardrail is named. */
    th_req_init(&r);
    r.body = parse_json(CHAT_PII);
    CHECK(bg_check_request(&r, &bg, NULL) == GANTRY_PAUSE);
    CHECK(r.ncalls == 1 && r.tickets == 0);
    const th_call_t *c = &r.calls[0];
    CHECK_STR(c->url, "http://127.0.0.1:9/guardrail/gr1/version/DRAFT/apply");
    CHECK_STR(c->body, "{\"source\":\"INPUT\",\"content\":[{\"text\":{\"text\":\"be nice\"}},"
                       "{\"text\":{\"text\":\"mail bob@example.com and SSN 123-45-6789\"}}]}");
    CHECK_STR(header(c, "X-Amz-Date: "), "20150830T123600Z");
    CHECK_HAS(header(c, "Authorization: "),
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
              "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=");
    CHECK_STR(header(c, "Content-Type: "), "application/json");
    CHECK(c->timeout_ms == 5000);
    answer(&r, 0, 200, ANSWER_MASKED_2, NULL);
    CHECK(r.resumes == 1 && r.resumed == GANTRY_CONTINUE && !r.failed);
    cJSON *msgs = cJSON_GetObjectItem(r.body, "messages");
    CHECK_STR(cJSON_GetArrayItem(msgs, 1)->child->next->valuestring,
              "mail {EMAIL} and SSN {US_SOCIAL_SECURITY_NUMBER}");
    CHECK_STR(cJSON_GetArrayItem(msgs, 0)->child->next->valuestring, "be nice");
    CHECK_STR(r.notes, "bg-test");
    th_req_free(&r);

    /* Blocked: 400 naming the guardrail, the policies and the guardrail's message. */
    th_req_init(&r);
    r.body = parse_json(CHAT_PII);
    CHECK(bg_check_request(&r, &bg, NULL) == GANTRY_PAUSE);
    answer(&r, 0, 200, ANSWER_BLOCKED, NULL);
    CHECK(r.resumes == 1 && r.resumed == GANTRY_FAIL && r.failed);
    CHECK(r.fail_status == 400 && r.fail_class == GANTRY_ERR_GUARDRAIL);
    CHECK_STR(r.fail_type, "guardrail_violation");
    CHECK_STR(r.fail_code, "guardrail_intervened");
    CHECK_STR(r.fail_message, "Request blocked by guardrail 'bg-test': topic 'Forbidden', "
                              "content filter MISCONDUCT. Guardrail message: Sorry, blocked.");
    CHECK_STR(r.notes, "bg-test");
    th_req_free(&r);

    /* Outputs that do not line up with the texts sent: nothing is replaced, a service error. */
    th_req_init(&r);
    r.body = parse_json(CHAT_PII);
    bg_check_request(&r, &bg, NULL);
    answer(&r, 0, 200,
           "{\"action\":\"GUARDRAIL_INTERVENED\",\"outputs\":[{\"text\":\"x\"}],\"assessments\":"
           "[{\"sensitiveInformationPolicy\":{\"piiEntities\":[{\"type\":\"EMAIL\",\"action\":"
           "\"ANONYMIZED\"}]}}]}",
           NULL);
    CHECK(r.resumed == GANTRY_FAIL && r.fail_class == GANTRY_ERR_SERVER);
    CHECK_HAS(r.fail_message, "2 blocks sent, 1 returned");
    char *printed = cJSON_PrintUnformatted(r.body);
    CHECK(printed != NULL && strstr(printed, "bob@example.com") != NULL);
    free(printed);
    th_req_free(&r);

    /* Masking off: anonymization is a block, with a hint. */
    bg = inst(&self, GANTRY_GUARD_PRE_CALL, false, false, 1000);
    th_req_init(&r);
    r.body = parse_json(CHAT_PII);
    bg_check_request(&r, &bg, NULL);
    answer(&r, 0, 200, ANSWER_MASKED_2, NULL);
    CHECK(r.resumed == GANTRY_FAIL && r.fail_class == GANTRY_ERR_GUARDRAIL);
    CHECK_HAS(r.fail_message, "PII EMAIL (anonymized)");
    CHECK_HAS(r.fail_message, "mask_request_content");
    th_req_free(&r);

    /* Service failures are not verdicts: server and timeout classes, so fail_open applies. */
    struct {
        int status;
        const char *body, *error;
        gantry_error_class_t cls;
        int http;
        const char *says;
    } failures[] = {
        {0, NULL, "Timeout was reached", GANTRY_ERR_TIMEOUT, 504, "did not answer within 5000"},
        {0, NULL, "Couldn't connect to server", GANTRY_ERR_SERVER, 502, "could not reach"},
        {403, "{\"message\":\"The request signature we calculated does not match\"}", NULL,
         GANTRY_ERR_SERVER, 502, "answered 403: The request signature"},
        {500, "{\"message\":\"boom\"}", NULL, GANTRY_ERR_SERVER, 502, "answered 500: boom"},
        {200, "{\"action\":", NULL, GANTRY_ERR_SERVER, 502, "malformed ApplyGuardrail answer"},
    };
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        th_req_init(&r);
        r.body = parse_json(CHAT_PII);
        bg_check_request(&r, &bg, NULL);
        answer(&r, 0, failures[i].status, failures[i].body, failures[i].error);
        CHECK(r.resumed == GANTRY_FAIL && r.fail_class == failures[i].cls);
        CHECK(r.fail_status == failures[i].http);
        CHECK_STR(r.fail_code, "guardrail_error");
        CHECK_HAS(r.fail_message, "Guardrail 'bg-test' could not check the request");
        CHECK_HAS(r.fail_message, failures[i].says);
        CHECK(r.notes[0] == '\0');
        th_req_free(&r);
    }

    /* Nothing to check: no call. */
    th_req_init(&r);
    r.body = parse_json("{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":"
                        "\"hi\"}]}");
    CHECK(bg_check_request(&r, &bg, NULL) == GANTRY_CONTINUE && r.ncalls == 0);
    th_req_free(&r);

    /* /v1/completions: the kept prompt is masked along with its message. */
    bg = inst(&self, GANTRY_GUARD_PRE_CALL, true, false, 1000);
    th_req_init(&r);
    r.endpoint = GANTRY_EP_COMPLETIONS;
    r.body = parse_json("{\"model\":\"m\",\"prompt\":\"mail bob@example.com\",\"messages\":[{"
                        "\"role\":\"user\",\"content\":\"mail bob@example.com\"}]}");
    bg_check_request(&r, &bg, NULL);
    answer(&r, 0, 200,
           "{\"action\":\"GUARDRAIL_INTERVENED\",\"outputs\":[{\"text\":\"mail {EMAIL}\"}],"
           "\"assessments\":[{\"sensitiveInformationPolicy\":{\"piiEntities\":[{\"type\":"
           "\"EMAIL\",\"action\":\"ANONYMIZED\"}]}}]}",
           NULL);
    CHECK(r.resumed == GANTRY_CONTINUE);
    CHECK_STR(cJSON_GetObjectItem(r.body, "prompt")->valuestring, "mail {EMAIL}");
    th_req_free(&r);
}

static void test_during_call(void)
{
    struct gantry_instance self;
    bg_instance_t bg = inst(&self, GANTRY_GUARD_DURING_CALL, true, false, 1000);
    gantry_req_t r;

    th_req_init(&r);
    r.body = parse_json(CHAT_PII);
    CHECK(bg_check_request(&r, &bg, NULL) == GANTRY_CONTINUE);
    CHECK(r.ncalls == 1 && r.tickets == 1 && r.ticket_flags[0] == GANTRY_VERDICT_HOLD);
    answer(&r, 0, 200, ANSWER_BLOCKED, NULL);
    CHECK(r.delivered[0] == GANTRY_FAIL && r.resumes == 0);
    CHECK(r.fail_status == 400 && r.fail_class == GANTRY_ERR_GUARDRAIL);
    th_req_free(&r);

    th_req_init(&r);
    r.body = parse_json(CHAT_PII);
    bg_check_request(&r, &bg, NULL);
    answer(&r, 0, 200, ANSWER_NONE, NULL);
    CHECK(r.delivered[0] == GANTRY_CONTINUE && !r.failed);
    th_req_free(&r);

    /* Anonymized during the call: too late to mask; with masking on it passes (noted). */
    th_req_init(&r);
    r.body = parse_json(CHAT_PII);
    bg_check_request(&r, &bg, NULL);
    answer(&r, 0, 200, ANSWER_MASKED_2, NULL);
    CHECK(r.delivered[0] == GANTRY_CONTINUE && !r.failed);
    CHECK_HAS(
        cJSON_GetArrayItem(cJSON_GetObjectItem(r.body, "messages"), 1)->child->next->valuestring,
        "bob@example.com");
    CHECK_STR(r.notes, "bg-test");
    th_req_free(&r);

    /* ...and with masking off it blocks. */
    bg = inst(&self, GANTRY_GUARD_DURING_CALL, false, false, 1000);
    th_req_init(&r);
    r.body = parse_json(CHAT_PII);
    bg_check_request(&r, &bg, NULL);
    answer(&r, 0, 200, ANSWER_MASKED_2, NULL);
    CHECK(r.delivered[0] == GANTRY_FAIL && r.fail_class == GANTRY_ERR_GUARDRAIL);
    th_req_free(&r);

    /* A service failure is delivered as FAIL with a server class. */
    th_req_init(&r);
    r.body = parse_json(CHAT_PII);
    bg_check_request(&r, &bg, NULL);
    answer(&r, 0, 500, "{}", NULL);
    CHECK(r.delivered[0] == GANTRY_FAIL && r.fail_class == GANTRY_ERR_SERVER);
    th_req_free(&r);
}

static void test_post_call(void)
{
    struct gantry_instance self;
    bg_instance_t bg = inst(&self, GANTRY_GUARD_POST_CALL, false, true, 1000);
    gantry_req_t r;

    th_req_init(&r);
    r.resp = parse_json("{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                        "\"assistant\",\"content\":\"write to bob@example.com\"},"
                        "\"finish_reason\":\"stop\"}]}");
    CHECK(bg_check_response(&r, &bg, NULL) == GANTRY_PAUSE);
    CHECK_STR(r.calls[0].body, "{\"source\":\"OUTPUT\",\"content\":[{\"text\":{\"text\":\"write "
                               "to bob@example.com\"}}]}");
    answer(&r, 0, 200,
           "{\"action\":\"GUARDRAIL_INTERVENED\",\"outputs\":[{\"text\":\"write to {EMAIL}\"}],"
           "\"assessments\":[{\"sensitiveInformationPolicy\":{\"piiEntities\":[{\"type\":"
           "\"EMAIL\",\"action\":\"ANONYMIZED\"}]}}]}",
           NULL);
    CHECK(r.resumed == GANTRY_CONTINUE);
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(r.resp, "choices"), 0)
                  ->child->next->child->next->valuestring,
              "write to {EMAIL}");
    th_req_free(&r);

    th_req_init(&r);
    r.resp = parse_json("{\"choices\":[{\"message\":{\"content\":\"BLOCKME\"}}]}");
    bg_check_response(&r, &bg, NULL);
    answer(&r, 0, 200, ANSWER_BLOCKED, NULL);
    CHECK(r.resumed == GANTRY_FAIL && r.fail_class == GANTRY_ERR_GUARDRAIL);
    CHECK_HAS(r.fail_message, "Response blocked by guardrail 'bg-test'");
    th_req_free(&r);

    /* Streams are checked chunk by chunk, not again at the end. */
    th_req_init(&r);
    r.stream = true;
    r.resp = parse_json("{\"choices\":[{\"message\":{\"content\":\"x\"}}]}");
    CHECK(bg_check_response(&r, &bg, NULL) == GANTRY_CONTINUE && r.ncalls == 0);
    th_req_free(&r);
}

static gantry_action_t chunk(gantry_req_t *r, bg_instance_t *bg, int index, const char *text,
                             const char *finish)
{
    cJSON *c = cJSON_CreateObject();
    cJSON *choices = cJSON_AddArrayToObject(c, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", index);
    cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
    if (text != NULL)
        cJSON_AddStringToObject(delta, "content", text);
    if (finish != NULL)
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    else
        cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(choices, ch);
    gantry_action_t act = bg_check_chunk(r, bg, NULL, (gantry_json_t *)c);
    cJSON_Delete(c);
    th_run_timers(r); /* the next turn of the loop */
    return act;
}

static const char *window_text(gantry_req_t *r, size_t call, char *out, size_t len)
{
    cJSON *b = cJSON_Parse(r->calls[call].body);
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(b, "content"), 0);
    snprintf(out, len, "%s", t ? t->child->child->valuestring : "?");
    cJSON_Delete(b);
    return out;
}

static void test_stream(void)
{
    struct gantry_instance self;
    /* A 20-character window re-sends the last 5 characters of the one before. */
    bg_instance_t bg = inst(&self, GANTRY_GUARD_POST_CALL, false, false, 20);
    gantry_req_t r;
    char text[256];

    th_req_init(&r);
    r.stream = true;
    CHECK(chunk(&r, &bg, 0, "", NULL) == GANTRY_CONTINUE && r.ncalls == 0);
    CHECK(chunk(&r, &bg, 0, "0123456789", NULL) == GANTRY_CONTINUE && r.ncalls == 0);
    /* The verdict is deferred at once; the call starts on the loop's next turn, outside the
     * upstream transfer's callbacks where check_chunk() runs. */
    cJSON *c10 = cJSON_Parse("{\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                             "\"abcdefghij\"},\"finish_reason\":null}]}");
    CHECK(bg_check_chunk(&r, &bg, NULL, (gantry_json_t *)c10) == GANTRY_CONTINUE);
    cJSON_Delete(c10);
    CHECK(r.ncalls == 0 && r.tickets == 1 && r.ntimers == 1);
    th_run_timers(&r);
    CHECK(r.ncalls == 1);
    CHECK(r.tickets == 1 && r.ticket_flags[0] == 0);
    CHECK_STR(window_text(&r, 0, text, sizeof text), "0123456789abcdefghij");
    CHECK_HAS(r.calls[0].body, "\"source\":\"OUTPUT\"");
    /* While the window is checked, text waits - even a full window of it. */
    CHECK(chunk(&r, &bg, 0, "KLMNOPQRSTUVWXYZ0123", NULL) == GANTRY_CONTINUE && r.ncalls == 1);
    CHECK(chunk(&r, &bg, 0, "tail", "stop") == GANTRY_CONTINUE && r.ncalls == 1);
    /* The answer starts the next window before its own verdict goes out. */
    answer(&r, 0, 200, ANSWER_NONE, NULL);
    CHECK(r.ncalls == 2 && r.tickets == 2);
    CHECK(r.delivered[0] == GANTRY_CONTINUE && r.delivered[1] == -1);
    CHECK_STR(window_text(&r, 1, text, sizeof text), "fghijKLMNOPQRSTUVWXYZ0123tail");
    answer(&r, 1, 200, ANSWER_NONE, NULL);
    CHECK(r.delivered[1] == GANTRY_CONTINUE && r.ncalls == 2 && !r.failed);
    th_req_free(&r);

    /* A blocked window cuts the stream; later chunks are not checked again. */
    th_req_init(&r);
    r.stream = true;
    chunk(&r, &bg, 0, "this text has BLOCKME in it", NULL);
    CHECK(r.ncalls == 1);
    answer(&r, 0, 200, ANSWER_BLOCKED, NULL);
    CHECK(r.delivered[0] == GANTRY_FAIL && r.fail_class == GANTRY_ERR_GUARDRAIL);
    CHECK_HAS(r.fail_message, "Response blocked by guardrail 'bg-test'");
    CHECK(chunk(&r, &bg, 0, "more and more text past a window", "stop") == GANTRY_CONTINUE);
    CHECK(r.ncalls == 1);
    th_req_free(&r);

    /* Choices of n > 1 interleave: each has its own text and windows. */
    th_req_init(&r);
    r.stream = true;
    chunk(&r, &bg, 0, "aaaaaaaaaa", NULL);
    chunk(&r, &bg, 1, "bbbbbbbbbb", NULL);
    chunk(&r, &bg, 0, "aaaaaaaaaa", NULL);
    CHECK(r.ncalls == 1);
    CHECK_STR(window_text(&r, 0, text, sizeof text), "aaaaaaaaaaaaaaaaaaaa");
    chunk(&r, &bg, 1, "bb", "stop");
    CHECK(r.ncalls == 2);
    CHECK_STR(window_text(&r, 1, text, sizeof text), "bbbbbbbbbbbb");
    chunk(&r, &bg, 0, "", "length");
    answer(&r, 0, 200, ANSWER_NONE, NULL);
    answer(&r, 1, 200, ANSWER_NONE, NULL);
    CHECK(r.ncalls == 2 && r.delivered[0] == GANTRY_CONTINUE && r.delivered[1] == GANTRY_CONTINUE);
    th_req_free(&r);

    /* Anonymized streamed text cannot be masked: with masking on it passes, off it blocks. */
    bg = inst(&self, GANTRY_GUARD_POST_CALL, false, true, 20);
    th_req_init(&r);
    r.stream = true;
    chunk(&r, &bg, 0, "mail bob@example.com now", "stop");
    answer(&r, 0, 200, ANSWER_MASKED_2, NULL);
    CHECK(r.delivered[0] == GANTRY_CONTINUE && !r.failed);
    CHECK_STR(r.notes, "bg-test");
    th_req_free(&r);
    bg = inst(&self, GANTRY_GUARD_POST_CALL, false, false, 20);
    th_req_init(&r);
    r.stream = true;
    chunk(&r, &bg, 0, "mail bob@example.com now", "stop");
    answer(&r, 0, 200, ANSWER_MASKED_2, NULL);
    CHECK(r.delivered[0] == GANTRY_FAIL && r.fail_class == GANTRY_ERR_GUARDRAIL);
    th_req_free(&r);

    /* A long stream: windows double, and when no more verdicts can be awaited it says so. */
    th_req_init(&r);
    r.stream = true;
    char piece[25];
    memset(piece, 'x', 24);
    piece[24] = '\0';
    size_t last_calls = 0, windows = 0;
    gantry_action_t act = GANTRY_CONTINUE;
    for (int i = 0; i < 4000 && act == GANTRY_CONTINUE; i++) {
        act = chunk(&r, &bg, 0, piece, NULL);
        if (r.ncalls > last_calls) {
            last_calls = r.ncalls;
            windows++;
            answer(&r, r.ncalls - 1, 200, ANSWER_NONE, NULL);
        }
    }
    CHECK(act == GANTRY_FAIL && r.fail_class == GANTRY_ERR_SERVER);
    CHECK_HAS(r.fail_message, "stream_window");
    CHECK(r.ncalls == 32 && r.tickets == 32); /* the 33rd window could not be awaited */
    /* The 9th window was twice as long as the 8th. */
    CHECK(strlen(window_text(&r, 8, text, sizeof text)) > 2 * 20);
    CHECK(chunk(&r, &bg, 0, piece, "stop") == GANTRY_CONTINUE); /* gave up: no more checks */
    th_req_free(&r);
}

int main(void)
{
    char err[256];
    aws_cred_conf_t cc = {.access_key_id = "AKIDEXAMPLE",
                          .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                          .region = "us-east-1"};
    k_creds = aws_creds_new(&cc, err, sizeof err);
    if (k_creds == NULL) {
        fprintf(stderr, "credentials: %s\n", err);
        return 1;
    }
    test_body();
    test_parse();
    test_clean();
    test_utf8();
    test_texts();
    test_pre_call();
    test_during_call();
    test_post_call();
    test_stream();
    aws_creds_release(k_creds);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
