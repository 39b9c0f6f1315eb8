/*
 * redis cache: internal declarations shared by the configuration (redis_conf.c), the per-worker
 * connection (redis_conn.c), the hiredis event adapter (redis_ev.c) and the cache callbacks
 * (redis.c).  Not called redis.h, which could shadow hiredis's own headers through meson's
 * implicit include directories.
 *
 * Threads: the instance (rd_instance_t) is read-only after create().  Each worker thread owns one
 * rd_worker_t with one hiredis connection, driven by host watches and timers on that worker's
 * loop; nothing in it is shared, so nothing is locked.
 */
#ifndef GANTRY_PLUGIN_REDIS_INT_H
#define GANTRY_PLUGIN_REDIS_INT_H

#include <gantry/gantry.h>

#include <hiredis/async.h>

/* Reconnect back-off: doubles from the first to the cap, with +-25% jitter so that the workers
 * (and several gateways) do not knock on a recovering Redis in step. */
#define RD_BACKOFF_MIN_MS 50
#define RD_BACKOFF_MAX_MS 2000

/* Longest namespace, so that a key always fits the stack buffer in redis.c. */
#define RD_MAX_NAMESPACE 256
/* Longest cache key the core may hand us (it sends 64 hex digits). */
#define RD_MAX_KEY 256

typedef struct rd_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
    char *host_name; /* as configured, for messages */
    char *addr;      /* numeric address resolved in create(): workers never wait for DNS */
    int port;
    char *username; /* NULL: AUTH with the password only (Redis < 6 style) */
    char *password; /* NULL: no AUTH */
    int64_t db;     /* SELECT when not 0 */
    char *ns;       /* key prefix without the ':'; empty: keys are used as they are */
    size_t ns_len;
    int64_t ttl_s;
    uint64_t connect_timeout_ms; /* connect + AUTH/SELECT/PING must finish within this */
    uint64_t command_timeout_ms; /* a lookup not answered within this is a miss */
    uint64_t stall_ms;           /* outstanding commands and no reply this long: reconnect */
    uint32_t max_pending;        /* outstanding commands per worker */
} rd_instance_t;

typedef enum rd_state {
    RD_DOWN = 0,   /* no connection; the timer brings the next attempt */
    RD_CONNECTING, /* TCP connect in progress */
    RD_HANDSHAKE,  /* connected; AUTH / SELECT / PING sent, waiting for the PING's answer */
    RD_READY,      /* commands go out */
    RD_CLOSING,    /* being torn down; no new commands */
} rd_state_t;

typedef struct rd_lookup rd_lookup_t;

/*
 * One outstanding command.  Slots live as long as the worker, so a reply that comes after its
 * request has finished still lands on valid memory; `lk` is what links the slot to a waiting
 * request, and it is cleared when that request stops waiting.
 */
typedef struct rd_slot {
    uint64_t id;        /* 0 while free */
    rd_lookup_t *lk;    /* the lookup waiting for this reply; NULL for SET/DEL or once detached */
    uint32_t next_free; /* free list link */
} rd_slot_t;

#define RD_NO_SLOT UINT32_MAX

typedef struct rd_worker {
    const rd_instance_t *rd;
    unsigned id;
    rd_state_t state;
    redisAsyncContext *ac;  /* NULL while down */
    gantry_watch_t *watch;  /* on ac's socket */
    unsigned io;            /* GANTRY_IO_* bits hiredis asked for */
    gantry_wtimer_t *timer; /* reconnect back-off, connect deadline, stall watchdog */
    uint64_t backoff_ms;    /* the next back-off */
    uint64_t rng;           /* jitter */
    bool closing;           /* worker_fini(): no more reconnects */
    bool dropping;          /* we tore the connection down; `reason` already says why */
    bool was_ready;         /* this connection reached READY */
    bool outage;            /* the current outage was logged */
    bool error_logged;      /* an error reply was logged on this connection */
    int64_t down_since_us;
    int64_t progress_us; /* the last reply, or when the oldest outstanding command was sent */
    char reason[200];    /* why the connection is not ready */
    rd_slot_t *slots;    /* max_pending of them */
    uint32_t free_head;
    uint32_t npending;
    uint64_t next_id;
    uint64_t hits, misses, timeouts, errors, skipped;
} rd_worker_t;

/* A lookup waiting for its reply.  Request arena memory: the request's cleanup detaches it from
 * its slot, so nothing touches it after the request is gone. */
struct rd_lookup {
    rd_worker_t *w;
    gantry_req_t *req;
    uint32_t slot;
    uint64_t id; /* the slot's id when the command went out */
    bool done;   /* answered, timed out or finished: resume() has been called or must not be */
};

/* redis_conn.c: the worker's connection. */
int rd_worker_init(void *state, unsigned worker_id, void **worker_state);
void rd_worker_fini(void *state, unsigned worker_id, void *worker_state);
void rd_conn_gone(rd_worker_t *w);
void rd_conn_drop(rd_worker_t *w, const char *fmt, ...) GANTRY_PRINTF(2, 3);
void rd_conn_note_reply(rd_worker_t *w, bool got_reply);
uint32_t rd_slot_take(rd_worker_t *w);
void rd_slot_put(rd_worker_t *w, rd_slot_t *s);

/* redis_ev.c: hiredis's event hooks on host watches. */
void rd_ev_attach(rd_worker_t *w, redisAsyncContext *ac);
void rd_ev_on_io(gantry_watch_t *watch, void *arg, unsigned events);

/* redis.c: the cache callbacks. */
gantry_action_t rd_lookup(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key);
void rd_store(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key,
              gantry_str_t value, uint32_t ttl_s);
void rd_remove(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key);
int rd_health(void *state, void *worker_state, char *detail, size_t len);

#endif
