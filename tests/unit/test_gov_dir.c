/*
 * Unit tests for core/gov_dir.c and gov_rec.c: lookups, replacement and deletion (including the
 * probe runs linear probing must repair), spend cells shared by every version of a record, and
 * readers on several threads looking up and holding records while a writer replaces and deletes
 * them thousands of times (run under ASan: a record or snapshot freed too early is a
 * use-after-free here).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gov.h"
#include "srv.h"

#define NREADERS 3
#define NIDS 300

static gov_rec_t *rec(gov_kind_t k, const char *id, int rpm)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "rpm_limit", rpm);
    cJSON_AddStringToObject(doc, "key_alias", id);
    return gov_rec_new(k, id, doc);
}

static void put(gov_kind_t k, const char *id, int rpm)
{
    gov_change_t *c = gov_change_begin();
    gov_change_put(c, rec(k, id, rpm));
    gov_change_publish(c);
}

static worker_t workers[NREADERS + 1];
static atomic_bool done;
static atomic_long lookups, bad;

static void *reader(void *arg)
{
    worker_t *w = arg;
    char id[16];
    unsigned seed = w->id * 7919u + 1;
    while (!atomic_load(&done)) {
        const gov_snap_t *s = gov_snap(w);
        seed = seed * 1103515245u + 12345u;
        snprintf(id, sizeof id, "k%u", (seed >> 8) % NIDS);
        gov_rec_t *r = gov_find(s, GOV_KEY, id, strlen(id));
        if (r != NULL) {
            /* A record is whole whatever the writer does: id, alias and limits agree. */
            if (strcmp(r->id, id) != 0 || r->alias == NULL || strcmp(r->alias, id) != 0 || r->rpm < 1)
                atomic_fetch_add(&bad, 1);
            atomic_fetch_add(&r->cell->spend, 1);
            gov_unref(r);
        }
        atomic_fetch_add(&lookups, 1);
    }
    gov_worker_fini(w);
    return NULL;
}

int main(void)
{
    srv.nworkers = NREADERS + 1;
    for (unsigned i = 0; i <= NREADERS; i++)
        workers[i].id = i;
    CHECK(gov_dir_init(NREADERS + 1) == 0);
    gov_change_publish(gov_change_begin());
    worker_t *me = &workers[NREADERS];

    /* Basics. */
    put(GOV_KEY, "a", 5);
    const gov_snap_t *s = gov_snap(me);
    gov_rec_t *a = gov_find(s, GOV_KEY, "a", 1);
    CHECK(a != NULL && a->rpm == 5);
    CHECK(gov_find(s, GOV_TEAM, "a", 1) == NULL);
    atomic_store(&a->cell->spend, 42);
    put(GOV_KEY, "a", 9);
    s = gov_snap(me);
    gov_rec_t *a2 = gov_find(s, GOV_KEY, "a", 1);
    CHECK(a2 != NULL && a2->rpm == 9 && a2 != a);
    CHECK(a2 != NULL && a2->cell == a->cell && atomic_load(&a2->cell->spend) == 42);
    CHECK(a->rpm == 5); /* the old version is intact while held */
    gov_unref(a);
    gov_unref(a2);

    /* Many entries, then delete every other: the rest are still found. */
    char id[16];
    gov_change_t *c = gov_change_begin();
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "m%d", i);
        gov_change_put(c, rec(GOV_USER, id, i + 1));
    }
    gov_change_publish(c);
    c = gov_change_begin();
    for (int i = 0; i < 1000; i += 2) {
        snprintf(id, sizeof id, "m%d", i);
        gov_change_del(c, GOV_USER, id);
    }
    gov_change_publish(c);
    s = gov_snap(me);
    int found = 0, wrong = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "m%d", i);
        gov_rec_t *r = gov_find(s, GOV_USER, id, strlen(id));
        if (r != NULL) {
            found++;
            wrong += (i % 2 == 0) || r->rpm != i + 1;
        }
        gov_unref(r);
    }
    CHECK(found == 500);
    CHECK(wrong == 0);

    /* Concurrent readers while the writer churns. */
    pthread_t th[NREADERS];
    for (int i = 0; i < NREADERS; i++)
        pthread_create(&th[i], NULL, reader, &workers[i]);
    for (int round = 0; round < 3000; round++) {
        c = gov_change_begin();
        snprintf(id, sizeof id, "k%d", round % NIDS);
        if (round % 5 == 4)
            gov_change_del(c, GOV_KEY, id);
        else
            gov_change_put(c, rec(GOV_KEY, id, round + 1));
        gov_change_publish(c);
    }
    atomic_store(&done, true);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&bad) == 0);
    CHECK(atomic_load(&lookups) > 0);
    printf("%ld lookups during 3000 changes\n", (long)atomic_load(&lookups));

    CHECK(gov_duration_s("30s") == 30 && gov_duration_s("1mo") == 30 * 86400 &&
          gov_duration_s("2h") == 7200 && gov_duration_s("x") == -1 && gov_duration_s("5") == -1);
    gov_worker_fini(me);
    gov_shutdown();
    return check_report();
}
