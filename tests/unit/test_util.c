/* Durations, the arena's budget, and bounded buffers. */
#include <stdint.h>

#include "arena.h"
#include "check.h"
#include "util.h"

int main(void)
{
    int64_t ms;
    CHECK(parse_duration_ms("250ms", &ms) == 0 && ms == 250);
    CHECK(parse_duration_ms("30s", &ms) == 0 && ms == 30000);
    CHECK(parse_duration_ms("1.5", &ms) == 0 && ms == 1500);
    CHECK(parse_duration_ms("5m", &ms) == 0 && ms == 300000);
    CHECK(parse_duration_ms("1h", &ms) == 0 && ms == 3600000);
    CHECK(parse_duration_ms("", &ms) == -1);
    CHECK(parse_duration_ms("-1s", &ms) == -1);
    CHECK(parse_duration_ms("10 parsecs", &ms) == -1);
    CHECK(parse_duration_ms("nan", &ms) == -1);

    arena_t a;
    arena_init(&a, 32 * 1024);
    void *p = arena_alloc(&a, 100);
    CHECK(p != NULL && ((uintptr_t)p % _Alignof(max_align_t)) == 0);
    CHECK(arena_alloc(&a, 16 * 1024) != NULL);
    CHECK(arena_alloc(&a, 64 * 1024) == NULL); /* over budget: NULL, not abort */
    char *s = arena_strndup(&a, "hello", 3);
    CHECK_STR(s, "hel");
    arena_free(&a);

    buf_t b = {.limit = 8};
    CHECK(buf_append(&b, "12345", 5) == 0);
    CHECK(buf_append(&b, "6789", 4) == -1);
    CHECK(b.len == 5);
    buf_free(&b);

    char hex[65];
    sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    return check_report();
}
