/*
 * oai_parse_ep: checking the bodies of OpenAI's other model endpoints, /v1/embeddings and
 * /v1/completions.  Pure, like oai_parse.c, so the fuzz target drives them directly.
 */
#include <string.h>

#include "oai_parse.h"

/* Parse text into a JSON object, or fill err. */
static cJSON *parse_object(const char *body, size_t len, oai_err_t *e)
{
    if (body == NULL || len == 0) {
        oai_bad(e, NULL, NULL, "The request body is empty; send a JSON request.%s", NULL);
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        oai_bad(e, NULL, NULL, "The request body must be a JSON object.%s", NULL);
        return NULL;
    }
    return root;
}

static int check_model(const cJSON *root, oai_chat_t *out, oai_err_t *e)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model == NULL)
        return oai_bad(e, "model", "missing_required_parameter",
                       "You must provide a model parameter.%s", NULL);
    if (!cJSON_IsString(model) || model->valuestring[0] == '\0')
        return oai_bad(e, "model", "invalid_type",
                       "Invalid type for 'model': expected a non-empty string.%s", NULL);
    out->model = model->valuestring;
    out->model_len = strlen(model->valuestring);
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
    if (user != NULL && !cJSON_IsString(user) && !cJSON_IsNull(user))
        return oai_bad(e, "user", "invalid_type", "Invalid type for 'user': expected a string.%s",
                       NULL);
    out->user = cJSON_IsString(user) ? user->valuestring : NULL;
    return 0;
}

/* An integer token id (the only thing besides strings that embedding inputs may hold). */
static bool is_token(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 4294967296.0 &&
           v->valuedouble == (double)(long long)v->valuedouble;
}

/* string | [string] | [int] | [[int]], never empty. */
static int check_input(const cJSON *in, oai_err_t *e)
{
    if (in == NULL)
        return oai_bad(e, "input", "missing_required_parameter",
                       "Missing required parameter: 'input'.%s", NULL);
    if (cJSON_IsString(in))
        return 0;
    const char *shape = "Invalid 'input': expected a string, an array of strings, an array of "
                        "token ids or an array of arrays of token ids.%s";
    if (!cJSON_IsArray(in))
        return oai_bad(e, "input", "invalid_type", shape, NULL);
    if (cJSON_GetArraySize(in) == 0)
        return oai_bad(e, "input", "empty_array",
                       "Invalid 'input': empty array. Expected an array with minimum length 1.%s",
                       NULL);
    if (cJSON_GetArraySize(in) > 2048)
        return oai_bad(e, "input", "array_above_max_length",
                       "Invalid 'input': at most 2048 inputs are allowed per request.%s", NULL);
    const cJSON *first = in->child;
    const cJSON *v;
    cJSON_ArrayForEach(v, in)
    {
        bool ok;
        if (cJSON_IsString(first)) {
            ok = cJSON_IsString(v);
        } else if (cJSON_IsArray(first)) {
            ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0;
            const cJSON *t;
            cJSON_ArrayForEach(t, v) ok = ok && is_token(t);
        } else {
            ok = is_token(v);
        }
        if (!ok)
            return oai_bad(e, "input", "invalid_type", shape, NULL);
    }
    return 0;
}

int oai_parse_embeddings(const char *body, size_t len, oai_chat_t *out, oai_err_t *e)
{
    memset(out, 0, sizeof *out);
    cJSON *root = parse_object(body, len, e);
    if (root == NULL)
        return -1;
    if (check_model(root, out, e) != 0 ||
        check_input(cJSON_GetObjectItemCaseSensitive(root, "input"), e) != 0 ||
        oai_check_int(root, "dimensions", e) != 0)
        goto fail;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "encoding_format");
    if (fmt != NULL && !cJSON_IsNull(fmt) &&
        (!cJSON_IsString(fmt) ||
         (strcmp(fmt->valuestring, "float") != 0 && strcmp(fmt->valuestring, "base64") != 0))) {
        oai_bad(e, "encoding_format", "invalid_value",
                "Invalid 'encoding_format': expected 'float' or 'base64'.%s", NULL);
        goto fail;
    }
    out->root = root;
    return 0;
fail:
    cJSON_Delete(root);
    memset(out, 0, sizeof *out);
    return -1;
}

int oai_parse_completion(const char *body, size_t len, oai_chat_t *out, oai_err_t *e)
{
    memset(out, 0, sizeof *out);
    cJSON *root = parse_object(body, len, e);
    if (root == NULL)
        return -1;
    if (check_model(root, out, e) != 0)
        goto fail;
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    const char *text = NULL;
    if (prompt == NULL) {
        oai_bad(e, "prompt", "missing_required_parameter",
                "Missing required parameter: 'prompt'.%s", NULL);
        goto fail;
    }
    if (cJSON_IsString(prompt)) {
        text = prompt->valuestring;
    } else if (cJSON_IsArray(prompt) && cJSON_GetArraySize(prompt) == 1 &&
               cJSON_IsString(prompt->child)) {
        text = prompt->child->valuestring;
    } else {
        /* Batches and token-id prompts have no faithful chat form, and every provider but a native
         * text-completion API would silently answer something else. */
        oai_bad(e, "prompt", "invalid_value",
                "Invalid 'prompt': expected a string (or an array holding one string); batched "
                "and token-id prompts are not supported.%s",
                NULL);
        goto fail;
    }
    static const char *const numbers[] = {"temperature", "top_p", "presence_penalty",
                                          "frequency_penalty", NULL};
    static const char *const ints[] = {"max_tokens", "n", "best_of", "logprobs", NULL};
    for (const char *const *k = numbers; *k; k++) {
        if (oai_check_number(root, *k, e) != 0)
            goto fail;
    }
    for (const char *const *k = ints; *k; k++) {
        if (oai_check_int(root, *k, e) != 0)
            goto fail;
    }
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (stream != NULL && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
        oai_bad(e, "stream", "invalid_type", "Invalid type for 'stream': expected a boolean.%s",
                NULL);
        goto fail;
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    const cJSON *iu = cJSON_GetObjectItemCaseSensitive(so, "include_usage");
    if ((so != NULL && !cJSON_IsObject(so) && !cJSON_IsNull(so)) ||
        (iu != NULL && !cJSON_IsBool(iu))) {
        oai_bad(e, "stream_options", "invalid_type",
                "Invalid type for 'stream_options': expected an object with a boolean "
                "'include_usage'.%s",
                NULL);
        goto fail;
    }
    /* The canonical chat form: the prompt as one user message. */
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    cJSON *m = cJSON_CreateObject();
    if (msgs == NULL || m == NULL || !cJSON_AddItemToArray(msgs, m) ||
        cJSON_AddStringToObject(m, "role", "user") == NULL ||
        cJSON_AddStringToObject(m, "content", text) == NULL) {
        oai_bad(e, NULL, NULL, "Out of memory.%s", NULL);
        e->status = 500;
        goto fail;
    }
    out->root = root;
    out->model = cJSON_GetObjectItemCaseSensitive(root, "model")->valuestring;
    out->stream = cJSON_IsTrue(stream);
    out->include_usage = cJSON_IsTrue(iu);
    return 0;
fail:
    cJSON_Delete(root);
    memset(out, 0, sizeof *out);
    return -1;
}
