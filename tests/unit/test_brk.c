/*
 * The Bedrock client API translations (brk_*.c): golden Converse and InvokeModel requests ->
 * canonical, canonical responses -> Converse and each InvokeModel family, canonical chunks ->
 * ConverseStream / InvokeModelWithResponseStream event streams (encoded, then decoded back with
 * evs, whole and split at every byte), validation errors, error mapping, and the SigV4 credential
 * and model-id helpers of the route.
 */
#include <stdlib.h>

#include <gantry/plugin.h>

#include "brk.h"
#include "check.h"
#include "evs.h"

/* ---- helpers ---- */

static cJSON *J(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (j == NULL)
        fprintf(stderr, "test JSON does not parse: %s\n", text);
    return j;
}

/* Structural comparison (member order does not matter); prints both on a mismatch. */
static void check_json(const cJSON *got, const char *want, int line)
{
    cJSON *w = J(want);
    bool same = got != NULL && w != NULL && cJSON_Compare(got, w, true);
    if (same) {
        check_passed++;
    } else {
        check_failed++;
        char *g = got ? cJSON_PrintUnformatted(got) : NULL;
        fprintf(stderr, "test_brk.c:%d: JSON mismatch\n  got:  %s\n  want: %s\n", line,
                g ? g : "(null)", want);
        cJSON_free(g);
    }
    cJSON_Delete(w);
}
#define CHECK_JSON(got, want) check_json((got), (want), __LINE__)

static void converse_golden(const char *body, bool stream, const char *want, int line)
{
    cJSON *out = NULL;
    brk_err_t err = {0};
    int rc = brk_converse_parse(body, strlen(body), "grp", stream, &out, &err);
    if (rc != 0)
        fprintf(stderr, "test_brk.c:%d: refused: %s\n", line, err.message);
    CHECK(rc == 0);
    check_json(out, want, line);
    cJSON_Delete(out);
}

static void converse_refused(const char *body, const char *msg_part, int line)
{
    cJSON *out = NULL;
    brk_err_t err = {0};
    int rc = brk_converse_parse(body, strlen(body), "grp", false, &out, &err);
    bool ok = rc == -1 && out == NULL && err.status == 400 && strstr(err.message, msg_part);
    if (!ok)
        fprintf(stderr, "test_brk.c:%d: expected a 400 naming \"%s\", got rc %d status %d: %s\n",
                line, msg_part, rc, err.status, err.message);
    CHECK(ok);
    cJSON_Delete(out);
}

/* Decoded event-stream messages: headers of interest and the payload parsed as JSON. */
typedef struct ev {
    char type[48], ctype[40], mtype[16], exc[48];
    cJSON *payload;
} ev_t;

typedef struct evlist {
    ev_t ev[64];
    size_t n;
} evlist_t;

static void hdr(const evs_msg_t *m, const char *name, char *out, size_t cap)
{
    evs_str_t v = evs_header_str(m, name);
    snprintf(out, cap, "%.*s", (int)v.len, v.ptr ? v.ptr : "");
}

static int collect(void *arg, const evs_msg_t *m)
{
    evlist_t *l = arg;
    if (l->n >= sizeof l->ev / sizeof l->ev[0])
        return -100;
    ev_t *e = &l->ev[l->n++];
    hdr(m, ":event-type", e->type, sizeof e->type);
    hdr(m, ":content-type", e->ctype, sizeof e->ctype);
    hdr(m, ":message-type", e->mtype, sizeof e->mtype);
    hdr(m, ":exception-type", e->exc, sizeof e->exc);
    e->payload = cJSON_ParseWithLength(m->payload, m->payload_len);
    return 0;
}

static void evlist_free(evlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        cJSON_Delete(l->ev[i].payload);
    l->n = 0;
}

/* Decode a whole buffer; step > 0 feeds it in pieces of that size. */
static int decode(const buf_t *b, size_t step, evlist_t *l)
{
    evs_dec_t d;
    evs_dec_init(&d, 1 << 20);
    int rc = 0;
    if (step == 0)
        step = b->len ? b->len : 1;
    for (size_t i = 0; rc == 0 && i < b->len; i += step)
        rc = evs_dec_feed(&d, b->ptr + i, i + step <= b->len ? step : b->len - i, collect, l);
    if (rc == 0)
        rc = evs_dec_finish(&d);
    evs_dec_free(&d);
    return rc;
}

static int emit_evs(void *ctx, const char *type, const cJSON *payload)
{
    return brk_evs_event(ctx, type, payload);
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* The JSON inside a chunk event's {"bytes": base64}. */
static cJSON *chunk_json(const cJSON *payload)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(payload, "bytes");
    if (!cJSON_IsString(b))
        return NULL;
    const char *s = b->valuestring;
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        int v = b64val(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (char)(acc >> bits);
        }
    }
    cJSON *j = cJSON_ParseWithLength(out, k);
    free(out);
    return j;
}

/* ---- Converse requests ---- */

static void test_converse_requests(void)
{
    converse_golden(
        "{\"messages\":["
        " {\"role\":\"user\",\"content\":[{\"text\":\"Hello {{name}}, {{other}}\"},"
        "  {\"image\":{\"format\":\"png\",\"source\":{\"bytes\":\"iVBORw0KGgo=\"}}},"
        "  {\"cachePoint\":{\"type\":\"default\"}}]},"
        " {\"role\":\"assistant\",\"content\":["
        "  {\"reasoningContent\":{\"reasoningText\":{\"text\":\"think\",\"signature\":\"sig1\"}}},"
        "  {\"text\":\"Let me check.\"},"
        "  {\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"get_weather\",\"input\":{\"city\":"
        "\"Paris\"}}}]},"
        " {\"role\":\"user\",\"content\":["
        "  {\"toolResult\":{\"toolUseId\":\"t1\",\"content\":[{\"json\":{\"temp\":21}}],"
        "\"status\":\"success\"}},"
        "  {\"cachePoint\":{\"type\":\"default\"}},"
        "  {\"text\":\"And tomorrow?\"},"
        "  {\"document\":{\"format\":\"pdf\",\"name\":\"report\",\"source\":{\"bytes\":"
        "\"JVBERi0=\"}}}]}],"
        "\"system\":[{\"text\":\"You are terse.\"},{\"cachePoint\":{\"type\":\"default\"}}],"
        "\"inferenceConfig\":{\"maxTokens\":256,\"temperature\":0.5,\"topP\":0.9,"
        "\"stopSequences\":[\"END\"]},"
        "\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":\"get_weather\",\"description\":"
        "\"Weather\",\"inputSchema\":{\"json\":{\"type\":\"object\"}}}},"
        "{\"cachePoint\":{\"type\":\"default\"}}],\"toolChoice\":{\"tool\":{\"name\":"
        "\"get_weather\"}}},"
        "\"additionalModelRequestFields\":{\"top_k\":40,\"thinking\":{\"type\":\"enabled\","
        "\"budget_tokens\":1024},\"session_id\":\"s-1\",\"enable_history\":true,\"other\":1},"
        "\"promptVariables\":{\"name\":{\"text\":\"Ada\"}},"
        "\"requestMetadata\":{\"team\":\"blue\"}}",
        true,
        "{\"model\":\"grp\",\"messages\":["
        " {\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"You are terse.\","
        "\"cache_control\":{\"type\":\"ephemeral\"}}]},"
        " {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello Ada, {{other}}\"},"
        "  {\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"},"
        "\"cache_control\":{\"type\":\"ephemeral\"}}]},"
        " {\"role\":\"assistant\",\"content\":\"Let me check.\",\"tool_calls\":[{\"id\":\"t1\","
        "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
        "\"{\\\"city\\\":\\\"Paris\\\"}\"}}],\"thinking_blocks\":[{\"type\":\"thinking\","
        "\"thinking\":\"think\",\"signature\":\"sig1\"}],\"reasoning_content\":\"think\"},"
        " {\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":\"{\\\"temp\\\":21}\","
        "\"cache_control\":{\"type\":\"ephemeral\"}},"
        " {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"And tomorrow?\"},"
        "  {\"type\":\"file\",\"file\":{\"file_data\":\"data:application/pdf;base64,JVBERi0=\","
        "\"filename\":\"report\"}}]}],"
        "\"max_tokens\":256,\"temperature\":0.5,\"top_p\":0.9,\"stop\":[\"END\"],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"description\":\"Weather\",\"parameters\":{\"type\":\"object\"}},"
        "\"cache_control\":{\"type\":\"ephemeral\"}}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
        "\"top_k\":40,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024},"
        "\"session_id\":\"s-1\",\"enable_history\":true,\"metadata\":{\"team\":\"blue\"},"
        "\"stream\":true}",
        __LINE__);

    /* The smallest request: one text is a string content; no stream member. */
    converse_golden("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]}", false,
                    "{\"model\":\"grp\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                    __LINE__);

    /* Tool calls only: content null.  Several tool results, then nothing else: tool messages
     * only.  A redacted reasoning block.  toolChoice any/auto.  Error status of a tool result. */
    converse_golden(
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"go\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"reasoningContent\":{\"redactedContent\":\"cmVk\"}}"
        ","
        "{\"toolUse\":{\"toolUseId\":\"a\",\"name\":\"f\",\"input\":{}}},"
        "{\"toolUse\":{\"toolUseId\":\"b\",\"name\":\"g\",\"input\":{\"x\":[1,2]}}}]},"
        "{\"role\":\"user\",\"content\":[{\"toolResult\":{\"toolUseId\":\"a\",\"content\":"
        "[{\"text\":\"one\"},{\"text\":\"two\"}]}},{\"toolResult\":{\"toolUseId\":\"b\","
        "\"content\":[],\"status\":\"error\"}}]}],"
        "\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":\"f\",\"inputSchema\":{\"json\":{}}}}],"
        "\"toolChoice\":{\"any\":{}}}}",
        false,
        "{\"model\":\"grp\",\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},"
        "{\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":"
        "\"{\\\"x\\\":[1,2]}\"}}],"
        "\"thinking_blocks\":[{\"type\":\"redacted_thinking\",\"data\":\"cmVk\"}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"one\"},{\"type\":\"text\",\"text\":\"two\"}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"b\",\"content\":\"\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}],"
        "\"tool_choice\":\"required\"}",
        __LINE__);

    /* Document with a text source: encoded as bytes.  guardContent is text. */
    converse_golden(
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"document\":{\"format\":\"txt\","
        "\"name\":\"n\",\"source\":{\"text\":\"abc\"}}},{\"guardContent\":{\"text\":{\"text\":"
        "\"g\"}}}]}],\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":\"f\",\"inputSchema\":"
        "{\"json\":{}}}}],\"toolChoice\":{\"auto\":{}}}}",
        false,
        "{\"model\":\"grp\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\","
        "\"file\":{\"file_data\":\"data:text/plain;base64,YWJj\",\"filename\":\"n\"}},"
        "{\"type\":\"text\",\"text\":\"g\"}]}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}],"
        "\"tool_choice\":\"auto\"}",
        __LINE__);

    converse_refused("not json", "Malformed input request", __LINE__);
    converse_refused("[1]", "JSON object", __LINE__);
    converse_refused("{}", "Value null at 'messages'", __LINE__);
    converse_refused("{\"messages\":[]}", "greater than or equal to 1", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"system\",\"content\":[{\"text\":\"x\"}]}]}",
                     "messages.1.role", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                     "messages.1.content", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[]}]}", "must not be empty",
                     __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]},"
                     "{\"role\":\"assistant\",\"content\":[{\"video\":{}}]}]}",
                     "messages.2.content.1", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"image\":{\"format\":"
                     "\"bmp\",\"source\":{\"bytes\":\"AA==\"}}}]}]}",
                     "messages.1.content.1.format", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"image\":{\"format\":"
                     "\"png\",\"source\":{\"s3Location\":{\"uri\":\"s3://b/k\"}}}}]}]}",
                     "S3", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"image\":{\"format\":"
                     "\"png\",\"source\":{\"bytes\":\"not base64!\"}}}]}]}",
                     "base64", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\",\"image\":"
                     "{}}]}]}",
                     "messages.1.content.1", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"cachePoint\":{\"type\":"
                     "\"default\"}},{\"text\":\"a\"}]}]}",
                     "cachePoint must follow", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}],"
                     "\"inferenceConfig\":{\"maxTokens\":0}}",
                     "inferenceConfig.maxTokens", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}],"
                     "\"inferenceConfig\":{\"maxTokens\":1e300}}",
                     "inferenceConfig.maxTokens", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}],"
                     "\"inferenceConfig\":{\"temperature\":\"hot\"}}",
                     "inferenceConfig.temperature", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}],"
                     "\"inferenceConfig\":{\"stopSequences\":[1]}}",
                     "stopSequences", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}],"
                     "\"toolConfig\":{\"tools\":[]}}",
                     "toolConfig.tools", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}],"
                     "\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":\"f\",\"inputSchema\":"
                     "{\"json\":{}}}}],\"toolChoice\":{\"maybe\":{}}}}",
                     "toolChoice", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}],"
                     "\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":\"f\"}}]}}",
                     "inputSchema.json", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"toolResult\":"
                     "{\"content\":[]}}]}]}",
                     "toolUseId", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"toolResult\":"
                     "{\"toolUseId\":\"x\",\"content\":[],\"status\":\"meh\"}}]}]}",
                     "status", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"toolUse\":"
                     "{\"toolUseId\":\"x\"}}]}]}",
                     "messages.1.content.1.toolUse", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}],"
                     "\"requestMetadata\":{\"a\":1}}",
                     "requestMetadata", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}],"
                     "\"additionalModelRequestFields\":\"x\"}",
                     "additionalModelRequestFields", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}],"
                     "\"system\":\"be nice\"}",
                     "'system'", __LINE__);
    converse_refused("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}],"
                     "\"promptVariables\":[]}",
                     "promptVariables", __LINE__);
}

/* ---- Converse responses ---- */

static void test_converse_responses(void)
{
    cJSON *canon = J("{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                     "\"content\":\"It is sunny.\",\"reasoning_content\":\"hmm\","
                     "\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"hmm\","
                     "\"signature\":\"s\"},{\"type\":\"redacted_thinking\",\"data\":\"r\"}],"
                     "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
                     "\"f\",\"arguments\":\"{\\\"a\\\":1}\"}},{\"id\":\"c2\",\"type\":"
                     "\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"not json\"}}]},"
                     "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":100,"
                     "\"completion_tokens\":20,\"total_tokens\":120,"
                     "\"cache_read_input_tokens\":60,\"cache_creation_input_tokens\":10}}");
    cJSON *out = brk_converse_response(canon, 42, 0);
    CHECK_JSON(out,
               "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":["
               "{\"reasoningContent\":{\"reasoningText\":{\"text\":\"hmm\",\"signature\":\"s\"}}},"
               "{\"reasoningContent\":{\"redactedContent\":\"r\"}},"
               "{\"text\":\"It is sunny.\"},"
               "{\"toolUse\":{\"toolUseId\":\"c1\",\"name\":\"f\",\"input\":{\"a\":1}}},"
               "{\"toolUse\":{\"toolUseId\":\"c2\",\"name\":\"g\",\"input\":\"not json\"}}]}},"
               "\"stopReason\":\"tool_use\",\"usage\":{\"inputTokens\":30,\"outputTokens\":20,"
               "\"totalTokens\":120,\"cacheReadInputTokens\":60,\"cacheWriteInputTokens\":10},"
               "\"metrics\":{\"latencyMs\":42}}");
    cJSON_Delete(out);
    /* Nova's names for the cache counts, no metrics. */
    out = brk_converse_response(canon, -1, BRK_NOVA);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(out, "usage");
    CHECK(cJSON_GetObjectItemCaseSensitive(out, "metrics") == NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(u, "cacheReadInputTokenCount") != NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(u, "cacheWriteInputTokenCount") != NULL);
    cJSON_Delete(out);
    cJSON_Delete(canon);

    /* reasoning_content without blocks; cached_tokens from prompt_tokens_details; text parts. */
    canon = J("{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
              "{\"type\":\"text\",\"text\":\"b\"}],\"reasoning_content\":\"r\"},"
              "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":10,"
              "\"completion_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":4}}}");
    out = brk_converse_response(canon, 0, 0);
    CHECK_JSON(out, "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":["
                    "{\"reasoningContent\":{\"reasoningText\":{\"text\":\"r\"}}},"
                    "{\"text\":\"a\"},{\"text\":\"b\"}]}},\"stopReason\":\"max_tokens\","
                    "\"usage\":{\"inputTokens\":6,\"outputTokens\":2,\"totalTokens\":12,"
                    "\"cacheReadInputTokens\":4,\"cacheWriteInputTokens\":0},"
                    "\"metrics\":{\"latencyMs\":0}}");
    cJSON_Delete(out);
    cJSON_Delete(canon);

    /* A provider that called a tool but said "stop": still tool_use. */
    canon = J("{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{\"id\":\"c\","
              "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]},\"finish_reason\":\"stop\"}]}");
    out = brk_converse_response(canon, 0, 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "stopReason")),
              "tool_use");
    CHECK_JSON(cJSON_GetObjectItemCaseSensitive(out, "output"),
               "{\"message\":{\"role\":\"assistant\",\"content\":[{\"toolUse\":{\"toolUseId\":"
               "\"c\",\"name\":\"f\",\"input\":{}}}]}}");
    cJSON_Delete(out);
    cJSON_Delete(canon);

    /* Garbage in: a well-formed, empty answer out. */
    const char *junk[] = {"null", "[]", "{\"choices\":5}", "{\"choices\":[{\"message\":[]}]}",
                          ("{\"choices\":[{\"message\":{\"content\":7,\"tool_calls\":[1,{}]}}],"
                           "\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":1e300}}")};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        canon = J(junk[i]);
        out = brk_converse_response(canon, 1, 0);
        CHECK(out != NULL);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(out, "output"),
                                             "message"),
            "content");
        CHECK(cJSON_GetArraySize(c) >= 1);
        cJSON_Delete(out);
        cJSON_Delete(canon);
    }

    CHECK_STR(brk_stop_reason("stop"), "end_turn");
    CHECK_STR(brk_stop_reason(NULL), "end_turn");
    CHECK_STR(brk_stop_reason("length"), "max_tokens");
    CHECK_STR(brk_stop_reason("tool_calls"), "tool_use");
    CHECK_STR(brk_stop_reason("content_filter"), "content_filtered");
    CHECK_STR(brk_stop_reason("weird"), "end_turn");
}

/* ---- ConverseStream ---- */

static const char *const stream_chunks[] = {
    "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"finish_reason\":null}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Let me think\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"thinking_blocks\":[{\"type\":\"thinking\","
    "\"thinking\":\"\",\"signature\":\"sig\"}]}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"tool_calls\":[{\"index\":0,"
    "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"arguments\":\"\"}}]}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\"{\\\"city\\\":\"}}]}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\"\\\"Paris\\\"}\"}}]}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
    "\"total_tokens\":15}}",
};

static const char *const stream_want[][2] = {
    {"messageStart", "{\"role\":\"assistant\"}"},
    {"contentBlockDelta",
     "{\"delta\":{\"reasoningContent\":{\"text\":\"Let me think\"}},\"contentBlockIndex\":0}"},
    {"contentBlockDelta",
     "{\"delta\":{\"reasoningContent\":{\"signature\":\"sig\"}},\"contentBlockIndex\":0}"},
    {"contentBlockStop", "{\"contentBlockIndex\":0}"},
    {"contentBlockDelta", "{\"delta\":{\"text\":\"Hello\"},\"contentBlockIndex\":1}"},
    {"contentBlockStop", "{\"contentBlockIndex\":1}"},
    {"contentBlockStart", "{\"start\":{\"toolUse\":{\"toolUseId\":\"call_1\",\"name\":"
                          "\"get_weather\"}},\"contentBlockIndex\":2}"},
    {"contentBlockDelta",
     "{\"delta\":{\"toolUse\":{\"input\":\"{\\\"city\\\":\"}},\"contentBlockIndex\":2}"},
    {"contentBlockDelta",
     "{\"delta\":{\"toolUse\":{\"input\":\"\\\"Paris\\\"}\"}},\"contentBlockIndex\":2}"},
    {"contentBlockStop", "{\"contentBlockIndex\":2}"},
    {"messageStop", "{\"stopReason\":\"tool_use\"}"},
    {"metadata", "{\"usage\":{\"inputTokens\":10,\"outputTokens\":5,\"totalTokens\":15},"
                 "\"metrics\":{\"latencyMs\":7}}"},
};

static void check_stream_events(const buf_t *b, size_t step)
{
    evlist_t l = {0};
    int rc = decode(b, step, &l);
    CHECK(rc == 0);
    size_t nwant = sizeof stream_want / sizeof stream_want[0];
    CHECK(l.n == nwant);
    for (size_t i = 0; i < l.n && i < nwant; i++) {
        CHECK_STR(l.ev[i].type, stream_want[i][0]);
        CHECK_STR(l.ev[i].ctype, "application/json");
        CHECK_STR(l.ev[i].mtype, "event");
        CHECK_JSON(l.ev[i].payload, stream_want[i][1]);
    }
    evlist_free(&l);
}

static void test_converse_stream(void)
{
    brk_stream_t s;
    brk_stream_init(&s, 0);
    buf_t b = {0};
    for (size_t i = 0; i < sizeof stream_chunks / sizeof stream_chunks[0]; i++) {
        cJSON *c = J(stream_chunks[i]);
        CHECK(brk_stream_chunk(&s, c, emit_evs, &b) == 0);
        cJSON_Delete(c);
    }
    CHECK(brk_stream_finish(&s, 7, emit_evs, &b) == 0);
    /* Once finished, nothing more is written. */
    size_t len = b.len;
    cJSON *late = J(stream_chunks[3]);
    CHECK(brk_stream_chunk(&s, late, emit_evs, &b) == 0 && b.len == len);
    CHECK(brk_stream_finish(&s, 7, emit_evs, &b) == 0 && b.len == len);
    cJSON_Delete(late);
    /* The bytes decode to the same events however they are split. */
    check_stream_events(&b, 0);
    check_stream_events(&b, 1);
    for (size_t step = 2; step < 64; step += 7)
        check_stream_events(&b, step);
    buf_free(&b);

    /* An empty stream still says start, stop and metadata. */
    brk_stream_init(&s, 0);
    CHECK(brk_stream_finish(&s, 3, emit_evs, &b) == 0);
    evlist_t l = {0};
    CHECK(decode(&b, 0, &l) == 0 && l.n == 3);
    if (l.n == 3) {
        CHECK_STR(l.ev[0].type, "messageStart");
        CHECK_JSON(l.ev[1].payload, "{\"stopReason\":\"end_turn\"}");
        CHECK_JSON(l.ev[2].payload, "{\"usage\":{\"inputTokens\":0,\"outputTokens\":0,"
                                    "\"totalTokens\":0},\"metrics\":{\"latencyMs\":3}}");
    }
    evlist_free(&l);
    buf_free(&b);

    /* Two parallel tool calls, the second without an id (one is made up); text after finish is
     * ignored; usage arriving with the finish chunk counts. */
    brk_stream_init(&s, 0);
    const char *two[] = {
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"index\":1,\"function\":"
        "{\"name\":\"g\",\"arguments\":\"{\\\"x\\\":1}\"}}]}}]}",
        ("{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":"
         "{\"prompt_tokens\":3,\"completion_tokens\":4}}"),
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}",
    };
    for (size_t i = 0; i < 3; i++) {
        cJSON *c = J(two[i]);
        CHECK(brk_stream_chunk(&s, c, emit_evs, &b) == 0);
        cJSON_Delete(c);
    }
    CHECK(brk_stream_finish(&s, 1, emit_evs, &b) == 0);
    CHECK(decode(&b, 0, &l) == 0);
    static const char *const types[] = {
        "messageStart",     "contentBlockStart", "contentBlockDelta",
        "contentBlockStop", "contentBlockStart", "contentBlockDelta",
        "contentBlockStop", "messageStop",       "metadata"};
    CHECK(l.n == 9);
    for (size_t i = 0; i < l.n && i < 9; i++)
        CHECK_STR(l.ev[i].type, types[i]);
    if (l.n == 9) {
        const cJSON *tu = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(l.ev[4].payload, "start"), "toolUse");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tu, "name")), "g");
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tu, "toolUseId"));
        CHECK(id != NULL && id[0] != '\0');
        /* Tool calls under a "stop" still tell the client to run them. */
        CHECK_JSON(l.ev[7].payload, "{\"stopReason\":\"tool_use\"}");
        CHECK_JSON(l.ev[8].payload, "{\"usage\":{\"inputTokens\":3,\"outputTokens\":4,"
                                    "\"totalTokens\":7},\"metrics\":{\"latencyMs\":1}}");
    }
    evlist_free(&l);
    buf_free(&b);
}

/* ---- errors ---- */

static void test_errors(void)
{
    struct {
        int status, cls;
        bool upstream, invoke;
        int want_status;
        const char *type, *event;
    } t[] = {
        {401, GANTRY_ERR_AUTH, false, false, 403, "UnrecognizedClientException",
         "validationException"},
        {401, GANTRY_ERR_AUTH, true, false, 403, "AccessDeniedException", "validationException"},
        {403, GANTRY_ERR_AUTH, false, false, 403, "AccessDeniedException", "validationException"},
        {404, GANTRY_ERR_NOT_FOUND, false, false, 404, "ResourceNotFoundException",
         "validationException"},
        {429, GANTRY_ERR_RATE_LIMIT, true, false, 429, "ThrottlingException",
         "throttlingException"},
        {400, GANTRY_ERR_BAD_REQUEST, false, false, 400, "ValidationException",
         "validationException"},
        {413, GANTRY_ERR_BAD_REQUEST, false, false, 413, "ValidationException",
         "validationException"},
        {403, GANTRY_ERR_BAD_REQUEST, false, false, 403, "AccessDeniedException",
         "validationException"},
        {400, GANTRY_ERR_CONTEXT_WINDOW, true, false, 400, "ValidationException",
         "validationException"},
        {504, GANTRY_ERR_TIMEOUT, true, false, 408, "ModelTimeoutException",
         "modelStreamErrorException"},
        {504, GANTRY_ERR_TIMEOUT, true, true, 408, "ModelTimeoutException",
         "modelTimeoutException"},
        {503, GANTRY_ERR_SERVER, false, false, 503, "ServiceUnavailableException",
         "serviceUnavailableException"},
        {502, GANTRY_ERR_SERVER, true, false, 424, "ModelErrorException",
         "modelStreamErrorException"},
        {502, GANTRY_ERR_CONNECT, true, false, 503, "ServiceUnavailableException",
         "serviceUnavailableException"},
        {500, GANTRY_ERR_INTERNAL, false, false, 500, "InternalServerException",
         "internalServerException"},
        {400, GANTRY_ERR_BUDGET, false, false, 400, "ServiceQuotaExceededException",
         "throttlingException"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        brk_errmap_t m;
        brk_error_map(t[i].status, t[i].cls, t[i].upstream, t[i].invoke, &m);
        CHECK(m.status == t[i].want_status);
        CHECK_STR(m.type, t[i].type);
        CHECK_STR(m.event, t[i].event);
    }

    buf_t b = {0};
    CHECK(brk_error_json(&b, "say \"hi\"\nnow", 13) == 0);
    cJSON *j = cJSON_ParseWithLength(b.ptr, b.len);
    CHECK_JSON(j, "{\"message\":\"say \\\"hi\\\"\\nnow\"}");
    cJSON_Delete(j);
    buf_free(&b);

    CHECK(brk_evs_exception(&b, "throttlingException", "slow down", 9, 429) == 0);
    CHECK(brk_evs_exception(&b, "modelStreamErrorException", "broken", 6, 502) == 0);
    evlist_t l = {0};
    CHECK(decode(&b, 0, &l) == 0 && l.n == 2);
    if (l.n == 2) {
        CHECK_STR(l.ev[0].mtype, "exception");
        CHECK_STR(l.ev[0].exc, "throttlingException");
        CHECK_STR(l.ev[0].ctype, "application/json");
        CHECK_JSON(l.ev[0].payload, "{\"message\":\"slow down\"}");
        CHECK_STR(l.ev[1].exc, "modelStreamErrorException");
        CHECK_JSON(l.ev[1].payload, "{\"message\":\"broken\",\"originalStatusCode\":502}");
    }
    evlist_free(&l);
    buf_free(&b);
}

/* ---- route helpers ---- */

static void sigv4(const char *header, const char *want)
{
    const char *k = NULL;
    size_t n = 0;
    bool ok = brk_sigv4_key(header, strlen(header), &k, &n);
    if (want == NULL) {
        CHECK(!ok);
    } else {
        CHECK(ok && n == strlen(want) && memcmp(k, want, n) == 0);
    }
}

static void test_route_helpers(void)
{
    sigv4("AWS4-HMAC-SHA256 Credential=sk-1/20250101/us-east-1/bedrock/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=abcd",
          "sk-1");
    sigv4("AWS4-HMAC-SHA256 Credential=Bearer sk-2/20250101/us-east-1/bedrock/aws4_request, "
          "SignedHeaders=host, Signature=ab",
          "sk-2");
    sigv4("AWS4-HMAC-SHA256 Credential=a/b/c/20250101/us-east-1/bedrock/aws4_request", "a/b/c");
    sigv4("AWS4-HMAC-SHA256 Credential=/20250101/us-east-1/bedrock/aws4_request", NULL);
    sigv4("AWS4-HMAC-SHA256 Credential=sk/us-east-1/bedrock/aws4_request", NULL);
    sigv4("AWS4-HMAC-SHA256 SignedHeaders=host", NULL);
    sigv4("Bearer sk-3", NULL);
    sigv4("AWS4-HMAC-SHA256 ", NULL);
    sigv4("", NULL);

    char out[64];
    CHECK(brk_decode_model("gpt-mock", 8, out, sizeof out) && strcmp(out, "gpt-mock") == 0);
    CHECK(brk_decode_model("openai%2Fgpt%3a1", 16, out, sizeof out) &&
          strcmp(out, "openai/gpt:1") == 0);
    CHECK(!brk_decode_model("", 0, out, sizeof out));
    CHECK(!brk_decode_model("a%2", 3, out, sizeof out));
    CHECK(!brk_decode_model("a%zz", 4, out, sizeof out));
    CHECK(!brk_decode_model("a%00b", 5, out, sizeof out));
    CHECK(!brk_decode_model("abcdef", 6, out, 4));
}

/* ---- InvokeModel ---- */

static void detect(const char *body, brk_family_t want)
{
    cJSON *j = J(body);
    CHECK(brk_invoke_detect(j) == want);
    if (brk_invoke_detect(j) != want)
        fprintf(stderr, "  detect(%s) = %s\n", body, brk_family_name(brk_invoke_detect(j)));
    cJSON_Delete(j);
}

static void invoke_golden(const char *body, bool stream, brk_family_t fam, const char *want,
                          int line)
{
    cJSON *out = NULL;
    brk_err_t err = {0};
    brk_family_t f;
    int rc = brk_invoke_parse(body, strlen(body), "grp", stream, &f, &out, &err);
    if (rc != 0)
        fprintf(stderr, "test_brk.c:%d: refused: %s\n", line, err.message);
    CHECK(rc == 0 && f == fam);
    if (want != NULL)
        check_json(out, want, line);
    cJSON_Delete(out);
}

static void invoke_refused(const char *body, const char *msg_part, int line)
{
    cJSON *out = NULL;
    brk_err_t err = {0};
    brk_family_t f;
    int rc = brk_invoke_parse(body, strlen(body), "grp", false, &f, &out, &err);
    bool ok = rc == -1 && out == NULL && err.status == 400 && strstr(err.message, msg_part);
    if (!ok)
        fprintf(stderr, "test_brk.c:%d: expected a 400 naming \"%s\", got rc %d: %s\n", line,
                msg_part, rc, err.message);
    CHECK(ok);
}

static void test_invoke_requests(void)
{
    detect("{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":9,\"messages\":[]}",
           BRK_FAM_ANTHROPIC);
    detect("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":9}",
           BRK_FAM_ANTHROPIC);
    detect("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],"
           "\"max_tokens\":9}",
           BRK_FAM_ANTHROPIC);
    detect("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]}", BRK_FAM_NOVA);
    detect("{\"schemaVersion\":\"messages-v1\",\"messages\":[]}", BRK_FAM_NOVA);
    detect("{\"messages\":[],\"inferenceConfig\":{}}", BRK_FAM_NOVA);
    detect("{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\","
           "\"content\":\"hi\"}],\"max_tokens\":9}",
           BRK_FAM_OPENAI);
    detect("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", BRK_FAM_OPENAI);
    detect("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_completion_tokens\":5}",
           BRK_FAM_OPENAI);
    detect("{\"inputText\":\"hi\"}", BRK_FAM_TITAN);
    detect("{\"prompt\":\"hi\",\"max_gen_len\":5}", BRK_FAM_LLAMA);
    detect("{\"prompt\":\"hi\"}", BRK_FAM_LLAMA);
    detect("{\"prompt\":\"hi\",\"max_tokens\":5}", BRK_FAM_MISTRAL);
    detect("{\"prompt\":\"hi\",\"stop\":[\"x\"]}", BRK_FAM_MISTRAL);
    detect("{\"prompt\":\"hi\",\"max_tokens\":5,\"max_gen_len\":5}", BRK_FAM_LLAMA);
    detect("{\"foo\":1}", BRK_FAM_UNKNOWN);
    detect("[]", BRK_FAM_UNKNOWN);

    invoke_golden("{\"inputText\":\"User: hi\\nBot:\",\"textGenerationConfig\":{\"maxTokenCount\":"
                  "50,\"temperature\":0.2,\"topP\":0.8,\"stopSequences\":[\"User:\"]}}",
                  false, BRK_FAM_TITAN,
                  "{\"model\":\"grp\",\"messages\":[{\"role\":\"user\",\"content\":"
                  "\"User: hi\\nBot:\"}],\"max_tokens\":50,\"temperature\":0.2,\"top_p\":0.8,"
                  "\"stop\":[\"User:\"]}",
                  __LINE__);
    invoke_golden("{\"prompt\":\"hi\",\"max_gen_len\":64,\"temperature\":0.1,\"top_p\":0.9}", true,
                  BRK_FAM_LLAMA,
                  "{\"model\":\"grp\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                  "\"max_tokens\":64,\"temperature\":0.1,\"top_p\":0.9,\"stream\":true}",
                  __LINE__);
    invoke_golden("{\"prompt\":\"look\",\"images\":[\"/9j/AAAA\"]}", false, BRK_FAM_LLAMA,
                  "{\"model\":\"grp\",\"messages\":[{\"role\":\"user\",\"content\":["
                  "{\"type\":\"text\",\"text\":\"look\"},{\"type\":\"image_url\",\"image_url\":"
                  "{\"url\":\"data:image/jpeg;base64,/9j/AAAA\"}}]}]}",
                  __LINE__);
    invoke_golden("{\"prompt\":\"<s>[INST] hi [/INST]\",\"max_tokens\":20,\"top_k\":5,"
                  "\"stop\":[\"</s>\"],\"temperature\":0}",
                  false, BRK_FAM_MISTRAL,
                  "{\"model\":\"grp\",\"messages\":[{\"role\":\"user\",\"content\":"
                  "\"<s>[INST] hi [/INST]\"}],\"max_tokens\":20,\"temperature\":0,\"top_k\":5,"
                  "\"stop\":[\"</s>\"]}",
                  __LINE__);
    invoke_golden("{\"schemaVersion\":\"messages-v1\",\"system\":[{\"text\":\"sys\"}],"
                  "\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}],"
                  "\"inferenceConfig\":{\"max_new_tokens\":30,\"top_p\":0.5,\"top_k\":20,"
                  "\"temperature\":0.7}}",
                  false, BRK_FAM_NOVA,
                  "{\"model\":\"grp\",\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},"
                  "{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":30,"
                  "\"temperature\":0.7,\"top_p\":0.5,\"top_k\":20}",
                  __LINE__);
    invoke_golden("{\"model\":\"other\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
                  "{\"role\":\"user\",\"content\":\"hi\"}],\"max_completion_tokens\":5,"
                  "\"stream\":false}",
                  true, BRK_FAM_OPENAI,
                  "{\"model\":\"grp\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
                  "{\"role\":\"user\",\"content\":\"hi\"}],\"max_completion_tokens\":5,"
                  "\"stream\":true}",
                  __LINE__);

    /* Anthropic bodies go through anth.h: the model comes from the URL, not the body. */
    const char *anth = "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":100,"
                       "\"system\":\"sys\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    cJSON *out = NULL;
    brk_err_t err = {0};
    brk_family_t f;
    CHECK(brk_invoke_parse(anth, strlen(anth), "grp", true, &f, &out, &err) == 0);
    CHECK(f == BRK_FAM_ANTHROPIC);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "model")), "grp");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "stream")));
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(out, "max_tokens")) == 100);
    CHECK(cJSON_GetObjectItemCaseSensitive(out, "anthropic_version") == NULL);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(out, "messages");
    CHECK(cJSON_GetArraySize(msgs) == 2);
    CHECK_STR(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, 0), "role")),
        "system");
    cJSON_Delete(out);

    /* Anthropic without anthropic_version: the model still comes from the URL. */
    invoke_golden("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":9}", false,
                  BRK_FAM_ANTHROPIC,
                  "{\"model\":\"grp\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                  "\"max_tokens\":9}",
                  __LINE__);

    invoke_refused("", "JSON object", __LINE__);
    invoke_refused("[1,2]", "JSON object", __LINE__);
    invoke_refused("{\"zzz\":1}", "not in a model format", __LINE__);
    invoke_refused("{\"inputText\":5}", "inputText", __LINE__);
    invoke_refused("{\"prompt\":\"x\",\"max_gen_len\":-1}", "sampling parameter", __LINE__);
    invoke_refused("{\"prompt\":\"x\",\"max_tokens\":2,\"stop\":[1]}", "sampling parameter",
                   __LINE__);
    invoke_refused("{\"inputText\":\"x\",\"textGenerationConfig\":[]}", "textGenerationConfig",
                   __LINE__);
    invoke_refused("{\"prompt\":\"x\",\"images\":[1]}", "images", __LINE__);
    invoke_refused("{\"messages\":[],\"inferenceConfig\":{}}", "messages", __LINE__);
    invoke_refused("{\"anthropic_version\":\"bedrock-2023-05-31\",\"messages\":[]}", "max_tokens",
                   __LINE__);
}

static void test_invoke_responses(void)
{
    cJSON *canon = J("{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},"
                     "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":7,"
                     "\"completion_tokens\":3,\"total_tokens\":10}}");
    struct {
        brk_family_t fam;
        const char *want;
    } t[] = {
        {BRK_FAM_TITAN, "{\"inputTextTokenCount\":7,\"results\":[{\"tokenCount\":3,"
                        "\"outputText\":\"Hello\",\"completionReason\":\"LENGTH\"}]}"},
        {BRK_FAM_LLAMA, "{\"generation\":\"Hello\",\"prompt_token_count\":7,"
                        "\"generation_token_count\":3,\"stop_reason\":\"length\"}"},
        {BRK_FAM_MISTRAL, "{\"outputs\":[{\"text\":\"Hello\",\"stop_reason\":\"length\"}]}"},
        {BRK_FAM_NOVA, "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":"
                       "[{\"text\":\"Hello\"}]}},\"stopReason\":\"max_tokens\",\"usage\":"
                       "{\"inputTokens\":7,\"outputTokens\":3,\"totalTokens\":10}}"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        cJSON *out = brk_invoke_response(t[i].fam, canon, "msg_1", "grp");
        CHECK_JSON(out, t[i].want);
        cJSON_Delete(out);
    }
    cJSON *out = brk_invoke_response(BRK_FAM_OPENAI, canon, "msg_1", "grp");
    CHECK(cJSON_Compare(out, canon, true));
    cJSON_Delete(out);
    out = brk_invoke_response(BRK_FAM_ANTHROPIC, canon, "msg_1", "grp");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "type")), "message");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "id")), "msg_1");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "model")), "grp");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "stop_reason")),
              "max_tokens");
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "content"), 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c0, "text")), "Hello");
    cJSON_Delete(out);
    cJSON_Delete(canon);

    /* A Titan stop is FINISH, a filtered answer CONTENT_FILTERED. */
    canon = J("{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}");
    out = brk_invoke_response(BRK_FAM_TITAN, canon, "m", "g");
    CHECK_JSON(out, "{\"inputTextTokenCount\":0,\"results\":[{\"tokenCount\":0,\"outputText\":"
                    "\"x\",\"completionReason\":\"FINISH\"}]}");
    cJSON_Delete(out);
    cJSON_Delete(canon);
    canon = J("{\"choices\":[{\"message\":{\"content\":null},\"finish_reason\":"
              "\"content_filter\"}]}");
    out = brk_invoke_response(BRK_FAM_TITAN, canon, "m", "g");
    CHECK_JSON(out, "{\"inputTextTokenCount\":0,\"results\":[{\"tokenCount\":0,\"outputText\":"
                    "\"\",\"completionReason\":\"CONTENT_FILTERED\"}]}");
    cJSON_Delete(out);
    cJSON_Delete(canon);
}

static const char *const text_chunks[] = {
    "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}",
    ("{\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,"
     "\"total_tokens\":10}}"),
};

/* Run the text chunks through an invoke stream; the decoded chunk JSONs in out[]. */
static size_t invoke_stream(brk_family_t fam, cJSON **out, size_t cap)
{
    brk_istream_t s;
    brk_istream_init(&s, fam, "msg_1", "grp");
    brk_metrics_t m = {100, 20};
    buf_t b = {0};
    for (size_t i = 0; i < sizeof text_chunks / sizeof text_chunks[0]; i++) {
        cJSON *c = J(text_chunks[i]);
        CHECK(brk_istream_chunk(&s, c, &m, &b) == 0);
        cJSON_Delete(c);
    }
    CHECK(brk_istream_finish(&s, &m, &b) == 0);
    size_t len = b.len;
    CHECK(brk_istream_finish(&s, &m, &b) == 0 && b.len == len);
    evlist_t l = {0};
    CHECK(decode(&b, 3, &l) == 0);
    size_t n = 0;
    for (size_t i = 0; i < l.n; i++) {
        CHECK_STR(l.ev[i].type, "chunk");
        CHECK_STR(l.ev[i].mtype, "event");
        if (n < cap)
            out[n++] = chunk_json(l.ev[i].payload);
    }
    evlist_free(&l);
    buf_free(&b);
    return n;
}

#define METRICS                                                                           \
    "\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":7,\"outputTokenCount\":3," \
    "\"invocationLatency\":100,\"firstByteLatency\":20}"

static void test_invoke_streams(void)
{
    cJSON *ev[32];
    size_t n = invoke_stream(BRK_FAM_TITAN, ev, 32);
    CHECK(n == 3);
    if (n == 3) {
        CHECK_JSON(ev[0], "{\"outputText\":\"Hel\",\"index\":0,\"totalOutputTextTokenCount\":1,"
                          "\"completionReason\":null,\"inputTextTokenCount\":null}");
        CHECK_JSON(ev[1], "{\"outputText\":\"lo\",\"index\":0,\"totalOutputTextTokenCount\":2,"
                          "\"completionReason\":null,\"inputTextTokenCount\":null}");
        CHECK_JSON(ev[2], "{\"outputText\":\"\",\"index\":0,\"totalOutputTextTokenCount\":3,"
                          "\"completionReason\":\"FINISH\",\"inputTextTokenCount\":7," METRICS "}");
    }
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(ev[i]);

    n = invoke_stream(BRK_FAM_LLAMA, ev, 32);
    CHECK(n == 3);
    if (n == 3) {
        CHECK_JSON(ev[0], "{\"generation\":\"Hel\",\"prompt_token_count\":null,"
                          "\"generation_token_count\":1,\"stop_reason\":null}");
        CHECK_JSON(ev[2], "{\"generation\":\"\",\"prompt_token_count\":7,"
                          "\"generation_token_count\":3,\"stop_reason\":\"stop\"," METRICS "}");
    }
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(ev[i]);

    n = invoke_stream(BRK_FAM_MISTRAL, ev, 32);
    CHECK(n == 3);
    if (n == 3) {
        CHECK_JSON(ev[1], "{\"outputs\":[{\"text\":\"lo\",\"stop_reason\":null}]}");
        CHECK_JSON(ev[2], "{\"outputs\":[{\"text\":\"\",\"stop_reason\":\"stop\"}]," METRICS "}");
    }
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(ev[i]);

    n = invoke_stream(BRK_FAM_NOVA, ev, 32);
    CHECK(n == 6);
    if (n == 6) {
        CHECK_JSON(ev[0], "{\"messageStart\":{\"role\":\"assistant\"}}");
        CHECK_JSON(ev[1], "{\"contentBlockDelta\":{\"delta\":{\"text\":\"Hel\"},"
                          "\"contentBlockIndex\":0}}");
        CHECK_JSON(ev[3], "{\"contentBlockStop\":{\"contentBlockIndex\":0}}");
        CHECK_JSON(ev[4], "{\"messageStop\":{\"stopReason\":\"end_turn\"}}");
        CHECK_JSON(ev[5], "{\"metadata\":{\"usage\":{\"inputTokens\":7,\"outputTokens\":3,"
                          "\"totalTokens\":10},\"metrics\":{\"latencyMs\":100}}," METRICS "}");
    }
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(ev[i]);

    n = invoke_stream(BRK_FAM_OPENAI, ev, 32);
    CHECK(n == 5);
    if (n == 5) {
        cJSON *want = J(text_chunks[1]);
        CHECK(cJSON_Compare(ev[1], want, true));
        cJSON_Delete(want);
    }
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(ev[i]);

    /* Anthropic: the events of the Messages API in order, message_stop with the metrics. */
    n = invoke_stream(BRK_FAM_ANTHROPIC, ev, 32);
    static const char *const types[] = {
        "message_start",      "content_block_start", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta",       "message_stop"};
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev[i], "type"));
        if (t != NULL && strcmp(t, "ping") == 0)
            continue;
        CHECK(k < 7 && t != NULL && strcmp(t, types[k]) == 0);
        k++;
    }
    CHECK(k == 7);
    if (n > 0) {
        CHECK_JSON(ev[n - 1], "{\"type\":\"message_stop\"," METRICS "}");
        const cJSON *md = ev[n - 2];
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(md, "delta");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "stop_reason")),
                  "end_turn");
    }
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(ev[i]);
}

/* ---- allocation failures ---- */

static long alloc_budget = -1; /* cJSON allocations left before they fail; -1 = unlimited */

static void *failing_malloc(size_t n)
{
    if (alloc_budget == 0)
        return NULL;
    if (alloc_budget > 0)
        alloc_budget--;
    return malloc(n);
}

/* Every cJSON allocation failing in turn: each run ends cleanly (ASan checks for leaks). */
static void test_alloc_failures(const char *body)
{
    cJSON_Hooks hooks = {failing_malloc, free};
    cJSON_InitHooks(&hooks);
    cJSON *canon_resp = J("{\"choices\":[{\"message\":{\"content\":\"x\",\"reasoning_content\":"
                          "\"r\",\"tool_calls\":[{\"id\":\"c\",\"function\":{\"name\":\"f\","
                          "\"arguments\":\"{}\"}}]},\"finish_reason\":\"stop\"}],\"usage\":"
                          "{\"prompt_tokens\":4,\"cache_read_input_tokens\":1}}");
    cJSON *chunks[sizeof stream_chunks / sizeof stream_chunks[0]];
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
        chunks[i] = J(stream_chunks[i]);
    int clean = 0, completed = 0;
    for (long n = 0; n < 4000 && completed < 1; n++) {
        alloc_budget = n;
        cJSON *out = NULL;
        brk_err_t err = {0};
        int rc = brk_converse_parse(body, strlen(body), "grp", true, &out, &err);
        clean += rc == 0 || (rc == -1 && out == NULL && err.message[0] != '\0');
        cJSON_Delete(out);
        cJSON *resp = brk_converse_response(canon_resp, 1, 0);
        cJSON_Delete(resp);
        for (int f = BRK_FAM_ANTHROPIC; f <= BRK_FAM_OPENAI; f++)
            cJSON_Delete(brk_invoke_response((brk_family_t)f, canon_resp, "m", "g"));
        brk_stream_t s;
        brk_stream_init(&s, 0);
        buf_t b = {0};
        for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
            brk_stream_chunk(&s, chunks[i], emit_evs, &b);
        brk_stream_finish(&s, 1, emit_evs, &b);
        buf_free(&b);
        brk_istream_t is;
        brk_metrics_t m = {1, 1};
        brk_istream_init(&is, BRK_FAM_ANTHROPIC, "m", "g");
        for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
            brk_istream_chunk(&is, chunks[i], &m, &b);
        brk_istream_finish(&is, &m, &b);
        buf_free(&b);
        /* Budget left over: this run never saw a failure, so every later one would pass too. */
        if (alloc_budget > 0 && rc == 0)
            completed++;
        else
            CHECK(clean == n + 1);
    }
    alloc_budget = -1;
    CHECK(completed == 1);
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
        cJSON_Delete(chunks[i]);
    cJSON_Delete(canon_resp);
    cJSON_InitHooks(NULL);
}

int main(void)
{
    test_converse_requests();
    test_converse_responses();
    test_converse_stream();
    test_errors();
    test_route_helpers();
    test_invoke_requests();
    test_invoke_responses();
    test_invoke_streams();
    test_alloc_failures(
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi {{n}}\"},{\"image\":"
        "{\"format\":\"png\",\"source\":{\"bytes\":\"AAAA\"}}},{\"cachePoint\":{}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"reasoningContent\":{\"reasoningText\":"
        "{\"text\":\"t\",\"signature\":\"s\"}}},{\"text\":\"a\"},{\"toolUse\":{\"toolUseId\":"
        "\"t1\",\"name\":\"f\",\"input\":{\"x\":1}}}]},{\"role\":\"user\",\"content\":"
        "[{\"toolResult\":{\"toolUseId\":\"t1\",\"content\":[{\"json\":{}},{\"text\":\"b\"}]}},"
        "{\"cachePoint\":{}},{\"document\":{\"format\":\"txt\",\"name\":\"d\",\"source\":"
        "{\"text\":\"abc\"}}}]}],\"system\":[{\"text\":\"s\"},{\"cachePoint\":{}}],"
        "\"inferenceConfig\":{\"maxTokens\":5,\"stopSequences\":[\"x\"]},\"toolConfig\":"
        "{\"tools\":[{\"toolSpec\":{\"name\":\"f\",\"inputSchema\":{\"json\":{}}}},"
        "{\"cachePoint\":{}}],\"toolChoice\":{\"tool\":{\"name\":\"f\"}}},"
        "\"additionalModelRequestFields\":{\"top_k\":1},\"promptVariables\":{\"n\":{\"text\":"
        "\"v\"}},\"requestMetadata\":{\"k\":\"v\"}}");
    return check_report();
}
