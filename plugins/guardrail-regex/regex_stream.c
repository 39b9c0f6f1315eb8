/*
 * regex guardrail: checks of streamed completions, one canonical chunk at a time.
 *
 * Mask patterns rewrite each chunk's delta on its own: text already sent cannot be taken back, so a
 * match split across two chunks is not masked (the README says so).  Block patterns are tested
 * against the completion text accumulated so far, so that a phrase split across chunks is still
 * caught before its last piece reaches the client; each test covers the new text plus at most
 * `stream_window` bytes before it, which bounds both the memory and the work per chunk.
 */
#include "regex_int.h"

#include <string.h>

static rx_acc_t *acc_find(gantry_req_t *req, const rx_instance_t *rx, rx_req_t *rs, int64_t index)
{
    rx_acc_t *acc;

    for (acc = rs->accs; acc != NULL; acc = acc->next) {
        if (acc->index == index)
            return acc;
    }
    acc = rx->host->alloc(req, sizeof(*acc));
    if (acc == NULL)
        return NULL;
    memset(acc, 0, sizeof(*acc));
    acc->index = index;
    acc->next = rs->accs;
    rs->accs = acc;
    return acc;
}

/*
 * Append `n` new bytes and return the offset from which to search: `window` bytes before the new
 * text.  Older text is dropped by sliding the tail to the front when the buffer is full, so it
 * never holds much more than twice the window plus one chunk.
 */
static bool acc_append(gantry_req_t *req, const rx_instance_t *rx, rx_acc_t *acc, const char *p,
                       size_t n, size_t *scan_from)
{
    const size_t window = rx->stream_window;

    if (n > acc->cap - acc->len && acc->len > window) {
        memmove(acc->buf, acc->buf + acc->len - window, window);
        acc->len = window;
        acc->dropped = true;
    }
    if (n > acc->cap - acc->len) {
        size_t need = acc->len + n;
        size_t cap = acc->cap * 2;
        char *buf;

        if (cap < 256)
            cap = 256;
        if (cap < need)
            cap = need;
        /*
         * Arena memory: the old block stays until the request ends, at most as much as the new
         * one.  One byte more for a NUL, which the sanitizers' regexec() interceptor looks for.
         */
        buf = rx->host->alloc(req, cap + 1);
        if (buf == NULL)
            return false;
        if (acc->len > 0)
            memcpy(buf, acc->buf, acc->len);
        acc->buf = buf;
        acc->cap = cap;
    }
    *scan_from = acc->len > window ? acc->len - window : 0;
    memcpy(acc->buf + acc->len, p, n);
    acc->len += n;
    acc->buf[acc->len] = '\0';
    return true;
}

/* Block patterns against the accumulated text of one choice; `text` is the chunk's new delta. */
static rx_result_t check_accumulated(gantry_req_t *req, const rx_instance_t *rx,
                                     const rx_worker_t *ws, int64_t index, gantry_str_t text,
                                     bool finished, const rx_pattern_t **hit)
{
    rx_req_t *rs = rx_req_state(req, rx);
    rx_acc_t *acc;
    size_t from;
    int eflags;

    *hit = NULL;
    if (rs == NULL || (acc = acc_find(req, rx, rs, index)) == NULL)
        return RX_ERROR;
    if (text.len > 0) {
        if (!acc_append(req, rx, acc, text.ptr, text.len, &from))
            return RX_ERROR;
    } else {
        from = acc->len > rx->stream_window ? acc->len - rx->stream_window : 0;
    }
    /*
     * The text seen so far is not the end of the completion until finish_reason arrives, so `$`
     * must not match at its current end; and once older text was dropped, the buffer's first byte
     * is not the start of the completion for `^` either.
     */
    eflags = (finished ? 0 : REG_NOTEOL) | (acc->dropped ? REG_NOTBOL : 0);
    return rx_block_scan(rx, ws, acc->buf, from, acc->len, eflags, hit);
}

gantry_action_t rx_check_chunk(gantry_req_t *req, void *state, void *worker_state,
                               gantry_json_t *chunk)
{
    const rx_instance_t *rx = state;
    const rx_worker_t *ws = worker_state;
    const gantry_host_t *host = rx->host;
    const rx_pattern_t *hit = NULL;
    gantry_json_t *choices, *choice;
    bool masked = false;
    int64_t position = 0;

    if (!rx->on_response)
        return GANTRY_CONTINUE;
    if (ws == NULL)
        return rx_no_worker(req, rx);
    if (host->json_type(chunk) != GANTRY_JSON_OBJECT)
        return GANTRY_CONTINUE;
    choices = host->json_get(chunk, "choices");
    if (host->json_type(choices) != GANTRY_JSON_ARRAY)
        return GANTRY_CONTINUE;
    for (choice = host->json_first(choices); choice != NULL;
         choice = host->json_next(choice), position++) {
        gantry_json_t *delta, *content = NULL, *index_node;
        gantry_str_t text = GANTRY_STR_NULL;
        int64_t index = position;
        bool finished;
        double d;
        rx_result_t res;

        if (host->json_type(choice) != GANTRY_JSON_OBJECT)
            continue;
        /* With n > 1 the choices of a stream interleave: each index has its own text. */
        index_node = host->json_get(choice, "index");
        if (host->json_type(index_node) == GANTRY_JSON_NUMBER &&
            host->json_number(index_node, &d) == GANTRY_OK && d >= 0 && d < 1e9)
            index = (int64_t)d;
        delta = host->json_get(choice, "delta");
        if (host->json_type(delta) == GANTRY_JSON_OBJECT) {
            content = host->json_get(delta, "content");
            if (host->json_type(content) == GANTRY_JSON_STRING)
                text = host->json_string(content);
            else
                content = NULL;
        }
        finished = host->json_type(host->json_get(choice, "finish_reason")) == GANTRY_JSON_STRING;

        if (rx->has_block && (text.len > 0 || finished)) {
            res = check_accumulated(req, rx, ws, index, text, finished, &hit);
            if (res != RX_PASS)
                return rx_fail(req, rx, res, hit, "Response");
        }
        if (rx->has_mask && content != NULL && text.len > 0) {
            /* The block patterns ran above on the accumulated text; only masking is left. */
            res = rx_check_string(req, rx, ws, content, false, &masked, &hit);
            if (res != RX_PASS)
                return rx_fail(req, rx, res, hit, "Response");
        }
    }
    if (masked)
        rx_note(req, rx);
    return GANTRY_CONTINUE;
}
