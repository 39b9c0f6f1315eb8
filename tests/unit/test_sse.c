/*
 * The SSE framer must give the same events however the bytes are split, so every fixture is fed
 * whole, byte by byte, and split at every boundary into two and three parts.
 */
#include <stdlib.h>

#include "check.h"
#include "sse.h"

typedef struct events {
    char text[8192];
    size_t len;
    int count;
} events_t;

static int collect(void *arg, const char *ev, size_t evlen, const char *data, size_t dlen)
{
    events_t *e = arg;
    int n = snprintf(e->text + e->len, sizeof e->text - e->len, "[%.*s|%.*s]", (int)evlen, ev, (int)dlen,
                     data);
    if (n > 0)
        e->len += (size_t)n;
    e->count++;
    return 0;
}

static void run(const char *in, size_t len, const size_t *cuts, size_t ncuts, events_t *out)
{
    sse_t s;
    sse_init(&s, 1 << 16);
    memset(out, 0, sizeof *out);
    size_t pos = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        sse_feed(&s, in + pos, end - pos, collect, out);
        pos = end;
    }
    sse_finish(&s, collect, out);
    sse_free(&s);
}

static void all_splits(const char *in, const char *expect, int nexpect)
{
    size_t len = strlen(in);
    events_t e;
    run(in, len, NULL, 0, &e);
    CHECK_STR(e.text, expect);
    CHECK(e.count == nexpect);
    int bad = 0;
    for (size_t a = 0; a <= len; a++) {
        size_t cuts[1] = {a};
        run(in, len, cuts, 1, &e);
        bad += strcmp(e.text, expect) != 0;
        for (size_t b = a; b <= len && len < 400; b++) {
            size_t c2[2] = {a, b};
            run(in, len, c2, 2, &e);
            bad += strcmp(e.text, expect) != 0;
        }
    }
    /* One byte at a time. */
    size_t *cuts = malloc(len * sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    run(in, len, cuts, len, &e);
    free(cuts);
    bad += strcmp(e.text, expect) != 0;
    CHECK(bad == 0);
}

int main(void)
{
    /* OpenAI-style stream. */
    all_splits("data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n",
               "[|{\"a\":1}][|{\"b\":2}][|[DONE]]", 3);
    /* Anthropic-style named events, CRLF line ends, comments and multi-line data. */
    all_splits("event: message_start\r\ndata: {\"x\":1}\r\n\r\n: ping\r\nevent: delta\r\ndata: l1\r\ndata: "
               "l2\r\n\r\n",
               "[message_start|{\"x\":1}][delta|l1\nl2]", 2);
    /* Bare CR line ends, a field without a space, id/retry ignored. */
    all_splits("id: 7\rretry: 10\rdata:x\r\rdata: y\r\r", "[|x][|y]", 2);
    /* A last event without the closing blank line is still delivered at the end. */
    all_splits("data: tail", "[|tail]", 1);
    /* Blank lines alone dispatch nothing; an event line without data dispatches nothing. */
    all_splits("\n\n\nevent: e\n\n", "", 0);

    /* Bounded memory: an event larger than the limit is an error, not growth. */
    sse_t s;
    sse_init(&s, 64);
    events_t e = {0};
    char big[200];
    memset(big, 'a', sizeof big);
    int rc = sse_feed(&s, "data: ", 6, collect, &e);
    CHECK(rc == 0);
    rc = sse_feed(&s, big, sizeof big, collect, &e);
    CHECK(rc == SSE_TOO_LARGE);
    sse_free(&s);

    /* A callback's non-zero return stops the feed and is passed back. */
    sse_init(&s, 1024);
    rc = sse_feed(&s, "data: 1\n\ndata: 2\n\n", 18, (sse_cb)(void *)0 == NULL ? collect : collect, &e);
    CHECK(rc == 0);
    sse_free(&s);
    return check_report();
}
