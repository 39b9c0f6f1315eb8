/*
 * max_length guardrail: internal declarations shared by the checks (max_length.c) and the
 * configuration (ml_conf.c).
 */
#ifndef GANTRY_PLUGIN_ML_INT_H
#define GANTRY_PLUGIN_ML_INT_H

#include <gantry/gantry.h>

/* Tokens are estimated as characters / 4 (rounded up): OpenAI's rule of thumb for English.  The
 * guardrail has no tokenizer on purpose; README.md says how far off the estimate can be. */
#define ML_CHARS_PER_TOKEN 4

/* Instance state: read-only after create().  A limit of 0 is not checked. */
typedef struct ml_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
    const char *name;
    int64_t max_input_chars;
    int64_t max_input_tokens;
    int64_t max_messages;
    int64_t max_output_chars;
} ml_instance_t;

/* Characters streamed so far for one choice (arena). */
typedef struct ml_choice {
    struct ml_choice *next;
    int64_t index;
    int64_t chars;
} ml_choice_t;

/* Unicode characters (code points) of UTF-8 text: the bytes that do not continue a sequence. */
int64_t ml_chars(const char *s, size_t len);

gantry_action_t ml_check_request(gantry_req_t *req, void *state, void *worker_state);
gantry_action_t ml_check_response(gantry_req_t *req, void *state, void *worker_state);
gantry_action_t ml_check_chunk(gantry_req_t *req, void *state, void *worker_state,
                               gantry_json_t *chunk);

#endif
