/*
 * master-key: internal declarations shared by the runtime (master_key.c) and the configuration
 * (master_key_conf.c).  Nothing here is exported: the plugin is built with hidden visibility and
 * gantry_plugin_describe() is its only public symbol.
 */
#ifndef GANTRY_PLUGIN_MASTER_KEY_H
#define GANTRY_PLUGIN_MASTER_KEY_H

#include <gantry/gantry.h>

#include <openssl/evp.h>

#define MK_DIGEST_LEN 32 /* SHA-256 */

/* Instance state: read-only after create(), shared by every worker thread without locks. */
typedef struct mk_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
    const char *name; /* instance name, borrowed from the host for the instance's life */
    /*
     * Only the digest of the key is kept.  Comparing digests with CRYPTO_memcmp() takes the same
     * time whatever the candidate's length or content, and the key itself never sits in our memory.
     */
    unsigned char key_digest[MK_DIGEST_LEN];
    /*
     * SHA-256, fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up in its provider
     * store on every digest, which cost as much as the hashing itself.  A fetched EVP_MD may be
     * used by several threads at once.
     */
    EVP_MD *sha256;
} mk_instance_t;

/*
 * SHA-256 of `len` bytes into `out`, with the worker's context `ctx` (reused from request to
 * request, so that no context is allocated per digest), or a one-off context when ctx is NULL.
 * False when libcrypto fails (allocation failure).
 */
bool mk_digest(const mk_instance_t *mk, EVP_MD_CTX *ctx, const void *data, size_t len,
               unsigned char out[MK_DIGEST_LEN]);

/* The auth phase callback (master_key.c). */
gantry_action_t mk_authenticate(gantry_req_t *req, void *state, void *worker_state);

#endif
