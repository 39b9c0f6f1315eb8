/*
 * phost: a provider plugin outside the gateway, for the golden runner and the provider fuzz
 * targets.  The real host table is used with the entries that lead into the pipeline replaced:
 * chunks and stream ends are captured, request headers come from the test, the wall clock can be
 * pinned, and there is no loop (timers and side calls are refused).
 */
#include "phost.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "sse.h"

ph_capture_t ph_cap;
gantry_host_t ph_host;

static int t_stream_chunk_take(gantry_req_t *r, gantry_json_t *chunk)
{
    cJSON *c = (cJSON *)chunk;
    if (c == NULL || !req_disown_json(r, c, NULL))
        return GANTRY_EINVAL;
    cJSON_AddItemToArray(ph_cap.chunks, c);
    return GANTRY_OK;
}

static void t_stream_end(gantry_req_t *r)
{
    r->stream_done = true;
    ph_cap.stream_ends++;
}

static int t_req_header(gantry_req_t *r, const char *name, gantry_str_t *out)
{
    (void)r;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ph_cap.headers, name);
    if (!cJSON_IsString(v))
        return GANTRY_ENOENT;
    *out = (gantry_str_t){v->valuestring, strlen(v->valuestring)};
    return GANTRY_OK;
}

static int64_t t_unix_ms(void)
{
    return ph_cap.now_ms ? ph_cap.now_ms : host_table.unix_ms();
}

static int t_timer_start(gantry_req_t *r, uint64_t ms, gantry_timer_cb cb, void *arg)
{
    (void)r, (void)ms, (void)cb, (void)arg;
    return GANTRY_EUNSUPPORTED; /* no loop here: cases must not need to wait */
}

static int t_http_call(gantry_req_t *r, const gantry_http_call_t *c, gantry_http_cb cb, void *arg)
{
    (void)r, (void)c, (void)cb, (void)arg;
    return GANTRY_EUNSUPPORTED;
}

const gantry_plugin_desc_t *ph_load(const char *path)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    gantry_plugin_describe_fn fn = lib ? (gantry_plugin_describe_fn)dlsym(lib, GANTRY_PLUGIN_SYMBOL)
                                       : NULL;
    const gantry_plugin_desc_t *desc = fn ? fn() : NULL;
    if (desc == NULL || desc->kind != GANTRY_KIND_PROVIDER || desc->ops->prepare == NULL) {
        fprintf(stderr, "%s: not a provider plugin with prepare() (%s)\n", path,
                lib ? "no descriptor" : dlerror());
        return NULL;
    }
    ph_host = host_table;
    ph_host.stream_chunk_take = t_stream_chunk_take;
    ph_host.stream_end = t_stream_end;
    ph_host.req_header = t_req_header;
    ph_host.unix_ms = t_unix_ms;
    ph_host.timer_start = t_timer_start;
    ph_host.http_call = t_http_call;
    /* The plugin stays loaded: threads it started may outlive an instance. */
    return desc;
}

static cfg_doc_t *doc_of(const cJSON *j, const char *name)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    char err[256];
    cfg_doc_t *d = cfg_doc_load_mem(name, text ? text : "{}", text ? strlen(text) : 2, NULL, NULL,
                                    err, sizeof err);
    if (d == NULL)
        fprintf(stderr, "%s: %s\n", name, err);
    cJSON_free(text);
    return d;
}

int ph_dep_open(ph_dep_t *d, const gantry_plugin_desc_t *desc, const cJSON *params,
                const cJSON *plugin_config, const char *prefix, const char *name)
{
    memset(d, 0, sizeof *d);
    d->desc = desc;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(params, "model");
    if (!cJSON_IsString(model) || strchr(model->valuestring, '/') == NULL) {
        fprintf(stderr, "%s: params.model must be \"<prefix>/<model-id>\"\n", name);
        return -1;
    }
    d->conf_doc = doc_of(plugin_config, "plugin_config");
    d->params_doc = doc_of(params, name);
    d->inst = (inst_t){.ops = desc->ops, .name = (char *)desc->name, .gen = &d->gen};
    const char *slash = strchr(model->valuestring, '/');
    snprintf(d->prefix, sizeof d->prefix, "%.*s", (int)(slash - model->valuestring),
             model->valuestring);
    const char *p = prefix ? prefix : d->prefix;
    d->dcfg.params = d->params_doc ? d->params_doc->root : NULL;
    d->dcfg.model = model->valuestring;
    d->dcfg.model_id = slash + 1;
    d->dcfg.drop_params = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(params, "drop_params"));
    d->dcfg.id = (char *)"golden-dep";
    d->dep = (deployment_t){.cfg = &d->dcfg, .provider = &d->inst};
    const gantry_ops_t *ops = desc->ops;
    if (d->conf_doc == NULL || d->params_doc == NULL ||
        ops->create(&ph_host, &d->inst, (const gantry_conf_t *)d->conf_doc->root, &d->state) != 0) {
        fprintf(stderr, "%s: create() failed\n", name);
        goto fail;
    }
    d->created = true;
    d->inst.state = d->state;
    if (ops->worker_init != NULL)
        ops->worker_init(d->state, 0, &d->wstate);
    if (ops->deployment_create(d->state, (const gantry_conf_t *)d->params_doc->root,
                               (gantry_str_t){p, strlen(p)},
                               (gantry_str_t){slash + 1, strlen(slash + 1)}, &d->pdep) != 0) {
        fprintf(stderr, "%s: deployment_create() failed\n", name);
        goto fail;
    }
    d->dep.pstate = d->pdep;
    d->has_dep = true;
    return 0;
fail:
    ph_dep_close(d);
    return -1;
}

void ph_dep_close(ph_dep_t *d)
{
    const gantry_ops_t *ops = d->desc->ops;
    if (d->has_dep && ops->deployment_destroy != NULL)
        ops->deployment_destroy(d->state, d->pdep);
    if (d->created) {
        if (ops->worker_fini != NULL)
            ops->worker_fini(d->state, 0, d->wstate);
        if (ops->destroy != NULL)
            ops->destroy(d->state);
    }
    cfg_doc_free(d->conf_doc);
    cfg_doc_free(d->params_doc);
    memset(d, 0, sizeof *d);
}

req_t *ph_req_new(ph_dep_t *c, const cJSON *req, gantry_endpoint_t ep)
{
    req_t *r = calloc(1, sizeof *r);
    arena_init(&r->arena, 16u << 20);
    r->gen = &c->gen;
    r->slots = calloc(1, sizeof *r->slots);
    snprintf(r->id, sizeof r->id, "golden-req");
    r->id_len = strlen(r->id);
    r->resume_early = -1;
    r->dep = r->attempt_dep = &c->dep;
    r->body = cJSON_Duplicate(req, true);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
    if (cJSON_IsString(model))
        r->model = (gantry_str_t){model->valuestring, strlen(model->valuestring)};
    r->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream"));
    r->endpoint = ep;
    return r;
}

void ph_req_free(req_t *r)
{
    for (req_cleanup_t *cl = r->cleanups; cl != NULL; cl = cl->next)
        cl->fn(cl->arg);
    for (size_t i = 0; i < r->nroots; i++)
        cJSON_Delete(r->roots[i].root);
    free(r->roots);
    free(r->slots);
    cJSON_Delete(r->body);
    cJSON_Delete(r->resp);
    arena_free(&r->arena);
    free(r);
}

const char *ph_err_text(const req_t *r)
{
    static char buf[600];
    snprintf(buf, sizeof buf, "%d %.*s", r->err.status, (int)r->err.message.len,
             r->err.message.ptr ? r->err.message.ptr : "");
    return buf;
}

gantry_action_t ph_prepare(ph_dep_t *d, req_t *r, struct gantry_upstream *spec)
{
    up_spec_init(spec, r);
    return d->desc->ops->prepare(r, d->state, d->pdep, spec);
}

typedef struct feed {
    ph_dep_t *c;
    req_t *r;
    bool failed;
} feed_t;

static int frame(feed_t *f, const gantry_frame_t *fr)
{
    if (f->failed || f->r->stream_done)
        return 0;
    if (f->c->desc->ops->parse_frame(f->r, f->c->state, f->c->pdep, fr) == GANTRY_FAIL)
        f->failed = true;
    return 0;
}

static int on_sse(void *arg, const char *ev, size_t evlen, const char *data, size_t dlen)
{
    gantry_frame_t fr = {.size = sizeof fr};
    fr.event = (gantry_str_t){ev, evlen};
    fr.data = (gantry_str_t){data, dlen};
    return frame(arg, &fr);
}

static int on_evs(void *arg, const evs_msg_t *m)
{
    gantry_frame_t fr;
    evs_to_frame(m, &fr);
    return frame(arg, &fr);
}

/* Feed `bytes` cut at the given offsets (sorted); the chunks and the outcome. */
void ph_run_stream(ph_dep_t *c, const cJSON *request, gantry_endpoint_t ep, gantry_framing_t framing,
                   const buf_t *bytes, const size_t *cuts, size_t ncuts, ph_stream_t *out)
{
    req_t *r = ph_req_new(c, request, ep);
    struct gantry_upstream spec;
    ph_cap.chunks = cJSON_CreateArray();
    ph_cap.stream_ends = 0;
    feed_t f = {.c = c, .r = r};
    memset(out, 0, sizeof *out);
    if (ph_prepare(c, r, &spec) != GANTRY_CONTINUE) {
        f.failed = true;
        goto done;
    }
    sse_t sse;
    evs_dec_t evs;
    buf_t line = {0};
    sse_init(&sse, 8u << 20);
    evs_dec_init(&evs, 16u << 20);
    size_t pos = 0;
    int rc = 0;
    for (size_t i = 0; i <= ncuts && rc == 0; i++) {
        size_t end = i < ncuts ? cuts[i] : bytes->len;
        const char *p = bytes->ptr + pos;
        size_t n = end - pos;
        if (framing == GANTRY_FRAMING_SSE) {
            rc = sse_feed(&sse, p, n, on_sse, &f);
        } else if (framing == GANTRY_FRAMING_EVENTSTREAM) {
            rc = evs_dec_feed(&evs, p, n, on_evs, &f);
        } else {
            for (size_t k = 0; k < n; k++) {
                if (p[k] != '\n') {
                    buf_append(&line, p + k, 1);
                    continue;
                }
                gantry_frame_t fr = {.size = sizeof fr};
                fr.data = (gantry_str_t){line.ptr, line.len};
                if (line.len > 0)
                    frame(&f, &fr);
                buf_reset(&line);
            }
        }
        pos = end;
    }
    if (rc == 0 && framing == GANTRY_FRAMING_SSE)
        sse_finish(&sse, on_sse, &f);
    if (rc == 0 && framing == GANTRY_FRAMING_EVENTSTREAM && evs_dec_finish(&evs) != 0)
        rc = EVS_E_TRUNCATED;
    if (rc != 0 && !f.failed) {
        f.failed = true;
        snprintf(out->err, sizeof out->err, "decoder error %d", rc);
    }
    sse_free(&sse);
    evs_dec_free(&evs);
    buf_free(&line);
done:
    out->failed = f.failed;
    if (f.failed && out->err[0] == '\0')
        snprintf(out->err, sizeof out->err, "%s", ph_err_text(r));
    out->chunks = ph_cap.chunks;
    out->ends = ph_cap.stream_ends;
    ph_cap.chunks = NULL;
    up_spec_free(&spec);
    ph_req_free(r);
}

