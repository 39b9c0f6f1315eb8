/*
 * aws_chain: the default credential chain, in the AWS SDKs' order - keys in the conf, the
 * environment, the shared files' profile, web identity from the environment, container
 * credentials, EC2 instance metadata - and the conf-level web identity / AssumeRole on top.
 *
 * The first source that is configured is the one used: when it fails, its error is the chain's
 * error (a container whose agent hiccups must not silently fall back to the instance's role).
 * The source that worked is remembered, so a refresh asks it again without walking the chain; the
 * chain is walked afresh only after it failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "aws_chain.h"

#define MAX_PROFILE_DEPTH 5
#define BASE_MARGIN_MS (5 * 60 * 1000)

void aws_fetched_free(aws_fetched_t *f)
{
    free(f->access_key_id);
    aws_free_secret(f->secret_access_key);
    aws_free_secret(f->session_token);
    memset(f, 0, sizeof *f);
}

void aws_chain_free(aws_chain_t *c)
{
    free(c->access_key_id);
    aws_free_secret(c->secret_access_key);
    aws_free_secret(c->session_token);
    free(c->profile);
    free(c->role_arn);
    free(c->session_name);
    free(c->web_identity_token_file);
    free(c->sts_endpoint);
    free(c->region);
    aws_env_free(&c->env);
    aws_fetched_free(&c->base);
    c->have_base = false;
}

static int static_keys(const char *ak, const char *sk, const char *token, const char *label,
                       aws_fetched_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (ak == NULL || sk == NULL) {
        snprintf(err, errlen, "%s: an access key id without a secret access key, or the reverse",
                 label);
        return -1;
    }
    if (!aws_creds_text_ok(ak) || !aws_creds_text_ok(sk) ||
        (token != NULL && !aws_creds_text_ok(token))) {
        snprintf(err, errlen, "%s: the keys hold spaces or control characters", label);
        return -1;
    }
    out->access_key_id = strdup(ak);
    out->secret_access_key = strdup(sk);
    out->session_token = token != NULL ? strdup(token) : NULL;
    if (out->access_key_id == NULL || out->secret_access_key == NULL ||
        (token != NULL && out->session_token == NULL)) {
        aws_fetched_free(out);
        snprintf(err, errlen, "%s: out of memory", label);
        return -1;
    }
    snprintf(out->source, sizeof out->source, "%s", label);
    return 0;
}

/* ---- the shared files ---- */

typedef struct files {
    aws_ini_t *cred, *conf;
    const char *cred_path, *conf_path;
} files_t;

static int load_one(const char *path, bool config_file, aws_ini_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (path == NULL)
        return 0;
    size_t len;
    char *text = aws_read_file(path, 1 << 20, &len);
    if (text == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        snprintf(err, errlen, "profile: cannot read %.200s: %s", path, strerror(errno));
        return -1;
    }
    *out = aws_ini_parse(text, len, config_file);
    OPENSSL_cleanse(text, len); /* the credentials file is all secrets */
    free(text);
    if (*out == NULL) {
        snprintf(err, errlen, "profile: out of memory reading %.200s", path);
        return -1;
    }
    return 0;
}

/* The credentials file wins over the config file for the same profile, as in the SDKs. */
static const char *pget(const files_t *f, const char *profile, const char *key)
{
    const char *v = aws_ini_get(f->cred, profile, key);
    return v != NULL ? v : aws_ini_get(f->conf, profile, key);
}

static bool phas(const files_t *f, const char *profile)
{
    return aws_ini_has_profile(f->cred, profile) || aws_ini_has_profile(f->conf, profile);
}

static int resolve_profile(aws_chain_t *c, const files_t *f, const char *name, int depth,
                           aws_fetched_t *out, char *err, size_t errlen);

/* A profile's role: assumed with the credentials of its source_profile or credential_source, or
 * with a web identity token file. */
static int profile_role(aws_chain_t *c, const files_t *f, const char *name, int depth,
                        const char *role, aws_fetched_t *out, char *err, size_t errlen)
{
    const char *session = pget(f, name, "role_session_name");
    if (session == NULL)
        session = c->session_name;
    const char *wif = pget(f, name, "web_identity_token_file");
    if (wif != NULL)
        return aws_sts_web_identity(c, role, session, wif, out, err, errlen);
    if (pget(f, name, "mfa_serial") != NULL) {
        snprintf(err, errlen, "profile %s: roles that need an MFA code are not supported", name);
        return -1;
    }
    aws_fetched_t base;
    int rc;
    const char *sp = pget(f, name, "source_profile");
    const char *cs = pget(f, name, "credential_source");
    if (sp != NULL) {
        if (depth + 1 >= MAX_PROFILE_DEPTH) {
            snprintf(err, errlen, "profile %s: source_profile chain too long (a loop?)", name);
            return -1;
        }
        if (strcmp(sp, name) == 0) { /* a profile that assumes its role with its own keys */
            rc = static_keys(pget(f, name, "aws_access_key_id"),
                             pget(f, name, "aws_secret_access_key"),
                             pget(f, name, "aws_session_token"), "profile", &base, err, errlen);
            snprintf(base.source, sizeof base.source, "profile:%s", name);
        } else if (!phas(f, sp)) {
            snprintf(err, errlen, "profile %s: source_profile %s not found", name, sp);
            return -1;
        } else {
            rc = resolve_profile(c, f, sp, depth + 1, &base, err, errlen);
            if (rc == 1) {
                snprintf(err, errlen, "profile %s: source_profile %s has no credentials", name, sp);
                rc = -1;
            }
        }
    } else if (cs != NULL) {
        if (strcmp(cs, "Environment") == 0)
            rc = static_keys(c->env.access_key_id, c->env.secret_access_key, c->env.session_token,
                             "env", &base, err, errlen);
        else if (strcmp(cs, "Ec2InstanceMetadata") == 0)
            rc = aws_src_imds(c, &base, err, errlen);
        else if (strcmp(cs, "EcsContainer") == 0)
            rc = aws_src_container(c, &base, err, errlen);
        else {
            snprintf(err, errlen, "profile %s: unknown credential_source %s", name, cs);
            return -1;
        }
        if (rc == 1)
            rc = -1; /* named explicitly, so not being configured is an error */
    } else {
        snprintf(err, errlen,
                 "profile %s: role_arn needs source_profile, credential_source or "
                 "web_identity_token_file",
                 name);
        return -1;
    }
    if (rc != 0)
        return -1;
    rc = aws_sts_assume_role(c, &base, role, session, pget(f, name, "external_id"),
                             pget(f, name, "duration_seconds"), out, err, errlen);
    aws_fetched_free(&base);
    return rc;
}

static int resolve_profile(aws_chain_t *c, const files_t *f, const char *name, int depth,
                           aws_fetched_t *out, char *err, size_t errlen)
{
    const char *role = pget(f, name, "role_arn");
    if (role != NULL)
        return profile_role(c, f, name, depth, role, out, err, errlen);
    const char *ak = pget(f, name, "aws_access_key_id");
    const char *sk = pget(f, name, "aws_secret_access_key");
    if (ak != NULL || sk != NULL) {
        char label[96];
        snprintf(label, sizeof label, "profile:%s", name);
        return static_keys(ak, sk, pget(f, name, "aws_session_token"), label, out, err, errlen);
    }
    if (pget(f, name, "credential_process") != NULL) {
        snprintf(err, errlen, "profile %s: credential_process is not supported", name);
        return -1;
    }
    if (pget(f, name, "sso_session") != NULL || pget(f, name, "sso_start_url") != NULL) {
        snprintf(err, errlen, "profile %s: SSO profiles are not supported", name);
        return -1;
    }
    if (pget(f, name, "web_identity_token_file") != NULL) {
        snprintf(err, errlen, "profile %s: web_identity_token_file needs role_arn", name);
        return -1;
    }
    snprintf(err, errlen, "profile %s: no credentials in it", name);
    return 1;
}

int aws_src_profile(aws_chain_t *c, aws_fetched_t *out, char *err, size_t errlen)
{
    files_t f = {NULL, NULL, c->env.credentials_file, c->env.config_file};
    if (load_one(f.cred_path, false, &f.cred, err, errlen) != 0 ||
        load_one(f.conf_path, true, &f.conf, err, errlen) != 0) {
        aws_ini_free(f.cred);
        return -1;
    }
    const char *name = c->profile != NULL ? c->profile : c->env.profile;
    bool named = name != NULL;
    if (name == NULL)
        name = "default";
    int rc;
    if (!phas(&f, name)) {
        snprintf(err, errlen, "profile %.64s: not found in %.150s or %.150s", name,
                 f.cred_path ? f.cred_path : "(no credentials file)",
                 f.conf_path ? f.conf_path : "(no config file)");
        rc = named ? -1 : 1; /* a profile asked for by name must exist */
    } else {
        rc = resolve_profile(c, &f, name, 0, out, err, errlen);
        if (rc == 1 && named)
            rc = -1;
    }
    aws_ini_free(f.cred);
    aws_ini_free(f.conf);
    return rc;
}

/* ---- the chain ---- */

enum { SRC_CONF, SRC_ENV, SRC_PROFILE, SRC_WEB_ENV, SRC_CONTAINER, SRC_IMDS, SRC_N };

static int try_source(aws_chain_t *c, int i, aws_fetched_t *out, char *err, size_t errlen)
{
    const aws_env_t *e = &c->env;
    switch (i) {
    case SRC_CONF:
        if (c->access_key_id == NULL) {
            snprintf(err, errlen, "conf: no keys");
            return 1;
        }
        return static_keys(c->access_key_id, c->secret_access_key, c->session_token, "static", out,
                           err, errlen);
    case SRC_ENV:
        /* A profile named in the conf is what the deployment asked for, as with an explicit
         * profile in the SDKs: the environment's keys do not override it. */
        if (c->profile != NULL) {
            snprintf(err, errlen, "env: not used with an explicit profile");
            return 1;
        }
        if (e->access_key_id == NULL && e->secret_access_key == NULL) {
            snprintf(err, errlen, "env: AWS_ACCESS_KEY_ID not set");
            return 1;
        }
        return static_keys(e->access_key_id, e->secret_access_key, e->session_token, "env", out,
                           err, errlen);
    case SRC_PROFILE:
        return aws_src_profile(c, out, err, errlen);
    case SRC_WEB_ENV:
        if (e->web_identity_token_file == NULL || e->role_arn == NULL) {
            snprintf(err, errlen, "web-identity: AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN not set");
            return 1;
        }
        return aws_sts_web_identity(c, e->role_arn,
                                    e->role_session_name ? e->role_session_name : c->session_name,
                                    e->web_identity_token_file, out, err, errlen);
    case SRC_CONTAINER:
        return aws_src_container(c, out, err, errlen);
    default:
        return aws_src_imds(c, out, err, errlen);
    }
}

static int fetch_default(aws_chain_t *c, aws_fetched_t *out, char *err, size_t errlen)
{
    char why[AWS_ERR_LEN];
    if (c->sticky >= 0) {
        int rc = try_source(c, c->sticky, out, err, errlen);
        if (rc == 0)
            return 0;
        c->sticky = -1; /* walk the chain on the next attempt */
        if (rc < 0)
            return -1;
    }
    aws_buf_t notes = {0};
    for (int i = 0; i < SRC_N; i++) {
        int rc = try_source(c, i, out, why, sizeof why);
        if (rc == 0) {
            c->sticky = i;
            aws_buf_free(&notes);
            return 0;
        }
        if (rc < 0) {
            if (i == SRC_IMDS) /* reached only when nothing else is configured: say so */
                snprintf(err, errlen, "%.450s (no other source configured)", why);
            else
                snprintf(err, errlen, "%s", why);
            aws_buf_free(&notes);
            return -1;
        }
        if (notes.len > 0)
            aws_buf_puts(&notes, "; ");
        aws_buf_puts(&notes, why);
    }
    snprintf(err, errlen, "no AWS credentials found (%s)", notes.p != NULL ? notes.p : "");
    aws_buf_free(&notes);
    return -1;
}

int aws_chain_fetch(aws_chain_t *c, aws_fetched_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (c->web_identity_token_file != NULL)
        return aws_sts_web_identity(c, c->role_arn, c->session_name, c->web_identity_token_file,
                                    out, err, errlen);
    if (c->role_arn == NULL)
        return fetch_default(c, out, err, errlen);
    /* AssumeRole on top of the default chain: the base credentials are reused while fresh. */
    if (c->have_base && c->base.expires_ms != 0 &&
        c->base.expires_ms - aws_now_ms() < BASE_MARGIN_MS) {
        aws_fetched_free(&c->base);
        c->have_base = false;
    }
    if (!c->have_base) {
        char why[AWS_ERR_LEN];
        if (fetch_default(c, &c->base, why, sizeof why) != 0) {
            snprintf(err, errlen, "assume-role %.100s: no base credentials: %.350s", c->role_arn,
                     why);
            return -1;
        }
        c->have_base = true;
    }
    int rc = aws_sts_assume_role(c, &c->base, c->role_arn, c->session_name, NULL, NULL, out, err,
                                 errlen);
    if (rc != 0) { /* maybe the base credentials were revoked: fetch them again next time */
        aws_fetched_free(&c->base);
        c->have_base = false;
    }
    return rc;
}
