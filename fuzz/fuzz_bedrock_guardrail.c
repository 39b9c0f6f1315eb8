/*
 * Fuzz target: the Bedrock guardrail's handling of an ApplyGuardrail answer - what comes back from
 * the network.  The first byte picks the path, the rest is the answer body:
 *   0  the parser itself (bg_parse_verdict), the AWS error-message reader and the text cleaner,
 *      with the invariants the rest of the plugin relies on
 *   1  a pre_call check answered with it (mask or block a two-message request)
 *   2  a post_call check answered with it (mask or block a two-choice response)
 *   3  a stream window answered with it, then the stream's end
 * The plugin runs over the stand-in host of its unit test (plugins/guardrail-bedrock).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bedrock_guardrail.h"

#include "bg_test_host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static aws_cred_provider_t *creds;
static char k_id[] = "gr1";
static char k_version[] = "DRAFT";
static char k_endpoint[] = "http://127.0.0.1:9";
static char k_url[] = "http://127.0.0.1:9/guardrail/gr1/version/DRAFT/apply";
static char k_region[] = "us-east-1";

/* Text handed to clients and logs: no control characters, and within its bound. */
static void check_clean(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        abort();
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            abort();
    }
}

static void parse_only(gantry_str_t body)
{
    gantry_req_t *r = malloc(sizeof(*r));
    th_req_init(r);
    bg_verdict_t v;
    char err[160];
    err[0] = '\0';
    if (bg_parse_verdict(&th_host, r, body, &v, err, sizeof err) == 0) {
        check_clean(v.summary, BG_SUMMARY_LEN);
        check_clean(v.message, BG_MESSAGE_LEN + 3);
        bg_outcome_t o = bg_outcome(&v);
        if (o == BG_PASS && v.intervened)
            abort();
        if (o == BG_MASK && (v.blocked || !v.anonymized))
            abort();
        if (v.intervened && v.summary[0] == '\0')
            abort(); /* a block always says something */
        for (size_t i = 0; i <= v.noutputs; i++) {
            gantry_str_t t = bg_output_text(&th_host, &v, i);
            if (i == v.noutputs && t.ptr != NULL)
                abort();
        }
    } else if (err[0] == '\0') {
        abort(); /* a refusal always says why */
    }
    char out[256];
    bg_error_message(&th_host, r, body, out, sizeof out);
    check_clean(out, 203);
    bg_clean(body, 40, out, sizeof out);
    check_clean(out, 43);
    th_req_free(r);
    free(r);
}

static void flow(int mode, gantry_str_t body)
{
    struct gantry_instance self = {.modes =
                                       mode == 1 ? GANTRY_GUARD_PRE_CALL : GANTRY_GUARD_POST_CALL};
    bg_instance_t bg = {
        .host = &th_host,
        .self = &self,
        .name = "fuzz",
        .modes = self.modes,
        .guardrail_id = k_id,
        .version = k_version,
        .endpoint = k_endpoint,
        .url = k_url,
        .region = k_region,
        .creds = creds,
        .mask_request = body.len % 2 == 0,
        .mask_response = body.len % 3 != 0,
        .timeout_ms = 5000,
        .stream_window = 20,
    };
    gantry_req_t *r = malloc(sizeof(*r));
    th_req_init(r);
    gantry_action_t act = GANTRY_CONTINUE;
    if (mode == 1) {
        r->body = cJSON_Parse("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
                              "\"sys\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                              "\"text\":\"a@b.co\"}]}]}");
        act = bg_check_request(r, &bg, NULL);
    } else if (mode == 2) {
        r->resp = cJSON_Parse("{\"choices\":[{\"message\":{\"content\":\"one\"}},{\"message\":"
                              "{\"content\":\"two\"}}]}");
        act = bg_check_response(r, &bg, NULL);
    } else {
        r->stream = true;
        cJSON *chunk = cJSON_Parse("{\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                                   "\"0123456789abcdefghijKLM\"},\"finish_reason\":null}]}");
        act = bg_check_chunk(r, &bg, NULL, (gantry_json_t *)chunk);
        cJSON_Delete(chunk);
        th_run_timers(r);
    }
    if (act != GANTRY_FAIL && r->ncalls == 1) {
        gantry_http_result_t res = {.size = sizeof res, .status = 200, .body = body};
        r->calls[0].done = true;
        r->calls[0].cb(r, r->calls[0].arg, &res);
        th_run_timers(r);
        /* A paused request is resumed exactly once; a ticket is delivered exactly once. */
        if (mode != 3 && r->resumes != 1)
            abort();
        if (mode == 3 && r->delivered[0] == -1)
            abort();
        if (r->failed)
            check_clean(r->fail_message, sizeof r->fail_message);
        if (mode == 3) {
            cJSON *end = cJSON_Parse("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},"
                                     "\"finish_reason\":\"stop\"}]}");
            bg_check_chunk(r, &bg, NULL, (gantry_json_t *)end);
            cJSON_Delete(end);
            th_run_timers(r);
        }
    }
    th_req_free(r);
    free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    if (creds == NULL) {
        char err[200];
        aws_cred_conf_t cc = {.access_key_id = "AKIDEXAMPLE",
                              .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                              .region = "us-east-1"};
        creds = aws_creds_new(&cc, err, sizeof err);
        if (creds == NULL)
            abort();
    }
    gantry_str_t body = {(const char *)data + 1, size - 1};
    int mode = data[0] % 4;
    if (mode == 0)
        parse_only(body);
    else
        flow(mode, body);
    return 0;
}
