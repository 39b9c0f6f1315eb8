/*
 * gov_rec: records from entity documents.  A document is what the management API stores and shows
 * (LiteLLM's field names); the record is the same facts in the form the request path reads without
 * parsing: numbers converted once, lists left as the document's own cJSON nodes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gov.h"

const char *gov_kind_name(gov_kind_t k)
{
    static const char *const names[GOV_NKINDS] = {"key",          "user",     "team",
                                                  "organization", "customer", "budget"};
    return k < GOV_NKINDS ? names[k] : "?";
}

void gov_ref(gov_rec_t *r)
{
    if (r != NULL)
        atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void gov_unref(gov_rec_t *r)
{
    if (r == NULL || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (r->cell != NULL && atomic_fetch_sub_explicit(&r->cell->refs, 1, memory_order_acq_rel) == 1)
        free(r->cell);
    cJSON_Delete(r->doc);
    free(r->id);
    free(r);
}

int64_t gov_duration_s(const char *s)
{
    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    char *end;
    long long n = strtoll(s, &end, 10);
    if (n <= 0 || n > 100000)
        return -1;
    if (strcmp(end, "s") == 0)
        return n;
    if (strcmp(end, "m") == 0)
        return n * 60;
    if (strcmp(end, "h") == 0)
        return n * 3600;
    if (strcmp(end, "d") == 0)
        return n * 86400;
    if (strcmp(end, "w") == 0)
        return n * 7 * 86400;
    if (strcmp(end, "mo") == 0)
        return n * 30 * 86400;
    return -1;
}

static const char *str(const cJSON *doc, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, k);
    return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring : NULL;
}

static int64_t count(const cJSON *doc, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, k);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (int64_t)v->valuedouble : 0;
}

/* USD -> nano-dollars; < 0 when absent. */
static int64_t money(const cJSON *doc, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, k);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (int64_t)(v->valuedouble * GOV_NUSD + 0.5)
                                                    : -1;
}

static const cJSON *node(const cJSON *doc, const char *k, int type)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, k);
    return v != NULL && (v->type & 0xff) == type ? v : NULL;
}

/* "2026-11-22T10:00:00Z" (what /key/generate shows as expires) -> unix ms; 0 when absent. */
static int64_t iso_ms(const char *s)
{
    struct tm tm = {0};
    if (s == NULL || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

gov_rec_t *gov_rec_new(gov_kind_t kind, const char *id, cJSON *doc)
{
    gov_rec_t *r = calloc(1, sizeof *r);
    if (r == NULL || (r->id = strdup(id)) == NULL) {
        free(r);
        cJSON_Delete(doc);
        return NULL;
    }
    atomic_init(&r->refs, 1);
    r->kind = kind;
    r->doc = doc;
    static const char *const alias_field[GOV_NKINDS] = {
        "key_alias", "user_email", "team_alias", "organization_alias", "alias", "budget_id"};
    r->alias = (char *)str(doc, alias_field[kind]);
    if (kind == GOV_USER && r->alias == NULL)
        r->alias = (char *)str(doc, "user_alias");
    r->user_id = kind == GOV_USER ? r->id : (char *)str(doc, "user_id");
    r->team_id = kind == GOV_TEAM ? r->id : (char *)str(doc, "team_id");
    r->org_id = kind == GOV_ORG ? r->id : (char *)str(doc, "organization_id");
    r->budget_id = kind == GOV_BUDGET ? NULL : (char *)str(doc, "budget_id");
    r->role = (char *)str(doc, "user_role");
    r->blocked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "blocked"));
    r->expires_ms = iso_ms(str(doc, "expires"));
    r->rpm = count(doc, "rpm_limit");
    r->tpm = count(doc, "tpm_limit");
    r->max_parallel = count(doc, "max_parallel_requests");
    r->max_budget = money(doc, "max_budget");
    r->soft_budget = money(doc, "soft_budget");
    r->budget_duration_s = gov_duration_s(str(doc, "budget_duration"));
    if (r->budget_duration_s < 0)
        r->budget_duration_s = 0;
    r->model_rpm = node(doc, "model_rpm_limit", cJSON_Object);
    r->model_tpm = node(doc, "model_tpm_limit", cJSON_Object);
    r->model_max_budget = node(doc, "model_max_budget", cJSON_Object);
    r->models = node(doc, "models", cJSON_Array);
    r->model_aliases = node(doc, "model_aliases", cJSON_Object);
    r->allowed_routes = node(doc, "allowed_routes", cJSON_Array);
    r->guardrails = node(doc, "guardrails", cJSON_Array);
    r->allowed_cache_controls = node(doc, "allowed_cache_controls", cJSON_Array);
    r->tags = node(doc, "tags", cJSON_Array);
    r->members = node(doc, "members_with_roles", cJSON_Array);
    return r;
}
