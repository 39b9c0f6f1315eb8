/*
 * store: the gateway's SQLite database, owned by one thread of its own.
 *
 * Worker loops never touch SQLite: they submit jobs, whose run() executes on the store thread
 * and whose done() is then called back on the submitting worker's loop.  Both queues are
 * lock-free stacks (one atomic exchange to drain), so submitting costs no lock on the hot path;
 * the number of queued jobs is bounded and a full queue refuses new work instead of growing.
 */
#ifndef GANTRY_STORE_H
#define GANTRY_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct worker worker_t;
typedef struct store_job store_job_t;

/* Runs on the store thread; may use the connection freely (no other thread does). */
typedef void (*store_run_fn)(sqlite3 *db, store_job_t *j);
/* Runs on the worker loop of `w` after run(); owns j and frees it. */
typedef void (*store_done_fn)(store_job_t *j);

/* Embed as the first member of a job's own struct. */
struct store_job {
    store_job_t *next;
    store_run_fn run;
    store_done_fn done; /* NULL: fire and forget (the store thread frees j with free()) */
    /* Frees a finished job whose worker loop no longer runs (a forced shutdown), without touching
     * its request; NULL: free(j). */
    void (*drop)(store_job_t *j);
    worker_t *w;       /* whose loop done() runs on; required with done */
    size_t bytes;      /* memory the job holds, counted against STORE_MAX_BYTES while queued */
    int64_t queued_us; /* set by store_submit() */
    bool lost;         /* the batch it ran in could not be committed: nothing it wrote is kept */
};

#define STORE_MAX_QUEUED 65536
#define STORE_MAX_BYTES (256u << 20)

/* Open (creating the schema) and start the thread.  Main thread, before the workers start. */
int store_open(const char *path, char *err, size_t errlen);
/* Finish the queued jobs and close.  Main thread, after the workers stopped and before
 * store_worker_fini(). */
void store_close(void);
bool store_is_open(void);
/* Queue a job; 0, or -1 when the store is closed or the queue is full (by count or by bytes; then
 * j is untouched). */
int store_submit(store_job_t *j);

/* The worker side: an async handle on the worker's loop that runs done() callbacks. */
int store_worker_init(worker_t *w);
/* After store_close(): jobs that finished but were never completed are dropped. */
void store_worker_fini(worker_t *w);

#endif
