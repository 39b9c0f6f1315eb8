/* Fuzz target: what governance reads from the network besides JSON itself - query strings of the
 * management routes, LiteLLM durations, and entity documents turned into records (the first byte
 * picks the entity kind; the rest is the document). */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gov.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[64];
    static const char *const names[] = {"key", "user_id", "page", "start_date", "x"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = url_query_param((const char *)data, size, names[i], buf, sizeof buf);
        if (v != NULL && strlen(v) >= sizeof buf)
            __builtin_trap();
    }
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)gov_duration_s(s);
    if (size > 0) {
        cJSON *doc = cJSON_ParseWithLength((const char *)data + 1, size - 1);
        if (cJSON_IsObject(doc)) {
            gov_rec_t *r = gov_rec_new((gov_kind_t)(data[0] % GOV_NKINDS), "id", doc);
            if (r != NULL && r->alias != NULL)
                (void)strlen(r->alias);
            gov_unref(r);
        } else {
            cJSON_Delete(doc);
        }
    }
    free(s);
    return 0;
}
