/*
 * Fuzz target: the Anthropic Messages request translation (every byte a client can send to
 * /v1/messages, and the InvokeModel bodies the Bedrock route hands it), the count_tokens estimate,
 * and - with the same bytes read as a canonical response or stream chunks, as a provider could
 * produce them - the translation back to Anthropic messages and stream events.
 */
#include <stdint.h>
#include <string.h>

#include "anth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int drain(void *ctx, const cJSON *ev)
{
    /* Every event must print: a broken tree would crash here under the sanitizers. */
    char *s = cJSON_PrintUnformatted(ev);
    if (s != NULL)
        *(size_t *)ctx += strlen(s);
    cJSON_free(s);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *canon = NULL;
    anth_err_t e;
    if (anth_parse((const char *)data, size, &canon, &e) == 0) {
        /* A request that passes must be fully walkable. */
        char *s = cJSON_PrintUnformatted(canon);
        cJSON_free(s);
        cJSON_Delete(canon);
    }
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (root == NULL)
        return 0;
    (void)anth_count_tokens(root);
    cJSON *m = anth_from_canonical_response(root, "msg_fuzz", "fuzz");
    char *s = cJSON_PrintUnformatted(m);
    cJSON_free(s);
    cJSON_Delete(m);
    /* As a stream: the document itself, then each element of an array, as chunks. */
    anth_stream_t st;
    size_t total = 0;
    anth_stream_init(&st, "msg_fuzz", "fuzz");
    anth_stream_chunk(&st, root, drain, &total);
    if (cJSON_IsArray(root)) {
        const cJSON *c;
        cJSON_ArrayForEach(c, root)
        {
            anth_stream_chunk(&st, c, drain, &total);
        }
    }
    anth_stream_finish(&st, drain, &total);
    cJSON_Delete(root);
    return 0;
}
