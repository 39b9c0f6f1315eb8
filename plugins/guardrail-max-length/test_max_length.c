/*
 * Unit tests of the max_length guardrail through a host: each limit at and just over its value,
 * characters counted as code points, streams cut on the chunk that goes over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ml_int.h"
#include "test_host.h"

extern const gantry_plugin_desc_t *gantry_plugin_describe(void);

static gantry_action_t request(th_inst_t *in, const char *body, gantry_req_t **out)
{
    gantry_req_t *req = th_req_new(body, false);
    gantry_action_t a = in->desc->ops->check_request(req, in->state, NULL);

    *out = req;
    return a;
}

static void test_config(void)
{
    const gantry_plugin_desc_t *d = gantry_plugin_describe();
    th_inst_t in;

    CHECK(strcmp(d->name, "max_length") == 0);
    CHECK(th_inst_open(&in, d, "ml", "{}") == GANTRY_ECONFIG);
    CHECK(strstr(th_conf_error(), "at least one of") != NULL);
    CHECK(th_inst_open(&in, d, "ml", "{\"max_input_chars\": 0}") == GANTRY_ECONFIG);
    CHECK(th_inst_open(&in, d, "ml", "{\"max_messages\": \"3\"}") == GANTRY_ECONFIG);
    CHECK(th_inst_open(&in, d, "ml", "{\"max_output_chars\": 2.5}") == GANTRY_ECONFIG);
}

static void test_request(void)
{
    const gantry_plugin_desc_t *d = gantry_plugin_describe();
    gantry_req_t *req;
    th_inst_t in;

    /* 10 characters: "h\xc3\xa9llo" is 5, "w\xe2\x82\xacrld" is 5 (the euro sign is one). */
    CHECK(th_inst_open(&in, d, "ml", "{\"max_input_chars\": 10}") == GANTRY_OK);
    CHECK(
        request(&in,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"h\xc3\xa9llo\"},"
                "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"w\xe2\x82\xacrld\"},"
                "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:xxxxxxxxxxxxxxxx\"}}]}]}",
                &req) == GANTRY_CONTINUE);
    th_req_free(req);
    CHECK(request(&in, "{\"messages\":[{\"role\":\"user\",\"content\":\"hello world\"}]}", &req) ==
          GANTRY_FAIL);
    CHECK(th_req_status(req) == 400 && th_req_class(req) == GANTRY_ERR_GUARDRAIL);
    CHECK_STR(th_req_type(req), "guardrail_violation");
    CHECK_STR(th_req_code(req), "max_length_exceeded");
    CHECK_STR(th_req_message(req), "guardrail 'ml' blocked the request: the prompt has 11 "
                                   "characters, more than max_input_chars (10)");
    CHECK_STR(th_req_noted(req), "ml");
    th_req_free(req);
    /* Tool call arguments and embeddings input count too. */
    CHECK(request(&in,
                  "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
                  "{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\\\"123456\\\"}\"}}]}]}",
                  &req) == GANTRY_FAIL);
    th_req_free(req);
    CHECK(request(&in, "{\"input\":[\"12345\",\"678901\"]}", &req) == GANTRY_FAIL);
    th_req_free(req);
    th_inst_close(&in);

    /* Tokens: 8 characters are 2 tokens, 9 are 3. */
    CHECK(th_inst_open(&in, d, "ml", "{\"max_input_tokens\": 2}") == GANTRY_OK);
    CHECK(request(&in, "{\"messages\":[{\"role\":\"user\",\"content\":\"12345678\"}]}", &req) ==
          GANTRY_CONTINUE);
    th_req_free(req);
    CHECK(request(&in, "{\"messages\":[{\"role\":\"user\",\"content\":\"123456789\"}]}", &req) ==
          GANTRY_FAIL);
    CHECK(strstr(th_req_message(req), "about 3 tokens") != NULL);
    th_req_free(req);
    th_inst_close(&in);

    CHECK(th_inst_open(&in, d, "ml", "{\"max_messages\": 2}") == GANTRY_OK);
    CHECK(request(&in,
                  "{\"messages\":[{\"role\":\"system\",\"content\":\"a\"},"
                  "{\"role\":\"user\",\"content\":\"b\"}]}",
                  &req) == GANTRY_CONTINUE);
    th_req_free(req);
    CHECK(request(&in,
                  "{\"messages\":[{\"role\":\"system\",\"content\":\"a\"},"
                  "{\"role\":\"user\",\"content\":\"b\"},{\"role\":\"user\",\"content\":\"c\"}]}",
                  &req) == GANTRY_FAIL);
    CHECK(strstr(th_req_message(req), "it has 3 messages, more than max_messages (2)") != NULL);
    th_req_free(req);
    th_inst_close(&in);
}

static void test_response(void)
{
    const gantry_plugin_desc_t *d = gantry_plugin_describe();
    gantry_req_t *req;
    th_inst_t in;
    const char *pieces[] = {"12345", "67890", "1"};

    CHECK(th_inst_open(&in, d, "ml", "{\"max_output_chars\": 10}") == GANTRY_OK);
    req = th_req_new("{\"messages\":[]}", false);
    th_req_set_resp(req, "{\"choices\":[{\"message\":{\"content\":\"1234567890\"}}]}");
    CHECK(d->ops->check_response(req, in.state, NULL) == GANTRY_CONTINUE);
    th_req_set_resp(req, "{\"choices\":[{\"message\":{\"content\":\"12345678901\"}}]}");
    CHECK(d->ops->check_response(req, in.state, NULL) == GANTRY_FAIL);
    CHECK_STR(th_req_message(req), "guardrail 'ml' blocked the response: the completion has 11 "
                                   "characters, more than max_output_chars (10)");
    th_req_free(req);

    /* A stream: 10 characters go out, the chunk with the 11th fails; choices count apart. */
    req = th_req_new("{\"messages\":[]}", true);
    for (int k = 0; k < 3; k++) {
        for (int idx = 0; idx < 2; idx++) {
            char json[200];
            cJSON *chunk;
            gantry_action_t a;

            snprintf(json, sizeof(json),
                     "{\"choices\":[{\"index\":%d,\"delta\":{\"content\":\"%s\"}}]}", idx,
                     idx == 0 ? pieces[k] : "x");
            chunk = cJSON_Parse(json);
            a = d->ops->check_chunk(req, in.state, NULL, (gantry_json_t *)chunk);
            CHECK(a == (k == 2 && idx == 0 ? GANTRY_FAIL : GANTRY_CONTINUE));
            cJSON_Delete(chunk);
        }
    }
    CHECK_STR(th_req_code(req), "max_length_exceeded");
    th_req_free(req);
    th_inst_close(&in);
}

int main(void)
{
    test_config();
    test_request();
    test_response();
    return check_report();
}
