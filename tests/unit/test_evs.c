/*
 * The event-stream codec against vectors built independently (Python's zlib CRC-32 and struct; the
 * empty message is AWS's own "empty_message" vector), fed whole, split at every boundary and one
 * byte at a time; and every way a frame can be corrupt.
 */
#include <stdlib.h>

#include "check.h"
#include "evs.h"

/* headers :event-type chunk, :content-type application/json, :message-type event;
 * payload {"bytes":"aGk="} */
static const char vec_chunk[] =
    "\x00\x00\x00\x6b\x00\x00\x00\x4b\x6a\xce\x01\x2d\x0b\x3a\x65\x76\x65\x6e\x74\x2d\x74\x79\x70"
    "\x65\x07\x00\x05\x63\x68\x75\x6e\x6b\x0d\x3a\x63\x6f\x6e\x74\x65\x6e\x74\x2d\x74\x79\x70\x65"
    "\x07\x00\x10\x61\x70\x70\x6c\x69\x63\x61\x74\x69\x6f\x6e\x2f\x6a\x73\x6f\x6e\x0d\x3a\x6d\x65"
    "\x73\x73\x61\x67\x65\x2d\x74\x79\x70\x65\x07\x00\x05\x65\x76\x65\x6e\x74\x7b\x22\x62\x79\x74"
    "\x65\x73\x22\x3a\x22\x61\x47\x6b\x3d\x22\x7d\xbd\x9e\x57\x44";
/* headers count (int32 42), flag (bool true), :message-type exception, :exception-type
 * throttlingException; payload {"message":"slow down"} */
static const char vec_exc[] =
    "\x00\x00\x00\x78\x00\x00\x00\x51\xb0\xec\x15\x05\x05\x63\x6f\x75\x6e\x74\x04\x00\x00\x00\x2a"
    "\x04\x66\x6c\x61\x67\x00\x0d\x3a\x6d\x65\x73\x73\x61\x67\x65\x2d\x74\x79\x70\x65\x07\x00\x09"
    "\x65\x78\x63\x65\x70\x74\x69\x6f\x6e\x0f\x3a\x65\x78\x63\x65\x70\x74\x69\x6f\x6e\x2d\x74\x79"
    "\x70\x65\x07\x00\x13\x74\x68\x72\x6f\x74\x74\x6c\x69\x6e\x67\x45\x78\x63\x65\x70\x74\x69\x6f"
    "\x6e\x7b\x22\x6d\x65\x73\x73\x61\x67\x65\x22\x3a\x22\x73\x6c\x6f\x77\x20\x64\x6f\x77\x6e\x22"
    "\x7d\xb5\xfd\x01\xf7";
static const char vec_empty[] = "\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2\x48\xeb\x7d\x98\xc8\xff";

typedef struct seen {
    char text[4096];
    size_t len;
    int count;
} seen_t;

static int collect(void *arg, const evs_msg_t *m)
{
    seen_t *s = arg;
    evs_str_t et = evs_header_str(m, ":event-type"), mt = evs_header_str(m, ":message-type");
    evs_str_t xt = evs_header_str(m, ":exception-type");
    int n = snprintf(s->text + s->len, sizeof s->text - s->len, "[%zu|%.*s|%.*s|%.*s|%.*s]",
                     m->nheaders, (int)et.len, et.ptr ? et.ptr : "", (int)mt.len,
                     mt.ptr ? mt.ptr : "", (int)xt.len, xt.ptr ? xt.ptr : "",
                     (int)m->payload_len, m->payload);
    if (n > 0)
        s->len += (size_t)n;
    s->count++;
    return 0;
}

static int run(const char *in, size_t len, const size_t *cuts, size_t ncuts, seen_t *out)
{
    evs_dec_t d;
    evs_dec_init(&d, 1 << 16);
    memset(out, 0, sizeof *out);
    size_t pos = 0;
    int rc = 0;
    for (size_t i = 0; i <= ncuts && rc == 0; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        rc = evs_dec_feed(&d, in + pos, end - pos, collect, out);
        pos = end;
    }
    if (rc == 0)
        rc = evs_dec_finish(&d);
    evs_dec_free(&d);
    return rc;
}

static void all_splits(const char *in, size_t len, const char *expect, int nexpect, int rc_expect)
{
    seen_t s;
    CHECK(run(in, len, NULL, 0, &s) == rc_expect);
    CHECK_STR(s.text, expect);
    CHECK(s.count == nexpect);
    int bad = 0;
    for (size_t a = 0; a <= len; a++) {
        size_t cuts[1] = {a};
        bad += run(in, len, cuts, 1, &s) != rc_expect || strcmp(s.text, expect) != 0;
    }
    size_t *cuts = malloc(len * sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    bad += run(in, len, cuts, len, &s) != rc_expect || strcmp(s.text, expect) != 0;
    free(cuts);
    CHECK(bad == 0);
}

static void test_vectors(void)
{
    char all[512];
    size_t n = 0;
    memcpy(all + n, vec_chunk, sizeof vec_chunk - 1);
    n += sizeof vec_chunk - 1;
    memcpy(all + n, vec_empty, sizeof vec_empty - 1);
    n += sizeof vec_empty - 1;
    memcpy(all + n, vec_exc, sizeof vec_exc - 1);
    n += sizeof vec_exc - 1;
    all_splits(all, n,
               "[3|chunk|event||{\"bytes\":\"aGk=\"}][0||||][4||exception|throttlingException|"
               "{\"message\":\"slow down\"}]",
               3, 0);
}

static void test_encode(void)
{
    buf_t b = {0};
    evs_kv_t h[] = {
        {":event-type", "chunk", 5},
        {":content-type", "application/json", 16},
        {":message-type", "event", 5},
    };
    const char payload[] = "{\"bytes\":\"aGk=\"}";
    CHECK(evs_encode(&b, h, 3, payload, sizeof payload - 1) == 0);
    CHECK(b.len == sizeof vec_chunk - 1 && memcmp(b.ptr, vec_chunk, b.len) == 0);
    buf_reset(&b);
    CHECK(evs_encode(&b, NULL, 0, NULL, 0) == 0);
    CHECK(b.len == 16 && memcmp(b.ptr, vec_empty, 16) == 0);
    buf_free(&b);
    CHECK(evs_crc32(0, "123456789", 9) == 0xCBF43926u); /* the CRC-32 check value */
}

static void test_corrupt(void)
{
    char m[256];
    size_t n = sizeof vec_chunk - 1;
    seen_t s;
    /* Every single-bit flip is caught: by a CRC, or as a length that no longer fits. */
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(m, vec_chunk, n);
            m[i] ^= (char)(1 << bit);
            int rc = run(m, n, NULL, 0, &s);
            bad += rc == 0 || s.count != 0;
        }
    }
    CHECK(bad == 0);
    /* A payload flip is a message CRC error, a prelude flip a prelude CRC error. */
    memcpy(m, vec_chunk, n);
    m[n - 10] ^= 1;
    CHECK(run(m, n, NULL, 0, &s) == EVS_E_CRC);
    memcpy(m, vec_chunk, n);
    m[5] ^= 1;
    CHECK(run(m, n, NULL, 0, &s) == EVS_E_CRC);
    /* Truncated anywhere: no message, and finish says so. */
    for (size_t k = 1; k < n; k++)
        bad += run(vec_chunk, k, NULL, 0, &s) != EVS_E_TRUNCATED || s.count != 0;
    CHECK(bad == 0);
    /* A message longer than the bound is refused from its prelude. */
    evs_dec_t d;
    evs_dec_init(&d, 64);
    memset(&s, 0, sizeof s);
    CHECK(evs_dec_feed(&d, vec_chunk, 12, collect, &s) == EVS_E_TOO_LARGE);
    evs_dec_free(&d);
    /* Header lengths that overrun the header block (with valid CRCs): malformed. */
    buf_t b = {0};
    evs_kv_t h[] = {{"x", "abc", 3}};
    evs_encode(&b, h, 1, "p", 1);
    b.ptr[12 + 1 + 1 + 1 + 1] = 9; /* value length 3 -> 9 (low byte) */
    uint32_t crc = evs_crc32(0, b.ptr, b.len - 4);
    b.ptr[b.len - 4] = (char)(crc >> 24);
    b.ptr[b.len - 3] = (char)(crc >> 16);
    b.ptr[b.len - 2] = (char)(crc >> 8);
    b.ptr[b.len - 1] = (char)crc;
    CHECK(run(b.ptr, b.len, NULL, 0, &s) == EVS_E_MALFORMED);
    buf_free(&b);
}

static int stop_cb(void *arg, const evs_msg_t *m)
{
    (void)m;
    (*(int *)arg)++;
    return 7;
}

static void test_callback_stop(void)
{
    evs_dec_t d;
    evs_dec_init(&d, 1 << 16);
    int calls = 0;
    CHECK(evs_dec_feed(&d, vec_chunk, sizeof vec_chunk - 1, stop_cb, &calls) == 7);
    CHECK(calls == 1);
    evs_dec_free(&d);
}

int main(void)
{
    test_vectors();
    test_encode();
    test_corrupt();
    test_callback_stop();
    return check_report();
}
