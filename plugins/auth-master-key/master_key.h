/*
 * master-key: internal declarations shared by the runtime (master_key.c) and the configuration
 * (master_key_conf.c).  Nothing here is exported: the plugin is built with hidden visibility and
 * gantry_plugin_describe() is its only public symbol.
 */
#ifndef GANTRY_PLUGIN_MASTER_KEY_H
#define GANTRY_PLUGIN_MASTER_KEY_H

#include <gantry/gantry.h>

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
} mk_instance_t;

/* SHA-256 of `len` bytes into `out`; false when libcrypto fails (allocation failure). */
bool mk_digest(const void *data, size_t len, unsigned char out[MK_DIGEST_LEN]);

/* The auth phase callback (master_key.c). */
gantry_action_t mk_authenticate(gantry_req_t *req, void *state, void *worker_state);

#endif
