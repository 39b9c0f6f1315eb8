/*
 * gov_spend_api: the spend and audit routes - /spend/logs, /global/spend, /global/spend/keys|
 * teams|models|end_users, /user/daily/activity, /team/daily/activity and /audit.  Totals come from
 * the daily aggregates (spend_daily), never from scanning the per-request rows; the rows are read
 * only for /spend/logs, through indexes, a bounded page at a time.  Queries run on the store thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gov_int.h"
#include "pipe.h"
#include "req.h"
#include "srv.h"
#include "util.h"

#define MAX_PARAMS 8
#define MAX_ROWS 1000

typedef struct query_job {
    store_job_t job;
    req_t *r;
    const char *sql; /* static, or sqlbuf */
    char sqlbuf[1400];
    char *params[MAX_PARAMS];
    int nparams;
    int64_t limit;
    cJSON *rows; /* built on the store thread */
    bool failed;
    void (*shape)(req_t *r, struct query_job *q);
    char label[40];
} query_job_t;

static void query_run(sqlite3 *db, store_job_t *j)
{
    query_job_t *q = (query_job_t *)j;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, q->sql, -1, &st, NULL) != SQLITE_OK) {
        q->failed = true;
        return;
    }
    for (int i = 0; i < q->nparams; i++) {
        if (q->params[i] != NULL)
            sqlite3_bind_text(st, i + 1, q->params[i], -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, q->nparams + 1, q->limit);
    q->rows = cJSON_CreateArray();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const char *name = sqlite3_column_name(st, c);
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER:
            case SQLITE_FLOAT:
                cJSON_AddNumberToObject(o, name, sqlite3_column_double(st, c));
                break;
            case SQLITE_NULL:
                cJSON_AddNullToObject(o, name);
                break;
            default: {
                const char *t = (const char *)sqlite3_column_text(st, c);
                /* JSON columns (tags, before/after) are given back as JSON. */
                cJSON *v = t && (t[0] == '[' || t[0] == '{') ? cJSON_Parse(t) : NULL;
                cJSON_AddItemToObject(o, name, v ? v : cJSON_CreateString(t ? t : ""));
            }
            }
        }
        cJSON_AddItemToArray(q->rows, o);
    }
    q->failed = rc != SQLITE_DONE;
    sqlite3_finalize(st);
}

static void query_free(query_job_t *q)
{
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    cJSON_Delete(q->rows);
    free(q);
}

static void query_drop(store_job_t *j)
{
    query_free((query_job_t *)j);
}

static void answer(req_t *r, cJSON *root)
{
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    r->phase = PH_SENT;
    resp_send_body(r, 200, "application/json", s ? s : "[]", s ? strlen(s) : 2);
    cJSON_free(s);
}

static void query_done(store_job_t *j)
{
    query_job_t *q = (query_job_t *)j;
    req_t *r = q->r;
    req_hold(r);
    r->pending--;
    if (!r->client_gone) {
        if (q->failed || j->lost) {
            req_set_error(r, 503, GANTRY_ERR_SERVER, "api_error", "database_error", NULL,
                          "The spend store could not be read; try again shortly.");
            pipe_fail(r);
        } else {
            q->shape(r, q);
        }
    }
    query_free(q);
    req_release(r);
}

static void shape_rows(req_t *r, query_job_t *q)
{
    cJSON *rows = q->rows;
    q->rows = NULL;
    answer(r, rows);
}

static void shape_global(req_t *r, query_job_t *q)
{
    cJSON *first = cJSON_GetArrayItem(q->rows, 0);
    cJSON *spend = cJSON_GetObjectItemCaseSensitive(first, "spend");
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "spend", cJSON_IsNumber(spend) ? spend->valuedouble : 0);
    cJSON_AddNumberToObject(root, "max_budget", 0);
    answer(r, root);
}

/* Per-day rows (date, model, spend, ...) -> LiteLLM's daily activity: results per date with a
 * breakdown by model, and the totals. */
static void shape_daily(req_t *r, query_job_t *q)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *results = cJSON_AddArrayToObject(root, "results");
    double tot[4] = {0};
    static const char *const metric[4] = {"spend", "prompt_tokens", "completion_tokens",
                                          "api_requests"};
    cJSON *day = NULL;
    const char *cur = NULL;
    const cJSON *row;
    cJSON_ArrayForEach(row, q->rows)
    {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(row, "date");
        if (!cJSON_IsString(d))
            continue;
        if (cur == NULL || strcmp(cur, d->valuestring) != 0) {
            day = cJSON_CreateObject();
            cJSON_AddStringToObject(day, "date", d->valuestring);
            cJSON *m = cJSON_AddObjectToObject(day, "metrics");
            for (int i = 0; i < 4; i++)
                cJSON_AddNumberToObject(m, metric[i], 0);
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(day, "breakdown"), "models");
            cJSON_AddItemToArray(results, day);
            cur = d->valuestring;
        }
        cJSON *m = cJSON_GetObjectItemCaseSensitive(day, "metrics");
        cJSON *bm = cJSON_CreateObject();
        for (int i = 0; i < 4; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, metric[i]);
            double x = cJSON_IsNumber(v) ? v->valuedouble : 0;
            cJSON *mv = cJSON_GetObjectItemCaseSensitive(m, metric[i]);
            cJSON_SetNumberValue(mv, mv->valuedouble + x);
            cJSON_AddNumberToObject(bm, metric[i], x);
            tot[i] += x;
        }
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(row, "model");
        cJSON *models = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(day, "breakdown"), "models");
        cJSON_AddItemToObject(models, cJSON_IsString(model) ? model->valuestring : "", cJSON_CreateObject());
        cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(models, cJSON_IsString(model) ? model->valuestring : ""), "metrics", bm);
    }
    cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
    cJSON_AddNumberToObject(meta, "total_spend", tot[0]);
    cJSON_AddNumberToObject(meta, "total_prompt_tokens", tot[1]);
    cJSON_AddNumberToObject(meta, "total_completion_tokens", tot[2]);
    cJSON_AddNumberToObject(meta, "total_api_requests", tot[3]);
    answer(r, root);
}

static const char *query(req_t *r, const char *name, char *buf, size_t len)
{
    if (r->h->query_at == SIZE_MAX)
        return NULL;
    size_t at = r->h->query_at + 1;
    return url_query_param(r->h->path.base + at, r->h->path.len - at, name, buf, len);
}

/* ?limit=N, 1 to MAX_ROWS; MAX_ROWS when absent or out of range. */
static int64_t limit_param(req_t *r, char *buf, size_t len)
{
    const char *v = query(r, "limit", buf, len);
    long n = v != NULL ? strtol(v, NULL, 10) : 0;
    return n > 0 && n < MAX_ROWS ? n : MAX_ROWS;
}

static query_job_t *job(req_t *r, const char *sql, void (*shape)(req_t *, query_job_t *))
{
    query_job_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->r = r;
    q->sql = sql;
    q->shape = shape;
    q->limit = MAX_ROWS;
    return q;
}

static void param(query_job_t *q, const char *v)
{
    q->params[q->nparams++] = v ? strdup(v) : NULL;
}

static void run(req_t *r, query_job_t *q)
{
    if (q == NULL) {
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL, "out of memory");
        pipe_fail(r);
        return;
    }
    q->job = (store_job_t){.run = query_run, .done = query_done, .drop = query_drop, .w = r->w,
                           .bytes = sizeof *q};
    if (store_submit(&q->job) != 0) {
        query_free(q);
        req_set_error(r, 503, GANTRY_ERR_SERVER, "api_error", "database_unavailable", NULL,
                      "The database is busy; try again shortly.");
        pipe_fail(r);
        return;
    }
    r->pending++;
}

static bool forbidden(req_t *r)
{
    req_set_error(r, 403, GANTRY_ERR_AUTH, "permission_error", "forbidden", NULL,
                  "Only a proxy admin or proxy admin viewer may read this.");
    pipe_fail(r);
    return true;
}

/* "2026-11-22" -> unix ms at 00:00 UTC ("" when absent). */
static void day_ms(const char *d, bool end, char *out, size_t len)
{
    int y, m, dd;
    out[0] = '\0';
    if (d == NULL || sscanf(d, "%d-%d-%d", &y, &m, &dd) != 3)
        return;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = dd + (end ? 1 : 0)};
    snprintf(out, len, "%lld", (long long)timegm(&tm) * 1000);
}

bool gov_spend_route(req_t *r, const char *path, const bool *admin, bool viewer, const char *user_id)
{
    (void)admin;
    char b1[160], b2[160], b3[160], b4[160], b5[40], b6[40], b7[160], b8[16];
    if (strcmp(path, "/spend/logs") == 0) {
        const char *key = query(r, "api_key", b1, sizeof b1);
        char hash[65];
        if (key != NULL && strncmp(key, "sk-", 3) == 0) {
            sha256_hex(key, strlen(key), hash);
            key = hash;
        }
        const char *user = query(r, "user_id", b2, sizeof b2);
        if (!viewer) {
            if (user_id == NULL)
                return forbidden(r);
            user = user_id; /* an internal user sees its own */
        }
        char from[24], to[24];
        day_ms(query(r, "start_date", b5, sizeof b5), false, from, sizeof from);
        day_ms(query(r, "end_date", b6, sizeof b6), true, to, sizeof to);
        /* Only the filters given go into the statement: "(? IS NULL OR col = ?)" would keep
         * SQLite from using the indexes. */
        query_job_t *q = job(r, NULL, shape_rows);
        if (q != NULL) {
            snprintf(q->sqlbuf, sizeof q->sqlbuf, "%s",
                     "SELECT request_id, key_hash AS api_key, key_alias, user_id AS user, "
                     "team_id, org_id AS organization_id, customer AS end_user, model_group, "
                     "deployment AS model_id, provider AS custom_llm_provider, prompt_tokens, "
                     "completion_tokens, prompt_tokens + completion_tokens AS total_tokens, "
                     "cost / 1e9 AS spend, status, latency_ms, cache_hit, tags, "
                     "strftime('%Y-%m-%dT%H:%M:%fZ', start_ms / 1000.0, 'unixepoch') AS "
                     "startTime FROM spend_logs WHERE 1");
            const struct {
                const char *cond, *value;
            } filters[] = {
                {" AND key_hash = ?", key},
                {" AND user_id = ?", user},
                {" AND team_id = ?", query(r, "team_id", b3, sizeof b3)},
                {" AND request_id = ?", query(r, "request_id", b4, sizeof b4)},
                {" AND start_ms >= CAST(? AS INTEGER)", from[0] ? from : NULL},
                {" AND start_ms < CAST(? AS INTEGER)", to[0] ? to : NULL},
                {" AND model_group = ?", query(r, "model", b7, sizeof b7)},
            };
            for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
                if (filters[i].value == NULL)
                    continue;
                strncat(q->sqlbuf, filters[i].cond, sizeof q->sqlbuf - strlen(q->sqlbuf) - 1);
                param(q, filters[i].value);
            }
            strncat(q->sqlbuf, " ORDER BY start_ms DESC LIMIT ?",
                    sizeof q->sqlbuf - strlen(q->sqlbuf) - 1);
            q->sql = q->sqlbuf;
            q->limit = limit_param(r, b8, sizeof b8);
        }
        run(r, q);
        return true;
    }
    if (strcmp(path, "/global/spend") == 0) {
        if (!viewer)
            return forbidden(r);
        run(r, job(r,
                   "SELECT coalesce(sum(cost), 0) / 1e9 AS spend FROM spend_daily WHERE kind = "
                   "'all' LIMIT ?1",
                   shape_global));
        return true;
    }
    static const struct {
        const char *path, *kind, *id_name;
    } globals[] = {
        {"/global/spend/keys", "key", "api_key"},
        {"/global/spend/teams", "team", "team_id"},
        {"/global/spend/end_users", "customer", "end_user"},
        {"/global/spend/users", "user", "user_id"},
    };
    for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++) {
        if (strcmp(path, globals[i].path) != 0)
            continue;
        if (!viewer)
            return forbidden(r);
        static char sql[4][400];
        /* The running totals per entity (gov_spend), not a scan of the daily rows. */
        snprintf(sql[i], sizeof sql[i],
                 "SELECT id AS %s, total / 1e9 AS total_spend, spend / 1e9 AS current_spend FROM "
                 "gov_spend WHERE kind = '%s' ORDER BY total DESC LIMIT ?1",
                 globals[i].id_name, globals[i].kind);
        query_job_t *q = job(r, sql[i], shape_rows);
        if (q != NULL)
            q->limit = limit_param(r, b8, sizeof b8);
        run(r, q);
        return true;
    }
    if (strcmp(path, "/global/spend/deployments") == 0) {
        if (!viewer)
            return forbidden(r);
        run(r, job(r,
                   "SELECT id AS model_id, model AS model_group, sum(cost) / 1e9 AS total_spend, "
                   "sum(requests) AS total_requests, sum(prompt_tokens + completion_tokens) AS "
                   "total_tokens FROM spend_daily WHERE kind = 'deployment' GROUP BY id, model "
                   "ORDER BY total_spend DESC LIMIT ?1",
                   shape_rows));
        return true;
    }
    if (strcmp(path, "/global/spend/models") == 0) {
        if (!viewer)
            return forbidden(r);
        run(r, job(r,
                   "SELECT model, sum(cost) / 1e9 AS total_spend, sum(requests) AS total_requests, "
                   "sum(prompt_tokens + completion_tokens) AS total_tokens FROM spend_daily WHERE "
                   "kind = 'all' GROUP BY model ORDER BY total_spend DESC LIMIT ?1",
                   shape_rows));
        return true;
    }
    bool user_daily = strcmp(path, "/user/daily/activity") == 0;
    if (user_daily || strcmp(path, "/team/daily/activity") == 0) {
        const char *id = query(r, user_daily ? "user_id" : "team_id", b1, sizeof b1);
        if (!viewer && (!user_daily || user_id == NULL))
            return forbidden(r);
        if (!viewer)
            id = user_id;
        query_job_t *q = job(r,
                             "SELECT day AS date, model, sum(cost) / 1e9 AS spend, "
                             "sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS "
                             "completion_tokens, sum(requests) AS api_requests FROM spend_daily "
                             "WHERE kind = ?1 AND (?2 IS NULL OR id = ?2) AND (?3 IS NULL OR day >= "
                             "?3) AND (?4 IS NULL OR day <= ?4) GROUP BY day, model ORDER BY day "
                             "LIMIT ?5",
                             shape_daily);
        if (q != NULL) {
            param(q, user_daily ? "user" : "team");
            param(q, id);
            param(q, query(r, "start_date", b5, sizeof b5));
            param(q, query(r, "end_date", b6, sizeof b6));
            q->limit = 100000;
        }
        run(r, q);
        return true;
    }
    if (strcmp(path, "/audit") == 0) {
        if (!viewer)
            return forbidden(r);
        query_job_t *q = job(r,
                             "SELECT id, strftime('%Y-%m-%dT%H:%M:%fZ', ts_ms / 1000.0, "
                             "'unixepoch') AS updated_at, actor AS changed_by, action, object_type "
                             "AS table_name, object_id, before AS before_value, after AS "
                             "updated_values FROM audit_log WHERE (?1 IS NULL OR object_type = ?1) "
                             "AND (?2 IS NULL OR object_id = ?2) AND (?3 IS NULL OR actor = ?3) AND "
                             "(?4 IS NULL OR action = ?4) ORDER BY id DESC LIMIT ?5",
                             shape_rows);
        if (q != NULL) {
            param(q, query(r, "object_type", b1, sizeof b1));
            param(q, query(r, "object_id", b2, sizeof b2));
            param(q, query(r, "changed_by", b3, sizeof b3));
            param(q, query(r, "action", b4, sizeof b4));
        }
        run(r, q);
        return true;
    }
    return false;
}
