/*
 * The anthropic provider: small helpers over the host's JSON functions.  Building a document
 * takes many calls, each of which can fail when the request's memory budget is spent; the
 * helpers record the first failure in the builder and turn later calls into no-ops, so the
 * translation code reads straight and checks once at the end.
 */
#include "anthropic.h"

static gantry_json_t *add(anth_jb_t *jb, gantry_json_t *parent, const char *key,
                          gantry_json_type_t type)
{
    if (jb->failed || parent == NULL) {
        jb->failed = true;
        return NULL;
    }
    const gantry_host_t *host = jb->host;
    gantry_json_t *node =
        key != NULL ? host->json_set(parent, key, type) : host->json_append(parent, type);
    if (node == NULL)
        jb->failed = true;
    return node;
}

gantry_json_t *anth_j_new(anth_jb_t *jb, gantry_json_type_t type)
{
    gantry_json_t *root = jb->failed ? NULL : jb->host->json_new(jb->req, type);
    if (root == NULL)
        jb->failed = true;
    return root;
}

gantry_json_t *anth_j_obj(anth_jb_t *jb, gantry_json_t *parent, const char *key)
{
    return add(jb, parent, key, GANTRY_JSON_OBJECT);
}

gantry_json_t *anth_j_arr(anth_jb_t *jb, gantry_json_t *parent, const char *key)
{
    return add(jb, parent, key, GANTRY_JSON_ARRAY);
}

void anth_j_str(anth_jb_t *jb, gantry_json_t *parent, const char *key, gantry_str_t value)
{
    gantry_json_t *node = add(jb, parent, key, GANTRY_JSON_STRING);
    if (value.ptr == NULL)
        value = (gantry_str_t){"", 0};
    if (node != NULL && jb->host->json_set_string(node, value) != GANTRY_OK)
        jb->failed = true;
}

void anth_j_cstr(anth_jb_t *jb, gantry_json_t *parent, const char *key, const char *value)
{
    anth_j_str(jb, parent, key, (gantry_str_t){value, strlen(value)});
}

void anth_j_num(anth_jb_t *jb, gantry_json_t *parent, const char *key, double value)
{
    gantry_json_t *node = add(jb, parent, key, GANTRY_JSON_NUMBER);
    if (node != NULL && jb->host->json_set_number(node, value) != GANTRY_OK)
        jb->failed = true;
}

void anth_j_bool(anth_jb_t *jb, gantry_json_t *parent, const char *key, bool value)
{
    gantry_json_t *node = add(jb, parent, key, GANTRY_JSON_BOOL);
    if (node != NULL && jb->host->json_set_bool(node, value) != GANTRY_OK)
        jb->failed = true;
}

void anth_j_null(anth_jb_t *jb, gantry_json_t *parent, const char *key)
{
    add(jb, parent, key, GANTRY_JSON_NULL);
}

/* Deeper than the host's JSON parser nests; a deeper tree cannot come from a request. */
#define MAX_COPY_DEPTH 1000

static void copy_value(anth_jb_t *jb, gantry_json_t *parent, const char *key,
                       const gantry_json_t *src, int depth)
{
    const gantry_host_t *host = jb->host;
    double d;
    bool flag;
    gantry_json_type_t type = host->json_type(src);
    if (depth > MAX_COPY_DEPTH || type == GANTRY_JSON_INVALID) {
        jb->failed = true;
        return;
    }
    gantry_json_t *node = add(jb, parent, key, type);
    if (node == NULL)
        return;
    switch (type) {
    case GANTRY_JSON_STRING:
        if (host->json_set_string(node, host->json_string(src)) != GANTRY_OK)
            jb->failed = true;
        break;
    case GANTRY_JSON_NUMBER:
        if (host->json_number(src, &d) != GANTRY_OK || host->json_set_number(node, d) != GANTRY_OK)
            jb->failed = true;
        break;
    case GANTRY_JSON_BOOL:
        if (host->json_bool(src, &flag) != GANTRY_OK ||
            host->json_set_bool(node, flag) != GANTRY_OK)
            jb->failed = true;
        break;
    case GANTRY_JSON_OBJECT:
        for (const gantry_json_t *m = host->json_first(src); m != NULL && !jb->failed;
             m = host->json_next(m))
            copy_value(jb, node, host->json_key(m).ptr, m, depth + 1);
        break;
    case GANTRY_JSON_ARRAY:
        for (const gantry_json_t *m = host->json_first(src); m != NULL && !jb->failed;
             m = host->json_next(m))
            copy_value(jb, node, NULL, m, depth + 1);
        break;
    default:
        break;
    }
}

/*
 * Node by node through the host rather than json_dup() + json_attach(): a duplicated object
 * member keeps its key, and the host attaches only keyless roots.
 */
void anth_j_copy(anth_jb_t *jb, gantry_json_t *parent, const char *key, const gantry_json_t *src)
{
    copy_value(jb, parent, key, src, 0);
}

bool anth_j_is(const gantry_host_t *host, const gantry_json_t *node, const char *lit)
{
    return anth_str_eq(host->json_string(node), lit);
}

bool anth_j_int(const gantry_host_t *host, const gantry_json_t *node, int64_t lo, int64_t hi,
                int64_t *out)
{
    double d;
    if (host->json_type(node) != GANTRY_JSON_NUMBER || host->json_number(node, &d) != GANTRY_OK)
        return false;
    /* Range first: casting a double outside int64_t's range is undefined behaviour. */
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d)
        return false;
    *out = (int64_t)d;
    return true;
}
