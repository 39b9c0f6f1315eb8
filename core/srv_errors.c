/*
 * srv_errors: h2o answers some errors itself before any handler runs - a body over
 * max_request_entity_size (413), a malformed request line or header (400) - with a text/plain body.
 * An output filter on the host's fallback path (which h2o uses for exactly these replies) rewrites
 * them into OpenAI's error shape, so clients see one error format whatever rejected the request.
 */
#include <stdio.h>
#include <string.h>

#include "srv.h"

typedef struct errjson {
    h2o_ostream_t super;
    bool sent;
} errjson_t;

static const char *code_for(int status)
{
    switch (status) {
    case 413:
        return "request_too_large";
    case 400:
        return "bad_request";
    case 408:
        return "request_timeout";
    default:
        return "http_error";
    }
}

static void on_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                    h2o_send_state_t state)
{
    errjson_t *e = (errjson_t *)self;
    if (e->sent) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    e->sent = true;
    /* h2o's text is a short fixed phrase ("request entity is too large"); keep it as the message.
     */
    char text[256];
    size_t n = 0;
    for (size_t i = 0; i < bufcnt && n < sizeof text - 1; i++) {
        size_t take = bufs[i].len < sizeof text - 1 - n ? bufs[i].len : sizeof text - 1 - n;
        memcpy(text + n, bufs[i].base, take);
        n += take;
    }
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '"' || text[i] == '\\' || (unsigned char)text[i] < 0x20)
            text[i] = ' ';
    }
    if (req->res.status == 413)
        n = (size_t)snprintf(text, sizeof text,
                             "The request body is larger than the limit of %lld bytes.",
                             (long long)srv.cfg->server.max_request_bytes);
    char *json = h2o_mem_alloc_pool(&req->pool, 512);
    int len = snprintf(json, 512,
                       "{\"error\":{\"message\":\"%.*s\",\"type\":\"invalid_request_error\","
                       "\"param\":null,\"code\":\"%s\"}}",
                       (int)n, text, code_for(req->res.status));
    h2o_iovec_t v = h2o_iovec_init(json, (size_t)len);
    h2o_ostream_send_next(self, req, &v, 1, state);
}

static void on_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    bool plain = i >= 0 && req->res.headers.entries[i].value.len >= 10 &&
                 memcmp(req->res.headers.entries[i].value.base, "text/plain", 10) == 0;
    if (req->res.status >= 400 && plain) {
        req->res.headers.entries[i].value = h2o_iovec_init(H2O_STRLIT("application/json"));
        req->res.content_length = SIZE_MAX; /* the length changes; let h2o frame it */
        errjson_t *e = (errjson_t *)h2o_add_ostream(req, sizeof *e, slot);
        e->super.do_send = on_send;
        e->sent = false;
        slot = &e->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void srv_install_error_filter(h2o_hostconf_t *host)
{
    h2o_filter_t *f = h2o_create_filter(&host->fallback_path, sizeof *f);
    f->on_setup_ostream = on_setup;
}
