/*
 * store: one SQLite connection on a thread of its own (see store.h).
 */
#include "store.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "gov.h"
#include "log.h"
#include "srv.h"
#include "util.h"

static struct {
    sqlite3 *db;
    pthread_t thread;
    sem_t wake;
    _Atomic(store_job_t *) queue;
    atomic_int queued;
    atomic_size_t queued_bytes;
    atomic_bool closing;
    bool open;
} st;

/* Set on every connection; the tables come from the migrations (db.c). */
static const char pragmas[] = "PRAGMA journal_mode=WAL;"
                              "PRAGMA synchronous=NORMAL;"
                              "PRAGMA foreign_keys=ON;";

/* Pop everything queued, oldest first. */
static store_job_t *take_all(_Atomic(store_job_t *) *head)
{
    store_job_t *j = atomic_exchange(head, NULL), *rev = NULL;
    while (j != NULL) {
        store_job_t *next = j->next;
        j->next = rev;
        rev = j;
        j = next;
    }
    return rev;
}

static void push(_Atomic(store_job_t *) *head, store_job_t *j)
{
    store_job_t *old = atomic_load(head);
    do {
        j->next = old;
    } while (!atomic_compare_exchange_weak(head, &old, j));
}

static void finish_job(store_job_t *j)
{
    if (j->done == NULL) {
        free(j);
        return;
    }
    worker_t *w = j->w;
    push(&w->store_done, j);
    uv_async_send(&w->store_async);
}

static void *store_main(void *arg)
{
    (void)arg;
    for (;;) {
        sem_wait(&st.wake);
        /* Everything queued meanwhile runs in one transaction: one WAL commit for many spend
         * rows.  A job that must be all-or-nothing uses a SAVEPOINT of its own.  Completions go
         * out only after the COMMIT, so an acknowledged change is on disk. */
        store_job_t *first = take_all(&st.queue);
        bool tx = first != NULL && sqlite3_exec(st.db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
        for (store_job_t *j = first; j != NULL; j = j->next) {
            atomic_fetch_sub(&st.queued, 1);
            atomic_fetch_sub(&st.queued_bytes, j->bytes);
            j->run(st.db, j);
        }
        if (first != NULL)
            gov_store_batch_end(st.db);
        if (tx && sqlite3_exec(st.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            log_error("database: commit failed: %s", sqlite3_errmsg(st.db));
            sqlite3_exec(st.db, "ROLLBACK", NULL, NULL, NULL);
            for (store_job_t *j = first; j != NULL; j = j->next)
                j->lost = true;
        }
        while (first != NULL) {
            store_job_t *next = first->next;
            finish_job(first);
            first = next;
        }
        if (atomic_load(&st.closing) && atomic_load(&st.queue) == NULL)
            return NULL;
    }
}

int store_open(const char *path, char *err, size_t errlen)
{
    int rc = sqlite3_open_v2(path, &st.db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    char *msg = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st.db, pragmas, NULL, NULL, &msg);
    /* A busy file (another process) is waited for briefly rather than failing at once. */
    if (rc == SQLITE_OK)
        sqlite3_busy_timeout(st.db, 2000);
    if (rc == SQLITE_OK && (db_migrate(st.db, err, errlen) != 0 || gov_load(st.db, err, errlen) != 0)) {
        sqlite3_close(st.db);
        st.db = NULL;
        return -1;
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "database %s: %s", path,
                 msg ? msg : st.db ? sqlite3_errmsg(st.db) : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite3_close(st.db);
        st.db = NULL;
        return -1;
    }
    sem_init(&st.wake, 0, 0);
    atomic_store(&st.closing, false);
    if (pthread_create(&st.thread, NULL, store_main, NULL) != 0) {
        snprintf(err, errlen, "database %s: cannot start its thread", path);
        sqlite3_close(st.db);
        st.db = NULL;
        return -1;
    }
    st.open = true;
    return 0;
}

bool store_is_open(void)
{
    return st.open && !atomic_load(&st.closing);
}

int store_submit(store_job_t *j)
{
    if (!store_is_open())
        return -1;
    if (atomic_fetch_add(&st.queued, 1) >= STORE_MAX_QUEUED) {
        atomic_fetch_sub(&st.queued, 1);
        return -1;
    }
    if (atomic_fetch_add(&st.queued_bytes, j->bytes) + j->bytes > STORE_MAX_BYTES) {
        atomic_fetch_sub(&st.queued_bytes, j->bytes);
        atomic_fetch_sub(&st.queued, 1);
        return -1;
    }
    j->queued_us = now_us();
    push(&st.queue, j);
    sem_post(&st.wake);
    return 0;
}

void store_close(void)
{
    if (!st.open)
        return;
    atomic_store(&st.closing, true);
    sem_post(&st.wake);
    pthread_join(st.thread, NULL);
    /* Completions still waiting on worker lists are dropped by store_worker_fini(). */
    sem_destroy(&st.wake);
    gov_store_close();
    sqlite3_close(st.db);
    st.db = NULL;
    st.open = false;
}

static void on_done(uv_async_t *a)
{
    worker_t *w = a->data;
    store_job_t *j = take_all(&w->store_done);
    while (j != NULL) {
        store_job_t *next = j->next;
        j->done(j);
        j = next;
    }
}

int store_worker_init(worker_t *w)
{
    atomic_store(&w->store_done, NULL);
    if (uv_async_init(&w->loop, &w->store_async, on_done) != 0)
        return -1;
    w->store_async.data = w;
    /* Only a pending job should keep a loop alive, and such a job's request already does. */
    uv_unref((uv_handle_t *)&w->store_async);
    w->store_ready = true;
    return 0;
}

void store_worker_fini(worker_t *w)
{
    if (!w->store_ready)
        return;
    /* The loop no longer runs and its plugins are gone: completing a job here would run request
     * code on a dead worker, so what is left is only freed. */
    store_job_t *j = take_all(&w->store_done);
    while (j != NULL) {
        store_job_t *next = j->next;
        if (j->drop != NULL)
            j->drop(j);
        else
            free(j);
        j = next;
    }
    uv_close((uv_handle_t *)&w->store_async, NULL);
    w->store_ready = false;
}
