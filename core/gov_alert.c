/*
 * gov_alert: budget alerts.  When an entity's spend crosses its soft_budget, or a share of its
 * max_budget (general_settings.budget_alert_thresholds, default 0.8 and 1.0), an alert is logged
 * and, with LiteLLM's `alerting: [webhook]`, POSTed as JSON to the budget_alerts URL of
 * `alert_to_webhook_url` (else $WEBHOOK_URL, as LiteLLM reads it).  Each fires once per budget
 * period (the cell's `alerted` bits are cleared when the period resets).
 *
 * Delivery is on a thread of its own with a bounded queue: a slow webhook never holds a worker, and
 * alerts are rare (a few per entity per period), so the queue's mutex is not on any hot path.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "gov_int.h"
#include "log.h"
#include "util.h"

#define MAX_QUEUED 256
#define MAX_THRESHOLDS 8

static struct {
    bool on;                         /* a webhook to post to */
    char *url;
    double thresholds[MAX_THRESHOLDS];
    int nthresholds;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *queue[MAX_QUEUED];
    int head, count;
    bool stop;
} A = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

static void post(const char *body)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, A.url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status < 200 || status >= 300)
        log_warn("budget alert webhook %s failed: %s (HTTP %ld)", A.url,
                 rc != CURLE_OK ? curl_easy_strerror(rc) : "bad status", status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void *sender(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&A.mu);
    for (;;) {
        while (A.count == 0 && !A.stop)
            pthread_cond_wait(&A.cv, &A.mu);
        if (A.count == 0 && A.stop)
            break;
        char *body = A.queue[A.head];
        A.head = (A.head + 1) % MAX_QUEUED;
        A.count--;
        pthread_mutex_unlock(&A.mu);
        post(body);
        free(body);
        pthread_mutex_lock(&A.mu);
    }
    pthread_mutex_unlock(&A.mu);
    return NULL;
}

void gov_alert_init(const cfg_t *cfg)
{
    const cfg_node_t *gs = cfg ? cfg_map_get(cfg->doc->root, "general_settings") : NULL;
    A.thresholds[0] = 0.8;
    A.thresholds[1] = 1.0;
    A.nthresholds = 2;
    const cfg_node_t *th = cfg_map_get(gs, "budget_alert_thresholds");
    if (th != NULL && th->kind == CFG_SEQ) {
        A.nthresholds = 0;
        for (size_t i = 0; i < th->count && A.nthresholds < MAX_THRESHOLDS; i++) {
            double v;
            if (cfg_read_num(th->items[i], &v) == 0 && v > 0 && v <= 10)
                A.thresholds[A.nthresholds++] = v;
        }
    }
    bool webhook = false;
    const cfg_node_t *al = cfg_map_get(gs, "alerting");
    for (size_t i = 0; al != NULL && al->kind == CFG_SEQ && i < al->count; i++)
        webhook = webhook || (al->items[i]->kind == CFG_STR && strcmp(al->items[i]->str, "webhook") == 0);
    if (!webhook)
        return;
    const char *url = cfg_get_str(cfg_map_get(gs, "alert_to_webhook_url"), "budget_alerts");
    if (url == NULL)
        url = getenv("WEBHOOK_URL");
    if (url == NULL || *url == '\0') {
        log_warn("alerting: [webhook] without a URL (alert_to_webhook_url.budget_alerts or "
                 "WEBHOOK_URL): budget alerts only go to the log");
        return;
    }
    A.url = strdup(url);
    A.stop = false;
    A.on = A.url != NULL && pthread_create(&A.thread, NULL, sender, NULL) == 0;
    A.started = A.on;
}

void gov_alert_fini(void)
{
    if (A.started) {
        pthread_mutex_lock(&A.mu);
        A.stop = true;
        pthread_cond_signal(&A.cv);
        pthread_mutex_unlock(&A.mu);
        pthread_join(A.thread, NULL);
        A.started = false;
    }
    A.on = false;
    free(A.url);
    A.url = NULL;
}

static void emit(const gov_rec_t *e, const char *event, double spend, double limit, double share)
{
    log_warn("budget alert: %s %s%s%s%s: spend %.6f USD of %.6f (%s)", gov_kind_name(e->kind),
             e->id, e->alias ? " (" : "", e->alias ? e->alias : "", e->alias ? ")" : "", spend,
             limit, event);
    if (!A.on)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", event);
    cJSON_AddStringToObject(o, "event_group", gov_kind_name(e->kind));
    cJSON_AddStringToObject(o, "entity_id", e->id);
    if (e->alias)
        cJSON_AddStringToObject(o, "entity_alias", e->alias);
    cJSON_AddNumberToObject(o, "spend", spend);
    cJSON_AddNumberToObject(o, "limit", limit);
    if (share > 0)
        cJSON_AddNumberToObject(o, "threshold", share);
    char msg[300];
    snprintf(msg, sizeof msg, "%s %s has spent %.6f USD of its %.6f USD %s", gov_kind_name(e->kind),
             e->alias ? e->alias : e->id, spend, limit,
             strcmp(event, "soft_budget_crossed") == 0 ? "soft budget" : "budget");
    cJSON_AddStringToObject(o, "event_message", msg);
    cJSON_AddNumberToObject(o, "timestamp_ms", (double)unix_ms());
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (body == NULL)
        return;
    pthread_mutex_lock(&A.mu);
    if (A.count < MAX_QUEUED) {
        A.queue[(A.head + A.count) % MAX_QUEUED] = body;
        A.count++;
        body = NULL;
        pthread_cond_signal(&A.cv);
    }
    pthread_mutex_unlock(&A.mu);
    if (body != NULL) {
        log_warn("budget alert queue full: alert dropped");
        free(body);
    }
}

void gov_alert_check(const gov_rec_t *e, int64_t before, int64_t after)
{
    if (e == NULL || after <= before)
        return;
    /* Bit 0: the soft budget; bit 1 + i: threshold i of max_budget. */
    if (e->soft_budget >= 0 && before < e->soft_budget && after >= e->soft_budget &&
        !(atomic_fetch_or(&e->cell->alerted, 1u) & 1u))
        emit(e, "soft_budget_crossed", after / GOV_NUSD, e->soft_budget / GOV_NUSD, 0);
    for (int i = 0; e->max_budget > 0 && i < A.nthresholds; i++) {
        int64_t at = (int64_t)(e->max_budget * A.thresholds[i]);
        unsigned bit = 2u << i;
        if (before < at && after >= at && !(atomic_fetch_or(&e->cell->alerted, bit) & bit))
            emit(e, "threshold_crossed", after / GOV_NUSD, e->max_budget / GOV_NUSD,
                 A.thresholds[i]);
    }
}
