/*
 * The sagemaker provider: building and signing the upstream request of one attempt.
 *
 * Credentials come from the aws library's provider, which fetches non-static ones on a thread of
 * its own.  While the first fetch is still running, prepare() PAUSEs and polls with a short host
 * timer (never blocking the worker); the core then calls prepare() again from the start.  Every
 * attempt is signed afresh, so a retry after a slow upstream never goes out with a stale date.
 */
#include "sagemaker.h"

#define CREDS_POLL_MS 25
#define CREDS_WAIT_US (10 * 1000 * 1000) /* give up on credentials that take longer */
#define MAX_HEADERS (8 + 64)             /* our own plus extra_headers (at most 64) */

sm_req_t *sm_req_state(const sm_instance_t *inst, gantry_req_t *req)
{
    const gantry_host_t *host = inst->host;
    sm_req_t *rs = host->req_data(req, inst->self);
    if (rs != NULL)
        return rs;
    rs = host->alloc(req, sizeof(*rs));
    if (rs == NULL)
        return NULL;
    memset(rs, 0, sizeof(*rs));
    rs->inst = inst;
    host->req_set_data(req, inst->self, rs);
    return rs;
}

/* A fresh attempt: nothing of an earlier attempt's stream may leak into this one. */
static void reset_attempt(sm_req_t *rs)
{
    rs->prompt = GANTRY_STR_NULL;
    rs->prompt_bytes = 0;
    rs->lines = (sm_lines_t){0};
    rs->sse_error = false;
    rs->role_sent = false;
    rs->finished = false;
    rs->text_bytes = 0;
    rs->completion_tokens = 0;
    rs->id = GANTRY_STR_NULL;
    rs->created = 0;
}

static void on_creds_tick(gantry_req_t *req, void *arg)
{
    sm_req_t *rs = arg;
    const gantry_host_t *host = rs->inst->host;
    const sm_deployment_t *dep = rs->wait_dep;
    bool settled = aws_creds_get(dep->creds) != NULL || !aws_creds_pending(dep->creds);
    bool expired = host->now_us() - rs->wait_start_us > CREDS_WAIT_US;

    /* prepare() runs again and decides: go on, fail with the chain's reason, or time out. */
    if (settled || expired || host->timer_start(req, CREDS_POLL_MS, on_creds_tick, rs) != GANTRY_OK)
        host->resume(req, GANTRY_CONTINUE);
}

/* No credentials yet: fail with the chain's reason, or wait for the first fetch to finish. */
static gantry_action_t await_creds(const sm_instance_t *inst, const sm_deployment_t *dep,
                                   gantry_req_t *req, sm_req_t *rs)
{
    const gantry_host_t *host = inst->host;
    if (!aws_creds_pending(dep->creds)) {
        char why[256] = "";
        aws_creds_error(dep->creds, why, sizeof(why));
        rs->wait_dep = NULL;
        return host->req_fail(req, 500, GANTRY_ERR_AUTH, "authentication_error",
                              "aws_credentials_unavailable",
                              "no AWS credentials for SageMaker endpoint %s: %s", dep->endpoint.ptr,
                              why[0] != '\0' ? why : "the credential chain found none");
    }
    if (rs->wait_dep != dep) {
        rs->wait_dep = dep;
        rs->wait_start_us = host->now_us();
    } else if (host->now_us() - rs->wait_start_us > CREDS_WAIT_US) {
        rs->wait_dep = NULL;
        return host->req_fail(req, 504, GANTRY_ERR_TIMEOUT, "timeout", "aws_credentials_timeout",
                              "AWS credentials for SageMaker endpoint %s were not ready within "
                              "10 s",
                              dep->endpoint.ptr);
    }
    int rc = host->timer_start(req, CREDS_POLL_MS, on_creds_tick, rs);
    if (rc != GANTRY_OK)
        return sm_internal(inst, req, "could not wait for AWS credentials", rc);
    return GANTRY_PAUSE;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool name_ieq(gantry_str_t a, const char *lit)
{
    size_t n = strlen(lit);
    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (lower(a.ptr[i]) != lit[i])
            return false;
    }
    return true;
}

typedef struct hdrs {
    aws_header_t h[MAX_HEADERS];
    size_t n;
} hdrs_t;

static void add(hdrs_t *hs, const char *name, gantry_str_t value)
{
    if (hs->n < MAX_HEADERS && value.ptr != NULL)
        hs->h[hs->n++] = (aws_header_t){name, strlen(name), value.ptr, value.len};
}

/* True when extra_headers already sets `lname` (lowercase): then it replaces ours. */
static bool extra_has(const sm_deployment_t *dep, const char *lname)
{
    for (size_t i = 0; i < dep->n_extra; i++) {
        if (name_ieq(dep->extra[i].name, lname))
            return true;
    }
    return false;
}

/*
 * The headers of the request that are signed: the content headers, SageMaker's routing headers
 * and the configured extra headers.  The signer adds host, x-amz-date, x-amz-content-sha256 and
 * x-amz-security-token itself.
 */
static void collect_headers(const sm_deployment_t *dep, bool stream, hdrs_t *hs)
{
    if (!extra_has(dep, "content-type"))
        add(hs, "Content-Type", GANTRY_STR_LIT("application/json"));
    /* The streaming operation takes its Accept as X-Amzn-SageMaker-Accept; the container picks
     * its own stream format (SSE or JSON lines), and both are understood, so none is sent. */
    if (!stream && !extra_has(dep, "accept"))
        add(hs, "Accept", GANTRY_STR_LIT("application/json"));
    /* InvokeEndpointWithResponseStream has no TargetModel member: multi-model endpoints do not
     * stream. */
    if (!stream)
        add(hs, "X-Amzn-SageMaker-Target-Model", dep->target_model);
    add(hs, "X-Amzn-SageMaker-Target-Variant", dep->target_variant);
    add(hs, "X-Amzn-SageMaker-Inference-Component", dep->component);
    add(hs, "X-Amzn-SageMaker-Custom-Attributes", dep->custom_attributes);
    for (size_t i = 0; i < dep->n_extra; i++)
        add(hs, dep->extra[i].name.ptr, dep->extra[i].value);
}

static gantry_action_t build_body(const sm_instance_t *inst, const sm_deployment_t *dep,
                                  gantry_req_t *req, sm_req_t *rs, gantry_endpoint_t ep,
                                  bool stream, bool drop, gantry_str_t *body)
{
    if (ep == GANTRY_EP_EMBEDDINGS)
        return sm_embed_body(inst, req, drop, body);
    if (dep->api == SM_API_MESSAGES) {
        int rc = sm_messages_body(inst, dep, req, stream, body);
        if (rc != GANTRY_OK)
            return sm_internal(inst, req, "could not build the upstream request", rc);
        return GANTRY_CONTINUE;
    }
    return sm_tgi_body(inst, dep, req, rs, stream, body);
}

gantry_action_t sm_prepare(gantry_req_t *req, void *state, void *deployment, gantry_upstream_t *up)
{
    const sm_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const sm_deployment_t *dep = deployment;
    int rc;

    sm_req_t *rs = sm_req_state(inst, req);
    if (rs == NULL)
        return sm_internal(inst, req, "could not build the upstream request", GANTRY_ENOMEM);
    const aws_creds_t *creds = aws_creds_get(dep->creds);
    if (creds == NULL)
        return await_creds(inst, dep, req, rs);
    rs->wait_dep = NULL;
    reset_attempt(rs);

    gantry_endpoint_t ep =
        GANTRY_HOST_HAS(host, req_endpoint) ? host->req_endpoint(req) : GANTRY_EP_CHAT;
    bool drop = GANTRY_HOST_HAS(host, req_drop_params) ? host->req_drop_params(req) : false;
    bool stream = ep != GANTRY_EP_EMBEDDINGS && host->req_is_stream(req);
    if (host->json_type(host->req_body(req)) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "the request has no JSON object body");

    gantry_str_t body = GANTRY_STR_NULL;
    gantry_action_t act = build_body(inst, dep, req, rs, ep, stream, drop, &body);
    if (act != GANTRY_CONTINUE)
        return act;

    gantry_str_t url = stream ? dep->url_stream : dep->url;
    hdrs_t hs = {.n = 0};
    collect_headers(dep, stream, &hs);

    aws_sign_in_t in = {
        .method = "POST",
        .url = url.ptr,
        .headers = hs.h,
        .nheaders = hs.n,
        .body = body.ptr,
        .body_len = body.len,
        .region = dep->region.ptr,
        .service = "sagemaker",
        .creds = creds,
        .now = (time_t)(host->unix_ms() / 1000),
        .s3_style_path = false,
    };
    aws_sign_out_t out;
    if (aws_sigv4_sign(&in, &out) != 0)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not sign the request to SageMaker endpoint %s",
                              dep->endpoint.ptr);

    if ((rc = host->up_set_url(up, url)) != GANTRY_OK)
        goto fail;
    for (size_t i = 0; i < hs.n; i++) {
        gantry_str_t v = {hs.h[i].value, hs.h[i].value_len};
        if ((rc = host->up_add_header(up, hs.h[i].name, v)) != GANTRY_OK)
            goto fail;
    }
    if ((rc = host->up_add_header(
             up, "X-Amz-Date", (gantry_str_t){out.amz_date, strlen(out.amz_date)})) != GANTRY_OK ||
        (rc = host->up_add_header(
             up, "X-Amz-Content-Sha256",
             (gantry_str_t){out.content_sha256, strlen(out.content_sha256)})) != GANTRY_OK)
        goto fail;
    if (out.security_token != NULL &&
        (rc = host->up_add_header(
             up, "X-Amz-Security-Token",
             (gantry_str_t){out.security_token, strlen(out.security_token)})) != GANTRY_OK)
        goto fail;
    if ((rc = host->up_add_header(up, "Authorization",
                                  (gantry_str_t){out.authorization, strlen(out.authorization)})) !=
        GANTRY_OK)
        goto fail;
    if ((rc = host->up_set_body(up, body)) != GANTRY_OK)
        goto fail;
    if (stream && (rc = host->up_set_framing(up, GANTRY_FRAMING_EVENTSTREAM)) != GANTRY_OK)
        goto fail;
    return GANTRY_CONTINUE;

fail:
    return sm_internal(inst, req, "could not build the upstream request", rc);
}
