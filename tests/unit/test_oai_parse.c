/* The OpenAI request checks: every rejection names the parameter, good requests parse. */
#include "check.h"
#include "oai_parse.h"

static int parse(const char *body, oai_chat_t *c, oai_err_t *e)
{
    int rc = oai_parse_chat(body, strlen(body), c, e);
    if (rc == 0)
        cJSON_Delete(c->root);
    return rc;
}

static void rejects(const char *body, const char *param, const char *code)
{
    oai_chat_t c;
    oai_err_t e;
    int rc = parse(body, &c, &e);
    CHECK(rc == -1);
    if (rc == -1) {
        CHECK(e.status == 400);
        CHECK_STR(e.type, "invalid_request_error");
        if (param == NULL)
            CHECK(e.param == NULL);
        else
            CHECK_STR(e.param, param);
        if (code != NULL)
            CHECK_STR(e.code, code);
        CHECK(strlen(e.message) > 10);
    }
}

int main(void)
{
    oai_chat_t c;
    oai_err_t e;
    const char *ok = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                     "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"user\":\"u1\","
                     "\"temperature\":0.2,\"max_tokens\":5}";
    CHECK(oai_parse_chat(ok, strlen(ok), &c, &e) == 0);
    CHECK(c.model_len == 1 && c.stream && c.include_usage);
    CHECK_STR(c.user, "u1");
    cJSON_Delete(c.root);

    rejects("", NULL, NULL);
    rejects("{not json", NULL, NULL);
    rejects("[1,2]", NULL, NULL);
    rejects("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model", "missing_required_parameter");
    rejects("{\"model\":5,\"messages\":[]}", "model", "invalid_type");
    rejects("{\"model\":\"m\"}", "messages", "missing_required_parameter");
    rejects("{\"model\":\"m\",\"messages\":{}}", "messages", "invalid_type");
    rejects("{\"model\":\"m\",\"messages\":[]}", "messages", "empty_array");
    rejects("{\"model\":\"m\",\"messages\":[1]}", "messages", "invalid_type");
    rejects("{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages",
            "invalid_value");
    rejects("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages", "invalid_type");
    rejects("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"stream\":\"yes\"}", "stream", NULL);
    rejects("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"temperature\":\"hot\"}", "temperature",
            NULL);
    rejects("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"max_tokens\":1.5}", "max_tokens", NULL);
    rejects("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"n\":-1}", "n", "invalid_value");
    rejects("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"user\":7}", "user", NULL);
    rejects("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"stream_options\":{\"include_usage\":1}}",
            "stream_options.include_usage", NULL);
    /* Deep nesting is refused by the JSON parser's limit instead of exhausting the stack. */
    char deep[5000];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof deep, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"x\":");
    while (n < 4000)
        deep[n++] = '[';
    deep[n] = '\0';
    CHECK(oai_parse_chat(deep, n, &c, &e) == -1);
    return check_report();
}
