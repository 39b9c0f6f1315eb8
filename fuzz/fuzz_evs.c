/* Fuzz target: the event-stream decoder, fed the input in two pieces split where the input says;
 * every decoded message is re-encoded (string headers) and decoded again. */
#include <stdint.h>
#include <string.h>

#include "evs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int touch(void *arg, const evs_msg_t *m)
{
    size_t *total = arg;
    for (size_t i = 0; i < m->nheaders; i++) {
        for (size_t k = 0; k < m->headers[i].name_len; k++)
            *total += (unsigned char)m->headers[i].name[k] & 1;
        for (size_t k = 0; k < m->headers[i].value_len; k++)
            *total += (unsigned char)m->headers[i].value[k] & 1;
    }
    for (size_t k = 0; k < m->payload_len; k++)
        *total += (unsigned char)m->payload[k] & 1;
    return 0;
}

static int reencode(void *arg, const evs_msg_t *m)
{
    evs_kv_t kv[EVS_MAX_HEADERS];
    size_t n = 0;
    char names[EVS_MAX_HEADERS][256];
    for (size_t i = 0; i < m->nheaders; i++) {
        if (m->headers[i].type != 7)
            continue;
        memcpy(names[n], m->headers[i].name, m->headers[i].name_len);
        names[n][m->headers[i].name_len] = '\0';
        kv[n] = (evs_kv_t){names[n], m->headers[i].value, m->headers[i].value_len};
        n++;
    }
    buf_t b = {0};
    if (evs_encode(&b, kv, n, m->payload, m->payload_len) == 0) {
        evs_dec_t d;
        evs_dec_init(&d, 1 << 20);
        size_t t = 0;
        if (evs_dec_feed(&d, b.ptr, b.len, touch, &t) != 0 || evs_dec_finish(&d) != 0)
            __builtin_trap(); /* what we encode must decode */
        evs_dec_free(&d);
    }
    buf_free(&b);
    return touch(arg, m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    evs_dec_t d;
    size_t total = 0;
    evs_dec_init(&d, 1 << 16);
    size_t cut = size > 0 ? data[0] % (size + 1) : 0;
    if (evs_dec_feed(&d, (const char *)data, cut, reencode, &total) == 0 &&
        evs_dec_feed(&d, (const char *)data + cut, size - cut, reencode, &total) == 0)
        evs_dec_finish(&d);
    evs_dec_free(&d);
    return 0;
}
