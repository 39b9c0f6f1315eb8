/*
 * The bedrock provider: building one upstream attempt.  prepare() waits (PAUSE, polling with a
 * timer) while the credential provider's first fetch is still running, loads a managed prompt
 * when the model is a prompt ARN, picks the body builder for the API and model family, and signs
 * the request with SigV4 - afresh on every attempt, so retries carry a current date - or sends
 * the Bedrock API key as a bearer token.
 */
#include <stdio.h>

#include "bedrock.h"

#define CRED_POLL_MS 25
#define CRED_WAIT_US (10LL * 1000 * 1000)
#define MAX_SIGNED 32

bedrock_req_t *br_req_state(const bedrock_instance_t *inst, gantry_req_t *req)
{
    const gantry_host_t *h = inst->host;
    bedrock_req_t *rs = h->req_data(req, inst->self);
    if (rs != NULL)
        return rs;
    rs = h->alloc(req, sizeof(*rs));
    if (rs == NULL)
        return NULL;
    memset(rs, 0, sizeof(*rs));
    rs->inst = inst;
    h->req_set_data(req, inst->self, rs);
    return rs;
}

/* What one attempt learns about its answer starts from zero; prepare()'s progress stays. */
static void reset_attempt(bedrock_req_t *rs, const bedrock_deployment_t *dep)
{
    rs->dep = dep;
    rs->embed = rs->json_mode = false;
    rs->role_sent = rs->finish_sent = rs->ended = false;
    rs->ntools = rs->nmap = 0;
    rs->in_tok = rs->out_tok = rs->cache_read = rs->cache_write = rs->est_in = 0;
    rs->have_usage = rs->have_cache = rs->embed_b64 = false;
}

static void cred_poll(gantry_req_t *req, void *arg)
{
    bedrock_req_t *rs = arg;
    rs->inst->host->resume(req, GANTRY_CONTINUE);
}

/* The credentials to sign with: CONTINUE with *out set, PAUSE to look again soon, or FAIL. */
static gantry_action_t credentials(br_ctx_t *c, const aws_creds_t **out)
{
    const gantry_host_t *h = c->host;
    bedrock_req_t *rs = c->rs;
    *out = aws_creds_get(c->dep->creds);
    if (*out != NULL) {
        rs->cred_wait_start_us = 0;
        return GANTRY_CONTINUE;
    }
    if (aws_creds_pending(c->dep->creds)) {
        int64_t now = h->now_us();
        if (rs->cred_wait_start_us == 0)
            rs->cred_wait_start_us = now;
        else if (now - rs->cred_wait_start_us > CRED_WAIT_US) {
            rs->cred_wait_start_us = 0;
            return h->req_fail(c->req, 503, GANTRY_ERR_SERVER, "api_error", NULL,
                               "no AWS credentials: still being fetched after 10 s");
        }
        if (h->timer_start(c->req, CRED_POLL_MS, cred_poll, rs) != GANTRY_OK)
            return h->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                               "could not wait for AWS credentials");
        return GANTRY_PAUSE;
    }
    /* The chain failed: a deployment fault, so routing cools it down and falls back. */
    char why[256] = "";
    aws_creds_error(c->dep->creds, why, sizeof(why));
    return h->req_fail(c->req, 503, GANTRY_ERR_SERVER, "api_error", NULL, "no AWS credentials: %s",
                       why[0] ? why : "the credential chain found none");
}

int br_sign(const bedrock_deployment_t *dep, const aws_creds_t *creds, const char *method,
            const char *url, const br_header_t *hdrs, size_t n, gantry_str_t body,
            const char *service, time_t now, br_signed_t *mem, br_header_t *out)
{
    aws_header_t ah[MAX_SIGNED];
    if (n > MAX_SIGNED)
        return -1;
    for (size_t i = 0; i < n; i++)
        ah[i] = (aws_header_t){hdrs[i].name.ptr, hdrs[i].name.len, hdrs[i].value.ptr,
                               hdrs[i].value.len};
    aws_sign_in_t in = {
        .method = method,
        .url = url,
        .headers = ah,
        .nheaders = n,
        .body = body.ptr,
        .body_len = body.len,
        .region = dep->region,
        .service = service,
        .creds = creds,
        .now = now,
        .s3_style_path = false,
    };
    if (aws_sigv4_sign(&in, &mem->so) != 0)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        out[k++] = hdrs[i];
    out[k++] =
        (br_header_t){GANTRY_STR_LIT("X-Amz-Date"), {mem->so.amz_date, strlen(mem->so.amz_date)}};
    out[k++] = (br_header_t){GANTRY_STR_LIT("X-Amz-Content-Sha256"),
                             {mem->so.content_sha256, strlen(mem->so.content_sha256)}};
    if (mem->so.security_token != NULL)
        out[k++] = (br_header_t){GANTRY_STR_LIT("X-Amz-Security-Token"),
                                 {mem->so.security_token, strlen(mem->so.security_token)}};
    out[k++] = (br_header_t){GANTRY_STR_LIT("Authorization"),
                             {mem->so.authorization, strlen(mem->so.authorization)}};
    return (int)k;
}

/* "<endpoint>/model/<encoded id>/<operation>" in the arena. */
static char *model_url(br_ctx_t *c, gantry_str_t model_id, const char *op)
{
    const gantry_host_t *h = c->host;
    const bedrock_deployment_t *dep = c->dep;
    const char *path = dep->model_path;
    size_t plen = strlen(path);
    /* A prompt variant names its own model: encode that one. */
    if (model_id.ptr != dep->model.id.ptr || model_id.len != dep->model.id.len) {
        char *p = h->alloc(c->req, model_id.len * 3 + 1);
        if (p == NULL)
            return NULL;
        plen = aws_uri_encode(model_id.ptr, model_id.len, false, p, model_id.len * 3 + 1);
        path = p;
    }
    size_t elen = strlen(dep->endpoint), olen = strlen(op);
    size_t len = elen + 7 + plen + 1 + olen;
    char *url = h->alloc(c->req, len + 1);
    if (url == NULL)
        return NULL;
    int n = snprintf(url, len + 1, "%s/model/%.*s/%s", dep->endpoint, (int)plen, path, op);
    return n > 0 && (size_t)n == len ? url : NULL;
}

/* The body for this attempt, and the operation it goes to. */
static int build_body(br_ctx_t *c, const gantry_json_t *body, const gantry_json_t *variant,
                      bool stream, gantry_json_t **out, const char **op)
{
    const gantry_host_t *h = c->host;
    bool embed_model = c->family == BR_FAM_TITAN_EMBED || c->family == BR_FAM_COHERE_EMBED;
    if (h->req_endpoint(c->req) == GANTRY_EP_EMBEDDINGS) {
        if (!embed_model) {
            br_bad_request(c,
                           "model %.*s is not an embedding model (amazon.titan-embed-text-*, "
                           "cohere.embed-*)",
                           (int)c->model_id.len, c->model_id.ptr);
            return -1;
        }
        c->rs->embed = true;
        *op = "invoke";
        return br_embed_body(c, body, out);
    }
    if (embed_model) {
        br_bad_request(c, "model %.*s is an embedding model: use /v1/embeddings",
                       (int)c->model_id.len, c->model_id.ptr);
        return -1;
    }
    if (c->dep->model.api == BR_API_CONVERSE || variant != NULL) {
        *op = stream ? "converse-stream" : "converse";
        return br_converse_body(c, body, variant, false, out);
    }
    *op = stream ? "invoke-with-response-stream" : "invoke";
    switch (c->family) {
    case BR_FAM_ANTHROPIC:
        return br_anthropic_body(c, body, out);
    case BR_FAM_NOVA:
        return br_converse_body(c, body, NULL, true, out);
    default:
        return br_prompt_family_body(c, body, out);
    }
}

gantry_action_t bedrock_prepare(gantry_req_t *req, void *state, void *deployment,
                                gantry_upstream_t *up)
{
    const bedrock_instance_t *inst = state;
    const gantry_host_t *h = inst->host;
    const bedrock_deployment_t *dep = deployment;
    bedrock_req_t *rs = br_req_state(inst, req);
    if (rs == NULL)
        return h->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, "out of memory");
    reset_attempt(rs, dep);
    br_ctx_t c = {.host = h,
                  .req = req,
                  .inst = inst,
                  .dep = dep,
                  .rs = rs,
                  .drop = h->req_drop_params(req),
                  .family = dep->model.family,
                  .model_id = dep->model.id};
    if (rs->chunk_id == NULL) {
        gantry_str_t id = h->req_id(req);
        size_t len = 9 + id.len;
        rs->chunk_id = h->alloc(req, len + 1);
        if (rs->chunk_id != NULL)
            snprintf(rs->chunk_id, len + 1, "chatcmpl-%.*s", (int)id.len, id.ptr);
        rs->created = h->unix_ms() / 1000;
    }

    const aws_creds_t *creds = NULL;
    gantry_action_t act;
    if (dep->creds != NULL && (act = credentials(&c, &creds)) != GANTRY_CONTINUE)
        return act;

    const gantry_json_t *body = h->req_body(req);
    const gantry_json_t *variant = NULL;
    if (dep->model.prompt) {
        if ((act = br_prompt_load(&c, creds)) != GANTRY_CONTINUE)
            return act;
        gantry_str_t vid;
        if ((variant = br_prompt_variant(&c, &vid)) == NULL)
            return GANTRY_FAIL;
        c.model_id = vid;
        c.family = br_family_of(vid);
        gantry_json_t *rendered;
        if (br_prompt_render(&c, variant, body, &rendered) != 0)
            return GANTRY_FAIL;
        body = rendered;
    }
    rs->api = variant != NULL ? BR_API_CONVERSE : dep->model.api;
    rs->family = c.family;
    rs->model = c.model_id;

    bool stream = h->req_is_stream(req) && h->req_endpoint(req) != GANTRY_EP_EMBEDDINGS;
    gantry_json_t *out = NULL;
    const char *op = NULL;
    if (build_body(&c, body, variant, stream, &out, &op) != 0)
        return GANTRY_FAIL;
    gantry_str_t text;
    if (h->json_write(req, out, &text) != GANTRY_OK)
        return h->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "out of memory writing the Bedrock request");
    char *url = model_url(&c, c.model_id, op);
    if (url == NULL)
        return h->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "out of memory building the Bedrock URL");

    br_header_t hdrs[MAX_SIGNED], sent[MAX_SIGNED + 4];
    size_t n = 0;
    hdrs[n++] = (br_header_t){GANTRY_STR_LIT("Content-Type"), GANTRY_STR_LIT("application/json")};
    if (rs->api == BR_API_INVOKE && !stream)
        hdrs[n++] = (br_header_t){GANTRY_STR_LIT("Accept"), GANTRY_STR_LIT("application/json")};
    for (size_t i = 0; i < dep->n_extra && n < MAX_SIGNED; i++)
        hdrs[n++] = dep->extra[i];

    int nsent;
    br_signed_t *sig = NULL;
    if (dep->bearer != NULL) {
        memcpy(sent, hdrs, n * sizeof(hdrs[0]));
        sent[n] =
            (br_header_t){GANTRY_STR_LIT("Authorization"), {dep->bearer, strlen(dep->bearer)}};
        nsent = (int)n + 1;
    } else {
        /* The signature output must outlive this call only until the headers are copied. */
        sig = h->alloc(req, sizeof(*sig));
        if (sig == NULL)
            return h->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                               "out of memory");
        nsent = br_sign(dep, creds, "POST", url, hdrs, n, text, "bedrock",
                        (time_t)(h->unix_ms() / 1000), sig, sent);
        if (nsent < 0)
            return h->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                               "could not sign the Bedrock request");
    }

    if (h->up_set_method(up, "POST") != GANTRY_OK ||
        h->up_set_url(up, (gantry_str_t){url, strlen(url)}) != GANTRY_OK ||
        h->up_set_body(up, text) != GANTRY_OK)
        return h->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "could not set up the upstream request");
    /* Every header name here is a NUL-terminated literal or configuration copy. */
    for (int i = 0; i < nsent; i++) {
        if (h->up_add_header(up, sent[i].name.ptr, sent[i].value) != GANTRY_OK)
            return h->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                               "could not set up the upstream request");
    }
    if (sig != NULL) /* the signature is in the headers now; do not leave it in the arena */
        memset(sig, 0, sizeof(*sig));
    if (stream && h->up_set_framing(up, GANTRY_FRAMING_EVENTSTREAM) != GANTRY_OK)
        return h->req_fail(req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "could not set up the upstream request");
    return GANTRY_CONTINUE;
}
