/*
 * api_completions: how /v1/completions answers are written.  The request travelled as a canonical
 * chat request (oai_parse_completion), so responses and chunks come back in chat shapes and are
 * rewritten here as OpenAI text_completion objects; errors are OpenAI's.
 */
#include <string.h>

#include "api.h"
#include "req.h"

static int put(cJSON *j, buf_t *out)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (s == NULL)
        return -1;
    int rc = buf_appendz(out, s);
    cJSON_free(s);
    return rc;
}

/* id, object, created and model of a chat object, carried over to a text_completion one. */
static cJSON *head(const cJSON *src)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(src, "id");
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(src, "created");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(src, "model");
    cJSON_AddStringToObject(o, "id", cJSON_IsString(id) ? id->valuestring : "");
    cJSON_AddStringToObject(o, "object", "text_completion");
    cJSON_AddNumberToObject(o, "created", cJSON_IsNumber(created) ? created->valuedouble : 0);
    cJSON_AddStringToObject(o, "model", cJSON_IsString(model) ? model->valuestring : "");
    return o;
}

/* One text_completion choice from a chat choice; `part` is "message" or "delta". */
static cJSON *choice(const cJSON *c, const char *part)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, part);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(m, "content");
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(c, "index");
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c, "finish_reason");
    cJSON_AddStringToObject(o, "text", cJSON_IsString(text) ? text->valuestring : "");
    cJSON_AddNumberToObject(o, "index", cJSON_IsNumber(idx) ? idx->valuedouble : 0);
    cJSON_AddNullToObject(o, "logprobs");
    if (cJSON_IsString(fr))
        cJSON_AddStringToObject(o, "finish_reason", fr->valuestring);
    else
        cJSON_AddNullToObject(o, "finish_reason");
    return o;
}

static int tc_response(req_t *r, const cJSON *resp, buf_t *out)
{
    (void)r;
    cJSON *o = head(resp);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(resp, "choices"))
        cJSON_AddItemToArray(choices, choice(c, "message"));
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(resp, "usage");
    if (usage != NULL)
        cJSON_AddItemToObject(o, "usage", cJSON_Duplicate(usage, true));
    return put(o, out);
}

static int tc_chunk(req_t *r, const cJSON *chunk, buf_t *out)
{
    (void)r;
    cJSON *o = head(chunk);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(chunk, "choices"))
    {
        /* The role-only opening chunk and tool or reasoning deltas have no text to give. */
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "delta");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(d, "content");
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c, "finish_reason");
        if ((cJSON_IsString(text) && text->valuestring[0]) || cJSON_IsString(fr))
            cJSON_AddItemToArray(choices, choice(c, "delta"));
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
    if (cJSON_GetArraySize(choices) == 0 && !cJSON_IsObject(usage)) {
        cJSON_Delete(o);
        return 0;
    }
    if (cJSON_IsObject(usage))
        cJSON_AddItemToObject(o, "usage", cJSON_Duplicate(usage, true));
    if (buf_append(out, "data: ", 6) != 0 || put(o, out) != 0)
        return -1;
    return buf_append(out, "\n\n", 2);
}

static int tc_stream_end(req_t *r, buf_t *out)
{
    return api_openai.stream_end(r, out);
}

static int tc_error_body(req_t *r, const gantry_error_t *e, buf_t *out)
{
    return api_openai.error_body(r, e, out);
}

static int tc_stream_error(req_t *r, const gantry_error_t *e, buf_t *out)
{
    return api_openai.stream_error(r, e, out);
}

const struct api_fmt api_completions = {
    .name = "openai-completions",
    .stream_content_type = "text/event-stream",
    .native = false,
    .response = tc_response,
    .chunk = tc_chunk,
    .stream_end = tc_stream_end,
    .error_body = tc_error_body,
    .stream_error = tc_stream_error,
};
