#include "srv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "req.h"
#include "gov.h"
#include "hist.h"
#include "routes.h"
#include "store.h"
#include "upstream.h"

srv_t srv;

#define WATCHDOG_MS 500

gen_t *srv_gen_acquire(void)
{
    /* Reload will swap srv.gen and retire the old generation only after every worker has moved on,
     * so the pointer read here cannot be freed between the load and the reference. */
    gen_t *g = atomic_load_explicit(&srv.gen, memory_order_acquire);
    gen_ref(g);
    return g;
}

/* ---- routing ---- */

typedef int (*route_fn)(worker_t *, h2o_req_t *);

static const struct {
    const char *path;
    route_fn fn;
} routes[] = {
    {"/v1/chat/completions", api_openai_chat}, {"/chat/completions", api_openai_chat},
    {"/v1/models", api_openai_models},         {"/models", api_openai_models},
    {"/model/info", api_model_info},           {"/v1/model/info", api_model_info},
    {"/v1/embeddings", api_openai_embeddings}, {"/embeddings", api_openai_embeddings},
    {"/v1/completions", api_openai_completions}, {"/completions", api_openai_completions},
    {"/chat-history", hist_route_messages},    {"/bedrock/chat-history", hist_route_bedrock},
    {"/session-ids", hist_route_sessions},
    {"/cache/ping", cache_route_ping},         {"/cache/delete", cache_route_delete},
    {"/v1/messages", api_anthropic_messages},
    {"/v1/messages/count_tokens", api_anthropic_count_tokens},
    {"/health/liveliness", health_live},       {"/health/liveness", health_live},
    {"/health/readiness", health_ready},       {"/health", health_full},
};

static int on_req(h2o_handler_t *self, h2o_req_t *h)
{
    (void)self;
    worker_t *w = H2O_STRUCT_FROM_MEMBER(worker_t, ctx, h->conn->ctx);
    h2o_iovec_t p = h->path_normalized;
    /* A trailing slash names the same resource; clients add one now and then. */
    if (p.len > 1 && p.base[p.len - 1] == '/')
        p.len--;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (h2o_memis(p.base, p.len, routes[i].path, strlen(routes[i].path)))
            return routes[i].fn(w, h);
    }
    /* Bedrock's routes carry the model id in the path: matched by prefix, parsed by the route. */
    static const char bedrock[] = "/bedrock/model/";
    if (p.len > sizeof bedrock - 1 && memcmp(p.base, bedrock, sizeof bedrock - 1) == 0)
        return api_bedrock(w, h);
    if (gov_is_route(p.base, p.len))
        return gov_route(w, h);
    return routes_not_found(w, h);
}

/* ---- HTTP/1 hang-up watchdog ----
 * h2o stops reading an HTTP/1 socket while a handler works, so a client that gives up is noticed
 * only when we write.  Waiting requests are polled for POLLRDHUP so their upstream calls can be
 * cancelled.
 */

void srv_watch(req_t *r)
{
    if (r->in_wd || r->h == NULL)
        return;
    worker_t *w = r->w;
    r->in_wd = true;
    r->wd_prev = NULL;
    r->wd_next = w->wd_head;
    if (w->wd_head)
        w->wd_head->wd_prev = r;
    w->wd_head = r;
}

void srv_unwatch(req_t *r)
{
    if (!r->in_wd)
        return;
    worker_t *w = r->w;
    if (r->wd_prev)
        r->wd_prev->wd_next = r->wd_next;
    else
        w->wd_head = r->wd_next;
    if (r->wd_next)
        r->wd_next->wd_prev = r->wd_prev;
    r->in_wd = false;
    r->wd_prev = r->wd_next = NULL;
}

static void on_watchdog(uv_timer_t *t)
{
    worker_t *w = t->data;
    req_t *r = w->wd_head;
    while (r != NULL) {
        req_t *next = r->wd_next;
        h2o_req_t *h = r->h;
        h2o_socket_t *s =
            h && h->conn->callbacks->get_socket ? h->conn->callbacks->get_socket(h->conn) : NULL;
        int fd = s ? h2o_socket_get_fd(s) : -1;
        if (fd >= 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
            if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                srv_unwatch(r);
                req_hold(r);
                r->client_gone = true;
                req_abort_work(r);
                r->final_sent = true;
                r->status = 499;
                h2o_send_error_generic(h, 499, "Client Closed Request", "",
                                       H2O_SEND_ERROR_HTTP1_CLOSE_CONNECTION);
                req_release(r);
            }
        }
        r = next;
    }
}

/* ---- workers ---- */

static void on_accept(uv_stream_t *listener, int status)
{
    worker_t *w = listener->data;
    if (status != 0 || atomic_load(&w->stop))
        return;
    uv_tcp_t *c = h2o_mem_alloc(sizeof *c);
    uv_tcp_init(&w->loop, c);
    if (uv_accept(listener, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(c, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)c, (uv_close_cb)free);
    h2o_accept(&w->accept, sock);
}

static void on_wake(uv_async_t *a)
{
    worker_t *w = a->data;
    if (!atomic_load(&w->stop))
        return;
    if (w->listening) {
        uv_close((uv_handle_t *)&w->listener, NULL);
        w->listening = false;
        h2o_context_request_shutdown(&w->ctx);
    }
    if (w->inflight == 0 || atomic_load(&srv.draining) == false)
        uv_stop(&w->loop);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    gen_t *g = srv_gen_acquire();
    if (gen_worker_init(g, w->id) != 0)
        log_error("worker %u: a plugin failed to initialise; its requests may fail", w->id);
    w->gen = g;
    if (w->id == 0)
        health_bg_start(w, g);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (w->id == 0) {
        health_bg_stop();
        uv_run(&w->loop, UV_RUN_NOWAIT);
    }
    gen_worker_fini(g, w->id);
    w->gen = NULL;
    gen_unref(g);
    /* h2o keeps freed socket buffers in a thread-local recycle list; give them back before the
     * thread (and with it the only pointer to them) goes away. */
    h2o_mem_recycle_t *rc = &h2o_socket_buffer_prototype.allocator;
    while (rc->cnt > 0)
        free(h2o_mem_alloc_recycle(rc, 1));
    return NULL;
}

static int make_listener(const cfg_server_t *s)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    int rc = getaddrinfo(s->host, port, &hints, &ai);
    if (rc != 0) {
        log_error("cannot resolve listen address %s: %s", s->host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        log_error("cannot listen on %s:%d: %s", s->host, s->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static SSL_CTX *make_ssl(const cfg_server_t *s)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, s->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, s->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char err[256];
        ERR_error_string_n(ERR_get_error(), err, sizeof err);
        log_error("cannot use TLS certificate %s / key %s: %s", s->tls_cert, s->tls_key, err);
        SSL_CTX_free(ctx);
        return NULL;
    }
    static const h2o_iovec_t http1_only[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};
    h2o_ssl_register_alpn_protocols(ctx, s->http2 ? h2o_alpn_protocols : http1_only);
    return ctx;
}

/* ---- shutdown ---- */

static uv_signal_t sig_term, sig_int;
static uv_timer_t drain_timer;
static bool shutting_down;

static void stop_all(void)
{
    for (unsigned i = 0; i < srv.nworkers; i++) {
        atomic_store(&srv.workers[i].stop, true);
        uv_async_send(&srv.workers[i].wake);
    }
}

static void on_drain_timeout(uv_timer_t *t)
{
    (void)t;
    log_warn("drain timeout reached with requests still in flight; stopping now");
    atomic_store(&srv.draining, false); /* workers now stop whatever is left */
    stop_all();
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    if (shutting_down)
        return;
    shutting_down = true;
    log_info("received %s: no longer accepting, finishing requests in flight (up to %lld ms)",
             signum == SIGTERM ? "SIGTERM" : "SIGINT", (long long)srv.cfg->server.drain_timeout_ms);
    atomic_store(&srv.draining, true);
    stop_all();
    uv_timer_start(&drain_timer, on_drain_timeout, (uint64_t)srv.cfg->server.drain_timeout_ms, 0);
    uv_signal_stop(&sig_term);
    uv_signal_stop(&sig_int);
}

/* ---- start ---- */

int srv_run(cfg_t *cfg, gen_t *gen, unsigned nworkers)
{
    const cfg_server_t *s = &cfg->server;
    srv.cfg = cfg;
    atomic_store(&srv.gen, gen);
    srv.nworkers = nworkers;
    srv.started_unix_ms = unix_ms();

    if (s->tls_cert != NULL && (srv.ssl = make_ssl(s)) == NULL)
        return 1;
    srv.listen_fd = make_listener(s);
    if (srv.listen_fd < 0)
        return 1;
    char dberr[512];
    if (store_open(cfg->database, dberr, sizeof dberr) != 0) {
        log_error("%s", dberr);
        close(srv.listen_fd);
        return 1;
    }

    h2o_config_init(&srv.h2o);
    srv.h2o.server_name = h2o_iovec_init(H2O_STRLIT("")); /* no version banner */
    /* h2o answers HTTP/2 bodies over its limit with RST_STREAM, not 413; keep its limit above ours
     * so the handler can answer with a JSON 413 for moderately large bodies. */
    srv.h2o.max_request_entity_size = (size_t)s->max_request_bytes + (1u << 20);
    srv.h2o.http1.req_timeout = (uint64_t)s->client_timeout_ms;
    srv.h2o.http2.idle_timeout = (uint64_t)s->client_timeout_ms;
    srv.h2o.http1.upgrade_to_http2 = s->h2c ? 1 : 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv.h2o, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *hd = h2o_create_handler(pc, sizeof *hd);
    hd->on_req = on_req;
    srv_install_error_filter(host);

    srv.workers = calloc(nworkers, sizeof *srv.workers);
    for (unsigned i = 0; i < nworkers; i++) {
        worker_t *w = &srv.workers[i];
        w->id = i;
        w->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ULL) ^
                 (uint64_t)now_us();
        uv_loop_init(&w->loop);
        h2o_context_init(&w->ctx, &w->loop, &srv.h2o);
        w->accept.ctx = &w->ctx;
        w->accept.hosts = srv.h2o.hosts;
        w->accept.ssl_ctx = srv.ssl;
        w->up = up_multi_new(&w->loop);
        uv_async_init(&w->loop, &w->wake, on_wake);
        w->wake.data = w;
        if (store_worker_init(w) != 0 || gov_worker_init(w) != 0) {
            log_error("worker %u cannot set up its database completions", i);
            return 1;
        }
        uv_timer_init(&w->loop, &w->watchdog);
        w->watchdog.data = w;
        uv_timer_start(&w->watchdog, on_watchdog, WATCHDOG_MS, WATCHDOG_MS);
        uv_unref((uv_handle_t *)&w->watchdog);
        /* One listening socket dup'ed into every loop: measured faster here than SO_REUSEPORT. */
        uv_tcp_init(&w->loop, &w->listener);
        w->listener.data = w;
        int fd = dup(srv.listen_fd);
        if (fd < 0 || uv_tcp_open(&w->listener, fd) != 0 ||
            uv_listen((uv_stream_t *)&w->listener, 1024, on_accept) != 0) {
            log_error("worker %u cannot listen: %s", i, strerror(errno));
            return 1;
        }
        w->listening = true;
    }
    close(srv.listen_fd);

    uv_loop_t *main_loop = uv_default_loop();
    uv_signal_init(main_loop, &sig_term);
    uv_signal_init(main_loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_timer_init(main_loop, &drain_timer);

    for (unsigned i = 0; i < nworkers; i++)
        pthread_create(&srv.workers[i].thread, NULL, worker_main, &srv.workers[i]);
    log_info("gantry %s listening on %s%s:%d with %u worker%s, %zu model group%s, %zu deployment%s",
             GANTRY_VERSION, s->tls_cert ? "https://" : "http://", s->host, s->port, nworkers,
             nworkers == 1 ? "" : "s", gen->ngroups, gen->ngroups == 1 ? "" : "s", gen->ndeps,
             gen->ndeps == 1 ? "" : "s");

    /* The main loop only has signals; it returns when they are stopped and the drain is over. */
    while (!shutting_down)
        uv_run(main_loop, UV_RUN_ONCE);
    for (unsigned i = 0; i < nworkers; i++) {
        /* Wait for each worker while still servicing the drain timer. */
        while (!atomic_load(&srv.workers[i].stop) ||
               pthread_tryjoin_np(srv.workers[i].thread, NULL) != 0)
            uv_run(main_loop, UV_RUN_NOWAIT), usleep(2000);
    }
    uv_timer_stop(&drain_timer);
    uv_close((uv_handle_t *)&drain_timer, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_run(main_loop, UV_RUN_NOWAIT);
    for (unsigned i = 0; i < nworkers; i++) {
        worker_t *w = &srv.workers[i];
        up_multi_free(w->up);
        gov_worker_fini(w);
        uv_run(&w->loop, UV_RUN_NOWAIT);
    }
    /* The store thread first (nothing completes after this), then what it left for the workers. */
    store_close();
    gov_shutdown();
    for (unsigned i = 0; i < nworkers; i++) {
        store_worker_fini(&srv.workers[i]);
        uv_run(&srv.workers[i].loop, UV_RUN_NOWAIT); /* the async handle's close */
    }
    int leftover = 0;
    for (unsigned i = 0; i < nworkers; i++)
        leftover += srv.workers[i].inflight;
    if (leftover > 0)
        log_warn("%d request%s still in flight at exit", leftover, leftover == 1 ? "" : "s");
    log_info("stopped");
    return 0;
}
