/*
 * cfg_node: load a YAML document into a tree of typed nodes that remember their position.
 *
 * We drive libyaml's event parser rather than its document loader.  That lets us check the limits
 * (depth, node count) as events arrive, before anything large is built.  It also lets us register
 * an anchor only once its node is complete, so an alias can never point into a node that is still
 * being built: the result is a tree with shared subtrees, never a cycle.  Each YAML node is
 * converted exactly once and an alias simply points at the converted node, so a "billion laughs"
 * document costs what its text costs.
 *
 * Collections are assembled on a scratch stack of entries.  A sequence or map pushes a frame that
 * remembers where its first entry is; its children are pushed as they complete; at its end the
 * entries are copied into the arena as one array and popped.  Scratch memory is freed when loading
 * ends.  Only the arena survives, owned by the cfg_doc_t.
 */
#include "cfg_node.h"

#include "arena.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

/* ---- Document ---- */

/* The document and its arena are one allocation; the document comes first so that the pointer we
 * hand out is also the pointer to free. */
struct docbox {
    cfg_doc_t doc;
    arena_t arena; /* without a budget: the loader's own limits bound it */
};

/* ---- String table ---- */

/*
 * An open-addressing hash table from strings to pointers.  It serves both the anchors of the
 * document and the keys of the map being finished.  Without it a hostile file with many keys or
 * anchors would make loading quadratic.  A slot is live only if its generation is the table's
 * current one, so the key table is emptied for the next map by bumping the generation instead of
 * clearing memory.
 */
struct slot {
    const char *key;
    size_t len;
    uint64_t hash;
    uint32_t gen;
    unsigned aux; /* the anchor table keeps the height of the anchored node here */
    void *val;
};

struct table {
    struct slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t used;
    uint32_t gen; /* never 0, which is what calloc gives an empty slot */
};

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211u;
    }
    return h;
}

static void table_clear(struct table *t)
{
    t->gen++;
    t->used = 0;
}

/* Make room for one more key.  The table stays at most half full, so probes stay short and a
 * search always reaches an empty slot. */
static int table_reserve(struct table *t)
{
    if (t->cap != 0 && (t->used + 1) * 2 <= t->cap)
        return 0;
    size_t cap = t->cap != 0 ? t->cap * 2 : 16;
    struct slot *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        const struct slot *s = &t->slots[i];
        if (s->gen != t->gen)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].gen == t->gen)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* The live slot holding `key`, or the free slot where it belongs (then slot->gen != t->gen). */
static struct slot *table_find(const struct table *t, const char *key, size_t len, uint64_t hash)
{
    size_t mask = t->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct slot *s = &t->slots[i];
        if (s->gen != t->gen)
            return s;
        if (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

static void table_fill(struct table *t, struct slot *s, const char *key, size_t len, uint64_t hash)
{
    s->key = key;
    s->len = len;
    s->hash = hash;
    s->gen = t->gen;
    s->aux = 0;
    s->val = NULL;
    t->used++;
}

/* ---- Loader state ---- */

/* A child of the collection being built: a sequence item, or a map key with its value. */
struct entry {
    const char *key; /* arena copy; maps only */
    size_t klen;
    unsigned kline, kcol;
    bool merge; /* a plain `<<` key */
    cfg_node_t *value;
};

struct frame {
    cfg_node_t *node; /* allocated at the start event, filled in at the end event */
    size_t first;     /* index of its first entry on the scratch stack */
    const char *anchor;
    bool want_key;
    unsigned height; /* the largest height among its children so far */
};

struct sbuf {
    char *p;
    size_t len, cap;
};

struct loader {
    const char *file;
    const char *input; /* to turn a byte offset into line:col for encoding errors */
    size_t input_len;
    cfg_env_fn env;
    void *env_arg;
    arena_t *arena;
    char *err;
    size_t errlen;
    size_t nodes;     /* nodes made plus pairs copied by merge keys, held to CFG_MAX_NODES */
    size_t env_bytes; /* bytes brought in by environment substitution */
    unsigned docs;
    cfg_node_t *root;
    bool root_empty; /* the root is an empty plain scalar: the document is empty */
    struct frame frames[CFG_MAX_DEPTH];
    size_t depth;
    struct entry *ents;
    size_t nents, ents_cap;
    struct table anchors;
    struct table keys;
    struct sbuf out;  /* a string being built by ${} substitution */
    struct sbuf name; /* an environment variable name, NUL-terminated for the lookup */
};

static void vreport(char *err, size_t errlen, const char *file, unsigned line, unsigned col,
                    const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
static void report(char *err, size_t errlen, const char *file, unsigned line, unsigned col,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int fail(struct loader *ld, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void vreport(char *err, size_t errlen, const char *file, unsigned line, unsigned col,
                    const char *fmt, va_list ap)
{
    if (err == NULL || errlen == 0)
        return;
    int n;
    if (line != 0)
        n = snprintf(err, errlen, "%s:%u:%u: ", file, line, col);
    else
        n = snprintf(err, errlen, "%s: ", file);
    if (n < 0)
        n = 0;
    if ((size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}

static void report(char *err, size_t errlen, const char *file, unsigned line, unsigned col,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(err, errlen, file, line, col, fmt, ap);
    va_end(ap);
}

/* Record the error (line 0 when there is no position) and return -1 for the caller to pass on. */
static int fail(struct loader *ld, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(ld->err, ld->errlen, ld->file, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

/* libyaml counts from 0; people count from 1. */
static unsigned pos(size_t zero_based)
{
    return zero_based >= UINT_MAX ? UINT_MAX : (unsigned)zero_based + 1;
}

static int sbuf_add(struct sbuf *b, const char *s, size_t len)
{
    if (b->cap - b->len < len + 1) {
        size_t cap = b->cap != 0 ? b->cap : 64;
        while (cap - b->len < len + 1) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

static int count_nodes(struct loader *ld, size_t n, unsigned line, unsigned col)
{
    if (n > CFG_MAX_NODES || ld->nodes > CFG_MAX_NODES - n)
        return fail(ld, line, col,
                    "too many nodes (the limit is %u, keys copied by merges included)",
                    (unsigned)CFG_MAX_NODES);
    ld->nodes += n;
    return 0;
}

static cfg_node_t *new_node(struct loader *ld, cfg_kind_t kind, unsigned line, unsigned col)
{
    if (count_nodes(ld, 1, line, col) < 0)
        return NULL;
    cfg_node_t *n = arena_alloc(ld->arena, sizeof(*n));
    if (n == NULL) {
        fail(ld, line, col, "out of memory");
        return NULL;
    }
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->file = ld->file;
    n->line = line;
    n->col = col;
    n->str = "";
    return n;
}

static struct entry *push_entry(struct loader *ld)
{
    if (ld->nents == ld->ents_cap) {
        size_t cap = ld->ents_cap != 0 ? ld->ents_cap * 2 : 64;
        struct entry *e = realloc(ld->ents, cap * sizeof(*e));
        if (e == NULL)
            return NULL;
        ld->ents = e;
        ld->ents_cap = cap;
    }
    struct entry *e = &ld->ents[ld->nents++];
    memset(e, 0, sizeof(*e));
    return e;
}

/* ---- Scalars ---- */

static bool is_digit(char c, unsigned base)
{
    if (base == 16)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    return c >= '0' && c < (char)('0' + base);
}

static size_t span_digits(const char *s, size_t len, unsigned base)
{
    size_t i = 0;
    while (i < len && is_digit(s[i], base))
        i++;
    return i;
}

static bool is_one_of(const char *s, size_t len, const char *const *words)
{
    for (; *words != NULL; words++)
        if (strlen(*words) == len && memcmp(*words, s, len) == 0)
            return true;
    return false;
}

/* Digits already checked; fail if the value exceeds `limit`. */
static int parse_magnitude(const char *s, size_t len, unsigned base, uint64_t limit, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        unsigned d = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
        if (v > (limit - d) / base)
            return -1;
        v = v * base + d;
    }
    *out = v;
    return 0;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t whole = span_digits(s + i, len - i, 10);
    i += whole;
    size_t frac = 0;
    if (i < len && s[i] == '.') {
        i++;
        frac = span_digits(s + i, len - i, 10);
        i += frac;
    }
    if (whole == 0 && frac == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t exp = span_digits(s + i, len - i, 10);
        if (exp == 0)
            return false;
        i += exp;
    }
    return i == len;
}

/*
 * Type a plain scalar by the YAML 1.2 core schema: set n->kind (CFG_STR when nothing matches) and
 * the value.  Return -1 when it is a number that does not fit; n->kind then says which kind.
 * The text must be NUL-terminated (strtod reads it).
 */
static int classify(const char *s, size_t len, cfg_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    static const char *const infs[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};

    n->kind = CFG_STR;
    if (is_one_of(s, len, nulls)) {
        n->kind = CFG_NULL;
        return 0;
    }
    if (is_one_of(s, len, trues) || is_one_of(s, len, falses)) {
        n->kind = CFG_BOOL;
        n->b = s[0] == 't' || s[0] == 'T';
        return 0;
    }

    /* Integers: [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+; the schema gives the last two no sign. */
    unsigned base = 0;
    size_t start = 0;
    bool neg = false;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        base = s[1] == 'x' ? 16 : 8;
        start = 2;
    } else {
        start = len > 0 && (s[0] == '+' || s[0] == '-') ? 1 : 0;
        neg = start == 1 && s[0] == '-';
        base = 10;
    }
    if (len > start && span_digits(s + start, len - start, base) == len - start) {
        n->kind = CFG_INT;
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        uint64_t mag;
        if (parse_magnitude(s + start, len - start, base, limit, &mag) < 0)
            return -1;
        if (neg)
            n->i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
        else
            n->i = (int64_t)mag;
        n->d = (double)n->i;
        return 0;
    }

    size_t sign = len > 0 && (s[0] == '+' || s[0] == '-') ? 1 : 0;
    if (is_one_of(s + sign, len - sign, infs)) {
        n->kind = CFG_NUM;
        n->d = s[0] == '-' ? -INFINITY : INFINITY;
        return 0;
    }
    if (is_one_of(s, len, nans)) {
        n->kind = CFG_NUM;
        n->d = NAN;
        return 0;
    }
    if (is_float(s, len)) {
        n->kind = CFG_NUM;
        char *end;
        errno = 0;
        n->d = strtod(s, &end);
        /* Underflow to zero or a subnormal is fine; overflow to infinity is not what was written.
         * strtod stops early only under a locale whose decimal point is not '.'. */
        if ((errno == ERANGE && isinf(n->d)) || end != s + len)
            return -1;
        return 0;
    }
    return 0;
}

static bool is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* The length of the environment variable name at the start of s (0 when there is none). */
static size_t span_name(const char *s, size_t len)
{
    if (len == 0 || !is_name_start(s[0]))
        return 0;
    size_t i = 1;
    while (i < len && is_name_char(s[i]))
        i++;
    return i;
}

static const char *lookup_env(struct loader *ld, const char *name, size_t len, const cfg_node_t *n)
{
    ld->name.len = 0;
    if (sbuf_add(&ld->name, name, len) < 0) {
        fail(ld, n->line, n->col, "out of memory");
        return NULL;
    }
    const char *v = ld->env != NULL ? ld->env(ld->name.p, ld->env_arg) : getenv(ld->name.p);
    if (v == NULL) {
        fail(ld, n->line, n->col, "environment variable %s is not set", ld->name.p);
        return NULL;
    }
    /* Substituted text is not part of the file, so the file size limit does not bound it. */
    size_t vlen = strlen(v);
    if (vlen > CFG_MAX_FILE_BYTES - ld->env_bytes) {
        fail(ld, n->line, n->col, "environment substitutions exceed %u bytes",
             (unsigned)CFG_MAX_FILE_BYTES);
        return NULL;
    }
    ld->env_bytes += vlen;
    return v;
}

/*
 * Set the text of string node n from the scalar s, resolving `os.environ/NAME` (the whole value)
 * and `${NAME}` (anywhere).  Substituted text is not scanned again, so a value can never pull in
 * another variable.
 */
static int set_string(struct loader *ld, cfg_node_t *n, const char *s, size_t len)
{
    static const char prefix[] = "os.environ/";
    const size_t plen = sizeof(prefix) - 1;
    const char *text = s;
    size_t tlen = len;

    if (len >= plen && memcmp(s, prefix, plen) == 0) {
        if (span_name(s + plen, len - plen) != len - plen || len == plen)
            return fail(ld, n->line, n->col, "bad environment variable name in '%.*s'",
                        len > 80 ? 80 : (int)len, s);
        text = lookup_env(ld, s + plen, len - plen, n);
        if (text == NULL)
            return -1;
        tlen = strlen(text);
        n->from_env = true;
    } else {
        size_t i = 0, done = 0;
        ld->out.len = 0;
        while (i + 1 < len) {
            if (s[i] != '$' || s[i + 1] != '{') {
                i++;
                continue;
            }
            size_t nl = span_name(s + i + 2, len - i - 2);
            if (nl == 0 || i + 2 + nl >= len || s[i + 2 + nl] != '}') {
                i++;
                continue;
            }
            const char *v = lookup_env(ld, s + i + 2, nl, n);
            if (v == NULL)
                return -1;
            if (sbuf_add(&ld->out, s + done, i - done) < 0 || sbuf_add(&ld->out, v, strlen(v)) < 0)
                return fail(ld, n->line, n->col, "out of memory");
            i += nl + 3;
            done = i;
            n->from_env = true;
        }
        if (n->from_env) {
            if (sbuf_add(&ld->out, s + done, len - done) < 0)
                return fail(ld, n->line, n->col, "out of memory");
            text = ld->out.p;
            tlen = ld->out.len;
        }
    }
    n->str = arena_strndup(ld->arena, text, tlen);
    if (n->str == NULL)
        return fail(ld, n->line, n->col, "out of memory");
    n->len = tlen;
    return 0;
}

/* ---- Events ---- */

static struct frame *top(struct loader *ld)
{
    return ld->depth > 0 ? &ld->frames[ld->depth - 1] : NULL;
}

static bool wants_key(struct loader *ld)
{
    const struct frame *f = top(ld);
    return f != NULL && f->node->kind == CFG_MAP && f->want_key;
}

static int add_anchor(struct loader *ld, const char *name, cfg_node_t *n, unsigned height)
{
    size_t len = strlen(name);
    uint64_t h = hash_bytes(name, len);
    if (table_reserve(&ld->anchors) < 0)
        return fail(ld, n->line, n->col, "out of memory");
    struct slot *s = table_find(&ld->anchors, name, len, h);
    /* YAML lets an anchor be defined again; later aliases then mean the newer node. */
    if (s->gen != ld->anchors.gen)
        table_fill(&ld->anchors, s, name, len, h);
    s->val = n;
    s->aux = height;
    return 0;
}

/*
 * Hand a finished node to its parent (or make it the root).  `height` is the number of nested
 * collections in it, counting itself, so that the parent can know its own.
 */
static int add_node(struct loader *ld, cfg_node_t *n, unsigned height)
{
    struct frame *f = top(ld);
    if (f == NULL) {
        ld->root = n;
        return 0;
    }
    if (f->node->kind == CFG_SEQ) {
        struct entry *e = push_entry(ld);
        if (e == NULL)
            return fail(ld, n->line, n->col, "out of memory");
        e->value = n;
    } else {
        struct entry *e = &ld->ents[ld->nents - 1];
        e->value = n;
        f->want_key = true;
        /* The merged values sit one level (a map) or two (a list of maps) below the value. */
        if (e->merge) {
            unsigned drop = n->kind == CFG_SEQ ? 2 : 1;
            height = height > drop ? height - drop : 0;
        }
    }
    if (height > f->height)
        f->height = height;
    return 0;
}

static int on_scalar(struct loader *ld, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    unsigned line = pos(ev->start_mark.line), col = pos(ev->start_mark.column);
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.tag == NULL;

    /* Keys and values are handed out as C strings; an embedded NUL would silently cut them. */
    if (memchr(s, '\0', len) != NULL)
        return fail(ld, line, col, "strings may not contain NUL characters");

    if (wants_key(ld)) {
        if (ev->data.scalar.anchor != NULL)
            return fail(ld, line, col, "anchors on map keys are not supported");
        struct entry *e = push_entry(ld);
        if (e == NULL)
            return fail(ld, line, col, "out of memory");
        e->key = arena_strndup(ld->arena, s, len);
        if (e->key == NULL)
            return fail(ld, line, col, "out of memory");
        e->klen = len;
        e->kline = line;
        e->kcol = col;
        /* Only a plain `<<` is a merge key; a quoted "<<" is an ordinary key. */
        e->merge = plain && len == 2 && s[0] == '<' && s[1] == '<';
        top(ld)->want_key = false;
        return 0;
    }

    cfg_node_t *n = new_node(ld, CFG_STR, line, col);
    if (n == NULL)
        return -1;
    if (plain && classify(s, len, n) < 0)
        return fail(ld, line, col, "%s out of range: %.*s",
                    n->kind == CFG_INT ? "integer" : "number", len > 40 ? 40 : (int)len, s);
    if (n->kind == CFG_STR) {
        if (set_string(ld, n, s, len) < 0)
            return -1;
    } else if (n->kind != CFG_NULL) {
        n->str = arena_strndup(ld->arena, s, len);
        if (n->str == NULL)
            return fail(ld, line, col, "out of memory");
        n->len = len;
    }
    if (ld->depth == 0)
        ld->root_empty = plain && len == 0;
    if (ev->data.scalar.anchor != NULL) {
        const char *name = arena_strndup(ld->arena, (const char *)ev->data.scalar.anchor,
                                         strlen((const char *)ev->data.scalar.anchor));
        if (name == NULL)
            return fail(ld, line, col, "out of memory");
        if (add_anchor(ld, name, n, 0) < 0)
            return -1;
    }
    return add_node(ld, n, 0);
}

static int on_alias(struct loader *ld, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    unsigned line = pos(ev->start_mark.line), col = pos(ev->start_mark.column);
    if (wants_key(ld))
        return fail(ld, line, col, "aliases as map keys are not supported");
    size_t len = strlen(name);
    const struct slot *s = NULL;
    if (ld->anchors.cap != 0)
        s = table_find(&ld->anchors, name, len, hash_bytes(name, len));
    if (s == NULL || s->gen != ld->anchors.gen)
        return fail(ld, line, col, "alias *%.80s refers to no anchor defined before it", name);
    /* An alias puts a whole subtree here, so it can nest deeper than the text shows. */
    if (ld->depth + s->aux > CFG_MAX_DEPTH)
        return fail(ld, line, col, "alias *%.80s nests deeper than %d levels", name, CFG_MAX_DEPTH);
    return add_node(ld, s->val, s->aux);
}

static int on_start(struct loader *ld, const yaml_event_t *ev, cfg_kind_t kind,
                    const yaml_char_t *anchor)
{
    unsigned line = pos(ev->start_mark.line), col = pos(ev->start_mark.column);
    if (wants_key(ld))
        return fail(ld, line, col, "map keys must be scalars, not a %s", cfg_kind_name(kind));
    if (ld->depth == CFG_MAX_DEPTH)
        return fail(ld, line, col, "nesting deeper than %d levels", CFG_MAX_DEPTH);
    cfg_node_t *n = new_node(ld, kind, line, col);
    if (n == NULL)
        return -1;
    struct frame *f = &ld->frames[ld->depth++];
    memset(f, 0, sizeof(*f));
    f->node = n;
    f->first = ld->nents;
    f->want_key = true;
    if (anchor != NULL) {
        f->anchor = arena_strndup(ld->arena, (const char *)anchor, strlen((const char *)anchor));
        if (f->anchor == NULL)
            return fail(ld, line, col, "out of memory");
    }
    return 0;
}

static int build_seq(struct loader *ld, cfg_node_t *n, const struct entry *e, size_t count)
{
    if (count == 0)
        return 0;
    n->items = arena_alloc(ld->arena, count * sizeof(*n->items));
    if (n->items == NULL)
        return fail(ld, n->line, n->col, "out of memory");
    for (size_t i = 0; i < count; i++)
        n->items[i] = e[i].value;
    n->count = count;
    return 0;
}

/* Add `key` to the key table; return 1 if it was there already, with *first set to its value. */
static int add_key(struct loader *ld, const char *key, size_t len, void *val, void **first)
{
    uint64_t h = hash_bytes(key, len);
    if (table_reserve(&ld->keys) < 0)
        return -1;
    struct slot *s = table_find(&ld->keys, key, len, h);
    if (s->gen == ld->keys.gen) {
        *first = s->val;
        return 1;
    }
    table_fill(&ld->keys, s, key, len, h);
    s->val = val;
    return 0;
}

/*
 * Finish a map: reject duplicate keys, then apply the merge key if there is one.  Merged pairs
 * take the place of the `<<` pair; a key written in this map wins over a merged one, and among the
 * merged maps the earlier one wins, as the YAML merge-key spec says.
 */
static int build_map(struct loader *ld, cfg_node_t *n, struct entry *e, size_t count)
{
    const struct entry *merge = NULL;
    void *first;

    table_clear(&ld->keys);
    for (size_t i = 0; i < count; i++) {
        if (e[i].merge) {
            if (merge != NULL)
                return fail(ld, e[i].kline, e[i].kcol, "duplicate merge key '<<' (first at %u:%u)",
                            merge->kline, merge->kcol);
            merge = &e[i];
            continue;
        }
        int rc = add_key(ld, e[i].key, e[i].klen, &e[i], &first);
        if (rc < 0)
            return fail(ld, n->line, n->col, "out of memory");
        if (rc > 0) {
            const struct entry *f = first;
            return fail(ld, e[i].kline, e[i].kcol, "duplicate key '%.80s' (first at %u:%u)",
                        e[i].key, f->kline, f->kcol);
        }
    }

    cfg_node_t *const *srcs = NULL;
    size_t nsrc = 0, cap = count;
    if (merge != NULL) {
        cfg_node_t *v = merge->value;
        if (v->kind == CFG_MAP) {
            srcs = &merge->value;
            nsrc = 1;
        } else if (v->kind == CFG_SEQ) {
            srcs = v->items;
            nsrc = v->count;
        } else {
            return fail(ld, merge->kline, merge->kcol,
                        "the merge key '<<' needs a map or a list of maps, not a %s",
                        cfg_kind_name(v->kind));
        }
        cap--;
        for (size_t j = 0; j < nsrc; j++) {
            if (srcs[j]->kind != CFG_MAP)
                return fail(ld, merge->kline, merge->kcol,
                            "the merge key '<<' lists a %s; only maps can be merged",
                            cfg_kind_name(srcs[j]->kind));
            /* Merged pairs are copies, so they count against the node limit: a chain of merges
             * must not grow the document without bound. */
            if (count_nodes(ld, srcs[j]->count, merge->kline, merge->kcol) < 0)
                return -1;
            cap += srcs[j]->count;
        }
    }
    if (cap == 0)
        return 0;

    cfg_pair_t *pairs = arena_alloc(ld->arena, cap * sizeof(*pairs));
    if (pairs == NULL)
        return fail(ld, n->line, n->col, "out of memory");
    size_t out = 0;
    for (size_t i = 0; i < count; i++) {
        if (!e[i].merge) {
            cfg_pair_t *p = &pairs[out++];
            p->key = e[i].key;
            p->key_line = e[i].kline;
            p->key_col = e[i].kcol;
            p->value = e[i].value;
            continue;
        }
        for (size_t j = 0; j < nsrc; j++) {
            for (size_t k = 0; k < srcs[j]->count; k++) {
                cfg_pair_t *p = &srcs[j]->pairs[k];
                int rc = add_key(ld, p->key, strlen(p->key), p, &first);
                if (rc < 0)
                    return fail(ld, n->line, n->col, "out of memory");
                if (rc == 0)
                    pairs[out++] = *p;
            }
        }
    }
    n->pairs = pairs;
    n->count = out;
    return 0;
}

static int on_end(struct loader *ld)
{
    struct frame *f = &ld->frames[--ld->depth];
    cfg_node_t *n = f->node;
    size_t count = ld->nents - f->first;
    struct entry *e = count > 0 ? ld->ents + f->first : NULL;
    int rc = n->kind == CFG_SEQ ? build_seq(ld, n, e, count) : build_map(ld, n, e, count);
    ld->nents = f->first;
    if (rc < 0)
        return -1;
    /* Registered only now that the node is complete: an alias inside it cannot refer to it. */
    if (f->anchor != NULL && add_anchor(ld, f->anchor, n, f->height + 1) < 0)
        return -1;
    if (ld->depth == 0)
        ld->root_empty = false;
    return add_node(ld, n, f->height + 1);
}

static int on_event(struct loader *ld, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (ld->docs++ > 0)
            return fail(ld, pos(ev->start_mark.line), pos(ev->start_mark.column),
                        "a second document starts here; only one document per file is supported");
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(ld, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(ld, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(ld, ev, CFG_SEQ, ev->data.sequence_start.anchor);
    case YAML_MAPPING_START_EVENT:
        return on_start(ld, ev, CFG_MAP, ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(ld);
    default:
        return 0;
    }
}

static int parser_fail(struct loader *ld, const yaml_parser_t *p)
{
    const char *problem = p->problem != NULL ? p->problem : "YAML error";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return fail(ld, 0, 0, "out of memory");
    case YAML_READER_ERROR: {
        /* Encoding errors come with a byte offset only; count lines and characters up to it. */
        unsigned line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < ld->input_len; i++) {
            unsigned char c = (unsigned char)ld->input[i];
            if (c == '\n') {
                line++;
                col = 1;
            } else if ((c & 0xC0) != 0x80) {
                col++;
            }
        }
        if (p->problem_value != -1)
            return fail(ld, line, col, "%s (0x%X)", problem, (unsigned)p->problem_value);
        return fail(ld, line, col, "%s", problem);
    }
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
        if (p->context != NULL)
            return fail(ld, pos(p->problem_mark.line), pos(p->problem_mark.column),
                        "%s (%s at %u:%u)", problem, p->context, pos(p->context_mark.line),
                        pos(p->context_mark.column));
        return fail(ld, pos(p->problem_mark.line), pos(p->problem_mark.column), "%s", problem);
    default:
        return fail(ld, 0, 0, "%s", problem);
    }
}

static int run(struct loader *ld, yaml_parser_t *p)
{
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev))
            return parser_fail(ld, p);
        bool end = ev.type == YAML_STREAM_END_EVENT;
        int rc = on_event(ld, &ev);
        yaml_event_delete(&ev);
        if (rc < 0)
            return -1;
        if (end)
            return 0;
    }
}

/* ---- Public API ---- */

cfg_doc_t *cfg_doc_load_mem(const char *name, const char *buf, size_t len, cfg_env_fn env,
                            void *env_arg, char *err, size_t errlen)
{
    struct loader ld;
    yaml_parser_t parser;
    bool have_parser = false;
    struct docbox *box = NULL;

    memset(&ld, 0, sizeof(ld));
    ld.file = name != NULL ? name : "<memory>";
    ld.input = buf != NULL ? buf : "";
    ld.input_len = buf != NULL ? len : 0;
    ld.env = env;
    ld.env_arg = env_arg;
    ld.err = err;
    ld.errlen = errlen;
    ld.anchors.gen = 1;
    ld.keys.gen = 1;
    if (err != NULL && errlen > 0)
        err[0] = '\0';

    if (ld.input_len > CFG_MAX_FILE_BYTES) {
        fail(&ld, 0, 0, "file is larger than %u bytes", (unsigned)CFG_MAX_FILE_BYTES);
        goto fail;
    }
    box = calloc(1, sizeof(*box));
    if (box == NULL) {
        fail(&ld, 0, 0, "out of memory");
        goto fail;
    }
    arena_init(&box->arena, 0);
    ld.arena = &box->arena;
    ld.file = arena_strndup(ld.arena, ld.file, strlen(ld.file));
    if (ld.file == NULL) {
        ld.file = name != NULL ? name : "<memory>";
        fail(&ld, 0, 0, "out of memory");
        goto fail;
    }
    if (!yaml_parser_initialize(&parser)) {
        fail(&ld, 0, 0, "out of memory");
        goto fail;
    }
    have_parser = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)ld.input, ld.input_len);
    /* Configuration files are UTF-8 (a BOM is still skipped); fixing the encoding keeps byte
     * offsets and columns meaningful in encoding errors. */
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    if (run(&ld, &parser) < 0)
        goto fail;

    if (ld.root == NULL) {
        ld.root = new_node(&ld, CFG_MAP, 1, 1);
        if (ld.root == NULL)
            goto fail;
    } else if (ld.root_empty) {
        /* `---` alone, or a document of only comments, means "no settings": an empty map. */
        ld.root->kind = CFG_MAP;
    }
    box->doc.root = ld.root;
    box->doc.file = ld.file;
    box->doc._arena = &box->arena;
    yaml_parser_delete(&parser);
    free(ld.ents);
    free(ld.anchors.slots);
    free(ld.keys.slots);
    free(ld.out.p);
    free(ld.name.p);
    return &box->doc;

fail:
    if (have_parser)
        yaml_parser_delete(&parser);
    free(ld.ents);
    free(ld.anchors.slots);
    free(ld.keys.slots);
    free(ld.out.p);
    free(ld.name.p);
    if (box != NULL) {
        arena_free(&box->arena);
        free(box);
    }
    return NULL;
}

cfg_doc_t *cfg_doc_load_file(const char *path, cfg_env_fn env, void *env_arg, char *err,
                             size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        report(err, errlen, path, 0, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    /* Read in a loop rather than trusting st_size, so pipes and growing files are bounded too. */
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap > CFG_MAX_FILE_BYTES) {
                report(err, errlen, path, 0, 0, "file is larger than %u bytes",
                       (unsigned)CFG_MAX_FILE_BYTES);
                goto fail;
            }
            cap = cap != 0 ? cap * 2 : 64u << 10;
            if (cap > CFG_MAX_FILE_BYTES + 1)
                cap = CFG_MAX_FILE_BYTES + 1;
            char *p = realloc(buf, cap);
            if (p == NULL) {
                report(err, errlen, path, 0, 0, "out of memory");
                goto fail;
            }
            buf = p;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            report(err, errlen, path, 0, 0, "cannot read: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    cfg_doc_t *doc = cfg_doc_load_mem(path, buf, len, env, env_arg, err, errlen);
    free(buf);
    return doc;

fail:
    close(fd);
    free(buf);
    return NULL;
}

void cfg_doc_free(cfg_doc_t *doc)
{
    if (doc == NULL)
        return;
    struct docbox *box = (struct docbox *)doc;
    arena_free(&box->arena);
    free(box);
}

const cfg_pair_t *cfg_map_pair(const cfg_node_t *map, const char *key)
{
    if (map == NULL || map->kind != CFG_MAP || key == NULL)
        return NULL;
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->pairs[i].key, key) == 0)
            return &map->pairs[i];
    return NULL;
}

cfg_node_t *cfg_map_get(const cfg_node_t *map, const char *key)
{
    const cfg_pair_t *p = cfg_map_pair(map, key);
    return p != NULL ? p->value : NULL;
}

const char *cfg_kind_name(cfg_kind_t kind)
{
    switch (kind) {
    case CFG_NULL:
        return "null";
    case CFG_BOOL:
        return "boolean";
    case CFG_INT:
        return "integer";
    case CFG_NUM:
        return "number";
    case CFG_STR:
        return "string";
    case CFG_SEQ:
        return "sequence";
    case CFG_MAP:
        return "map";
    }
    return "unknown";
}

/* An environment-sourced string read as the scalar it would have been had it been written plain. */
static const cfg_node_t *env_typed(const cfg_node_t *n, cfg_node_t *tmp)
{
    if (n == NULL || n->kind != CFG_STR || !n->from_env)
        return n;
    memset(tmp, 0, sizeof(*tmp));
    if (classify(n->str, n->len, tmp) < 0)
        tmp->kind = CFG_STR;
    return tmp;
}

int cfg_read_int(const cfg_node_t *n, int64_t *out)
{
    cfg_node_t tmp;
    n = env_typed(n, &tmp);
    if (n == NULL || n->kind != CFG_INT)
        return -1;
    *out = n->i;
    return 0;
}

int cfg_read_num(const cfg_node_t *n, double *out)
{
    cfg_node_t tmp;
    n = env_typed(n, &tmp);
    if (n == NULL || (n->kind != CFG_NUM && n->kind != CFG_INT))
        return -1;
    *out = n->d;
    return 0;
}

int cfg_read_bool(const cfg_node_t *n, bool *out)
{
    if (n == NULL)
        return -1;
    if (n->kind == CFG_BOOL) {
        *out = n->b;
        return 0;
    }
    if (n->kind == CFG_STR && n->from_env) {
        if (strcasecmp(n->str, "true") == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(n->str, "false") == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}
