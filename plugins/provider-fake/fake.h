/*
 * The fake provider: declarations shared by its source files.  Nothing here leaves the plugin; the
 * only exported symbol is gantry_plugin_describe() in fake.c.
 */
#ifndef GANTRY_PROVIDER_FAKE_H
#define GANTRY_PROVIDER_FAKE_H

#include <gantry/gantry.h>

/* Instance state: read-only after create(), shared by every worker thread. */
typedef struct fake_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
} fake_instance_t;

/* A deployment, read-only after deployment_create(); strings are NUL-terminated instance memory. */
typedef struct fake_deployment {
    gantry_str_t model;        /* model id after the prefix, echoed in answers */
    gantry_str_t response;     /* fixed answer text; ptr NULL when answers are generated */
    uint32_t tokens;           /* words of `response`, or completion_tokens */
    uint64_t latency_ms;       /* before the answer or the first chunk */
    uint64_t token_latency_ms; /* between streamed tokens */
} fake_deployment_t;

/* What invoke() needs to know about the canonical request (fake_prompt.c). */
typedef struct fake_prompt {
    uint64_t hash;           /* of the message texts: the same prompt gives the same answer */
    int64_t prompt_tokens;   /* ceil(text bytes / 4), at least 1 */
    int64_t max_tokens;      /* max_completion_tokens or max_tokens; -1 when absent */
    int error_status;        /* from "__fake_error__ <status> [<code>]"; 0 when not asked */
    gantry_str_t error_code; /* its optional code, borrowed from the request body */
} fake_prompt_t;

/* A cursor over the completion's tokens (fake_words.c); the first token has no leading space. */
typedef struct fake_words {
    const fake_deployment_t *dep;
    uint64_t seed;
    uint32_t index; /* of the next token */
    size_t pos;     /* in dep->response, when it is set */
} fake_words_t;

/*
 * One answer being produced: arena memory of the request, so it must not be touched after
 * host->stream_end() or host->resume(), which may finish the request.
 */
typedef struct fake_run {
    const gantry_host_t *host;
    const fake_deployment_t *dep;
    gantry_req_t *req;
    gantry_str_t id; /* "chatcmpl-<request id>" */
    int64_t created; /* unix seconds */
    int64_t prompt_tokens;
    uint32_t total; /* tokens to produce: dep->tokens cut to max_tokens */
    bool truncated; /* cut by max_tokens: finish_reason "length" */
    fake_words_t words;
} fake_run_t;

/* fake_conf.c */
extern const gantry_conf_field_t fake_deployment_fields[];
int fake_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                           gantry_str_t model_id, void **deployment);
void fake_deployment_destroy(void *state, void *deployment);
/* Parse "250ms", "2s", "1.5m" or "3" (seconds) into milliseconds; false when malformed. */
bool fake_parse_duration(gantry_str_t text, uint64_t *ms);

/* fake_prompt.c */
void fake_read_prompt(const gantry_host_t *host, gantry_req_t *req, fake_prompt_t *out);

/* fake_words.c */
void fake_words_init(fake_words_t *w, const fake_deployment_t *dep, uint64_t seed);
/* The next token (a view into static or deployment memory); empty once the text is exhausted. */
gantry_str_t fake_words_next(fake_words_t *w);
/* Count the whitespace-separated words of a fixed response. */
uint32_t fake_count_words(gantry_str_t text);

/* fake_reply.c: canonical JSON documents; NULL when the arena is exhausted. */
gantry_json_t *fake_reply_completion(fake_run_t *run);
gantry_json_t *fake_reply_chunk_role(fake_run_t *run);
gantry_json_t *fake_reply_chunk_token(fake_run_t *run, gantry_str_t token);
gantry_json_t *fake_reply_chunk_finish(fake_run_t *run);
gantry_json_t *fake_reply_chunk_usage(fake_run_t *run);

/* fake_stream.c: start a streamed answer; returns what invoke() returns. */
gantry_action_t fake_stream_start(fake_run_t *run);

/* fake_invoke.c */
gantry_action_t fake_invoke(gantry_req_t *req, void *state, void *deployment);

/* fake_embed.c: /v1/embeddings answers. */
gantry_action_t fake_embed(const fake_instance_t *inst, gantry_req_t *req,
                           const fake_deployment_t *dep);

#endif
