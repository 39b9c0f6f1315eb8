/*
 * The fake provider: what an answer depends on in the canonical request.  The message texts give
 * the prompt token estimate and the seed of generated answers; max_tokens cuts the answer; and a
 * last user message "__fake_error__ <status> [<code>]" asks for an error, so that tests can
 * exercise retries, fallbacks and error mapping without a real upstream.
 */
#include <string.h>

#include "fake.h"

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static const char error_hook[] = "__fake_error__ ";

static uint64_t fnv1a(uint64_t h, gantry_str_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        h ^= (unsigned char)s.ptr[i];
        h *= FNV_PRIME;
    }
    return h;
}

static bool str_eq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* Sums the text of one message into the prompt; returns the text when it is a single piece. */
static gantry_str_t add_message(const gantry_host_t *host, const gantry_json_t *msg, uint64_t *hash,
                                uint64_t *bytes)
{
    const gantry_json_t *content = host->json_get(msg, "content");
    gantry_str_t single = GANTRY_STR_NULL;
    size_t pieces = 0;

    if (host->json_type(content) == GANTRY_JSON_STRING) {
        single = host->json_string(content);
        *hash = fnv1a(*hash, single);
        *bytes += single.len;
        pieces = 1;
    } else if (host->json_type(content) == GANTRY_JSON_ARRAY) {
        for (const gantry_json_t *part = host->json_first(content); part != NULL;
             part = host->json_next(part)) {
            gantry_str_t type = host->json_string(host->json_get(part, "type"));
            gantry_str_t text = host->json_string(host->json_get(part, "text"));
            if (text.ptr == NULL || (type.ptr != NULL && !str_eq(type, "text")))
                continue;
            *hash = fnv1a(*hash, text);
            *bytes += text.len;
            single = text;
            pieces++;
        }
    }
    /* A separator, so that ["ab", "c"] and ["a", "bc"] hash differently. */
    *hash = fnv1a(*hash, GANTRY_STR_LIT("\xff"));
    return pieces == 1 ? single : GANTRY_STR_NULL;
}

/* max_completion_tokens (the current name) wins over max_tokens; -1 when neither is usable. */
static int64_t read_max_tokens(const gantry_host_t *host, const gantry_json_t *body)
{
    static const char *const keys[] = {"max_completion_tokens", "max_tokens"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        double d;
        if (host->json_number(host->json_get(body, keys[i]), &d) == GANTRY_OK && d >= 0)
            return d < (double)UINT32_MAX ? (int64_t)d : (int64_t)UINT32_MAX;
    }
    return -1;
}

/* "__fake_error__ 429" or "__fake_error__ 400 context_length_exceeded"; other text is a prompt. */
static void read_error_hook(gantry_str_t text, fake_prompt_t *out)
{
    size_t n = sizeof(error_hook) - 1;
    if (text.len < n + 3 || memcmp(text.ptr, error_hook, n) != 0)
        return;
    int status = 0;
    for (size_t i = n; i < n + 3; i++) {
        if (text.ptr[i] < '0' || text.ptr[i] > '9')
            return;
        status = status * 10 + (text.ptr[i] - '0');
    }
    if (status < 400 || status > 599)
        return;
    gantry_str_t code = {text.ptr + n + 3, text.len - n - 3};
    if (code.len > 0) {
        if (code.ptr[0] != ' ' || code.len == 1)
            return;
        code.ptr++;
        code.len--;
        for (size_t i = 0; i < code.len; i++) {
            if (code.ptr[i] == ' ')
                return;
        }
    }
    out->error_status = status;
    out->error_code = code;
}

void fake_read_prompt(const gantry_host_t *host, gantry_req_t *req, fake_prompt_t *out)
{
    const gantry_json_t *body = host->req_body(req);
    const gantry_json_t *messages = host->json_get(body, "messages");
    uint64_t hash = FNV_OFFSET, bytes = 0;
    gantry_str_t last_user = GANTRY_STR_NULL;

    if (host->json_type(messages) == GANTRY_JSON_ARRAY) {
        for (const gantry_json_t *m = host->json_first(messages); m != NULL;
             m = host->json_next(m)) {
            gantry_str_t text = add_message(host, m, &hash, &bytes);
            if (str_eq(host->json_string(host->json_get(m, "role")), "user"))
                last_user = text;
        }
    }

    *out = (fake_prompt_t){
        .hash = hash,
        .prompt_tokens = bytes == 0 ? 1 : (int64_t)((bytes + 3) / 4),
        .max_tokens = read_max_tokens(host, body),
        .error_status = 0,
        .error_code = GANTRY_STR_NULL,
    };
    read_error_hook(last_user, out);
}
