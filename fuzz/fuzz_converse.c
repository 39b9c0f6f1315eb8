/*
 * Fuzz target: the Bedrock client API translations.  The bytes are read as every body a client can
 * send to /bedrock/model/{id}/... (a Converse request, an InvokeModel body of any family), and -
 * parsed as JSON - as a canonical response and stream chunks, as a provider could produce them,
 * translated back to a Converse response, each InvokeModel family's response, and the
 * ConverseStream and InvokeModelWithResponseStream event streams, which must decode again.
 */
#include <stdint.h>
#include <string.h>

#include "brk.h"
#include "evs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(cJSON *j)
{
    /* Every result must print: a broken tree would crash here under the sanitizers. */
    char *s = cJSON_PrintUnformatted(j);
    cJSON_free(s);
    cJSON_Delete(j);
}

static int emit(void *ctx, const char *type, const cJSON *payload)
{
    return brk_evs_event(ctx, type, payload);
}

static int count(void *arg, const evs_msg_t *m)
{
    (void)m;
    ++*(size_t *)arg;
    return 0;
}

/* Our own output must always be well-formed event-stream messages. */
static void check_decodes(const buf_t *b)
{
    evs_dec_t d;
    size_t n = 0;
    evs_dec_init(&d, 1 << 24);
    if (evs_dec_feed(&d, b->ptr, b->len, count, &n) != 0 || evs_dec_finish(&d) != 0)
        __builtin_trap();
    evs_dec_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    cJSON *canon = NULL;
    brk_err_t e;
    for (int stream = 0; stream < 2; stream++) {
        if (brk_converse_parse(text, size, "fuzz", stream, &canon, &e) == 0)
            walk(canon);
        brk_family_t fam;
        if (brk_invoke_parse(text, size, "fuzz", stream, &fam, &canon, &e) == 0)
            walk(canon);
    }
    const char *key;
    size_t key_len;
    (void)brk_sigv4_key(text, size, &key, &key_len);
    char model[64];
    (void)brk_decode_model(text, size, model, sizeof model);

    cJSON *root = cJSON_ParseWithLength(text, size);
    if (root == NULL)
        return 0;
    walk(brk_converse_response(root, 5, 0));
    for (int f = BRK_FAM_ANTHROPIC; f <= BRK_FAM_OPENAI; f++)
        walk(brk_invoke_response((brk_family_t)f, root, "msg_fuzz", "fuzz"));

    /* As a stream: the document itself, then each element of an array, as chunks. */
    buf_t b = {0};
    brk_stream_t st;
    brk_stream_init(&st, 0);
    brk_stream_chunk(&st, root, emit, &b);
    const cJSON *c;
    cJSON_ArrayForEach(c, (cJSON_IsArray(root) ? root : NULL))
    {
        brk_stream_chunk(&st, c, emit, &b);
    }
    brk_stream_finish(&st, 9, emit, &b);
    check_decodes(&b);
    buf_free(&b);
    brk_metrics_t m = {10, 2};
    for (int f = BRK_FAM_ANTHROPIC; f <= BRK_FAM_OPENAI; f++) {
        brk_istream_t is;
        brk_istream_init(&is, (brk_family_t)f, "msg_fuzz", "fuzz");
        brk_istream_chunk(&is, root, &m, &b);
        cJSON_ArrayForEach(c, (cJSON_IsArray(root) ? root : NULL))
        {
            brk_istream_chunk(&is, c, &m, &b);
        }
        brk_istream_finish(&is, &m, &b);
        check_decodes(&b);
        buf_free(&b);
    }
    cJSON_Delete(root);
    return 0;
}
