/*
 * rl: rate limits for any subject - requests per minute, tokens per minute and parallel requests -
 * for the governance layer (keys, users, teams, customers, models).  A subject is an opaque string
 * chosen by the caller ("key:<hash>", "team:<id>", "key:<hash>|model:<group>"); everything that
 * should be limited separately must be part of it, because a subject's counters are shared by every
 * check of that subject whatever limits the check passes.
 *
 *   rl.c      the front end: the calls below, the fail-open policy and its warning.
 *   rl_mem.c  the in-memory backend (one process): a sliding minute per subject in a fixed-size
 *             table.  Its header comment explains the window and why it never admits more than the
 *             limit in any 60-second interval.
 *
 * Life of a request, with one rl_decision_t kept in the request:
 *
 *   rl_check(t, subject, limits, now, est, &d)  admission: counts the request, reserves `est`
 *                                               tokens and takes a parallel slot
 *   rl_settle(t, subject, &d.ticket, n, now)    the real token count (again with a growing
 *                                               running total while streaming, if wanted)
 *   rl_release(t, subject, &d.ticket, now)      the request ended: the parallel slot goes back
 *   rl_cancel(t, subject, &d.ticket, now)       instead of settle and release, when an admission
 *                                               is not used after all (another subject of the
 *                                               same request refused it)
 *
 * An admitted request must end with rl_release() or rl_cancel() (the LOG phase always runs), or its
 * parallel slot stays taken and its subject never expires.
 *
 * Time always comes from the caller in milliseconds (unix_ms() in the server, a fake clock in
 * tests).  Times before 0 count as 0.  A subject's clock never goes back: a call with an older time
 * than the subject has already seen is counted at the newest time seen.
 *
 * Threads: rl_new() and rl_free() belong to whoever owns the table and must not run concurrently
 * with anything else; every other call may run on any thread at any time.  A ticket belongs to one
 * request and is used by one thread at a time.
 *
 * Headers for the client (limits are 0 and remaining -1 when that limit is not set):
 *   x-ratelimit-limit-requests / -tokens          limit_requests / limit_tokens
 *   x-ratelimit-remaining-requests / -tokens      remaining_requests / remaining_tokens
 *   x-ratelimit-reset-requests / -tokens          reset_requests_ms / reset_tokens_ms
 *   Retry-After (seconds, rounded up)             retry_after_ms, on a refusal
 */
#ifndef GANTRY_RL_H
#define GANTRY_RL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The window every limit is counted over, and the width of one of its buckets (see rl_mem.c). */
#define RL_WINDOW_MS 60000
#define RL_BUCKET_MS 1000
/* A subject unused for this long (and with no request in flight) may give its place to another. */
#define RL_IDLE_MS (2 * RL_WINDOW_MS)
/* Retry-After hint for a refusal by max_parallel alone: when a slot frees up is unknowable. */
#define RL_PARALLEL_RETRY_MS 1000

/* Limits of one check.  0 (or less) means no limit of that kind. */
typedef struct rl_limits {
    int64_t rpm;          /* requests admitted in any 60 s */
    int64_t tpm;          /* tokens (reserved, then settled) in any 60 s */
    int64_t max_parallel; /* requests admitted and not yet released */
} rl_limits_t;

/* Which limits refused a request (rl_decision_t.denied). */
enum {
    RL_DENY_REQUESTS = 1,
    RL_DENY_TOKENS = 2,
    RL_DENY_PARALLEL = 4,
};

/*
 * What an admission recorded, for settle / release / cancel.  Filled by rl_check(); the fields are
 * the backend's and private.  A ticket of a refused or fail-open check records nothing, and the
 * calls that take it do nothing.
 */
typedef struct rl_ticket {
    uint32_t _slot;   /* the backend's place for the subject */
    uint32_t _gen;    /* ... and which subject held it (places are reused) */
    int64_t _bucket;  /* bucket (time / RL_BUCKET_MS) holding the request's tokens */
    int64_t _charged; /* ... how many of them are in that bucket */
    int64_t _tokens;  /* the request's token count so far (the estimate, then settled counts) */
    bool _live;       /* the request is counted: settle and cancel have something to adjust */
    bool _held;       /* the request holds a parallel slot */
    bool _moved;      /* _bucket is no longer the one the request was admitted in */
} rl_ticket_t;

typedef struct rl_decision {
    bool admitted;
    bool fail_open;  /* admitted without being counted: the backend could not decide */
    unsigned denied; /* RL_DENY_* bits when refused */
    int64_t limit_requests, limit_tokens, limit_parallel; /* the limits checked (0 = none) */
    /* What is left in the window after this request (-1 when that limit is not set or unknown). */
    int64_t remaining_requests, remaining_tokens, remaining_parallel;
    /* Time until the window holds nothing again (0 when it is empty). */
    int64_t reset_requests_ms, reset_tokens_ms;
    /*
     * Refused: the time after which the same check would be admitted if nothing else happened
     * meanwhile (exact for requests and tokens; RL_PARALLEL_RETRY_MS for max_parallel), or -1 when
     * it never would: the token estimate alone exceeds tpm.  0 when admitted.
     */
    int64_t retry_after_ms;
    rl_ticket_t ticket;
} rl_decision_t;

/*
 * A backend keeps the counters.  Its operations may be called concurrently from any thread (a
 * backend that cannot do that must lock inside).  `subject` is not NUL-terminated for them.
 *
 * create(be, capacity)  make the backend's state for one table, NULL on failure.  `capacity` is how
 *                       many subjects it should keep; a shared backend may ignore it.
 * destroy(state)        free it.
 * admit(...)            decide and, when admitted, count the request, reserve est_tokens and take a
 *                       parallel slot, all or nothing.  Fill every field of *d (limit_* and the
 *                       ticket are already set up by rl_check()).  0 when *d holds the decision;
 *                       RL_EFULL / RL_ENOMEM / RL_EBACKEND when the backend cannot decide, and the
 *                       front end then admits without limits (fail open) and warns.
 * settle(...)           the request's real token count so far: charge the difference to
 *                       ticket->_tokens to the bucket the request was counted in, while that bucket
 *                       is in the window; once it is gone, an increase is charged to the current
 *                       bucket and a decrease is dropped (what it would correct has left).
 * release(...)          give the parallel slot back.
 * cancel(...)           undo the admission: the request, its tokens and its parallel slot.
 * settle, release and cancel are never called with a ticket that records nothing.
 *
 * What a Redis backend (counters shared by replicas) must do:
 *  - Keep a subject's state under one hash tag so a cluster puts it on one node:
 *    "rl:{<subject>}:r" and ":t" as hashes bucket -> count, ":p" as the in-flight count.
 *  - Decide in one Lua script per check (EVALSHA), so that check and count are atomic across
 *    replicas: take the bucket from the server's TIME (replica clocks differ), drop fields older
 *    than the window, sum the rest, compare with rpm / tpm / max_parallel exactly as rl_mem.c does,
 *    and on admission HINCRBY the request and the token estimate into the current bucket and INCR
 *    ":p", then PEXPIRE the keys to RL_IDLE_MS (expiry replaces the table's reuse of idle places).
 *    Return the sums and the oldest buckets' counts so retry_after and reset can be computed the
 *    same way; the ticket keeps the bucket (_bucket) and the charge (_charged).
 *  - settle: a script applying the difference to the admission bucket if that field still exists,
 *    else (an increase only) to the current one.  release / cancel: DECR ":p" never below 0.
 *  - In-flight counts of a replica that dies are never released: count them per replica (a hash
 *    replica -> count beside a heartbeat key with a TTL) and ignore replicas whose heartbeat has
 *    expired.
 *  - Never block a worker: the admission must be asynchronous (the request pauses until the script
 *    answers).  That needs an asynchronous admit appended to this table and an rl_check() that can
 *    answer "pending"; settle / release / cancel can stay fire-and-forget.  When Redis is down,
 *    return RL_EBACKEND (fail open), or keep a local rl_mem table as the fallback.
 */
typedef struct rl_backend {
    const char *name;
    const void *conf; /* the backend's own settings, for create() */
    void *(*create)(const struct rl_backend *be, size_t capacity);
    void (*destroy)(void *state);
    int (*admit)(void *state, const char *subject, size_t len, const rl_limits_t *lim,
                 int64_t now_ms, int64_t est_tokens, rl_decision_t *d);
    void (*settle)(void *state, const char *subject, size_t len, rl_ticket_t *t,
                   int64_t actual_tokens, int64_t now_ms);
    void (*release)(void *state, const char *subject, size_t len, rl_ticket_t *t, int64_t now_ms);
    void (*cancel)(void *state, const char *subject, size_t len, rl_ticket_t *t, int64_t now_ms);
} rl_backend_t;

/* Backend failures (admit's return value). */
#define RL_EFULL (-1)    /* no place for another subject */
#define RL_ENOMEM (-2)   /* out of memory */
#define RL_EBACKEND (-3) /* the shared store did not answer */

/* The in-memory backend (rl_mem.c): the default. */
extern const rl_backend_t rl_backend_memory;

typedef struct rl_table rl_table_t;

/*
 * A table for about `capacity` subjects (the memory backend rounds it up to a power of two; a
 * subject unused for RL_IDLE_MS gives its place to a new one).  `backend` NULL means
 * &rl_backend_memory; it must outlive the table.  NULL when capacity is 0 or too large, or out of
 * memory.
 */
rl_table_t *rl_new(size_t capacity, const rl_backend_t *backend);
void rl_free(rl_table_t *t);

/*
 * Admit a request for `subject` (NUL-terminated; borrowed for the call) under `lim` at `now_ms`,
 * reserving `est_tokens` (negative counts as 0) against tpm.  Returns d->admitted.  A check with no
 * limit set admits without counting anything.  When the backend cannot decide (table full, Redis
 * down) the request is admitted with d->fail_open set and a warning is logged (at most every 10 s):
 * a limiter that is out of room should not take the gateway down with it, and governance that must
 * never be exceeded (budgets) is enforced elsewhere.
 */
bool rl_check(rl_table_t *t, const char *subject, rl_limits_t lim, int64_t now_ms,
              int64_t est_tokens, rl_decision_t *d);

/* The request's real token count (negative counts as 0); see rl_backend_t.settle. */
void rl_settle(rl_table_t *t, const char *subject, rl_ticket_t *tk, int64_t actual_tokens,
               int64_t now_ms);
/* Give the parallel slot back; the tokens stay counted.  Calling it twice is harmless. */
void rl_release(rl_table_t *t, const char *subject, rl_ticket_t *tk, int64_t now_ms);
/* Undo an admission that was not used: whatever the ticket still records (the request, its tokens,
 * its parallel slot) is taken back.  Calling it twice is harmless. */
void rl_cancel(rl_table_t *t, const char *subject, rl_ticket_t *tk, int64_t now_ms);

#endif
