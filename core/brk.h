/*
 * brk: the Bedrock Runtime client API (Converse, ConverseStream, InvokeModel,
 * InvokeModelWithResponseStream) translated to and from the canonical request and response
 * (sdk/CANONICAL.md).  Pure functions with no server state (times come in as arguments), shared by
 * the route (api_bedrock.c), the unit tests and the fuzz target.  Every cJSON returned is owned by
 * the caller and freed with cJSON_Delete(); every input cJSON is borrowed and left unchanged.
 * Thread-safe (no globals).
 *
 *   brk_req.c     Converse request -> canonical request
 *   brk_resp.c    canonical response / chunks -> Converse response / ConverseStream events, errors
 *   brk_invoke.c  InvokeModel bodies of each model family, both ways
 */
#ifndef GANTRY_BRK_H
#define GANTRY_BRK_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anth.h"
#include "util.h"

/* A request the client got wrong: answered as a ValidationException. */
typedef struct brk_err {
    int status; /* 400 */
    char message[320];
} brk_err_t;

/* Flags of the Converse translations. */
#define BRK_NOVA                                                                     \
    1u /* an InvokeModel body of Amazon Nova: Converse-shaped, with Nova's spellings \
        */

/* ---- requests (brk_req.c) ---- */

/*
 * Translate a Converse request body into a new canonical request for `model` (borrowed; the model
 * group from the URL), with "stream": true when `stream`.  Returns 0 and *out, or -1 with *err
 * filled and *out NULL.
 */
int brk_converse_to_canonical(const cJSON *body, const char *model, bool stream, unsigned flags,
                              cJSON **out, brk_err_t *err);
/* Parse JSON text and translate it (the route and the fuzz target): as above. */
int brk_converse_parse(const char *text, size_t len, const char *model, bool stream, cJSON **out,
                       brk_err_t *err);

/*
 * The Gantry key inside a SigV4 Authorization header value signed with the key as the access key
 * id: "AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, ..." (the key may
 * be written "Bearer <key>").  True and a view into v, or false when v is no such header.
 */
bool brk_sigv4_key(const char *v, size_t n, const char **key, size_t *key_len);

/* Percent-decode a model id from the URL path into out (cap bytes, NUL-terminated).  False when it
 * is empty, too long, malformed or would contain a NUL. */
bool brk_decode_model(const char *p, size_t n, char *out, size_t cap);

/* ---- responses and streams (brk_resp.c) ---- */

/* Token counts as Bedrock reports them: input excludes cache reads and writes. */
typedef struct brk_usage {
    int64_t input, output, total, cache_read, cache_write;
    bool has_cache; /* the provider reported prompt-cache activity */
} brk_usage_t;

/* Read a canonical "usage" object (anything: missing or malformed parts count 0). */
void brk_usage_read(const cJSON *usage, brk_usage_t *u);

/* Bedrock's stopReason for a canonical finish_reason (NULL or unknown -> "end_turn"). */
const char *brk_stop_reason(const char *finish_reason);

/*
 * A canonical chat.completion as a Converse response:
 * {"output":{"message":{"role":"assistant","content":[reasoningContent..., text, toolUse...]}},
 *  "stopReason","usage":{...},"metrics":{"latencyMs"}}.  latency_ms < 0 leaves out "metrics".
 * With BRK_NOVA the cache counts are named as Nova's InvokeModel names them.  NULL only when out of
 * memory; canon may be any JSON.
 */
cJSON *brk_converse_response(const cJSON *canon, int64_t latency_ms, unsigned flags);

/*
 * ConverseStream: canonical chunks in, Converse stream events out, each as its event type
 * (messageStart, contentBlockStart, contentBlockDelta, contentBlockStop, messageStop, metadata)
 * and payload, which the callback borrows for the call.  A non-zero callback return stops the
 * translation and is returned.  Text and reasoning blocks have no contentBlockStart (as Bedrock
 * sends them); tool-use blocks do.  messageStop follows the chunk with the finish_reason; metadata
 * (usage, latency) is sent by brk_stream_finish, after the usage chunk has had its chance.
 */
typedef int (*brk_emit_fn)(void *ctx, const char *event_type, const cJSON *payload);

#define BRK_MAX_TOOLS 64

enum brk_block { BRK_BLK_NONE = 0, BRK_BLK_TEXT, BRK_BLK_REASONING, BRK_BLK_TOOL };

/* Plain data; zero it with brk_stream_init().  Fields are private to brk_resp.c. */
typedef struct brk_stream {
    unsigned flags;
    bool started;  /* messageStart sent */
    bool stopped;  /* messageStop sent */
    bool finished; /* metadata sent: everything after is ignored */
    enum brk_block open;
    int open_index; /* contentBlockIndex of the open block */
    int open_tool;  /* canonical tool_calls index of the open tool block */
    int next_index;
    int tool_block[BRK_MAX_TOOLS]; /* canonical tool index -> contentBlockIndex, -1 none */
    int tool_serial;
    bool saw_tool;           /* a tool-use block was started */
    const char *stop_reason; /* static string */
    bool have_usage;
    brk_usage_t usage;
} brk_stream_t;

void brk_stream_init(brk_stream_t *s, unsigned flags);
int brk_stream_chunk(brk_stream_t *s, const cJSON *chunk, brk_emit_fn emit, void *ctx);
/* The end: messageStart, the open block's stop and messageStop if not yet sent, then metadata. */
int brk_stream_finish(brk_stream_t *s, int64_t latency_ms, brk_emit_fn emit, void *ctx);

/* How a gateway error is told to a Bedrock client. */
typedef struct brk_errmap {
    int status;        /* HTTP status of a non-streamed error */
    const char *type;  /* x-amzn-errortype, e.g. "ThrottlingException" */
    const char *event; /* :exception-type of a stream exception, e.g. "throttlingException" */
} brk_errmap_t;

/*
 * Map an error (status, gantry_error_class_t as int).  `upstream`: the error came from a provider
 * (an upstream 401 is the gateway's credential problem, not the client's); `invoke`: the stream is
 * an InvokeModelWithResponseStream (which has modelTimeoutException).
 */
void brk_error_map(int status, int cls, bool upstream, bool invoke, brk_errmap_t *out);

/* {"message":"..."} (Bedrock's error body).  0 or -1 (out of memory). */
int brk_error_json(buf_t *out, const char *msg, size_t len);
/* One event-stream event message (:message-type event, JSON payload).  0 or -1. */
int brk_evs_event(buf_t *out, const char *event_type, const cJSON *payload);
/* One event-stream exception message with payload {"message"} (plus originalStatusCode for
 * modelStreamErrorException when status > 0).  0 or -1. */
int brk_evs_exception(buf_t *out, const char *exception_type, const char *msg, size_t len,
                      int status);
/* Append the standard base64 of p[0..n). 0 or -1. */
int brk_b64_append(buf_t *out, const void *p, size_t n);

/* ---- InvokeModel (brk_invoke.c) ---- */

/*
 * InvokeModel bodies are the model family's own format; the family is recognised from the body
 * (brk_invoke_detect documents the rule) and the answer is written in the same family's format.
 */
typedef enum brk_family {
    BRK_FAM_UNKNOWN = 0,
    BRK_FAM_ANTHROPIC, /* Anthropic Messages (Claude) */
    BRK_FAM_NOVA,      /* Amazon Nova: Converse-shaped messages */
    BRK_FAM_TITAN,     /* Amazon Titan Text: inputText */
    BRK_FAM_LLAMA,     /* Meta Llama: prompt, max_gen_len */
    BRK_FAM_MISTRAL,   /* Mistral: prompt, max_tokens */
    BRK_FAM_OPENAI,    /* OpenAI chat bodies (gpt-oss on Bedrock): the canonical shape itself */
} brk_family_t;

const char *brk_family_name(brk_family_t f);
brk_family_t brk_invoke_detect(const cJSON *body);

/* Parse and translate an InvokeModel body: as brk_converse_parse, plus the family found. */
int brk_invoke_parse(const char *text, size_t len, const char *model, bool stream,
                     brk_family_t *fam, cJSON **out, brk_err_t *err);

/* A canonical chat.completion in the family's response format.  id and model are borrowed (the
 * Anthropic message's "id" and "model").  NULL only when out of memory. */
cJSON *brk_invoke_response(brk_family_t fam, const cJSON *canon, const char *id, const char *model);

/* What goes into "amazon-bedrock-invocationMetrics" of a stream's last chunk. */
typedef struct brk_metrics {
    int64_t latency_ms;    /* invocationLatency */
    int64_t first_byte_ms; /* firstByteLatency */
} brk_metrics_t;

/* InvokeModelWithResponseStream: canonical chunks in, `chunk` events out ({"bytes": base64 of the
 * family's own stream chunk JSON}).  Plain data; set up with brk_istream_init(). */
typedef struct brk_istream {
    brk_family_t fam;
    anth_stream_t anth;
    brk_stream_t conv;
    bool have_usage;
    brk_usage_t usage;
    bool finished;
    int64_t pieces;     /* text deltas sent (the running token count of Titan and Llama chunks) */
    const char *finish; /* canonical finish_reason seen (static string), NULL before */
    const brk_metrics_t *metrics; /* during a call */
    buf_t *out;                   /* during a call */
} brk_istream_t;

/* id and model are borrowed and must outlive the stream. */
void brk_istream_init(brk_istream_t *s, brk_family_t fam, const char *id, const char *model);
/* Append the events for one canonical chunk to out.  0 or -1 (out of memory). */
int brk_istream_chunk(brk_istream_t *s, const cJSON *chunk, const brk_metrics_t *m, buf_t *out);
/* Append the last events (the family's final chunk with the invocation metrics).  0 or -1. */
int brk_istream_finish(brk_istream_t *s, const brk_metrics_t *m, buf_t *out);

#endif
