/*
 * aws_source_http: the two credential sources that are local HTTP endpoints - the ECS/EKS container
 * credentials agent and the EC2 instance metadata service (IMDSv2 only: the session token PUT
 * first, so a request forwarded by a misconfigured proxy or SSRF cannot read the role's
 * credentials). https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_chain.h"

#define CONTAINER_HOST "http://169.254.170.2"
#define CONTAINER_CONNECT_MS 2000
#define CONTAINER_TIMEOUT_MS 5000
#define IMDS_CONNECT_MS 1000
#define IMDS_TIMEOUT_MS 2000
#define IMDS_TOKEN_TTL "21600"

bool aws_creds_text_ok(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 8192)
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

int aws_creds_from_json(const char *json, size_t len, aws_fetched_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    /* IMDS says {"Code": "Success", ...}; anything else there is its error. */
    char *code = aws_json_string(json, len, "Code");
    if (code != NULL && strcmp(code, "Success") != 0) {
        char c[128];
        aws_excerpt(c, sizeof c, code, strlen(code));
        char *msg = aws_json_string(json, len, "Message");
        char m[128] = "";
        if (msg != NULL)
            aws_excerpt(m, sizeof m, msg, strlen(msg));
        snprintf(err, errlen, "the endpoint answered Code \"%s\"%s%s", c, m[0] ? ": " : "", m);
        free(code);
        free(msg);
        return -1;
    }
    free(code);
    out->access_key_id = aws_json_string(json, len, "AccessKeyId");
    out->secret_access_key = aws_json_string(json, len, "SecretAccessKey");
    out->session_token = aws_json_string(json, len, "Token");
    char *exp = aws_json_string(json, len, "Expiration");
    int rc = -1;
    if (out->access_key_id == NULL || out->secret_access_key == NULL) {
        snprintf(err, errlen, "the JSON has no AccessKeyId/SecretAccessKey strings");
    } else if (!aws_creds_text_ok(out->access_key_id) ||
               !aws_creds_text_ok(out->secret_access_key) ||
               (out->session_token != NULL && !aws_creds_text_ok(out->session_token))) {
        snprintf(err, errlen, "the credentials in the JSON are malformed");
    } else if (exp != NULL && aws_parse_iso8601(exp, strlen(exp), &out->expires_ms) != 0) {
        char e[128];
        aws_excerpt(e, sizeof e, exp, strlen(exp));
        snprintf(err, errlen, "bad Expiration \"%s\"", e);
    } else {
        out->renewable = true;
        rc = 0;
    }
    free(exp);
    if (rc != 0)
        aws_fetched_free(out);
    return rc;
}

/* ---- container credentials ---- */

/* Hosts plain http may reach: loopback and the ECS (169.254.170.2) and EKS Pod Identity
 * (169.254.170.23, fd00:ec2::23) agents. */
static bool allowed_http_host(const char *h, size_t len)
{
    static const char *const ok[] = {"localhost", "169.254.170.2", "169.254.170.23",
                                     "[fd00:ec2::23]", "[::1]"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (len == strlen(ok[i]) && strncasecmp(h, ok[i], len) == 0)
            return true;
    if (len >= 4 && strncmp(h, "127.", 4) == 0) {
        for (size_t i = 4; i < len; i++)
            if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
                return false;
        return true;
    }
    return false;
}

int aws_container_url(const char *relative, const char *full, char *out, size_t outlen, char *err,
                      size_t errlen)
{
    if (relative != NULL) {
        if (relative[0] != '/') {
            snprintf(err, errlen,
                     "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start "
                     "with '/'");
            return -1;
        }
        if ((size_t)snprintf(out, outlen, "%s%s", CONTAINER_HOST, relative) >= outlen) {
            snprintf(err, errlen, "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is too long");
            return -1;
        }
        return 0;
    }
    if (full == NULL) {
        snprintf(err, errlen, "container: not configured");
        return -1;
    }
    if ((size_t)snprintf(out, outlen, "%s", full) >= outlen) {
        snprintf(err, errlen, "container: AWS_CONTAINER_CREDENTIALS_FULL_URI is too long");
        return -1;
    }
    if (strncasecmp(full, "https://", 8) == 0)
        return 0;
    if (strncasecmp(full, "http://", 7) != 0) {
        snprintf(err, errlen, "container: AWS_CONTAINER_CREDENTIALS_FULL_URI must be http(s)");
        return -1;
    }
    const char *h = full + 7, *e = h;
    if (*e == '[') {
        while (*e != '\0' && *e != ']')
            e++;
        if (*e == ']')
            e++;
    } else {
        while (*e != '\0' && *e != ':' && *e != '/' && *e != '?' && *e != '#' && *e != '@')
            e++;
    }
    if (*e == '@' || !allowed_http_host(h, (size_t)(e - h))) {
        snprintf(err, errlen,
                 "container: AWS_CONTAINER_CREDENTIALS_FULL_URI may use plain http only to "
                 "loopback or the ECS/EKS credential agents");
        return -1;
    }
    return 0;
}

static char *trimmed_file(const char *path, char *err, size_t errlen, const char *what)
{
    size_t len;
    char *s = aws_read_file(path, 16 * 1024, &len);
    if (s == NULL) {
        snprintf(err, errlen, "%s: cannot read %.200s: %s", what, path, strerror(errno));
        return NULL;
    }
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        s[--len] = '\0';
    return s;
}

int aws_src_container(const aws_chain_t *c, aws_fetched_t *out, char *err, size_t errlen)
{
    const aws_env_t *e = &c->env;
    if (e->container_relative_uri == NULL && e->container_full_uri == NULL) {
        snprintf(err, errlen, "container: AWS_CONTAINER_CREDENTIALS_*_URI not set");
        return 1;
    }
    char url[2048];
    if (aws_container_url(e->container_relative_uri, e->container_full_uri, url, sizeof url, err,
                          errlen) != 0)
        return -1;
    /* The token file wins over the variable and is read every time: EKS rotates it. */
    char *token = NULL;
    if (e->container_token_file != NULL) {
        if ((token = trimmed_file(e->container_token_file, err, errlen, "container")) == NULL)
            return -1;
    } else if (e->container_token != NULL && (token = strdup(e->container_token)) == NULL) {
        snprintf(err, errlen, "container: out of memory");
        return -1;
    }
    char auth[8300];
    const char *lines[2] = {NULL, NULL};
    if (token != NULL) {
        if (strpbrk(token, "\r\n") != NULL || strlen(token) > 8192) {
            snprintf(err, errlen, "container: the authorization token is not one line of text");
            aws_free_secret(token);
            return -1;
        }
        snprintf(auth, sizeof auth, "Authorization: %s", token);
        lines[0] = auth;
        aws_free_secret(token);
    }
    aws_http_req_t req = {.method = "GET",
                          .url = url,
                          .headers = lines,
                          .connect_timeout_ms = CONTAINER_CONNECT_MS,
                          .timeout_ms = CONTAINER_TIMEOUT_MS,
                          .no_proxy = true,
                          .cancel = c->cancel};
    aws_http_resp_t resp;
    int rc = -1;
    char why[AWS_ERR_LEN];
    if (aws_http(&req, &resp) != 0) {
        snprintf(err, errlen, "container: GET %.200s: %s", url, resp.error);
    } else if (resp.status != 200) {
        char ex[128];
        aws_excerpt(ex, sizeof ex, resp.body, resp.body_len);
        snprintf(err, errlen, "container: GET %.200s: HTTP %ld %s", url, resp.status, ex);
    } else if (aws_creds_from_json(resp.body, resp.body_len, out, why, sizeof why) != 0) {
        snprintf(err, errlen, "container: GET %.200s: %.250s", url, why);
    } else {
        snprintf(out->source, sizeof out->source, "container");
        rc = 0;
    }
    aws_http_resp_free(&resp);
    memset(auth, 0, sizeof auth);
    return rc;
}

/* ---- EC2 instance metadata (IMDSv2) ---- */

static int imds_get(const aws_chain_t *c, const char *method, const char *path, const char *header,
                    aws_http_resp_t *resp, char *err, size_t errlen)
{
    char url[1024];
    if ((size_t)snprintf(url, sizeof url, "%s%s", c->env.imds_endpoint, path) >= sizeof url) {
        snprintf(err, errlen, "imds: the URL is too long");
        return -1;
    }
    const char *lines[2] = {header, NULL};
    aws_http_req_t req = {.method = method,
                          .url = url,
                          .headers = lines,
                          .connect_timeout_ms = IMDS_CONNECT_MS,
                          .timeout_ms = IMDS_TIMEOUT_MS,
                          .no_proxy = true,
                          .cancel = c->cancel};
    if (aws_http(&req, resp) != 0) {
        snprintf(err, errlen, "imds: %s %.200s: %s", method, url, resp->error);
        aws_http_resp_free(resp);
        return -1;
    }
    if (resp->status != 200) {
        snprintf(err, errlen, "imds: %s %.200s: HTTP %ld%s", method, url, resp->status,
                 resp->status == 404 && strstr(path, "security-credentials") != NULL
                     ? " (no IAM role attached to the instance?)"
                     : "");
        aws_http_resp_free(resp);
        return -1;
    }
    return 0;
}

int aws_src_imds(const aws_chain_t *c, aws_fetched_t *out, char *err, size_t errlen)
{
    if (c->env.imds_disabled) {
        snprintf(err, errlen, "imds: disabled by AWS_EC2_METADATA_DISABLED");
        return 1;
    }
    aws_http_resp_t r;
    if (imds_get(c, "PUT", "/latest/api/token",
                 "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL, &r, err, errlen) != 0)
        return -1;
    char tok[1100];
    if (r.body_len == 0 || r.body_len > 1024 || strpbrk(r.body, "\r\n") != NULL) {
        snprintf(err, errlen, "imds: malformed session token");
        aws_http_resp_free(&r);
        return -1;
    }
    snprintf(tok, sizeof tok, "X-aws-ec2-metadata-token: %s", r.body);
    aws_http_resp_free(&r);

    int rc = -1;
    if (imds_get(c, "GET", "/latest/meta-data/iam/security-credentials/", tok, &r, err, errlen) !=
        0)
        goto done;
    /* One role per instance profile: the first line. */
    size_t n = strcspn(r.body, "\r\n");
    while (n > 0 && r.body[n - 1] == ' ')
        n--;
    char path[512] = "/latest/meta-data/iam/security-credentials/";
    size_t plen = strlen(path);
    if (n == 0 || n > 128) {
        snprintf(err, errlen, "imds: no IAM role attached to the instance");
        aws_http_resp_free(&r);
        goto done;
    }
    aws_uri_encode(r.body, n, false, path + plen, sizeof path - plen);
    char role[160];
    aws_excerpt(role, sizeof role, r.body, n);
    aws_http_resp_free(&r);
    if (imds_get(c, "GET", path, tok, &r, err, errlen) != 0)
        goto done;
    char why[AWS_ERR_LEN];
    if (aws_creds_from_json(r.body, r.body_len, out, why, sizeof why) != 0) {
        snprintf(err, errlen, "imds: role %.100s: %.300s", role, why);
    } else {
        snprintf(out->source, sizeof out->source, "imds");
        rc = 0;
    }
    aws_http_resp_free(&r);
done:
    memset(tok, 0, sizeof tok);
    return rc;
}
