/*
 * aws_internal: what the pieces of the aws library share and what its tests and fuzz targets reach
 * directly (the parsers are separate functions so they can be fuzzed).  Not for plugins: they use
 * aws.h only.
 */
#ifndef GANTRY_AWS_INTERNAL_H
#define GANTRY_AWS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws.h"

/* ---- a growable string; an allocation failure sticks in `oom` and is checked once at the end ----
 */

typedef struct aws_buf {
    char *p;
    size_t len, cap;
    bool oom;
} aws_buf_t;

void aws_buf_put(aws_buf_t *b, const void *data, size_t len);
void aws_buf_puts(aws_buf_t *b, const char *s);
void aws_buf_putc(aws_buf_t *b, char c);
/* The NUL-terminated string (the caller frees it), or NULL after an allocation failure. */
char *aws_buf_take(aws_buf_t *b);
void aws_buf_free(aws_buf_t *b);

/* Free a string that may hold a secret: it is wiped first. NULL is fine. */
void aws_free_secret(char *s);
char *aws_strndup(const char *s, size_t n);

/* Up to 120 bytes of untrusted text for an error message, controls replaced by '?'. */
void aws_excerpt(char *dst, size_t dstlen, const char *s, size_t len);

/* HMAC-SHA256 (32 bytes out). */
void aws_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                     unsigned char out[32]);
void aws_hex(const unsigned char *in, size_t len, char *out); /* 2*len chars + NUL */

/* Form/query encoding of one value for the STS Query API: the SigV4 encoding ('/' encoded too). */
void aws_buf_put_encoded(aws_buf_t *b, const char *s, size_t len);

/* ---- parsers of what credential endpoints return (aws_parse.c) ---- */

/* ISO-8601 / RFC 3339 timestamp ("2024-05-01T12:34:56Z", fractions and +hh:mm offsets allowed) to
 * unix milliseconds; -1 when malformed. */
int aws_parse_iso8601(const char *s, size_t len, int64_t *out_ms);

/*
 * The value of a top-level string member `key` of a JSON object, unescaped into a malloc'd string;
 * NULL when the document is not an object, the member is missing or not a string, or on malformed
 * JSON before the member is found.
 */
char *aws_json_string(const char *json, size_t len, const char *key);

/*
 * The text of the first element named `tag` (no namespace prefix) inside the first element named
 * `within` (NULL: anywhere), entities decoded, in a malloc'd string; NULL when absent/malformed.
 */
char *aws_xml_text(const char *xml, size_t len, const char *within, const char *tag);

/* ---- the shared config and credentials files (aws_ini.c) ---- */

typedef struct aws_ini aws_ini_t;

/*
 * Parse one file's text.  `config_file`: sections are "[default]" or "[profile NAME]" (the config
 * file); otherwise "[NAME]" (the credentials file).  Never fails on bad input (bad lines are
 * skipped); NULL only when out of memory.
 */
aws_ini_t *aws_ini_parse(const char *text, size_t len, bool config_file);
void aws_ini_free(aws_ini_t *ini);
bool aws_ini_has_profile(const aws_ini_t *ini, const char *profile);
/* The value of `key` (case-insensitive) in `profile`, or NULL.  Borrowed from ini. */
const char *aws_ini_get(const aws_ini_t *ini, const char *profile, const char *key);

/* ---- HTTP for credential fetches (aws_http.c): blocking, background thread only ---- */

typedef struct aws_http_req {
    const char *method; /* "GET", "PUT", "POST" */
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated list (or NULL) */
    const char *body;
    size_t body_len;
    long connect_timeout_ms;
    long timeout_ms;
    bool no_proxy; /* link-local metadata endpoints are never reached through a proxy */
    const _Atomic bool *cancel; /* aborts the transfer when it becomes true (or NULL) */
} aws_http_req_t;

typedef struct aws_http_resp {
    long status; /* 0 when no response arrived */
    char *body;  /* NUL-terminated, malloc'd (capped at 64 KiB) */
    size_t body_len;
    char error[160]; /* why the transfer failed, when status == 0 */
} aws_http_resp_t;

/* 0 when a response arrived (any status), -1 otherwise (resp->error says why). */
int aws_http(const aws_http_req_t *req, aws_http_resp_t *resp);
void aws_http_resp_free(aws_http_resp_t *resp);

#endif
