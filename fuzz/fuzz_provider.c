/*
 * Fuzz target: one provider plugin's parsers, built once per provider (FUZZ_PLUGIN is the .so,
 * FUZZ_PARAMS_FILE a JSON file with its deployment's litellm_params, fuzz/providers/<name>.json).  The first input byte picks what the rest
 * is fed to:
 *   0  a non-streamed 2xx body           -> parse_response()
 *   1  a text/event-stream body          -> the SSE framer, then parse_frame()
 *   2  an AWS event-stream body          -> the event-stream decoder, then parse_frame()
 *   3  an error body (status from byte 1) -> map_error()
 *   4  a canonical request body          -> prepare() (the request translation)
 *   5  an NDJSON body                    -> parse_frame() per line
 * Streams are cut in two where byte 1 says.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phost.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ph_dep_t dep;
static bool ready;
static cJSON *request, *stream_request;

static void setup(void)
{
    const gantry_plugin_desc_t *desc = ph_load(FUZZ_PLUGIN);
    char text[4096] = {0};
    FILE *f = fopen(FUZZ_PARAMS_FILE, "rb");
    if (f != NULL) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    cJSON *params = cJSON_Parse(text);
    if (desc == NULL || params == NULL || ph_dep_open(&dep, desc, params, NULL, NULL, "fuzz") != 0)
        abort();
    /* The deployment keeps views into its params document, which ph_dep owns; params is ours. */
    cJSON_Delete(params);
    request = cJSON_Parse("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
                          "{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\","
                          "\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}}]}");
    stream_request = cJSON_Duplicate(request, true);
    cJSON_AddTrueToObject(stream_request, "stream");
    ph_cap.now_ms = 1440938160000; /* fixed, so runs repeat */
    ready = true;
}

static void parse_body(const char *p, size_t n)
{
    req_t *r = ph_req_new(&dep, request, GANTRY_EP_CHAT);
    struct gantry_upstream spec;
    if (ph_prepare(&dep, r, &spec) == GANTRY_CONTINUE) {
        gantry_action_t a = dep.desc->ops->parse_response(r, dep.state, dep.pdep, 200,
                                                          (gantry_str_t){p, n});
        if (a != GANTRY_FAIL && r->resp != NULL) {
            char *s = cJSON_PrintUnformatted(r->resp); /* the result must be walkable */
            cJSON_free(s);
        }
    }
    up_spec_free(&spec);
    ph_req_free(r);
}

static void map_error(int status, const char *p, size_t n)
{
    if (dep.desc->ops->map_error == NULL)
        return;
    req_t *r = ph_req_new(&dep, request, GANTRY_EP_CHAT);
    gantry_error_t e = {.size = sizeof e, .status = status, .retry_after_ms = -1};
    e.type = GANTRY_STR_LIT("api_error");
    dep.desc->ops->map_error(r, dep.state, dep.pdep, status, (gantry_str_t){p, n}, &e);
    size_t touch = 0;
    for (size_t i = 0; i < e.message.len; i++)
        touch += (unsigned char)e.message.ptr[i];
    (void)touch;
    ph_req_free(r);
}

static void translate(const char *p, size_t n)
{
    cJSON *body = cJSON_ParseWithLength(p, n);
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return;
    }
    for (int stream = 0; stream < 2; stream++) {
        cJSON_DeleteItemFromObjectCaseSensitive(body, "stream");
        cJSON_AddBoolToObject(body, "stream", stream == 1);
        req_t *r = ph_req_new(&dep, body, GANTRY_EP_CHAT);
        r->stream = stream == 1;
        struct gantry_upstream spec;
        ph_prepare(&dep, r, &spec);
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
    switch (data[0] % 6) {
    case 0:
        parse_body(p, n);
        break;
    case 1:
    case 2:
    case 5: {
        gantry_framing_t f = data[0] % 6 == 1   ? GANTRY_FRAMING_SSE
                             : data[0] % 6 == 2 ? GANTRY_FRAMING_EVENTSTREAM
                                                : GANTRY_FRAMING_NDJSON;
        ph_run_stream(&dep, stream_request, GANTRY_EP_CHAT, f, &b, &cut, 1, &out);
        cJSON_Delete(out.chunks);
        break;
    }
    case 3:
        map_error(400 + data[1] % 200, p, n);
        break;
    case 4:
        translate(p, n);
        break;
    }
    return 0;
}
