/*
 * oai_parse: checking an OpenAI chat completion request body.  Pure (no server state), so the fuzz
 * target can drive it directly with arbitrary bytes.
 */
#ifndef GANTRY_OAI_PARSE_H
#define GANTRY_OAI_PARSE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct oai_err {
    int status;
    const char *type;
    const char *code;  /* may be NULL */
    const char *param; /* may be NULL */
    char message[320];
} oai_err_t;

typedef struct oai_chat {
    cJSON *root;
    const char *model;
    size_t model_len;
    bool stream;
    bool include_usage;
    const char *user; /* may be NULL */
} oai_chat_t;

/* 0 and a parsed request (root owned by the caller), or -1 and err filled. */
int oai_parse_chat(const char *body, size_t len, oai_chat_t *out, oai_err_t *err);

#endif
