#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    arena_chunk_t *next;
    size_t size;
    max_align_t data[];
};

#define ARENA_CHUNK 8192

void arena_init(arena_t *a, size_t budget)
{
    memset(a, 0, sizeof *a);
    a->budget = budget;
}

void *arena_alloc(arena_t *a, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;
    if ((size_t)(a->end - a->cur) < size || a->cur == NULL) {
        /* Large requests get a chunk of their own so the small-object chunk is not wasted. */
        size_t csize = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;
        size_t total = sizeof(arena_chunk_t) + csize;
        if (a->budget != 0 && a->used + total > a->budget)
            return NULL;
        arena_chunk_t *c = malloc(total);
        if (c == NULL)
            return NULL;
        c->size = csize;
        c->next = a->chunks;
        a->chunks = c;
        a->used += total;
        if (csize == size && size > ARENA_CHUNK / 4 && a->cur != NULL)
            return c->data; /* keep bumping in the previous chunk */
        a->cur = (char *)c->data;
        a->end = a->cur + csize;
    }
    void *p = a->cur;
    a->cur += size;
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    if (p == NULL)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void arena_free(arena_t *a)
{
    arena_chunk_t *c = a->chunks;
    while (c != NULL) {
        arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    memset(a, 0, sizeof *a);
}
