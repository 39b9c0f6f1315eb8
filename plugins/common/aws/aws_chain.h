/*
 * aws_chain: how one provider finds credentials - the environment it was created under, its conf,
 * and the sources it tries.  Everything here but aws_env_capture() runs on the provider's
 * background thread; the environment is captured once on the main thread so that thread never
 * calls getenv() (which races with setenv()) and a provider behaves the same for its whole life.
 */
#ifndef GANTRY_AWS_CHAIN_H
#define GANTRY_AWS_CHAIN_H

#include "aws_internal.h"

#define AWS_ERR_LEN 512

typedef struct aws_env {
    char *access_key_id, *secret_access_key, *session_token; /* AWS_ACCESS_KEY_ID, ... */
    char *profile;                                           /* AWS_PROFILE */
    char *credentials_file, *config_file; /* resolved paths ($AWS_SHARED_CREDENTIALS_FILE, ~) */
    char *web_identity_token_file, *role_arn, *role_session_name;
    char *container_relative_uri, *container_full_uri;
    char *container_token, *container_token_file;
    char *imds_endpoint; /* resolved: override, IPv6 mode or the default address */
    bool imds_disabled;
    char *sts_endpoint; /* $AWS_ENDPOINT_URL_STS, else $AWS_ENDPOINT_URL */
    char *region;       /* $AWS_REGION, else $AWS_DEFAULT_REGION */
} aws_env_t;

/* Main thread.  -1 when out of memory. */
int aws_env_capture(aws_env_t *env);
void aws_env_free(aws_env_t *env);
/* "name=value\n" for every field: part of the key under which providers are shared. */
void aws_env_key(const aws_env_t *env, aws_buf_t *key);

/* A whole small file (token files, the shared files) in a malloc'd NUL-terminated string; NULL
 * with errno set (ENOENT for a missing file, EFBIG past max). */
char *aws_read_file(const char *path, size_t max, size_t *len);

/* The "region" of a profile in the shared config file, malloc'd, or NULL. */
char *aws_profile_region(const char *config_file, const char *profile);

/* Credentials as one fetch returned them, before they are published. */
typedef struct aws_fetched {
    char *access_key_id, *secret_access_key, *session_token;
    int64_t expires_ms; /* 0: no expiration given */
    bool renewable;     /* temporary credentials from an endpoint: fetched again even without an
                           expiration; static keys are not */
    char source[96];
} aws_fetched_t;

void aws_fetched_free(aws_fetched_t *f);

typedef struct aws_chain {
    /* the conf, copied */
    char *access_key_id, *secret_access_key, *session_token, *profile, *role_arn, *session_name,
        *web_identity_token_file, *sts_endpoint, *region;
    aws_env_t env;
    const _Atomic bool *cancel;
    int sticky;         /* the default-chain source that worked last, -1 before one did */
    aws_fetched_t base; /* the credentials conf role_arn is assumed with, reused while fresh */
    bool have_base;
} aws_chain_t;

/* One attempt of the whole chain: 0 with out filled, or -1 with err naming the source and why. */
int aws_chain_fetch(aws_chain_t *c, aws_fetched_t *out, char *err, size_t errlen);
void aws_chain_free(aws_chain_t *c);

int64_t aws_now_ms(void); /* wall clock, unix milliseconds */

/* ---- sources (aws_source_*.c): 0 ok, -1 failed (err set), 1 not configured (err says why) ---- */

int aws_src_container(const aws_chain_t *c, aws_fetched_t *out, char *err, size_t errlen);
int aws_src_imds(const aws_chain_t *c, aws_fetched_t *out, char *err, size_t errlen);
int aws_src_profile(aws_chain_t *c, aws_fetched_t *out, char *err, size_t errlen);

/* The container credentials URL from the two variables (relative wins, as in the SDKs); -1 with
 * err when the full URI is not allowed (plain http only to loopback and the ECS/EKS agents). */
int aws_container_url(const char *relative, const char *full, char *out, size_t outlen, char *err,
                      size_t errlen);

/* Credentials in the JSON shape of the container and instance metadata endpoints. */
int aws_creds_from_json(const char *json, size_t len, aws_fetched_t *out, char *err, size_t errlen);
/* Credentials fit to be sent in headers: printable ASCII without spaces. */
bool aws_creds_text_ok(const char *s);

/* ---- STS (aws_sts.c) ---- */

/* The region STS calls are signed for and the endpoint they go to (conf, env, shared config file,
 * else us-east-1 and the regional endpoint). */
void aws_sts_target(const aws_chain_t *c, char *region, size_t rlen, char *endpoint, size_t elen);
int aws_sts_assume_role(const aws_chain_t *c, const aws_fetched_t *base, const char *role_arn,
                        const char *session, const char *external_id, const char *duration,
                        aws_fetched_t *out, char *err, size_t errlen);
int aws_sts_web_identity(const aws_chain_t *c, const char *role_arn, const char *session,
                         const char *token_file, aws_fetched_t *out, char *err, size_t errlen);
/* An STS response (any status) to credentials or an error naming the STS code and message. */
int aws_sts_parse(const char *action, long status, const char *body, size_t len, aws_fetched_t *out,
                  char *err, size_t errlen);

#endif
