/*
 * regex guardrail: matching, masking, and the checks of whole requests and responses.
 */
#include "regex_int.h"

#include <string.h>

/*
 * A growing scratch buffer in instance memory, freed by the function that made it.  It always
 * keeps a NUL after its contents: regexec() with REG_STARTEND does not need one, but the
 * sanitizers' regexec() interceptor reads up to the NUL, and the ASan builds must stay clean.
 */
typedef struct rx_buf {
    char *ptr;
    size_t len;
    size_t cap; /* usable bytes; one more is allocated for the NUL */
} rx_buf_t;

static bool buf_put(const gantry_host_t *host, rx_buf_t *b, const char *p, size_t n)
{
    if (n == 0 && b->ptr != NULL)
        return true;
    if (b->ptr == NULL || n > b->cap - b->len) {
        size_t need = b->len + n;
        size_t cap = b->cap != 0 ? b->cap : 256;
        char *q;

        if (need < b->len)
            return false;
        while (cap < need) {
            if (cap > SIZE_MAX / 2)
                return false;
            cap *= 2;
        }
        q = host->mem_realloc(b->ptr, cap + 1);
        if (q == NULL)
            return false;
        b->ptr = q;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return true;
}

rx_req_t *rx_req_state(gantry_req_t *req, const rx_instance_t *rx)
{
    const gantry_host_t *host = rx->host;
    rx_req_t *rs = host->req_data(req, rx->self);

    if (rs == NULL) {
        rs = host->alloc(req, sizeof(*rs));
        if (rs == NULL)
            return NULL;
        memset(rs, 0, sizeof(*rs));
        host->req_set_data(req, rx->self, rs);
    }
    return rs;
}

void rx_note(gantry_req_t *req, const rx_instance_t *rx)
{
    rx_req_t *rs = rx_req_state(req, rx);

    /* Once per request: masking every chunk of a stream must not repeat the name each time. */
    if (rs != NULL && rs->noted)
        return;
    rx->host->req_note_guardrail(req, rx->name);
    if (rs != NULL)
        rs->noted = true;
}

/*
 * glibc's regoff_t is an int: offsets of a text over 2 GiB cannot be expressed, and such a text
 * (far beyond any request limit) is refused rather than checked in part.
 */
static bool fits_regoff(size_t len)
{
    regoff_t v = (regoff_t)len;
    return v >= 0 && (size_t)v == len;
}

rx_result_t rx_block_scan(const rx_instance_t *rx, const rx_worker_t *ws, const char *text,
                          size_t start, size_t len, int eflags, const rx_pattern_t **hit)
{
    if (!fits_regoff(len)) {
        *hit = NULL;
        return RX_ERROR;
    }
    /* REG_STARTEND bounds the search by offsets, so the text needs no NUL and may contain one. */
    if (text == NULL)
        text = "";
    for (size_t i = 0; i < rx->npatterns; i++) {
        regmatch_t m[1];
        int rc;

        if (rx->patterns[i].mask)
            continue;
        m[0].rm_so = (regoff_t)start;
        m[0].rm_eo = (regoff_t)len;
        rc = regexec(&ws->re[i], text, 1, m, eflags | REG_STARTEND);
        if (rc == 0) {
            *hit = &rx->patterns[i];
            return RX_BLOCKED;
        }
        if (rc != REG_NOMATCH) {
            /* REG_ESPACE: out of memory.  A guardrail that cannot look fails closed. */
            *hit = &rx->patterns[i];
            return RX_ERROR;
        }
    }
    return RX_PASS;
}

/* Offset of the character after the one at `off` (UTF-8 aware, so a step never splits one). */
static size_t next_char(const char *s, size_t len, size_t off)
{
    off++;
    while (off < len && ((unsigned char)s[off] & 0xC0) == 0x80)
        off++;
    return off;
}

/*
 * Replace every match of one mask pattern in s[0, len) and write the result to `out`; *count says
 * how many matches were replaced (0: `out` is untouched and s stays as it is).
 */
static rx_result_t mask_one(const gantry_host_t *host, const regex_t *re, const rx_pattern_t *p,
                            const char *s, size_t len, rx_buf_t *out, size_t *count)
{
    size_t off = 0, copied = 0;

    *count = 0;
    out->len = 0;
    if (!fits_regoff(len))
        return RX_ERROR;
    while (off <= len) {
        regmatch_t m[1];
        size_t so, eo;
        int rc;

        m[0].rm_so = (regoff_t)off;
        m[0].rm_eo = (regoff_t)len;
        rc = regexec(re, s, 1, m, REG_STARTEND);
        if (rc == REG_NOMATCH)
            break;
        if (rc != 0)
            return RX_ERROR;
        so = (size_t)m[0].rm_so;
        eo = (size_t)m[0].rm_eo;
        if (eo == so) {
            /* An empty match hides nothing; step past it or the search would find it forever. */
            if (so >= len)
                break;
            off = next_char(s, len, so);
            continue;
        }
        if (++*count > RX_MAX_MATCHES)
            return RX_TOO_MANY;
        if (!buf_put(host, out, s + copied, so - copied) ||
            !buf_put(host, out, p->replacement.ptr, p->replacement.len))
            return RX_ERROR;
        copied = off = eo;
    }
    if (*count > 0 && !buf_put(host, out, s + copied, len - copied))
        return RX_ERROR;
    return RX_PASS;
}

/*
 * Apply the mask patterns in their configured order, each to the output of the one before.  On
 * success *result points into one of the two scratch buffers (or is NULL when nothing matched).
 */
static rx_result_t mask_text(const rx_instance_t *rx, const rx_worker_t *ws, const char *s,
                             size_t len, rx_buf_t bufs[2], gantry_str_t *result,
                             const rx_pattern_t **hit)
{
    gantry_str_t cur = {s, len};
    int next = 0;
    bool changed = false;

    for (size_t i = 0; i < rx->npatterns; i++) {
        const rx_pattern_t *p = &rx->patterns[i];
        size_t count;
        rx_result_t res;

        if (!p->mask)
            continue;
        res = mask_one(rx->host, &ws->re[i], p, cur.ptr, cur.len, &bufs[next], &count);
        if (res != RX_PASS) {
            *hit = p;
            return res;
        }
        if (count == 0)
            continue;
        cur.ptr = bufs[next].ptr;
        cur.len = bufs[next].len;
        next ^= 1;
        changed = true;
    }
    *result = changed ? cur : GANTRY_STR_NULL;
    return RX_PASS;
}

rx_result_t rx_check_string(gantry_req_t *req, const rx_instance_t *rx, const rx_worker_t *ws,
                            gantry_json_t *node, bool block, bool *masked, const rx_pattern_t **hit)
{
    const gantry_host_t *host = rx->host;
    gantry_str_t s = host->json_string(node);
    rx_buf_t bufs[2] = {{NULL, 0, 0}, {NULL, 0, 0}};
    gantry_str_t out;
    rx_result_t res;
    char *copy;

    if (s.ptr == NULL || s.len == 0)
        return RX_PASS;
    /* Block patterns see the text as it was written, before any mask pattern changed it. */
    if (block && rx->has_block) {
        res = rx_block_scan(rx, ws, s.ptr, 0, s.len, 0, hit);
        if (res != RX_PASS)
            return res;
    }
    if (!rx->has_mask)
        return RX_PASS;

    res = mask_text(rx, ws, s.ptr, s.len, bufs, &out, hit);
    if (res == RX_PASS && out.ptr != NULL) {
        /* The new value lives in the arena: valid for the request whatever the host does. */
        copy = host->strdup(req, out.ptr, out.len);
        if (copy == NULL || host->json_set_string(node, (gantry_str_t){copy, out.len}) < 0) {
            *hit = NULL;
            res = RX_ERROR;
        } else {
            *masked = true;
        }
    }
    host->mem_free(bufs[0].ptr);
    host->mem_free(bufs[1].ptr);
    return res;
}

gantry_action_t rx_fail(gantry_req_t *req, const rx_instance_t *rx, rx_result_t res,
                        const rx_pattern_t *hit, const char *what)
{
    const gantry_host_t *host = rx->host;

    switch (res) {
    case RX_BLOCKED:
        rx_note(req, rx);
        return host->req_fail(
            req, 400, GANTRY_ERR_GUARDRAIL, "guardrail_violation", "pattern_matched",
            "%s blocked by guardrail '%s': matched pattern '%s'", what, rx->name, hit->name);
    case RX_TOO_MANY:
        rx_note(req, rx);
        return host->req_fail(
            req, 400, GANTRY_ERR_GUARDRAIL, "guardrail_violation", "pattern_matched",
            "%s blocked by guardrail '%s': pattern '%s' matched more than %d times", what, rx->name,
            hit->name, RX_MAX_MATCHES);
    case RX_ERROR:
    case RX_PASS:
    default:
        break;
    }
    host->log(rx->self, req, GANTRY_LOG_ERROR,
              "could not check the text (pattern '%s'): out of memory or text too large",
              hit != NULL ? hit->name : "-");
    return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "server_error", NULL,
                          "Guardrail '%s' could not check the text", rx->name);
}

static bool str_eq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && s.ptr != NULL && memcmp(s.ptr, lit, n) == 0;
}

/* A message's `content`: a string, or an array of parts of which the "text" ones are checked. */
static rx_result_t check_content(gantry_req_t *req, const rx_instance_t *rx, const rx_worker_t *ws,
                                 gantry_json_t *content, bool *masked, const rx_pattern_t **hit)
{
    const gantry_host_t *host = rx->host;
    gantry_json_t *part;

    switch (host->json_type(content)) {
    case GANTRY_JSON_STRING:
        return rx_check_string(req, rx, ws, content, true, masked, hit);
    case GANTRY_JSON_ARRAY:
        for (part = host->json_first(content); part != NULL; part = host->json_next(part)) {
            gantry_json_t *type, *text;
            rx_result_t res;

            if (host->json_type(part) != GANTRY_JSON_OBJECT)
                continue;
            type = host->json_get(part, "type");
            if (host->json_type(type) != GANTRY_JSON_STRING ||
                !str_eq(host->json_string(type), "text"))
                continue;
            text = host->json_get(part, "text");
            if (host->json_type(text) != GANTRY_JSON_STRING)
                continue;
            res = rx_check_string(req, rx, ws, text, true, masked, hit);
            if (res != RX_PASS)
                return res;
        }
        return RX_PASS;
    default:
        return RX_PASS;
    }
}

/* Without its compiled patterns the guardrail cannot look, and a guardrail fails closed. */
gantry_action_t rx_no_worker(gantry_req_t *req, const rx_instance_t *rx)
{
    rx->host->log(rx->self, req, GANTRY_LOG_ERROR, "called without worker state");
    return rx->host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "server_error", NULL,
                              "Guardrail '%s' could not check the text", rx->name);
}

gantry_action_t rx_check_request(gantry_req_t *req, void *state, void *worker_state)
{
    const rx_instance_t *rx = state;
    const rx_worker_t *ws = worker_state;
    const gantry_host_t *host = rx->host;
    const rx_pattern_t *hit = NULL;
    gantry_json_t *body, *messages, *msg;
    bool masked = false;

    if (!rx->on_request)
        return GANTRY_CONTINUE;
    if (ws == NULL)
        return rx_no_worker(req, rx);
    /* Only json_type() is documented to accept NULL, so nothing else is handed a missing node. */
    body = host->req_body(req);
    if (host->json_type(body) != GANTRY_JSON_OBJECT)
        return GANTRY_CONTINUE;
    messages = host->json_get(body, "messages");
    if (host->json_type(messages) != GANTRY_JSON_ARRAY)
        return GANTRY_CONTINUE;
    /* Every role is checked: system, developer and tool messages reach the model too. */
    for (msg = host->json_first(messages); msg != NULL; msg = host->json_next(msg)) {
        rx_result_t res;

        if (host->json_type(msg) != GANTRY_JSON_OBJECT)
            continue;
        res = check_content(req, rx, ws, host->json_get(msg, "content"), &masked, &hit);
        if (res != RX_PASS)
            return rx_fail(req, rx, res, hit, "Request");
    }
    if (masked)
        rx_note(req, rx);
    return GANTRY_CONTINUE;
}

gantry_action_t rx_check_response(gantry_req_t *req, void *state, void *worker_state)
{
    const rx_instance_t *rx = state;
    const rx_worker_t *ws = worker_state;
    const gantry_host_t *host = rx->host;
    const rx_pattern_t *hit = NULL;
    gantry_json_t *resp, *choices, *choice;
    bool masked = false;

    if (!rx->on_response)
        return GANTRY_CONTINUE;
    /*
     * A streamed completion was checked chunk by chunk as it went out; judging it again here could
     * only fail a response the client already has.
     */
    if (host->req_is_stream(req))
        return GANTRY_CONTINUE;
    if (ws == NULL)
        return rx_no_worker(req, rx);
    resp = host->resp_body(req);
    if (host->json_type(resp) != GANTRY_JSON_OBJECT)
        return GANTRY_CONTINUE;
    choices = host->json_get(resp, "choices");
    if (host->json_type(choices) != GANTRY_JSON_ARRAY)
        return GANTRY_CONTINUE;
    for (choice = host->json_first(choices); choice != NULL; choice = host->json_next(choice)) {
        gantry_json_t *message;
        rx_result_t res;

        if (host->json_type(choice) != GANTRY_JSON_OBJECT)
            continue;
        message = host->json_get(choice, "message");
        if (host->json_type(message) != GANTRY_JSON_OBJECT)
            continue;
        res = check_content(req, rx, ws, host->json_get(message, "content"), &masked, &hit);
        if (res != RX_PASS)
            return rx_fail(req, rx, res, hit, "Response");
    }
    if (masked)
        rx_note(req, rx);
    return GANTRY_CONTINUE;
}
