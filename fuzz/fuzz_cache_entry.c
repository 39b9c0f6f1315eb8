/* Fuzz target: a cache entry as a backend hands it back (Redis is shared and may hold anything):
 * the envelope split, then the response inside parsed the way a hit parses it. */
#include <cJSON.h>
#include <stdint.h>
#include <string.h>

#include "cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t created;
    const char *raw;
    size_t raw_len;
    if (!cache_entry_parse((const char *)data, size, &created, &raw, &raw_len))
        return 0;
    /* The response must lie inside the input: touch its first and last byte. */
    if (raw < (const char *)data || raw + raw_len > (const char *)data + size || created < 0)
        __builtin_trap();
    cJSON *resp = cJSON_ParseWithLength(raw, raw_len);
    cJSON_Delete(resp);
    return 0;
}
