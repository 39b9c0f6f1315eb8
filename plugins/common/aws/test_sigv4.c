/*
 * SigV4 against AWS's signing test suite (testdata/sigv4/<case>/: the request, its context, and
 * the expected canonical request, string to sign and signed request), plus a Bedrock-shaped request
 * whose expected signature came from the AWS SDK for JavaScript's signer.
 *
 *   test_sigv4 <testdata/sigv4 directory>
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws_internal.h"
#include "check.h"

static char *slurp(const char *dir, const char *name, const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", dir, name, file);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    aws_buf_t b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        aws_buf_put(&b, chunk, n);
    fclose(f);
    return aws_buf_take(&b);
}

/* A request.txt: request line, headers (folded lines kept with their line break), body. */
typedef struct vreq {
    char method[16];
    char url[1024];
    aws_header_t h[24];
    size_t nh;
    const char *body;
    size_t body_len;
    char store[8192];
} vreq_t;

static int parse_request(char *text, vreq_t *r)
{
    memset(r, 0, sizeof *r);
    char *eol = strchr(text, '\n');
    if (eol == NULL)
        return -1;
    *eol = '\0';
    char *sp = strchr(text, ' '), *proto = strstr(text, " HTTP/");
    if (sp == NULL || proto == NULL || proto < sp)
        return -1;
    snprintf(r->method, sizeof r->method, "%.*s", (int)(sp - text), text);
    snprintf(r->url, sizeof r->url, "http://example.amazonaws.com%.*s", (int)(proto - sp - 1),
             sp + 1);
    char *line = eol + 1;
    size_t used = 0;
    while (*line != '\0' && *line != '\n') {
        eol = strchr(line, '\n');
        char *next = eol != NULL ? eol + 1 : line + strlen(line);
        size_t len = (size_t)(next - line) - (eol != NULL);
        if ((*line == ' ' || *line == '\t') && r->nh > 0) {
            /* obs-fold: the value goes on, line break and all; the signer must fold it. */
            aws_header_t *h = &r->h[r->nh - 1];
            if (used + h->value_len + 1 + len >= sizeof r->store)
                return -1;
            char *v = r->store + used;
            memcpy(v, h->value, h->value_len);
            v[h->value_len] = '\n';
            memcpy(v + h->value_len + 1, line, len);
            h->value = v;
            h->value_len += 1 + len;
            used += h->value_len;
        } else {
            char *colon = memchr(line, ':', len);
            if (colon == NULL || r->nh == sizeof r->h / sizeof r->h[0])
                return -1;
            r->h[r->nh++] = (aws_header_t){line, (size_t)(colon - line), colon + 1,
                                           len - (size_t)(colon + 1 - line)};
        }
        line = next;
    }
    if (*line == '\n') {
        r->body = line + 1;
        r->body_len = strlen(line + 1);
    }
    return 0;
}

static bool ctx_flag(const char *ctx, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": true", name);
    return strstr(ctx, pat) != NULL;
}

static int run_vector(const char *dir, const char *name)
{
    char *ctx = slurp(dir, name, "context.json"), *req = slurp(dir, name, "request.txt");
    char *creq = slurp(dir, name, "header-canonical-request.txt");
    char *sts = slurp(dir, name, "header-string-to-sign.txt");
    char *signed_req = slurp(dir, name, "header-signed-request.txt");
    int ok = 0;
    vreq_t *r = malloc(sizeof *r);
    if (!ctx || !req || !creq || !sts || !signed_req || !r || parse_request(req, r) != 0) {
        fprintf(stderr, "%s: unreadable vector\n", name);
        CHECK(0);
        goto done;
    }
    /* The credentials are an object of their own inside the context. */
    const char *cr = strstr(ctx, "\"credentials\"");
    cr = cr != NULL ? strchr(cr, '{') : NULL;
    size_t crlen = cr != NULL ? strlen(cr) : 0;
    char *ak = aws_json_string(cr, crlen, "access_key_id");
    char *sk = aws_json_string(cr, crlen, "secret_access_key");
    char *token = aws_json_string(cr, crlen, "token");
    char *region = aws_json_string(ctx, strlen(ctx), "region");
    char *service = aws_json_string(ctx, strlen(ctx), "service");
    char *ts = aws_json_string(ctx, strlen(ctx), "timestamp");
    int64_t ms = 0;
    CHECK(ak && sk && region && service && ts && aws_parse_iso8601(ts, strlen(ts), &ms) == 0);
    aws_creds_t creds = {ak, sk, token, 0, "test"};
    aws_sign_in_t in = {
        .method = r->method,
        .url = r->url,
        .headers = r->h,
        .body = r->body,
        .body_len = r->body_len,
        .region = region,
        .service = service,
        .creds = &creds,
        .now = (time_t)(ms / 1000),
        .s3_style_path = !ctx_flag(ctx, "normalize"),
    };

    /* The suite's signed set: the request's headers, x-amz-date, and what the context asks for. */
    char date[17], payload[65];
    struct tm tm;
    gmtime_r(&in.now, &tm);
    strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
    aws_sha256_hex(r->body, r->body_len, payload);
    size_t base = r->nh;
    r->h[r->nh++] = (aws_header_t){"X-Amz-Date", 10, date, 16};
    if (token != NULL && !ctx_flag(ctx, "omit_session_token"))
        r->h[r->nh++] = (aws_header_t){"X-Amz-Security-Token", 20, token, strlen(token)};
    if (ctx_flag(ctx, "sign_body"))
        r->h[r->nh++] = (aws_header_t){"X-Amz-Content-Sha256", 20, payload, 64};
    in.nheaders = r->nh;

    char *got_creq = NULL, *got_sts = NULL, auth[1024] = "";
    CHECK(aws_sigv4_canonical_request(&in, &got_creq) == 0);
    CHECK(aws_sigv4_string_to_sign(&in, got_creq, &got_sts) == 0);
    CHECK(aws_sigv4_authorization(&in, auth, sizeof auth) == 0);
    char *want_auth = strstr(signed_req, "\nAuthorization:");
    if (want_auth != NULL) {
        want_auth += 15;
        want_auth[strcspn(want_auth, "\r\n")] = '\0';
    }
    ok = got_creq && strcmp(got_creq, creq) == 0 && got_sts && strcmp(got_sts, sts) == 0 &&
         want_auth && strcmp(auth, want_auth) == 0;
    if (!ok)
        fprintf(
            stderr,
            "%s:\n-- canonical request\n%s\n-- want\n%s\n-- sts\n%s\n-- auth\n%s\n-- want\n%s\n",
            name, got_creq ? got_creq : "(null)", creq, got_sts ? got_sts : "(null)", auth,
            want_auth ? want_auth : "(none)");
    CHECK(ok);

    /*
     * aws_sigv4_sign() signs host, x-amz-date and x-amz-content-sha256 itself, which is exactly the
     * suite's set when the body is signed and there is no token: it must give the same header.
     */
    if (ctx_flag(ctx, "sign_body") && token == NULL) {
        aws_header_t rest[24];
        size_t n = 0;
        for (size_t i = 0; i < base; i++)
            if (strncasecmp(r->h[i].name, "host", r->h[i].name_len) != 0)
                rest[n++] = r->h[i];
        in.headers = rest;
        in.nheaders = n;
        aws_sign_out_t out;
        CHECK(aws_sigv4_sign(&in, &out) == 0);
        CHECK_STR(out.authorization, want_auth);
        CHECK_STR(out.amz_date, date);
        CHECK_STR(out.content_sha256, payload);
        CHECK_STR(out.host, "example.amazonaws.com");
        CHECK(out.security_token == NULL);
    }
    free(got_creq);
    free(got_sts);
    free(ak);
    free(sk);
    free(token);
    free(region);
    free(service);
    free(ts);
done:
    free(ctx);
    free(req);
    free(creq);
    free(sts);
    free(signed_req);
    free(r);
    return ok;
}

static bool starts_with(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A ConverseStream call: the ':' of the model id is sent as %3A and signed as %253A. */
static void test_bedrock(void)
{
    static const char body[] =
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}]}";
    aws_creds_t creds = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                         "FQoGZXIvYXdzEXAMPLETOKEN", 0, "test"};
    aws_header_t h[] = {{"Content-Type", 12, "application/json", 16},
                        {"Accept", 6, "application/vnd.amazon.eventstream", 34}};
    aws_sign_in_t in = {
        .method = "POST",
        .url = "https://bedrock-runtime.us-west-2.amazonaws.com/model/"
               "anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream",
        .headers = h,
        .nheaders = 2,
        .body = body,
        .body_len = sizeof body - 1,
        .region = "us-west-2",
        .service = "bedrock",
        .creds = &creds,
        .now = 1718878272, /* 2024-06-20T10:11:12Z */
    };
    aws_sign_out_t out;
    CHECK(aws_sigv4_sign(&in, &out) == 0);
    /* Expected values computed with @smithy/signature-v4 (the AWS SDK for JavaScript v3). */
    CHECK_STR(out.authorization,
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240620/us-west-2/bedrock/aws4_request, "
              "SignedHeaders=accept;content-type;host;x-amz-content-sha256;x-amz-date;"
              "x-amz-security-token, "
              "Signature=9d521f6e0bac7c2c4b7a3f5e5c05d754357afd04008372226a8f3de8959d47c3");
    CHECK_STR(out.amz_date, "20240620T101112Z");
    CHECK_STR(out.content_sha256,
              "45e583fed2564dc00e823303d7609f8587af7f685b993cb0f998afc0d480b01d");
    CHECK_STR(out.host, "bedrock-runtime.us-west-2.amazonaws.com");
    CHECK_STR(out.security_token, "FQoGZXIvYXdzEXAMPLETOKEN");

    char *creq = NULL;
    CHECK(aws_sigv4_canonical_request(&in, &creq) == 0);
    CHECK(starts_with(
        creq, "POST\n/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse-stream\n\n"));
    free(creq);

    /* The same path S3-style is signed as sent (encoded once). */
    in.s3_style_path = true;
    CHECK(aws_sigv4_canonical_request(&in, &creq) == 0);
    CHECK(creq != NULL &&
          strstr(creq, "\n/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/") != NULL);
    free(creq);
}

static void test_edges(void)
{
    aws_creds_t creds = {"AKID", "secret", NULL, 0, "test"};
    aws_sign_in_t in = {.method = "GET",
                        .region = "us-east-1",
                        .service = "sts",
                        .creds = &creds,
                        .now = 1718878272};
    aws_sign_out_t out;

    /* Hosts: default ports dropped, others kept, IPv6 literals, userinfo and bad ports refused. */
    in.url = "https://sts.amazonaws.com:443/";
    CHECK(aws_sigv4_sign(&in, &out) == 0 && strcmp(out.host, "sts.amazonaws.com") == 0);
    in.url = "http://127.0.0.1:8080";
    CHECK(aws_sigv4_sign(&in, &out) == 0 && strcmp(out.host, "127.0.0.1:8080") == 0);
    in.url = "http://[::1]:80/x";
    CHECK(aws_sigv4_sign(&in, &out) == 0 && strcmp(out.host, "[::1]") == 0);
    in.url = "https://[::1]/x";
    CHECK(aws_sigv4_sign(&in, &out) == 0 && strcmp(out.host, "[::1]") == 0);
    in.url = "https://user@host/";
    CHECK(aws_sigv4_sign(&in, &out) == -1);
    in.url = "https://host:12a/";
    CHECK(aws_sigv4_sign(&in, &out) == -1);
    in.url = "ftp://host/";
    CHECK(aws_sigv4_sign(&in, &out) == -1);
    in.url = "https:///path";
    CHECK(aws_sigv4_sign(&in, &out) == -1);

    /* The signer owns host and the x-amz-* headers. */
    aws_header_t host = {"Host", 4, "x", 1};
    in.url = "https://sts.amazonaws.com/";
    in.headers = &host;
    in.nheaders = 1;
    CHECK(aws_sigv4_sign(&in, &out) == -1);
    in.headers = NULL;
    in.nheaders = 0;

    /* Query parameters: encoded once whatever the input, sorted, '=' for a bare key. */
    char *creq = NULL;
    aws_header_t h = {"host", 4, "h", 1};
    in.headers = &h;
    in.nheaders = 1;
    in.url = "https://h/a%2Fb/c?b=2&a&c=%7e+x&a=z%2F&&d=a b";
    CHECK(aws_sigv4_canonical_request(&in, &creq) == 0);
    CHECK(starts_with(creq, "GET\n/a%252Fb/c\na=&a=z%2F&b=2&c=~%2Bx&d=a%20b\nhost:h\n"));
    free(creq);

    /* A token is signed and handed back; an empty token counts as none. */
    in.headers = NULL;
    in.nheaders = 0;
    creds.session_token = "tok";
    CHECK(aws_sigv4_sign(&in, &out) == 0 && out.security_token != NULL &&
          strstr(out.authorization, "x-amz-security-token") != NULL);
    creds.session_token = "";
    CHECK(aws_sigv4_sign(&in, &out) == 0 && out.security_token == NULL &&
          strstr(out.authorization, "x-amz-security-token") == NULL);

    /* Malformed pieces are refused, never signed. */
    in.region = "us/east";
    CHECK(aws_sigv4_sign(&in, &out) == -1);
    in.region = "us-east-1";
    creds.access_key_id = NULL;
    CHECK(aws_sigv4_sign(&in, &out) == -1);
    creds.access_key_id = "AKID";
    aws_header_t bad = {"bad:name", 8, "v", 1};
    in.headers = &bad;
    in.nheaders = 1;
    CHECK(aws_sigv4_sign(&in, &out) == -1);
    aws_header_t nul = {"x-a", 3, "a\0b", 3}; /* would cut the canonical request short */
    in.headers = &nul;
    CHECK(aws_sigv4_sign(&in, &out) == -1);

    char enc[64];
    CHECK(aws_uri_encode("a b/c~", 6, true, enc, sizeof enc) == 8 && strcmp(enc, "a%20b/c~") == 0);
    CHECK(aws_uri_encode("a b/c~", 6, false, enc, sizeof enc) == 10 &&
          strcmp(enc, "a%20b%2Fc~") == 0);
    CHECK(aws_uri_encode("abcdef", 6, false, enc, 4) == 6 && strcmp(enc, "abc") == 0);
    char hex[65];
    aws_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <testdata/sigv4>\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    CHECK(d != NULL);
    char *names[128];
    size_t n = 0;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL && n < 128)
        if (de->d_name[0] != '.' && strchr(de->d_name, '.') == NULL)
            names[n++] = strdup(de->d_name);
    if (d != NULL)
        closedir(d);
    qsort(names, n, sizeof names[0], cmp_names);
    int passed = 0;
    for (size_t i = 0; i < n; i++) {
        passed += run_vector(argv[1], names[i]);
        free(names[i]);
    }
    printf("%d of %zu suite vectors passed\n", passed, n);
    CHECK(n >= 30);
    test_bedrock();
    test_edges();
    return check_report();
}
