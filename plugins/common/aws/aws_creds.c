/*
 * aws_creds: credential providers - one per distinct conf (and environment), shared by reference
 * count.  Static keys are published at once; every other source is fetched by the provider's own
 * background thread, which publishes immutable snapshots through an atomic pointer, refreshes them
 * before they expire and retries failures with capped exponential back-off.  Readers never lock
 * and never wait: they load the pointer.
 *
 * A replaced snapshot is retired, not freed, and freed by the background thread no sooner than
 * RETIRE_MS later, so a worker that loaded it just before the swap may keep using it for that long.
 * Whatever is still retired when the provider is released is freed then (no reader may use a
 * provider after releasing it).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "aws_chain.h"

#define RETIRE_MS (60 * 1000)
#define REFRESH_MARGIN_MS (5 * 60 * 1000)
#define RENEW_NO_EXPIRY_MS (15 * 60 * 1000)
#define MIN_REFRESH_MS 1000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS (60 * 1000)

typedef struct snap {
    aws_creds_t pub; /* first: readers get &snap->pub */
    struct snap *next;
    int64_t free_at; /* monotonic ms, once retired */
    size_t size;
    char data[];
} snap_t;

struct aws_cred_provider {
    aws_cred_provider_t *next; /* registry of shared providers */
    char *key;
    size_t key_len;
    int refs;
    aws_chain_t chain;
    _Atomic(snap_t *) current;
    atomic_bool pending;
    _Atomic bool cancel; /* aborts an HTTP fetch in flight at release */
    pthread_mutex_t mu;  /* guards error, stop */
    pthread_cond_t cv;
    bool stop, has_thread;
    pthread_t thread;
    char error[AWS_ERR_LEN];
    snap_t *retired, **retired_tail; /* oldest first; the background thread's until release */
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static aws_cred_provider_t *registry;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- snapshots ---- */

static snap_t *snap_new(const aws_fetched_t *f)
{
    size_t ak = strlen(f->access_key_id) + 1, sk = strlen(f->secret_access_key) + 1;
    size_t st = f->session_token != NULL ? strlen(f->session_token) + 1 : 0;
    size_t src = strlen(f->source) + 1;
    size_t size = ak + sk + st + src;
    snap_t *s = calloc(1, sizeof *s + size);
    if (s == NULL)
        return NULL;
    s->size = size;
    char *p = s->data;
    s->pub.access_key_id = memcpy(p, f->access_key_id, ak);
    p += ak;
    s->pub.secret_access_key = memcpy(p, f->secret_access_key, sk);
    p += sk;
    if (st > 0) {
        s->pub.session_token = memcpy(p, f->session_token, st);
        p += st;
    }
    s->pub.source = memcpy(p, f->source, src);
    s->pub.expires_unix_ms = f->expires_ms;
    return s;
}

static void snap_free(snap_t *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, sizeof *s + s->size);
    free(s);
}

/* Background thread (or creation, before anyone can read): swap in, retire the old one. */
static void publish(aws_cred_provider_t *p, snap_t *s)
{
    snap_t *old = atomic_exchange_explicit(&p->current, s, memory_order_acq_rel);
    if (old == NULL)
        return;
    old->free_at = mono_ms() + RETIRE_MS;
    old->next = NULL;
    *p->retired_tail = old;
    p->retired_tail = &old->next;
}

static void free_retired(aws_cred_provider_t *p, int64_t now, bool all)
{
    while (p->retired != NULL && (all || p->retired->free_at <= now)) {
        snap_t *s = p->retired;
        p->retired = s->next;
        snap_free(s);
    }
    if (p->retired == NULL)
        p->retired_tail = &p->retired;
}

/* How long until fetching again: 5 minutes before expiry, but never before half of the remaining
 * lifetime, so short-lived credentials are not refetched in a loop. */
static int64_t refresh_delay(const aws_fetched_t *f, int64_t wall)
{
    if (f->expires_ms == 0)
        return f->renewable ? RENEW_NO_EXPIRY_MS : INT64_MAX / 4;
    int64_t remaining = f->expires_ms - wall;
    int64_t wait = remaining - REFRESH_MARGIN_MS;
    if (wait < remaining / 2)
        wait = remaining / 2;
    return wait < MIN_REFRESH_MS ? MIN_REFRESH_MS : wait;
}

/* ---- the background thread ---- */

static void timed_wait(aws_cred_provider_t *p, int64_t until_mono)
{
    struct timespec ts;
    if (until_mono > INT64_MAX / 8)
        until_mono = INT64_MAX / 8;
    ts.tv_sec = (time_t)(until_mono / 1000);
    ts.tv_nsec = (long)(until_mono % 1000) * 1000000;
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

static void *run(void *arg)
{
    aws_cred_provider_t *p = arg;
    int64_t next_fetch = mono_ms(), backoff = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        int64_t now = mono_ms();
        if (now >= next_fetch) {
            pthread_mutex_unlock(&p->mu);
            aws_fetched_t f;
            char err[AWS_ERR_LEN] = "";
            int rc = aws_chain_fetch(&p->chain, &f, err, sizeof err);
            int64_t wall = aws_now_ms(), delay = 0;
            snap_t *s = NULL;
            if (rc == 0 && f.expires_ms != 0 && f.expires_ms <= wall) {
                snprintf(err, sizeof err, "%s: the credentials it returned have already expired",
                         f.source);
                rc = -1;
            }
            if (rc == 0 && (s = snap_new(&f)) == NULL) {
                snprintf(err, sizeof err, "%s: out of memory", f.source);
                rc = -1;
            }
            if (rc == 0)
                delay = refresh_delay(&f, wall);
            aws_fetched_free(&f);
            pthread_mutex_lock(&p->mu);
            now = mono_ms();
            if (rc == 0) {
                publish(p, s);
                p->error[0] = '\0';
                backoff = 0;
                next_fetch = now + delay;
            } else {
                snprintf(p->error, sizeof p->error, "%s", err);
                backoff = backoff == 0 ? BACKOFF_MIN_MS : backoff * 2;
                if (backoff > BACKOFF_MAX_MS)
                    backoff = BACKOFF_MAX_MS;
                next_fetch = now + backoff;
            }
            atomic_store(&p->pending, false);
            continue;
        }
        free_retired(p, now, false);
        int64_t wake = next_fetch;
        if (p->retired != NULL && p->retired->free_at < wake)
            wake = p->retired->free_at;
        timed_wait(p, wake);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- creation and sharing ---- */

static const char *nz(const char *s)
{
    return s != NULL && *s != '\0' ? s : NULL;
}

static bool dup_field(char **out, const char *s)
{
    s = nz(s);
    *out = s != NULL ? strdup(s) : NULL;
    return s == NULL || *out != NULL;
}

static void key_field(aws_buf_t *b, const char *name, const char *v)
{
    aws_buf_puts(b, name);
    if (nz(v) != NULL) {
        aws_buf_putc(b, '=');
        aws_buf_puts(b, v);
    }
    aws_buf_putc(b, '\0');
}

static void provider_free(aws_cred_provider_t *p)
{
    snap_free(atomic_load(&p->current));
    free_retired(p, 0, true);
    aws_chain_free(&p->chain);
    if (p->key != NULL) {
        OPENSSL_cleanse(p->key, p->key_len);
        free(p->key);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

static int start_thread(aws_cred_provider_t *p)
{
    /* The fetch thread takes no signals: they belong to the server's loops. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->thread, NULL, run, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

aws_cred_provider_t *aws_creds_new(const aws_cred_conf_t *conf, char *err, size_t errlen)
{
    static const aws_cred_conf_t empty = {0};
    if (conf == NULL)
        conf = &empty;
    if ((nz(conf->access_key_id) == NULL) != (nz(conf->secret_access_key) == NULL)) {
        snprintf(err, errlen, "aws_access_key_id and aws_secret_access_key must be set together");
        return NULL;
    }
    if (nz(conf->session_token) != NULL && nz(conf->access_key_id) == NULL) {
        snprintf(err, errlen,
                 "aws_session_token needs aws_access_key_id and aws_secret_access_key");
        return NULL;
    }
    if (nz(conf->access_key_id) != NULL &&
        (!aws_creds_text_ok(conf->access_key_id) || !aws_creds_text_ok(conf->secret_access_key) ||
         (nz(conf->session_token) != NULL && !aws_creds_text_ok(conf->session_token)))) {
        snprintf(err, errlen, "the AWS keys hold spaces or control characters");
        return NULL;
    }
    if (nz(conf->web_identity_token_file) != NULL && nz(conf->role_arn) == NULL) {
        snprintf(err, errlen, "aws_web_identity_token needs aws_role_name (the role to assume)");
        return NULL;
    }

    aws_cred_provider_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        goto oom;
    p->retired_tail = &p->retired;
    p->chain.sticky = -1;
    p->chain.cancel = &p->cancel;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    aws_chain_t *c = &p->chain;
    char session[64];
    snprintf(session, sizeof session, "gantry-%ld", (long)getpid());
    if (!dup_field(&c->access_key_id, conf->access_key_id) ||
        !dup_field(&c->secret_access_key, conf->secret_access_key) ||
        !dup_field(&c->session_token, conf->session_token) ||
        !dup_field(&c->profile, conf->profile) || !dup_field(&c->role_arn, conf->role_arn) ||
        !dup_field(&c->session_name, nz(conf->session_name) ? conf->session_name : session) ||
        !dup_field(&c->web_identity_token_file, conf->web_identity_token_file) ||
        !dup_field(&c->sts_endpoint, conf->sts_endpoint) || !dup_field(&c->region, conf->region) ||
        aws_env_capture(&c->env) != 0)
        goto oom;

    aws_buf_t key = {0};
    key_field(&key, "ak", conf->access_key_id);
    key_field(&key, "sk", conf->secret_access_key);
    key_field(&key, "st", conf->session_token);
    key_field(&key, "profile", conf->profile);
    key_field(&key, "role", conf->role_arn);
    key_field(&key, "session", conf->session_name);
    key_field(&key, "wif", conf->web_identity_token_file);
    key_field(&key, "sts", conf->sts_endpoint);
    key_field(&key, "region", conf->region);
    aws_env_key(&c->env, &key);
    p->key_len = key.len;
    if ((p->key = aws_buf_take(&key)) == NULL)
        goto oom;

    pthread_mutex_lock(&registry_mu);
    for (aws_cred_provider_t *q = registry; q != NULL; q = q->next) {
        if (q->key_len == p->key_len && memcmp(q->key, p->key, p->key_len) == 0) {
            q->refs++;
            pthread_mutex_unlock(&registry_mu);
            provider_free(p);
            return q;
        }
    }
    pthread_mutex_unlock(&registry_mu);

    /* Keys in the conf or (without a named profile) in the environment need no I/O: publish them
     * now.  Everything else is the background thread's. */
    bool immediate =
        c->role_arn == NULL && c->web_identity_token_file == NULL &&
        (c->access_key_id != NULL || (c->profile == NULL && (c->env.access_key_id != NULL ||
                                                             c->env.secret_access_key != NULL)));
    if (immediate) {
        aws_fetched_t f;
        char why[AWS_ERR_LEN];
        if (aws_chain_fetch(c, &f, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s", why);
            provider_free(p);
            return NULL;
        }
        snap_t *s = snap_new(&f);
        aws_fetched_free(&f);
        if (s == NULL)
            goto oom;
        publish(p, s);
        atomic_store(&p->pending, false);
    } else {
        atomic_store(&p->pending, true);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (start_thread(p) != 0) {
            curl_global_cleanup();
            snprintf(err, errlen, "cannot start the AWS credentials thread");
            provider_free(p);
            return NULL;
        }
        p->has_thread = true;
    }
    p->refs = 1;
    pthread_mutex_lock(&registry_mu);
    p->next = registry;
    registry = p;
    pthread_mutex_unlock(&registry_mu);
    return p;
oom:
    snprintf(err, errlen, "out of memory");
    if (p != NULL)
        provider_free(p);
    return NULL;
}

void aws_creds_release(aws_cred_provider_t *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&registry_mu);
    if (--p->refs > 0) {
        pthread_mutex_unlock(&registry_mu);
        return;
    }
    for (aws_cred_provider_t **q = &registry; *q != NULL; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    pthread_mutex_unlock(&registry_mu);
    if (p->has_thread) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        atomic_store(&p->cancel, true);
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
        curl_global_cleanup();
    }
    provider_free(p);
}

/* ---- readers ---- */

const aws_creds_t *aws_creds_get(aws_cred_provider_t *p)
{
    if (p == NULL)
        return NULL;
    snap_t *s = atomic_load_explicit(&p->current, memory_order_acquire);
    if (s == NULL)
        return NULL;
    if (s->pub.expires_unix_ms != 0 && aws_now_ms() >= s->pub.expires_unix_ms)
        return NULL; /* expired and not refreshed (yet): signing with it would only get a 403 */
    return &s->pub;
}

void aws_creds_error(aws_cred_provider_t *p, char *buf, size_t len)
{
    if (len == 0)
        return;
    buf[0] = '\0';
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    snprintf(buf, len, "%s", p->error);
    pthread_mutex_unlock(&p->mu);
    snap_t *s = atomic_load_explicit(&p->current, memory_order_acquire);
    if (buf[0] == '\0' && s != NULL && s->pub.expires_unix_ms != 0 &&
        aws_now_ms() >= s->pub.expires_unix_ms)
        snprintf(buf, len, "%s: the credentials expired and are being refreshed", s->pub.source);
}

bool aws_creds_pending(aws_cred_provider_t *p)
{
    return p != NULL && atomic_load(&p->pending);
}
