/* Fuzz target: the OpenAI chat request parser and checks (every byte a client can send us). */
#include <stdint.h>

#include "oai_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    oai_chat_t c;
    oai_err_t e;
    if (oai_parse_chat((const char *)data, size, &c, &e) == 0) {
        /* A request that passes must be fully walkable. */
        char *s = cJSON_PrintUnformatted(c.root);
        cJSON_free(s);
        cJSON_Delete(c.root);
    }
    return 0;
}
