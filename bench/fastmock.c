/*
 * fastmock: a fast mock OpenAI upstream for the benchmark (bench/run.sh).
 *
 *   fastmock [--port N] [--host 127.0.0.1]
 *
 * Prints exactly one line, `LISTENING <port>`, on stdout once bound (port 0 = any free port).
 * One thread, h2o on a libuv loop, HTTP/1.1 keep-alive (no TLS, no HTTP/2).
 *
 *   POST /v1/chat/completions   a fixed chat.completion JSON (~330 bytes, with usage), or, when the
 *                               body has "stream": true, an SSE stream of 5 chunks, a usage chunk
 *                               and [DONE], each event written as its own HTTP chunk
 *   GET  /v1/models             a one-model list
 *   GET  /health                {"status":"ok"}
 *   anything else               404 with an OpenAI-shaped error
 *
 * The answers are constant so the mock's own cost is as small and steady as possible; it never
 * looks at the request beyond the "stream" flag.  SIGTERM/SIGINT stop it.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <h2o.h>
#include <h2o/http1.h>

#define MOCK_ID "chatcmpl-fastmock"
#define MOCK_CREATED "1700000000"
#define MOCK_MODEL "gpt-4o-mini"

static const char completion_body[] =
    "{\"id\":\"" MOCK_ID "\",\"object\":\"chat.completion\",\"created\":" MOCK_CREATED ","
    "\"model\":\"" MOCK_MODEL "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Hello from the fast mock.\",\"refusal\":null},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":6,"
    "\"total_tokens\":16},\"system_fingerprint\":\"fp_fastmock\"}";

#define CHUNK_HEAD                                                                                 \
    "data: {\"id\":\"" MOCK_ID "\",\"object\":\"chat.completion.chunk\",\"created\":" MOCK_CREATED \
    ",\"model\":\"" MOCK_MODEL "\",\"system_fingerprint\":\"fp_fastmock\",\"choices\":[{\"index\":0,"

static const char *const stream_events[] = {
    CHUNK_HEAD "\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"logprobs\":null,"
               "\"finish_reason\":null}]}\n\n",
    CHUNK_HEAD "\"delta\":{\"content\":\" from\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    CHUNK_HEAD "\"delta\":{\"content\":\" the\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    CHUNK_HEAD "\"delta\":{\"content\":\" fast\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    CHUNK_HEAD "\"delta\":{\"content\":\" mock.\"},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"" MOCK_ID "\",\"object\":\"chat.completion.chunk\",\"created\":" MOCK_CREATED
    ",\"model\":\"" MOCK_MODEL "\",\"system_fingerprint\":\"fp_fastmock\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}}\n\n",
    "data: [DONE]\n\n",
};
#define N_STREAM_EVENTS (sizeof stream_events / sizeof stream_events[0])

static const char models_body[] =
    "{\"object\":\"list\",\"data\":[{\"id\":\"" MOCK_MODEL "\",\"object\":\"model\",\"created\":" MOCK_CREATED
    ",\"owned_by\":\"system\"}]}";

static const char health_body[] = "{\"status\":\"ok\"}";

static const char not_found_body[] =
    "{\"error\":{\"message\":\"fastmock: unknown route\",\"type\":\"invalid_request_error\","
    "\"param\":null,\"code\":null}}";

static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static uv_tcp_t listener;
static uv_signal_t sig_term, sig_int;

/* ---- responses ---- */

/* A fixed body from static storage: no copy, valid for the life of the request. */
static void send_static(h2o_req_t *req, int status, const char *reason, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_iovec_t buf = h2o_iovec_init(body, len);

    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_start_response(req, &generator);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

/* The SSE stream: one event per h2o_send, the next one sent when h2o asks for more (proceed). */
typedef struct {
    h2o_generator_t super;
    size_t next;
} stream_gen_t;

static void stream_send_next(stream_gen_t *g, h2o_req_t *req)
{
    const char *ev = stream_events[g->next];
    h2o_iovec_t buf = h2o_iovec_init(ev, strlen(ev));

    g->next++;
    /* For FINAL the request may be disposed inside h2o_send (with g in its pool): nothing after it. */
    h2o_send(req, &buf, 1, g->next == N_STREAM_EVENTS ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void stream_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    stream_send_next((stream_gen_t *)self, req);
}

static void stream_stop(h2o_generator_t *self, h2o_req_t *req)
{
    (void)self;
    (void)req;
}

static void send_stream(h2o_req_t *req)
{
    stream_gen_t *g = h2o_mem_alloc_pool(&req->pool, sizeof *g);

    g->super.proceed = stream_proceed;
    g->super.stop = stream_stop;
    g->next = 0;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/event-stream; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    h2o_start_response(req, &g->super);
    stream_send_next(g, req);
}

/* ---- request parsing: only the "stream" flag matters ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* True when the JSON body has a "stream" key whose value is true.  Deliberately simple: the
 * benchmark's own requests are the only input, and a false positive would only change the answer. */
static bool wants_stream(h2o_iovec_t body)
{
    static const char key[] = "\"stream\"";
    const char *p = body.base, *end = body.base + body.len;

    while (p != NULL && p < end) {
        const char *hit = memmem(p, (size_t)(end - p), key, sizeof key - 1);
        if (hit == NULL)
            return false;
        const char *q = hit + sizeof key - 1;
        while (q < end && is_space(*q))
            q++;
        if (q < end && *q == ':') {
            q++;
            while (q < end && is_space(*q))
                q++;
            return (size_t)(end - q) >= 4 && memcmp(q, "true", 4) == 0;
        }
        p = q;
    }
    return false;
}

static bool path_is(const h2o_req_t *req, const char *path)
{
    return h2o_memis(req->path_normalized.base, req->path_normalized.len, path, strlen(path));
}

static bool method_is(const h2o_req_t *req, const char *method)
{
    return h2o_memis(req->method.base, req->method.len, method, strlen(method));
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (path_is(req, "/v1/chat/completions") || path_is(req, "/chat/completions")) {
        if (!method_is(req, "POST")) {
            send_static(req, 405, "Method Not Allowed", not_found_body, sizeof not_found_body - 1);
            return 0;
        }
        if (wants_stream(req->entity))
            send_stream(req);
        else
            send_static(req, 200, "OK", completion_body, sizeof completion_body - 1);
        return 0;
    }
    if (path_is(req, "/v1/models") || path_is(req, "/models")) {
        send_static(req, 200, "OK", models_body, sizeof models_body - 1);
        return 0;
    }
    if (path_is(req, "/health")) {
        send_static(req, 200, "OK", health_body, sizeof health_body - 1);
        return 0;
    }
    send_static(req, 404, "Not Found", not_found_body, sizeof not_found_body - 1);
    return 0;
}

/* ---- accept and lifecycle ---- */

static void on_accept(uv_stream_t *server, int status)
{
    if (status != 0)
        return;
    uv_tcp_t *conn = h2o_mem_alloc(sizeof *conn);
    uv_tcp_init(server->loop, conn);
    if (uv_accept(server, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
    h2o_accept(&accept_ctx, sock);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    (void)signum;
    /* Stop the loop outright: open keep-alive connections need no draining in a benchmark mock. */
    uv_stop(sig->loop);
}

static int parse_port(const char *s, int *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: fastmock [--port N] [--host ADDR]\n"
          "  A fast mock OpenAI upstream for the benchmark. Prints `LISTENING <port>` when ready;\n"
          "  --port 0 (the default) picks a free port. --host defaults to 127.0.0.1.\n",
          f);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            if (parse_port(argv[++i], &port) != 0) {
                fprintf(stderr, "fastmock: bad port '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    signal(SIGPIPE, SIG_IGN);

    h2o_config_init(&config);
    config.server_name = h2o_iovec_init(H2O_STRLIT("fastmock"));
    config.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *hostconf = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof *handler);
    handler->on_req = on_req;

    uv_loop_t *loop = uv_default_loop();
    h2o_context_init(&ctx, loop, &config);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;

    struct sockaddr_in addr;
    int rc = uv_ip4_addr(host, port, &addr);
    if (rc == 0)
        rc = uv_tcp_init(loop, &listener);
    if (rc == 0)
        rc = uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&listener, 1024, on_accept);
    if (rc != 0) {
        fprintf(stderr, "fastmock: cannot listen on %s:%d: %s\n", host, port, uv_strerror(rc));
        return 1;
    }

    struct sockaddr_storage bound;
    int blen = sizeof bound;
    rc = uv_tcp_getsockname(&listener, (struct sockaddr *)&bound, &blen);
    if (rc != 0) {
        fprintf(stderr, "fastmock: getsockname: %s\n", uv_strerror(rc));
        return 1;
    }
    printf("LISTENING %d\n", ntohs(((struct sockaddr_in *)&bound)->sin_port));
    fflush(stdout);

    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);

    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
