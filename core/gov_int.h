/*
 * gov_int: what the governance files share and the rest of the core does not need.
 */
#ifndef GANTRY_GOV_INT_H
#define GANTRY_GOV_INT_H

#include "gov.h"
#include "store.h"

typedef enum gov_route_class {
    GOV_ROUTE_LLM,        /* /v1/chat/completions, /v1/messages, /bedrock/..., embeddings */
    GOV_ROUTE_LLM_INFO,   /* /v1/models, /model/info */
    GOV_ROUTE_INFO,       /* /key/info, /user/info, /team/info, ... (read) */
    GOV_ROUTE_MANAGEMENT, /* /key/generate, /team/new, ... (write) */
    GOV_ROUTE_SPEND,      /* /spend/..., /global/spend/..., daily activity */
    GOV_ROUTE_OTHER,
} gov_route_class_t;

gov_route_class_t gov_route_class(const char *path);

/* A team model alias the caller's team maps `model` to, or NULL. */
const char *gov_model_alias(req_t *r, const char *model, size_t len);

/* The management and spend routes (gov_api.c, gov_spend_api.c). */
bool gov_spend_route(req_t *r, const char *path, const bool *admin, bool viewer,
                     const char *user_id);

/* The spend cell of a key's use of one model group (model_max_budget); NULL when not tracked.
 * Its reset_at mirrors the key cell's period: a different value means a new period. */
gov_cell_t *gov_model_cell(const char *key_id, const char *group);
int gov_model_cells_init(void);
void gov_model_cells_fini(void);

/* Budget alerts (gov_alert.c). */
void gov_alert_init(const cfg_t *cfg);
void gov_alert_fini(void);
/* The entity's spend went from `before` to `after` (nano-dollars): alert on crossings. */
void gov_alert_check(const gov_rec_t *e, int64_t before, int64_t after);

int gov_req_init(void);
void gov_req_fini(void);

/* ---- store jobs (gov_store.c) ---- */

/* The spend row of a finished request (fire and forget; counted and dropped when the queue is
 * full). */
void gov_store_spend(req_t *r, int64_t cost);
/* Persist a budget period change of an entity's cell. */
void gov_store_reset(const gov_rec_t *e, int64_t spend, int64_t reset_at, bool reset);
/* The same for a key's model cell ("keymodel", "<hash>|<group>"). */
void gov_store_reset_id(const char *kind, const char *id, int64_t reset_at, bool reset);

typedef enum gov_op_mode { GOV_OP_CREATE, GOV_OP_PATCH, GOV_OP_DELETE } gov_op_mode_t;

/* One change to one entity, applied on the store thread against the newest directory. */
typedef struct gov_op {
    gov_kind_t kind;
    char *id;
    gov_op_mode_t mode;
    cJSON *doc;     /* CREATE: the document; PATCH: the fields to set (null removes) */
    cJSON *result;  /* after the run: the entity's document as it now stands (or as deleted) */
    int status;     /* 0 done; 404 not found; 409 exists */
} gov_op_t;

/* A management call: ops applied all or nothing, with audit rows. */
typedef struct gov_write {
    store_job_t job;
    req_t *r;
    char actor[80];
    char action[40];
    gov_op_t *ops;
    size_t nops;
    bool failed;   /* a statement failed: nothing was applied */
    int status;    /* the first op's non-zero status */
    void (*answer)(req_t *r, struct gov_write *w);
    void *arg;
} gov_write_t;

/* Submit; the answer callback runs on the request's worker after the commit.  False when the
 * store cannot take it (the caller answers 503). */
bool gov_write_submit(gov_write_t *w);
void gov_write_free(gov_write_t *w);

#endif
