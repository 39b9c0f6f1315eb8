/*
 * phost: one provider deployment driven outside the gateway, through the real host table (see
 * phost.c).  Shared by gantry-provtest and the provider fuzz targets.
 */
#ifndef GANTRY_PHOST_H
#define GANTRY_PHOST_H

#include <cJSON.h>

#include "cfg_node.h"
#include "evs.h"
#include "gen.h"
#include "req.h"
#include "upstream.h"

/* What the host overrides capture or return; set before each run. */
typedef struct ph_capture {
    cJSON *chunks;        /* array of the chunks emitted */
    int stream_ends;
    const cJSON *headers; /* client request headers (lowercase names -> strings) */
    int64_t now_ms;       /* host->unix_ms(); 0: the real clock */
} ph_capture_t;

extern ph_capture_t ph_cap;
extern gantry_host_t ph_host;

/* dlopen a provider plugin and install the host overrides; NULL (reported) when it is not one. */
const gantry_plugin_desc_t *ph_load(const char *path);

/* One instance with one deployment. */
typedef struct ph_dep {
    const gantry_plugin_desc_t *desc;
    inst_t inst;
    gen_t gen;
    cfg_doc_t *conf_doc, *params_doc;
    cfg_deployment_t dcfg;
    deployment_t dep;
    char prefix[64];
    void *state, *wstate, *pdep;
    bool created, has_dep;
} ph_dep_t;

/* params: litellm_params (with "model": "<prefix>/<id>"); prefix NULL: from the model. */
int ph_dep_open(ph_dep_t *d, const gantry_plugin_desc_t *desc, const cJSON *params,
                const cJSON *plugin_config, const char *prefix, const char *name);
void ph_dep_close(ph_dep_t *d);

/* A request carrying a copy of `request` (the canonical body). */
req_t *ph_req_new(ph_dep_t *d, const cJSON *request, gantry_endpoint_t ep);
void ph_req_free(req_t *r);
const char *ph_err_text(const req_t *r); /* "<status> <message>" of r->err */
gantry_action_t ph_prepare(ph_dep_t *d, req_t *r, struct gantry_upstream *spec);

/* A stream fed to a fresh request, cut at the given sorted offsets. */
typedef struct ph_stream {
    cJSON *chunks; /* owned by the caller */
    int ends;
    bool failed;
    char err[600];
} ph_stream_t;
void ph_run_stream(ph_dep_t *d, const cJSON *request, gantry_endpoint_t ep,
                   gantry_framing_t framing, const buf_t *bytes, const size_t *cuts, size_t ncuts,
                   ph_stream_t *out);

#endif
