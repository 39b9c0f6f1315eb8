/*
 * keywords matcher: the Aho-Corasick automaton and one scan of a text.
 *
 * Every keyword goes into one automaton over ASCII-lowercased bytes; case-sensitive keywords are
 * then confirmed against the original bytes.  A scan is one pass over the text, whatever the
 * number of keywords.
 */
#include "kw_scan.h"

#include <string.h>

static uint8_t fold(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* ---- word characters ---- */

/*
 * Whether a code point belongs to a word.  Letters and digits of any script do, except the
 * ideographs and kana of scripts written without spaces: each of those stands alone, so "秘密"
 * is found as a whole word inside a Chinese sentence.  Punctuation blocks do not.
 */
static bool word_cp(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
               cp == '_';
    if (cp <= 0xBF)
        return false; /* Latin-1 punctuation and symbols, the no-break space */
    if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) ||
        (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
        (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65))
        return false; /* general, CJK and fullwidth punctuation */
    if ((cp >= 0x2E80 && cp <= 0x2FDF) || (cp >= 0x3040 && cp <= 0x31FF) ||
        (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
        (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3FFFF))
        return false; /* CJK ideographs and kana */
    return true;
}

/*
 * Decode the character at s[i].  Returns its length (invalid bytes count as one non-word byte),
 * with *word set; *hit when the sequence runs past len (more text may complete it).
 */
static size_t decode(const char *s, size_t len, size_t i, bool *word, bool *hit)
{
    unsigned c = (unsigned char)s[i], need, cp;

    *word = false;
    if (c < 0x80) {
        *word = word_cp(c);
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
    } else {
        return 1;
    }
    for (unsigned k = 1; k <= need; k++) {
        if (i + k >= len) {
            *hit = true;
            return 1;
        }
        if (((unsigned char)s[i + k] & 0xC0) != 0x80)
            return 1;
        cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3F);
    }
    *word = word_cp(cp);
    return need + 1;
}

/* Whether the character that ends just before s[i] is a word character (false at the start). */
static bool word_before(const char *s, size_t i)
{
    size_t j;
    bool word, hit = false;

    if (i == 0)
        return false;
    j = i - 1;
    while (j > 0 && i - j < 4 && ((unsigned char)s[j] & 0xC0) == 0x80)
        j--;
    /* Bytes that are not one whole character are no word. */
    if (decode(s, i, j, &word, &hit) != i - j)
        return false;
    return word;
}

/* Whether the keyword's first and last characters are word characters: only those sides need a
 * boundary ("c++" needs none after it). */
static void word_ends(kw_word_t *w)
{
    size_t i = 0, last = 0;
    bool word, hit = false;

    decode(w->text, w->len, 0, &w->word_start, &hit);
    while (i < w->len) {
        last = i;
        i += decode(w->text, w->len, i, &word, &hit);
    }
    decode(w->text, w->len, last, &w->word_end, &hit);
}

/* ---- the automaton ---- */

static uint32_t child_of(const kw_set_t *set, uint32_t u, uint8_t c)
{
    if (u == 0)
        return set->root[c];
    for (uint32_t v = set->nodes[u].child; v != 0; v = set->nodes[v].sibling) {
        if (set->nodes[v].byte == c)
            return v;
    }
    return 0;
}

static uint32_t add_node(kw_set_t *set, const kw_mem_t *mem, size_t *cap, uint32_t parent,
                         uint8_t c)
{
    uint32_t v;

    if (set->nnodes == *cap) {
        size_t ncap = *cap * 2;
        kw_node_t *nodes;

        if (ncap > UINT32_MAX || ncap > SIZE_MAX / sizeof(*nodes))
            return 0;
        nodes = mem->realloc_fn(set->nodes, ncap * sizeof(*nodes));
        if (nodes == NULL)
            return 0;
        set->nodes = nodes;
        *cap = ncap;
    }
    v = (uint32_t)set->nnodes++;
    set->nodes[v] = (kw_node_t){.word = -1, .byte = c};
    if (parent == 0) {
        set->root[c] = v;
    } else {
        set->nodes[v].sibling = set->nodes[parent].child;
        set->nodes[parent].child = v;
    }
    return v;
}

int kw_set_build(kw_set_t *set, const kw_mem_t *mem)
{
    size_t cap = 64, head = 0, tail = 0;
    uint32_t *queue = NULL;

    set->nodes = mem->realloc_fn(NULL, cap * sizeof(*set->nodes));
    if (set->nodes == NULL)
        return -1;
    set->nnodes = 1;
    set->nodes[0] = (kw_node_t){.word = -1};
    memset(set->root, 0, sizeof(set->root));
    set->maxlen = 0;
    for (size_t k = 0; k < set->nwords; k++) {
        kw_word_t *w = &set->words[k];
        uint32_t u = 0;

        for (size_t i = 0; i < w->len; i++) {
            uint8_t c = fold((uint8_t)w->text[i]);
            uint32_t v = child_of(set, u, c);
            if (v == 0 && (v = add_node(set, mem, &cap, u, c)) == 0)
                goto nomem;
            u = v;
        }
        word_ends(w);
        w->next_same = set->nodes[u].word;
        set->nodes[u].word = (int32_t)k;
        if (w->len > set->maxlen)
            set->maxlen = w->len;
    }
    /* Breadth first, so a node's failure link is final before its children's are computed. */
    queue = mem->realloc_fn(NULL, set->nnodes * sizeof(*queue));
    if (queue == NULL)
        goto nomem;
    for (unsigned c = 0; c < 256; c++) {
        if (set->root[c] != 0)
            queue[tail++] = set->root[c];
    }
    while (head < tail) {
        uint32_t u = queue[head++];

        for (uint32_t v = set->nodes[u].child; v != 0; v = set->nodes[v].sibling) {
            uint8_t c = set->nodes[v].byte;
            uint32_t f = set->nodes[u].fail, g;

            while (f != 0 && child_of(set, f, c) == 0)
                f = set->nodes[f].fail;
            g = child_of(set, f, c);
            set->nodes[v].fail = g != v ? g : 0;
            g = set->nodes[v].fail;
            set->nodes[v].out = set->nodes[g].word >= 0 ? g : set->nodes[g].out;
            queue[tail++] = v;
        }
    }
    mem->free_fn(queue);
    return 0;

nomem:
    mem->free_fn(queue);
    kw_set_free(set, mem);
    return -1;
}

void kw_set_free(kw_set_t *set, const kw_mem_t *mem)
{
    mem->free_fn(set->nodes);
    set->nodes = NULL;
    set->nnodes = 0;
}

/* ---- scanning ---- */

static bool first_before(const kw_range_t *a, const kw_range_t *b)
{
    if (a->first_start != b->first_start)
        return a->first_start < b->first_start;
    if (a->first_len != b->first_len)
        return a->first_len > b->first_len;
    return a->first_word < b->first_word;
}

/* Matches arrive in order of their end, so a new one can only overlap the last ranges. */
static void add_range(kw_scan_t *sc, size_t start, size_t end, uint32_t word)
{
    kw_range_t cur = {start, end, start, end - start, word};

    while (sc->n > 0 && sc->r[sc->n - 1].end > cur.start) {
        const kw_range_t *p = &sc->r[--sc->n];

        if (p->start < cur.start)
            cur.start = p->start;
        if (p->end > cur.end)
            cur.end = p->end;
        if (first_before(p, &cur)) {
            cur.first_start = p->first_start;
            cur.first_len = p->first_len;
            cur.first_word = p->first_word;
        }
    }
    if (sc->n == sc->cap) {
        size_t cap = sc->cap != 0 ? sc->cap * 2 : 16;
        kw_range_t *r;

        if (cap > SIZE_MAX / sizeof(*r) ||
            (r = sc->mem->realloc_fn(sc->r, cap * sizeof(*r))) == NULL) {
            sc->nomem = true;
            return;
        }
        sc->r = r;
        sc->cap = cap;
    }
    sc->r[sc->n++] = cur;
}

static void report(kw_scan_t *sc, const kw_set_t *set, uint32_t k, size_t start, size_t end,
                   bool open)
{
    if (open && start < sc->min_open)
        sc->min_open = start;
    if (!set->words[k].block) {
        add_range(sc, start, end, k);
        return;
    }
    if (open) {
        if (!sc->open_block || start < sc->open_block_start ||
            (start == sc->open_block_start && k < sc->open_block_word)) {
            sc->open_block = true;
            sc->open_block_start = start;
            sc->open_block_word = k;
        }
    } else if (!sc->block || start < sc->block_start ||
               (start == sc->block_start && k < sc->block_word)) {
        sc->block = true;
        sc->block_start = start;
        sc->block_word = k;
    }
}

/*
 * Whether a whole-word match s[start, end) stands alone.  *open when the character after it has
 * not (fully) arrived: it is then kept as a match that more text may undo.
 */
static bool boundaries_ok(const kw_word_t *w, const char *s, size_t len, size_t start, size_t end,
                          bool *open)
{
    bool word, hit = false;

    if (w->word_start && word_before(s, start))
        return false;
    if (!w->word_end)
        return true;
    if (end < len)
        decode(s, len, end, &word, &hit);
    if (end >= len || hit) {
        *open = true;
        return true;
    }
    return !word;
}

void kw_scan(const kw_set_t *set, const char *s, size_t len, size_t from, kw_scan_t *sc)
{
    uint32_t state = 0;

    sc->min_open = SIZE_MAX;
    for (size_t i = from; i < len && !sc->nomem; i++) {
        uint8_t c = fold((uint8_t)s[i]);
        uint32_t next = child_of(set, state, c);

        while (next == 0 && state != 0) {
            state = set->nodes[state].fail;
            next = child_of(set, state, c);
        }
        state = next;
        if (state == 0)
            continue;
        for (uint32_t o = set->nodes[state].word >= 0 ? state : set->nodes[state].out; o != 0;
             o = set->nodes[o].out) {
            for (int32_t k = set->nodes[o].word; k >= 0; k = set->words[k].next_same) {
                const kw_word_t *w = &set->words[k];
                size_t end = i + 1, start = end - w->len;
                bool open = false;

                if (w->case_sensitive && memcmp(s + start, w->text, w->len) != 0)
                    continue;
                if (w->whole_word && !boundaries_ok(w, s, len, start, end, &open))
                    continue;
                report(sc, set, (uint32_t)k, start, end, open);
            }
        }
    }
}
