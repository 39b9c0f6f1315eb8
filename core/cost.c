/*
 * cost: the price table (an open-addressing hash map built once, then only read) and the cost
 * arithmetic.  See cost.h for the file format, the lookup rule and the pricing rules.
 *
 * The map hashes a key given in two pieces ("<provider>" "/" "<model id>") without joining them,
 * so a lookup allocates nothing and works for ids of any length.
 */
#include "cost.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_prices.h" /* generated from config/model_prices.json: model_prices_json[] */

#define TIER_FIELD_SUFFIX "k_tokens"

typedef struct entry {
    cost_price_t p;
    unsigned src; /* which file set it, to refuse a key written twice in one file */
} entry_t;

struct cost_table {
    entry_t *entries;
    size_t count, cap;
    size_t *slots; /* entry index + 1; 0 = empty */
    size_t nslots; /* a power of two, at least twice count */
};

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- The map --------------------------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Hash of the key "<a>/<b>", or of "<b>" alone when alen is 0. */
static uint64_t hash2(const char *a, size_t alen, const char *b, size_t blen)
{
    uint64_t h = 14695981039346656037ull;
    if (alen > 0) {
        h = fnv(h, a, alen);
        h = fnv(h, "/", 1);
    }
    return fnv(h, b, blen);
}

static bool key_eq2(const char *key, const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen > 0) {
        if (strncmp(key, a, alen) != 0 || key[alen] != '/')
            return false;
        key += alen + 1;
    }
    return strncmp(key, b, blen) == 0 && key[blen] == '\0';
}

static entry_t *find2(const cost_table_t *t, const char *a, size_t alen, const char *b, size_t blen)
{
    if (t->nslots == 0)
        return NULL;
    size_t mask = t->nslots - 1;
    for (size_t i = (size_t)hash2(a, alen, b, blen) & mask;; i = (i + 1) & mask) {
        size_t s = t->slots[i];
        if (s == 0)
            return NULL;
        entry_t *e = &t->entries[s - 1];
        if (key_eq2(e->p.key, a, alen, b, blen))
            return e;
    }
}

static void place(cost_table_t *t, size_t idx)
{
    const char *key = t->entries[idx].p.key;
    size_t mask = t->nslots - 1;
    size_t i = (size_t)hash2(NULL, 0, key, strlen(key)) & mask;
    while (t->slots[i] != 0)
        i = (i + 1) & mask;
    t->slots[i] = idx + 1;
}

/* Room for one more entry: the array and a slot table kept at most half full. */
static int reserve(cost_table_t *t)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        entry_t *e = realloc(t->entries, cap * sizeof(*e));
        if (e == NULL)
            return -1;
        t->entries = e;
        t->cap = cap;
    }
    if ((t->count + 1) * 2 > t->nslots) {
        size_t n = t->nslots ? t->nslots * 2 : 512;
        size_t *slots = calloc(n, sizeof(*slots));
        if (slots == NULL)
            return -1;
        free(t->slots);
        t->slots = slots;
        t->nslots = n;
        for (size_t i = 0; i < t->count; i++)
            place(t, i);
    }
    return 0;
}

static void entry_free(entry_t *e)
{
    free((char *)e->p.key);
    free((char *)e->p.provider);
}

void cost_table_free(cost_table_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->count; i++)
        entry_free(&t->entries[i]);
    free(t->entries);
    free(t->slots);
    free(t);
}

size_t cost_table_count(const cost_table_t *t)
{
    return t != NULL ? t->count : 0;
}

const cost_price_t *cost_table_entry(const cost_table_t *t, size_t i)
{
    return t != NULL && i < t->count ? &t->entries[i].p : NULL;
}

/* ---- Parsing --------------------------------------------------------------------------------- */

static const char *const base_fields[4] = {
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
};

/* A price field must be a finite number >= 0. */
static int read_price(const char *name, const char *key, const cJSON *v, double *out, char *err,
                      size_t errlen)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0) {
        fail(err, errlen, "%s: \"%s\".%s: must be a non-negative number", name, key, v->string);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

/*
 * If `field` is "<base field>_above_<N>k_tokens", return the base field's index and N; else -1.
 * Other "_above_" fields (per image, per second, 1-hour cache writes) are not token tiers.
 */
static int tier_field(const char *field, int64_t *kilo)
{
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(base_fields[i]);
        if (strncmp(field, base_fields[i], n) != 0 || strncmp(field + n, "_above_", 7) != 0)
            continue;
        const char *p = field + n + 7;
        int64_t k = 0;
        size_t digits = 0;
        for (; *p >= '0' && *p <= '9' && digits < 7; p++, digits++)
            k = k * 10 + (*p - '0');
        if (digits == 0 || k == 0 || strcmp(p, TIER_FIELD_SUFFIX) != 0)
            return -1;
        *kilo = k;
        return i;
    }
    return -1;
}

static cost_mode_t mode_of(const char *s)
{
    if (strcmp(s, "embedding") == 0)
        return COST_MODE_EMBEDDING;
    if (strcmp(s, "completion") == 0)
        return COST_MODE_COMPLETION;
    return COST_MODE_CHAT;
}

/* Returns 1 with *p filled (strings still borrowed from the JSON), 0 to skip the entry, -1. */
static int parse_entry(const char *name, const cJSON *item, cost_price_t *p, char *err,
                       size_t errlen)
{
    const char *key = item->string;
    if (!cJSON_IsObject(item)) {
        fail(err, errlen, "%s: \"%s\": must be an object of prices", name, key);
        return -1;
    }
    *p = (cost_price_t){.key = key,
                        .provider = "",
                        .mode = COST_MODE_CHAT,
                        .input = -1,
                        .output = -1,
                        .cache_read = -1,
                        .cache_write = -1,
                        .tier_input = -1,
                        .tier_output = -1,
                        .tier_cache_read = -1,
                        .tier_cache_write = -1};
    double *base[4] = {&p->input, &p->output, &p->cache_read, &p->cache_write};
    double *tier[4] = {&p->tier_input, &p->tier_output, &p->tier_cache_read, &p->tier_cache_write};
    const cJSON *v;
    cJSON_ArrayForEach(v, item)
    {
        const char *f = v->string;
        if (strcmp(f, "litellm_provider") == 0 || strcmp(f, "mode") == 0) {
            if (!cJSON_IsString(v)) {
                fail(err, errlen, "%s: \"%s\".%s: must be a string", name, key, f);
                return -1;
            }
            if (f[0] == 'l')
                p->provider = v->valuestring;
            else
                p->mode = mode_of(v->valuestring);
            continue;
        }
        for (int i = 0; i < 4; i++) {
            if (strcmp(f, base_fields[i]) == 0 && read_price(name, key, v, base[i], err, errlen))
                return -1;
        }
        int64_t kilo;
        int i = tier_field(f, &kilo);
        if (i < 0)
            continue;
        if (p->tier_tokens != 0 && p->tier_tokens != kilo * 1000) {
            fail(err, errlen,
                 "%s: \"%s\": prices above %lldk and above %lldk tokens: only one long-context "
                 "tier per model is supported",
                 name, key, (long long)(p->tier_tokens / 1000), (long long)kilo);
            return -1;
        }
        p->tier_tokens = kilo * 1000;
        if (read_price(name, key, v, tier[i], err, errlen))
            return -1;
    }
    if (p->input < 0 && p->output < 0)
        return 0; /* not priced per token */
    if (p->input < 0)
        p->input = 0;
    if (p->output < 0)
        p->output = 0;
    return 1;
}

/* Insert or replace `p` (copying its strings); a key seen before from the same file is an error. */
static int put(cost_table_t *t, const char *name, unsigned src, const cost_price_t *p, char *err,
               size_t errlen)
{
    char *key = strdup(p->key), *provider = strdup(p->provider);
    if (key == NULL || provider == NULL)
        goto oom;
    entry_t *e = find2(t, NULL, 0, key, strlen(key));
    if (e != NULL) {
        if (e->src == src) {
            fail(err, errlen, "%s: \"%s\": the model is listed twice", name, key);
            free(key);
            free(provider);
            return -1;
        }
        entry_free(e);
    } else {
        if (reserve(t) != 0)
            goto oom;
        e = &t->entries[t->count++];
        e->p.key = key; /* place() reads it */
        place(t, t->count - 1);
    }
    e->p = *p;
    e->p.key = key;
    e->p.provider = provider;
    e->src = src;
    return 0;
oom:
    free(key);
    free(provider);
    fail(err, errlen, "%s: out of memory", name);
    return -1;
}

/* Where `at` is in `text`, as 1-based line and column. */
static void position(const char *text, size_t len, const char *at, unsigned *line, unsigned *col)
{
    *line = 1;
    *col = 1;
    if (at == NULL || at < text || at > text + len)
        return;
    for (const char *s = text; s < at; s++) {
        if (*s == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int add_json(cost_table_t *t, const char *name, unsigned src, const char *json, size_t len,
                    char *err, size_t errlen)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (root == NULL) {
        unsigned line, col;
        position(json, len, end, &line, &col);
        fail(err, errlen, "%s:%u:%u: not valid JSON", name, line, col);
        return -1;
    }
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        fail(err, errlen, "%s: must be a JSON object mapping model names to prices", name);
        goto done;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        const char *key = item->string;
        if (key[0] == '_' || strcmp(key, "sample_spec") == 0)
            continue;
        if (key[0] == '\0') {
            fail(err, errlen, "%s: an entry has an empty model name", name);
            goto done;
        }
        cost_price_t p;
        int r = parse_entry(name, item, &p, err, errlen);
        if (r < 0)
            goto done;
        if (r > 0 && put(t, name, src, &p, err, errlen) != 0)
            goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

/* The whole file, NUL-terminated, in a malloc'd buffer. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fail(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > COST_MAX_FILE_BYTES) {
        fail(err, errlen, "%s: larger than %u bytes", path, COST_MAX_FILE_BYTES);
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        fail(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    *len = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        fail(err, errlen, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    buf[*len] = '\0';
    fclose(f);
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

cost_table_t *cost_table_parse(const char *name, const char *json, size_t len, char *err,
                               size_t errlen)
{
    cost_table_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        fail(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    if (add_json(t, name, 0, json, len, err, errlen) != 0) {
        cost_table_free(t);
        return NULL;
    }
    return t;
}

cost_table_t *cost_table_load(const char *override_path, char *err, size_t errlen)
{
    cost_table_t *t = cost_table_parse("<embedded model_prices.json>", model_prices_json,
                                       sizeof model_prices_json - 1, err, errlen);
    if (t == NULL || override_path == NULL || override_path[0] == '\0')
        return t;
    size_t len;
    char *buf = read_file(override_path, &len, err, errlen);
    int rc = buf != NULL ? add_json(t, override_path, 1, buf, len, err, errlen) : -1;
    free(buf);
    if (rc != 0) {
        cost_table_free(t);
        return NULL;
    }
    return t;
}

/* ---- Lookup ---------------------------------------------------------------------------------- */

/* Cross-region inference profile prefixes, as the bedrock provider knows them. */
static const char *const region_prefixes[] = {
    "us", "eu", "apac", "global", "us-gov", "jp", "au", "ca", "sa", "me", "af", "il", "mx",
};

static size_t skip_region(const char *id, size_t len)
{
    const char *dot = memchr(id, '.', len);
    if (dot == NULL)
        return 0;
    size_t n = (size_t)(dot - id);
    for (size_t i = 0; i < sizeof(region_prefixes) / sizeof(region_prefixes[0]); i++) {
        if (strlen(region_prefixes[i]) == n && memcmp(id, region_prefixes[i], n) == 0)
            return n + 1;
    }
    return 0;
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

/* Length of `id` without a trailing "-YYYY-MM-DD", "-YYYYMMDD" or "@YYYYMMDD"; len if none. */
static size_t undated_len(const char *id, size_t len)
{
    if (len > 11) {
        const char *d = id + len - 11;
        if (d[0] == '-' && d[1] == '2' && d[2] == '0' && digits(d + 1, 4) && d[5] == '-' &&
            digits(d + 6, 2) && d[8] == '-' && digits(d + 9, 2))
            return len - 11;
    }
    if (len > 9) {
        const char *d = id + len - 9;
        if ((d[0] == '-' || d[0] == '@') && d[1] == '2' && d[2] == '0' && digits(d + 1, 8))
            return len - 9;
    }
    return len;
}

static const entry_t *try2(const cost_table_t *t, const char *prov, size_t plen, const char *id,
                           size_t idlen)
{
    const entry_t *e = plen > 0 ? find2(t, prov, plen, id, idlen) : NULL;
    return e != NULL ? e : find2(t, NULL, 0, id, idlen);
}

const cost_price_t *cost_lookup(const cost_table_t *t, const char *provider, const char *model_id)
{
    if (t == NULL || model_id == NULL || model_id[0] == '\0')
        return NULL;
    size_t plen = provider != NULL ? strlen(provider) : 0;
    const char *id = model_id;
    size_t len = strlen(id);
    const entry_t *e = try2(t, provider, plen, id, len);
    if (e != NULL)
        return &e->p;
    if (plen > 0 &&
        (strcmp(provider, "bedrock") == 0 || strcmp(provider, "bedrock_converse") == 0)) {
        /* The route first ("converse/eu.X" may have its own "eu.X" entry), then the region. */
        size_t skip = strncmp(id, "converse/", 9) == 0 ? 9 : strncmp(id, "invoke/", 7) == 0 ? 7 : 0;
        for (int step = 0; step < 2; step++) {
            if (skip > 0) {
                id += skip;
                len -= skip;
                if ((e = try2(t, provider, plen, id, len)) != NULL)
                    return &e->p;
            }
            skip = skip_region(id, len);
        }
    }
    size_t undated = undated_len(id, len);
    if (undated < len && (e = try2(t, provider, plen, id, undated)) != NULL)
        return &e->p;
    return NULL;
}

/* ---- Arithmetic ------------------------------------------------------------------------------ */

static double pos(int64_t n)
{
    return n > 0 ? (double)n : 0.0;
}

int cost_of(const cost_price_t *price, const cost_override_t *ov, const cost_usage_t *u,
            cost_breakdown_t *out)
{
    *out = (cost_breakdown_t){0};
    double in = -1, outp = -1, cr = -1, cw = -1;
    bool flat = ov != NULL && (ov->input >= 0 || ov->output >= 0);
    if (price != NULL) {
        in = price->input;
        outp = price->output;
        cr = price->cache_read;
        cw = price->cache_write;
        if (!flat && price->tier_tokens > 0 && u->prompt_tokens > price->tier_tokens) {
            if (price->tier_input >= 0)
                in = price->tier_input;
            if (price->tier_output >= 0)
                outp = price->tier_output;
            if (price->tier_cache_read >= 0)
                cr = price->tier_cache_read;
            if (price->tier_cache_write >= 0)
                cw = price->tier_cache_write;
        }
    }
    if (ov != NULL) {
        if (ov->input >= 0)
            in = ov->input;
        if (ov->output >= 0)
            outp = ov->output;
        if (ov->cache_read >= 0)
            cr = ov->cache_read;
        if (ov->cache_write >= 0)
            cw = ov->cache_write;
    }
    if (in < 0 && outp < 0)
        return -1;
    if (in < 0)
        in = 0;
    if (outp < 0)
        outp = 0;
    if (cr < 0)
        cr = in;
    if (cw < 0)
        cw = in;

    double reads = pos(u->cache_read_tokens), writes = pos(u->cache_write_tokens);
    double uncached = pos(u->prompt_tokens) - reads - writes;
    if (uncached < 0)
        uncached = 0;
    out->input = uncached * in;
    out->cache_read = reads * cr;
    out->cache_write = writes * cw;
    bool input_only = u->input_only || (price != NULL && price->mode == COST_MODE_EMBEDDING);
    out->output = input_only ? 0 : pos(u->completion_tokens) * outp;
    out->total = out->input + out->cache_read + out->cache_write + out->output;
    return 0;
}

static int64_t count_of(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
        return 0;
    return v->valuedouble < 9e18 ? (int64_t)v->valuedouble : INT64_MAX;
}

int cost_usage_from_json(const cJSON *usage, cost_usage_t *u)
{
    *u = (cost_usage_t){0};
    if (!cJSON_IsObject(usage))
        return -1;
    u->prompt_tokens = count_of(usage, "prompt_tokens");
    u->completion_tokens = count_of(usage, "completion_tokens");
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
    if (cJSON_GetObjectItemCaseSensitive(details, "cached_tokens") != NULL)
        u->cache_read_tokens = count_of(details, "cached_tokens");
    else
        u->cache_read_tokens = count_of(usage, "cache_read_input_tokens");
    u->cache_write_tokens = count_of(usage, "cache_creation_input_tokens");
    return 0;
}

static double conf_price(const cfg_node_t *params, const cfg_node_t *info, const char *key)
{
    const cfg_node_t *from[2] = {params, info};
    for (int i = 0; i < 2; i++) {
        double d;
        const cfg_node_t *n = cfg_map_get(from[i], key);
        if (n != NULL && cfg_read_num(n, &d) == 0 && isfinite(d) && d >= 0)
            return d;
    }
    return -1;
}

cost_override_t cost_override_from_config(const cfg_node_t *litellm_params,
                                          const cfg_node_t *model_info)
{
    return (cost_override_t){
        .input = conf_price(litellm_params, model_info, base_fields[0]),
        .output = conf_price(litellm_params, model_info, base_fields[1]),
        .cache_read = conf_price(litellm_params, model_info, base_fields[2]),
        .cache_write = conf_price(litellm_params, model_info, base_fields[3]),
    };
}
