/*
 * pii scanner: entity names, the match list, running the detectors, merging and masking, and
 * the check of a whole text.
 */
#include "pii_detect.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    const char *label;
} entities[PII_NENTITIES] = {
    [PII_EMAIL] = {"email", "EMAIL"},
    [PII_PHONE] = {"phone", "PHONE"},
    [PII_CREDIT_CARD] = {"credit_card", "CREDIT_CARD"},
    [PII_IBAN] = {"iban", "IBAN"},
    [PII_AWS_ACCESS_KEY] = {"aws_access_key", "AWS_ACCESS_KEY"},
    [PII_AWS_SECRET_KEY] = {"aws_secret_key", "AWS_SECRET_KEY"},
    [PII_IPV4] = {"ipv4", "IPV4"},
    [PII_IPV6] = {"ipv6", "IPV6"},
    [PII_PRIVATE_KEY] = {"private_key", "PRIVATE_KEY"},
    [PII_GITHUB_TOKEN] = {"github_token", "GITHUB_TOKEN"},
    [PII_SLACK_TOKEN] = {"slack_token", "SLACK_TOKEN"},
    [PII_OPENAI_KEY] = {"openai_key", "OPENAI_KEY"},
    [PII_GOOGLE_API_KEY] = {"google_api_key", "GOOGLE_API_KEY"},
    [PII_JWT] = {"jwt", "JWT"},
    [PII_STRIPE_KEY] = {"stripe_key", "STRIPE_KEY"},
};

/* Other names people use for the same entities (LiteLLM's Presidio integration among them). */
static const struct {
    const char *name;
    uint32_t bits;
} aliases[] = {
    {"email_address", 1u << PII_EMAIL},
    {"phone_number", 1u << PII_PHONE},
    {"iban_code", 1u << PII_IBAN},
    {"ip_address", (1u << PII_IPV4) | (1u << PII_IPV6)},
    {"aws_access_key_id", 1u << PII_AWS_ACCESS_KEY},
    {"aws_secret_access_key", 1u << PII_AWS_SECRET_KEY},
};

const char *pii_entity_name(pii_entity_t e)
{
    return (unsigned)e < PII_NENTITIES ? entities[e].name : "unknown";
}

const char *pii_entity_label(pii_entity_t e)
{
    return (unsigned)e < PII_NENTITIES ? entities[e].label : "UNKNOWN";
}

static bool name_is(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);

    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if ((pii_upper(c) ? c - 'A' + 'a' : c) != lit[i])
            return false;
    }
    return true;
}

uint32_t pii_entity_lookup(const char *name, size_t len)
{
    for (unsigned e = 0; e < PII_NENTITIES; e++) {
        if (name_is(name, len, entities[e].name))
            return 1u << e;
    }
    for (size_t k = 0; k < sizeof(aliases) / sizeof(aliases[0]); k++) {
        if (name_is(name, len, aliases[k].name))
            return aliases[k].bits;
    }
    return 0;
}

/* ---- the match list ---- */

void pii_add(pii_list_t *l, size_t start, size_t end, pii_entity_t e, bool open)
{
    if (l->nomem || end <= start)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap != 0 ? l->cap * 2 : 16;
        pii_match_t *v;

        if (cap > SIZE_MAX / sizeof(*v)) {
            l->nomem = true;
            return;
        }
        v = l->mem->realloc_fn(l->v, cap * sizeof(*v));
        if (v == NULL) {
            l->nomem = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (pii_match_t){.start = start, .end = end, .entity = (uint8_t)e, .open = open};
}

bool pii_scan(const pii_text_t *t, uint32_t enabled, pii_list_t *out)
{
    if (enabled & (1u << PII_PRIVATE_KEY))
        pii_find_pem(t, out);
    if (enabled & (1u << PII_EMAIL))
        pii_find_email(t, out);
    if (enabled & (1u << PII_CREDIT_CARD))
        pii_find_card(t, out);
    if (enabled & (1u << PII_IBAN))
        pii_find_iban(t, out);
    if (enabled & (1u << PII_PHONE))
        pii_find_phone(t, out);
    if (enabled & ((1u << PII_AWS_ACCESS_KEY) | (1u << PII_AWS_SECRET_KEY)))
        pii_find_aws(t, enabled, out);
    if (enabled & ((1u << PII_IPV4) | (1u << PII_IPV6)))
        pii_find_ip(t, enabled, out);
    if (enabled & ((1u << PII_GITHUB_TOKEN) | (1u << PII_SLACK_TOKEN) | (1u << PII_OPENAI_KEY) |
                   (1u << PII_GOOGLE_API_KEY) | (1u << PII_JWT) | (1u << PII_STRIPE_KEY)))
        pii_find_tokens(t, enabled, out);
    return !out->nomem;
}

/* By start, then longest first, then entity: a total order, so that a text split into stream
 * pieces merges exactly as the whole text does. */
static int by_start(const void *a, const void *b)
{
    const pii_match_t *x = a, *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end > y->end ? -1 : 1;
    return (int)x->entity - (int)y->entity;
}

void pii_merge(pii_list_t *l)
{
    size_t k = 0;

    if (l->n < 2)
        return;
    qsort(l->v, l->n, sizeof(*l->v), by_start);
    for (size_t i = 1; i < l->n; i++) {
        pii_match_t *cur = &l->v[k];

        if (l->v[i].start < cur->end) {
            if (l->v[i].end > cur->end)
                cur->end = l->v[i].end;
            cur->open |= l->v[i].open;
        } else {
            l->v[++k] = l->v[i];
        }
    }
    l->n = k + 1;
}

/* ---- masking ---- */

void pii_buf_free(const pii_mem_t *mem, pii_buf_t *b)
{
    mem->free_fn(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

/* Append n bytes, keeping a NUL after them. */
bool pii_buf_put(const pii_mem_t *mem, pii_buf_t *b, const char *p, size_t n)
{
    if (b->ptr == NULL || n >= b->cap - b->len) {
        size_t cap = b->cap != 0 ? b->cap : 128;
        char *q;

        if (b->len + n + 1 < b->len)
            return false;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2)
                return false;
            cap *= 2;
        }
        q = mem->realloc_fn(b->ptr, cap);
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

bool pii_mask_range(const pii_rules_t *r, const pii_mem_t *mem, const char *s, size_t from,
                    size_t to, const pii_list_t *merged, pii_buf_t *out, bool *masked)
{
    size_t at = from;

    for (size_t i = 0; i < merged->n; i++) {
        const pii_match_t *m = &merged->v[i];

        if (m->start < from || m->end > to)
            continue;
        if (!pii_buf_put(mem, out, s + at, m->start - at) ||
            !pii_buf_put(mem, out, r->repl[m->entity], r->repl_len[m->entity]))
            return false;
        at = m->end;
        *masked = true;
    }
    return pii_buf_put(mem, out, s + at, to - at);
}

const pii_match_t *pii_first_block(const pii_rules_t *r, const pii_list_t *raw, bool final,
                                   size_t before)
{
    const pii_match_t *best = NULL;

    for (size_t i = 0; i < raw->n; i++) {
        const pii_match_t *m = &raw->v[i];

        if (!(r->block & (1u << m->entity)) || (m->open && !final && m->start >= before))
            continue;
        if (best == NULL || m->start < best->start)
            best = m;
    }
    return best;
}

pii_verdict_t pii_check_text(const pii_rules_t *r, const pii_mem_t *mem, const char *s, size_t len,
                             pii_buf_t *out, pii_entity_t *blocked)
{
    pii_list_t list = {.mem = mem};
    pii_text_t t = {.s = s, .len = len, .from = 0};
    const pii_match_t *b;
    pii_verdict_t v = PII_CLEAN;
    bool masked = false;

    out->len = 0;
    if (!pii_scan(&t, r->enabled, &list)) {
        v = PII_NOMEM;
        goto done;
    }
    if ((b = pii_first_block(r, &list, true, 0)) != NULL) {
        *blocked = (pii_entity_t)b->entity;
        v = PII_BLOCKED;
        goto done;
    }
    if (list.n == 0)
        goto done;
    pii_merge(&list);
    if (!pii_mask_range(r, mem, s, 0, len, &list, out, &masked))
        v = PII_NOMEM;
    else
        v = masked ? PII_MASKED : PII_CLEAN;
done:
    mem->free_fn(list.v);
    return v;
}
