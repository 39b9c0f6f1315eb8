/*
 * gov_api: LiteLLM's management API - /key, /user, /team, /organization, /customer and /budget
 * routes - with roles.  A call is checked on the worker against its directory snapshot (fields,
 * types, references, who may do what) and then applied by the store thread against the newest
 * directory (gov_store.c), which also refuses duplicates and vanished entities; the answer goes out
 * after the commit.
 *
 * Roles: the master key and users with user_role proxy_admin may do everything;
 * proxy_admin_viewer may read everything; internal_user manages only its own keys (and team admins
 * the keys and members of their team) and reads its own user, keys and teams; internal_user_viewer
 * only reads its own.  Budgets and limits are set by admins: an internal user cannot give its own
 * key a budget, limits or another owner.
 */
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"
#include "gov_int.h"
#include "pipe.h"
#include "req.h"
#include "routes.h"
#include "srv.h"
#include "util.h"

enum { F_STR, F_NUM, F_INT, F_BOOL, F_LIST, F_OBJ, F_DUR, F_ANY };

typedef struct field {
    const char *name;
    int type;
    bool limit; /* a budget or a limit: set by admins only */
} field_t;

#define LIMIT_FIELDS                                                                               \
    {"max_budget", F_NUM, true}, {"soft_budget", F_NUM, true},                                     \
        {"budget_duration", F_DUR, true}, {"rpm_limit", F_INT, true},                             \
        {"tpm_limit", F_INT, true}, {"max_parallel_requests", F_INT, true},                       \
        {"model_max_budget", F_OBJ, true}, {"model_rpm_limit", F_OBJ, true},                      \
        {"model_tpm_limit", F_OBJ, true}, {"budget_id", F_STR, true}

static const field_t key_fields[] = {
    {"key", F_STR, false},          {"key_alias", F_STR, false},   {"duration", F_DUR, false},
    {"models", F_LIST, false},      {"user_id", F_STR, false},     {"team_id", F_STR, false},
    {"organization_id", F_STR, false}, {"metadata", F_OBJ, false}, {"tags", F_LIST, false},
    {"allowed_routes", F_LIST, false}, {"blocked", F_BOOL, false}, {"guardrails", F_LIST, false},
    {"allowed_cache_controls", F_LIST, false}, {"permissions", F_OBJ, false},
    {"aliases", F_OBJ, false},      {"config", F_OBJ, false},      {"key_type", F_STR, false},
    {"send_invite_email", F_BOOL, false}, {"spend", F_NUM, true},
    LIMIT_FIELDS,                   {NULL, 0, false}};
static const field_t user_fields[] = {
    {"user_id", F_STR, false},      {"user_email", F_STR, false},  {"user_alias", F_STR, false},
    {"user_role", F_STR, true},     {"models", F_LIST, false},     {"metadata", F_OBJ, false},
    {"teams", F_LIST, false},       {"auto_create_key", F_BOOL, false},
    {"send_invite_email", F_BOOL, false}, {"blocked", F_BOOL, true}, {"organizations", F_LIST, false},
    {"key_alias", F_STR, false},    {"duration", F_DUR, false},    {"sso_user_id", F_STR, false},
    LIMIT_FIELDS,                   {NULL, 0, false}};
static const field_t team_fields[] = {
    {"team_id", F_STR, false},      {"team_alias", F_STR, false},  {"organization_id", F_STR, false},
    {"members_with_roles", F_LIST, false}, {"models", F_LIST, false}, {"metadata", F_OBJ, false},
    {"tags", F_LIST, false},        {"blocked", F_BOOL, false},    {"model_aliases", F_OBJ, false},
    {"guardrails", F_LIST, false},  {"team_member_permissions", F_LIST, false},
    LIMIT_FIELDS,                   {NULL, 0, false}};
static const field_t org_fields[] = {
    {"organization_id", F_STR, false}, {"organization_alias", F_STR, false},
    {"models", F_LIST, false},      {"metadata", F_OBJ, false},    {"blocked", F_BOOL, false},
    LIMIT_FIELDS,                   {NULL, 0, false}};
static const field_t customer_fields[] = {
    {"user_id", F_STR, false},      {"end_user_id", F_STR, false}, {"alias", F_STR, false},
    {"blocked", F_BOOL, false},     {"allowed_model_region", F_STR, false},
    {"default_model", F_STR, false}, {"metadata", F_OBJ, false},
    LIMIT_FIELDS,                   {NULL, 0, false}};
static const field_t budget_fields[] = {LIMIT_FIELDS, {NULL, 0, false}};

typedef struct kdesc {
    gov_kind_t kind;
    const char *prefix;   /* "/key/" */
    const char *id_field; /* in bodies and documents */
    const char *ids_field; /* the delete list */
    const field_t *fields;
} kdesc_t;

static const kdesc_t kinds[] = {
    {GOV_KEY, "/key/", "key", "keys", key_fields},
    {GOV_USER, "/user/", "user_id", "user_ids", user_fields},
    {GOV_TEAM, "/team/", "team_id", "team_ids", team_fields},
    {GOV_ORG, "/organization/", "organization_id", "organization_ids", org_fields},
    {GOV_CUSTOMER, "/customer/", "user_id", "user_ids", customer_fields},
    {GOV_BUDGET, "/budget/", "budget_id", "budget_ids", budget_fields},
};

/* ---- answers ---- */

static void answer(req_t *r, int status, cJSON *root)
{
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (s == NULL) {
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL, "out of memory");
        pipe_fail(r);
        return;
    }
    r->phase = PH_SENT;
    resp_send_body(r, status, "application/json", s, strlen(s));
    cJSON_free(s);
}

static bool fail(req_t *r, int status, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static bool fail(req_t *r, int status, const char *code, const char *param, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gantry_error_class_t cls = status == 404   ? GANTRY_ERR_NOT_FOUND
                               : status == 401 || status == 403 ? GANTRY_ERR_AUTH
                               : status >= 500 ? GANTRY_ERR_SERVER
                                               : GANTRY_ERR_BAD_REQUEST;
    const char *type = status == 403   ? "permission_error"
                       : status == 404 ? "not_found_error"
                       : status >= 500 ? "api_error"
                                       : "invalid_request_error";
    req_set_error(r, status, cls, type, code, param, msg);
    pipe_fail(r);
    return false;
}

/* ---- who is calling ---- */

typedef struct caller {
    bool admin, viewer; /* proxy_admin; proxy_admin_viewer (reads everything) */
    bool readonly;      /* a viewer role */
    const char *user_id;
    const gov_snap_t *snap;
} caller_t;

static bool who(req_t *r, caller_t *c)
{
    *c = (caller_t){0};
    c->snap = gov_snap(r->w);
    if (c->snap == NULL || r->gen->cfg->master_key == NULL)
        return fail(r, 400, "governance_off", NULL,
                    "The management API needs general_settings.master_key and a database.");
    const gov_ctx_t *g = r->gov;
    const char *role = g && g->role ? g->role : "";
    c->admin = (g && g->master) || strcmp(role, "proxy_admin") == 0;
    c->viewer = c->admin || strcmp(role, "proxy_admin_viewer") == 0;
    c->readonly = strcmp(role, "proxy_admin_viewer") == 0 || strcmp(role, "internal_user_viewer") == 0;
    const gov_rec_t *key = g ? g->ent[GOV_KEY] : NULL;
    c->user_id = key ? key->user_id : NULL;
    return true;
}

static bool team_admin(const caller_t *c, const char *team_id)
{
    if (c->user_id == NULL || team_id == NULL)
        return false;
    gov_rec_t *t = gov_find(c->snap, GOV_TEAM, team_id, strlen(team_id));
    bool yes = false;
    const cJSON *m, *members = t ? t->members : NULL;
    cJSON_ArrayForEach(m, members)
    {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "user_id");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (cJSON_IsString(u) && strcmp(u->valuestring, c->user_id) == 0 && cJSON_IsString(role) &&
            strcmp(role->valuestring, "admin") == 0)
            yes = true;
    }
    gov_unref(t);
    return yes;
}

static bool member(const caller_t *c, const gov_rec_t *team)
{
    const cJSON *m, *members = c->user_id ? team->members : NULL;
    cJSON_ArrayForEach(m, members)
    {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "user_id");
        if (cJSON_IsString(u) && strcmp(u->valuestring, c->user_id) == 0)
            return true;
    }
    return false;
}

/* May the caller manage (write) this key?  Its own keys, or as admin of the key's team. */
static bool owns_key(const caller_t *c, const gov_rec_t *k)
{
    if (c->admin)
        return true;
    if (c->readonly || c->user_id == NULL)
        return false;
    return (k->user_id != NULL && strcmp(k->user_id, c->user_id) == 0) ||
           team_admin(c, k->team_id);
}

static bool sees_key(const caller_t *c, const gov_rec_t *k)
{
    if (c->viewer)
        return true;
    return c->user_id != NULL && ((k->user_id && strcmp(k->user_id, c->user_id) == 0) ||
                                  team_admin(c, k->team_id));
}

/* ---- bodies ---- */

static cJSON *body_of(req_t *r)
{
    cJSON *b = cJSON_ParseWithLength(r->h->entity.base, r->h->entity.len);
    if (!cJSON_IsObject(b)) {
        cJSON_Delete(b);
        fail(r, 400, "invalid_json", NULL, "Send a JSON object as the request body.");
        return NULL;
    }
    return b;
}

static const field_t *find_field(const field_t *fs, const char *name)
{
    for (; fs->name != NULL; fs++) {
        if (strcmp(fs->name, name) == 0)
            return fs;
    }
    return NULL;
}

static bool check_type(req_t *r, const field_t *f, const cJSON *v)
{
    if (cJSON_IsNull(v))
        return true;
    bool ok = true;
    const char *want = "";
    switch (f->type) {
    case F_STR:
        ok = cJSON_IsString(v), want = "a string";
        break;
    case F_NUM:
        ok = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e12,
        want = "a non-negative number";
        break;
    case F_INT:
        ok = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15 &&
             v->valuedouble == (double)(int64_t)v->valuedouble,
        want = "a non-negative integer";
        break;
    case F_BOOL:
        ok = cJSON_IsBool(v), want = "true or false";
        break;
    case F_LIST: {
        ok = cJSON_IsArray(v), want = "a list";
        const cJSON *it, *list = ok ? v : NULL;
        cJSON_ArrayForEach(it, list)
        {
            if (!cJSON_IsString(it) && !cJSON_IsObject(it))
                ok = false;
        }
        break;
    }
    case F_OBJ:
        ok = cJSON_IsObject(v), want = "an object";
        break;
    case F_DUR:
        ok = cJSON_IsString(v) && gov_duration_s(v->valuestring) > 0,
        want = "a duration such as \"30s\", \"30m\", \"30h\", \"30d\" or \"1mo\"";
        break;
    default:
        break;
    }
    if (!ok)
        return fail(r, 400, "invalid_value", f->name, "Invalid '%s': expected %s.", f->name, want);
    /* Per-model maps hold numbers too. */
    if (f->type == F_OBJ && f->limit) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsNumber(it) || it->valuedouble < 0)
                return fail(r, 400, "invalid_value", f->name,
                            "Invalid '%s': expected {\"<model>\": <non-negative number>}.",
                            f->name);
        }
    }
    return true;
}

/* Every field known and well typed; `skip` names the fields the route itself reads. */
static bool validate(req_t *r, const kdesc_t *kd, const cJSON *b, const char *const *extra)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, b)
    {
        const field_t *fd = find_field(kd->fields, f->string);
        bool is_extra = false;
        for (const char *const *e = extra; e && *e && !is_extra; e++)
            is_extra = strcmp(*e, f->string) == 0;
        if (fd == NULL && !is_extra && strcmp(f->string, kd->id_field) != 0)
            return fail(r, 400, "unknown_field", f->string,
                        "Unknown field '%s' for %s (see LiteLLM's management API).", f->string,
                        kd->prefix);
        if (fd != NULL && !check_type(r, fd, f))
            return false;
    }
    return true;
}

static const char *sget(const cJSON *b, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, k);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* References to other entities must exist. */
static bool refs_exist(req_t *r, const caller_t *c, const cJSON *b, const kdesc_t *kd)
{
    static const struct {
        const char *field;
        gov_kind_t kind;
    } refs[] = {{"user_id", GOV_USER},
                {"team_id", GOV_TEAM},
                {"organization_id", GOV_ORG},
                {"budget_id", GOV_BUDGET}};
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        const char *id = sget(b, refs[i].field);
        if (id == NULL || strcmp(refs[i].field, kd->id_field) == 0)
            continue; /* the entity's own id (users, customers) */
        gov_rec_t *e = gov_find(c->snap, refs[i].kind, id, strlen(id));
        if (e == NULL)
            return fail(r, 400, "not_found", refs[i].field, "%s '%s' does not exist.",
                        refs[i].field, id);
        gov_unref(e);
    }
    return true;
}

/* An internal user may not set budgets, limits or spend. */
static bool limits_allowed(req_t *r, const caller_t *c, const kdesc_t *kd, const cJSON *b)
{
    if (c->admin)
        return true;
    const cJSON *f;
    cJSON_ArrayForEach(f, b)
    {
        const field_t *fd = find_field(kd->fields, f->string);
        if (fd != NULL && fd->limit)
            return fail(r, 403, "forbidden", f->string,
                        "Only a proxy admin may set '%s' (budgets, limits and roles).", f->string);
    }
    return true;
}

static void iso_time(int64_t ms, char *out, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The document as shown: plus the live spend. */
static cJSON *shown(const gov_rec_t *e, const cJSON *doc)
{
    cJSON *d = cJSON_Duplicate(doc ? doc : e->doc, true);
    if (d == NULL)
        return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(d, "spend");
    /* A period that ended is shown as a new one even before the entity is used again (the
     * reset itself happens at its next request). */
    int64_t reset_at = e ? atomic_load(&e->cell->reset_at) : 0;
    bool over = e && e->budget_duration_s > 0 && reset_at != 0 && unix_ms() >= reset_at;
    double spend = e && !over ? (double)atomic_load(&e->cell->spend) / GOV_NUSD : 0;
    cJSON_AddNumberToObject(d, "spend", spend);
    return d;
}

/* ---- writes ---- */

static gov_write_t *write_new(req_t *r, const char *action, size_t nops)
{
    gov_write_t *w = calloc(1, sizeof *w);
    if (w == NULL || (w->ops = calloc(nops ? nops : 1, sizeof *w->ops)) == NULL) {
        free(w);
        fail(r, 500, "internal_error", NULL, "out of memory");
        return NULL;
    }
    w->r = r;
    snprintf(w->action, sizeof w->action, "%s", action);
    const gov_ctx_t *g = r->gov;
    const gov_rec_t *key = g ? g->ent[GOV_KEY] : NULL;
    snprintf(w->actor, sizeof w->actor, "%s%s", key ? "key:" : "master-key",
             key ? key->id : "");
    return w;
}

static void submit(req_t *r, gov_write_t *w)
{
    if (!gov_write_submit(w)) {
        gov_write_free(w);
        fail(r, 503, "database_unavailable", NULL,
             "The database is not taking changes right now; try again shortly.");
    }
}

/* The common answer: 404 / 409 / 500 or the documents. */
static bool write_ok(req_t *r, gov_write_t *w, const kdesc_t *kd)
{
    if (w->failed)
        return fail(r, 500, "database_error", NULL, "The change could not be stored; nothing was changed.");
    if (w->status == 404)
        return fail(r, 404, "not_found", kd->id_field, "%s not found.", kd->id_field);
    if (w->status == 409)
        return fail(r, 400, "already_exists", kd->id_field, "%s already exists.", kd->id_field);
    return true;
}

static const kdesc_t *kd_of(gov_kind_t k)
{
    return &kinds[k];
}

static void answer_doc(req_t *r, gov_write_t *w)
{
    const kdesc_t *kd = kd_of(w->ops[0].kind);
    if (!write_ok(r, w, kd))
        return;
    cJSON *d = w->ops[0].result;
    w->ops[0].result = NULL;
    if (w->arg != NULL) /* a new key's secret, shown this once */
        cJSON_AddStringToObject(d, "key", (const char *)w->arg);
    cJSON_DeleteItemFromObjectCaseSensitive(d, "spend");
    cJSON_AddNumberToObject(d, "spend", 0);
    answer(r, 200, d);
    free(w->arg);
    w->arg = NULL;
}

static void answer_deleted(req_t *r, gov_write_t *w)
{
    const kdesc_t *kd = kd_of(w->ops[0].kind);
    if (!write_ok(r, w, kd))
        return;
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < w->nops; i++) {
        if (w->ops[i].mode == GOV_OP_DELETE && w->ops[i].kind == w->ops[0].kind)
            cJSON_AddItemToArray(list, cJSON_CreateString(w->ops[i].id));
    }
    char name[40];
    snprintf(name, sizeof name, "deleted_%s", kd->ids_field);
    cJSON_AddItemToObject(root, name, list);
    answer(r, 200, root);
}

/* A new virtual key: "sk-" and 32 random bytes in URL-safe base64. */
static bool new_token(char out[48])
{
    unsigned char raw[32];
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (RAND_bytes(raw, sizeof raw) != 1)
        return false;
    char *p = out;
    *p++ = 's', *p++ = 'k', *p++ = '-';
    for (size_t i = 0; i < 30; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        *p++ = b64[v >> 18 & 63], *p++ = b64[v >> 12 & 63], *p++ = b64[v >> 6 & 63], *p++ = b64[v & 63];
    }
    uint32_t v = (uint32_t)raw[30] << 8 | raw[31];
    *p++ = b64[v >> 10 & 63], *p++ = b64[v >> 4 & 63], *p++ = b64[(v << 2) & 63];
    *p = '\0';
    return true;
}

static void new_id(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        memset(b, 0, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* Fill a key document from a /key/generate body (which it takes); the token into tok. */
static cJSON *key_doc(req_t *r, cJSON *b, char tok[64], char hash[65])
{
    const char *custom = sget(b, "key");
    if (custom != NULL) {
        if (strncmp(custom, "sk-", 3) != 0 || strlen(custom) < 8 || strlen(custom) > 60) {
            fail(r, 400, "invalid_value", "key",
                 "Invalid 'key': a custom key must start with 'sk-' and have 8 to 60 characters.");
            return NULL;
        }
        snprintf(tok, 64, "%s", custom);
    } else if (!new_token(tok)) {
        fail(r, 500, "internal_error", NULL, "no randomness available");
        return NULL;
    }
    sha256_hex(tok, strlen(tok), hash);
    cJSON_DeleteItemFromObjectCaseSensitive(b, "key");
    cJSON_DeleteItemFromObjectCaseSensitive(b, "send_invite_email");
    const char *dur = sget(b, "duration");
    char iso[32];
    if (dur != NULL) {
        iso_time(unix_ms() + gov_duration_s(dur) * 1000, iso, sizeof iso);
        cJSON_AddStringToObject(b, "expires", iso);
    } else {
        cJSON_AddNullToObject(b, "expires");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(b, "duration");
    cJSON_AddStringToObject(b, "token", hash);
    char name[16];
    size_t n = strlen(tok);
    snprintf(name, sizeof name, "sk-...%s", tok + (n > 4 ? n - 4 : 0));
    cJSON_AddStringToObject(b, "key_name", name);
    iso_time(unix_ms(), iso, sizeof iso);
    cJSON_AddStringToObject(b, "created_at", iso);
    if (cJSON_GetObjectItemCaseSensitive(b, "models") == NULL)
        cJSON_AddArrayToObject(b, "models");
    return b;
}

/* The key a request names: its sk- value or its hash. */
static void key_id(const char *given, char hash[65])
{
    if (strncmp(given, "sk-", 3) == 0)
        sha256_hex(given, strlen(given), hash);
    else
        snprintf(hash, 65, "%s", given);
}

static void key_generate(req_t *r, const caller_t *c)
{
    static const char *const none[] = {NULL};
    if (c->readonly || (!c->admin && c->user_id == NULL)) {
        fail(r, 403, "forbidden", NULL, "This key's role may not create keys.");
        return;
    }
    cJSON *b = body_of(r);
    if (b == NULL || !validate(r, &kinds[GOV_KEY], b, none) || !refs_exist(r, c, b, &kinds[GOV_KEY]) ||
        !limits_allowed(r, c, &kinds[GOV_KEY], b)) {
        cJSON_Delete(b);
        return;
    }
    if (!c->admin) {
        /* LiteLLM #7336: an internal user creates keys only for itself (or its team as admin). */
        const char *uid = sget(b, "user_id"), *tid = sget(b, "team_id");
        if (uid != NULL && strcmp(uid, c->user_id) != 0) {
            cJSON_Delete(b);
            fail(r, 403, "forbidden", "user_id", "You may only create keys for yourself.");
            return;
        }
        if (tid != NULL && !team_admin(c, tid)) {
            cJSON_Delete(b);
            fail(r, 403, "forbidden", "team_id",
                 "You may only create keys for a team you are an admin of.");
            return;
        }
        if (uid == NULL)
            cJSON_AddStringToObject(b, "user_id", c->user_id);
    }
    char tok[64], hash[65];
    if (key_doc(r, b, tok, hash) == NULL) {
        cJSON_Delete(b);
        return;
    }
    gov_write_t *w = write_new(r, "created", 1);
    if (w == NULL) {
        cJSON_Delete(b);
        return;
    }
    w->ops[0] = (gov_op_t){.kind = GOV_KEY, .id = strdup(hash), .mode = GOV_OP_CREATE, .doc = b};
    w->nops = 1;
    w->arg = strdup(tok);
    w->answer = answer_doc;
    submit(r, w);
}

/* Resolve the body's key for /key/update, /key/block, ... (404 when unknown or not the caller's). */
static gov_rec_t *named_key(req_t *r, const caller_t *c, const cJSON *b, bool write)
{
    const char *given = sget(b, "key");
    if (given == NULL) {
        fail(r, 400, "missing_required_parameter", "key", "Missing 'key'.");
        return NULL;
    }
    char hash[65];
    key_id(given, hash);
    gov_rec_t *k = gov_find(c->snap, GOV_KEY, hash, strlen(hash));
    if (k == NULL || !(write ? owns_key(c, k) : sees_key(c, k))) {
        /* Another user's key is reported as missing: its existence is not the caller's business. */
        gov_unref(k);
        fail(r, 404, "not_found", "key", "Key not found.");
        return NULL;
    }
    return k;
}

static void key_update(req_t *r, const caller_t *c, const char *action, cJSON *patch_extra)
{
    static const char *const none[] = {NULL};
    cJSON *b = patch_extra != NULL ? patch_extra : body_of(r);
    if (b == NULL)
        return;
    if (c->readonly) {
        cJSON_Delete(b);
        fail(r, 403, "forbidden", NULL, "This key's role may not change keys.");
        return;
    }
    gov_rec_t *k = NULL;
    if (!validate(r, &kinds[GOV_KEY], b, none) || (k = named_key(r, c, b, true)) == NULL ||
        !refs_exist(r, c, b, &kinds[GOV_KEY]) || !limits_allowed(r, c, &kinds[GOV_KEY], b)) {
        cJSON_Delete(b);
        gov_unref(k);
        return;
    }
    if (!c->admin) {
        /* LiteLLM #8031: a key cannot be moved to another user or to a team not administered. */
        const char *uid = sget(b, "user_id"), *tid = sget(b, "team_id");
        if ((uid != NULL && strcmp(uid, c->user_id) != 0) || (tid != NULL && !team_admin(c, tid))) {
            cJSON_Delete(b);
            gov_unref(k);
            fail(r, 403, "forbidden", uid ? "user_id" : "team_id",
                 "You may not give a key to another user or team.");
            return;
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(b, "key");
    const char *dur = sget(b, "duration");
    if (dur != NULL) {
        char iso[32];
        iso_time(unix_ms() + gov_duration_s(dur) * 1000, iso, sizeof iso);
        cJSON_AddStringToObject(b, "expires", iso);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(b, "duration");
    gov_write_t *w = write_new(r, action, 1);
    if (w == NULL) {
        cJSON_Delete(b);
        gov_unref(k);
        return;
    }
    w->ops[0] = (gov_op_t){.kind = GOV_KEY, .id = strdup(k->id), .mode = GOV_OP_PATCH, .doc = b};
    w->nops = 1;
    w->answer = answer_doc;
    gov_unref(k);
    submit(r, w);
}

static void key_block(req_t *r, const caller_t *c, bool block)
{
    cJSON *b = body_of(r);
    if (b == NULL)
        return;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(b, "key");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "key", cJSON_Duplicate(k, true));
    cJSON_AddBoolToObject(p, "blocked", block);
    cJSON_Delete(b);
    if (!c->admin) {
        cJSON_Delete(p);
        fail(r, 403, "forbidden", NULL, "Only a proxy admin may block or unblock keys.");
        return;
    }
    key_update(r, c, block ? "blocked" : "unblocked", p);
}

static void key_regenerate(req_t *r, const caller_t *c, const char *path_key)
{
    cJSON *b = r->h->entity.len > 0 ? body_of(r) : cJSON_CreateObject();
    if (b == NULL)
        return;
    if (path_key != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(b, "key");
        cJSON_AddStringToObject(b, "key", path_key);
    }
    gov_rec_t *k = c->readonly ? NULL : named_key(r, c, b, true);
    if (k == NULL) {
        if (c->readonly)
            fail(r, 403, "forbidden", NULL, "This key's role may not change keys.");
        cJSON_Delete(b);
        return;
    }
    char tok[64], hash[65];
    const char *nk = sget(b, "new_key");
    if (nk != NULL && (strncmp(nk, "sk-", 3) != 0 || strlen(nk) < 8 || strlen(nk) > 60)) {
        gov_unref(k);
        cJSON_Delete(b);
        fail(r, 400, "invalid_value", "new_key", "Invalid 'new_key': it must start with 'sk-'.");
        return;
    }
    if (nk != NULL)
        snprintf(tok, sizeof tok, "%s", nk);
    else if (!new_token(tok)) {
        gov_unref(k);
        cJSON_Delete(b);
        fail(r, 500, "internal_error", NULL, "no randomness available");
        return;
    }
    cJSON_Delete(b);
    sha256_hex(tok, strlen(tok), hash);
    cJSON *doc = cJSON_Duplicate(k->doc, true);
    cJSON_ReplaceItemInObjectCaseSensitive(doc, "token", cJSON_CreateString(hash));
    char name[16];
    size_t n = strlen(tok);
    snprintf(name, sizeof name, "sk-...%s", tok + n - 4);
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "key_name");
    cJSON_AddStringToObject(doc, "key_name", name);
    gov_write_t *w = write_new(r, "regenerated", 2);
    if (w == NULL) {
        gov_unref(k);
        cJSON_Delete(doc);
        return;
    }
    w->ops[0] = (gov_op_t){.kind = GOV_KEY, .id = strdup(hash), .mode = GOV_OP_CREATE, .doc = doc};
    w->ops[1] = (gov_op_t){.kind = GOV_KEY, .id = strdup(k->id), .mode = GOV_OP_DELETE};
    w->nops = 2;
    w->arg = strdup(tok);
    w->answer = answer_doc;
    gov_unref(k);
    submit(r, w);
}

/* ---- reads ---- */

typedef struct lister {
    const caller_t *c;
    req_t *r;
    gov_kind_t kind;
    cJSON *out;
    const char *user_id, *team_id, *alias;
    bool full;
    size_t count;
} lister_t;

static bool list_one(const gov_rec_t *e, void *arg)
{
    lister_t *l = arg;
    if (l->kind == GOV_KEY && !sees_key(l->c, e))
        return true;
    if (l->user_id && (e->user_id == NULL || strcmp(e->user_id, l->user_id) != 0))
        return true;
    if (l->team_id && (e->team_id == NULL || strcmp(e->team_id, l->team_id) != 0))
        return true;
    if (l->alias && (e->alias == NULL || strcmp(e->alias, l->alias) != 0))
        return true;
    if (l->kind == GOV_USER && !l->c->viewer &&
        (l->c->user_id == NULL || strcmp(l->c->user_id, e->id) != 0))
        return true;
    if (l->kind == GOV_TEAM && !l->c->viewer && !member(l->c, e))
        return true;
    if (l->kind != GOV_KEY && l->kind != GOV_USER && l->kind != GOV_TEAM && !l->c->viewer)
        return true;
    l->count++;
    cJSON_AddItemToArray(l->out, l->kind == GOV_KEY && !l->full ? cJSON_CreateString(e->id)
                                                                : shown(e, NULL));
    return true;
}

static const char *query(req_t *r, const char *name, char *buf, size_t len)
{
    if (r->h->query_at == SIZE_MAX)
        return NULL;
    size_t at = r->h->query_at + 1;
    return url_query_param(r->h->path.base + at, r->h->path.len - at, name, buf, len);
}

static void list_kind(req_t *r, const caller_t *c, gov_kind_t kind)
{
    char ub[128], tb[128], ab[128], fb[8], pb[16], sb[16];
    lister_t l = {.c = c, .r = r, .kind = kind, .out = cJSON_CreateArray()};
    l.user_id = query(r, "user_id", ub, sizeof ub);
    l.team_id = query(r, "team_id", tb, sizeof tb);
    l.alias = query(r, "key_alias", ab, sizeof ab);
    const char *full = query(r, "return_full_object", fb, sizeof fb);
    l.full = full != NULL && strcmp(full, "true") == 0;
    gov_each(c->snap, kind, list_one, &l);
    const char *ps = query(r, "page", pb, sizeof pb), *ss = query(r, "size", sb, sizeof sb);
    if (ss == NULL)
        ss = query(r, "page_size", sb, sizeof sb);
    long page = ps ? strtol(ps, NULL, 10) : 1, size = ss ? strtol(ss, NULL, 10) : 100;
    if (page < 1)
        page = 1;
    if (size < 1 || size > 1000)
        size = 100;
    long total = (long)l.count, pages = (total + size - 1) / size;
    cJSON *items = cJSON_CreateArray();
    long from = (page - 1) * size, i = 0;
    cJSON *it = l.out->child;
    while (it != NULL) {
        cJSON *next = it->next;
        if (i >= from && i < from + size)
            cJSON_AddItemToArray(items, cJSON_DetachItemViaPointer(l.out, it));
        it = next;
        i++;
    }
    cJSON_Delete(l.out);
    cJSON *root;
    if (kind == GOV_TEAM || kind == GOV_ORG || kind == GOV_BUDGET || kind == GOV_CUSTOMER) {
        root = items; /* LiteLLM answers these lists as plain arrays */
    } else {
        root = cJSON_CreateObject();
        cJSON_AddItemToObject(root, kind == GOV_KEY ? "keys" : "users", items);
        cJSON_AddNumberToObject(root, kind == GOV_KEY ? "total_count" : "total", (double)total);
        cJSON_AddNumberToObject(root, kind == GOV_KEY ? "current_page" : "page", (double)page);
        if (kind == GOV_USER)
            cJSON_AddNumberToObject(root, "page_size", (double)size);
        cJSON_AddNumberToObject(root, "total_pages", (double)pages);
    }
    answer(r, 200, root);
}

static cJSON *keys_of(const caller_t *c, req_t *r, const char *user_id, const char *team_id)
{
    lister_t l = {.c = c, .r = r, .kind = GOV_KEY, .out = cJSON_CreateArray(), .full = true,
                  .user_id = user_id, .team_id = team_id};
    gov_each(c->snap, GOV_KEY, list_one, &l);
    return l.out;
}

static void info_kind(req_t *r, const caller_t *c, const kdesc_t *kd)
{
    char buf[160];
    const char *param = kd->kind == GOV_CUSTOMER ? "end_user_id" : kd->id_field;
    const char *id = query(r, param, buf, sizeof buf);
    if (id == NULL && kd->kind == GOV_CUSTOMER)
        id = query(r, "user_id", buf, sizeof buf);
    const gov_ctx_t *g = r->gov;
    /* No id: the caller's own key / user. */
    if (id == NULL && kd->kind == GOV_KEY && g && g->ent[GOV_KEY])
        id = g->ent[GOV_KEY]->id;
    if (id == NULL && kd->kind == GOV_USER && c->user_id)
        id = c->user_id;
    if (id == NULL) {
        fail(r, 400, "missing_required_parameter", param, "Missing '%s' in the query.", param);
        return;
    }
    char hash[65];
    if (kd->kind == GOV_KEY) {
        key_id(id, hash);
        id = hash;
    }
    gov_rec_t *e = gov_find(c->snap, kd->kind, id, strlen(id));
    bool self_key = e && kd->kind == GOV_KEY && g && g->ent[GOV_KEY] == e;
    bool may = e != NULL && (c->viewer || self_key ||
                             (kd->kind == GOV_KEY && sees_key(c, e)) ||
                             (kd->kind == GOV_USER && c->user_id && strcmp(c->user_id, e->id) == 0) ||
                             (kd->kind == GOV_TEAM && member(c, e)));
    if (!may) {
        gov_unref(e);
        fail(r, 404, "not_found", param, "%s '%s' not found.", param, id);
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *doc = shown(e, NULL);
    switch (kd->kind) {
    case GOV_KEY:
        cJSON_AddStringToObject(root, "key", e->id);
        cJSON_AddItemToObject(root, "info", doc);
        break;
    case GOV_USER:
        cJSON_AddStringToObject(root, "user_id", e->id);
        cJSON_AddItemToObject(root, "user_info", doc);
        cJSON_AddItemToObject(root, "keys", keys_of(c, r, e->id, NULL));
        {
            cJSON *teams = cJSON_CreateArray();
            caller_t as_user = *c;
            as_user.user_id = e->id;
            as_user.viewer = false;
            lister_t l = {.c = &as_user, .r = r, .kind = GOV_TEAM, .out = teams};
            gov_each(c->snap, GOV_TEAM, list_one, &l);
            cJSON_AddItemToObject(root, "teams", teams);
        }
        break;
    case GOV_TEAM:
        cJSON_AddStringToObject(root, "team_id", e->id);
        cJSON_AddItemToObject(root, "team_info", doc);
        cJSON_AddItemToObject(root, "keys", keys_of(c, r, NULL, e->id));
        break;
    default:
        cJSON_Delete(root);
        root = doc;
        break;
    }
    gov_unref(e);
    answer(r, 200, root);
}

/* ---- the other kinds ---- */

static void answer_user_new(req_t *r, gov_write_t *w)
{
    if (!write_ok(r, w, kd_of(GOV_USER)))
        return;
    cJSON *d = w->ops[0].result;
    w->ops[0].result = NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(d, "spend");
    cJSON_AddNumberToObject(d, "spend", 0);
    if (w->nops > 1 && w->arg != NULL) {
        cJSON_AddStringToObject(d, "key", (const char *)w->arg);
        cJSON *t = cJSON_GetObjectItemCaseSensitive(w->ops[1].result, "token");
        if (cJSON_IsString(t))
            cJSON_AddStringToObject(d, "token", t->valuestring);
    }
    free(w->arg);
    w->arg = NULL;
    answer(r, 200, d);
}

static const char *const roles[] = {"proxy_admin", "proxy_admin_viewer", "internal_user",
                                    "internal_user_viewer", NULL};

static void create_kind(req_t *r, const caller_t *c, const kdesc_t *kd)
{
    static const char *const none[] = {NULL};
    cJSON *b = body_of(r);
    if (b == NULL)
        return;
    if (!c->admin) {
        cJSON_Delete(b);
        fail(r, 403, "forbidden", NULL, "Only a proxy admin may create a %s.", gov_kind_name(kd->kind));
        return;
    }
    if (!validate(r, kd, b, none) || !refs_exist(r, c, b, kd)) {
        cJSON_Delete(b);
        return;
    }
    const char *role = sget(b, "user_role");
    if (role != NULL) {
        bool known = false;
        for (const char *const *p = roles; *p && !known; p++)
            known = strcmp(*p, role) == 0;
        if (!known) {
            cJSON_Delete(b);
            fail(r, 400, "invalid_value", "user_role",
                 "Invalid 'user_role': one of proxy_admin, proxy_admin_viewer, internal_user, "
                 "internal_user_viewer.");
            return;
        }
    }
    const char *idf = kd->kind == GOV_CUSTOMER && sget(b, "user_id") == NULL ? "end_user_id" : kd->id_field;
    char idbuf[40];
    const char *id = sget(b, idf);
    if (id == NULL) {
        if (kd->kind == GOV_CUSTOMER) {
            cJSON_Delete(b);
            fail(r, 400, "missing_required_parameter", "user_id",
                 "Missing 'user_id' (the end user's id, as sent in requests' 'user').");
            return;
        }
        new_id(idbuf);
        id = idbuf;
        cJSON_AddStringToObject(b, kd->id_field, id);
    }
    if (strlen(id) > 128) {
        cJSON_Delete(b);
        fail(r, 400, "invalid_value", kd->id_field, "Invalid '%s': at most 128 characters.", kd->id_field);
        return;
    }
    if (kd->kind == GOV_USER && role == NULL)
        cJSON_AddStringToObject(b, "user_role", "internal_user");
    /* Team members are stored as {user_id, role}. */
    if (kd->kind == GOV_TEAM && cJSON_GetObjectItemCaseSensitive(b, "members_with_roles") == NULL)
        cJSON_AddArrayToObject(b, "members_with_roles");
    char iso[32];
    iso_time(unix_ms(), iso, sizeof iso);
    cJSON_AddStringToObject(b, "created_at", iso);
    bool auto_key = kd->kind == GOV_USER &&
                    !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b, "auto_create_key"));
    cJSON_DeleteItemFromObjectCaseSensitive(b, "auto_create_key");
    cJSON_DeleteItemFromObjectCaseSensitive(b, "send_invite_email");
    cJSON *kdoc = NULL;
    char tok[64], hash[65];
    if (auto_key) {
        kdoc = cJSON_CreateObject();
        cJSON_AddStringToObject(kdoc, "user_id", id);
        const char *alias = sget(b, "key_alias");
        if (alias)
            cJSON_AddStringToObject(kdoc, "key_alias", alias);
        const char *dur = sget(b, "duration");
        if (dur)
            cJSON_AddStringToObject(kdoc, "duration", dur);
        if (key_doc(r, kdoc, tok, hash) == NULL) {
            cJSON_Delete(kdoc);
            cJSON_Delete(b);
            return;
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(b, "key_alias");
    cJSON_DeleteItemFromObjectCaseSensitive(b, "duration");
    gov_write_t *w = write_new(r, "created", 2);
    if (w == NULL) {
        cJSON_Delete(b);
        cJSON_Delete(kdoc);
        return;
    }
    w->ops[0] = (gov_op_t){.kind = kd->kind, .id = strdup(id), .mode = GOV_OP_CREATE, .doc = b};
    w->nops = 1;
    if (kdoc != NULL) {
        w->ops[1] = (gov_op_t){.kind = GOV_KEY, .id = strdup(hash), .mode = GOV_OP_CREATE, .doc = kdoc};
        w->nops = 2;
        w->arg = strdup(tok);
    }
    w->answer = kd->kind == GOV_USER ? answer_user_new : answer_doc;
    submit(r, w);
}

static void update_kind(req_t *r, const caller_t *c, const kdesc_t *kd, cJSON *b, const char *action)
{
    static const char *const none[] = {NULL};
    if (b == NULL && (b = body_of(r)) == NULL)
        return;
    if (!c->admin) {
        cJSON_Delete(b);
        fail(r, 403, "forbidden", NULL, "Only a proxy admin may change a %s.", gov_kind_name(kd->kind));
        return;
    }
    if (!validate(r, kd, b, none) || !refs_exist(r, c, b, kd)) {
        cJSON_Delete(b);
        return;
    }
    const char *idf = kd->kind == GOV_CUSTOMER && sget(b, "user_id") == NULL ? "end_user_id" : kd->id_field;
    const char *id = sget(b, idf);
    if (id == NULL) {
        cJSON_Delete(b);
        fail(r, 400, "missing_required_parameter", kd->id_field, "Missing '%s'.", kd->id_field);
        return;
    }
    gov_write_t *w = write_new(r, action, 1);
    if (w == NULL) {
        cJSON_Delete(b);
        return;
    }
    w->ops[0] = (gov_op_t){.kind = kd->kind, .id = strdup(id), .mode = GOV_OP_PATCH};
    cJSON_DeleteItemFromObjectCaseSensitive(b, kd->id_field);
    cJSON_DeleteItemFromObjectCaseSensitive(b, "end_user_id");
    w->ops[0].doc = b;
    w->nops = 1;
    w->answer = answer_doc;
    submit(r, w);
}

static bool collect_keys(const gov_rec_t *e, void *arg)
{
    void **a = arg;
    gov_write_t *w = a[0];
    const char *uid = a[1];
    if (e->user_id && strcmp(e->user_id, uid) == 0 && w->nops < (size_t)(uintptr_t)a[2])
        w->ops[w->nops++] = (gov_op_t){.kind = GOV_KEY, .id = strdup(e->id), .mode = GOV_OP_DELETE};
    return true;
}

static void delete_kind(req_t *r, const caller_t *c, const kdesc_t *kd)
{
    cJSON *b = body_of(r);
    if (b == NULL)
        return;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(b, kd->ids_field);
    if (kd->kind == GOV_KEY && ids == NULL)
        ids = cJSON_GetObjectItemCaseSensitive(b, "key_aliases");
    int n = cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : -1;
    if (n < 1 || n > 1000) {
        cJSON_Delete(b);
        fail(r, 400, "invalid_value", kd->ids_field, "Send {\"%s\": [...]} with 1 to 1000 ids.",
             kd->ids_field);
        return;
    }
    bool by_alias = kd->kind == GOV_KEY && cJSON_GetObjectItemCaseSensitive(b, "keys") == NULL;
    if (kd->kind != GOV_KEY && !c->admin) {
        cJSON_Delete(b);
        fail(r, 403, "forbidden", NULL, "Only a proxy admin may delete a %s.", gov_kind_name(kd->kind));
        return;
    }
    if (c->readonly) {
        cJSON_Delete(b);
        fail(r, 403, "forbidden", NULL, "This key's role may not delete keys.");
        return;
    }
    /* Deleting a user deletes its keys too (bounded: a user with more is refused). */
    size_t cap = (size_t)n + (kd->kind == GOV_USER ? 10000 : 0);
    gov_write_t *w = write_new(r, "deleted", cap);
    if (w == NULL) {
        cJSON_Delete(b);
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, ids)
    {
        if (!cJSON_IsString(it)) {
            gov_write_free(w);
            cJSON_Delete(b);
            fail(r, 400, "invalid_value", kd->ids_field, "'%s' must be a list of strings.", kd->ids_field);
            return;
        }
        char hash[65];
        const char *id = it->valuestring;
        if (kd->kind == GOV_KEY) {
            gov_rec_t *k = NULL;
            if (by_alias) {
                lister_t l = {.c = c, .r = r, .kind = GOV_KEY, .out = cJSON_CreateArray(),
                              .full = false, .alias = id};
                gov_each(c->snap, GOV_KEY, list_one, &l);
                const cJSON *first = cJSON_GetArrayItem(l.out, 0);
                if (cJSON_IsString(first))
                    k = gov_find(c->snap, GOV_KEY, first->valuestring, strlen(first->valuestring));
                cJSON_Delete(l.out);
            } else {
                key_id(id, hash);
                k = gov_find(c->snap, GOV_KEY, hash, strlen(hash));
            }
            if (k == NULL || !owns_key(c, k)) {
                gov_unref(k);
                gov_write_free(w);
                fail(r, 404, "not_found", kd->ids_field, "Key '%s' not found.", id);
                cJSON_Delete(b); /* id points into it */
                return;
            }
            snprintf(hash, sizeof hash, "%s", k->id);
            gov_unref(k);
            id = hash;
        }
        w->ops[w->nops++] = (gov_op_t){.kind = kd->kind, .id = strdup(id), .mode = GOV_OP_DELETE};
        if (kd->kind == GOV_USER) {
            void *arg[3] = {w, (void *)id, (void *)(uintptr_t)cap};
            gov_each(c->snap, GOV_KEY, collect_keys, arg);
        }
    }
    cJSON_Delete(b);
    w->answer = answer_deleted;
    submit(r, w);
}

/* /team/member_add, member_delete, member_update: the members list rewritten whole. */
static void team_member(req_t *r, const caller_t *c, const char *op)
{
    cJSON *b = body_of(r);
    if (b == NULL)
        return;
    const char *tid = sget(b, "team_id");
    gov_rec_t *t = tid ? gov_find(c->snap, GOV_TEAM, tid, strlen(tid)) : NULL;
    if (t == NULL) {
        cJSON_Delete(b);
        fail(r, tid ? 404 : 400, tid ? "not_found" : "missing_required_parameter", "team_id",
             tid ? "Team not found." : "Missing 'team_id'.");
        return;
    }
    if (!c->admin && !team_admin(c, tid)) {
        gov_unref(t);
        cJSON_Delete(b);
        fail(r, 403, "forbidden", NULL, "Only a proxy admin or an admin of this team may change its members.");
        return;
    }
    cJSON *members = cJSON_Duplicate(t->members ? t->members : NULL, true);
    if (members == NULL)
        members = cJSON_CreateArray();
    gov_unref(t);
    cJSON *given = cJSON_GetObjectItemCaseSensitive(b, "member");
    cJSON *list = cJSON_IsArray(given) ? cJSON_Duplicate(given, true) : cJSON_CreateArray();
    if (cJSON_IsObject(given))
        cJSON_AddItemToArray(list, cJSON_Duplicate(given, true));
    if (strcmp(op, "member_delete") == 0 && cJSON_GetArraySize(list) == 0) {
        cJSON *m = cJSON_CreateObject();
        const char *u = sget(b, "user_id"), *e = sget(b, "user_email");
        if (u)
            cJSON_AddStringToObject(m, "user_id", u);
        if (e)
            cJSON_AddStringToObject(m, "user_email", e);
        cJSON_AddItemToArray(list, m);
    }
    if (strcmp(op, "member_update") == 0 && cJSON_GetArraySize(list) == 0) {
        cJSON *m = cJSON_CreateObject();
        const char *u = sget(b, "user_id"), *role = sget(b, "role");
        if (u)
            cJSON_AddStringToObject(m, "user_id", u);
        if (role)
            cJSON_AddStringToObject(m, "role", role);
        cJSON_AddItemToArray(list, m);
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, list)
    {
        const char *u = sget(m, "user_id"), *role = sget(m, "role");
        if (u == NULL || (role && strcmp(role, "admin") != 0 && strcmp(role, "user") != 0)) {
            cJSON_Delete(list);
            cJSON_Delete(members);
            cJSON_Delete(b);
            fail(r, 400, "invalid_value", "member",
                 "Each member needs a 'user_id' and a 'role' of admin or user.");
            return;
        }
        gov_rec_t *ur = gov_find(c->snap, GOV_USER, u, strlen(u));
        gov_unref(ur);
        if (ur == NULL && strcmp(op, "member_add") == 0) {
            fail(r, 400, "not_found", "member", "user_id '%s' does not exist.", u);
            cJSON_Delete(list); /* u points into it */
            cJSON_Delete(members);
            cJSON_Delete(b);
            return;
        }
        /* Remove the member's current entry; add or update puts the new one. */
        cJSON *cur = members->child;
        while (cur != NULL) {
            cJSON *next = cur->next;
            const char *cu = sget(cur, "user_id");
            if (cu && strcmp(cu, u) == 0)
                cJSON_Delete(cJSON_DetachItemViaPointer(members, cur));
            cur = next;
        }
        if (strcmp(op, "member_delete") != 0) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "user_id", u);
            cJSON_AddStringToObject(e, "role", role ? role : "user");
            cJSON_AddItemToArray(members, e);
        }
    }
    cJSON_Delete(list);
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddItemToObject(patch, "members_with_roles", members);
    gov_write_t *w = write_new(r, op, 1);
    if (w == NULL) {
        cJSON_Delete(patch);
        cJSON_Delete(b);
        return;
    }
    w->ops[0] = (gov_op_t){.kind = GOV_TEAM, .id = strdup(tid), .mode = GOV_OP_PATCH, .doc = patch};
    w->nops = 1;
    w->answer = answer_doc;
    cJSON_Delete(b);
    submit(r, w);
}

static void block_kind(req_t *r, const caller_t *c, const kdesc_t *kd, bool block)
{
    cJSON *b = body_of(r);
    if (b == NULL)
        return;
    const char *idf = kd->kind == GOV_CUSTOMER ? "user_ids" : kd->id_field;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, idf);
    const char *id = cJSON_IsString(v) ? v->valuestring
                     : cJSON_IsArray(v) && cJSON_IsString(cJSON_GetArrayItem(v, 0))
                         ? cJSON_GetArrayItem(v, 0)->valuestring
                         : NULL;
    cJSON *p = cJSON_CreateObject();
    if (id != NULL)
        cJSON_AddStringToObject(p, kd->id_field, id);
    cJSON_AddBoolToObject(p, "blocked", block);
    cJSON_Delete(b);
    update_kind(r, c, kd, p, block ? "blocked" : "unblocked");
}

/* ---- dispatch ---- */

static bool method_is(req_t *r, const char *m)
{
    return h2o_memis(r->h->method.base, r->h->method.len, m, strlen(m));
}

static void op_manage(req_t *r)
{
    caller_t c;
    if (!who(r, &c))
        return;
    char path[256];
    size_t n = r->h->path_normalized.len < sizeof path - 1 ? r->h->path_normalized.len : sizeof path - 1;
    memcpy(path, r->h->path_normalized.base, n);
    path[n] = '\0';
    if (n > 1 && path[n - 1] == '/')
        path[n - 1] = '\0';
    if (gov_spend_route(r, path, &c.admin, c.viewer, c.user_id))
        return;
    const kdesc_t *kd = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && kd == NULL; i++) {
        if (strncmp(path, kinds[i].prefix, strlen(kinds[i].prefix)) == 0)
            kd = &kinds[i];
    }
    if (kd == NULL) {
        fail(r, 404, "not_found", NULL, "No such route.");
        return;
    }
    const char *op = path + strlen(kd->prefix);
    bool get = method_is(r, "GET");
    if ((strcmp(op, "info") == 0 || strcmp(op, "list") == 0) != get) {
        fail(r, 405, "method_not_allowed", NULL, "Use %s for %s.", get ? "POST" : "GET", path);
        return;
    }
    if (strcmp(op, "info") == 0) {
        info_kind(r, &c, kd);
    } else if (strcmp(op, "list") == 0) {
        list_kind(r, &c, kd->kind);
    } else if (kd->kind == GOV_KEY && strcmp(op, "generate") == 0) {
        key_generate(r, &c);
    } else if (kd->kind == GOV_KEY && strcmp(op, "update") == 0) {
        key_update(r, &c, "updated", NULL);
    } else if (kd->kind == GOV_KEY && (strcmp(op, "block") == 0 || strcmp(op, "unblock") == 0)) {
        key_block(r, &c, strcmp(op, "block") == 0);
    } else if (kd->kind == GOV_KEY && strcmp(op, "regenerate") == 0) {
        key_regenerate(r, &c, NULL);
    } else if (kd->kind == GOV_KEY && strlen(op) > 11 &&
               strcmp(op + strlen(op) - 11, "/regenerate") == 0) {
        char k[128];
        snprintf(k, sizeof k, "%.*s", (int)(strlen(op) - 11), op);
        key_regenerate(r, &c, k);
    } else if (strcmp(op, "new") == 0 && kd->kind != GOV_KEY) {
        create_kind(r, &c, kd);
    } else if (strcmp(op, "update") == 0) {
        update_kind(r, &c, kd, NULL, "updated");
    } else if (strcmp(op, "delete") == 0) {
        delete_kind(r, &c, kd);
    } else if ((strcmp(op, "block") == 0 || strcmp(op, "unblock") == 0) &&
               (kd->kind == GOV_TEAM || kd->kind == GOV_CUSTOMER)) {
        block_kind(r, &c, kd, strcmp(op, "block") == 0);
    } else if (kd->kind == GOV_TEAM && strncmp(op, "member_", 7) == 0 &&
               (strcmp(op, "member_add") == 0 || strcmp(op, "member_delete") == 0 ||
                strcmp(op, "member_update") == 0)) {
        team_member(r, &c, op);
    } else {
        fail(r, 404, "not_found", NULL, "No such route: %s.", path);
    }
}

gov_route_class_t gov_route_class(const char *path)
{
    if (strncmp(path, "/spend", 6) == 0 || strncmp(path, "/global/spend", 13) == 0 ||
        strstr(path, "/daily/activity") != NULL)
        return GOV_ROUTE_SPEND;
    if (strcmp(path, "/v1/models") == 0 || strcmp(path, "/models") == 0 ||
        strncmp(path, "/model/info", 11) == 0)
        return GOV_ROUTE_LLM_INFO;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].prefix);
        if (strncmp(path, kinds[i].prefix, n) == 0) {
            const char *op = path + n;
            return strcmp(op, "info") == 0 || strcmp(op, "list") == 0 ? GOV_ROUTE_INFO
                                                                      : GOV_ROUTE_MANAGEMENT;
        }
    }
    if (strcmp(path, "/audit") == 0)
        return GOV_ROUTE_MANAGEMENT;
    if (strncmp(path, "/v1/", 4) == 0 || strncmp(path, "/bedrock/", 9) == 0 ||
        strcmp(path, "/chat/completions") == 0 || strcmp(path, "/embeddings") == 0 ||
        strcmp(path, "/completions") == 0)
        return GOV_ROUTE_LLM;
    return GOV_ROUTE_OTHER;
}

bool gov_is_route(const char *path, size_t len)
{
    static const char *const prefixes[] = {"/key/", "/user/", "/team/", "/organization/",
                                           "/customer/", "/budget/", "/spend/", "/global/spend",
                                           "/audit", NULL};
    for (const char *const *p = prefixes; *p; p++) {
        size_t n = strlen(*p);
        if (len >= n && memcmp(path, *p, n) == 0)
            return true;
    }
    return false;
}

int gov_route(worker_t *w, h2o_req_t *h)
{
    req_t *r = routes_new_req(w, h, "management");
    if (r == NULL)
        return -1;
    req_hold(r);
    pipe_start(r, op_manage);
    req_release(r);
    return 0;
}
