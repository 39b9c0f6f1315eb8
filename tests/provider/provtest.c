/*
 * gantry-provtest: golden translation cases for provider plugins (format: README.md here).
 *
 * The plugin is loaded from its .so and driven through the real host table, with only the entries
 * that lead into the pipeline replaced: responses, chunks and stream ends are captured instead of
 * sent, request headers come from the case, and the clock can be pinned so signatures are
 * deterministic.  Stream fixtures go through the core's own SSE and event-stream decoders, whole,
 * split in two at every byte boundary, and one byte at a time.
 *
 *   gantry-provtest <plugin.so> <case.json | dir>...
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "phost.h"

static int failures, cases;

/* ---- comparison ---- */

static bool matches(const cJSON *want, const cJSON *got, char *path, size_t plen, char *why,
                    size_t wlen)
{
    if (cJSON_IsString(want) && got != NULL) {
        const char *w = want->valuestring;
        if (strcmp(w, "<any>") == 0 || (strcmp(w, "<string>") == 0 && cJSON_IsString(got)) ||
            (strcmp(w, "<number>") == 0 && cJSON_IsNumber(got)))
            return true;
    }
    if (got == NULL) {
        snprintf(why, wlen, "%s: missing", path);
        return false;
    }
    if ((want->type & 0xFF) != (got->type & 0xFF) &&
        !(cJSON_IsBool(want) && cJSON_IsBool(got))) {
        char *g = cJSON_PrintUnformatted(got);
        snprintf(why, wlen, "%s: type differs, got %.300s", path, g ? g : "?");
        cJSON_free(g);
        return false;
    }
    if (cJSON_IsBool(want) && cJSON_IsTrue(want) != cJSON_IsTrue(got)) {
        snprintf(why, wlen, "%s: boolean differs", path);
        return false;
    }
    if (cJSON_IsNumber(want) && want->valuedouble != got->valuedouble) {
        snprintf(why, wlen, "%s: want %g, got %g", path, want->valuedouble, got->valuedouble);
        return false;
    }
    if (cJSON_IsString(want) && strcmp(want->valuestring, got->valuestring) != 0) {
        snprintf(why, wlen, "%s: want \"%.200s\", got \"%.200s\"", path, want->valuestring,
                 got->valuestring);
        return false;
    }
    size_t base = strlen(path);
    if (cJSON_IsArray(want)) {
        int nw = cJSON_GetArraySize(want), ng = cJSON_GetArraySize(got);
        for (int i = 0; i < nw && i < ng; i++) {
            snprintf(path + base, plen - base, "[%d]", i);
            if (!matches(cJSON_GetArrayItem(want, i), cJSON_GetArrayItem(got, i), path, plen, why,
                         wlen))
                return false;
            path[base] = '\0';
        }
        if (nw != ng) {
            char *g = cJSON_PrintUnformatted(got);
            snprintf(why, wlen, "%s: want %d items, got %d: %.400s", path, nw, ng, g ? g : "?");
            cJSON_free(g);
            return false;
        }
    }
    if (cJSON_IsObject(want)) {
        const cJSON *w;
        cJSON_ArrayForEach(w, want)
        {
            snprintf(path + base, plen - base, ".%s", w->string);
            if (!matches(w, cJSON_GetObjectItemCaseSensitive(got, w->string), path, plen, why,
                         wlen))
                return false;
            path[base] = '\0';
        }
        const cJSON *g;
        cJSON_ArrayForEach(g, got)
        {
            if (cJSON_GetObjectItemCaseSensitive(want, g->string) == NULL) {
                char *t = cJSON_PrintUnformatted(g);
                snprintf(why, wlen, "%s: unexpected key \"%s\" = %.200s", path, g->string,
                         t ? t : "?");
                cJSON_free(t);
                return false;
            }
        }
    }
    return true;
}

static bool same(const char *what, const cJSON *want, const cJSON *got, char *why, size_t wlen)
{
    char path[512];
    snprintf(path, sizeof path, "%s", what);
    return matches(want, got, path, sizeof path, why, wlen);
}

/* ---- one case ---- */

typedef struct tcase {
    const char *file;
    cJSON *j;
    ph_dep_t d;
    gantry_endpoint_t ep;
} tcase_t;

static req_t *new_req(tcase_t *c)
{
    return ph_req_new(&c->d, cJSON_GetObjectItemCaseSensitive(c->j, "request"), c->ep);
}

static gantry_action_t prepare(tcase_t *c, req_t *r, struct gantry_upstream *spec)
{
    return ph_prepare(&c->d, r, spec);
}

static void fail_case(const tcase_t *c, const char *fmt, ...) GANTRY_PRINTF(2, 3);
static void fail_case(const tcase_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s: ", c->file);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failures++;
}

static bool contains(gantry_str_t hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; hay.ptr != NULL && i + n <= hay.len; i++) {
        if (strncasecmp(hay.ptr + i, needle, n) == 0)
            return true;
    }
    return false;
}

static const char *header_value(const struct curl_slist *h, const char *name)
{
    size_t n = strlen(name);
    for (; h != NULL; h = h->next) {
        if (strncasecmp(h->data, name, n) == 0 && h->data[n] == ':')
            return h->data[n + 1] == ' ' ? h->data + n + 2 : h->data + n + 1;
    }
    return NULL;
}

static const char *framing_name(gantry_framing_t f)
{
    return f == GANTRY_FRAMING_SSE           ? "sse"
           : f == GANTRY_FRAMING_EVENTSTREAM ? "eventstream"
           : f == GANTRY_FRAMING_NDJSON      ? "ndjson"
                                             : "?";
}

static void check_upstream(tcase_t *c)
{
    const cJSON *pe = cJSON_GetObjectItemCaseSensitive(c->j, "expect_prepare_error");
    const cJSON *eu = cJSON_GetObjectItemCaseSensitive(c->j, "expect_upstream");
    if (pe == NULL && eu == NULL)
        return;
    req_t *r = new_req(c);
    struct gantry_upstream spec;
    gantry_action_t act = prepare(c, r, &spec);
    char why[1024];
    if (pe != NULL) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(pe, "status");
        const cJSON *mi = cJSON_GetObjectItemCaseSensitive(pe, "message_includes");
        const cJSON *param = cJSON_GetObjectItemCaseSensitive(pe, "param");
        if (act != GANTRY_FAIL)
            fail_case(c, "prepare() should have failed, returned %d", (int)act);
        else if (cJSON_IsNumber(st) && r->err.status != st->valueint)
            fail_case(c, "prepare error status: want %d, got %s", st->valueint, ph_err_text(r));
        else if (cJSON_IsString(mi) && !contains(r->err.message, mi->valuestring))
            fail_case(c, "prepare error message lacks \"%s\": %s", mi->valuestring, ph_err_text(r));
        else if (cJSON_IsString(param) &&
                 !(r->err.param.len == strlen(param->valuestring) &&
                   memcmp(r->err.param.ptr, param->valuestring, r->err.param.len) == 0))
            fail_case(c, "prepare error param: want %s, got %.*s", param->valuestring,
                      (int)r->err.param.len, r->err.param.ptr ? r->err.param.ptr : "");
        goto out;
    }
    if (act != GANTRY_CONTINUE || spec.url == NULL) {
        fail_case(c, "prepare() returned %d: %s", (int)act, ph_err_text(r));
        goto out;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(eu, "method");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(eu, "url");
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(eu, "framing");
    if (cJSON_IsString(m) && strcmp(m->valuestring, spec.method) != 0)
        fail_case(c, "method: want %s, got %s", m->valuestring, spec.method);
    if (cJSON_IsString(url) && strcmp(url->valuestring, spec.url) != 0)
        fail_case(c, "url: want %s, got %s", url->valuestring, spec.url);
    if (cJSON_IsString(fr) && strcmp(fr->valuestring, framing_name(spec.framing)) != 0)
        fail_case(c, "framing: want %s, got %s", fr->valuestring, framing_name(spec.framing));
    const cJSON *h;
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(eu, "headers"))
    {
        const char *v = header_value(spec.headers, h->string);
        if (v == NULL)
            fail_case(c, "header %s: missing", h->string);
        else if (cJSON_IsString(h) && strcmp(h->valuestring, "<any>") != 0 &&
                 strcmp(v, h->valuestring) != 0)
            fail_case(c, "header %s: want \"%s\", got \"%s\"", h->string, h->valuestring, v);
    }
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(eu, "absent_headers"))
    {
        if (cJSON_IsString(h) && header_value(spec.headers, h->valuestring) != NULL)
            fail_case(c, "header %s: should be absent", h->valuestring);
    }
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(eu, "body");
    const cJSON *body_text = cJSON_GetObjectItemCaseSensitive(eu, "body_text");
    if (body != NULL) {
        cJSON *got = cJSON_ParseWithLength(spec.body.ptr ? spec.body.ptr : "", spec.body.len);
        if (got == NULL)
            fail_case(c, "upstream body is not JSON: %.*s", (int)spec.body.len, spec.body.ptr);
        else if (!same("body", body, got, why, sizeof why))
            fail_case(c, "upstream %s", why);
        cJSON_Delete(got);
    }
    if (cJSON_IsString(body_text) &&
        !(spec.body.len == strlen(body_text->valuestring) &&
          memcmp(spec.body.ptr, body_text->valuestring, spec.body.len) == 0))
        fail_case(c, "upstream body: want %s, got %.*s", body_text->valuestring,
                  (int)spec.body.len, spec.body.ptr);
out:
    up_spec_free(&spec);
    ph_req_free(r);
}

static void check_response(tcase_t *c)
{
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(c->j, "response");
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(c->j, "expect_response");
    const cJSON *werr = cJSON_GetObjectItemCaseSensitive(c->j, "expect_response_error");
    if (resp == NULL)
        return;
    req_t *r = new_req(c);
    struct gantry_upstream spec;
    if (prepare(c, r, &spec) != GANTRY_CONTINUE) {
        fail_case(c, "prepare() failed before the response: %s", ph_err_text(r));
        goto out;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(resp, "status");
    const cJSON *bt = cJSON_GetObjectItemCaseSensitive(resp, "body_text");
    char *text = cJSON_IsString(bt) ? strdup(bt->valuestring)
                                    : cJSON_PrintUnformatted(
                                          cJSON_GetObjectItemCaseSensitive(resp, "body"));
    gantry_str_t b = {text ? text : "", text ? strlen(text) : 0};
    gantry_action_t act = c->d.desc->ops->parse_response(r, c->d.state, c->d.pdep,
                                                       cJSON_IsNumber(st) ? st->valueint : 200, b);
    char why[1024];
    if (werr != NULL) {
        const cJSON *mi = cJSON_GetObjectItemCaseSensitive(werr, "message_includes");
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(werr, "status");
        if (act != GANTRY_FAIL)
            fail_case(c, "parse_response() should have failed");
        else if (cJSON_IsNumber(ws) && ws->valueint != r->err.status)
            fail_case(c, "response error status: %s", ph_err_text(r));
        else if (cJSON_IsString(mi) && !contains(r->err.message, mi->valuestring))
            fail_case(c, "response error lacks \"%s\": %s", mi->valuestring, ph_err_text(r));
    } else if (act == GANTRY_FAIL) {
        fail_case(c, "parse_response() failed: %s", ph_err_text(r));
    } else if (want != NULL && !same("response", want, r->resp, why, sizeof why)) {
        fail_case(c, "%s", why);
    }
    free(text);
out:
    up_spec_free(&spec);
    ph_req_free(r);
}

/* ---- streams ---- */

/* The fixture's bytes: raw SSE / NDJSON text, or event-stream messages encoded with real CRCs. */
static gantry_framing_t stream_bytes(const cJSON *j, buf_t *out)
{
    const cJSON *sse = cJSON_GetObjectItemCaseSensitive(j, "stream_sse");
    const cJSON *nd = cJSON_GetObjectItemCaseSensitive(j, "stream_ndjson");
    const cJSON *evs = cJSON_GetObjectItemCaseSensitive(j, "stream_events");
    if (cJSON_IsString(sse)) {
        buf_appendz(out, sse->valuestring);
        return GANTRY_FRAMING_SSE;
    }
    if (cJSON_IsString(nd)) {
        buf_appendz(out, nd->valuestring);
        return GANTRY_FRAMING_NDJSON;
    }
    if (!cJSON_IsArray(evs))
        return 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, evs)
    {
        evs_kv_t kv[EVS_MAX_HEADERS];
        size_t n = 0;
        const cJSON *h;
        cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(m, "headers"))
        {
            if (cJSON_IsString(h) && n < EVS_MAX_HEADERS)
                kv[n++] = (evs_kv_t){h->string, h->valuestring, strlen(h->valuestring)};
        }
        const cJSON *pl = cJSON_GetObjectItemCaseSensitive(m, "payload");
        char *text = cJSON_IsString(pl) ? strdup(pl->valuestring) : cJSON_PrintUnformatted(pl);
        evs_encode(out, kv, n, text ? text : "", text ? strlen(text) : 0);
        free(text);
    }
    return GANTRY_FRAMING_EVENTSTREAM;
}

static bool stream_ok(tcase_t *c, const ph_stream_t *o, const char *how, char *why, size_t wlen)
{
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(c->j, "expect_chunks");
    const cJSON *werr = cJSON_GetObjectItemCaseSensitive(c->j, "expect_stream_error");
    const cJSON *wend = cJSON_GetObjectItemCaseSensitive(c->j, "expect_stream_end");
    char what[64];
    snprintf(what, sizeof what, "chunks (%s)", how);
    if (want != NULL && !same(what, want, o->chunks, why, wlen))
        return false;
    if (werr != NULL) {
        const cJSON *mi = cJSON_GetObjectItemCaseSensitive(werr, "message_includes");
        if (!o->failed) {
            snprintf(why, wlen, "%s: the stream should have failed", how);
            return false;
        }
        if (cJSON_IsString(mi) && strcasestr(o->err, mi->valuestring) == NULL) {
            snprintf(why, wlen, "%s: stream error lacks \"%s\": %s", how, mi->valuestring, o->err);
            return false;
        }
        return true;
    }
    if (o->failed) {
        snprintf(why, wlen, "%s: the stream failed: %s", how, o->err);
        return false;
    }
    bool end = wend == NULL || cJSON_IsTrue(wend);
    if ((o->ends == 1) != end) {
        snprintf(why, wlen, "%s: stream_end() called %d times", how, o->ends);
        return false;
    }
    return true;
}

static void check_stream(tcase_t *c)
{
    buf_t bytes = {0};
    gantry_framing_t framing = stream_bytes(c->j, &bytes);
    if (framing == 0)
        return;
    char why[1024];
    ph_stream_t o;
    ph_run_stream(&c->d, cJSON_GetObjectItemCaseSensitive(c->j, "request"), c->ep, framing, &bytes, NULL, 0, &o);
    bool ok = stream_ok(c, &o, "whole", why, sizeof why);
    cJSON_Delete(o.chunks);
    if (!ok) {
        fail_case(c, "%s", why);
        buf_free(&bytes);
        return;
    }
    for (size_t k = 1; k < bytes.len && ok; k++) {
        ph_run_stream(&c->d, cJSON_GetObjectItemCaseSensitive(c->j, "request"), c->ep, framing, &bytes, &k, 1, &o);
        char how[48];
        snprintf(how, sizeof how, "split at byte %zu", k);
        ok = stream_ok(c, &o, how, why, sizeof why);
        cJSON_Delete(o.chunks);
    }
    if (ok && bytes.len > 1) {
        size_t *cuts = malloc(bytes.len * sizeof *cuts);
        for (size_t k = 0; k + 1 < bytes.len; k++)
            cuts[k] = k + 1;
        ph_run_stream(&c->d, cJSON_GetObjectItemCaseSensitive(c->j, "request"), c->ep, framing, &bytes, cuts, bytes.len - 1, &o);
        ok = stream_ok(c, &o, "one byte at a time", why, sizeof why);
        cJSON_Delete(o.chunks);
        free(cuts);
    }
    if (!ok)
        fail_case(c, "%s", why);
    buf_free(&bytes);
}

/* ---- errors ---- */

static const char *class_name(gantry_error_class_t k)
{
    static const char *const names[] = {"none",    "bad_request",    "auth",           "not_found",
                                        "rate_limit", "timeout",     "server",         "connect",
                                        "context_window", "content_policy", "budget", "guardrail",
                                        "internal"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static bool str_is(gantry_str_t s, const char *lit)
{
    return s.len == strlen(lit) && (s.len == 0 || memcmp(s.ptr, lit, s.len) == 0);
}

static void check_error(tcase_t *c)
{
    const cJSON *er = cJSON_GetObjectItemCaseSensitive(c->j, "error_response");
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(c->j, "expect_error");
    if (er == NULL || want == NULL)
        return;
    if (c->d.desc->ops->map_error == NULL) {
        fail_case(c, "the plugin has no map_error()");
        return;
    }
    req_t *r = new_req(c);
    const cJSON *est = cJSON_GetObjectItemCaseSensitive(er, "status");
    int status = cJSON_IsNumber(est) ? est->valueint : 500;
    const cJSON *bt = cJSON_GetObjectItemCaseSensitive(er, "body_text");
    char *text = cJSON_IsString(bt)
                     ? strdup(bt->valuestring)
                     : cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(er, "body"));
    /* Initialised the way the core does before map_error() (pipe.c). */
    gantry_error_t e = {.size = sizeof e, .status = status, .retry_after_ms = -1};
    e.class_ = status == 401 || status == 403 ? GANTRY_ERR_AUTH
               : status == 404                ? GANTRY_ERR_NOT_FOUND
               : status == 408                ? GANTRY_ERR_TIMEOUT
               : status == 429                ? GANTRY_ERR_RATE_LIMIT
               : status >= 500                ? GANTRY_ERR_SERVER
                                              : GANTRY_ERR_BAD_REQUEST;
    e.type = GANTRY_STR_LIT("api_error");
    c->d.desc->ops->map_error(r, c->d.state, c->d.pdep, status,
                            (gantry_str_t){text ? text : "", text ? strlen(text) : 0}, &e);
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(want, "status");
    const cJSON *wc = cJSON_GetObjectItemCaseSensitive(want, "class");
    const cJSON *wt = cJSON_GetObjectItemCaseSensitive(want, "type");
    const cJSON *wcode = cJSON_GetObjectItemCaseSensitive(want, "code");
    const cJSON *mi = cJSON_GetObjectItemCaseSensitive(want, "message_includes");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(want, "message_excludes");
    if (cJSON_IsNumber(ws) && e.status != ws->valueint)
        fail_case(c, "error status: want %d, got %d", ws->valueint, e.status);
    if (cJSON_IsString(wc) && strcmp(wc->valuestring, class_name(e.class_)) != 0)
        fail_case(c, "error class: want %s, got %s", wc->valuestring, class_name(e.class_));
    if (cJSON_IsString(wt) && !str_is(e.type, wt->valuestring))
        fail_case(c, "error type: want %s, got %.*s", wt->valuestring, (int)e.type.len,
                  e.type.ptr);
    if (cJSON_IsString(wcode) && !str_is(e.code, wcode->valuestring))
        fail_case(c, "error code: want %s, got %.*s", wcode->valuestring, (int)e.code.len,
                  e.code.ptr ? e.code.ptr : "");
    if (cJSON_IsString(mi) && !contains(e.message, mi->valuestring))
        fail_case(c, "error message lacks \"%s\": %.*s", mi->valuestring, (int)e.message.len,
                  e.message.ptr);
    if (cJSON_IsString(mx) && contains(e.message, mx->valuestring))
        fail_case(c, "error message contains \"%s\"", mx->valuestring);
    free(text);
    ph_req_free(r);
}

/* ---- driver ---- */

static void run_case(const gantry_plugin_desc_t *desc, const char *file)
{
    tcase_t c = {.file = file};
    FILE *fp = fopen(file, "rb");
    buf_t text = {0};
    char chunk[4096];
    size_t n;
    while (fp != NULL && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        buf_append(&text, chunk, n);
    if (fp != NULL)
        fclose(fp);
    c.j = cJSON_ParseWithLength(text.ptr ? text.ptr : "", text.len);
    buf_free(&text);
    cases++;
    if (!cJSON_IsObject(c.j)) {
        fail_case(&c, "not a JSON object");
        cJSON_Delete(c.j);
        return;
    }
    const cJSON *env;
    cJSON_ArrayForEach(env, cJSON_GetObjectItemCaseSensitive(c.j, "env"))
    {
        if (cJSON_IsString(env))
            setenv(env->string, env->valuestring, 1);
    }
    ph_cap.headers = cJSON_GetObjectItemCaseSensitive(c.j, "request_headers");
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(c.j, "now");
    ph_cap.now_ms = cJSON_IsNumber(now) ? (int64_t)now->valuedouble * 1000 : 0;
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(c.j, "endpoint");
    c.ep = GANTRY_EP_CHAT;
    if (cJSON_IsString(ep) && strcmp(ep->valuestring, "embeddings") == 0)
        c.ep = GANTRY_EP_EMBEDDINGS;
    else if (cJSON_IsString(ep) && strcmp(ep->valuestring, "completions") == 0)
        c.ep = GANTRY_EP_COMPLETIONS;
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(c.j, "prefix");
    if (ph_dep_open(&c.d, desc, cJSON_GetObjectItemCaseSensitive(c.j, "params"),
                    cJSON_GetObjectItemCaseSensitive(c.j, "plugin_config"),
                    cJSON_IsString(prefix) ? prefix->valuestring : NULL, file) != 0) {
        fail_case(&c, "the deployment could not be created");
    } else {
        int before = failures;
        check_upstream(&c);
        check_response(&c);
        check_stream(&c);
        check_error(&c);
        if (failures == before)
            printf("ok   %s\n", file);
        ph_dep_close(&c.d);
    }
    cJSON_ArrayForEach(env, cJSON_GetObjectItemCaseSensitive(c.j, "env")) unsetenv(env->string);
    cJSON_Delete(c.j);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_path(const gantry_plugin_desc_t *desc, const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        run_case(desc, path);
        return;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
            names = realloc(names, (n + 1) * sizeof *names);
            size_t sz = strlen(path) + len + 2;
            names[n] = malloc(sz);
            snprintf(names[n++], sz, "%s/%s", path, e->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        run_case(desc, names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s <plugin.so> <case.json | dir>...\n", argv[0]);
        return 2;
    }
    const gantry_plugin_desc_t *desc = ph_load(argv[1]);
    if (desc == NULL)
        return 2;
    for (int i = 2; i < argc; i++)
        run_path(desc, argv[i]);
    printf("%d cases, %d failures\n", cases, failures);
    return failures == 0 && cases > 0 ? 0 : 1;
}
