/*
 * gov_store: governance in the database - loading the directory at start-up, management writes
 * (all or nothing, audited, published to the directory once their SQL succeeded and answered only
 * after the commit), and the spend of every request (one compact row, the daily aggregates and the
 * entities' running spend, in the store thread's batched transaction).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "gen.h"
#include "gov_int.h"
#include "log.h"
#include "pipe.h"
#include "req.h"
#include "srv.h"
#include "util.h"

/* general_settings.maximum_spend_logs_retention_period, in ms; 0: keep everything. */
static int64_t retention_ms;

static const char *const kind_key[GOV_NKINDS] = {"key", "user", "team", "org", "customer", "budget"};

static int kind_of(const char *s)
{
    for (int k = 0; k < GOV_NKINDS; k++) {
        if (strcmp(kind_key[k], s) == 0)
            return k;
    }
    return -1;
}

/* ---- start-up ---- */

int gov_load(void *vdb, char *err, size_t errlen)
{
    sqlite3 *db = vdb;
    gov_alert_init(srv.cfg);
    const cfg_node_t *gs = srv.cfg ? cfg_map_get(srv.cfg->doc->root, "general_settings") : NULL;
    const char *keep = cfg_get_str(gs, "maximum_spend_logs_retention_period");
    if (keep != NULL) {
        int64_t s = gov_duration_s(keep);
        if (s <= 0) {
            snprintf(err, errlen, "maximum_spend_logs_retention_period '%s' is not a duration "
                     "such as \"30d\"", keep);
            return -1;
        }
        retention_ms = s * 1000;
    }
    if (gov_dir_init(srv.nworkers) != 0 || gov_req_init() != 0) {
        snprintf(err, errlen, "governance: out of memory");
        return -1;
    }
    gov_change_t *c = gov_change_begin();
    sqlite3_stmt *st = NULL;
    if (c == NULL ||
        sqlite3_prepare_v2(db,
                           "SELECT e.kind, e.id, e.doc, s.spend, s.total, s.reset_at "
                           "FROM gov_entities e LEFT JOIN gov_spend s ON s.kind = e.kind AND "
                           "s.id = e.id",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "governance: %s", sqlite3_errmsg(db));
        gov_change_abort(c);
        return -1;
    }
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int k = kind_of((const char *)sqlite3_column_text(st, 0));
        const char *id = (const char *)sqlite3_column_text(st, 1);
        cJSON *doc = cJSON_Parse((const char *)sqlite3_column_text(st, 2));
        if (k < 0 || id == NULL || !cJSON_IsObject(doc)) {
            log_warn("governance: skipping a malformed entity row (%s %s)",
                     (const char *)sqlite3_column_text(st, 0), id ? id : "?");
            cJSON_Delete(doc);
            continue;
        }
        gov_rec_t *rec = gov_rec_new((gov_kind_t)k, id, doc);
        if (rec == NULL)
            break;
        rec->cell = calloc(1, sizeof *rec->cell);
        if (rec->cell == NULL) {
            gov_unref(rec);
            break;
        }
        atomic_init(&rec->cell->refs, 1);
        atomic_init(&rec->cell->spend, sqlite3_column_int64(st, 3));
        atomic_init(&rec->cell->total, sqlite3_column_int64(st, 4));
        atomic_init(&rec->cell->reset_at, sqlite3_column_int64(st, 5));
        gov_change_put(c, rec);
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "governance: loading entities: %s", sqlite3_errmsg(db));
        gov_change_abort(c);
        return -1;
    }
    gov_change_publish(c);
    if (gov_model_cells_init() != 0) {
        snprintf(err, errlen, "governance: out of memory");
        return -1;
    }
    if (sqlite3_prepare_v2(db, "SELECT id, spend, reset_at FROM gov_spend WHERE kind = 'keymodel'",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(st, 0);
            const char *bar = id ? strchr(id, '|') : NULL;
            if (bar == NULL || bar - id >= 65)
                continue;
            char key[65];
            memcpy(key, id, (size_t)(bar - id));
            key[bar - id] = '\0';
            gov_cell_t *mc = gov_model_cell(key, bar + 1);
            if (mc != NULL) {
                atomic_store(&mc->spend, sqlite3_column_int64(st, 1));
                atomic_store(&mc->reset_at, sqlite3_column_int64(st, 2));
            }
        }
    }
    sqlite3_finalize(st);
    if (n > 0)
        log_info("governance: %zu entit%s loaded", n, n == 1 ? "y" : "ies");
    return 0;
}

/* ---- management writes ---- */

/*
 * Prepared statements, kept for the life of the connection: preparing is most of the cost of a
 * small statement, and the spend path runs several per request.  Store thread only (like every
 * use of the connection), keyed by the SQL text's address (the texts are literals).
 */
#define MAX_CACHED 24
static struct {
    const char *sql;
    sqlite3_stmt *st;
} cache[MAX_CACHED];

static sqlite3_stmt *cached(sqlite3 *db, const char *sql)
{
    size_t i = 0;
    for (; i < MAX_CACHED && cache[i].sql != NULL; i++) {
        if (cache[i].sql == sql) {
            sqlite3_reset(cache[i].st);
            sqlite3_clear_bindings(cache[i].st);
            return cache[i].st;
        }
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        log_error("database: %s", sqlite3_errmsg(db));
        return NULL;
    }
    if (i == MAX_CACHED) { /* a statement text was added without growing the table */
        log_error("database: statement cache full");
        sqlite3_finalize(st);
        return NULL;
    }
    cache[i].sql = sql;
    cache[i].st = st;
    return st;
}

void gov_store_close(void)
{
    for (size_t i = 0; i < MAX_CACHED && cache[i].sql != NULL; i++) {
        sqlite3_finalize(cache[i].st);
        cache[i].sql = NULL;
        cache[i].st = NULL;
    }
}

static bool exec_bind(sqlite3 *db, const char *sql, const char *const *text, size_t ntext,
                      const int64_t *ints, size_t nints)
{
    sqlite3_stmt *st = cached(db, sql);
    if (st == NULL)
        return false;
    int i = 1;
    for (size_t k = 0; k < ntext; k++, i++)
        sqlite3_bind_text(st, i, text[k], -1, SQLITE_TRANSIENT);
    for (size_t k = 0; k < nints; k++, i++)
        sqlite3_bind_int64(st, i, ints[k]);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    if (!ok)
        log_error("database: %s", sqlite3_errmsg(db));
    sqlite3_reset(st);
    return ok;
}

/* Secrets never reach the audit log. */
static char *audit_text(const cJSON *doc)
{
    if (doc == NULL)
        return NULL;
    cJSON *copy = cJSON_Duplicate(doc, true);
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "key");
    char *s = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    return s;
}

/* Apply one op to the change and the database; false on a SQL failure. */
static bool apply(sqlite3 *db, gov_change_t *c, gov_write_t *w, gov_op_t *op)
{
    const gov_rec_t *cur = gov_change_get(c, op->kind, op->id);
    cJSON *before = cur ? cJSON_Duplicate(cur->doc, true) : NULL;
    cJSON *after = NULL;
    const char *kk = kind_key[op->kind];
    int64_t now = unix_ms();
    bool ok = true;
    if (op->mode == GOV_OP_CREATE && cur != NULL) {
        op->status = 409;
    } else if (op->mode != GOV_OP_CREATE && cur == NULL) {
        op->status = 404;
    } else if (op->mode == GOV_OP_DELETE) {
        const char *t[] = {kk, op->id};
        ok = exec_bind(db, "DELETE FROM gov_entities WHERE kind = ? AND id = ?", t, 2, NULL, 0) &&
             exec_bind(db, "DELETE FROM gov_spend WHERE kind = ? AND id = ?", t, 2, NULL, 0);
        if (ok) {
            op->result = before;
            before = cJSON_Duplicate(before, true);
            gov_change_del(c, op->kind, op->id);
        }
    } else {
        if (op->mode == GOV_OP_CREATE) {
            after = op->doc;
            op->doc = NULL;
        } else {
            after = cJSON_Duplicate(cur->doc, true);
            cJSON *f;
            cJSON_ArrayForEach(f, op->doc)
            {
                cJSON_DeleteItemFromObjectCaseSensitive(after, f->string);
                if (!cJSON_IsNull(f))
                    cJSON_AddItemToObject(after, f->string, cJSON_Duplicate(f, true));
            }
        }
        cJSON *ua = cJSON_GetObjectItemCaseSensitive(after, "updated_at");
        char iso[32];
        time_t secs = (time_t)(now / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (ua != NULL)
            cJSON_DeleteItemFromObjectCaseSensitive(after, "updated_at");
        cJSON_AddStringToObject(after, "updated_at", iso);
        char *text = cJSON_PrintUnformatted(after);
        const char *t[] = {kk, op->id, text ? text : "{}"};
        int64_t times[] = {now, now};
        ok = text != NULL &&
             exec_bind(db,
                       "INSERT INTO gov_entities(kind, id, doc, created_ms, updated_ms) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT(kind, id) DO UPDATE SET "
                       "doc = excluded.doc, updated_ms = excluded.updated_ms",
                       t, 3, times, 2);
        cJSON_free(text);
        if (ok) {
            gov_rec_t *rec = gov_rec_new(op->kind, op->id, cJSON_Duplicate(after, true));
            ok = rec != NULL;
            if (ok)
                gov_change_put(c, rec);
            op->result = after;
            after = NULL;
        }
    }
    if (ok && op->status == 0) {
        char *b = audit_text(before), *a = audit_text(op->mode == GOV_OP_DELETE ? NULL : op->result);
        sqlite3_stmt *st = NULL;
        ok = sqlite3_prepare_v2(db,
                                "INSERT INTO audit_log(ts_ms, actor, action, object_type, "
                                "object_id, before, after) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                -1, &st, NULL) == SQLITE_OK;
        if (ok) {
            sqlite3_bind_int64(st, 1, now);
            sqlite3_bind_text(st, 2, w->actor, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, w->action, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, gov_kind_name(op->kind), -1, SQLITE_STATIC);
            /* A key is audited by its hash: the id is already the hash. */
            sqlite3_bind_text(st, 5, op->id, -1, SQLITE_STATIC);
            if (b)
                sqlite3_bind_text(st, 6, b, -1, SQLITE_STATIC);
            if (a)
                sqlite3_bind_text(st, 7, a, -1, SQLITE_STATIC);
            ok = sqlite3_step(st) == SQLITE_DONE;
        }
        sqlite3_finalize(st);
        cJSON_free(b);
        cJSON_free(a);
    }
    cJSON_Delete(before);
    cJSON_Delete(after);
    return ok;
}

static void write_run(sqlite3 *db, store_job_t *j)
{
    gov_write_t *w = (gov_write_t *)j;
    gov_change_t *c = gov_change_begin();
    if (c == NULL || sqlite3_exec(db, "SAVEPOINT gov_write", NULL, NULL, NULL) != SQLITE_OK) {
        gov_change_abort(c);
        w->failed = true;
        return;
    }
    for (size_t i = 0; i < w->nops && !w->failed; i++) {
        if (!apply(db, c, w, &w->ops[i]))
            w->failed = true;
        else if (w->ops[i].status != 0 && w->status == 0)
            w->status = w->ops[i].status;
    }
    /* A missing or duplicate entity fails the whole call, like a failed statement. */
    if (w->failed || w->status != 0) {
        sqlite3_exec(db, "ROLLBACK TO gov_write", NULL, NULL, NULL);
        sqlite3_exec(db, "RELEASE gov_write", NULL, NULL, NULL);
        gov_change_abort(c);
        return;
    }
    sqlite3_exec(db, "RELEASE gov_write", NULL, NULL, NULL);
    gov_change_publish(c);
}

void gov_write_free(gov_write_t *w)
{
    for (size_t i = 0; i < w->nops; i++) {
        free(w->ops[i].id);
        cJSON_Delete(w->ops[i].doc);
        cJSON_Delete(w->ops[i].result);
    }
    free(w->ops);
    free(w);
}

static void write_drop(store_job_t *j)
{
    gov_write_free((gov_write_t *)j);
}

static void write_done(store_job_t *j)
{
    gov_write_t *w = (gov_write_t *)j;
    req_t *r = w->r;
    req_hold(r);
    r->pending--;
    if (j->lost)
        w->failed = true;
    if (!r->client_gone)
        w->answer(r, w);
    gov_write_free(w);
    req_release(r);
}

bool gov_write_submit(gov_write_t *w)
{
    w->job = (store_job_t){.run = write_run, .done = write_done, .drop = write_drop, .w = w->r->w,
                           .bytes = sizeof *w};
    if (store_submit(&w->job) != 0)
        return false;
    w->r->pending++;
    return true;
}

/* ---- spend ---- */

typedef struct spend_job {
    store_job_t job;
    int64_t start_ms, cost, prompt, completion, latency_ms;
    int status;
    bool cache_hit;
    char *text[13]; /* request_id, key, alias, user, team, org, customer, group, dep, provider,
                       tags, day, key|group (keys with a model_max_budget) */
} spend_job_t;

enum { T_REQ, T_KEY, T_ALIAS, T_USER, T_TEAM, T_ORG, T_CUST, T_GROUP, T_DEP, T_PROV, T_TAGS, T_DAY,
       T_KEYMODEL, T_N };

/*
 * Spend deltas are summed on the store thread for the whole batch (store.c calls
 * gov_store_batch_end() before its COMMIT): under load a batch holds hundreds of requests of a few
 * keys and models, and each aggregate row is then written once per batch, not once per request.
 */
#define AGG_SLOTS 2048 /* a power of two; flushed early when half full */

typedef struct agg {
    char *name; /* "kind\x1fid\x1fday\x1fmodel" (daily) or "kind\x1fid" (running totals) */
    bool daily;
    int64_t requests, failed, prompt, completion, cost;
} agg_t;

static agg_t aggs[AGG_SLOTS];
static size_t naggs;

static const char sql_daily[] =
    "INSERT INTO spend_daily(day, kind, id, model, requests, failed, prompt_tokens, "
    "completion_tokens, cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(kind, id, day, "
    "model) DO UPDATE SET requests = requests + excluded.requests, failed = failed + "
    "excluded.failed, prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = "
    "completion_tokens + excluded.completion_tokens, cost = cost + excluded.cost";
static const char sql_total[] =
    "INSERT INTO gov_spend(kind, id, spend, total) VALUES (?, ?, ?, ?) ON CONFLICT(kind, id) DO "
    "UPDATE SET spend = spend + excluded.spend, total = total + excluded.total";

static void flush_aggs(sqlite3 *db)
{
    for (size_t i = 0; i < AGG_SLOTS && naggs > 0; i++) {
        agg_t *a = &aggs[i];
        if (a->name == NULL)
            continue;
        char *part[4] = {a->name, NULL, NULL, NULL};
        for (int k = 1; k < 4 && part[k - 1] != NULL; k++) {
            char *sep = strchr(part[k - 1], '\x1f');
            if (sep != NULL) {
                *sep = '\0';
                part[k] = sep + 1;
            }
        }
        sqlite3_stmt *st = cached(db, a->daily ? sql_daily : sql_total);
        if (st != NULL && a->daily) {
            sqlite3_bind_text(st, 1, part[2], -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, part[0], -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, part[1], -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, part[3] ? part[3] : "", -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 5, a->requests);
            sqlite3_bind_int64(st, 6, a->failed);
            sqlite3_bind_int64(st, 7, a->prompt);
            sqlite3_bind_int64(st, 8, a->completion);
            sqlite3_bind_int64(st, 9, a->cost);
        } else if (st != NULL) {
            sqlite3_bind_text(st, 1, part[0], -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, part[1] ? part[1] : "", -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, a->cost);
            sqlite3_bind_int64(st, 4, a->cost);
        }
        if (st != NULL && sqlite3_step(st) != SQLITE_DONE)
            log_error("database: spend aggregate: %s", sqlite3_errmsg(db));
        if (st != NULL)
            sqlite3_reset(st);
        free(a->name);
        *a = (agg_t){0};
        naggs--;
    }
    naggs = 0;
}

void gov_store_batch_end(void *db)
{
    if (naggs > 0)
        flush_aggs(db);
}

static uint64_t agg_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void add_agg(sqlite3 *db, bool daily, const char *name, const spend_job_t *s)
{
    if (naggs >= AGG_SLOTS / 2)
        flush_aggs(db);
    size_t i = agg_hash(name) & (AGG_SLOTS - 1);
    while (aggs[i].name != NULL && (aggs[i].daily != daily || strcmp(aggs[i].name, name) != 0))
        i = (i + 1) & (AGG_SLOTS - 1);
    agg_t *a = &aggs[i];
    if (a->name == NULL) {
        if ((a->name = strdup(name)) == NULL)
            return;
        a->daily = daily;
        naggs++;
    }
    a->requests++;
    a->failed += s->status >= 400;
    a->prompt += s->prompt;
    a->completion += s->completion;
    a->cost += s->cost;
}

static void daily(sqlite3 *db, const spend_job_t *s, const char *kind, const char *id)
{
    if (id == NULL)
        return;
    char name[512];
    snprintf(name, sizeof name, "%s\x1f%s\x1f%s\x1f%s", kind, id, s->text[T_DAY],
             s->text[T_GROUP] ? s->text[T_GROUP] : "");
    add_agg(db, true, name, s);
}

static void add_spend(sqlite3 *db, const spend_job_t *s, const char *kind, const char *id)
{
    if (id == NULL || s->cost == 0)
        return;
    char name[512];
    snprintf(name, sizeof name, "%s\x1f%s", kind, id);
    add_agg(db, false, name, s);
}

/*
 * Old spend rows go in bounded batches, at most once a minute (or every half retention period
 * when that is shorter), from the store thread itself: the
 * daily aggregates keep the totals, so nothing the spend routes sum is lost.
 */
static void retention(sqlite3 *db)
{
    static int64_t last;
    int64_t now = unix_ms();
    int64_t every = retention_ms / 2 < 60000 ? retention_ms / 2 : 60000;
    if (retention_ms <= 0 || now - last < every)
        return;
    last = now;
    int64_t cutoff[] = {now - retention_ms};
    exec_bind(db,
              "DELETE FROM spend_logs WHERE rowid IN (SELECT rowid FROM spend_logs WHERE "
              "start_ms < ? LIMIT 20000)",
              NULL, 0, cutoff, 1);
}

static void spend_run(sqlite3 *db, store_job_t *j)
{
    retention(db);
    spend_job_t *s = (spend_job_t *)j;
    static const char sql[] = "INSERT INTO spend_logs(request_id, start_ms, key_hash, key_alias, "
                              "user_id, team_id, org_id, customer, model_group, deployment, "
                              "provider, prompt_tokens, completion_tokens, cost, status, "
                              "latency_ms, cache_hit, tags) VALUES "
                              "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *st = cached(db, sql);
    if (st != NULL) {
        static const int cols[] = {T_REQ, -1,     T_KEY,  T_ALIAS, T_USER, T_TEAM,
                                   T_ORG, T_CUST, T_GROUP, T_DEP,  T_PROV};
        for (int i = 0; i < (int)(sizeof cols / sizeof cols[0]); i++) {
            if (cols[i] >= 0 && s->text[cols[i]] != NULL)
                sqlite3_bind_text(st, i + 1, s->text[cols[i]], -1, SQLITE_STATIC);
        }
        sqlite3_bind_int64(st, 2, s->start_ms);
        sqlite3_bind_int64(st, 12, s->prompt);
        sqlite3_bind_int64(st, 13, s->completion);
        sqlite3_bind_int64(st, 14, s->cost);
        sqlite3_bind_int(st, 15, s->status);
        sqlite3_bind_int64(st, 16, s->latency_ms);
        sqlite3_bind_int(st, 17, s->cache_hit);
        if (s->text[T_TAGS] != NULL)
            sqlite3_bind_text(st, 18, s->text[T_TAGS], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            log_error("database: spend log: %s", sqlite3_errmsg(db));
        sqlite3_reset(st);
    }
    daily(db, s, "key", s->text[T_KEY]);
    daily(db, s, "user", s->text[T_USER]);
    daily(db, s, "team", s->text[T_TEAM]);
    daily(db, s, "org", s->text[T_ORG]);
    daily(db, s, "customer", s->text[T_CUST]);
    daily(db, s, "all", "");
    daily(db, s, "deployment", s->text[T_DEP]);
    add_spend(db, s, "key", s->text[T_KEY]);
    add_spend(db, s, "user", s->text[T_USER]);
    add_spend(db, s, "team", s->text[T_TEAM]);
    add_spend(db, s, "org", s->text[T_ORG]);
    add_spend(db, s, "customer", s->text[T_CUST]);
    add_spend(db, s, "keymodel", s->text[T_KEYMODEL]);
    for (int i = 0; i < T_N; i++)
        free(s->text[i]);
}

static char *dupz(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static char *dupn(gantry_str_t s)
{
    return s.len > 0 ? strndup(s.ptr, s.len) : NULL;
}

void gov_store_spend(req_t *r, int64_t cost)
{
    static _Atomic int64_t dropped;
    spend_job_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return;
    s->job = (store_job_t){.run = spend_run, .bytes = sizeof *s + 512};
    const gov_ctx_t *g = r->gov;
    s->start_ms = r->start_unix_ms;
    s->cost = cost;
    s->prompt = r->prompt_tokens > 0 ? r->prompt_tokens : 0; /* -1: unknown */
    s->completion = r->completion_tokens > 0 ? r->completion_tokens : 0;
    s->latency_ms = (r->t_end > r->t_start ? r->t_end - r->t_start : 0) / 1000;
    s->status = r->failed ? r->err.status : 200;
    s->cache_hit = r->cache_hit;
    s->text[T_REQ] = strndup(r->id, r->id_len);
    const gov_rec_t *key = g ? g->ent[GOV_KEY] : NULL;
    s->text[T_KEY] = key ? strdup(key->id) : NULL;
    s->text[T_ALIAS] = key ? dupz(key->alias) : NULL;
    s->text[T_USER] = g && g->ent[GOV_USER] ? strdup(g->ent[GOV_USER]->id)
                      : key                 ? dupz(key->user_id)
                                            : NULL;
    s->text[T_TEAM] = g && g->ent[GOV_TEAM] ? strdup(g->ent[GOV_TEAM]->id)
                      : key                 ? dupz(key->team_id)
                                            : NULL;
    s->text[T_ORG] = g && g->ent[GOV_ORG] ? strdup(g->ent[GOV_ORG]->id) : NULL;
    s->text[T_CUST] = dupn(r->end_user);
    s->text[T_GROUP] = dupz(r->group ? r->group->name : NULL);
    s->text[T_DEP] = r->dep ? dupz(r->dep->cfg->id) : NULL;
    s->text[T_PROV] = r->dep ? dupz(r->dep->cfg->prefix) : NULL;
    if (key != NULL && key->tags != NULL)
        s->text[T_TAGS] = cJSON_PrintUnformatted(key->tags);
    char day[16];
    time_t secs = (time_t)(s->start_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    s->text[T_DAY] = strdup(day);
    if (key != NULL && r->group != NULL &&
        cJSON_GetObjectItemCaseSensitive(key->model_max_budget, r->group->name) != NULL) {
        size_t n = strlen(key->id) + strlen(r->group->name) + 2;
        if ((s->text[T_KEYMODEL] = malloc(n)) != NULL)
            snprintf(s->text[T_KEYMODEL], n, "%s|%s", key->id, r->group->name);
    }
    if (store_submit(&s->job) != 0) {
        /* The store is overloaded: the in-memory spend (what budgets use) is still right; only
         * the row and the persisted running total miss this request. */
        if (atomic_fetch_add(&dropped, 1) % 1000 == 0)
            log_warn("database queue full: spend rows are being dropped");
        for (int i = 0; i < T_N; i++)
            free(s->text[i]);
        free(s);
    }
}

typedef struct reset_job {
    store_job_t job;
    char kind[16];
    char *id;
    int64_t spend, reset_at;
    bool reset;
} reset_job_t;

static void reset_run(sqlite3 *db, store_job_t *j)
{
    reset_job_t *rj = (reset_job_t *)j;
    const char *t[] = {rj->kind, rj->id};
    int64_t v[] = {rj->reset_at};
    exec_bind(db,
              rj->reset ? "INSERT INTO gov_spend(kind, id, reset_at) VALUES (?, ?, ?) ON "
                          "CONFLICT(kind, id) DO UPDATE SET spend = 0, reset_at = "
                          "excluded.reset_at"
                        : "INSERT INTO gov_spend(kind, id, reset_at) VALUES (?, ?, ?) ON "
                          "CONFLICT(kind, id) DO UPDATE SET reset_at = excluded.reset_at",
              t, 2, v, 1);
    free(rj->id);
}

void gov_store_reset(const gov_rec_t *e, int64_t spend, int64_t reset_at, bool reset)
{
    (void)spend;
    gov_store_reset_id(kind_key[e->kind], e->id, reset_at, reset);
}

void gov_store_reset_id(const char *kind, const char *id, int64_t reset_at, bool reset)
{
    reset_job_t *rj = calloc(1, sizeof *rj);
    if (rj == NULL || (rj->id = strdup(id)) == NULL) {
        free(rj);
        return;
    }
    rj->job = (store_job_t){.run = reset_run, .bytes = sizeof *rj};
    snprintf(rj->kind, sizeof rj->kind, "%s", kind);
    rj->reset_at = reset_at;
    rj->reset = reset;
    if (store_submit(&rj->job) != 0) {
        free(rj->id);
        free(rj);
    }
}
