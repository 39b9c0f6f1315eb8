/*
 * policy: loading, checking and evaluating routing rules (see policy.h and policies/README.md).
 *
 * Loading turns the YAML into flat, pre-digested rules: lowercased header names, parsed time
 * windows with their zones already read, token ranges as inclusive bounds, the result each rule
 * produces already filled in.  Evaluation then only compares, so it cannot fail and needs no
 * allocation.  Everything a set needs is copied into its own arena, which frees the set from the
 * lifetime of the documents it was read from (the caller's config may be reloaded or freed first).
 */
#include "policy.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arena.h"
#include "cfg.h"

/* Limits that keep a broken or hostile configuration bounded. */
#define POL_MAX_RULES 10000
#define POL_MAX_FILES 1000
#define POL_MAX_NAME 128

/* ---- The digested form ----------------------------------------------------------------------- */

typedef struct pat {
    const char *s;
    size_t len;
    bool glob; /* contains '*' */
} pat_t;

typedef struct patlist {
    pat_t *v;
    size_t n;
} patlist_t;

typedef enum vkind { V_STR, V_NUM, V_BOOL } vkind_t;

typedef struct val {
    vkind_t kind;
    pat_t s;
    double d;
    bool b;
} val_t;

/* One metadata field or header condition. */
typedef struct field {
    const char *name; /* header names are lowercased */
    int present;      /* -1: compare with vals; 0: must be absent; 1: must be present */
    val_t *vals;
    size_t nvals;
} field_t;

typedef struct fieldlist {
    field_t *v;
    size_t n;
} fieldlist_t;

typedef struct timewin {
    const pol_tz_t *tz; /* NULL = UTC; owned by the set */
    bool outside;       /* match when the instant is NOT in the window */
    bool has_range;
    int start, end; /* minutes after local midnight, end exclusive (1440 = midnight); wraps if
                       start > end */
    uint8_t days;   /* bit d = weekday d, 0 = Sunday */
} timewin_t;

/* Match attributes, in the order the documentation lists them. */
enum attr {
    A_MODEL,
    A_KEY,
    A_KEY_ALIAS,
    A_USER,
    A_TEAM,
    A_CUSTOMER,
    A_KEY_METADATA,
    A_TEAM_METADATA,
    A_TAGS,
    A_HEADER,
    A_PROMPT_TOKENS,
    A_HAS_TOOLS,
    A_HAS_IMAGES,
    A_TIME,
    A_COUNT
};

static const char *const attr_names[] = {
    "model",         "key",          "key_alias",     "user", "team",
    "customer",      "key_metadata", "team_metadata", "tags", "header",
    "prompt_tokens", "has_tools",    "has_images",    "time", NULL,
};

typedef struct rule {
    uint32_t conds;            /* bit per enum attr present in `match` */
    patlist_t str[A_TAGS + 1]; /* model, key, key_alias, user, team, customer, tags (by attr) */
    fieldlist_t key_md, team_md, header;
    int64_t tok_lo, tok_hi; /* inclusive */
    bool has_tools, has_images;
    timewin_t time;
    pol_result_t res;
} rule_t;

struct pol_set {
    arena_t mem;
    rule_t *rules;
    size_t nrules, cap;
    pol_tz_t **tz; /* zones read for time windows, shared by rules naming the same zone */
    size_t ntz, tzcap;
};

/* ---- Loading --------------------------------------------------------------------------------- */

typedef struct named {
    const char *name;
    const cfg_node_t *node;
} named_t;

typedef struct loader {
    pol_set_t *set;
    const char *config_dir;
    pol_target_fn known;
    void *arg;
    unsigned errors;
    bool oom;
    named_t *names; /* every rule name seen, to refuse duplicates */
    size_t nnames, namecap;
    cfg_doc_t **docs; /* the policy files' documents, alive until the end of pol_load() */
    size_t ndocs, doccap;
    size_t nfiles;
    size_t nseen; /* rules read, enabled or not: bounds the work a huge document can cause */
    const char *catch_all; /* the first enabled rule that matches everything, if any */
    bool catch_all_warned;
} loader_t;

static void perr(loader_t *L, const cfg_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void perr(loader_t *L, const cfg_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfg_verror(n, fmt, ap);
    va_end(ap);
    L->errors++;
}

/* A node positioned at a map key, for errors about the key rather than its value. */
static cfg_node_t key_node(const cfg_pair_t *p)
{
    cfg_node_t n = *p->value;
    n.line = p->key_line;
    n.col = p->key_col;
    return n;
}

static void *alloc(loader_t *L, size_t size)
{
    void *p = arena_alloc(&L->set->mem, size);
    if (p == NULL) {
        if (!L->oom)
            perr(L, NULL, "policies: out of memory");
        L->oom = true;
        return NULL;
    }
    memset(p, 0, size);
    return p;
}

static const char *dup(loader_t *L, const char *s, size_t len)
{
    char *p = arena_strndup(&L->set->mem, s, len);
    if (p == NULL && !L->oom) {
        perr(L, NULL, "policies: out of memory");
        L->oom = true;
    }
    return p;
}

/* Grow a malloc'd array to hold one more element; false (and an error) when out of memory. */
static bool grow(loader_t *L, void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*v, ncap * elem);
    if (p == NULL) {
        if (!L->oom)
            perr(L, NULL, "policies: out of memory");
        L->oom = true;
        return false;
    }
    *v = p;
    *cap = ncap;
    return true;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32)
        return SIZE_MAX;
    size_t row[33];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* "unknown <what> 'x' (did you mean 'y'?); allowed: a, b, c" at the key. */
static void unknown_key(loader_t *L, const cfg_pair_t *p, const char *what,
                        const char *const *allowed)
{
    char list[512];
    size_t n = 0;
    const char *hint = NULL;
    size_t best = 3; /* only suggest names within two edits */
    list[0] = '\0';
    for (size_t i = 0; allowed[i] != NULL; i++) {
        int w = snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", allowed[i]);
        if (w > 0 && (size_t)w < sizeof list - n)
            n += (size_t)w;
        size_t d = edit_distance(p->key, allowed[i]);
        if (d < best) {
            best = d;
            hint = allowed[i];
        }
    }
    cfg_node_t at = key_node(p);
    if (hint != NULL)
        perr(L, &at, "unknown %s '%s' (did you mean '%s'?); allowed: %s", what, p->key, hint, list);
    else
        perr(L, &at, "unknown %s '%s'; allowed: %s", what, p->key, list);
}

/* Report keys of `m` not in `allowed`; true if all were known. */
static bool check_keys(loader_t *L, const cfg_node_t *m, const char *what,
                       const char *const *allowed)
{
    bool ok = true;
    for (size_t i = 0; i < m->count; i++) {
        size_t k = 0;
        while (allowed[k] != NULL && strcmp(allowed[k], m->pairs[i].key) != 0)
            k++;
        if (allowed[k] == NULL) {
            unknown_key(L, &m->pairs[i], what, allowed);
            ok = false;
        }
    }
    return ok;
}

/* A non-empty string scalar, or NULL after an error. */
static const char *get_string(loader_t *L, const cfg_node_t *n, const char *what)
{
    if (n->kind != CFG_STR) {
        perr(L, n, "%s must be a string, not %s", what, cfg_kind_name(n->kind));
        return NULL;
    }
    if (n->len == 0) {
        perr(L, n, "%s must not be empty", what);
        return NULL;
    }
    return n->str;
}

static bool get_bool(loader_t *L, const cfg_node_t *n, const char *what, bool *out)
{
    if (cfg_read_bool(n, out) != 0) {
        perr(L, n, "%s must be true or false, not %s", what, cfg_kind_name(n->kind));
        return false;
    }
    return true;
}

/* Names end up in logs and response headers: printable ASCII without quotes or backslashes. */
static bool name_char_ok(char c)
{
    return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
}

static bool check_name(loader_t *L, const cfg_node_t *n, const char *what)
{
    if (get_string(L, n, what) == NULL)
        return false;
    if (n->len > POL_MAX_NAME) {
        perr(L, n, "%s is longer than %d characters", what, POL_MAX_NAME);
        return false;
    }
    for (size_t i = 0; i < n->len; i++) {
        if (!name_char_ok(n->str[i])) {
            perr(L, n, "%s may only contain printable ASCII characters other than '\"' and '\\'",
                 what);
            return false;
        }
    }
    return true;
}

static pat_t make_pat(loader_t *L, const char *s, size_t len)
{
    pat_t p = {dup(L, s, len), len, memchr(s, '*', len) != NULL};
    return p;
}

/* A string or integer scalar usable as a pattern ("user: 12345" is written without quotes). */
static bool pattern_scalar(const cfg_node_t *n)
{
    return n->kind == CFG_STR || n->kind == CFG_INT;
}

/* model, key, key_alias, user, team, customer, tags: a string or a list of strings. */
static void parse_patlist(loader_t *L, const cfg_pair_t *p, patlist_t *out)
{
    const cfg_node_t *v = p->value;
    size_t n = v->kind == CFG_SEQ ? v->count : 1;
    if (v->kind != CFG_SEQ && !pattern_scalar(v)) {
        perr(L, v, "'%s' must be a string or a list of strings, not %s", p->key,
             cfg_kind_name(v->kind));
        return;
    }
    if (n == 0) {
        perr(L, v, "'%s' must not be an empty list", p->key);
        return;
    }
    out->v = alloc(L, n * sizeof *out->v);
    if (out->v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        const cfg_node_t *it = v->kind == CFG_SEQ ? v->items[i] : v;
        if (!pattern_scalar(it)) {
            perr(L, it, "'%s' entries must be strings, not %s", p->key, cfg_kind_name(it->kind));
            continue;
        }
        if (it->len == 0) {
            perr(L, it, "'%s' entries must not be empty", p->key);
            continue;
        }
        out->v[out->n++] = make_pat(L, it->str, it->len);
    }
}

/* RFC 9110 token characters, which is what a header name may contain. */
static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* One value of a metadata or header condition.  Header values are text whatever YAML typed them. */
static bool parse_val(loader_t *L, const cfg_node_t *n, bool header, const char *what, val_t *out)
{
    switch (n->kind) {
    case CFG_STR:
    case CFG_INT:
    case CFG_NUM:
    case CFG_BOOL:
        break;
    default:
        perr(L, n, "%s values must be strings, numbers or booleans, not %s", what,
             cfg_kind_name(n->kind));
        return false;
    }
    if (header || n->kind == CFG_STR) {
        if (n->len == 0 && header) {
            perr(L, n, "%s value must not be empty (use {present: true} to test for the header)",
                 what);
            return false;
        }
        out->kind = V_STR;
        out->s = make_pat(L, n->str, n->len);
    } else if (n->kind == CFG_BOOL) {
        out->kind = V_BOOL;
        out->b = n->b;
    } else {
        out->kind = V_NUM;
        out->d = n->d;
    }
    return true;
}

/* key_metadata, team_metadata, header: {name: value | [values] | {present: bool}}. */
static void parse_fields(loader_t *L, const cfg_pair_t *p, bool header, fieldlist_t *out)
{
    const cfg_node_t *m = p->value;
    if (m->kind != CFG_MAP || m->count == 0) {
        perr(L, m, "'%s' must be a map of %s: value (or [values], or {present: true|false})",
             p->key, header ? "header-name" : "field");
        return;
    }
    out->v = alloc(L, m->count * sizeof *out->v);
    if (out->v == NULL)
        return;
    for (size_t i = 0; i < m->count; i++) {
        const cfg_pair_t *fp = &m->pairs[i];
        const cfg_node_t *v = fp->value;
        cfg_node_t at = key_node(fp);
        field_t *f = &out->v[out->n];
        size_t klen = strlen(fp->key);
        if (klen == 0) {
            perr(L, &at, "'%s' has an empty name", p->key);
            continue;
        }
        if (header) {
            char name[256];
            if (klen >= sizeof name) {
                perr(L, &at, "header name '%s' is too long", fp->key);
                continue;
            }
            size_t k;
            for (k = 0; k < klen && tchar(fp->key[k]); k++)
                name[k] = lower(fp->key[k]);
            if (k < klen) {
                perr(L, &at, "'%s' is not a valid header name", fp->key);
                continue;
            }
            name[k] = '\0';
            f->name = dup(L, name, klen);
        } else {
            f->name = dup(L, fp->key, klen);
        }
        char what[300];
        snprintf(what, sizeof what, "%s '%s'", header ? "header" : p->key, fp->key);
        f->present = -1;
        if (v->kind == CFG_MAP) {
            const cfg_node_t *pr = cfg_map_get(v, "present");
            if (v->count != 1 || pr == NULL) {
                perr(L, v, "%s: a map here must be {present: true} or {present: false}", what);
                continue;
            }
            bool b;
            if (!get_bool(L, pr, "present", &b))
                continue;
            f->present = b;
        } else if (v->kind == CFG_SEQ) {
            if (v->count == 0) {
                perr(L, v, "%s: the list of values must not be empty", what);
                continue;
            }
            f->vals = alloc(L, v->count * sizeof *f->vals);
            if (f->vals == NULL)
                continue;
            for (size_t k = 0; k < v->count; k++)
                if (parse_val(L, v->items[k], header, what, &f->vals[f->nvals]))
                    f->nvals++;
        } else if (v->kind == CFG_NULL) {
            perr(L, v, "%s needs a value, a list of values, or {present: true|false}", what);
            continue;
        } else {
            f->vals = alloc(L, sizeof *f->vals);
            if (f->vals == NULL || !parse_val(L, v, header, what, &f->vals[0]))
                continue;
            f->nvals = 1;
        }
        out->n++;
    }
}

static void parse_tokens(loader_t *L, rule_t *r, const cfg_pair_t *p)
{
    static const char *const keys[] = {"lt", "lte", "gt", "gte", NULL};
    const cfg_node_t *m = p->value;
    if (m->kind != CFG_MAP || m->count == 0) {
        perr(L, m, "'prompt_tokens' must be a map with lt, lte, gt and/or gte, e.g. {lt: 200}");
        return;
    }
    if (!check_keys(L, m, "prompt_tokens bound", keys))
        return;
    const cfg_node_t *lt = cfg_map_get(m, "lt"), *lte = cfg_map_get(m, "lte");
    const cfg_node_t *gt = cfg_map_get(m, "gt"), *gte = cfg_map_get(m, "gte");
    if (lt != NULL && lte != NULL) {
        perr(L, lte, "prompt_tokens: give either lt or lte, not both");
        return;
    }
    if (gt != NULL && gte != NULL) {
        perr(L, gte, "prompt_tokens: give either gt or gte, not both");
        return;
    }
    r->tok_lo = 0;
    r->tok_hi = INT64_MAX;
    for (size_t i = 0; i < m->count; i++) {
        const cfg_node_t *v = m->pairs[i].value;
        const char *k = m->pairs[i].key;
        int64_t x;
        if (cfg_read_int(v, &x) != 0) {
            perr(L, v, "prompt_tokens %s must be an integer, not %s", k, cfg_kind_name(v->kind));
            return;
        }
        if (x < 0) {
            perr(L, v, "prompt_tokens %s must not be negative", k);
            return;
        }
        if (v == lt)
            r->tok_hi = x - 1;
        else if (v == lte)
            r->tok_hi = x;
        else if (v == gt)
            r->tok_lo = x == INT64_MAX ? x : x + 1;
        else
            r->tok_lo = x;
    }
    if (r->tok_lo > r->tok_hi)
        perr(L, m, "prompt_tokens: this range matches no request");
}

/* "HH:MM" with 0 <= HH <= 23 (24:00 allowed as an end), into minutes; advances *s. */
static bool parse_clock(const char **s, bool is_end, int *out)
{
    const char *p = *s;
    int h = 0, m = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 2) {
        h = h * 10 + (*p++ - '0');
        nd++;
    }
    if (nd == 0 || *p != ':' || !(p[1] >= '0' && p[1] <= '9') || !(p[2] >= '0' && p[2] <= '9'))
        return false;
    m = (p[1] - '0') * 10 + (p[2] - '0');
    p += 3;
    if (m > 59 || h > 24 || (h == 24 && (m != 0 || !is_end)))
        return false;
    *out = h * 60 + m;
    *s = p;
    return true;
}

static bool parse_range(const char *s, int *start, int *end)
{
    while (*s == ' ')
        s++;
    if (!parse_clock(&s, false, start))
        return false;
    while (*s == ' ')
        s++;
    if (*s++ != '-')
        return false;
    while (*s == ' ')
        s++;
    if (!parse_clock(&s, true, end))
        return false;
    while (*s == ' ')
        s++;
    return *s == '\0';
}

static int day_index(const char *s, size_t len)
{
    static const char *const full[] = {"sunday",   "monday", "tuesday", "wednesday",
                                       "thursday", "friday", "saturday"};
    for (int d = 0; d < 7; d++) {
        size_t fl = strlen(full[d]);
        if (len != 3 && len != fl)
            continue;
        size_t k;
        for (k = 0; k < len && lower(s[k]) == full[d][k]; k++)
            ;
        if (k == len)
            return d;
    }
    return -1;
}

/* A day ("mon", "monday") or a range of days ("mon-fri", "fri-mon" wraps over the weekend). */
static bool parse_days_item(const char *s, uint8_t *mask)
{
    const char *dash = strchr(s, '-');
    int a = day_index(s, dash ? (size_t)(dash - s) : strlen(s));
    if (a < 0)
        return false;
    if (dash == NULL) {
        *mask |= (uint8_t)(1u << a);
        return true;
    }
    int b = day_index(dash + 1, strlen(dash + 1));
    if (b < 0)
        return false;
    for (int d = a;; d = (d + 1) % 7) {
        *mask |= (uint8_t)(1u << d);
        if (d == b)
            break;
    }
    return true;
}

static const pol_tz_t *get_tz(loader_t *L, const cfg_node_t *n)
{
    pol_set_t *set = L->set;
    for (size_t i = 0; i < set->ntz; i++)
        if (strcmp(pol_tz_name(set->tz[i]), n->str) == 0)
            return set->tz[i];
    char err[512];
    pol_tz_t *tz = pol_tz_load(n->str, NULL, err, sizeof err);
    if (tz == NULL) {
        perr(L, n, "%s", err);
        return NULL;
    }
    if (!grow(L, (void **)&set->tz, &set->tzcap, set->ntz, sizeof *set->tz)) {
        pol_tz_free(tz);
        return NULL;
    }
    set->tz[set->ntz++] = tz;
    return tz;
}

static void parse_time(loader_t *L, rule_t *r, const cfg_pair_t *p)
{
    static const char *const keys[] = {"between", "outside", "days", "tz", NULL};
    const cfg_node_t *m = p->value;
    timewin_t *w = &r->time;
    if (m->kind != CFG_MAP) {
        perr(L, m,
             "'time' must be a map like {between: \"09:00-18:00\", days: [mon-fri], "
             "tz: Europe/Berlin}");
        return;
    }
    if (!check_keys(L, m, "time key", keys))
        return;
    const cfg_node_t *between = cfg_map_get(m, "between"), *outside = cfg_map_get(m, "outside");
    const cfg_node_t *days = cfg_map_get(m, "days"), *tz = cfg_map_get(m, "tz");
    if (between != NULL && outside != NULL) {
        perr(L, outside, "time: give either between or outside, not both");
        return;
    }
    if (between == NULL && outside == NULL && days == NULL) {
        perr(L, m, "time needs 'between' or 'outside' (\"HH:MM-HH:MM\") and/or 'days'");
        return;
    }
    const cfg_node_t *range = between != NULL ? between : outside;
    w->outside = outside != NULL;
    if (range != NULL && range->kind != CFG_NULL) {
        if (range->kind != CFG_STR || !parse_range(range->str, &w->start, &w->end)) {
            perr(L, range,
                 "time range must be \"HH:MM-HH:MM\" (24-hour clock, e.g. "
                 "\"09:00-18:00\" or \"22:00-06:00\")");
        } else if (w->start == w->end % 1440) {
            perr(L, range,
                 "time range \"%s\" starts where it ends (for whole days use only "
                 "'days')",
                 range->str);
        } else {
            w->has_range = true;
        }
    } else if (range != NULL) {
        perr(L, range, "time range must be \"HH:MM-HH:MM\"");
    }
    w->days = 0x7f;
    if (days != NULL) {
        size_t n = days->kind == CFG_SEQ ? days->count : 1;
        if ((days->kind != CFG_SEQ && days->kind != CFG_STR) || n == 0) {
            perr(L, days, "days must be a list like [mon, tue] or [mon-fri]");
        } else {
            w->days = 0;
            for (size_t i = 0; i < n; i++) {
                const cfg_node_t *d = days->kind == CFG_SEQ ? days->items[i] : days;
                if (d->kind != CFG_STR || !parse_days_item(d->str, &w->days))
                    perr(L, d,
                         "'%s' is not a day: use mon, tue, wed, thu, fri, sat, sun or a "
                         "range like mon-fri",
                         d->kind == CFG_STR ? d->str : "(not a string)");
            }
        }
    }
    if (tz != NULL && get_string(L, tz, "tz") != NULL)
        w->tz = get_tz(L, tz);
}

static void parse_match(loader_t *L, rule_t *r, const cfg_node_t *m)
{
    if (m->kind == CFG_NULL)
        return; /* `match:` with nothing: every request */
    if (m->kind != CFG_MAP) {
        perr(L, m, "match must be a map of conditions, not %s", cfg_kind_name(m->kind));
        return;
    }
    for (size_t i = 0; i < m->count; i++) {
        const cfg_pair_t *p = &m->pairs[i];
        int a = 0;
        while (attr_names[a] != NULL && strcmp(attr_names[a], p->key) != 0)
            a++;
        if (attr_names[a] == NULL) {
            unknown_key(L, p, "match attribute", attr_names);
            continue;
        }
        r->conds |= 1u << a;
        switch ((enum attr)a) {
        case A_KEY_METADATA:
            parse_fields(L, p, false, &r->key_md);
            break;
        case A_TEAM_METADATA:
            parse_fields(L, p, false, &r->team_md);
            break;
        case A_HEADER:
            parse_fields(L, p, true, &r->header);
            break;
        case A_PROMPT_TOKENS:
            parse_tokens(L, r, p);
            break;
        case A_HAS_TOOLS:
            get_bool(L, p->value, "has_tools", &r->has_tools);
            break;
        case A_HAS_IMAGES:
            get_bool(L, p->value, "has_images", &r->has_images);
            break;
        case A_TIME:
            parse_time(L, r, p);
            break;
        default: /* the string attributes, model .. tags */
            parse_patlist(L, p, &r->str[a]);
            break;
        }
    }
}

static bool check_target(loader_t *L, const cfg_node_t *n, char kind)
{
    if (L->known == NULL || L->known(L->arg, kind, n->str))
        return true;
    if (kind == 'g')
        perr(L, n, "route: unknown model group '%s' (not a model_name in model_list)", n->str);
    else
        perr(L, n, "route_deployment: unknown deployment id '%s'", n->str);
    return false;
}

static void parse_restrict(loader_t *L, rule_t *r, const cfg_node_t *m)
{
    static const char *const keys[] = {"tag", "region", "cheapest", NULL};
    if (m->kind != CFG_MAP) {
        perr(L, m, "restrict must be a map like {region: eu} or {tag: gdpr, cheapest: true}");
        return;
    }
    if (!check_keys(L, m, "restrict key", keys))
        return;
    const cfg_node_t *tag = cfg_map_get(m, "tag"), *region = cfg_map_get(m, "region");
    const cfg_node_t *cheap = cfg_map_get(m, "cheapest");
    if (tag == NULL && region == NULL) {
        perr(L, m,
             "restrict needs 'tag' and/or 'region' (for the cheapest deployment alone use "
             "`prefer: cheapest`)");
        return;
    }
    if (tag != NULL && get_string(L, tag, "restrict tag") != NULL)
        r->res.tag = dup(L, tag->str, tag->len);
    if (region != NULL && get_string(L, region, "restrict region") != NULL)
        r->res.region = dup(L, region->str, region->len);
    if (cheap != NULL)
        get_bool(L, cheap, "restrict cheapest", &r->res.prefer_cheapest);
    r->res.action = POL_RESTRICT;
}

/* {limit: {rpm: 10, tpm: 20000, max_parallel: 2, per: team}} */
static void parse_limit(loader_t *L, rule_t *r, const cfg_node_t *v)
{
    static const char *const keys[] = {"rpm", "tpm", "max_parallel", "per", NULL};
    static const char *const pers[] = {"key", "user", "team", "customer", "all", NULL};
    if (v->kind != CFG_MAP) {
        perr(L, v, "limit must be a map like {rpm: 10, per: team}");
        return;
    }
    if (!check_keys(L, v, "limit", keys))
        return;
    int64_t *dst[3] = {&r->res.rpm, &r->res.tpm, &r->res.max_parallel};
    for (int i = 0; i < 3; i++) {
        const cfg_node_t *n = cfg_map_get(v, keys[i]);
        if (n != NULL && (cfg_read_int(n, dst[i]) != 0 || *dst[i] < 1 || *dst[i] > 1000000000))
            perr(L, n, "limit %s must be a positive integer", keys[i]);
    }
    if (r->res.rpm == 0 && r->res.tpm == 0 && r->res.max_parallel == 0)
        perr(L, v, "limit needs at least one of rpm, tpm, max_parallel");
    const cfg_node_t *per = cfg_map_get(v, "per");
    r->res.per = POL_PER_KEY;
    if (per != NULL) {
        int k = 0;
        while (pers[k] != NULL && (per->kind != CFG_STR || strcmp(pers[k], per->str) != 0))
            k++;
        if (pers[k] == NULL)
            perr(L, per, "limit per must be key, user, team, customer or all");
        else
            r->res.per = (pol_per_t)k;
    }
    r->res.action = POL_LIMIT;
}

static void parse_action(loader_t *L, rule_t *r, const cfg_node_t *m)
{
    static const char *const keys[] = {"route",  "route_deployment", "restrict", "prefer",
                                       "reject", "status",           "limit",    NULL};
    if (m->kind != CFG_MAP) {
        perr(L, m, "action must be a map like {route: <group>} or {reject: <message>}, not %s",
             cfg_kind_name(m->kind));
        return;
    }
    if (!check_keys(L, m, "action", keys))
        return;
    const cfg_pair_t *verb = NULL;
    for (size_t i = 0; i < m->count; i++) {
        const cfg_pair_t *p = &m->pairs[i];
        if (strcmp(p->key, "status") == 0)
            continue;
        if (verb != NULL) {
            cfg_node_t at = key_node(p);
            perr(L, &at,
                 "an action does one thing: '%s' and '%s' cannot be combined (write two "
                 "rules)",
                 verb->key, p->key);
            return;
        }
        verb = p;
    }
    if (verb == NULL) {
        perr(L, m,
             "action needs one of: route, route_deployment, restrict, prefer, reject, limit");
        return;
    }
    const cfg_node_t *v = verb->value, *status = cfg_map_get(m, "status");
    if (status != NULL && strcmp(verb->key, "reject") != 0) {
        perr(L, status, "status only goes with reject");
        return;
    }
    if (strcmp(verb->key, "route") == 0) {
        if (get_string(L, v, "route") != NULL && check_target(L, v, 'g')) {
            r->res.action = POL_ROUTE_GROUP;
            r->res.target = dup(L, v->str, v->len);
        }
    } else if (strcmp(verb->key, "route_deployment") == 0) {
        if (get_string(L, v, "route_deployment") != NULL && check_target(L, v, 'd')) {
            r->res.action = POL_ROUTE_DEPLOYMENT;
            r->res.target = dup(L, v->str, v->len);
        }
    } else if (strcmp(verb->key, "restrict") == 0) {
        parse_restrict(L, r, v);
    } else if (strcmp(verb->key, "limit") == 0) {
        parse_limit(L, r, v);
    } else if (strcmp(verb->key, "prefer") == 0) {
        if (v->kind != CFG_STR || strcmp(v->str, "cheapest") != 0) {
            perr(L, v, "prefer must be 'cheapest'");
            return;
        }
        r->res.action = POL_PREFER_CHEAPEST;
        r->res.prefer_cheapest = true;
    } else {
        if (get_string(L, v, "reject message") == NULL)
            return;
        r->res.action = POL_REJECT;
        r->res.message = dup(L, v->str, v->len);
        r->res.status = 403;
        if (status != NULL) {
            int64_t s;
            if (cfg_read_int(status, &s) != 0 || s < 400 || s > 599)
                perr(L, status, "reject status must be an HTTP error status (400-599)");
            else
                r->res.status = (int)s;
        }
    }
}

static void parse_rule(loader_t *L, const cfg_node_t *rn, const char *setname, size_t index)
{
    static const char *const keys[] = {"name", "description", "enabled", "match", "action", NULL};
    if (rn->kind != CFG_MAP) {
        perr(L, rn, "a rule must be a map with 'match:' and 'action:', not %s",
             cfg_kind_name(rn->kind));
        return;
    }
    if (++L->nseen > POL_MAX_RULES) {
        if (L->nseen == POL_MAX_RULES + 1)
            perr(L, rn, "more than %d policy rules", POL_MAX_RULES);
        return;
    }
    unsigned before = L->errors;
    check_keys(L, rn, "rule key", keys);
    rule_t r;
    memset(&r, 0, sizeof r);

    const cfg_node_t *name = cfg_map_get(rn, "name"), *desc = cfg_map_get(rn, "description");
    const cfg_node_t *enabled = cfg_map_get(rn, "enabled");
    const cfg_node_t *match = cfg_map_get(rn, "match"), *action = cfg_map_get(rn, "action");
    const cfg_node_t *name_at = rn;
    if (name != NULL) {
        if (check_name(L, name, "rule name"))
            r.res.rule = dup(L, name->str, name->len);
        name_at = name;
    } else {
        /* "<policy>#<n>", so a log line still says which rule it was. */
        char buf[POL_MAX_NAME + 32];
        int n = snprintf(buf, sizeof buf, "%s#%zu", setname, index);
        size_t len = n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
        r.res.rule = dup(L, buf, len);
    }
    if (desc != NULL && desc->kind != CFG_STR && desc->kind != CFG_NULL)
        perr(L, desc, "description must be a string");
    bool on = true;
    if (enabled != NULL)
        get_bool(L, enabled, "enabled", &on);
    if (match != NULL)
        parse_match(L, &r, match);
    if (action == NULL)
        perr(L, rn, "rule '%s' has no action", r.res.rule ? r.res.rule : "?");
    else
        parse_action(L, &r, action);

    if (r.res.rule != NULL) {
        for (size_t i = 0; i < L->nnames; i++) {
            if (strcmp(L->names[i].name, r.res.rule) == 0) {
                const cfg_node_t *prev = L->names[i].node;
                perr(L, name_at, "rule name '%s' is already used at %s:%u", r.res.rule, prev->file,
                     prev->line);
                break;
            }
        }
        if (grow(L, (void **)&L->names, &L->namecap, L->nnames, sizeof *L->names))
            L->names[L->nnames++] = (named_t){r.res.rule, name_at};
    }
    if (L->errors != before || !on)
        return; /* disabled rules are checked like the others, then left out */

    if (r.res.action == POL_LIMIT) {
        /* Limit rules all apply; they neither hide nor are hidden by routing rules. */
    } else if (L->catch_all != NULL && !L->catch_all_warned) {
        /* Once is enough: every later rule is hidden by the same one. */
        cfg_warn(rn,
                 "rule '%s' and the rules after it can never match: rule '%s' before them "
                 "matches every request",
                 r.res.rule, L->catch_all);
        L->catch_all_warned = true;
    } else if (L->catch_all == NULL && r.conds == 0)
        L->catch_all = r.res.rule;
    pol_set_t *set = L->set;
    if (!grow(L, (void **)&set->rules, &set->cap, set->nrules, sizeof *set->rules))
        return;
    set->rules[set->nrules++] = r;
}

/* One policy: {name?, description?, rules: [...]}. */
static void load_policy(loader_t *L, const cfg_node_t *m, const char *default_name)
{
    static const char *const keys[] = {"name", "description", "rules", NULL};
    if (m->kind != CFG_MAP) {
        perr(L, m,
             "a policy must be a map with 'rules:' (and optionally 'name:', "
             "'description:'), not %s",
             cfg_kind_name(m->kind));
        return;
    }
    check_keys(L, m, "policy key", keys);
    const cfg_node_t *name = cfg_map_get(m, "name"), *rules = cfg_map_get(m, "rules");
    const cfg_node_t *desc = cfg_map_get(m, "description");
    const char *setname = default_name;
    if (name != NULL && check_name(L, name, "policy name"))
        setname = name->str;
    if (desc != NULL && desc->kind != CFG_STR && desc->kind != CFG_NULL)
        perr(L, desc, "description must be a string");
    if (rules == NULL) {
        perr(L, m, "a policy needs a 'rules:' list");
        return;
    }
    if (rules->kind != CFG_SEQ) {
        perr(L, rules, "rules must be a list, not %s", cfg_kind_name(rules->kind));
        return;
    }
    for (size_t i = 0; i < rules->count; i++)
        parse_rule(L, rules->items[i], setname, i + 1);
}

/* The file name without directory and .yaml/.yml, with characters unfit for names replaced. */
static void file_stem(const char *path, char *out, size_t outlen)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
        n -= 5;
    else if (n > 4 && strcmp(base + n - 4, ".yml") == 0)
        n -= 4;
    if (n >= outlen)
        n = outlen - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = name_char_ok(base[i]) ? base[i] : '_';
    out[n] = '\0';
}

static void load_file(loader_t *L, const char *path)
{
    if (++L->nfiles > POL_MAX_FILES) {
        if (L->nfiles == POL_MAX_FILES + 1)
            perr(L, NULL, "policies: more than %d policy files", POL_MAX_FILES);
        return;
    }
    char err[1024];
    cfg_doc_t *doc = cfg_doc_load_file(path, NULL, NULL, err, sizeof err);
    if (doc == NULL) {
        perr(L, NULL, "%s", err);
        return;
    }
    if (!grow(L, (void **)&L->docs, &L->doccap, L->ndocs, sizeof *L->docs)) {
        cfg_doc_free(doc);
        return;
    }
    L->docs[L->ndocs++] = doc;
    char stem[POL_MAX_NAME + 1];
    file_stem(path, stem, sizeof stem);
    load_policy(L, doc->root, stem[0] != '\0' ? stem : "policy");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool yaml_name(const char *n)
{
    size_t len = strlen(n);
    return n[0] != '.' && ((len > 5 && strcmp(n + len - 5, ".yaml") == 0) ||
                           (len > 4 && strcmp(n + len - 4, ".yml") == 0));
}

/* A directory: its *.yaml and *.yml files in name order, so the order of rules is predictable. */
static void load_dir(loader_t *L, const char *dir, const cfg_node_t *at)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        perr(L, at, "cannot read policy directory '%s': %s", dir, strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!yaml_name(de->d_name))
            continue;
        if (n >= POL_MAX_FILES) {
            perr(L, at, "policy directory '%s' has more than %d files", dir, POL_MAX_FILES);
            break;
        }
        char *copy = strdup(de->d_name);
        if (copy == NULL || !grow(L, (void **)&names, &cap, n, sizeof *names)) {
            free(copy);
            break;
        }
        names[n++] = copy;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, cmp_str);
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) < sizeof path &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            load_file(L, path);
            found++;
        }
        free(names[i]);
    }
    free(names);
    if (found == 0)
        cfg_warn(at, "policy directory '%s' has no .yaml files", dir);
}

static void load_path(loader_t *L, const cfg_node_t *n)
{
    if (get_string(L, n, "a policy file path") == NULL)
        return;
    char path[4096];
    const char *dir = L->config_dir;
    int w;
    if (n->str[0] == '/' || dir == NULL || dir[0] == '\0')
        w = snprintf(path, sizeof path, "%s", n->str);
    else
        w = snprintf(path, sizeof path, "%s/%s", dir, n->str);
    if (w < 0 || (size_t)w >= sizeof path) {
        perr(L, n, "policy file path is too long");
        return;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        perr(L, n, "cannot read policy file '%s': %s", path, strerror(errno));
        return;
    }
    /* Only regular files: a FIFO or a device would block or never end. */
    if (S_ISDIR(st.st_mode))
        load_dir(L, path, n);
    else if (S_ISREG(st.st_mode))
        load_file(L, path);
    else
        perr(L, n, "policy file '%s' is not a regular file or directory", path);
}

pol_set_t *pol_load(const cfg_node_t *spec, const char *config_dir, pol_target_fn known, void *arg)
{
    pol_set_t *set = calloc(1, sizeof *set);
    if (set == NULL) {
        cfg_error(spec, "policies: out of memory");
        return NULL;
    }
    arena_init(&set->mem, 0);
    loader_t L = {.set = set, .config_dir = config_dir, .known = known, .arg = arg};
    if (spec == NULL || spec->kind == CFG_NULL) {
        /* No policies: an empty set keeps callers free of NULL checks. */
    } else if (spec->kind == CFG_STR) {
        load_path(&L, spec);
    } else if (spec->kind == CFG_MAP) {
        load_policy(&L, spec, "policies");
    } else if (spec->kind == CFG_SEQ) {
        for (size_t i = 0; i < spec->count; i++) {
            const cfg_node_t *it = spec->items[i];
            if (it->kind == CFG_STR) {
                load_path(&L, it);
            } else if (it->kind == CFG_MAP) {
                char name[32];
                snprintf(name, sizeof name, "policies[%zu]", i);
                load_policy(&L, it, name);
            } else {
                perr(&L, it, "policies entries must be file paths or maps with 'rules:', not %s",
                     cfg_kind_name(it->kind));
            }
        }
    } else {
        perr(&L, spec,
             "policies must be a file path, a list of file paths, or a map with "
             "'rules:', not %s",
             cfg_kind_name(spec->kind));
    }
    for (size_t i = 0; i < L.ndocs; i++)
        cfg_doc_free(L.docs[i]);
    free(L.docs);
    free(L.names);
    if (L.errors != 0) {
        pol_free(set);
        return NULL;
    }
    return set;
}

void pol_free(pol_set_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->ntz; i++)
        pol_tz_free(p->tz[i]);
    free(p->tz);
    free(p->rules);
    arena_free(&p->mem);
    free(p);
}

size_t pol_count(const pol_set_t *p)
{
    return p != NULL ? p->nrules : 0;
}

/* ---- Evaluation ------------------------------------------------------------------------------ */

static bool ceq(char a, char b, bool icase)
{
    return icase ? lower(a) == lower(b) : a == b;
}

/* '*' matches any run of characters.  Greedy with one backtrack point: O(len(p) * len(s)). */
static bool glob_match(const char *p, size_t plen, const char *s, size_t slen, bool icase)
{
    size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;
    while (si < slen) {
        if (pi < plen && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < plen && ceq(p[pi], s[si], icase)) {
            pi++;
            si++;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

static bool pat_match(const pat_t *p, const char *s, size_t len, bool icase)
{
    if (p->glob)
        return glob_match(p->s, p->len, s, len, icase);
    if (p->len != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!ceq(p->s[i], s[i], icase))
            return false;
    return true;
}

static bool list_match(const patlist_t *l, const char *s)
{
    if (s == NULL)
        return false;
    size_t len = strlen(s);
    for (size_t i = 0; i < l->n; i++)
        if (pat_match(&l->v[i], s, len, false))
            return true;
    return false;
}

static bool tags_match(const patlist_t *l, const pol_input_t *in)
{
    for (size_t t = 0; t < in->ntags; t++)
        if (in->tags[t] != NULL && list_match(l, in->tags[t]))
            return true;
    return false;
}

static bool json_val_match(const field_t *f, const cJSON *j)
{
    for (size_t i = 0; i < f->nvals; i++) {
        const val_t *v = &f->vals[i];
        switch (v->kind) {
        case V_STR:
            if (cJSON_IsString(j) && j->valuestring != NULL &&
                pat_match(&v->s, j->valuestring, strlen(j->valuestring), false))
                return true;
            break;
        case V_NUM:
            if (cJSON_IsNumber(j) && j->valuedouble == v->d)
                return true;
            break;
        case V_BOOL:
            if (cJSON_IsBool(j) && cJSON_IsTrue(j) == v->b)
                return true;
            break;
        }
    }
    return false;
}

static bool md_match(const fieldlist_t *l, const cJSON *obj)
{
    for (size_t i = 0; i < l->n; i++) {
        const field_t *f = &l->v[i];
        const cJSON *j =
            cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, f->name) : NULL;
        if (j != NULL && cJSON_IsNull(j))
            j = NULL; /* a field set to null is as good as absent */
        if (f->present >= 0) {
            if ((j != NULL) != (f->present == 1))
                return false;
            continue;
        }
        if (j == NULL)
            return false;
        bool ok = false;
        if (cJSON_IsArray(j)) {
            /* A list-valued field matches when any element does (metadata "regions": [...]). */
            for (const cJSON *e = j->child; e != NULL && !ok; e = e->next)
                ok = json_val_match(f, e);
        } else {
            ok = json_val_match(f, j);
        }
        if (!ok)
            return false;
    }
    return true;
}

static bool header_match(const fieldlist_t *l, const pol_input_t *in)
{
    for (size_t i = 0; i < l->n; i++) {
        const field_t *f = &l->v[i];
        size_t len = 0;
        const char *v = in->header != NULL ? in->header(in->header_arg, f->name, &len) : NULL;
        if (f->present >= 0) {
            if ((v != NULL) != (f->present == 1))
                return false;
            continue;
        }
        if (v == NULL)
            return false;
        bool ok = false;
        for (size_t k = 0; k < f->nvals && !ok; k++)
            ok = pat_match(&f->vals[k].s, v, len, true);
        if (!ok)
            return false;
    }
    return true;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool time_match(const timewin_t *w, int64_t now_ms)
{
    int64_t t = floor_div(now_ms, 1000);
    int64_t local = t + (w->tz != NULL ? pol_tz_offset(w->tz, t) : 0);
    int64_t days = floor_div(local, 86400);
    int minute = (int)((local - days * 86400) / 60);
    int wd = (int)((days % 7 + 11) % 7); /* 0 = Sunday; day 0 (1970-01-01) was a Thursday */
    bool in;
#define DAY(d) ((w->days >> (d)) & 1u)
    if (!w->has_range)
        in = DAY(wd);
    else if (w->start < w->end)
        in = minute >= w->start && minute < w->end && DAY(wd);
    else /* wraps midnight: the hours after midnight belong to the window of the day before */
        in = (minute >= w->start && DAY(wd)) || (minute < w->end && DAY((wd + 6) % 7));
#undef DAY
    return in != w->outside;
}

static bool rule_match(const rule_t *r, const pol_input_t *in)
{
    uint32_t c = r->conds;
    /* Cheap tests first; every present condition must hold. */
    if ((c & 1u << A_HAS_TOOLS) && in->has_tools != r->has_tools)
        return false;
    if ((c & 1u << A_HAS_IMAGES) && in->has_images != r->has_images)
        return false;
    if ((c & 1u << A_PROMPT_TOKENS) &&
        (in->prompt_tokens < 0 || in->prompt_tokens < r->tok_lo || in->prompt_tokens > r->tok_hi))
        return false;
    if ((c & 1u << A_MODEL) && !list_match(&r->str[A_MODEL], in->model))
        return false;
    if ((c & 1u << A_KEY) && !list_match(&r->str[A_KEY], in->key_alias) &&
        !list_match(&r->str[A_KEY], in->key_hash))
        return false;
    if ((c & 1u << A_KEY_ALIAS) && !list_match(&r->str[A_KEY_ALIAS], in->key_alias))
        return false;
    if ((c & 1u << A_USER) && !list_match(&r->str[A_USER], in->user_id))
        return false;
    if ((c & 1u << A_TEAM) && !list_match(&r->str[A_TEAM], in->team_id))
        return false;
    if ((c & 1u << A_CUSTOMER) && !list_match(&r->str[A_CUSTOMER], in->customer))
        return false;
    if ((c & 1u << A_TAGS) && !tags_match(&r->str[A_TAGS], in))
        return false;
    if ((c & 1u << A_KEY_METADATA) && !md_match(&r->key_md, in->key_metadata))
        return false;
    if ((c & 1u << A_TEAM_METADATA) && !md_match(&r->team_md, in->team_metadata))
        return false;
    if ((c & 1u << A_HEADER) && !header_match(&r->header, in))
        return false;
    if ((c & 1u << A_TIME) && !time_match(&r->time, in->now_unix_ms))
        return false;
    return true;
}

bool pol_eval(const pol_set_t *p, const pol_input_t *in, pol_result_t *out)
{
    memset(out, 0, sizeof *out);
    if (p == NULL || in == NULL)
        return false;
    for (size_t i = 0; i < p->nrules; i++) {
        if (p->rules[i].res.action != POL_LIMIT && rule_match(&p->rules[i], in)) {
            *out = p->rules[i].res;
            return true;
        }
    }
    return false;
}

size_t pol_limits(const pol_set_t *p, const pol_input_t *in, const pol_result_t **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; p != NULL && in != NULL && i < p->nrules && n < max; i++) {
        if (p->rules[i].res.action == POL_LIMIT && rule_match(&p->rules[i], in))
            out[n++] = &p->rules[i].res;
    }
    return n;
}
