/*
 * The gemini provider: JSON Schema -> Gemini Schema.
 *
 * Function parameters and response schemas go to Gemini as its Schema object, "a select subset of
 * an OpenAPI 3.0 schema object" (Google's API reference).  The API parses it as a protocol buffer
 * message and refuses any field it does not know, so the rewrite keeps only the documented
 * fields (type, format, title, description, nullable, enum, properties, required, items, anyOf,
 * min/maxItems, min/maxLength, min/maxProperties, minimum, maximum, pattern, example, default,
 * propertyOrdering) and drops the rest ($schema, additionalProperties, strict, $defs, $id,
 * examples, exclusiveMinimum, ...).  What JSON Schema says in another way is translated:
 * $ref is inlined from $defs/definitions, allOf is merged, oneOf becomes anyOf, const becomes a
 * one-value enum, a "null" type becomes nullable, and types are written in Gemini's upper case.
 */
#include <string.h>

#include "gemini.h"

/* Bounds on what a client's schema can make us build: nesting ($ref chains) and total nodes. */
#define SCHEMA_MAX_DEPTH 32
#define SCHEMA_MAX_NODES 20000

typedef struct schema_ctx {
    gemini_ctx_t *c;
    const gantry_json_t *root; /* for $ref */
    const char *what;          /* the parameter, for messages */
    size_t nodes;
} schema_ctx_t;

static bool clean(schema_ctx_t *s, const gantry_json_t *src, gantry_json_t *out, int depth);

static bool set_str(schema_ctx_t *s, gantry_json_t *obj, const char *key, gantry_str_t v)
{
    gantry_json_t *n = s->c->host->json_set(obj, key, GANTRY_JSON_STRING);
    if (n == NULL || s->c->host->json_set_string(n, v) != GANTRY_OK)
        return gemini_oom(s->c);
    return true;
}

static bool set_true(schema_ctx_t *s, gantry_json_t *obj, const char *key)
{
    gantry_json_t *n = s->c->host->json_set(obj, key, GANTRY_JSON_BOOL);
    if (n == NULL || s->c->host->json_set_bool(n, true) != GANTRY_OK)
        return gemini_oom(s->c);
    return true;
}

/* Copy any JSON value (example, default) as it is. */
static bool copy_value(schema_ctx_t *s, const gantry_json_t *v, gantry_json_t *out, const char *key)
{
    return gemini_copy(s->c, v, out, key);
}

static const char *upper_type(gantry_str_t t)
{
    static const char *const names[][2] = {
        {"string", "STRING"},   {"number", "NUMBER"}, {"integer", "INTEGER"},
        {"boolean", "BOOLEAN"}, {"array", "ARRAY"},   {"object", "OBJECT"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (gemini_str_eq(t, names[i][0]) || gemini_str_eq(t, names[i][1]))
            return names[i][1];
    }
    return NULL;
}

/*
 * The type: a name, or a list of names of which "null" means nullable.  Several other names
 * become an anyOf of one schema per type.  Returns the single Gemini type, or NULL.
 */
static bool put_type(schema_ctx_t *s, const gantry_json_t *type, gantry_json_t *out,
                     const char **single)
{
    const gantry_host_t *host = s->c->host;
    const char *names[8];
    size_t n = 0;
    bool nullable = false;
    *single = NULL;
    if (host->json_type(type) == GANTRY_JSON_STRING) {
        gantry_str_t t = host->json_string(type);
        if (gemini_str_eq(t, "null"))
            return set_true(s, out, "nullable");
        if ((*single = upper_type(t)) == NULL)
            return gemini_bad(s->c, "Invalid '%s': unknown schema type '%.40s'.", s->what, t.ptr);
        return set_str(s, out, "type", (gantry_str_t){*single, strlen(*single)});
    }
    if (host->json_type(type) != GANTRY_JSON_ARRAY)
        return gemini_bad(s->c, "Invalid '%s': a schema 'type' must be a string or a list.",
                          s->what);
    for (const gantry_json_t *e = host->json_first(type); e != NULL; e = host->json_next(e)) {
        gantry_str_t t = host->json_string(e);
        const char *u = upper_type(t);
        if (gemini_str_eq(t, "null"))
            nullable = true;
        else if (u == NULL)
            return gemini_bad(s->c, "Invalid '%s': unknown schema type.", s->what);
        else if (n < sizeof(names) / sizeof(names[0]))
            names[n++] = u;
    }
    if (nullable && !set_true(s, out, "nullable"))
        return false;
    if (n == 1) {
        *single = names[0];
        return set_str(s, out, "type", (gantry_str_t){names[0], strlen(names[0])});
    }
    if (n == 0)
        return true;
    gantry_json_t *any = host->json_set(out, "anyOf", GANTRY_JSON_ARRAY);
    for (size_t i = 0; i < n; i++) {
        gantry_json_t *alt = host->json_append(any, GANTRY_JSON_OBJECT);
        if (alt == NULL || !set_str(s, alt, "type", (gantry_str_t){names[i], strlen(names[i])}))
            return alt == NULL ? gemini_oom(s->c) : false;
    }
    return true;
}

/* Gemini takes only some formats, per type; others make the API refuse the schema. */
static bool format_allowed(const char *type, gantry_str_t f)
{
    if (type == NULL)
        return false;
    if (strcmp(type, "STRING") == 0)
        return gemini_str_eq(f, "enum") || gemini_str_eq(f, "date-time");
    if (strcmp(type, "NUMBER") == 0)
        return gemini_str_eq(f, "float") || gemini_str_eq(f, "double");
    if (strcmp(type, "INTEGER") == 0)
        return gemini_str_eq(f, "int32") || gemini_str_eq(f, "int64");
    return false;
}

/* Enum values are strings in Gemini; numbers and booleans are written as their JSON text. */
static bool put_enum(schema_ctx_t *s, const gantry_json_t *values, gantry_json_t *out)
{
    const gantry_host_t *host = s->c->host;
    gantry_json_t *arr = host->json_set(out, "enum", GANTRY_JSON_ARRAY);
    if (arr == NULL)
        return gemini_oom(s->c);
    bool single = host->json_type(values) != GANTRY_JSON_ARRAY;
    const gantry_json_t *v = single ? values : host->json_first(values);
    for (; v != NULL; v = single ? NULL : host->json_next(v)) {
        gantry_str_t text;
        switch (host->json_type(v)) {
        case GANTRY_JSON_STRING:
            text = host->json_string(v);
            break;
        case GANTRY_JSON_NUMBER:
        case GANTRY_JSON_BOOL:
            if (host->json_write(s->c->req, v, &text) != GANTRY_OK)
                return gemini_oom(s->c);
            break;
        case GANTRY_JSON_NULL:
            if (!set_true(s, out, "nullable"))
                return false;
            continue;
        default:
            continue;
        }
        gantry_json_t *e = host->json_append(arr, GANTRY_JSON_STRING);
        if (e == NULL || host->json_set_string(e, text) != GANTRY_OK)
            return gemini_oom(s->c);
    }
    return true;
}

/* "#/$defs/Name" (or any JSON pointer into the root schema). */
static const gantry_json_t *resolve(schema_ctx_t *s, gantry_str_t ref)
{
    const gantry_host_t *host = s->c->host;
    const gantry_json_t *node = s->root;
    char seg[256];
    if (ref.len < 1 || ref.ptr[0] != '#')
        return NULL;
    size_t i = 1;
    while (i < ref.len) {
        if (ref.ptr[i] != '/')
            return NULL;
        i++;
        size_t n = 0;
        while (i < ref.len && ref.ptr[i] != '/') {
            char ch = ref.ptr[i++];
            /* JSON pointer escapes: ~1 is '/', ~0 is '~'. */
            if (ch == '~' && i < ref.len && (ref.ptr[i] == '0' || ref.ptr[i] == '1'))
                ch = ref.ptr[i++] == '1' ? '/' : '~';
            if (n + 1 >= sizeof(seg))
                return NULL;
            seg[n++] = ch;
        }
        seg[n] = '\0';
        node = host->json_get(node, seg);
        if (node == NULL)
            return NULL;
    }
    return node;
}

static bool put_properties(schema_ctx_t *s, const gantry_json_t *props, gantry_json_t *out,
                           int depth)
{
    const gantry_host_t *host = s->c->host;
    if (host->json_type(props) != GANTRY_JSON_OBJECT || host->json_count(props) == 0)
        return true;
    gantry_json_t *dst = host->json_set(out, "properties", GANTRY_JSON_OBJECT);
    if (dst == NULL)
        return gemini_oom(s->c);
    for (const gantry_json_t *p = host->json_first(props); p != NULL; p = host->json_next(p)) {
        gantry_json_t *child = host->json_set(dst, host->json_key(p).ptr, GANTRY_JSON_OBJECT);
        if (child == NULL)
            return gemini_oom(s->c);
        if (!clean(s, p, child, depth + 1))
            return false;
    }
    return true;
}

/* Required names that are declared properties: Gemini refuses names it cannot find. */
static bool put_required(schema_ctx_t *s, const gantry_json_t *src, const gantry_json_t *req,
                         gantry_json_t *out)
{
    const gantry_host_t *host = s->c->host;
    const gantry_json_t *props = host->json_get(src, "properties");
    gantry_json_t *arr = NULL;
    for (const gantry_json_t *r = host->json_first(req); r != NULL; r = host->json_next(r)) {
        gantry_str_t name = host->json_string(r);
        if (name.ptr == NULL || host->json_get(props, name.ptr) == NULL)
            continue;
        if (arr == NULL && (arr = host->json_set(out, "required", GANTRY_JSON_ARRAY)) == NULL)
            return gemini_oom(s->c);
        gantry_json_t *e = host->json_append(arr, GANTRY_JSON_STRING);
        if (e == NULL || host->json_set_string(e, name) != GANTRY_OK)
            return gemini_oom(s->c);
    }
    return true;
}

/* anyOf/oneOf alternatives; a {"type": "null"} alternative makes the whole nullable instead. */
static bool put_any_of(schema_ctx_t *s, const gantry_json_t *alts, gantry_json_t *out, int depth)
{
    const gantry_host_t *host = s->c->host;
    gantry_json_t *arr = host->json_get(out, "anyOf");
    if (host->json_type(alts) != GANTRY_JSON_ARRAY)
        return true;
    for (const gantry_json_t *a = host->json_first(alts); a != NULL; a = host->json_next(a)) {
        const gantry_json_t *t = host->json_get(a, "type");
        if (host->json_count(a) == 1 && gemini_str_eq(host->json_string(t), "null")) {
            if (!set_true(s, out, "nullable"))
                return false;
            continue;
        }
        if (arr == NULL && (arr = host->json_set(out, "anyOf", GANTRY_JSON_ARRAY)) == NULL)
            return gemini_oom(s->c);
        gantry_json_t *dst = host->json_append(arr, GANTRY_JSON_OBJECT);
        if (dst == NULL)
            return gemini_oom(s->c);
        if (!clean(s, a, dst, depth + 1))
            return false;
    }
    return true;
}

static bool is_count_key(gantry_str_t k)
{
    static const char *const keys[] = {"minItems",      "maxItems",      "minLength", "maxLength",
                                       "minProperties", "maxProperties", "minimum",   "maximum"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (gemini_str_eq(k, keys[i]))
            return true;
    }
    return false;
}

static bool clean(schema_ctx_t *s, const gantry_json_t *src, gantry_json_t *out, int depth)
{
    const gantry_host_t *host = s->c->host;
    const char *type = NULL;
    if (depth > SCHEMA_MAX_DEPTH)
        return gemini_bad(s->c,
                          "Invalid '%s': the schema nests too deeply (or its $ref is "
                          "recursive, which Gemini cannot express).",
                          s->what);
    if (++s->nodes > SCHEMA_MAX_NODES)
        return gemini_bad(s->c, "Invalid '%s': the schema is too large.", s->what);
    if (host->json_type(src) != GANTRY_JSON_OBJECT)
        return true; /* `true`, `{}`: anything goes, which an empty schema says too */

    /* A $ref stands for the schema it points at; sibling keywords (description) refine it. */
    const gantry_json_t *ref = host->json_get(src, "$ref");
    if (ref != NULL) {
        const gantry_json_t *target = resolve(s, host->json_string(ref));
        if (target == NULL)
            return gemini_bad(s->c, "Invalid '%s': cannot resolve $ref '%.80s'.", s->what,
                              host->json_string(ref).ptr != NULL ? host->json_string(ref).ptr : "");
        if (!clean(s, target, out, depth + 1))
            return false;
    }
    /* allOf: every part applies, so their keywords are merged into this schema. */
    const gantry_json_t *all = host->json_get(src, "allOf");
    for (const gantry_json_t *a = host->json_first(all); a != NULL; a = host->json_next(a)) {
        if (!clean(s, a, out, depth + 1))
            return false;
    }

    const gantry_json_t *t = host->json_get(src, "type");
    if (t != NULL && !put_type(s, t, out, &type))
        return false;
    if (type == NULL)
        type = host->json_string(host->json_get(out, "type")).ptr;

    for (const gantry_json_t *m = host->json_first(src); m != NULL; m = host->json_next(m)) {
        gantry_str_t k = host->json_key(m);
        gantry_json_type_t mt = host->json_type(m);
        bool ok = true;
        if (gemini_str_eq(k, "title") || gemini_str_eq(k, "description") ||
            gemini_str_eq(k, "pattern")) {
            if (mt == GANTRY_JSON_STRING)
                ok = set_str(s, out, k.ptr, host->json_string(m));
        } else if (gemini_str_eq(k, "format")) {
            if (format_allowed(type, host->json_string(m)))
                ok = set_str(s, out, "format", host->json_string(m));
        } else if (gemini_str_eq(k, "nullable")) {
            bool b = false;
            if (host->json_bool(m, &b) == GANTRY_OK && b)
                ok = set_true(s, out, "nullable");
        } else if (gemini_str_eq(k, "enum") || gemini_str_eq(k, "const")) {
            ok = put_enum(s, m, out);
        } else if (gemini_str_eq(k, "properties")) {
            ok = put_properties(s, m, out, depth);
        } else if (gemini_str_eq(k, "required")) {
            ok = put_required(s, src, m, out);
        } else if (gemini_str_eq(k, "items")) {
            /* A tuple (items: [...]) is described by its first element. */
            const gantry_json_t *it = mt == GANTRY_JSON_ARRAY ? host->json_first(m) : m;
            gantry_json_t *dst = host->json_set(out, "items", GANTRY_JSON_OBJECT);
            ok = dst != NULL ? clean(s, it, dst, depth + 1) : gemini_oom(s->c);
        } else if (gemini_str_eq(k, "anyOf") || gemini_str_eq(k, "oneOf")) {
            ok = put_any_of(s, m, out, depth);
        } else if (is_count_key(k)) {
            if (mt == GANTRY_JSON_NUMBER)
                ok = copy_value(s, m, out, k.ptr);
        } else if (gemini_str_eq(k, "example") || gemini_str_eq(k, "default") ||
                   gemini_str_eq(k, "propertyOrdering")) {
            ok = copy_value(s, m, out, k.ptr);
        }
        if (!ok)
            return false;
    }
    /* An enum needs the STRING type (with enum format) in Gemini's schema. */
    if (host->json_get(out, "enum") != NULL && type == NULL &&
        !set_str(s, out, "type", GANTRY_STR_LIT("STRING")))
        return false;
    return true;
}

bool gemini_build_schema(gemini_ctx_t *c, const gantry_json_t *schema, gantry_json_t *parent,
                         const char *key, const char *what)
{
    schema_ctx_t s = {.c = c, .root = schema, .what = what};
    gantry_json_t *out = c->host->json_set(parent, key, GANTRY_JSON_OBJECT);
    if (out == NULL)
        return gemini_oom(c);
    return clean(&s, schema, out, 0);
}
