/*
 * The Amazon Bedrock guardrail: the ApplyGuardrail wire format.
 *
 *   POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply
 *   {"source": "INPUT" | "OUTPUT", "content": [{"text": {"text": "..."}}, ...]}
 *
 * answers {"action": "NONE" | "GUARDRAIL_INTERVENED", "outputs": [{"text": "..."}],
 * "assessments": [{"topicPolicy": ..., "contentPolicy": ..., "wordPolicy": ...,
 * "sensitiveInformationPolicy": ..., "contextualGroundingPolicy": ..., ...}], "usage": ...}.
 * Each text is sent as a block of its own, so outputs[i] is the (masked) text of block i.
 *
 * Pure functions of their input through the host's JSON functions, so the unit tests and the fuzz
 * target run them over a stand-in host.  Everything read from the answer is type-checked.
 */
#include <stdio.h>

#include "bedrock_guardrail.h"

int bg_build_body(const gantry_host_t *h, gantry_req_t *req, const char *source,
                  const gantry_str_t *texts, size_t n, gantry_str_t *out)
{
    gantry_json_t *root = h->json_new(req, GANTRY_JSON_OBJECT);
    gantry_json_t *src = h->json_set(root, "source", GANTRY_JSON_STRING);
    gantry_json_t *content = h->json_set(root, "content", GANTRY_JSON_ARRAY);
    if (src == NULL || content == NULL ||
        h->json_set_string(src, (gantry_str_t){source, strlen(source)}) != GANTRY_OK)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        gantry_json_t *block = h->json_append(content, GANTRY_JSON_OBJECT);
        gantry_json_t *text = h->json_set(block, "text", GANTRY_JSON_OBJECT);
        gantry_json_t *value = h->json_set(text, "text", GANTRY_JSON_STRING);
        if (value == NULL || h->json_set_string(value, texts[i]) != GANTRY_OK)
            goto nomem;
    }
    if (h->json_write(req, root, out) != GANTRY_OK)
        goto nomem;
    h->json_release(req, root);
    return GANTRY_OK;
nomem:
    h->json_release(req, root);
    return GANTRY_ENOMEM;
}

static bool str_is(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static gantry_str_t member_str(const gantry_host_t *h, const gantry_json_t *obj, const char *key)
{
    gantry_json_t *v = h->json_get(obj, key);
    return h->json_type(v) == GANTRY_JSON_STRING ? h->json_string(v) : GANTRY_STR_NULL;
}

/* Length of the UTF-8 sequence starting with byte c, or 0 for a byte that cannot start one. */
static size_t seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

void bg_clean(gantry_str_t s, size_t max, char *out, size_t len)
{
    size_t o = 0, i = 0;
    bool cut = false;
    if (len == 0)
        return;
    if (s.ptr == NULL)
        s.len = 0;
    while (i < s.len) {
        unsigned char c = (unsigned char)s.ptr[i];
        size_t n = seq_len(c);
        /* A broken sequence is replaced; a whole one is copied or, past the limit, cut before. */
        bool whole = n > 0 && i + n <= s.len;
        for (size_t k = 1; whole && k < n; k++)
            whole = ((unsigned char)s.ptr[i + k] & 0xC0) == 0x80;
        size_t take = whole ? n : 1;
        if (o + take > max || o + take + 4 > len) {
            cut = true;
            break;
        }
        if (!whole || c < 0x20 || c == 0x7f)
            out[o++] = c == '\n' || c == '\t' || c == '\r' || !whole ? ' ' : '?';
        else
            for (size_t k = 0; k < n; k++)
                out[o++] = s.ptr[i + k];
        i += take;
    }
    if (cut && o + 4 <= len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* Append "item" to the summary unless it is already there; a full summary ends in "...". */
static void summary_add(bg_verdict_t *v, const char *item)
{
    size_t cur = strlen(v->summary), n = strlen(item);
    const char *p = v->summary;
    /* Repeats (three e-mail addresses) are listed once. */
    while ((p = strstr(p, item)) != NULL) {
        bool starts = p == v->summary || (p >= v->summary + 2 && p[-2] == ',' && p[-1] == ' ');
        bool ends = p[n] == '\0' || p[n] == ',';
        if (starts && ends)
            return;
        p += n;
    }
    if (cur >= 3 && strcmp(v->summary + cur - 3, "...") == 0)
        return;
    size_t sep = cur > 0 ? 2 : 0;
    /* Room for ", ..." is kept, so that a cut can always be marked. */
    if (cur + sep + n + 5 > BG_SUMMARY_LEN) {
        memcpy(v->summary + cur, cur > 0 ? ", ..." : "...", cur > 0 ? 6 : 4);
        return;
    }
    if (sep)
        memcpy(v->summary + cur, ", ", 2);
    memcpy(v->summary + cur + sep, item, n + 1);
}

/* One assessment entry: its action, and how it is named in the summary. */
static void entry(const gantry_host_t *h, bg_verdict_t *v, const gantry_json_t *e,
                  const char *label, const char *name_key, bool quote)
{
    gantry_str_t action = member_str(h, e, "action");
    bool blocked = str_is(action, "BLOCKED"), anon = str_is(action, "ANONYMIZED");
    if (!blocked && !anon)
        return; /* NONE: detected or evaluated, but nothing was done */
    v->blocked |= blocked;
    v->anonymized |= anon;
    char name[72] = "", item[128];
    if (name_key != NULL)
        bg_clean(member_str(h, e, name_key), 64, name, sizeof name);
    if (name[0] == '\0')
        snprintf(item, sizeof item, "%s", label);
    else
        snprintf(item, sizeof item, quote ? "%s '%s'" : "%s %s", label, name);
    if (anon) {
        size_t n = strlen(item);
        snprintf(item + n, sizeof item - n, " (anonymized)");
    }
    summary_add(v, item);
}

static void entries(const gantry_host_t *h, bg_verdict_t *v, const gantry_json_t *policy,
                    const char *list, const char *label, const char *name_key, bool quote)
{
    gantry_json_t *arr = h->json_get(policy, list);
    if (h->json_type(arr) != GANTRY_JSON_ARRAY)
        return;
    for (gantry_json_t *e = h->json_first(arr); e != NULL; e = h->json_next(e)) {
        if (h->json_type(e) == GANTRY_JSON_OBJECT)
            entry(h, v, e, label, name_key, quote);
    }
}

/* Every policy of one assessment.  The matched text ("match") is never read into the summary. */
static void assessment(const gantry_host_t *h, bg_verdict_t *v, const gantry_json_t *a)
{
    gantry_json_t *p;
    if (h->json_type(p = h->json_get(a, "topicPolicy")) == GANTRY_JSON_OBJECT)
        entries(h, v, p, "topics", "topic", "name", true);
    if (h->json_type(p = h->json_get(a, "contentPolicy")) == GANTRY_JSON_OBJECT)
        entries(h, v, p, "filters", "content filter", "type", false);
    if (h->json_type(p = h->json_get(a, "wordPolicy")) == GANTRY_JSON_OBJECT) {
        entries(h, v, p, "customWords", "custom word", NULL, false);
        entries(h, v, p, "managedWordLists", "managed word list", "type", false);
    }
    if (h->json_type(p = h->json_get(a, "sensitiveInformationPolicy")) == GANTRY_JSON_OBJECT) {
        entries(h, v, p, "piiEntities", "PII", "type", false);
        entries(h, v, p, "regexes", "regex", "name", true);
    }
    if (h->json_type(p = h->json_get(a, "contextualGroundingPolicy")) == GANTRY_JSON_OBJECT)
        entries(h, v, p, "filters", "contextual grounding", "type", false);
}

int bg_parse_verdict(const gantry_host_t *h, gantry_req_t *req, gantry_str_t body, bg_verdict_t *v,
                     char *err, size_t errlen)
{
    memset(v, 0, sizeof(*v));
    gantry_json_t *root = h->json_parse(req, body);
    v->root = root;
    if (h->json_type(root) != GANTRY_JSON_OBJECT) {
        snprintf(err, errlen, "the answer is not a JSON object");
        return -1;
    }
    gantry_json_t *action = h->json_get(root, "action");
    if (h->json_type(action) != GANTRY_JSON_STRING) {
        snprintf(err, errlen, "the answer has no \"action\"");
        return -1;
    }
    gantry_str_t a = h->json_string(action);
    if (str_is(a, "GUARDRAIL_INTERVENED")) {
        v->intervened = true;
    } else if (!str_is(a, "NONE")) {
        /* An action this plugin does not know could mean anything: not a verdict to act on. */
        char what[72];
        bg_clean(a, 64, what, sizeof what);
        snprintf(err, errlen, "unknown action \"%s\"", what);
        return -1;
    }
    gantry_json_t *outputs = h->json_get(root, "outputs");
    if (outputs != NULL && h->json_type(outputs) != GANTRY_JSON_ARRAY &&
        h->json_type(outputs) != GANTRY_JSON_NULL) {
        snprintf(err, errlen, "\"outputs\" is not a list");
        return -1;
    }
    if (h->json_type(outputs) == GANTRY_JSON_ARRAY) {
        v->outputs = outputs;
        v->noutputs = h->json_count(outputs);
    }
    gantry_json_t *list = h->json_get(root, "assessments");
    if (h->json_type(list) == GANTRY_JSON_ARRAY) {
        for (gantry_json_t *e = h->json_first(list); e != NULL; e = h->json_next(e)) {
            if (h->json_type(e) == GANTRY_JSON_OBJECT)
                assessment(h, v, e);
        }
    }
    if (v->intervened) {
        /* The blocked messaging comes back as the output text of a block. */
        gantry_str_t msg = bg_output_text(h, v, 0);
        if (v->noutputs >= 1 && msg.ptr != NULL)
            bg_clean(msg, BG_MESSAGE_LEN, v->message, sizeof v->message);
        if (v->summary[0] == '\0')
            summary_add(v, "a policy intervened");
    }
    return 0;
}

bg_outcome_t bg_outcome(const bg_verdict_t *v)
{
    if (!v->intervened)
        return BG_PASS;
    /* Masked text is only usable when nothing was blocked: a block wins over anonymization, and an
     * intervention that names neither is taken as a block rather than let through. */
    if (v->anonymized && !v->blocked)
        return BG_MASK;
    return BG_BLOCK;
}

gantry_str_t bg_output_text(const gantry_host_t *h, const bg_verdict_t *v, size_t i)
{
    if (v->outputs == NULL || i >= v->noutputs)
        return GANTRY_STR_NULL;
    gantry_json_t *o = h->json_first(v->outputs);
    for (size_t k = 0; o != NULL && k < i; k++)
        o = h->json_next(o);
    if (h->json_type(o) != GANTRY_JSON_OBJECT)
        return GANTRY_STR_NULL;
    return member_str(h, o, "text");
}

void bg_error_message(const gantry_host_t *h, gantry_req_t *req, gantry_str_t body, char *out,
                      size_t len)
{
    gantry_json_t *root = h->json_parse(req, body);
    gantry_str_t m = member_str(h, root, "message");
    if (m.ptr == NULL)
        m = member_str(h, root, "Message");
    if (m.ptr == NULL)
        m = body; /* not AWS's JSON: show the start of whatever came */
    bg_clean(m, 200, out, len);
    if (root != NULL)
        h->json_release(req, root);
}
