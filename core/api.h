/*
 * api: how one client API (OpenAI now; Anthropic Messages and Bedrock Converse later) renders the
 * canonical response, stream chunks and errors.  Requests of every client API are translated into
 * the canonical OpenAI-chat shape on arrival; these functions translate back.
 */
#ifndef GANTRY_API_H
#define GANTRY_API_H

#include <cJSON.h>
#include <gantry/plugin.h>

#include "util.h"

typedef struct gantry_req req_t;

struct api_fmt {
    const char *name;
    const char *stream_content_type;
    /* The client format is the canonical one: unmodified upstream JSON can be sent as it came. */
    bool native;
    /* The body of a non-streamed answer. */
    int (*response)(req_t *r, const cJSON *resp, buf_t *out);
    /* The bytes of one stream chunk (may append nothing). */
    int (*chunk)(req_t *r, const cJSON *chunk, buf_t *out);
    /* The bytes that end a stream. */
    int (*stream_end)(req_t *r, buf_t *out);
    /* An error as a JSON body, or as the last event of a stream. */
    int (*error_body)(req_t *r, const gantry_error_t *e, buf_t *out);
    int (*stream_error)(req_t *r, const gantry_error_t *e, buf_t *out);
    /* Optional: before a non-streamed error is sent, add its headers (req_add_header) and choose
     * its HTTP status (*status starts as e->status).  Bedrock clients read x-amzn-errortype. */
    void (*error_headers)(req_t *r, const gantry_error_t *e, int *status);
};

extern const struct api_fmt api_openai;
extern const struct api_fmt api_completions; /* /v1/completions: text_completion objects */
extern const struct api_fmt api_anthropic;   /* /v1/messages: Anthropic Messages */
/* /bedrock/model/{id}/converse[-stream], and /invoke[-with-response-stream]: Bedrock Runtime */
extern const struct api_fmt api_bedrock_converse;
extern const struct api_fmt api_bedrock_invoke;

#endif
