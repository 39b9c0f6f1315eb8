#include "oai_parse.h"

#include <stdio.h>
#include <string.h>

int oai_bad(oai_err_t *e, const char *param, const char *code, const char *fmt, const char *arg)
{
    e->status = 400;
    e->type = "invalid_request_error";
    e->code = code;
    e->param = param;
    snprintf(e->message, sizeof e->message, fmt, arg ? arg : "");
    return -1;
}

static const char *const roles[] = {"system",   "user",      "assistant", "tool",
                                    "function", "developer", NULL};

static bool known_role(const char *r)
{
    for (const char *const *p = roles; *p; p++) {
        if (strcmp(*p, r) == 0)
            return true;
    }
    return false;
}

int oai_check_number(const cJSON *root, const char *key, oai_err_t *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (v != NULL && !cJSON_IsNumber(v) && !cJSON_IsNull(v))
        return oai_bad(e, key, "invalid_type", "Invalid type for '%s': expected a number.", key);
    return 0;
}

int oai_check_int(const cJSON *root, const char *key, oai_err_t *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    /* Range first: casting a double outside long long's range is undefined behaviour. */
    if (!cJSON_IsNumber(v) || v->valuedouble > 9e15 || v->valuedouble < -9e15 ||
        v->valuedouble != (double)(long long)v->valuedouble)
        return oai_bad(e, key, "invalid_type", "Invalid type for '%s': expected an integer.", key);
    if (v->valuedouble < 0)
        return oai_bad(e, key, "invalid_value", "Invalid value for '%s': must not be negative.", key);
    return 0;
}

int oai_parse_chat(const char *body, size_t len, oai_chat_t *out, oai_err_t *e)
{
    memset(out, 0, sizeof *out);
    if (body == NULL || len == 0)
        return oai_bad(e, NULL, NULL,
                   "The request body is empty; send a JSON chat completion request.%s", NULL);
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (root == NULL)
        return oai_bad(e, NULL, NULL,
                   "We could not parse the JSON body of your request. (HINT: This likely means you "
                   "aren't using your HTTP library correctly.)%s",
                   NULL);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return oai_bad(e, NULL, NULL, "The request body must be a JSON object.%s", NULL);
    }
    int rc = -1;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model == NULL) {
        oai_bad(e, "model", "missing_required_parameter", "You must provide a model parameter.%s",
            NULL);
        goto fail;
    }
    if (!cJSON_IsString(model) || model->valuestring[0] == '\0') {
        oai_bad(e, "model", "invalid_type", "Invalid type for 'model': expected a non-empty string.%s",
            NULL);
        goto fail;
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (msgs == NULL) {
        oai_bad(e, "messages", "missing_required_parameter",
            "Missing required parameter: 'messages'.%s", NULL);
        goto fail;
    }
    if (!cJSON_IsArray(msgs)) {
        oai_bad(e, "messages", "invalid_type", "Invalid type for 'messages': expected an array.%s",
            NULL);
        goto fail;
    }
    if (cJSON_GetArraySize(msgs) == 0) {
        oai_bad(e, "messages", "empty_array",
            "Invalid 'messages': empty array. Expected an array with minimum length 1.%s", NULL);
        goto fail;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
            oai_bad(e, "messages", "invalid_type",
                "Invalid 'messages': every message must be an object with a string 'role'.%s",
                NULL);
            goto fail;
        }
        if (!known_role(role->valuestring)) {
            oai_bad(e, "messages", "invalid_value",
                "Invalid 'messages': unknown role '%.40s' (expected system, developer, user, "
                "assistant or tool).",
                role->valuestring);
            goto fail;
        }
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (content != NULL && !cJSON_IsString(content) && !cJSON_IsArray(content) &&
            !cJSON_IsNull(content)) {
            oai_bad(e, "messages", "invalid_type",
                "Invalid 'messages': 'content' must be a string, an array of parts, or null.%s",
                NULL);
            goto fail;
        }
    }
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (stream != NULL && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
        oai_bad(e, "stream", "invalid_type", "Invalid type for 'stream': expected a boolean.%s", NULL);
        goto fail;
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so != NULL && !cJSON_IsObject(so) && !cJSON_IsNull(so)) {
        oai_bad(e, "stream_options", "invalid_type",
            "Invalid type for 'stream_options': expected an object.%s", NULL);
        goto fail;
    }
    const cJSON *iu = cJSON_GetObjectItemCaseSensitive(so, "include_usage");
    if (iu != NULL && !cJSON_IsBool(iu)) {
        oai_bad(e, "stream_options.include_usage", "invalid_type",
            "Invalid type for 'stream_options.include_usage': expected a boolean.%s", NULL);
        goto fail;
    }
    static const char *const numbers[] = {"temperature", "top_p", "presence_penalty",
                                          "frequency_penalty", NULL};
    static const char *const ints[] = {"max_tokens", "max_completion_tokens", "n", "top_logprobs",
                                       NULL};
    for (const char *const *k = numbers; *k; k++) {
        if (oai_check_number(root, *k, e) != 0)
            goto fail;
    }
    for (const char *const *k = ints; *k; k++) {
        if (oai_check_int(root, *k, e) != 0)
            goto fail;
    }
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    if (seed != NULL && !cJSON_IsNumber(seed) && !cJSON_IsNull(seed)) {
        oai_bad(e, "seed", "invalid_type", "Invalid type for 'seed': expected an integer.%s", NULL);
        goto fail;
    }
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
    if (user != NULL && !cJSON_IsString(user) && !cJSON_IsNull(user)) {
        oai_bad(e, "user", "invalid_type", "Invalid type for 'user': expected a string.%s", NULL);
        goto fail;
    }
    out->root = root;
    out->model = model->valuestring;
    out->model_len = strlen(model->valuestring);
    out->stream = cJSON_IsTrue(stream);
    out->include_usage = cJSON_IsTrue(iu);
    out->user = cJSON_IsString(user) ? user->valuestring : NULL;
    return 0;
fail:
    cJSON_Delete(root);
    return rc;
}
