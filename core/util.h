/* util: small shared helpers (growable byte buffers with a hard limit, clocks, durations, ids). */
#ifndef GANTRY_UTIL_H
#define GANTRY_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A malloc'd byte buffer that refuses to grow past `limit` (0 = no limit). */
typedef struct buf {
    char *ptr;
    size_t len, cap, limit;
} buf_t;

int buf_append(buf_t *b, const void *p, size_t n); /* 0, or -1 when over limit / out of memory */
int buf_appendz(buf_t *b, const char *s);
void buf_reset(buf_t *b); /* len = 0, keeps the memory */
void buf_free(buf_t *b);

int64_t now_us(void);  /* monotonic */
int64_t unix_ms(void); /* wall clock */

/*
 * A duration in configuration: a number of seconds (int or float) or a string with a unit suffix
 * ("250ms", "30s", "5m", "1h").  Returns 0 and milliseconds in *ms, or -1.
 */
int parse_duration_ms(const char *s, int64_t *ms);

/* Lowercase hex SHA-256 of data into out[65]. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* A random request id (32 hex chars + NUL) from OpenSSL's CSPRNG-seeded generator. */
void random_id(char out[33]);

bool str_ieq(const char *a, size_t alen, const char *b);

/*
 * The value of parameter `name` in a URL query string q[0..qlen) ("a=1&b=x%20y"), percent- and
 * plus-decoded into buf (truncated to len - 1 bytes, always NUL-terminated); NULL when absent.
 */
const char *url_query_param(const char *q, size_t qlen, const char *name, char *buf, size_t len);

#endif
