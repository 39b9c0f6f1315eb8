/*
 * The aws library's parsers and pure helpers: shared-file profiles, the JSON and XML of credential
 * endpoints, ISO-8601 times, the container URL rules and the STS target.  No network.
 */
#include <stdlib.h>
#include <string.h>

#include "aws_chain.h"
#include "check.h"

static void test_ini(void)
{
    static const char cfg[] = "# comment\n"
                              "[default]\n"
                              "region = eu-west-3\n"
                              "  nested = ignored\n"
                              "[profile dev]\n"
                              "Region=us-west-2 ; inline comment\n"
                              "role_arn: arn:aws:iam::123456789012:role/x\n"
                              "s3 =\n"
                              "    max_concurrent_requests = 20\n"
                              "after = yes\n"
                              "[profile   spaced  ]\n"
                              "k = v#not-a-comment\n"
                              "[sso-session corp]\n"
                              "sso_region = us-east-1\n"
                              "[notaprofile]\n"
                              "aws_access_key_id = AKIDNOPE\n"
                              "[profile empty]\n"
                              "[profile dev]\n"
                              "region = ap-south-1\n"
                              "garbage line without separator\n"
                              "[unterminated\n"
                              "x = y\n";
    aws_ini_t *ini = aws_ini_parse(cfg, sizeof cfg - 1, true);
    CHECK(ini != NULL);
    CHECK_STR(aws_ini_get(ini, "default", "region"), "eu-west-3");
    CHECK(aws_ini_get(ini, "default", "nested") == NULL);
    CHECK_STR(aws_ini_get(ini, "dev", "region"), "ap-south-1"); /* a later section wins */
    CHECK_STR(aws_ini_get(ini, "dev", "ROLE_ARN"), "arn:aws:iam::123456789012:role/x");
    CHECK(aws_ini_get(ini, "dev", "max_concurrent_requests") == NULL);
    CHECK_STR(aws_ini_get(ini, "dev", "after"), "yes");
    CHECK_STR(aws_ini_get(ini, "dev", "s3"), "");
    CHECK_STR(aws_ini_get(ini, "spaced", "k"), "v#not-a-comment");
    CHECK(!aws_ini_has_profile(ini, "corp") && !aws_ini_has_profile(ini, "sso-session corp"));
    CHECK(!aws_ini_has_profile(ini, "notaprofile"));
    CHECK(aws_ini_get(ini, "notaprofile", "aws_access_key_id") == NULL);
    CHECK(aws_ini_has_profile(ini, "empty") && aws_ini_get(ini, "empty", "region") == NULL);
    CHECK(aws_ini_get(ini, "dev", "x") == NULL);
    aws_ini_free(ini);

    /* In the credentials file a section name is the profile name, "profile " included. */
    static const char creds[] = "[default]\r\n"
                                "aws_access_key_id = AKIDDEFAULT\r\n"
                                "aws_secret_access_key = abc/def+ghi\r\n"
                                "[profile x]\n"
                                "aws_access_key_id = AKIDX\n";
    ini = aws_ini_parse(creds, sizeof creds - 1, false);
    CHECK_STR(aws_ini_get(ini, "default", "aws_access_key_id"), "AKIDDEFAULT");
    CHECK_STR(aws_ini_get(ini, "default", "aws_secret_access_key"), "abc/def+ghi");
    CHECK(aws_ini_has_profile(ini, "profile x") && !aws_ini_has_profile(ini, "x"));
    aws_ini_free(ini);

    ini = aws_ini_parse(NULL, 0, true);
    CHECK(ini != NULL && !aws_ini_has_profile(ini, "default"));
    aws_ini_free(ini);
    /* Embedded NULs never make it into a value. */
    static const char nul[] = "[default]\nregion = a\0b\n";
    ini = aws_ini_parse(nul, sizeof nul - 1, true);
    CHECK(ini != NULL && aws_ini_get(ini, "default", "region") == NULL);
    aws_ini_free(ini);
}

static void check_json(const char *doc, const char *key, const char *want)
{
    char *got = aws_json_string(doc, strlen(doc), key);
    if (want == NULL)
        CHECK(got == NULL);
    else
        CHECK_STR(got, want);
    if (!(want == NULL ? got == NULL : got != NULL && strcmp(got, want) == 0))
        fprintf(stderr, "  json %s [%s]: got %s\n", doc, key, got ? got : "(null)");
    free(got);
}

static void test_json(void)
{
    const char *doc =
        "{\"Code\":\"Success\",\"n\":-1.5e3,\"t\":true,\"nested\":{\"AccessKeyId\":\"no\","
        "\"a\":[1,{\"b\":[]},\"]\"]},\"AccessKeyId\":\"ASIA\\u00e9\\ud83d\\ude00\\n\\/\","
        "\"Token\":null}";
    check_json(doc, "Code", "Success");
    check_json(doc, "AccessKeyId", "ASIA\xc3\xa9\xf0\x9f\x98\x80\n/");
    check_json(doc, "Token", NULL); /* not a string */
    check_json(doc, "n", NULL);
    check_json(doc, "missing", NULL);
    check_json("  { \"a\" : \"b\" }  ", "a", "b");
    check_json("{\"a\":\"b\"", "a", "b"); /* found before the document broke off */
    check_json("{\"a\":1,", "b", NULL);
    check_json("{\"a\":\"x\\u0000y\"}", "a", NULL); /* NUL in a credential: refused */
    check_json("{\"a\":\"\\ud800\"}", "a", NULL);   /* lone surrogate */
    check_json("{\"a\":\"tab\there\"}", "a", NULL); /* raw control character */
    check_json("[\"a\"]", "a", NULL);
    check_json("", "a", NULL);
    /* Deep nesting is bounded, not recursed into without limit. */
    char deep[400];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof deep, "{\"x\":");
    for (int i = 0; i < 150; i++)
        deep[n++] = '[';
    snprintf(deep + n, sizeof deep - n, "],\"a\":\"b\"}");
    check_json(deep, "a", NULL);
}

static void test_xml(void)
{
    static const char ok[] =
        "<?xml version=\"1.0\"?>\n<AssumeRoleResponse "
        "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        "<AssumeRoleResult><AssumedRoleUser><Arn>arn</Arn></AssumedRoleUser>"
        "<Credentials>\n  <AccessKeyId>ASIAX</AccessKeyId>"
        "<SecretAccessKey>s&amp;e&lt;c&#47;&#x2B;</SecretAccessKey>"
        "<SessionToken>tok/+=</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"
        "</Credentials></AssumeRoleResult></AssumeRoleResponse>";
    char *s = aws_xml_text(ok, sizeof ok - 1, "Credentials", "SecretAccessKey");
    CHECK_STR(s, "s&e<c/+");
    free(s);
    s = aws_xml_text(ok, sizeof ok - 1, NULL, "Arn");
    CHECK_STR(s, "arn");
    free(s);
    CHECK(aws_xml_text(ok, sizeof ok - 1, "Credentials", "Arn") == NULL);
    CHECK(aws_xml_text(ok, sizeof ok - 1, NULL, "Credentials") == NULL); /* not a text element */
    CHECK(aws_xml_text(ok, sizeof ok - 1, "Credentials", "Access") == NULL);
    s = aws_xml_text("<a><b/></a>", 11, "a", "b");
    CHECK_STR(s, "");
    free(s);
    CHECK(aws_xml_text("<a><b>x&bogus;</b></a>", 22, "a", "b") == NULL);
    CHECK(aws_xml_text("<a><b>x&#0;</b></a>", 19, "a", "b") == NULL);
    CHECK(aws_xml_text("<a><b>unclosed", 14, "a", "b") == NULL);

    aws_fetched_t f;
    char err[AWS_ERR_LEN];
    CHECK(aws_sts_parse("AssumeRole", 200, ok, sizeof ok - 1, &f, err, sizeof err) == 0);
    CHECK_STR(f.access_key_id, "ASIAX");
    CHECK_STR(f.session_token, "tok/+=");
    CHECK(f.expires_ms == 1893553445000LL && f.renewable);
    aws_fetched_free(&f);
    static const char bad[] =
        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
        "<Message>User: x is not authorized</Message></Error></ErrorResponse>";
    CHECK(aws_sts_parse("AssumeRole", 403, bad, sizeof bad - 1, &f, err, sizeof err) == -1);
    CHECK_STR(err, "STS AssumeRole: HTTP 403 AccessDenied: User: x is not authorized");
    CHECK(aws_sts_parse("AssumeRole", 502, "<html>", 6, &f, err, sizeof err) == -1);
    CHECK_STR(err, "STS AssumeRole: HTTP 502");
    static const char partial[] = "<Credentials><AccessKeyId>A</AccessKeyId></Credentials>";
    CHECK(aws_sts_parse("AssumeRole", 200, partial, sizeof partial - 1, &f, err, sizeof err) == -1);
    CHECK(strstr(err, "no complete Credentials") != NULL);
}

static void test_time(void)
{
    int64_t ms = 0;
    CHECK(aws_parse_iso8601("2015-08-30T12:36:00Z", 20, &ms) == 0 && ms == 1440938160000LL);
    CHECK(aws_parse_iso8601("1970-01-01T00:00:00Z", 20, &ms) == 0 && ms == 0);
    CHECK(aws_parse_iso8601("2024-02-29T23:59:59.123456Z", 27, &ms) == 0 && ms == 1709251199123LL);
    CHECK(aws_parse_iso8601("2024-03-01T02:00:00+02:00", 25, &ms) == 0 && ms == 1709251200000LL);
    CHECK(aws_parse_iso8601("2024-03-01T00:00:00-0130", 24, &ms) == 0 && ms == 1709256600000LL);
    CHECK(aws_parse_iso8601("2024-03-01 00:00:00", 19, &ms) == 0 && ms == 1709251200000LL);
    CHECK(aws_parse_iso8601(" 2024-03-01T00:00:00Z\n", 22, &ms) == 0);
    CHECK(aws_parse_iso8601("2024-13-01T00:00:00Z", 20, &ms) == -1);
    CHECK(aws_parse_iso8601("2024-02-30T00:00:00Z", 20, &ms) == -1);
    CHECK(aws_parse_iso8601("2024-02-01T24:00:00Z", 20, &ms) == -1);
    CHECK(aws_parse_iso8601("2024-02-01T00:00:00.Z", 21, &ms) == -1);
    CHECK(aws_parse_iso8601("2024-02-01T00:00:00Zjunk", 24, &ms) == -1);
    CHECK(aws_parse_iso8601("2024-02-01", 10, &ms) == -1);
    CHECK(aws_parse_iso8601("1718878272", 10, &ms) == -1);
}

static void test_creds_json(void)
{
    aws_fetched_t f;
    char err[AWS_ERR_LEN];
    const char *j = "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAI\",\"SecretAccessKey\":\"s/k+\","
                    "\"Token\":\"t==\",\"Expiration\":\"2030-01-02T03:04:05Z\"}";
    CHECK(aws_creds_from_json(j, strlen(j), &f, err, sizeof err) == 0);
    CHECK_STR(f.secret_access_key, "s/k+");
    CHECK(f.expires_ms == 1893553445000LL);
    aws_fetched_free(&f);
    j = "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"no role\"}";
    CHECK(aws_creds_from_json(j, strlen(j), &f, err, sizeof err) == -1);
    CHECK(strstr(err, "AssumeRoleUnauthorizedAccess") != NULL && strstr(err, "no role") != NULL);
    j = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\\r\\nX-Injected: 1\"}";
    CHECK(aws_creds_from_json(j, strlen(j), &f, err, sizeof err) == -1); /* header injection */
    j = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Expiration\":\"soon\"}";
    CHECK(aws_creds_from_json(j, strlen(j), &f, err, sizeof err) == -1);
    CHECK(strstr(err, "Expiration") != NULL);
    j = "{\"AccessKeyId\":\"A\"}";
    CHECK(aws_creds_from_json(j, strlen(j), &f, err, sizeof err) == -1);
}

static void test_container_url(void)
{
    char url[256], err[256];
    CHECK(aws_container_url("/v2/creds/abc", "http://127.0.0.1:1/x", url, sizeof url, err,
                            sizeof err) == 0);
    CHECK_STR(url, "http://169.254.170.2/v2/creds/abc"); /* the relative URI wins */
    CHECK(aws_container_url("v2", NULL, url, sizeof url, err, sizeof err) == -1);
    CHECK(aws_container_url(NULL, "http://169.254.170.23/v1/credentials", url, sizeof url, err,
                            sizeof err) == 0);
    CHECK(aws_container_url(NULL, "http://[fd00:ec2::23]/v1/credentials", url, sizeof url, err,
                            sizeof err) == 0);
    CHECK(aws_container_url(NULL, "http://localhost:8080/c", url, sizeof url, err, sizeof err) ==
          0);
    CHECK(aws_container_url(NULL, "http://127.1.2.3/c", url, sizeof url, err, sizeof err) == 0);
    CHECK(aws_container_url(NULL, "https://creds.example.com/c", url, sizeof url, err,
                            sizeof err) == 0);
    CHECK(aws_container_url(NULL, "http://creds.example.com/c", url, sizeof url, err, sizeof err) ==
          -1);
    CHECK(strstr(err, "loopback") != NULL);
    CHECK(aws_container_url(NULL, "http://127.0.0.1.evil.com/c", url, sizeof url, err,
                            sizeof err) == -1);
    CHECK(aws_container_url(NULL, "http://127.0.0.1@evil.com/c", url, sizeof url, err,
                            sizeof err) == -1);
    CHECK(aws_container_url(NULL, "file:///etc/passwd", url, sizeof url, err, sizeof err) == -1);
}

static void test_sts_target(void)
{
    aws_chain_t c;
    memset(&c, 0, sizeof c);
    char region[64], ep[256];
    aws_sts_target(&c, region, sizeof region, ep, sizeof ep);
    CHECK_STR(region, "us-east-1");
    CHECK_STR(ep, "https://sts.us-east-1.amazonaws.com");
    c.env.region = "cn-north-1";
    aws_sts_target(&c, region, sizeof region, ep, sizeof ep);
    CHECK_STR(ep, "https://sts.cn-north-1.amazonaws.com.cn");
    c.region = "eu-central-1";
    aws_sts_target(&c, region, sizeof region, ep, sizeof ep);
    CHECK_STR(region, "eu-central-1");
    CHECK_STR(ep, "https://sts.eu-central-1.amazonaws.com");
    c.env.sts_endpoint = "http://env-sts";
    aws_sts_target(&c, region, sizeof region, ep, sizeof ep);
    CHECK_STR(ep, "http://env-sts");
    c.sts_endpoint = "https://vpce-sts.example";
    aws_sts_target(&c, region, sizeof region, ep, sizeof ep);
    CHECK_STR(ep, "https://vpce-sts.example");
}

int main(void)
{
    test_ini();
    test_json();
    test_xml();
    test_time();
    test_creds_json();
    test_container_url();
    test_sts_target();
    return check_report();
}
