/*
 * Fuzz target: SigV4 canonicalisation and signing of an arbitrary request.  The input is
 *   <flags byte><method>\n<url>\n<name>:<value>\n...\n\n<body>
 * where the flags choose S3-style paths, a session token and the request time.  Every entry point
 * runs on the same request; their outputs are checked for the invariants a signer must keep.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FUZZ_HEADERS 40

static const char *next_line(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    *len = (size_t)((nl != NULL ? nl : end) - s);
    *p = nl != NULL ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 32768)
        return 0;
    uint8_t flags = data[0];
    /* NUL-terminated copy: method and URL are C strings in the API. */
    char *copy = malloc(size);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    const char *p = copy, *end = copy + size - 1;
    size_t mlen, ulen;
    char *method = (char *)next_line(&p, end, &mlen);
    char *url = (char *)next_line(&p, end, &ulen);
    method[mlen] = '\0';
    url[ulen] = '\0';
    aws_header_t h[MAX_FUZZ_HEADERS];
    size_t nh = 0;
    while (p < end && nh < MAX_FUZZ_HEADERS) {
        size_t len;
        const char *line = next_line(&p, end, &len);
        if (len == 0)
            break;
        const char *colon = memchr(line, ':', len);
        size_t nlen = colon != NULL ? (size_t)(colon - line) : len;
        h[nh++] = (aws_header_t){line, nlen, colon != NULL ? colon + 1 : NULL,
                                 colon != NULL ? len - nlen - 1 : 0};
    }
    aws_creds_t creds = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                         (flags & 2) ? "session/token+=" : NULL, 0, "fuzz"};
    aws_sign_in_t in = {
        .method = method,
        .url = url,
        .headers = h,
        .nheaders = nh,
        .body = p,
        .body_len = (size_t)(end - p),
        .region = "us-east-1",
        .service = "bedrock",
        .creds = &creds,
        .now = (flags & 4) ? (time_t)253402300799 /* 9999-12-31 */ : (time_t)(flags * 1000003u),
        .s3_style_path = (flags & 1) != 0,
    };

    char *creq = NULL, *sts = NULL;
    if (aws_sigv4_canonical_request(&in, &creq) == 0) {
        /* Six lines at least: method, URI, query, headers..., blank, signed list, hash. */
        size_t lines = 0;
        for (const char *c = creq; *c != '\0'; c++)
            lines += *c == '\n';
        if (lines < 5 || strlen(creq) < 64)
            abort();
        if (aws_sigv4_string_to_sign(&in, creq, &sts) == 0 &&
            strncmp(sts, "AWS4-HMAC-SHA256\n", 17))
            abort();
    }
    free(creq);
    free(sts);
    char auth[1024];
    if (aws_sigv4_authorization(&in, auth, sizeof auth) == 0 && strlen(auth) >= sizeof auth)
        abort();
    aws_sign_out_t out;
    if (aws_sigv4_sign(&in, &out) == 0) {
        if (strlen(out.amz_date) != 16 || strlen(out.content_sha256) != 64 ||
            strncmp(out.authorization, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 40) != 0 ||
            strchr(out.host, '\n') != NULL || strchr(out.authorization, '\n') != NULL)
            abort();
    }
    char enc[256];
    size_t n = aws_uri_encode((const char *)data, size, (flags & 8) != 0, enc, sizeof enc);
    if (n < size || strlen(enc) != (n < sizeof enc ? n : sizeof enc - 1))
        abort();
    free(copy);
    return 0;
}
