/* Fuzz target: the SSE framer, fed the input in two pieces split at a position the input chooses. */
#include <stdint.h>
#include <string.h>

#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *arg, const char *ev, size_t evlen, const char *d, size_t dlen)
{
    size_t *total = arg;
    *total += evlen + dlen;
    /* Touch every byte so a bad length is caught by the sanitizers. */
    for (size_t i = 0; i < evlen; i++)
        *total += (unsigned char)ev[i] & 1;
    for (size_t i = 0; i < dlen; i++)
        *total += (unsigned char)d[i] & 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sse_t s;
    size_t total = 0;
    sse_init(&s, 4096);
    size_t cut = size > 0 ? data[0] % (size + 1) : 0;
    if (sse_feed(&s, (const char *)data, cut, sink, &total) == 0 &&
        sse_feed(&s, (const char *)data + cut, size - cut, sink, &total) == 0)
        sse_finish(&s, sink, &total);
    sse_free(&s);
    return 0;
}
