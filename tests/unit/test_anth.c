/*
 * Anthropic Messages <-> canonical: golden conversions in both directions, the stream event
 * sequences (text, tool use in fragments, thinking with a signature, usage), and the refusals.
 */
#include <stdlib.h>

#include "anth.h"
#include "check.h"

/* JSON equality regardless of key order; prints both sides when they differ. */
static void check_json(int line, const cJSON *got, const char *want_text)
{
    cJSON *want = cJSON_Parse(want_text);
    if (want == NULL) {
        fprintf(stderr, "line %d: the expected JSON does not parse\n", line);
        check_failed++;
        return;
    }
    bool same = got != NULL && cJSON_Compare(got, want, true);
    if (!same) {
        char *g = got ? cJSON_PrintUnformatted(got) : NULL;
        fprintf(stderr, "line %d: JSON differs\n  got:  %s\n  want: %s\n", line, g ? g : "(null)",
                want_text);
        cJSON_free(g);
    }
    CHECK(same);
    cJSON_Delete(want);
}
#define CHECK_JSON(got, want) check_json(__LINE__, got, want)

/* Translate a request; NULL on refusal. */
static cJSON *req(const char *body)
{
    cJSON *out = NULL;
    anth_err_t e;
    if (anth_parse(body, strlen(body), &out, &e) != 0) {
        fprintf(stderr, "refused: %d %s\n", e.status, e.message);
        return NULL;
    }
    return out;
}

static void rejects(int line, const char *body, const char *param, const char *needle)
{
    cJSON *out = (cJSON *)1;
    anth_err_t e = {0};
    int rc = anth_parse(body, strlen(body), &out, &e);
    if (rc != -1 || out != NULL || e.status != 400 || strcmp(e.type, "invalid_request_error") ||
        (param == NULL ? e.param != NULL : (e.param == NULL || strcmp(e.param, param))) ||
        (needle && strstr(e.message, needle) == NULL)) {
        fprintf(stderr,
                "line %d: expected a refusal (param %s, \"%s\"), got rc %d status %d "
                "param %s message \"%s\"\n",
                line, param ? param : "-", needle ? needle : "", rc, e.status,
                e.param ? e.param : "-", e.message);
        check_failed++;
        if (rc == 0)
            cJSON_Delete(out);
        return;
    }
    check_passed++;
}
#define REJECTS(body, param, needle) rejects(__LINE__, body, param, needle)

static void test_request_simple(void)
{
    cJSON *c = req("{\"model\":\"claude\",\"max_tokens\":100,\"system\":\"Be brief.\","
                   "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
                   "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,\"stop_sequences\":[\"END\"],"
                   "\"metadata\":{\"user_id\":\"u-1\"},\"stream\":true}");
    CHECK_JSON(c, "{\"model\":\"claude\",\"messages\":[{\"role\":\"system\",\"content\":\"Be "
                  "brief.\"},{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":100,"
                  "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,\"stop\":[\"END\"],"
                  "\"stream\":true,\"user\":\"u-1\"}");
    cJSON_Delete(c);

    /* Bedrock InvokeModel bodies: anthropic_version instead of model, no stream flag. */
    c = req(
        "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":5,"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]}");
    CHECK_JSON(c, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                  "\"hi\"}]}],\"max_tokens\":5}");
    cJSON_Delete(c);
}

static void test_request_full(void)
{
    const char *body =
        "{\"model\":\"m\",\"max_tokens\":1024,"
        "\"system\":[{\"type\":\"text\",\"text\":\"You are a bot.\"},"
        "{\"type\":\"text\",\"text\":\"Long context\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
        "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2000},"
        "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Weather\",\"input_schema\":"
        "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}},"
        "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}],"
        "\"tool_choice\":{\"type\":\"any\",\"disable_parallel_tool_use\":true},"
        "\"messages\":["
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Look\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\","
        "\"data\":\"iVBOR\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x/y.jpg\"}},"
        "{\"type\":\"document\",\"title\":\"a.pdf\",\"source\":{\"type\":\"base64\","
        "\"media_type\":\"application/pdf\",\"data\":\"JVBER\"}},"
        "{\"type\":\"document\",\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\","
        "\"data\":\"plain doc\"}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"Let me "
        "think.\",\"signature\":\"sig1\"},{\"type\":\"redacted_thinking\",\"data\":\"xyz\"},"
        "{\"type\":\"text\",\"text\":\"Checking.\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\","
        "\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"get_weather\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"and?\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"18C\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_2\",\"is_error\":true,"
        "\"content\":[{\"type\":\"text\",\"text\":\"no city\"}],"
        "\"cache_control\":{\"type\":\"ephemeral\"}}]},"
        "{\"role\":\"assistant\",\"content\":\"Partial\"}]}";
    cJSON *c = req(body);
    CHECK_JSON(
        c,
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"You are a bot.\"},"
        "{\"type\":\"text\",\"text\":\"Long "
        "context\",\"cache_control\":{\"type\":\"ephemeral\"}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Look\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBOR\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.jpg\"}},"
        "{\"type\":\"file\",\"file\":{\"file_data\":\"data:application/pdf;base64,JVBER\","
        "\"filename\":\"a.pdf\"}},{\"type\":\"text\",\"text\":\"plain doc\"}]},"
        "{\"role\":\"assistant\",\"content\":\"Checking.\",\"reasoning_content\":\"Let me think.\","
        "\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"Let me think.\","
        "\"signature\":\"sig1\"},{\"type\":\"redacted_thinking\",\"data\":\"xyz\"}],"
        "\"tool_calls\":[{\"id\":\"toolu_1\",\"type\":\"function\",\"function\":{\"name\":"
        "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"toolu_2\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"toolu_1\",\"content\":\"18C\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"toolu_2\",\"content\":\"no city\","
        "\"cache_control\":{\"type\":\"ephemeral\"}},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"and?\"}]},"
        "{\"role\":\"assistant\",\"content\":\"Partial\"}],"
        "\"max_tokens\":1024,"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"description\":\"Weather\",\"parameters\":{\"type\":\"object\",\"properties\":"
        "{\"city\":{\"type\":\"string\"}}}},\"cache_control\":{\"type\":\"ephemeral\","
        "\"ttl\":\"1h\"}}],"
        "\"tool_choice\":\"required\",\"parallel_tool_calls\":false,"
        "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2000}}");
    cJSON_Delete(c);

    /* tool_choice: tool by name, none, and a choice without tools (dropped). */
    c = req(
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"tools\":[{\"name\":\"t\",\"input_schema\":{\"type\":\"object\"}}],"
        "\"tool_choice\":{\"type\":\"tool\",\"name\":\"t\"}}");
    CHECK_JSON(cJSON_GetObjectItem(c, "tool_choice"),
               "{\"type\":\"function\",\"function\":{\"name\":\"t\"}}");
    CHECK(cJSON_GetObjectItem(c, "parallel_tool_calls") == NULL);
    cJSON_Delete(c);
    c = req(
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"tool_choice\":{\"type\":\"auto\"},\"thinking\":{\"type\":\"disabled\"}}");
    CHECK(c != NULL && cJSON_GetObjectItem(c, "tool_choice") == NULL &&
          cJSON_GetObjectItem(c, "thinking") == NULL);
    cJSON_Delete(c);

    /* A tool result with an image keeps its parts; an assistant turn of only tool use has null
     * content; a tool_use breakpoint moves to the message. */
    c = req("{\"model\":\"m\",\"max_tokens\":1,\"messages\":["
            "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":"
            "\"n\",\"input\":{\"k\":[1,2]},\"cache_control\":{\"type\":\"ephemeral\"}}]},"
            "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"a\","
            "\"content\":[{\"type\":\"text\",\"text\":\"see\"},{\"type\":\"image\",\"source\":"
            "{\"type\":\"base64\",\"media_type\":\"image/gif\",\"data\":\"R0l\"}}]}]}]}");
    CHECK_JSON(c, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":null,"
                  "\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":"
                  "\"n\",\"arguments\":\"{\\\"k\\\":[1,2]}\"}}],\"cache_control\":{\"type\":"
                  "\"ephemeral\"}},{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":["
                  "{\"type\":\"text\",\"text\":\"see\"},{\"type\":\"image_url\",\"image_url\":"
                  "{\"url\":\"data:image/gif;base64,R0l\"}}]}],\"max_tokens\":1}");
    cJSON_Delete(c);
}

static void test_request_refusals(void)
{
    REJECTS("", NULL, "empty");
    REJECTS("{bad", NULL, "JSON");
    REJECTS("[1]", NULL, "object");
    REJECTS("{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model",
            "model");
    REJECTS("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens",
            "max_tokens: Field required");
    REJECTS(
        "{\"model\":\"m\",\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "max_tokens", "greater");
    REJECTS("{\"model\":\"m\",\"max_tokens\":1.5,\"messages\":[]}", "max_tokens", "integer");
    REJECTS("{\"model\":\"m\",\"max_tokens\":1e300,\"messages\":[]}", "max_tokens", "integer");
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[]}", "messages", NULL);
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":{}}", "messages", NULL);
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"system\",\"content\":"
            "\"x\"}]}",
            "messages", "messages.0.role");
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[]}]}",
            "messages", "non-empty");
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":5}]}",
            "messages", "messages.0.content");
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":"
            "[{\"type\":\"video\"}]}]}",
            "messages", "messages.0.content.0.type");
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":"
            "[{\"type\":\"image\",\"source\":{\"type\":\"file\",\"file_id\":\"f\"}}]}]}",
            "messages", "image sources");
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":"
            "[{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"text/html\","
            "\"data\":\"x\"}}]}]}",
            "messages", "not an image");
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":"
            "[{\"type\":\"tool_result\"}]}]}",
            "messages", "tool_use_id");
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"assistant\",\"content\":"
            "[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"n\",\"input\":[1]}]}]}",
            "messages", "input");
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"assistant\",\"content\":"
            "[{\"type\":\"image\",\"source\":{}}]}]}",
            "messages", "assistant messages");
    REJECTS(
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}]}",
        "tools", "server tool");
    REJECTS(
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"tools\":[{\"name\":\"t\"}]}",
        "tools", "input_schema");
    REJECTS(
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"tools\":[{\"name\":\"t\",\"input_schema\":{}}],\"tool_choice\":{\"type\":\"some\"}}",
        "tool_choice", NULL);
    REJECTS(
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"system\":[{\"type\":\"image\"}]}",
        "system", NULL);
    REJECTS(
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"thinking\":{\"type\":\"enabled\"}}",
        "thinking", "budget_tokens");
    REJECTS(
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"stream\":\"yes\"}",
        "stream", NULL);
    REJECTS(
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"temperature\":\"hot\"}",
        "temperature", NULL);
    REJECTS(
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"stop_sequences\":[1]}",
        "stop_sequences", NULL);
    REJECTS("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":"
            "[{\"type\":\"text\",\"text\":\"x\",\"cache_control\":\"yes\"}]}]}",
            "messages", "cache_control");
}

static void test_response(void)
{
    cJSON *canon = cJSON_Parse(
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"up\",\"choices\":[{"
        "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Sure.\","
        "\"reasoning_content\":\"hmm\",\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":"
        "\"hmm\",\"signature\":\"SIG\"},{\"type\":\"redacted_thinking\",\"data\":\"R\"}],"
        "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{\\\"a\\\":1}\"}},{\"type\":\"function\",\"function\":{\"name\":\"g\","
        "\"arguments\":\"{not json\"}}]},\"finish_reason\":\"tool_calls\"}],"
        "\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":7,\"total_tokens\":107,"
        "\"prompt_tokens_details\":{\"cached_tokens\":60},\"cache_read_input_tokens\":60,"
        "\"cache_creation_input_tokens\":30}}");
    cJSON *m = anth_from_canonical_response(canon, "msg_abc", "my-group");
    CHECK_JSON(m, "{\"id\":\"msg_abc\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
                  "\"my-group\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hmm\","
                  "\"signature\":\"SIG\"},{\"type\":\"redacted_thinking\",\"data\":\"R\"},"
                  "{\"type\":\"text\",\"text\":\"Sure.\"},{\"type\":\"tool_use\",\"id\":\"call_1\","
                  "\"name\":\"f\",\"input\":{\"a\":1}},{\"type\":\"tool_use\",\"id\":"
                  "\"toolu_msg_abc_1\",\"name\":\"g\",\"input\":{}}],\"stop_reason\":\"tool_use\","
                  "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":7,"
                  "\"cache_creation_input_tokens\":30,\"cache_read_input_tokens\":60}}");
    cJSON_Delete(m);
    cJSON_Delete(canon);

    /* Reasoning without blocks, cached_tokens only, length; model and id from the canonical. */
    canon = cJSON_Parse("{\"id\":\"x1\",\"model\":\"up\",\"choices\":[{\"message\":{\"content\":"
                        "\"abc\",\"reasoning_content\":\"r\"},\"finish_reason\":\"length\"}],"
                        "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
                        "\"prompt_tokens_details\":{\"cached_tokens\":4}}}");
    m = anth_from_canonical_response(canon, NULL, NULL);
    CHECK_JSON(m, "{\"id\":\"x1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"up\","
                  "\"content\":[{\"type\":\"thinking\",\"thinking\":\"r\",\"signature\":\"\"},"
                  "{\"type\":\"text\",\"text\":\"abc\"}],\"stop_reason\":\"max_tokens\","
                  "\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":2,"
                  "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":4}}");
    cJSON_Delete(m);
    cJSON_Delete(canon);

    /* A stop sequence the provider named; content filter; nonsense input gives an empty message.
     */
    canon = cJSON_Parse("{\"choices\":[{\"message\":{\"content\":\"a\"},\"finish_reason\":\"stop\","
                        "\"stop_sequence\":\"END\"}]}");
    m = anth_from_canonical_response(canon, "i", "g");
    CHECK_STR(cJSON_GetObjectItem(m, "stop_reason")->valuestring, "stop_sequence");
    CHECK_STR(cJSON_GetObjectItem(m, "stop_sequence")->valuestring, "END");
    cJSON_Delete(m);
    cJSON_Delete(canon);
    canon =
        cJSON_Parse("{\"choices\":[{\"message\":{\"content\":null},\"finish_reason\":"
                    "\"content_filter\"}],\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":"
                    "1e300}}");
    m = anth_from_canonical_response(canon, "i", "g");
    CHECK_JSON(m, "{\"id\":\"i\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"g\","
                  "\"content\":[],\"stop_reason\":\"refusal\",\"stop_sequence\":null,\"usage\":"
                  "{\"input_tokens\":0,\"output_tokens\":0,\"cache_creation_input_tokens\":0,"
                  "\"cache_read_input_tokens\":0}}");
    cJSON_Delete(m);
    cJSON_Delete(canon);
    cJSON *junk = cJSON_Parse("[1,{\"choices\":7}]");
    m = anth_from_canonical_response(junk, "i", "g");
    CHECK(m != NULL && cJSON_GetArraySize(cJSON_GetObjectItem(m, "content")) == 0);
    cJSON_Delete(m);
    cJSON_Delete(junk);

    CHECK_STR(anth_stop_reason("stop"), "end_turn");
    CHECK_STR(anth_stop_reason("weird"), "end_turn");
    CHECK(anth_stop_reason(NULL) == NULL);
    CHECK_STR(anth_error_type(404, 3), "not_found_error");
    CHECK_STR(anth_error_type(429, 4), "rate_limit_error");
    CHECK_STR(anth_error_type(503, 6), "overloaded_error");
    CHECK_STR(anth_error_type(529, 6), "overloaded_error");
    CHECK_STR(anth_error_type(502, 6), "api_error");
    CHECK_STR(anth_error_type(413, 1), "request_too_large");
    CHECK_STR(anth_error_type(401, 2), "authentication_error");
    CHECK_STR(anth_error_type(403, 2), "permission_error");
    CHECK_STR(anth_error_type(422, 1), "invalid_request_error");
}

/* ---- streams ---- */

/* Collected events, one compact JSON text per line. */
typedef struct sink {
    char text[16384];
    size_t len;
    int fail_at; /* return an error from this event on (0 = never) */
    int n;
} sink_t;

static int collect(void *ctx, const cJSON *ev)
{
    sink_t *s = ctx;
    if (s->fail_at && ++s->n >= s->fail_at)
        return 7;
    char *t = cJSON_PrintUnformatted(ev);
    int w = snprintf(s->text + s->len, sizeof s->text - s->len, "%s\n", t ? t : "?");
    cJSON_free(t);
    if (w > 0 && (size_t)w < sizeof s->text - s->len)
        s->len += (size_t)w;
    return 0;
}

static void feed(anth_stream_t *st, sink_t *sk, const char *chunk)
{
    cJSON *c = cJSON_Parse(chunk);
    CHECK(c != NULL);
    CHECK(anth_stream_chunk(st, c, collect, sk) == 0);
    cJSON_Delete(c);
}

static void check_events(int line, const sink_t *sk, const char *want)
{
    bool same = strcmp(sk->text, want) == 0;
    if (!same)
        fprintf(stderr, "line %d: events differ\n--- got:\n%s--- want:\n%s", line, sk->text, want);
    CHECK(same);
}
#define CHECK_EVENTS(sk, want) check_events(__LINE__, sk, want)

#define START_EV(in)                                                                           \
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":" \
    "\"assistant\",\"model\":\"grp\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":"   \
    "null,\"usage\":{\"input_tokens\":" in ",\"output_tokens\":0,\"cache_creation_input_"      \
    "tokens\":0,\"cache_read_input_tokens\":0}}}\n{\"type\":\"ping\"}\n"

static void test_stream_text(void)
{
    anth_stream_t st;
    sink_t sk = {0};
    anth_stream_init(&st, "msg_1", "grp");
    feed(&st, &sk,
         "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
         "\"finish_reason\":null}]}");
    feed(&st, &sk, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}");
    feed(&st, &sk, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}");
    feed(&st, &sk, "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}");
    feed(&st, &sk,
         "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2,"
         "\"total_tokens\":14}}");
    /* Anything after message_delta is ignored; finish adds only message_stop. */
    feed(&st, &sk, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}");
    CHECK(anth_stream_finish(&st, collect, &sk) == 0);
    CHECK(anth_stream_finish(&st, collect, &sk) == 0);
    CHECK_EVENTS(
        &sk,
        START_EV(
            "0") "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
                 "\"text\",\"text\":\"\"}}\n"
                 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
                 "\"text\":\"Hel\"}}\n"
                 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
                 "\"text\":\"lo\"}}\n"
                 "{\"type\":\"content_block_stop\",\"index\":0}\n"
                 "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                 "\"stop_sequence\":null},\"usage\":{\"input_tokens\":12,\"output_tokens\":2,"
                 "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0}}\n"
                 "{\"type\":\"message_stop\"}\n");
}

static void test_stream_tools(void)
{
    anth_stream_t st;
    sink_t sk = {0};
    anth_stream_init(&st, "msg_1", "grp");
    /* Usage known from the start (some providers send it first) shows in message_start. */
    feed(&st, &sk,
         "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
         "\"Let me check.\"}}],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":0}}");
    feed(&st, &sk,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
         "\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
         "\"arguments\":\"\"}}]}}]}");
    feed(&st, &sk,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
         "\"function\":{\"arguments\":\"{\\\"ci\"}}]}}]}");
    feed(&st, &sk,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
         "\"function\":{\"arguments\":\"ty\\\":\\\"Paris\\\"}\"}}]}}]}");
    /* A second call (no id given: one is made up), then a stray fragment of the first. */
    feed(&st, &sk,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,"
         "\"function\":{\"name\":\"f2\",\"arguments\":\"{}\"}}]}}]}");
    feed(&st, &sk,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
         "\"function\":{\"arguments\":\"lost\"}}]}}]}");
    feed(&st, &sk, "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}");
    /* No usage chunk at the end: the finish sends message_delta with what is known. */
    CHECK(anth_stream_finish(&st, collect, &sk) == 0);
    CHECK_EVENTS(
        &sk,
        START_EV("30") "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
                       "\"text\",\"text\":\"\"}}\n"
                       "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_"
                       "delta\","
                       "\"text\":\"Let me check.\"}}\n"
                       "{\"type\":\"content_block_stop\",\"index\":0}\n"
                       "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
                       "\"tool_use\",\"id\":\"call_a\",\"name\":\"get_weather\",\"input\":{}}}\n"
                       "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
                       "\"input_json_delta\",\"partial_json\":\"{\\\"ci\"}}\n"
                       "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
                       "\"input_json_delta\",\"partial_json\":\"ty\\\":\\\"Paris\\\"}\"}}\n"
                       "{\"type\":\"content_block_stop\",\"index\":1}\n"
                       "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":"
                       "\"tool_use\",\"id\":\"toolu_msg_1_1\",\"name\":\"f2\",\"input\":{}}}\n"
                       "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":"
                       "\"input_json_delta\",\"partial_json\":\"{}\"}}\n"
                       "{\"type\":\"content_block_stop\",\"index\":2}\n"
                       "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
                       "\"stop_sequence\":null},\"usage\":{\"input_tokens\":30,\"output_tokens\":0,"
                       "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0}}\n"
                       "{\"type\":\"message_stop\"}\n");
}

static void test_stream_thinking(void)
{
    anth_stream_t st;
    sink_t sk = {0};
    anth_stream_init(&st, "msg_1", "grp");
    feed(&st, &sk, "{\"choices\":[{\"delta\":{\"reasoning_content\":\"Think\"}}]}");
    feed(&st, &sk, "{\"choices\":[{\"delta\":{\"reasoning_content\":\"ing\"}}]}");
    /* The signature comes in thinking_blocks; its text (if any) is not repeated. */
    feed(&st, &sk,
         "{\"choices\":[{\"delta\":{\"thinking_blocks\":[{\"type\":\"thinking\","
         "\"thinking\":\"\",\"signature\":\"SIG==\"}]}}]}");
    /* More reasoning after a signature is a new thinking block; then a redacted one. */
    feed(&st, &sk,
         "{\"choices\":[{\"delta\":{\"reasoning_content\":\"More\",\"thinking_blocks\":"
         "[{\"type\":\"thinking\",\"thinking\":\"More\",\"signature\":\"S2\"}]}}]}");
    feed(&st, &sk,
         "{\"choices\":[{\"delta\":{\"thinking_blocks\":[{\"type\":"
         "\"redacted_thinking\",\"data\":\"RD\"}]}}]}");
    feed(&st, &sk,
         "{\"choices\":[{\"delta\":{\"content\":\"Answer\"},\"finish_reason\":\"length\""
         "}],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":9,"
         "\"cache_read_input_tokens\":20,\"cache_creation_input_tokens\":10}}");
    CHECK(anth_stream_finish(&st, collect, &sk) == 0);
    CHECK_EVENTS(
        &sk,
        START_EV(
            "0") "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
                 "\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n"
                 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                 "\"thinking_delta\",\"thinking\":\"Think\"}}\n"
                 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                 "\"thinking_delta\",\"thinking\":\"ing\"}}\n"
                 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                 "\"signature_delta\",\"signature\":\"SIG==\"}}\n"
                 "{\"type\":\"content_block_stop\",\"index\":0}\n"
                 "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
                 "\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n"
                 "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
                 "\"thinking_delta\",\"thinking\":\"More\"}}\n"
                 "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
                 "\"signature_delta\",\"signature\":\"S2\"}}\n"
                 "{\"type\":\"content_block_stop\",\"index\":1}\n"
                 "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":"
                 "\"redacted_thinking\",\"data\":\"RD\"}}\n"
                 "{\"type\":\"content_block_stop\",\"index\":2}\n"
                 "{\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":"
                 "\"text\",\"text\":\"\"}}\n"
                 "{\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"text_delta\","
                 "\"text\":\"Answer\"}}\n"
                 "{\"type\":\"content_block_stop\",\"index\":3}\n"
                 "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\","
                 "\"stop_sequence\":null},\"usage\":{\"input_tokens\":20,\"output_tokens\":9,"
                 "\"cache_creation_input_tokens\":10,\"cache_read_input_tokens\":20}}\n"
                 "{\"type\":\"message_stop\"}\n");
}

static void test_stream_edges(void)
{
    /* Nothing at all: still a complete, valid message. */
    anth_stream_t st;
    sink_t sk = {0};
    anth_stream_init(&st, "msg_1", "grp");
    CHECK(anth_stream_finish(&st, collect, &sk) == 0);
    CHECK_EVENTS(&sk, START_EV("0") "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                                    "\"end_turn\",\"stop_sequence\":null},\"usage\":{"
                                    "\"input_tokens\":0,\"output_tokens\":0,\"cache_creation_"
                                    "input_tokens\":0,\"cache_read_input_tokens\":0}}\n"
                                    "{\"type\":\"message_stop\"}\n");

    /* Garbage chunks never crash and produce nothing but the start. */
    sink_t sk2 = {0};
    anth_stream_init(&st, "msg_1", "grp");
    feed(&st, &sk2, "[1,2]");
    feed(&st, &sk2,
         "{\"choices\":[{\"delta\":{\"content\":5,\"tool_calls\":[7,{\"index\":-3},"
         "{\"index\":1e300,\"function\":[]}]},\"finish_reason\":3}]}");
    feed(&st, &sk2, "{\"choices\":{},\"usage\":[]}");
    CHECK(strstr(sk2.text, "message_start") != NULL);
    CHECK(strstr(sk2.text, "message_delta") == NULL);

    /* A stop sequence the provider named; an emit error stops the translation. */
    sink_t sk3 = {0};
    anth_stream_init(&st, "msg_1", "grp");
    feed(&st, &sk3,
         "{\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\","
         "\"stop_sequence\":\"###\"}]}");
    CHECK(anth_stream_finish(&st, collect, &sk3) == 0);
    CHECK(strstr(sk3.text, "\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"###\"") != NULL);

    sink_t sk4 = {.fail_at = 3};
    anth_stream_init(&st, "msg_1", "grp");
    cJSON *c = cJSON_Parse("{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}");
    CHECK(anth_stream_chunk(&st, c, collect, &sk4) == 7);
    cJSON_Delete(c);
}

static void test_count_tokens(void)
{
    cJSON *b = cJSON_Parse("{\"model\":\"m\",\"system\":\"You are helpful.\",\"messages\":[{"
                           "\"role\":\"user\",\"content\":\"Hello, how are you today?\"}]}");
    int64_t n = anth_count_tokens(b);
    /* 16 + 25 characters of text, 3 of framing: about 14 tokens. */
    CHECK(n >= 10 && n <= 20);
    cJSON *big = cJSON_Parse("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{"
                             "\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":"
                             "\"image/png\",\"data\":\"AAAA\"}},{\"type\":\"text\",\"text\":"
                             "\"what is this\"}]}],\"tools\":[{\"name\":\"t\",\"input_schema\":{"
                             "\"type\":\"object\"}}]}");
    CHECK(anth_count_tokens(big) > 1600 + 300);
    CHECK(anth_count_tokens(NULL) == 0);
    cJSON *arr = cJSON_Parse("[1]");
    CHECK(anth_count_tokens(arr) == 0);
    cJSON_Delete(arr);
    cJSON_Delete(big);
    cJSON_Delete(b);
}

int main(void)
{
    test_request_simple();
    test_request_full();
    test_request_refusals();
    test_response();
    test_stream_text();
    test_stream_tools();
    test_stream_thinking();
    test_stream_edges();
    test_count_tokens();
    return check_report();
}
