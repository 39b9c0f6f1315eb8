/*
 * store: one SQLite connection on a thread of its own (see store.h).
 */
#include "store.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

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

/* The schema of every module that keeps data here.  Idempotent: run at every start. */
static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA foreign_keys=ON;"
    "CREATE TABLE IF NOT EXISTS chat_sessions ("
    "  session_id TEXT PRIMARY KEY,"
    "  owner TEXT NOT NULL,"          /* principal id of the key that created it */
    "  messages TEXT NOT NULL,"       /* JSON array of canonical (OpenAI) messages */
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS chat_sessions_owner ON chat_sessions(owner, updated_ms);";

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
        store_job_t *j = take_all(&st.queue);
        while (j != NULL) {
            store_job_t *next = j->next;
            atomic_fetch_sub(&st.queued, 1);
            atomic_fetch_sub(&st.queued_bytes, j->bytes);
            j->run(st.db, j);
            finish_job(j);
            j = next;
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
        rc = sqlite3_exec(st.db, schema, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "database %s: %s", path,
                 msg ? msg : st.db ? sqlite3_errmsg(st.db) : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite3_close(st.db);
        st.db = NULL;
        return -1;
    }
    /* A busy file (another process) is waited for briefly rather than failing at once. */
    sqlite3_busy_timeout(st.db, 2000);
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
