/*
 * The openai provider: declarations shared by its source files.  Nothing here leaves the plugin;
 * the only exported symbol is gantry_plugin_describe() in openai.c.
 */
#ifndef GANTRY_PROVIDER_OPENAI_H
#define GANTRY_PROVIDER_OPENAI_H

#include <gantry/gantry.h>

/* Instance state: read-only after create(), shared by every worker thread. */
typedef struct openai_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
} openai_instance_t;

/* One configured extra header; both strings are NUL-terminated instance memory. */
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
} openai_deployment_t;

/* openai_conf.c */
extern const gantry_conf_field_t openai_deployment_fields[];
int openai_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                             gantry_str_t model_id, void **deployment);
void openai_deployment_destroy(void *state, void *deployment);

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
