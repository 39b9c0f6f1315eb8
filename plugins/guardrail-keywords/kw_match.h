/*
 * keywords matcher: a deny list searched in one pass (Aho-Corasick over ASCII-folded bytes),
 * whole words or substrings, masked or blocking, for whole texts and for text that arrives in
 * pieces.  No host dependency: the plugin passes its allocator.
 */
#ifndef GANTRY_KW_MATCH_H
#define GANTRY_KW_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KW_MAX_LEN 256      /* bytes of one keyword */
#define KW_MAX_WORDS 100000 /* keywords of one instance */
#define KW_CONTEXT 8        /* released bytes kept to judge the word boundary before a match */
#define KW_MAX_CARRY 16384  /* bytes a stream may hold back (see kw_carry_feed) */

typedef struct kw_mem {
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
} kw_mem_t;

/* One keyword as configured; strings are borrowed for the set's life. */
typedef struct kw_word {
    const char *text;
    size_t len;
    bool block;          /* else mask */
    bool case_sensitive; /* else ASCII letters match in either case */
    bool whole_word;     /* else any substring */
    const char *repl;    /* replacement when masked */
    size_t repl_len;
    /* Set by kw_set_build(): */
    int32_t next_same; /* next keyword with the same folded text, -1 */
    bool word_start;   /* its first character is a word character (needs a boundary before) */
    bool word_end;     /* its last character is one (needs a boundary after) */
} kw_word_t;

typedef struct kw_node kw_node_t;

/* The deny list and its automaton; read-only (shared by all workers) once built. */
typedef struct kw_set {
    kw_word_t *words;
    size_t nwords;
    size_t maxlen;
    kw_node_t *nodes;
    size_t nnodes;
    uint32_t root[256]; /* the root's transitions (0: none) */
} kw_set_t;

/* Build the automaton over set->words (filled by the caller): 0, or -1 when memory ran out. */
int kw_set_build(kw_set_t *set, const kw_mem_t *mem);
void kw_set_free(kw_set_t *set, const kw_mem_t *mem); /* the automaton, not the words */

typedef struct kw_buf {
    char *ptr;
    size_t len;
    size_t cap;
} kw_buf_t;

bool kw_buf_put(const kw_mem_t *mem, kw_buf_t *b, const char *p, size_t n);
void kw_buf_free(const kw_mem_t *mem, kw_buf_t *b);

typedef enum kw_verdict {
    KW_CLEAN = 0,   /* nothing found (streams: `out` holds the released text) */
    KW_MASKED = 1,  /* `out` holds the masked text */
    KW_BLOCKED = 2, /* *word is the blocking keyword found first */
    KW_NOMEM = 3,
} kw_verdict_t;

/* Check a whole text; on KW_MASKED `out` (reset first, NUL-terminated) holds the result. */
kw_verdict_t kw_check_text(const kw_set_t *set, const kw_mem_t *mem, const char *s, size_t len,
                           kw_buf_t *out, size_t *word);

/*
 * Streams: the last `maxlen` bytes (the longest keyword) are held back, with any match that the
 * next character could still undo (a whole word needs the character after it) and any masked
 * range the cut would split; what comes before is released, masked.  Keeps KW_CONTEXT released
 * bytes for the word boundary before the next match.  `final` releases everything.
 */
typedef struct kw_carry {
    char *buf;
    size_t ctx;
    size_t len;
    size_t cap;
    bool forced; /* text was released before it could be judged (KW_MAX_CARRY) */
} kw_carry_t;

kw_verdict_t kw_carry_feed(const kw_set_t *set, const kw_mem_t *mem, kw_carry_t *c, const char *s,
                           size_t n, bool final, kw_buf_t *out, size_t *word);
void kw_carry_free(const kw_mem_t *mem, kw_carry_t *c);

#endif
