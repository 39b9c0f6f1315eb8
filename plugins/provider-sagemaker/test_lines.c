/*
 * Unit test of sagemaker_lines.c: whatever way the bytes are cut into feeds (whole, in two at every
 * boundary, one byte at a time), the same lines come out; over-long lines, a failing allocator and
 * a callback that stops are reported as documented.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sagemaker_lines.h"

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

/* A toy arena: every block is kept and freed at the end; `fail_after` blocks then NULL. */
typedef struct arena {
    void *blocks[4096];
    size_t n;
    long fail_after; /* -1: never fail */
} arena_t;

static void *arena_alloc(void *ctx, size_t size)
{
    arena_t *a = ctx;
    if (a->fail_after == 0 || a->n == sizeof(a->blocks) / sizeof(a->blocks[0]))
        return NULL;
    if (a->fail_after > 0)
        a->fail_after--;
    void *p = malloc(size);
    if (p != NULL)
        a->blocks[a->n++] = p;
    return p;
}

static void arena_free(arena_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->blocks[i]);
    a->n = 0;
}

/* Collected lines, joined with '|' so one string compare checks them all. */
typedef struct sink {
    char text[8192];
    size_t len;
    int calls;
    int stop_at; /* return 7 on this call (1-based); 0: never */
} sink_t;

static int on_line(void *ctx, const char *line, size_t len)
{
    sink_t *s = ctx;
    s->calls++;
    if (s->len + len + 1 < sizeof(s->text)) {
        memcpy(s->text + s->len, line, len);
        s->len += len;
        s->text[s->len++] = '|';
        s->text[s->len] = '\0';
    }
    return s->calls == s->stop_at ? 7 : 0;
}

static const char input[] = "data:{\"token\":{\"text\":\"Hel\"}}\n\n"
                            "data: {\"token\":{\"text\":\"lo\"}}\r\n\r\n"
                            ": keep-alive\r"
                            "{\"json\":\"line\"}\n"
                            "data: [DONE]\n"
                            "tail-without-newline";

static const char expected[] = "data:{\"token\":{\"text\":\"Hel\"}}|"
                               "data: {\"token\":{\"text\":\"lo\"}}|"
                               ": keep-alive|"
                               "{\"json\":\"line\"}|"
                               "data: [DONE]|";

static void run_split(size_t cut)
{
    arena_t a = {.fail_after = -1};
    sink_t s = {0};
    sm_lines_t l = {0};
    size_t n = sizeof(input) - 1;
    CHECK(sm_lines_feed(&l, input, cut, 1024, arena_alloc, &a, on_line, &s) == SM_LINES_OK);
    CHECK(sm_lines_feed(&l, input + cut, n - cut, 1024, arena_alloc, &a, on_line, &s) ==
          SM_LINES_OK);
    if (strcmp(s.text, expected) != 0) {
        fprintf(stderr, "split at %zu: got %s\n", cut, s.text);
        failures++;
    }
    CHECK(l.len == strlen("tail-without-newline") &&
          memcmp(l.buf, "tail-without-newline", l.len) == 0);
    arena_free(&a);
}

static void run_bytes(void)
{
    arena_t a = {.fail_after = -1};
    sink_t s = {0};
    sm_lines_t l = {0};
    for (size_t i = 0; i < sizeof(input) - 1; i++)
        CHECK(sm_lines_feed(&l, input + i, 1, 1024, arena_alloc, &a, on_line, &s) == SM_LINES_OK);
    CHECK(strcmp(s.text, expected) == 0);
    arena_free(&a);
}

static void run_limits(void)
{
    arena_t a = {.fail_after = -1};
    sink_t s = {0};
    sm_lines_t l = {0};
    /* A line longer than the cap, in one feed and across feeds. */
    CHECK(sm_lines_feed(&l, "0123456789\n", 11, 8, arena_alloc, &a, on_line, &s) ==
          SM_LINES_TOO_LONG);
    l = (sm_lines_t){0};
    CHECK(sm_lines_feed(&l, "01234", 5, 8, arena_alloc, &a, on_line, &s) == SM_LINES_OK);
    CHECK(sm_lines_feed(&l, "56789", 5, 8, arena_alloc, &a, on_line, &s) == SM_LINES_TOO_LONG);
    /* Exactly the cap is fine. */
    l = (sm_lines_t){0};
    CHECK(sm_lines_feed(&l, "0123", 4, 8, arena_alloc, &a, on_line, &s) == SM_LINES_OK);
    CHECK(sm_lines_feed(&l, "4567\n", 5, 8, arena_alloc, &a, on_line, &s) == SM_LINES_OK);
    CHECK(strcmp(s.text, "01234567|") == 0);
    arena_free(&a);

    /* The allocator fails: reported, nothing called. */
    arena_t none = {.fail_after = 0};
    sink_t s2 = {0};
    l = (sm_lines_t){0};
    CHECK(sm_lines_feed(&l, "abc", 3, 64, arena_alloc, &none, on_line, &s2) == SM_LINES_NOMEM);
    CHECK(s2.calls == 0);
    /* Whole lines need no memory at all. */
    CHECK(sm_lines_feed(&l, "abc\ndef\n", 8, 64, arena_alloc, &none, on_line, &s2) == SM_LINES_OK);
    CHECK(strcmp(s2.text, "abc|def|") == 0);

    /* The callback stops: its value comes back and the rest is not read. */
    arena_t b = {.fail_after = -1};
    sink_t s3 = {.stop_at = 2};
    l = (sm_lines_t){0};
    CHECK(sm_lines_feed(&l, "a\nb\nc\n", 6, 64, arena_alloc, &b, on_line, &s3) == 7);
    CHECK(s3.calls == 2);
    arena_free(&b);

    /* A long line grows the buffer several times and keeps every byte. */
    arena_t g = {.fail_after = -1};
    sink_t s4 = {0};
    char big[3000];
    memset(big, 'x', sizeof(big));
    l = (sm_lines_t){0};
    for (size_t i = 0; i < sizeof(big); i += 100)
        CHECK(sm_lines_feed(&l, big + i, 100, 4096, arena_alloc, &g, on_line, &s4) == SM_LINES_OK);
    CHECK(sm_lines_feed(&l, "\n", 1, 4096, arena_alloc, &g, on_line, &s4) == SM_LINES_OK);
    CHECK(s4.calls == 1 && s4.len == sizeof(big) + 1);
    arena_free(&g);
}

int main(void)
{
    for (size_t cut = 0; cut <= sizeof(input) - 1; cut++)
        run_split(cut);
    run_bytes();
    run_limits();
    if (failures != 0) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("sagemaker lines: ok\n");
    return 0;
}
