/*
 * srv: the HTTP server.  N worker threads, each with its own libuv loop, h2o context, listener and
 * curl multi handle; nothing on the request path is shared between workers except read-only state
 * (the generation) and atomics.  The main thread handles signals and shutdown.
 */
#ifndef GANTRY_SRV_H
#define GANTRY_SRV_H

#include <h2o.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "cfg.h"
#include "gen.h"

typedef struct up_multi up_multi_t;
typedef struct gantry_req req_t;

typedef struct worker {
    unsigned id;
    uv_loop_t loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    uv_tcp_t listener;
    bool listening;
    up_multi_t *up;
    uv_timer_t watchdog;
    req_t *wd_head; /* HTTP/1 requests waiting on work, polled for client hang-up */
    uv_async_t wake;
    pthread_t thread;
    int inflight;
    atomic_bool stop;
    uv_async_t store_async;                    /* store.c: finished database jobs to complete */
    _Atomic(struct store_job *) store_done;    /* pushed by the store thread */
    bool store_ready;
    gen_t *gen; /* the generation this worker initialised plugins for */
    struct gov_snap *gov_snap; /* gov_dir.c: the directory snapshot this worker holds */
    uv_timer_t gov_timer;
    bool gov_timer_on;
    uint64_t rng;
} worker_t;

typedef struct srv {
    cfg_t *cfg; /* owned by the generation */
    _Atomic(gen_t *) gen;
    h2o_globalconf_t h2o;
    SSL_CTX *ssl;
    worker_t *workers;
    unsigned nworkers;
    int listen_fd;
    atomic_bool draining;
    int64_t started_unix_ms;
} srv_t;

extern srv_t srv;

/* The current generation, with a reference the caller must drop. */
gen_t *srv_gen_acquire(void);
int srv_run(cfg_t *cfg, gen_t *gen, unsigned nworkers);

void srv_install_error_filter(h2o_hostconf_t *host);

void srv_watch(req_t *r); /* start watching an HTTP/1 request's socket for hang-up */
void srv_unwatch(req_t *r);

#endif
