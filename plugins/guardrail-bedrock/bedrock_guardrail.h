/*
 * The Amazon Bedrock guardrail: declarations shared by its source files.  Nothing here leaves the
 * plugin; the only exported symbol is gantry_plugin_describe() in bg_conf.c.
 *
 * Files: bg_conf.c (configuration, instance lifecycle, descriptor), bg_wire.c (the ApplyGuardrail
 * body and the parsing of its answer: pure, unit-tested and fuzzed), bg_call.c (credentials,
 * signing, the side call, and how a finished check resumes the request or delivers its verdict),
 * bg_request.c (prompts: pre_call and during_call), bg_response.c (non-streamed completions),
 * bg_stream.c (streamed completions, checked in windows).
 */
#ifndef GANTRY_GUARDRAIL_BEDROCK_H
#define GANTRY_GUARDRAIL_BEDROCK_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <gantry/gantry.h>

#include "aws.h"

#define BG_DEFAULT_TIMEOUT_MS 5000
#define BG_MIN_TIMEOUT_MS 50
#define BG_MAX_TIMEOUT_MS (10 * 60 * 1000)
#define BG_DEFAULT_WINDOW 1000
#define BG_MIN_WINDOW 20
#define BG_MAX_WINDOW 100000
/* Characters of the previous window sent again before the new text of a stream window, so that a
 * word split across two windows is still seen whole. */
#define BG_WINDOW_OVERLAP 100
/* A stream window grows: the window doubles after every this many checks of one response, which
 * bounds the checks (and deferred verdicts) of a very long completion. */
#define BG_WINDOW_DOUBLING 8
/* ApplyGuardrail answers are small; anything larger is refused by the host. */
#define BG_MAX_ANSWER_BYTES (1u << 20)
/* Credentials still being fetched at the first request: poll this often, at most this long. */
#define BG_CRED_POLL_MS 25
#define BG_CRED_WAIT_US (10LL * 1000 * 1000)

/* Instance state: read-only after create(), shared by every worker thread. */
typedef struct bg_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
    const char *name;   /* the instance (guardrail_name), for messages and x-gantry-applied-... */
    unsigned modes;     /* GANTRY_GUARD_* */
    char *guardrail_id; /* guardrailIdentifier as configured (an id or an ARN) */
    char *version;      /* guardrailVersion: "DRAFT" or a number */
    char *endpoint;     /* bedrock-runtime base URL, no trailing '/' */
    char *url;          /* the ApplyGuardrail URL of this guardrail */
    char *region;       /* signing region */
    aws_cred_provider_t *creds;
    bool mask_request;  /* mask_request_content */
    bool mask_response; /* mask_response_content */
    int64_t timeout_ms;
    size_t stream_window; /* characters */
} bg_instance_t;

/* ---- bg_wire.c: the ApplyGuardrail wire format ---- */

#define BG_SUMMARY_LEN 240
#define BG_MESSAGE_LEN 200

/* What an ApplyGuardrail answer says. */
typedef struct bg_verdict {
    bool intervened;        /* action GUARDRAIL_INTERVENED (else NONE) */
    bool blocked;           /* some assessment entry has action BLOCKED */
    bool anonymized;        /* some assessment entry has action ANONYMIZED */
    gantry_json_t *root;    /* the parsed answer (request-owned; release it when done) */
    gantry_json_t *outputs; /* its "outputs" array, or NULL */
    size_t noutputs;
    /* The policies that acted, e.g. "topic 'Finance', PII EMAIL (anonymized)"; never the matched
     * text itself, which may be the very data the guardrail protects. */
    char summary[BG_SUMMARY_LEN + 1];
    /* The guardrail's own text for a block (its configured blocked messaging), cleaned of control
     * characters and shortened; empty when none. */
    char message[BG_MESSAGE_LEN + 1];
} bg_verdict_t;

/* What to do with a verdict. */
typedef enum bg_outcome {
    BG_PASS = 0,  /* nothing to do */
    BG_MASK = 1,  /* anonymized only: the outputs replace the text (when masking is on) */
    BG_BLOCK = 2, /* blocked, or intervened without saying how */
} bg_outcome_t;

/* The ApplyGuardrail body: {"source": source, "content": [{"text": {"text": t}}...]}, written into
 * arena memory.  GANTRY_OK or GANTRY_ENOMEM. */
int bg_build_body(const gantry_host_t *h, gantry_req_t *req, const char *source,
                  const gantry_str_t *texts, size_t n, gantry_str_t *out);
/* Parse an answer of HTTP 200.  0, or -1 with the reason in err when it is not one. */
int bg_parse_verdict(const gantry_host_t *h, gantry_req_t *req, gantry_str_t body, bg_verdict_t *v,
                     char *err, size_t errlen);
bg_outcome_t bg_outcome(const bg_verdict_t *v);
/* outputs[i].text of a verdict, or {NULL, 0} when it is not a string. */
gantry_str_t bg_output_text(const gantry_host_t *h, const bg_verdict_t *v, size_t i);
/* The "message" (or "Message") of an AWS error body, cleaned and shortened, into out. */
void bg_error_message(const gantry_host_t *h, gantry_req_t *req, gantry_str_t body, char *out,
                      size_t len);
/* Copy at most max bytes of s into out (size len), control characters replaced by spaces and
 * never cutting a UTF-8 sequence; "..." marks a cut. */
void bg_clean(gantry_str_t s, size_t max, char *out, size_t len);

/* ---- bg_call.c: one check ---- */

typedef enum bg_job_kind {
    BG_JOB_PRE = 1,    /* pre_call: the request is PAUSEd until the verdict */
    BG_JOB_DURING = 2, /* during_call: a deferred verdict that holds the response */
    BG_JOB_POST = 3,   /* post_call, non-streamed: the request is PAUSEd */
    BG_JOB_WINDOW = 4, /* post_call, a window of a stream: a deferred verdict, text flows */
} bg_job_kind_t;

struct bg_choice;

/* One ApplyGuardrail call and what to do with its answer (arena memory). */
typedef struct bg_job {
    const bg_instance_t *bg;
    gantry_req_t *req;
    bg_job_kind_t kind;
    int ticket;              /* deferred kinds: the verdict ticket, -1 before there is one */
    bool abandoned;          /* the verdict could not be deferred: the answer is ignored */
    gantry_str_t body;       /* the ApplyGuardrail JSON */
    gantry_json_t **targets; /* string nodes whose texts were sent, in order (for masking) */
    size_t ntargets;
    struct bg_choice *choice; /* windows: the stream choice checked */
    int64_t cred_wait_start_us;
    int64_t sent_us;
} bg_job_t;

/*
 * Start the call of a job: at once when credentials are ready, else after polling for them.
 * GANTRY_PAUSE: the job is under way and will finish through bg_finish() (never before this
 * returns).  GANTRY_FAIL: it could not start, host->req_fail() was called.
 */
gantry_action_t bg_start(bg_job_t *job);
/*
 * The same from the next turn of the worker's loop.  A stream's chunks are checked inside the
 * upstream transfer's own callbacks, where no other transfer can be added (libcurl refuses a
 * multi-handle call from a callback), so a window's call starts from a 0 ms timer.
 */
gantry_action_t bg_start_soon(bg_job_t *job);
/* End a job with `action`: resume a paused request, or deliver the verdict of a ticket. */
void bg_finish(bg_job_t *job, gantry_action_t action);
/* A guardrail service failure (not a verdict): req_fail with a class the core applies fail_open
 * to.  Returns GANTRY_FAIL. */
gantry_action_t bg_service_fail(bg_job_t *job, int status, gantry_error_class_t cls,
                                const char *fmt, ...) GANTRY_PRINTF(4, 5);
/* A blocking verdict: req_fail with GANTRY_ERR_GUARDRAIL naming the guardrail and the policies.
 * `what` is "Request" or "Response".  Returns GANTRY_FAIL. */
gantry_action_t bg_block(bg_job_t *job, const bg_verdict_t *v, const char *what, bool mask_off);
/* Name the guardrail in x-gantry-applied-guardrails and the log record. */
void bg_note(const bg_instance_t *bg, gantry_req_t *req);
/* Write outputs[i] into targets[i] where they differ.  The number of texts changed, or -1 when the
 * outputs do not line up with what was sent (then nothing was changed), -2 out of memory. */
int bg_apply_outputs(const bg_instance_t *bg, gantry_req_t *req, const bg_verdict_t *v,
                     gantry_json_t **targets, size_t n);
/* The texts of targets as views (arena array), for bg_build_body(). */
gantry_str_t *bg_target_texts(const gantry_host_t *h, gantry_req_t *req, gantry_json_t **targets,
                              size_t n);

/* ---- the phases ---- */

/* A growing list of JSON string nodes (arena). */
typedef struct bg_nodes {
    gantry_json_t **v;
    size_t n, cap;
} bg_nodes_t;
int bg_nodes_push(const gantry_host_t *h, gantry_req_t *req, bg_nodes_t *l, gantry_json_t *node);

/* bg_request.c */
/* The texts of a canonical request the guardrail checks (system, developer and user messages;
 * embeddings inputs), in order.  GANTRY_OK or GANTRY_ENOMEM. */
int bg_request_texts(const gantry_host_t *h, gantry_req_t *req, gantry_json_t *body,
                     gantry_endpoint_t ep, bg_nodes_t *out);
gantry_action_t bg_check_request(gantry_req_t *req, void *state, void *worker_state);
/* The verdict of a request check (pre_call or during_call): CONTINUE or FAIL. */
gantry_action_t bg_request_verdict(bg_job_t *job, const bg_verdict_t *v);

/* bg_response.c */
int bg_response_texts(const gantry_host_t *h, gantry_req_t *req, gantry_json_t *resp,
                      bg_nodes_t *out);
gantry_action_t bg_check_response(gantry_req_t *req, void *state, void *worker_state);
gantry_action_t bg_response_verdict(bg_job_t *job, const bg_verdict_t *v);

/* bg_stream.c */

/* The text of one streamed choice (instance memory, freed when the request ends). */
typedef struct bg_choice {
    struct bg_choice *next;
    const bg_instance_t *bg;
    int64_t index; /* choices[].index */
    char *buf;     /* [0, overlap): checked context; [overlap, len): text not checked yet */
    size_t len, cap;
    size_t overlap;
    size_t pending_chars; /* characters of [overlap, len) */
    bool in_flight;       /* a window of this choice is being checked */
    bool finished;        /* its finish_reason arrived */
} bg_choice_t;

/* Per-request state of an instance (host->req_data). */
typedef struct bg_req {
    bg_choice_t *choices;
    unsigned windows; /* window checks started for this response */
    bool blocked;     /* a window blocked: the stream is over */
    bool gave_up;     /* no more verdicts could be deferred (failed open): stop checking */
} bg_req_t;

bg_req_t *bg_req_state(const bg_instance_t *bg, gantry_req_t *req);
gantry_action_t bg_check_chunk(gantry_req_t *req, void *state, void *worker_state,
                               gantry_json_t *chunk);
/* The verdict of a window: CONTINUE or FAIL (a block, which ends the stream's checks). */
gantry_action_t bg_window_verdict(bg_job_t *job, const bg_verdict_t *v);
/* A window's call ended (any outcome): unless the stream was blocked, start the next window when
 * its text is due.  CONTINUE, or FAIL (after req_fail) when the next window could not start. */
gantry_action_t bg_window_done(bg_job_t *job);
/* Characters (UTF-8 code points) in s, and the offset where the last `chars` of them start. */
size_t bg_utf8_chars(const char *s, size_t len);
size_t bg_utf8_tail(const char *s, size_t len, size_t chars);
/* The window size of the n-th check of a response. */
size_t bg_window_size(size_t window, unsigned n);

#endif
