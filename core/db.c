/*
 * db: schema migrations (see db.h).  A migration is never edited once released: a change to a
 * table is a new migration appended to its component's list.
 */
#include "db.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

typedef struct migration {
    int version;
    const char *sql;
} migration_t;

typedef struct component {
    const char *name;
    const migration_t *list;
    size_t n;
} component_t;

/* Chat history (hist.c). */
static const migration_t history[] = {
    {1, "CREATE TABLE IF NOT EXISTS chat_sessions ("
        "  session_id TEXT PRIMARY KEY,"
        "  owner TEXT NOT NULL,"    /* principal id of the key that created it */
        "  messages TEXT NOT NULL," /* JSON array of canonical (OpenAI) messages */
        "  created_ms INTEGER NOT NULL,"
        "  updated_ms INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS chat_sessions_owner ON chat_sessions(owner, updated_ms);"},
};

/*
 * Governance (gov_*.c).  Entities are documents (the management API's JSON, no secrets) keyed by
 * kind and id; their spend is a separate row so that the hot path's updates never rewrite them.
 * Spend logs are one compact row per request; spend_daily keeps the per-day totals the
 * aggregate routes read, maintained as rows are written.
 */
static const migration_t gov[] = {
    {1, "CREATE TABLE gov_entities ("
        "  kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
        "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
        "  PRIMARY KEY (kind, id)) WITHOUT ROWID;"
        "CREATE TABLE gov_spend ("
        "  kind TEXT NOT NULL, id TEXT NOT NULL,"
        "  spend INTEGER NOT NULL DEFAULT 0,"    /* nano-dollars, this budget period */
        "  total INTEGER NOT NULL DEFAULT 0,"    /* nano-dollars, ever */
        "  reset_at INTEGER NOT NULL DEFAULT 0," /* unix ms of the next reset, 0: none */
        "  PRIMARY KEY (kind, id)) WITHOUT ROWID;"
        "CREATE TABLE spend_logs ("
        "  request_id TEXT NOT NULL, start_ms INTEGER NOT NULL, key_hash TEXT, key_alias TEXT,"
        "  user_id TEXT, team_id TEXT, org_id TEXT, customer TEXT, model_group TEXT,"
        "  deployment TEXT, provider TEXT, prompt_tokens INTEGER, completion_tokens INTEGER,"
        "  cost INTEGER NOT NULL, status INTEGER, latency_ms INTEGER, cache_hit INTEGER,"
        "  tags TEXT);"
        "CREATE INDEX spend_logs_time ON spend_logs(start_ms);"
        "CREATE INDEX spend_logs_key ON spend_logs(key_hash, start_ms);"
        "CREATE INDEX spend_logs_user ON spend_logs(user_id, start_ms);"
        "CREATE INDEX spend_logs_team ON spend_logs(team_id, start_ms);"
        "CREATE INDEX spend_logs_request ON spend_logs(request_id);"
        "CREATE TABLE spend_daily ("
        "  day TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, model TEXT NOT NULL,"
        "  requests INTEGER NOT NULL, failed INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,"
        "  completion_tokens INTEGER NOT NULL, cost INTEGER NOT NULL,"
        "  PRIMARY KEY (kind, id, day, model)) WITHOUT ROWID;"
        "CREATE INDEX spend_daily_day ON spend_daily(day, kind);"
        "CREATE TABLE audit_log ("
        "  id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, actor TEXT NOT NULL,"
        "  action TEXT NOT NULL, object_type TEXT NOT NULL, object_id TEXT NOT NULL,"
        "  before TEXT, after TEXT);"
        "CREATE INDEX audit_log_object ON audit_log(object_type, object_id, ts_ms);"
        "CREATE INDEX audit_log_time ON audit_log(ts_ms);"},
};

static const component_t components[] = {
    {"history", history, sizeof history / sizeof history[0]},
    {"gov", gov, sizeof gov / sizeof gov[0]},
};

static int applied(sqlite3 *db, const char *name, int *version)
{
    sqlite3_stmt *st = NULL;
    *version = 0;
    if (sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_migrations WHERE component = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int run_one(sqlite3 *db, const char *name, const migration_t *m, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "migration %s %d: %s", name, m->version,
                 msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO schema_migrations(component, version, applied_ms) "
                                "VALUES (?, ?, ?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, m->version);
        sqlite3_bind_int64(st, 3, unix_ms());
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "migration %s %d: %s", name, m->version, sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

int db_migrate(sqlite3 *db, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "  component TEXT NOT NULL, version INTEGER NOT NULL,"
                     "  applied_ms INTEGER NOT NULL, PRIMARY KEY (component, version))",
                     NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "schema_migrations: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    for (size_t c = 0; c < sizeof components / sizeof components[0]; c++) {
        const component_t *cp = &components[c];
        int have;
        if (applied(db, cp->name, &have) != 0) {
            snprintf(err, errlen, "schema_migrations: %s", sqlite3_errmsg(db));
            return -1;
        }
        int known = cp->list[cp->n - 1].version;
        if (have > known) {
            snprintf(err, errlen,
                     "the database's %s schema is version %d, newer than this gantry knows (%d): "
                     "it was used by a newer gantry",
                     cp->name, have, known);
            return -1;
        }
        for (size_t i = 0; i < cp->n; i++) {
            if (cp->list[i].version > have && run_one(db, cp->name, &cp->list[i], err, errlen) != 0)
                return -1;
        }
    }
    return 0;
}
