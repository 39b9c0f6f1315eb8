/*
 * evs: the AWS event-stream binary framing (application/vnd.amazon.eventstream), both ways.
 *
 *   message = prelude (total length u32, headers length u32, prelude CRC32 u32)
 *             headers, payload, message CRC32 u32            (big endian; CRC-32/ISO-HDLC)
 *   header  = name length u8, name, value type u8, value (type 7 string / 6 bytes: u16 length + bytes;
 *             0/1 true/false: nothing; 2 byte; 3 i16; 4 i32; 5 i64; 8 timestamp i64; 9 uuid 16 bytes)
 *
 * The decoder is incremental: bytes are fed as they arrive (any split) and each complete, CRC-checked
 * message is handed to a callback.  Memory is bounded by max_msg.  The encoder writes string headers
 * only, which is all Bedrock's responses use.
 */
#ifndef GANTRY_EVS_H
#define GANTRY_EVS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define EVS_MAX_HEADERS 32

typedef struct evs_header {
    const char *name;
    size_t name_len;
    uint8_t type;      /* 7 string, 6 bytes, ... (see above) */
    const char *value; /* strings and bytes: the bytes; other types: the raw big-endian value */
    size_t value_len;
} evs_header_t;

/* One decoded message; views into the decoder's buffer, valid for the callback only. */
typedef struct evs_msg {
    evs_header_t headers[EVS_MAX_HEADERS];
    size_t nheaders;
    const char *payload;
    size_t payload_len;
} evs_msg_t;

/* Errors (negative; a callback's non-zero return value is passed through unchanged). */
#define EVS_E_TOO_LARGE (-1) /* a message is longer than max_msg */
#define EVS_E_CRC (-2)       /* prelude or message CRC mismatch */
#define EVS_E_MALFORMED (-3) /* lengths or headers do not add up */
#define EVS_E_TRUNCATED (-4) /* evs_dec_finish(): the stream ended inside a message */

typedef int (*evs_cb)(void *arg, const evs_msg_t *m);

typedef struct evs_dec {
    buf_t buf; /* bytes of the message being assembled */
    size_t max_msg;
} evs_dec_t;

void evs_dec_init(evs_dec_t *d, size_t max_msg);
/* Feed bytes; calls cb for each complete message.  0, an EVS_E_* error, or cb's non-zero return.
 * After an error the decoder must not be fed again. */
int evs_dec_feed(evs_dec_t *d, const char *p, size_t n, evs_cb cb, void *arg);
/* The stream ended: 0 when it ended on a message boundary, else EVS_E_TRUNCATED. */
int evs_dec_finish(evs_dec_t *d);
void evs_dec_free(evs_dec_t *d);

/* The value of a string header by name (exact, case-sensitive as AWS sends them); {NULL,0} if absent. */
typedef struct evs_str {
    const char *ptr;
    size_t len;
} evs_str_t;
evs_str_t evs_header_str(const evs_msg_t *m, const char *name);

/* Append one message with string headers {name, value} pairs.  0 or -1 (out of memory). */
typedef struct evs_kv {
    const char *name;
    const char *value;
    size_t value_len;
} evs_kv_t;
int evs_encode(buf_t *out, const evs_kv_t *headers, size_t nheaders, const void *payload,
               size_t payload_len);

/*
 * The provider frame of a message (gantry_frame_t, views into m): event = ":event-type", or for an
 * "exception" message its ":exception-type" (":error-code" for "error" messages); message_type =
 * ":message-type"; data = the payload.
 */
struct gantry_frame;
void evs_to_frame(const evs_msg_t *m, struct gantry_frame *f);

/* CRC-32 (ISO-HDLC, as zlib's crc32), incremental: start with crc = 0. */
uint32_t evs_crc32(uint32_t crc, const void *p, size_t n);

#endif
