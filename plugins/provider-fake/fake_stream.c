/*
 * The fake provider: streamed answers.  After `latency` the role chunk and the first token go out
 * together (so latency is the time to first token), then one token every `token_latency`, and right
 * after the last token the finish chunk, the usage chunk and the end of the stream.  With a
 * token_latency of 0 everything after the latency goes out at once.
 *
 * The run lives in the request arena and the core cancels pending timers when the request finishes
 * early, so a timer never sees freed state; after host->stream_end() the request may be finished,
 * so nothing touches the run afterwards.
 */
#include "fake.h"

typedef enum step_result {
    STEP_MORE,   /* tokens remain: schedule the next step */
    STEP_DONE,   /* the stream ended: the run may be gone */
    STEP_FAILED, /* an error is recorded with req_fail() */
} step_result_t;

static bool emit(fake_run_t *run, gantry_json_t *chunk)
{
    const gantry_host_t *host = run->host;
    int rc = chunk != NULL ? host->stream_chunk_take(run->req, chunk) : GANTRY_ENOMEM;
    if (rc != GANTRY_OK) {
        host->req_fail(run->req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                       "could not emit a fake stream chunk: %s", host->strerror(rc));
        return false;
    }
    return true;
}

/*
 * Emit what is due now: the role chunk on the first step, then one token (or every token when
 * `all`), and the closing chunks once the last token is out.
 */
static step_result_t step(fake_run_t *run, bool all)
{
    if (run->words.index == 0 && !emit(run, fake_reply_chunk_role(run)))
        return STEP_FAILED;
    while (run->words.index < run->total) {
        gantry_str_t token = fake_words_next(&run->words);
        if (!emit(run, fake_reply_chunk_token(run, token)))
            return STEP_FAILED;
        if (!all && run->words.index < run->total)
            return STEP_MORE;
    }
    if (!emit(run, fake_reply_chunk_finish(run)) || !emit(run, fake_reply_chunk_usage(run)))
        return STEP_FAILED;
    run->host->stream_end(run->req);
    return STEP_DONE;
}

static void on_tick(gantry_req_t *req, void *arg);

static bool schedule(fake_run_t *run, uint64_t delay_ms)
{
    const gantry_host_t *host = run->host;
    int rc = host->timer_start(run->req, delay_ms, on_tick, run);
    if (rc != GANTRY_OK) {
        host->req_fail(run->req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                       "could not start a timer: %s", host->strerror(rc));
        return false;
    }
    return true;
}

/*
 * A step that runs from a timer has nobody to return FAIL to.  invoke() returned PAUSE, so the
 * failure is handed over the way PAUSE promises: the error is already recorded, and resume()
 * continues the request with FAIL.
 */
static void on_tick(gantry_req_t *req, void *arg)
{
    fake_run_t *run = arg;
    const gantry_host_t *host = run->host;
    step_result_t r = step(run, run->dep->token_latency_ms == 0);
    if (r == STEP_FAILED || (r == STEP_MORE && !schedule(run, run->dep->token_latency_ms)))
        host->resume(req, GANTRY_FAIL);
}

gantry_action_t fake_stream_start(fake_run_t *run)
{
    const fake_deployment_t *dep = run->dep;
    if (dep->latency_ms > 0)
        return schedule(run, dep->latency_ms) ? GANTRY_PAUSE : GANTRY_FAIL;

    /* No latency: the first step runs now, inside invoke(), which can still return FAIL itself. */
    step_result_t r = step(run, dep->token_latency_ms == 0);
    if (r == STEP_FAILED || (r == STEP_MORE && !schedule(run, dep->token_latency_ms)))
        return GANTRY_FAIL;
    return GANTRY_PAUSE;
}
