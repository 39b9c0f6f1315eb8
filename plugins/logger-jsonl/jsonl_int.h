/*
 * jsonl logger: internal declarations shared by the line builder (jsonl.c), the buffers and the
 * writer thread (jsonl_writer.c) and the configuration (jsonl_conf.c).
 *
 * Workers never write to the file: a write(2) can block for as long as the disk or the pipe
 * likes, and a worker's event loop must not.  Each worker appends finished lines to its own
 * buffer, and one writer thread per instance swaps full buffers for empty ones and writes them.
 * Memory is bounded by (workers + 2) * buffer_bytes; when a buffer is full, lines are dropped and
 * counted, never queued.
 */
#ifndef GANTRY_PLUGIN_JSONL_INT_H
#define GANTRY_PLUGIN_JSONL_INT_H

#include <gantry/gantry.h>

#include <pthread.h>

/* Longest line the builder makes.  Fields are truncated so a real line stays far below it. */
#define JL_LINE_MAX (32 * 1024)
/* Input bytes kept of one string field, and of the error message. */
#define JL_FIELD_MAX 256
#define JL_ERROR_MAX 1024

/* The start of the timestamps of one second, "\"YYYY-MM-DDTHH:MM:SS.", kept between lines. */
typedef struct jl_ts_cache {
    bool valid;
    int64_t sec;
    size_t len;
    char text[40];
} jl_ts_cache_t;

/*
 * One buffer that log() appends to: one per worker, plus a shared one for calls that arrive
 * without worker state.  `buf`, `len`, `dropped`, `kicked` and `retired` are guarded by `lock`;
 * `scratch` belongs to the thread that logs through the slot.  `next` is guarded by the
 * instance's reg_lock.
 */
typedef struct jl_slot {
    pthread_mutex_t lock;
    char *buf; /* buffer_bytes capacity */
    size_t len;
    uint64_t dropped; /* lines refused since the writer last looked */
    bool kicked;      /* the writer was already woken for this fill */
    bool retired;     /* worker_fini() ran: the writer frees the slot once it is drained */
    char *scratch;    /* JL_LINE_MAX bytes to build a line in before taking the lock */
    jl_ts_cache_t ts; /* belongs with scratch: the timestamp prefix of the last line built */
    struct jl_slot *next;
} jl_slot_t;

/*
 * Instance state.  The configuration fields are read-only after create(); the rest is shared
 * with the writer thread and guarded as noted.
 */
typedef struct jl_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
    char *path; /* for messages; instance memory */
    int fd;
    bool own_fd; /* false for stdout/stderr, which are not ours to close */
    size_t buf_size;
    int64_t flush_ms;

    /* Wake-ups of the writer. */
    pthread_mutex_t wlock;
    pthread_cond_t wcond;
    bool wake; /* guarded by wlock */
    bool stop; /* guarded by wlock */
    pthread_t thread;
    bool thread_started;

    /* The slots the writer drains.  Workers add theirs in worker_init(). */
    pthread_mutex_t reg_lock;
    jl_slot_t *slots;
    jl_slot_t *shared; /* also in `slots`; never retired */

    /* Writer-owned (the writer thread, then destroy() after joining it). */
    char *spare; /* the empty buffer swapped into the next slot that has data */
    uint64_t drops_pending;
    uint64_t errors_pending;
    int64_t last_warn_us;
    bool locks_ready;
} jl_instance_t;

/* jsonl.c */
void jl_log(gantry_req_t *req, void *state, void *worker_state);
/* Build the line of `info` (ending in '\n') into buf; returns its length, 0 if it did not fit. */
size_t jl_build_line(const gantry_req_info_t *info, int64_t now_ms, char *buf, size_t cap);
/* The same, reusing the timestamp prefix in *ts (zeroed at first) when the second is the same. */
size_t jl_build_line_cached(const gantry_req_info_t *info, int64_t now_ms, jl_ts_cache_t *ts,
                            char *buf, size_t cap);

/* jsonl_writer.c */
jl_slot_t *jl_slot_new(jl_instance_t *jl);
void jl_slot_free(jl_instance_t *jl, jl_slot_t *slot);
/* Wake the writer; any thread. */
void jl_kick(jl_instance_t *jl);
int jl_writer_start(jl_instance_t *jl);
/* Stop and join the writer, then write what is left.  Main thread. */
void jl_writer_stop(jl_instance_t *jl);
/* Drain every slot to the file once.  Writer thread, or the main thread after the join. */
void jl_flush_all(jl_instance_t *jl, bool final);

#endif
