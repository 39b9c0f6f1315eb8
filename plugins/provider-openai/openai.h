/*
 * The openai provider: declarations shared by its source files.  Nothing here leaves the plugin;
 * the only exported symbol is gantry_plugin_describe() in openai.c.
 */
#ifndef GANTRY_PROVIDER_OPENAI_H
#define GANTRY_PROVIDER_OPENAI_H

#include <string.h>

#include <gantry/gantry.h>

/* Instance state: read-only after create(), shared by every worker thread. */
typedef struct openai_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
} openai_instance_t;

/*
 * One header: a configured extra header (both strings NUL-terminated instance memory), or an entry
 * of a deployment's precomputed header list (which borrows those strings, or static literals).
 */
typedef struct openai_header {
    gantry_str_t name;
    gantry_str_t value;
} openai_header_t;

/*
 * A deployment (one model_list entry), built on the main thread by deployment_create() and
 * read-only afterwards.  Every string is NUL-terminated instance memory from host->mem_*; an absent
 * optional value is GANTRY_STR_NULL.
 */
typedef struct openai_deployment {
    gantry_str_t url;           /* api_base + "/chat/completions" */
    gantry_str_t model;         /* upstream model id, e.g. "gpt-4o-mini" */
    gantry_str_t authorization; /* "Bearer <api_key>", or NULL when there is no key */
    gantry_str_t api_key;       /* kept only to scrub it out of upstream error messages */
    gantry_str_t organization;  /* OpenAI-Organization value, or NULL */
    openai_header_t *extra;     /* extra_headers, in configuration order */
    size_t n_extra;
    /* Set when extra_headers already carries one of the headers the plugin would add itself. */
    bool extra_has_authorization;
    bool extra_has_content_type;
    bool extra_has_organization;
    /*
     * Derived once from the fields above so that prepare() only copies: every header a request
     * carries, in the order it is sent (the array is instance memory, the strings are borrowed),
     * and the body member `"model":"<model>"` already escaped.
     */
    openai_header_t *headers;
    size_t n_headers;
    gantry_str_t model_member;
} openai_deployment_t;

/*
 * A growing output buffer for JSON text.  It starts in memory the caller provides (a stack array)
 * and moves to instance memory (host->mem_*) when that is outgrown; openai_wb_release() frees it.
 * A failed allocation sets `failed` and turns every later write into a no-op.
 */
typedef struct openai_wbuf {
    const gantry_host_t *host;
    char *ptr;
    size_t len;
    size_t cap;
    bool heap; /* ptr is instance memory */
    bool failed;
} openai_wbuf_t;

/* openai_conf.c */
extern const gantry_conf_field_t openai_deployment_fields[];
int openai_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                             gantry_str_t model_id, void **deployment);
void openai_deployment_destroy(void *state, void *deployment);

/* openai_json.c */
/* Make room for n more bytes; false (and `failed` set) when that is not possible. */
bool openai_wb_reserve(openai_wbuf_t *b, size_t n);
void openai_wb_release(openai_wbuf_t *b);
void openai_wb_put_slow(openai_wbuf_t *b, const char *s, size_t n);
/* Append n bytes.  Inline: the writer appends many short pieces (",", ":", quotes). */
static inline void openai_wb_put(openai_wbuf_t *b, const char *s, size_t n)
{
    if (n <= b->cap - b->len && !b->failed) {
        memcpy(b->ptr + b->len, s, n);
        b->len += n;
        return;
    }
    openai_wb_put_slow(b, s, n);
}
/* Append a JSON string (quoted and escaped). */
void openai_wb_string(openai_wbuf_t *b, gantry_str_t s);
/*
 * Append a node's value as compact JSON, byte for byte what host->json_write() gives.  Returns
 * GANTRY_OK or a negative status (GANTRY_ENOMEM when the buffer could not grow).
 */
int openai_wb_value(gantry_req_t *req, openai_wbuf_t *b, const gantry_json_t *node);

/* openai_request.c */
gantry_action_t openai_prepare(gantry_req_t *req, void *state, void *deployment,
                               gantry_upstream_t *up);

/* openai_response.c */
gantry_action_t openai_parse_response(gantry_req_t *req, void *state, void *deployment, int status,
                                      gantry_str_t body);
gantry_action_t openai_parse_frame(gantry_req_t *req, void *state, void *deployment,
                                   const gantry_frame_t *frame);

/* openai_error.c */
void openai_map_error(gantry_req_t *req, void *state, void *deployment, int status,
                      gantry_str_t body, gantry_error_t *err);
/*
 * Describe an upstream error found inside a 2xx body or a stream frame: `root` is the parsed JSON
 * (or NULL when `raw` is not JSON).  The status comes from a numeric "code" in 400..599 when there
 * is one, else 502.  Records it with host->req_fail() and returns GANTRY_FAIL.
 */
gantry_action_t openai_fail_with_error(const openai_instance_t *inst,
                                       const openai_deployment_t *dep, gantry_req_t *req,
                                       const gantry_json_t *root, gantry_str_t raw);

#endif
