/*
 * aws: what the AWS-facing plugins share (bedrock, sagemaker, the Bedrock guardrail): SigV4 request
 * signing and the AWS credential provider chain.  Built as a static library linked into each of
 * those plugins; it uses OpenSSL's libcrypto and, for credential fetches only, libcurl on a
 * background thread of its own - never on a worker loop.
 */
#ifndef GANTRY_AWS_H
#define GANTRY_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- credentials ---- */

/* One set of credentials.  Immutable once published. */
typedef struct aws_creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;     /* NULL for long-term keys */
    int64_t expires_unix_ms; /* 0: does not expire */
    const char *source;      /* "static", "env", "profile:<name>", "container", "web-identity",
                                "assume-role", "imds": for logs */
} aws_creds_t;

/* Where credentials come from: the deployment's own settings; everything unset falls back to the
 * default chain (environment, shared files, web identity, container, IMDSv2) as AWS SDKs do. */
typedef struct aws_cred_conf {
    const char *access_key_id;     /* aws_access_key_id */
    const char *secret_access_key; /* aws_secret_access_key */
    const char *session_token;     /* aws_session_token */
    const char *profile;           /* aws_profile_name; else $AWS_PROFILE; else "default" */
    const char *role_arn;          /* aws_role_name: assume this role with the base credentials */
    const char *session_name;      /* aws_session_name; default "gantry-<pid>" */
    const char *web_identity_token_file; /* aws_web_identity_token (a file path) + role_arn */
    const char *sts_endpoint; /* aws_sts_endpoint; else $AWS_ENDPOINT_URL_STS; else regional */
    const char *region;       /* for the STS endpoint and as the default signing region */
} aws_cred_conf_t;

typedef struct aws_cred_provider aws_cred_provider_t;

/*
 * Create (or share: an identical conf returns the same provider, reference counted) a credential
 * provider.  Static keys are ready at once; any other source is fetched on the provider's
 * background thread, starting now, and refreshed 5 minutes before expiry (retries with back-off on
 * failure). The environment is read here, once: the provider keeps using what it saw.  Sharing is
 * per copy of this library, i.e. per plugin .so.  Main thread.  NULL with a message in err on a
 * configuration error (keys without their secret, a web identity token without a role, ...).
 *
 * A plugin must release every provider before it is unloaded: release stops and joins the thread.
 */
aws_cred_provider_t *aws_creds_new(const aws_cred_conf_t *conf, char *err, size_t errlen);
/* Main thread.  Cancels a fetch in flight (returns within ~50 ms), frees every snapshot: no reader
 * may hold one past this call. */
void aws_creds_release(aws_cred_provider_t *p);

/*
 * The current credentials, or NULL when none are available yet / the chain failed / they expired
 * without a successful refresh (then aws_creds_error() says why).  Never blocks: an atomic load and
 * a clock read.  The snapshot stays valid for at least 60 seconds after it was replaced, so copy
 * what you need within the callback.  Any thread.
 */
const aws_creds_t *aws_creds_get(aws_cred_provider_t *p);
/* The last failure of the chain ("" when none); copies into buf.  Any thread. */
void aws_creds_error(aws_cred_provider_t *p, char *buf, size_t len);
/* True while the first fetch has not finished yet (success or failure).  Any thread. */
bool aws_creds_pending(aws_cred_provider_t *p);

/* The region from the environment ($AWS_REGION, $AWS_DEFAULT_REGION) or the shared config file's
 * profile; NULL when none.  Returns a static/interned string.  Main thread. */
const char *aws_default_region(const char *profile);

/* ---- SigV4 ---- */

typedef struct aws_header {
    const char *name; /* any case; signed lowercase */
    size_t name_len;
    const char *value;
    size_t value_len;
} aws_header_t;

typedef struct aws_sign_in {
    const char *method; /* "POST" */
    const char *url;    /* the URL exactly as it is sent: scheme://host[:port]/path?query, with the
                           path already URI-encoded once (e.g. "%3A" for ':' in model ids).  The
                           path's bytes are encoded again for the canonical URI ('%' -> "%25"), so
                           a raw byte ("/a b") signs as its encoding; query parameters are decoded
                           and re-encoded ('+' is a literal plus: send spaces as %20) */
    const aws_header_t
        *headers; /* headers that will be sent and must be signed (content-type, ...);
                     host, x-amz-date, x-amz-content-sha256 and x-amz-security-token
                     are added by the signer and must not be listed */
    size_t nheaders;
    const void *body;
    size_t body_len;
    const char *region;  /* "us-east-1" */
    const char *service; /* "bedrock", "sagemaker", "sts", ... */
    const aws_creds_t *creds;
    time_t now;         /* request time (UTC seconds) */
    bool s3_style_path; /* false (every service we call): path segments are encoded a second time
                           in the canonical URI and "." / ".." / "//" are normalised */
} aws_sign_in_t;

/* Headers the caller must add to the request, NUL-terminated values. */
typedef struct aws_sign_out {
    char authorization[1024];
    char amz_date[17];          /* x-amz-date: YYYYMMDD'T'HHMMSS'Z' */
    char content_sha256[65];    /* x-amz-content-sha256 (hex); sending it is optional */
    const char *security_token; /* x-amz-security-token, or NULL (points into creds) */
    char host[256];             /* host header value (host[:port] as in the URL, default ports
                                   omitted) */
} aws_sign_out_t;

/* 0, or -1 on malformed input (bad URL, userinfo in it, a header the signer owns listed in
 * headers, a header name with ':' ';' or controls, a NUL in a value, more than 124 headers, an
 * Authorization longer than out->authorization).  Pure; any thread. */
int aws_sigv4_sign(const aws_sign_in_t *in, aws_sign_out_t *out);

/*
 * The pieces, exposed for the AWS test-suite vectors and the fuzz target: the canonical request and
 * the string to sign, written into malloc'd strings the caller frees.  `headers` here are the full
 * signed set (the test vectors list host and x-amz-date themselves).
 */
int aws_sigv4_canonical_request(const aws_sign_in_t *in, char **out);
int aws_sigv4_string_to_sign(const aws_sign_in_t *in, const char *canonical_request, char **out);
/* The Authorization header value for exactly `in->headers` as the signed set (nothing added), as
 * the test-suite vectors need it; aws_sigv4_sign() is this plus its own headers.  0 or -1. */
int aws_sigv4_authorization(const aws_sign_in_t *in, char *out, size_t outlen);

/* Helpers: lowercase hex SHA-256, and URI-encoding per SigV4 (unreserved A-Z a-z 0-9 - . _ ~ kept;
 * '/' kept when keep_slash; everything else %XX in upper case).  aws_uri_encode returns the length
 * of the whole encoding and, like snprintf, writes what fits of it NUL-terminated (out may be NULL
 * with outlen 0 to measure). */
void aws_sha256_hex(const void *data, size_t len, char out[65]);
size_t aws_uri_encode(const char *in, size_t len, bool keep_slash, char *out, size_t outlen);

#endif
