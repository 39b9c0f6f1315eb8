/*
 * arena: per-request memory with a byte budget.  Allocation is a pointer bump inside chunks; all of
 * it is freed at once when the request ends.  Exhausting the budget returns NULL, which callers
 * turn into an error response, never an abort.
 */
#ifndef GANTRY_ARENA_H
#define GANTRY_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk_t;

typedef struct arena {
    arena_chunk_t *chunks;
    size_t used;   /* bytes taken from malloc, chunk headers included */
    size_t budget; /* 0 = unlimited */
    char *cur, *end;
} arena_t;

void arena_init(arena_t *a, size_t budget);
void *arena_alloc(arena_t *a, size_t size);
char *arena_strndup(arena_t *a, const char *s, size_t len);
void arena_free(arena_t *a);

#endif
