/*
 * The Amazon Bedrock guardrail: one ApplyGuardrail call.  A job waits (polling with a request
 * timer) while the credential provider's first fetch is still running, signs the call with SigV4
 * against the wall clock the host gives, sends it with host->http_call() on the worker's loop, and
 * turns the answer into a verdict that resumes a paused request (pre_call, post_call) or is
 * delivered for a deferred ticket (during_call, stream windows).
 *
 * A guardrail that cannot decide - Bedrock unreachable, slow, answering an error or nonsense -
 * fails with a server or timeout class, never GANTRY_ERR_GUARDRAIL: the core then applies the
 * guardrail's fail_open.
 */
#include <stdarg.h>
#include <stdio.h>

#include "bedrock_guardrail.h"

/* Content-Type plus what the signer adds: X-Amz-Date, X-Amz-Content-Sha256, the session token
 * and Authorization. */
#define MAX_HEADERS 5

static const char *what_of(const bg_job_t *job)
{
    switch (job->kind) {
    case BG_JOB_PRE:
    case BG_JOB_DURING:
        return "request";
    case BG_JOB_POST:
    case BG_JOB_WINDOW:
    default:
        return "response";
    }
}

void bg_note(const bg_instance_t *bg, gantry_req_t *req)
{
    bg->host->req_note_guardrail(req, bg->name);
}

gantry_action_t bg_service_fail(bg_job_t *job, int status, gantry_error_class_t cls,
                                const char *fmt, ...)
{
    const bg_instance_t *bg = job->bg;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    /* The core logs the failure with the guardrail's name when it applies fail_open or closed. */
    return bg->host->req_fail(job->req, status, cls, "api_error", "guardrail_error",
                              "Guardrail '%s' could not check the %s: %s", bg->name, what_of(job),
                              why);
}

gantry_action_t bg_block(bg_job_t *job, const bg_verdict_t *v, const char *what, bool mask_off)
{
    const bg_instance_t *bg = job->bg;
    const char *hint = "";
    if (mask_off)
        hint = job->kind == BG_JOB_PRE || job->kind == BG_JOB_DURING
                   ? " (masking is off: mask_request_content would mask it instead)"
                   : " (masking is off: mask_response_content would mask it instead)";
    bg_note(bg, job->req);
    if (v->message[0] != '\0')
        return bg->host->req_fail(job->req, 400, GANTRY_ERR_GUARDRAIL, "guardrail_violation",
                                  "guardrail_intervened",
                                  "%s blocked by guardrail '%s': %s%s. Guardrail message: %s", what,
                                  bg->name, v->summary, hint, v->message);
    return bg->host->req_fail(job->req, 400, GANTRY_ERR_GUARDRAIL, "guardrail_violation",
                              "guardrail_intervened", "%s blocked by guardrail '%s': %s%s", what,
                              bg->name, v->summary, hint);
}

gantry_str_t *bg_target_texts(const gantry_host_t *h, gantry_req_t *req, gantry_json_t **targets,
                              size_t n)
{
    gantry_str_t *t = h->alloc(req, (n > 0 ? n : 1) * sizeof(*t));
    if (t == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        t[i] = h->json_string(targets[i]);
    return t;
}

int bg_apply_outputs(const bg_instance_t *bg, gantry_req_t *req, const bg_verdict_t *v,
                     gantry_json_t **targets, size_t n)
{
    const gantry_host_t *h = bg->host;
    /* Every text must have its output before any is replaced: a masked text written into the
     * wrong place would be worse than none. */
    if (v->noutputs != n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (bg_output_text(h, v, i).ptr == NULL)
            return -1;
    }
    int changed = 0;
    for (size_t i = 0; i < n; i++) {
        gantry_str_t out = bg_output_text(h, v, i), cur = h->json_string(targets[i]);
        if (cur.len == out.len && (out.len == 0 || memcmp(cur.ptr, out.ptr, out.len) == 0))
            continue;
        /* The output lives in the answer, which may be released: the new text is an arena copy. */
        char *copy = h->strdup(req, out.ptr, out.len);
        if (copy == NULL || h->json_set_string(targets[i], (gantry_str_t){copy, out.len}) < 0)
            return -2;
        changed++;
    }
    return changed;
}

void bg_finish(bg_job_t *job, gantry_action_t action)
{
    const gantry_host_t *h = job->bg->host;
    switch (job->kind) {
    case BG_JOB_PRE:
    case BG_JOB_POST:
        h->resume(job->req, action);
        break;
    case BG_JOB_DURING:
    case BG_JOB_WINDOW:
        if (!job->abandoned && job->ticket >= 0)
            h->verdict_deliver(job->req, job->ticket, action);
        break;
    }
}

/* What the answer means for this job: CONTINUE or FAIL (after req_fail). */
static gantry_action_t judge(bg_job_t *job, const gantry_http_result_t *res)
{
    const bg_instance_t *bg = job->bg;
    const gantry_host_t *h = bg->host;
    if (res->status == 0) {
        char why[160];
        bg_clean(res->error, 120, why, sizeof why);
        int64_t took_ms = (h->now_us() - job->sent_us) / 1000;
        /* curl says "Timeout was reached"; the elapsed time says it whatever the wording. */
        if (took_ms + 20 >= bg->timeout_ms || strstr(why, "imeout") != NULL)
            return bg_service_fail(job, 504, GANTRY_ERR_TIMEOUT,
                                   "Amazon Bedrock did not answer within %lld ms",
                                   (long long)bg->timeout_ms);
        return bg_service_fail(job, 502, GANTRY_ERR_SERVER, "could not reach Amazon Bedrock: %s",
                               why);
    }
    if (res->status != 200) {
        char why[220];
        bg_error_message(h, job->req, res->body, why, sizeof why);
        return bg_service_fail(job, 502, GANTRY_ERR_SERVER, "Amazon Bedrock answered %d: %s",
                               res->status, why);
    }
    bg_verdict_t v;
    char err[160];
    if (bg_parse_verdict(h, job->req, res->body, &v, err, sizeof err) != 0) {
        h->json_release(job->req, v.root);
        return bg_service_fail(job, 502, GANTRY_ERR_SERVER, "malformed ApplyGuardrail answer: %s",
                               err);
    }
    gantry_action_t act = GANTRY_CONTINUE;
    switch (job->kind) {
    case BG_JOB_PRE:
    case BG_JOB_DURING:
        act = bg_request_verdict(job, &v);
        break;
    case BG_JOB_POST:
        act = bg_response_verdict(job, &v);
        break;
    case BG_JOB_WINDOW:
        act = bg_window_verdict(job, &v);
        break;
    }
    h->json_release(job->req, v.root);
    return act;
}

/* End a job that got its answer (or gave up): a stream's next window goes first, so that the end
 * of the stream cannot slip out between this verdict and the next one. */
static void conclude(bg_job_t *job, gantry_action_t act)
{
    if (job->kind == BG_JOB_WINDOW && bg_window_done(job) == GANTRY_FAIL)
        act = GANTRY_FAIL;
    bg_finish(job, act);
}

static void answered(gantry_req_t *req, void *arg, const gantry_http_result_t *res)
{
    bg_job_t *job = arg;
    (void)req;
    if (job->abandoned)
        return;
    conclude(job, judge(job, res));
}

/* Sign and send.  GANTRY_PAUSE when the call is under way, GANTRY_FAIL after req_fail. */
static gantry_action_t send_call(bg_job_t *job, const aws_creds_t *creds)
{
    const bg_instance_t *bg = job->bg;
    const gantry_host_t *h = bg->host;
    aws_header_t signed_hdr[1] = {{"Content-Type", 12, "application/json", 16}};
    aws_sign_in_t in = {
        .method = "POST",
        .url = bg->url,
        .headers = signed_hdr,
        .nheaders = 1,
        .body = job->body.ptr,
        .body_len = job->body.len,
        .region = bg->region,
        .service = "bedrock",
        .creds = creds,
        .now = (time_t)(h->unix_ms() / 1000),
        .s3_style_path = false,
    };
    /* The signature is copied by http_call(); the arena copy is wiped right after. */
    aws_sign_out_t *so = h->alloc(job->req, sizeof(*so));
    if (so == NULL)
        return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "out of memory");
    if (aws_sigv4_sign(&in, so) != 0) {
        memset(so, 0, sizeof(*so));
        return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "could not sign the call");
    }
    gantry_http_header_t hdrs[MAX_HEADERS];
    size_t n = 0;
    hdrs[n++] =
        (gantry_http_header_t){GANTRY_STR_LIT("Content-Type"), GANTRY_STR_LIT("application/json")};
    hdrs[n++] =
        (gantry_http_header_t){GANTRY_STR_LIT("X-Amz-Date"), {so->amz_date, strlen(so->amz_date)}};
    hdrs[n++] = (gantry_http_header_t){GANTRY_STR_LIT("X-Amz-Content-Sha256"),
                                       {so->content_sha256, strlen(so->content_sha256)}};
    if (so->security_token != NULL)
        hdrs[n++] = (gantry_http_header_t){GANTRY_STR_LIT("X-Amz-Security-Token"),
                                           {so->security_token, strlen(so->security_token)}};
    hdrs[n++] = (gantry_http_header_t){GANTRY_STR_LIT("Authorization"),
                                       {so->authorization, strlen(so->authorization)}};
    gantry_http_call_t call = {
        .size = sizeof(call),
        .method = "POST",
        .url = {bg->url, strlen(bg->url)},
        .headers = hdrs,
        .nheaders = n,
        .body = job->body,
        .timeout_ms = bg->timeout_ms,
        .max_response_bytes = BG_MAX_ANSWER_BYTES,
    };
    job->sent_us = h->now_us();
    int rc = h->http_call(job->req, &call, answered, job);
    memset(so, 0, sizeof(*so));
    if (rc != GANTRY_OK)
        return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "could not start the call: %s",
                               h->strerror(rc));
    return GANTRY_PAUSE;
}

static gantry_action_t attempt(bg_job_t *job);

static void run_later(gantry_req_t *req, void *arg)
{
    bg_job_t *job = arg;
    (void)req;
    if (job->abandoned)
        return;
    if (attempt(job) == GANTRY_FAIL)
        conclude(job, GANTRY_FAIL);
}

/* Credentials, then the call: PAUSE (under way, or polling for credentials) or FAIL. */
static gantry_action_t attempt(bg_job_t *job)
{
    const bg_instance_t *bg = job->bg;
    const gantry_host_t *h = bg->host;
    const aws_creds_t *creds = aws_creds_get(bg->creds);
    if (creds != NULL)
        return send_call(job, creds);
    if (aws_creds_pending(bg->creds)) {
        int64_t now = h->now_us();
        if (job->cred_wait_start_us == 0)
            job->cred_wait_start_us = now;
        else if (now - job->cred_wait_start_us > BG_CRED_WAIT_US)
            return bg_service_fail(job, 503, GANTRY_ERR_SERVER,
                                   "no AWS credentials: still being fetched after 10 s");
        if (h->timer_start(job->req, BG_CRED_POLL_MS, run_later, job) != GANTRY_OK)
            return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL,
                                   "could not wait for AWS credentials");
        return GANTRY_PAUSE;
    }
    char why[256] = "";
    aws_creds_error(bg->creds, why, sizeof why);
    return bg_service_fail(job, 503, GANTRY_ERR_SERVER, "no AWS credentials: %s",
                           why[0] ? why : "the credential chain found none");
}

gantry_action_t bg_start(bg_job_t *job)
{
    return attempt(job);
}

gantry_action_t bg_start_soon(bg_job_t *job)
{
    const gantry_host_t *h = job->bg->host;
    /* The timer callback that polls for credentials starts the call as soon as it can. */
    if (h->timer_start(job->req, 0, run_later, job) != GANTRY_OK)
        return bg_service_fail(job, 500, GANTRY_ERR_INTERNAL, "could not schedule the check");
    return GANTRY_PAUSE;
}
