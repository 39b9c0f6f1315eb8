/*
 * gov: governance - virtual keys, users, teams, organizations, customers and budgets: who may call
 * what, how much they may spend and how fast.
 *
 *   db.c          general_settings.database_url and the versioned migrations of every component.
 *   gov_dir.c     the directory: every entity in memory as an immutable snapshot that workers read
 *                 without locks; only the store thread builds and publishes new ones.
 *   gov_rec.c     entity documents (what the management API stores and shows) -> records.
 *   gov_api.c     LiteLLM's management routes (/key, /user, /team, /organization, /customer,
 *                 /budget), roles, the audit log.
 *   gov_spend_api.c  /spend/logs, /global/spend*, /user/daily/activity, /audit.
 *   gov_req.c     the request: virtual-key auth, model access, budgets, rate limits, spend.
 *
 * A record is immutable once published; a change builds a new record and a new snapshot.  Records
 * are reference counted: a snapshot holds one reference on each of its records and a request holds
 * one on each record it resolved, so what a request reads cannot change or vanish under it.  The
 * spend of an entity lives in a cell (gov_cell_t) shared by every version of its record, so
 * concurrent requests add to one counter whatever the management API does meanwhile.
 *
 * Money is counted in nano-dollars (int64: exact sums, ~9.2e9 USD of range).
 */
#ifndef GANTRY_GOV_H
#define GANTRY_GOV_H

#include <cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rl.h"

#define GOV_NUSD 1000000000.0 /* nano-dollars per dollar */

typedef struct gantry_req req_t;
typedef struct worker worker_t;
typedef struct cfg cfg_t;

typedef enum gov_kind {
    GOV_KEY = 0,
    GOV_USER,
    GOV_TEAM,
    GOV_ORG,
    GOV_CUSTOMER,
    GOV_BUDGET,
    GOV_NKINDS
} gov_kind_t;

/* "key", "user", "team", "organization", "customer", "budget" */
const char *gov_kind_name(gov_kind_t k);

/* The spend of one entity (see above).  Refcounted by the record versions pointing at it. */
typedef struct gov_cell {
    _Atomic int refs;
    _Atomic int64_t spend;    /* this budget period, nano-dollars */
    _Atomic int64_t total;    /* since creation */
    _Atomic int64_t reset_at; /* unix ms of the next budget reset; 0: none */
    _Atomic unsigned alerted; /* soft-budget alert sent this period */
} gov_cell_t;

typedef struct gov_rec {
    _Atomic int refs;
    gov_kind_t kind;
    char *id;    /* key: the token's SHA-256 (hex); others: their id */
    char *alias; /* key_alias, team_alias, organization_alias, user_email, alias; may be NULL */
    char *user_id, *team_id, *org_id, *budget_id; /* the parents this record names; may be NULL */
    char *role;  /* users: user_role */
    bool blocked;
    int64_t expires_ms; /* keys: 0 = never */
    /* limits: 0 = none */
    int64_t rpm, tpm, max_parallel;
    int64_t max_budget, soft_budget; /* nano-dollars; < 0: none */
    int64_t budget_duration_s;       /* 0: never resets */
    const cJSON *model_rpm, *model_tpm, *model_max_budget; /* {group: n} inside doc, or NULL */
    const cJSON *models;        /* array of names / access groups / wildcards inside doc, or NULL */
    const cJSON *model_aliases; /* teams: {alias: group} */
    const cJSON *allowed_routes, *guardrails, *allowed_cache_controls, *tags, *members;
    cJSON *doc;       /* the stored document (the management API's view, no secrets) */
    gov_cell_t *cell; /* never NULL */
} gov_rec_t;

void gov_ref(gov_rec_t *r);
void gov_unref(gov_rec_t *r);

/*
 * What a request resolved at AUTH (r->gov), held until the request ends.  Every pointer holds a
 * reference; NULL when the request has no such entity.
 */
typedef struct gov_ctx {
    gov_rec_t *ent[GOV_NKINDS]; /* key, user, team, org, customer, the key's budget */
    gov_rec_t *cust_budget;     /* the customer's budget_id */
    const char *role;           /* proxy_admin for the master key; the key's user's role, ... */
    bool master;
    bool counted;               /* rate limits admitted: settle and release at the end */
    int64_t est_tokens;
    unsigned nsubj;
    struct gov_subj {
        char name[200];
        rl_ticket_t ticket;
    } subj[12];
    int64_t cost;               /* this request's cost, nano-dollars, once known */
    bool charged;               /* cost added to the cells (gov_charge) */
} gov_ctx_t;

/* ---- set-up (main thread) ---- */

/* Load every entity from the database into the first snapshot (store thread must not run yet:
 * called with the connection right after the migrations). */
int gov_load(void *sqlite_db, char *err, size_t errlen);
/* The store thread: a batch of jobs ran (write the spend summed over it), and the connection is
 * about to close (drop the prepared statements). */
void gov_store_batch_end(void *sqlite_db);
void gov_store_close(void);
int gov_worker_init(worker_t *w);
void gov_worker_fini(worker_t *w);
void gov_shutdown(void);
/* Governance is on: a master key and the store (LiteLLM needs both for virtual keys). */
bool gov_enabled(const cfg_t *c);

/* ---- the directory (gov_dir.c) ---- */

int gov_dir_init(unsigned nworkers);

typedef struct gov_snap gov_snap_t;

/* The worker's current snapshot (borrowed: valid until the worker's next loop iteration). */
const gov_snap_t *gov_snap(worker_t *w);
/* A referenced record, or NULL. */
gov_rec_t *gov_find(const gov_snap_t *s, gov_kind_t kind, const char *id, size_t len);
/* Every record of a kind, in no order: calls fn until it returns false. */
void gov_each(const gov_snap_t *s, gov_kind_t kind, bool (*fn)(const gov_rec_t *, void *), void *arg);

/* Store thread only: replace (rec != NULL) or remove (rec == NULL) entries, then publish once. */
typedef struct gov_change gov_change_t;
gov_change_t *gov_change_begin(void);
/* Takes over rec's reference.  The cell is taken from the current record of (kind, id) if any. */
void gov_change_put(gov_change_t *c, gov_rec_t *rec);
void gov_change_del(gov_change_t *c, gov_kind_t kind, const char *id);
/* The record as it stands in this change (borrowed), or NULL. */
const gov_rec_t *gov_change_get(gov_change_t *c, gov_kind_t kind, const char *id);
void gov_change_publish(gov_change_t *c);
void gov_change_abort(gov_change_t *c);

/* ---- records (gov_rec.c) ---- */

/* A record from a stored document (takes doc); NULL when out of memory. */
gov_rec_t *gov_rec_new(gov_kind_t kind, const char *id, cJSON *doc);
/* Seconds of a LiteLLM duration ("30s", "30m", "30h", "30d", "1mo", "2w"); -1 when malformed. */
int64_t gov_duration_s(const char *s);

/* ---- the request (gov_req.c) ---- */

/* AUTH, after the auth plugins.  False with the error set. */
bool gov_authenticate(req_t *r);
/* The model group (or alias) is one the caller may use; false with a 401 naming it. */
bool gov_model_allowed(req_t *r, const char *group);
/* Whether the caller may see the group in /v1/models. */
bool gov_model_visible(req_t *r, const char *group);
/* Before the upstream call: budgets and rate limits.  False with the error set (400 / 429). */
bool gov_admit(req_t *r);
/* Response headers (x-ratelimit-*) for the request. */
void gov_headers(req_t *r);
/* The answer is complete (before its last bytes go out): add its cost to the spend of every
 * entity, so the caller's next request already sees it.  Once per request. */
void gov_charge(req_t *r);
/* The request ended: spend, settle tokens, release parallel slots, drop references. */
void gov_finish(req_t *r);

#endif
