/*
 * Fuzz target: what the AWS credential chain parses from files and endpoints - the shared
 * config/credentials files, the JSON of the container and instance metadata endpoints, STS's XML,
 * ISO-8601 expirations and the container credentials URL.  The first byte picks the parser; the
 * rest is the document.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws_chain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t touch(const char *s)
{
    /* Read every byte so a bad length or a missing terminator shows under the sanitizers. */
    size_t t = 0;
    for (; s != NULL && *s != '\0'; s++)
        t += (unsigned char)*s & 1;
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *doc = (const char *)data + 1;
    size_t len = size - 1;
    size_t t = 0;
    char err[AWS_ERR_LEN];
    switch (data[0] % 6) {
    case 0:
    case 1: {
        static const char *const profiles[] = {"default", "dev", "profile dev", "a b", ""};
        static const char *const keys[] = {"aws_access_key_id", "region", "role_arn", "x"};
        aws_ini_t *ini = aws_ini_parse(doc, len, data[0] % 6 == 0);
        for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
            t += aws_ini_has_profile(ini, profiles[i]);
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
                t += touch(aws_ini_get(ini, profiles[i], keys[k]));
        }
        aws_ini_free(ini);
        break;
    }
    case 2: {
        static const char *const keys[] = {"AccessKeyId", "Code", "Expiration", "", "a"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            char *v = aws_json_string(doc, len, keys[k]);
            t += touch(v);
            free(v);
        }
        aws_fetched_t f;
        if (aws_creds_from_json(doc, len, &f, err, sizeof err) == 0) {
            if (!aws_creds_text_ok(f.access_key_id) || !aws_creds_text_ok(f.secret_access_key))
                abort();
            aws_fetched_free(&f);
        }
        t += touch(err);
        break;
    }
    case 3: {
        static const char *const tags[][2] = {
            {"Credentials", "AccessKeyId"}, {"Error", "Code"}, {NULL, "Expiration"}, {"a", "b"}};
        for (size_t k = 0; k < sizeof tags / sizeof tags[0]; k++) {
            char *v = aws_xml_text(doc, len, tags[k][0], tags[k][1]);
            t += touch(v);
            free(v);
        }
        aws_fetched_t f;
        for (long status = 200; status <= 403; status += 203)
            if (aws_sts_parse("AssumeRole", status, doc, len, &f, err, sizeof err) == 0) {
                if (!aws_creds_text_ok(f.access_key_id) || !aws_creds_text_ok(f.session_token))
                    abort();
                aws_fetched_free(&f);
            }
        t += touch(err);
        break;
    }
    case 4: {
        int64_t ms;
        if (aws_parse_iso8601(doc, len, &ms) == 0)
            t += (size_t)(ms & 1);
        break;
    }
    default: {
        char *s = malloc(len + 1);
        if (s == NULL)
            return 0;
        memcpy(s, doc, len);
        s[len] = '\0';
        char url[512];
        t += (size_t)aws_container_url(NULL, s, url, sizeof url, err, sizeof err);
        t += (size_t)aws_container_url(s, NULL, url, sizeof url, err, sizeof err);
        free(s);
        break;
    }
    }
    return t == (size_t)-1; /* keeps t alive */
}
