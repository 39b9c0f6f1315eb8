/*
 * anth: Anthropic Messages <-> canonical (sdk/CANONICAL.md) translation.  Pure functions with no
 * server state, so the Anthropic route (api_anthropic.c), the Bedrock InvokeModel route (whose
 * bodies are Anthropic Messages bodies for Claude models), the unit tests and the fuzz target all
 * share them.  Nothing here allocates from a request arena: every cJSON returned is owned by the
 * caller and freed with cJSON_Delete().  Thread-safe (no globals).
 */
#ifndef GANTRY_ANTH_H
#define GANTRY_ANTH_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A request the client got wrong, in Anthropic's terms. */
typedef struct anth_err {
    int status;        /* 400 (413 for a body over the limit: set by the caller) */
    const char *type;  /* Anthropic error type: "invalid_request_error" */
    const char *param; /* the offending field, may be NULL (static string) */
    char message[320];
} anth_err_t;

/*
 * Translate an Anthropic Messages request body into a new canonical (OpenAI chat) request.
 * `body` is borrowed and not modified; on success *out is a new object owned by the caller.
 *
 * "model" is required unless the body has "anthropic_version" (Bedrock InvokeModel bodies name the
 * model in the URL); when absent the canonical request has no "model" and the caller sets one.
 * "max_tokens" is required, as Anthropic requires it.  "stream": true becomes "stream": true.
 * metadata.user_id becomes "user".  Server tools (web_search, ...) are refused as unsupported.
 * Returns 0, or -1 with *err filled (and *out NULL).
 */
int anth_to_canonical(const cJSON *body, cJSON **out, anth_err_t *err);

/* Parse JSON text and translate it (the route and the fuzz target): as anth_to_canonical. */
int anth_parse(const char *text, size_t len, cJSON **out, anth_err_t *err);

/*
 * A character-based token estimate for /v1/messages/count_tokens: about 4 characters a token over
 * the system prompt, message text, tool definitions and tool inputs/results, plus a small fixed
 * cost per message and per image/document.  Never negative; body may be anything.
 */
int64_t anth_count_tokens(const cJSON *body);

/*
 * Anthropic's error "type" for an HTTP status (and the gateway's error class when the status is
 * ambiguous): 400 invalid_request_error, 401 authentication_error, 403 permission_error,
 * 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 503/529 overloaded_error,
 * other 5xx api_error.  cls is a gantry_error_class_t (int here to keep this header small).
 */
const char *anth_error_type(int status, int cls);

/* Anthropic's stop_reason for a canonical finish_reason (NULL stays NULL; unknown -> end_turn). */
const char *anth_stop_reason(const char *finish_reason);

/*
 * Translate a canonical chat.completion into an Anthropic message:
 * {"id","type":"message","role":"assistant","model","content":[thinking..., text, tool_use...],
 *  "stop_reason","stop_sequence","usage":{input_tokens (prompt minus cache reads and writes),
 *  output_tokens, cache_creation_input_tokens, cache_read_input_tokens}}.
 * id and model (borrowed) replace the canonical ones; NULL keeps the canonical value ("msg_" is
 * not added: pass the full id).  A choice carrying "stop_sequence": "<text>" (an extension a
 * provider may set) gives stop_reason "stop_sequence".  Returns a new object, NULL only when out
 * of memory.  canon may be any JSON: missing parts give an empty message.
 */
cJSON *anth_from_canonical_response(const cJSON *canon, const char *id, const char *model);

/*
 * Stream translation: canonical chat.completion.chunk objects in, Anthropic stream events out.
 * Each event is a JSON object whose "type" is also its SSE event name (message_start, ping,
 * content_block_start, content_block_delta, content_block_stop, message_delta, message_stop).
 * The callback borrows the event for the duration of the call; a non-zero return stops the
 * translation and is returned by the caller of anth_stream_chunk/anth_stream_finish.
 *
 * Order produced: message_start, ping, then content blocks (thinking, text, tool_use) each as
 * start/delta.../stop with increasing indexes, then message_delta (stop_reason, usage) and
 * message_stop.  message_delta is sent when the canonical usage chunk ("choices":[] with "usage")
 * arrives after a finish_reason, or else by anth_stream_finish.
 */
typedef int (*anth_emit_fn)(void *ctx, const cJSON *event);

enum anth_block { ANTH_BLK_NONE = 0, ANTH_BLK_TEXT, ANTH_BLK_THINKING, ANTH_BLK_TOOL };

/* Plain data (no allocations: an arena may hold it); set up with anth_stream_init().  Fields are
 * private to anth_resp.c. */
typedef struct anth_stream {
    const char *id;    /* borrowed: must outlive the stream */
    const char *model; /* borrowed: must outlive the stream */
    bool started;      /* message_start sent */
    bool delta_sent;   /* message_delta sent */
    bool stopped;      /* message_stop sent: everything after is ignored */
    enum anth_block open;
    bool thinking_signed; /* the open thinking block got its signature: more text opens another */
    int next_index;       /* index of the next content block */
    int open_tool;        /* canonical tool_calls index of the open tool_use block */
    int max_tool;         /* highest canonical tool index given a block (-1: none) */
    int tool_serial;      /* for ids the provider did not give */
    const char *stop_reason;   /* a static string, NULL until a finish_reason came */
    const char *stop_sequence; /* NULL, or stop_seq_buf (chunks are borrowed, so it is copied) */
    char stop_seq_buf[128];
    bool have_usage;
    int64_t input_tokens, output_tokens, cache_read, cache_creation;
} anth_stream_t;

void anth_stream_init(anth_stream_t *s, const char *id, const char *model);
/* One canonical chunk (borrowed).  Returns 0 or the callback's non-zero value. */
int anth_stream_chunk(anth_stream_t *s, const cJSON *chunk, anth_emit_fn emit, void *ctx);
/* End of the stream: message_start (if nothing came), open block stop, message_delta and
 * message_stop, each only if not yet sent.  Returns 0 or the callback's non-zero value. */
int anth_stream_finish(anth_stream_t *s, anth_emit_fn emit, void *ctx);

#endif
