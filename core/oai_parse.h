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

/* /v1/embeddings: the body checked (model, input, encoding_format, dimensions, user). */
int oai_parse_embeddings(const char *body, size_t len, oai_chat_t *out, oai_err_t *err);

/*
 * /v1/completions: the body checked and turned into a canonical chat request (the prompt becomes
 * one user message; the original "prompt" member stays for providers with a native text-completion
 * API, see sdk/CANONICAL.md).
 */
int oai_parse_completion(const char *body, size_t len, oai_chat_t *out, oai_err_t *err);

/* Shared by the parsers: fill err (400 invalid_request_error) and return -1; fmt has one %s. */
int oai_bad(oai_err_t *e, const char *param, const char *code, const char *fmt, const char *arg);
int oai_check_number(const cJSON *root, const char *key, oai_err_t *e);
int oai_check_int(const cJSON *root, const char *key, oai_err_t *e);

#endif
