/*
 * aws_sts: the two STS calls of the chain over the Query API (form POST, XML answer):
 * AssumeRole, signed with the base credentials, and AssumeRoleWithWebIdentity, which is unsigned
 * (the web identity token is the proof).
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws_chain.h"

#define STS_CONNECT_MS 3000
#define STS_TIMEOUT_MS 10000
#define CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"

void aws_sts_target(const aws_chain_t *c, char *region, size_t rlen, char *endpoint, size_t elen)
{
    char *file_region = NULL;
    const char *r = c->region != NULL ? c->region : c->env.region;
    if (r == NULL) {
        const char *profile = c->profile != NULL ? c->profile : c->env.profile;
        r = file_region = aws_profile_region(c->env.config_file, profile);
    }
    snprintf(region, rlen, "%s", r != NULL ? r : "us-east-1");
    free(file_region);
    const char *ep = c->sts_endpoint != NULL ? c->sts_endpoint : c->env.sts_endpoint;
    if (ep != NULL)
        snprintf(endpoint, elen, "%s", ep);
    else /* the China partition has its own domain */
        snprintf(endpoint, elen, "https://sts.%s.amazonaws.com%s", region,
                 strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
}

static void form_param(aws_buf_t *b, const char *name, const char *value)
{
    if (value == NULL)
        return;
    aws_buf_putc(b, '&');
    aws_buf_puts(b, name);
    aws_buf_putc(b, '=');
    aws_buf_put_encoded(b, value, strlen(value));
}

static bool printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

int aws_sts_parse(const char *action, long status, const char *body, size_t len, aws_fetched_t *out,
                  char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (status != 200) {
        char *code = aws_xml_text(body, len, "Error", "Code");
        char *msg = aws_xml_text(body, len, "Error", "Message");
        char c[128] = "", m[128] = "";
        if (code != NULL)
            aws_excerpt(c, sizeof c, code, strlen(code));
        if (msg != NULL)
            aws_excerpt(m, sizeof m, msg, strlen(msg));
        snprintf(err, errlen, "STS %s: HTTP %ld%s%s%s%s", action, status, c[0] ? " " : "", c,
                 m[0] ? ": " : "", m);
        free(code);
        free(msg);
        return -1;
    }
    out->access_key_id = aws_xml_text(body, len, "Credentials", "AccessKeyId");
    out->secret_access_key = aws_xml_text(body, len, "Credentials", "SecretAccessKey");
    out->session_token = aws_xml_text(body, len, "Credentials", "SessionToken");
    char *exp = aws_xml_text(body, len, "Credentials", "Expiration");
    int rc = -1;
    if (out->access_key_id == NULL || out->secret_access_key == NULL ||
        out->session_token == NULL || exp == NULL) {
        snprintf(err, errlen, "STS %s: the response has no complete Credentials element", action);
    } else if (!aws_creds_text_ok(out->access_key_id) ||
               !aws_creds_text_ok(out->secret_access_key) ||
               !aws_creds_text_ok(out->session_token)) {
        snprintf(err, errlen, "STS %s: the credentials in the response are malformed", action);
    } else if (aws_parse_iso8601(exp, strlen(exp), &out->expires_ms) != 0) {
        char e[128];
        aws_excerpt(e, sizeof e, exp, strlen(exp));
        snprintf(err, errlen, "STS %s: bad Expiration \"%s\"", action, e);
    } else {
        out->renewable = true;
        rc = 0;
    }
    free(exp);
    if (rc != 0)
        aws_fetched_free(out);
    return rc;
}

/* POST the form to STS (signed with `base` unless NULL) and parse the answer. */
static int sts_call(const aws_chain_t *c, const char *action, const char *form,
                    const aws_fetched_t *base, aws_fetched_t *out, char *err, size_t errlen)
{
    char region[96], endpoint[1024];
    aws_sts_target(c, region, sizeof region, endpoint, sizeof endpoint);
    const char *lines[8];
    size_t n = 0;
    char auth[1100], date[40], sha[100], token_line[4096], host[300];
    lines[n++] = "Content-Type: " CONTENT_TYPE;
    if (base != NULL) {
        aws_creds_t creds = {base->access_key_id, base->secret_access_key, base->session_token, 0,
                             base->source};
        aws_header_t ct = {"Content-Type", 12, CONTENT_TYPE, strlen(CONTENT_TYPE)};
        aws_sign_in_t in = {
            .method = "POST",
            .url = endpoint,
            .headers = &ct,
            .nheaders = 1,
            .body = form,
            .body_len = strlen(form),
            .region = region,
            .service = "sts",
            .creds = &creds,
            .now = time(NULL),
        };
        aws_sign_out_t so;
        if (aws_sigv4_sign(&in, &so) != 0) {
            snprintf(err, errlen, "STS %s: cannot sign a request to %.200s (region %s)", action,
                     endpoint, region);
            return -1;
        }
        if (so.security_token != NULL && strlen(so.security_token) + 24 > sizeof token_line) {
            snprintf(err, errlen, "STS %s: the base session token is too long", action);
            return -1;
        }
        snprintf(auth, sizeof auth, "Authorization: %s", so.authorization);
        snprintf(date, sizeof date, "X-Amz-Date: %s", so.amz_date);
        snprintf(sha, sizeof sha, "X-Amz-Content-Sha256: %s", so.content_sha256);
        /* The Host curl would send is the one signed, but say it explicitly. */
        snprintf(host, sizeof host, "Host: %s", so.host);
        lines[n++] = auth;
        lines[n++] = date;
        lines[n++] = sha;
        lines[n++] = host;
        if (so.security_token != NULL) {
            snprintf(token_line, sizeof token_line, "X-Amz-Security-Token: %s", so.security_token);
            lines[n++] = token_line;
        }
    }
    lines[n] = NULL;
    aws_http_req_t req = {
        .method = "POST",
        .url = endpoint,
        .headers = lines,
        .body = form,
        .body_len = strlen(form),
        .connect_timeout_ms = STS_CONNECT_MS,
        .timeout_ms = STS_TIMEOUT_MS,
        .cancel = c->cancel,
    };
    aws_http_resp_t resp;
    int rc;
    if (aws_http(&req, &resp) != 0) {
        snprintf(err, errlen, "STS %s: POST %.200s: %s", action, endpoint, resp.error);
        rc = -1;
    } else {
        rc = aws_sts_parse(action, resp.status, resp.body, resp.body_len, out, err, errlen);
    }
    aws_http_resp_free(&resp);
    /* The signed lines hold the session token. */
    memset(token_line, 0, sizeof token_line);
    return rc;
}

int aws_sts_assume_role(const aws_chain_t *c, const aws_fetched_t *base, const char *role_arn,
                        const char *session, const char *external_id, const char *duration,
                        aws_fetched_t *out, char *err, size_t errlen)
{
    aws_buf_t form = {0};
    aws_buf_puts(&form, "Action=AssumeRole&Version=2011-06-15");
    form_param(&form, "RoleArn", role_arn);
    form_param(&form, "RoleSessionName", session);
    form_param(&form, "ExternalId", external_id);
    form_param(&form, "DurationSeconds", duration);
    char *body = aws_buf_take(&form);
    if (body == NULL) {
        snprintf(err, errlen, "STS AssumeRole: out of memory");
        return -1;
    }
    char why[AWS_ERR_LEN];
    int rc = sts_call(c, "AssumeRole", body, base, out, why, sizeof why);
    free(body);
    if (rc != 0) {
        snprintf(err, errlen, "assume-role %.100s (with credentials from %s): %.300s", role_arn,
                 base->source, why);
        return -1;
    }
    snprintf(out->source, sizeof out->source, "assume-role");
    return 0;
}

int aws_sts_web_identity(const aws_chain_t *c, const char *role_arn, const char *session,
                         const char *token_file, aws_fetched_t *out, char *err, size_t errlen)
{
    size_t len;
    /* Read on every fetch: Kubernetes rotates the projected token file. */
    char *token = aws_read_file(token_file, 64 * 1024, &len);
    if (token == NULL) {
        snprintf(err, errlen, "web-identity: cannot read the token file %.200s: %s", token_file,
                 strerror(errno));
        return -1;
    }
    while (len > 0 && (token[len - 1] == '\n' || token[len - 1] == '\r' || token[len - 1] == ' ' ||
                       token[len - 1] == '\t'))
        token[--len] = '\0';
    if (len == 0 || strlen(token) != len || !printable(token)) {
        snprintf(err, errlen, "web-identity: the token file %.200s is empty or not text",
                 token_file);
        aws_free_secret(token);
        return -1;
    }
    aws_buf_t form = {0};
    aws_buf_puts(&form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15");
    form_param(&form, "RoleArn", role_arn);
    form_param(&form, "RoleSessionName", session);
    form_param(&form, "WebIdentityToken", token);
    aws_free_secret(token);
    char *body = aws_buf_take(&form);
    if (body == NULL) {
        snprintf(err, errlen, "web-identity: out of memory");
        return -1;
    }
    char why[AWS_ERR_LEN];
    int rc = sts_call(c, "AssumeRoleWithWebIdentity", body, NULL, out, why, sizeof why);
    aws_free_secret(body);
    if (rc != 0) {
        snprintf(err, errlen, "web-identity %.100s: %.350s", role_arn, why);
        return -1;
    }
    snprintf(out->source, sizeof out->source, "web-identity");
    return 0;
}
