/*
 * master-key: the runtime.  Finds the caller's credential in the request headers and accepts the
 * request as the proxy admin when it equals the configured key.
 */
#include "master_key.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

bool mk_digest(const mk_instance_t *mk, EVP_MD_CTX *ctx, const void *data, size_t len,
               unsigned char out[MK_DIGEST_LEN])
{
    unsigned int out_len = 0;

    /* EVP, not SHA256(): EVP is the interface OpenSSL 3 keeps undeprecated. */
    if (ctx == NULL) {
        if (EVP_Digest(data, len, out, &out_len, mk->sha256, NULL) != 1)
            return false;
    } else if (EVP_DigestInit_ex2(ctx, mk->sha256, NULL) != 1 ||
               EVP_DigestUpdate(ctx, data, len) != 1 ||
               EVP_DigestFinal_ex(ctx, out, &out_len) != 1) {
        return false;
    }
    return out_len == MK_DIGEST_LEN;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Strip spaces and tabs on both ends; header values may carry optional whitespace (RFC 9110). */
static gantry_str_t trim(gantry_str_t s)
{
    while (s.len > 0 && is_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/*
 * The token of an "Authorization: Bearer <token>" header.  The scheme is case-insensitive
 * (RFC 9110 §11.1); any other scheme (Basic, ...) yields an empty result so that the caller falls
 * back to the api-key headers.
 */
static gantry_str_t bearer_token(gantry_str_t value)
{
    static const char scheme[] = "bearer";
    const size_t n = sizeof(scheme) - 1;

    value = trim(value);
    if (value.len <= n || !is_space(value.ptr[n]))
        return GANTRY_STR_NULL;
    for (size_t i = 0; i < n; i++) {
        if (lower(value.ptr[i]) != scheme[i])
            return GANTRY_STR_NULL;
    }
    value.ptr += n;
    value.len -= n;
    return trim(value);
}

/*
 * The request's credential: the Bearer token, else x-api-key, else api-key (the header Azure
 * OpenAI clients send).  Returns an empty string when the request carries none.
 */
static gantry_str_t find_credential(const gantry_host_t *host, gantry_req_t *req)
{
    gantry_str_t value;

    if (host->req_header(req, "authorization", &value) == GANTRY_OK) {
        gantry_str_t token = bearer_token(value);
        if (token.len > 0)
            return token;
    }
    if (host->req_header(req, "x-api-key", &value) == GANTRY_OK) {
        value = trim(value);
        if (value.len > 0)
            return value;
    }
    if (host->req_header(req, "api-key", &value) == GANTRY_OK) {
        value = trim(value);
        if (value.len > 0)
            return value;
    }
    return GANTRY_STR_NULL;
}

gantry_action_t mk_authenticate(gantry_req_t *req, void *state, void *worker_state)
{
    const mk_instance_t *mk = state;
    const gantry_host_t *host = mk->host;
    unsigned char digest[MK_DIGEST_LEN];
    gantry_principal_t principal;
    gantry_str_t cred;
    int rc;

    /* No credential: not ours to judge.  The core answers 401 when no auth plugin accepts. */
    cred = find_credential(host, req);
    if (cred.len == 0)
        return GANTRY_CONTINUE;

    /* worker_state is the worker's EVP_MD_CTX, or NULL when worker_init() failed. */
    if (!mk_digest(mk, worker_state, cred.ptr, cred.len, digest)) {
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "server_error", NULL,
                              "Authentication failed: internal error in '%s'", mk->name);
    }
    /*
     * A credential that is not the master key may belong to another auth plugin (virtual keys), so
     * a mismatch is not a rejection.  The comparison of fixed-size digests runs in constant time.
     */
    rc = CRYPTO_memcmp(digest, mk->key_digest, MK_DIGEST_LEN);
    OPENSSL_cleanse(digest, sizeof(digest));
    if (rc != 0)
        return GANTRY_CONTINUE;

    principal = (gantry_principal_t){
        .size = sizeof(principal),
        .id = GANTRY_STR_LIT("master-key"),
        .name = {mk->name, strlen(mk->name)},
        .role = GANTRY_STR_LIT("proxy_admin"),
        .user_id = GANTRY_STR_NULL,
        .team_id = GANTRY_STR_NULL,
    };
    if (host->req_set_principal(req, &principal) < 0) {
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "server_error", NULL,
                              "Authentication failed: could not record the principal");
    }
    return GANTRY_CONTINUE;
}
