/*
 * Fuzz target: one provider plugin's parsers, built once per provider.  FUZZ_PLUGIN is the .so;
 * FUZZ_PARAMS_DIR holds one JSON file per deployment to fuzz (litellm_params: fuzz/providers/<name>/),
 * so each request shape of the provider (chat, Azure, native completions, each Bedrock invoke
 * family, ...) is reached.  The first input byte picks the deployment (byte / 6) and what the rest
 * is fed to (byte % 6):
 *   0  a non-streamed 2xx body           -> parse_response()
 *   1  a text/event-stream body          -> the SSE framer, then parse_frame()
 *   2  an AWS event-stream body          -> the event-stream decoder, then parse_frame()
 *   3  an error body (status from byte 1) -> map_error()
 *   4  a canonical request body          -> prepare() (the request translation)
 *   5  an NDJSON body                    -> parse_frame() per line
 * Streams are cut in two where byte 1 says.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phost.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DEPS 16

static ph_dep_t deps[MAX_DEPS];
static size_t ndeps;
static bool ready;
static cJSON *request, *stream_request;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One deployment per *.json in FUZZ_PARAMS_DIR, in name order so a run repeats. */
static void setup(void)
{
    const gantry_plugin_desc_t *desc = ph_load(FUZZ_PLUGIN);
    DIR *dir = opendir(FUZZ_PARAMS_DIR);
    if (desc == NULL || dir == NULL)
        abort();
    char *names[MAX_DEPS];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && n < MAX_DEPS) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        char path[1024], text[4096];
        snprintf(path, sizeof path, "%s/%s", FUZZ_PARAMS_DIR, names[i]);
        FILE *f = fopen(path, "rb");
        size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
        text[len] = '\0';
        if (f != NULL)
            fclose(f);
        cJSON *params = cJSON_Parse(text);
        if (params == NULL || ph_dep_open(&deps[ndeps], desc, params, NULL, NULL, path) != 0)
            abort(); /* a broken fixture must not pass as fuzzing */
        ndeps++;
        cJSON_Delete(params);
        free(names[i]);
    }
    if (ndeps == 0)
        abort();
    request = cJSON_Parse("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
                          "{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\","
                          "\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}}]}");
    stream_request = cJSON_Duplicate(request, true);
    cJSON_AddTrueToObject(stream_request, "stream");
    ph_cap.now_ms = 1440938160000; /* fixed, so runs repeat */
    ready = true;
}

static void parse_body(ph_dep_t *dep, const char *p, size_t n)
{
    req_t *r = ph_req_new(dep, request, GANTRY_EP_CHAT);
    struct gantry_upstream spec;
    if (ph_prepare(dep, r, &spec) == GANTRY_CONTINUE) {
        gantry_action_t a = dep->desc->ops->parse_response(r, dep->state, dep->pdep, 200,
                                                          (gantry_str_t){p, n});
        if (a != GANTRY_FAIL && r->resp != NULL) {
            char *s = cJSON_PrintUnformatted(r->resp); /* the result must be walkable */
            cJSON_free(s);
        }
    }
    up_spec_free(&spec);
    ph_req_free(r);
}

static void map_error(ph_dep_t *dep, int status, const char *p, size_t n)
{
    if (dep->desc->ops->map_error == NULL)
        return;
    req_t *r = ph_req_new(dep, request, GANTRY_EP_CHAT);
    gantry_error_t e = {.size = sizeof e, .status = status, .retry_after_ms = -1};
    e.type = GANTRY_STR_LIT("api_error");
    dep->desc->ops->map_error(r, dep->state, dep->pdep, status, (gantry_str_t){p, n}, &e);
    size_t touch = 0;
    for (size_t i = 0; i < e.message.len; i++)
        touch += (unsigned char)e.message.ptr[i];
    (void)touch;
    ph_req_free(r);
}

static void translate(ph_dep_t *dep, const char *p, size_t n)
{
    cJSON *body = cJSON_ParseWithLength(p, n);
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return;
    }
    for (int stream = 0; stream < 2; stream++) {
        cJSON_DeleteItemFromObjectCaseSensitive(body, "stream");
        cJSON_AddBoolToObject(body, "stream", stream == 1);
        req_t *r = ph_req_new(dep, body, GANTRY_EP_CHAT);
        r->stream = stream == 1;
        struct gantry_upstream spec;
        ph_prepare(dep, r, &spec);
        up_spec_free(&spec);
        ph_req_free(r);
    }
    cJSON_Delete(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    if (size < 2)
        return 0;
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    size_t cut = data[1] % (n + 1);
    buf_t b = {.ptr = (char *)p, .len = n};
    ph_stream_t out;
    ph_dep_t *dep = &deps[(data[0] / 6) % ndeps];
    switch (data[0] % 6) {
    case 0:
        parse_body(dep, p, n);
        break;
    case 1:
    case 2:
    case 5: {
        gantry_framing_t f = data[0] % 6 == 1   ? GANTRY_FRAMING_SSE
                             : data[0] % 6 == 2 ? GANTRY_FRAMING_EVENTSTREAM
                                                : GANTRY_FRAMING_NDJSON;
        ph_run_stream(dep, stream_request, GANTRY_EP_CHAT, f, &b, &cut, 1, &out);
        cJSON_Delete(out.chunks);
        break;
    }
    case 3:
        map_error(dep, 400 + data[1] % 200, p, n);
        break;
    case 4:
        translate(dep, p, n);
        break;
    }
    return 0;
}
