/*
 * The credential chain against tests/mock/aws-cred-mock.mjs (started by test_creds.sh, which
 * exports AWS_MOCK_PORT): every source, their precedence, profile files, refresh before expiry,
 * back-off after failures, sharing of identical confs, and that readers never wait.
 *
 * The environment is changed only while no provider thread runs (libcurl reads proxy variables on
 * those threads); tests that run providers side by side vary the conf instead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws_chain.h"
#include "check.h"

extern char **environ;

static int port;
static char dir[64];
static char url[256];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Every AWS_* and proxy variable out, so the run does not depend on the machine. */
static void clear_env(void)
{
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e != NULL; e++) {
            const char *eq = strchr(*e, '=');
            size_t n = eq != NULL ? (size_t)(eq - *e) : strlen(*e);
            if ((strncmp(*e, "AWS_", 4) == 0 || strncasecmp(*e, "http_proxy", 10) == 0 ||
                 strncasecmp(*e, "https_proxy", 11) == 0 || strncasecmp(*e, "all_proxy", 9) == 0) &&
                n < sizeof name) {
                memcpy(name, *e, n);
                name[n] = '\0';
                break;
            }
        }
        if (name[0] == '\0')
            break;
        unsetenv(name);
    }
    setenv("HOME", dir, 1); /* no ~/.aws of the machine's */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static const char *mock(const char *path)
{
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    return url;
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

static const char *path_of(const char *name)
{
    static char path[8][256];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

/* The mock's counters of a scenario. */
static char *mock_stats(const char *scn)
{
    char u[256];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/__mock/count/%s", port, scn);
    aws_http_req_t req = {.method = "GET",
                          .url = u,
                          .connect_timeout_ms = 2000,
                          .timeout_ms = 5000,
                          .no_proxy = true};
    aws_http_resp_t resp;
    if (aws_http(&req, &resp) != 0 || resp.status != 200) {
        aws_http_resp_free(&resp);
        return NULL;
    }
    return resp.body;
}

static long mock_count(const char *scn, const char *field)
{
    char *s = mock_stats(scn);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", field);
    const char *p = s != NULL ? strstr(s, pat) : NULL;
    long n = p != NULL ? strtol(p + strlen(pat), NULL, 10) : -1;
    free(s);
    return n;
}

/* A string of the scenario's last STS request ("role_arn", "session", "region", "access_key"). */
static char *mock_last(const char *scn, const char *field)
{
    char *s = mock_stats(scn);
    const char *last = s != NULL ? strstr(s, "\"last\":") : NULL;
    char *v = last != NULL ? aws_json_string(last + 7, strlen(last + 7), field) : NULL;
    free(s);
    return v;
}

/* The arrival times (ms) of the scenario's credential requests; returns how many (at most max). */
static size_t mock_times(const char *scn, double *out, size_t max)
{
    char *s = mock_stats(scn);
    const char *p = s != NULL ? strstr(s, "\"times\":[") : NULL;
    size_t n = 0;
    if (p != NULL) {
        p += 9;
        while (n < max && *p != ']' && *p != '\0') {
            char *end;
            out[n] = strtod(p, &end);
            if (end == p)
                break;
            n++;
            p = *end == ',' ? end + 1 : end;
        }
    }
    free(s);
    return n;
}

static bool wait_ready(aws_cred_provider_t *p, double seconds)
{
    double end = now_s() + seconds;
    while (aws_creds_pending(p) && now_s() < end)
        sleep_ms(10);
    return !aws_creds_pending(p);
}

static bool has(const char *s, const char *needle)
{
    bool ok = s != NULL && strstr(s, needle) != NULL;
    if (!ok)
        fprintf(stderr, "  expected \"%s\" in \"%s\"\n", needle, s ? s : "(null)");
    return ok;
}

/* Create, wait for the first attempt, and check the source (NULL: expect a failure whose message
 * holds `want_err`). */
static aws_cred_provider_t *expect(const aws_cred_conf_t *conf, const char *want_source,
                                   const char *want_err)
{
    char err[AWS_ERR_LEN] = "";
    aws_cred_provider_t *p = aws_creds_new(conf, err, sizeof err);
    CHECK(p != NULL);
    if (p == NULL) {
        fprintf(stderr, "  aws_creds_new: %s\n", err);
        return NULL;
    }
    CHECK(wait_ready(p, 15));
    const aws_creds_t *c = aws_creds_get(p);
    aws_creds_error(p, err, sizeof err);
    if (want_source != NULL) {
        CHECK(c != NULL && strcmp(c->source, want_source) == 0);
        if (c == NULL || strcmp(c->source, want_source) != 0)
            fprintf(stderr, "  wanted source %s, got %s (error: %s)\n", want_source,
                    c ? c->source : "none", err);
        CHECK_STR(err, "");
    } else {
        CHECK(c == NULL);
        CHECK(has(err, want_err));
    }
    return p;
}

static void test_static_and_conf_errors(void)
{
    clear_env();
    char err[AWS_ERR_LEN];
    aws_cred_conf_t conf = {.access_key_id = "AKIDCONF", .secret_access_key = "secret-AKIDCONF"};
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-AKIDENV", 1);
    aws_cred_provider_t *p = aws_creds_new(&conf, err, sizeof err);
    /* Static keys are there at once, no waiting. */
    CHECK(p != NULL && !aws_creds_pending(p));
    const aws_creds_t *c = aws_creds_get(p);
    CHECK(c != NULL && strcmp(c->access_key_id, "AKIDCONF") == 0 &&
          strcmp(c->source, "static") == 0 && c->session_token == NULL && c->expires_unix_ms == 0);
    aws_creds_release(p);

    aws_cred_conf_t none = {0};
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    p = aws_creds_new(&none, err, sizeof err);
    c = aws_creds_get(p);
    CHECK(p != NULL && c != NULL && strcmp(c->source, "env") == 0 &&
          strcmp(c->access_key_id, "AKIDENV") == 0 && strcmp(c->session_token, "envtoken") == 0);
    aws_creds_release(p);

    aws_cred_conf_t half = {.access_key_id = "AKID"};
    CHECK(aws_creds_new(&half, err, sizeof err) == NULL && has(err, "together"));
    aws_cred_conf_t tok = {.session_token = "t"};
    CHECK(aws_creds_new(&tok, err, sizeof err) == NULL);
    aws_cred_conf_t wi = {.web_identity_token_file = "/x"};
    CHECK(aws_creds_new(&wi, err, sizeof err) == NULL && has(err, "aws_role_name"));
    aws_cred_conf_t bad = {.access_key_id = "AKID X", .secret_access_key = "s"};
    CHECK(aws_creds_new(&bad, err, sizeof err) == NULL);
    clear_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1); /* without its secret */
    CHECK(aws_creds_new(&none, err, sizeof err) == NULL && has(err, "env"));
}

static const char CREDENTIALS[] = "[default]\n"
                                  "aws_access_key_id = AKIDDEFAULT\n"
                                  "aws_secret_access_key = secret-AKIDDEFAULT\n"
                                  "[dev]\n"
                                  "aws_access_key_id = AKIDDEV\n"
                                  "aws_secret_access_key = secret-AKIDDEV\n"
                                  "aws_session_token = devtoken\n"
                                  "[both]\n"
                                  "aws_access_key_id = AKIDBOTHCRED\n"
                                  "aws_secret_access_key = secret-AKIDBOTHCRED\n";

static void write_config(void)
{
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "[default]\n"
             "region = eu-west-3\n"
             "[profile cfgonly]\n"
             "aws_access_key_id = AKIDCFG\n"
             "aws_secret_access_key = secret-AKIDCFG\n"
             "[profile both]\n"
             "aws_access_key_id = AKIDBOTHCFG\n"
             "aws_secret_access_key = secret-AKIDBOTHCFG\n"
             "[noprefix]\n"
             "aws_access_key_id = AKIDNOPE\n"
             "aws_secret_access_key = secret-AKIDNOPE\n"
             "[profile role]\n"
             "role_arn = arn:aws:iam::123456789012:role/from-profile\n"
             "source_profile = default\n"
             "role_session_name = profile-session\n"
             "[profile chained]\n"
             "role_arn = arn:aws:iam::123456789012:role/chained\n"
             "source_profile = role\n"
             "[profile wi]\n"
             "role_arn = arn:aws:iam::123456789012:role/wi\n"
             "web_identity_token_file = %s/wi-token\n"
             "[profile loop1]\n"
             "role_arn = arn:aws:iam::123456789012:role/l1\n"
             "source_profile = loop2\n"
             "[profile loop2]\n"
             "role_arn = arn:aws:iam::123456789012:role/l2\n"
             "source_profile = loop1\n"
             "[profile regiononly]\n"
             "region = us-west-1\n"
             "[profile envsource]\n"
             "role_arn = arn:aws:iam::123456789012:role/envsrc\n"
             "credential_source = Environment\n",
             dir);
    write_file("config", cfg);
    write_file("credentials", CREDENTIALS);
    write_file("wi-token", "mock-web-identity-token\n");
}

static void profile_env(const char *sts_scenario)
{
    clear_env();
    setenv("AWS_SHARED_CREDENTIALS_FILE", path_of("credentials"), 1);
    setenv("AWS_CONFIG_FILE", path_of("config"), 1);
    char p[128];
    snprintf(p, sizeof p, "/s/%s", sts_scenario);
    setenv("AWS_ENDPOINT_URL_STS", mock(p), 1);
}

static void test_profiles(void)
{
    write_config();
    aws_cred_conf_t none = {0};
    aws_cred_provider_t *p;

    profile_env("prof");
    p = expect(&none, "profile:default", NULL);
    CHECK_STR(aws_creds_get(p)->access_key_id, "AKIDDEFAULT");
    aws_creds_release(p);

    /* A profile named in the conf beats the environment's keys. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-AKIDENV", 1);
    aws_cred_conf_t dev = {.profile = "dev"};
    p = expect(&dev, "profile:dev", NULL);
    CHECK_STR(aws_creds_get(p)->session_token, "devtoken");
    aws_creds_release(p);
    /* $AWS_PROFILE does not: the environment's keys come first in the chain. */
    setenv("AWS_PROFILE", "cfgonly", 1);
    p = expect(&none, "env", NULL);
    aws_creds_release(p);

    profile_env("prof");
    setenv("AWS_PROFILE", "cfgonly", 1);
    p = expect(&none, "profile:cfgonly", NULL);
    CHECK_STR(aws_creds_get(p)->access_key_id, "AKIDCFG");
    aws_creds_release(p);
    setenv("AWS_PROFILE", "both", 1); /* the credentials file wins over the config file */
    p = expect(&none, "profile:both", NULL);
    CHECK_STR(aws_creds_get(p)->access_key_id, "AKIDBOTHCRED");
    aws_creds_release(p);
    setenv("AWS_PROFILE", "noprefix", 1); /* "[noprefix]" in the config file is not a profile */
    p = expect(&none, NULL, "profile noprefix: not found");
    aws_creds_release(p);
    aws_cred_conf_t regiononly = {.profile = "regiononly"};
    p = expect(&regiononly, NULL, "profile regiononly: no credentials");
    aws_creds_release(p);
    aws_cred_conf_t loop = {.profile = "loop1"};
    p = expect(&loop, NULL, "loop");
    aws_creds_release(p);

    /* role_arn + source_profile: AssumeRole signed with the source profile's keys. */
    aws_cred_conf_t role = {.profile = "role", .region = "eu-north-1"};
    p = expect(&role, "assume-role", NULL);
    char *v = mock_last("prof", "access_key");
    CHECK_STR(v, "AKIDDEFAULT");
    free(v);
    v = mock_last("prof", "session");
    CHECK_STR(v, "profile-session");
    free(v);
    v = mock_last("prof", "region");
    CHECK_STR(v, "eu-north-1");
    free(v);
    CHECK(aws_creds_get(p) != NULL && strncmp(aws_creds_get(p)->access_key_id, "ASIAROLE", 8) == 0);
    aws_creds_release(p);
    /* Role chaining: the second AssumeRole is signed with the first one's temporary keys. */
    aws_cred_conf_t chained = {.profile = "chained"};
    p = expect(&chained, "assume-role", NULL);
    v = mock_last("prof", "access_key");
    CHECK(v != NULL && strncmp(v, "ASIAROLE", 8) == 0);
    free(v);
    v = mock_last("prof", "role_arn");
    CHECK_STR(v, "arn:aws:iam::123456789012:role/chained");
    free(v);
    /* No region in the conf, the environment or this profile: us-east-1, as in the SDKs (the
     * default profile's region is not inherited by a named one). */
    v = mock_last("prof", "region");
    CHECK_STR(v, "us-east-1");
    free(v);
    aws_creds_release(p);

    aws_cred_conf_t wi = {.profile = "wi"};
    p = expect(&wi, "web-identity", NULL);
    aws_creds_release(p);

    setenv("AWS_ACCESS_KEY_ID", "AKIDENVSRC", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-AKIDENVSRC", 1);
    aws_cred_conf_t envsource = {.profile = "envsource"};
    p = expect(&envsource, "assume-role", NULL);
    v = mock_last("prof", "access_key");
    CHECK_STR(v, "AKIDENVSRC");
    free(v);
    aws_creds_release(p);

    /* A missing profile named explicitly is an error, not a fall-through to other sources. */
    aws_cred_conf_t missing = {.profile = "nosuch"};
    p = expect(&missing, NULL, "profile nosuch: not found");
    aws_creds_release(p);

    /* The default region: environment first, then the profile's config. */
    profile_env("prof");
    const char *r = aws_default_region(NULL);
    CHECK_STR(r, "eu-west-3");
    CHECK(aws_default_region(NULL) == r); /* interned */
    CHECK_STR(aws_default_region("regiononly"), "us-west-1");
    CHECK(aws_default_region("cfgonly") == NULL);
    setenv("AWS_DEFAULT_REGION", "ap-east-1", 1);
    CHECK_STR(aws_default_region("regiononly"), "ap-east-1");
    setenv("AWS_REGION", "sa-east-1", 1);
    CHECK_STR(aws_default_region(NULL), "sa-east-1");
}

static void test_web_identity_env(void)
{
    clear_env();
    write_file("wi-token", "mock-web-identity-token\n");
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path_of("wi-token"), 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web", 1);
    setenv("AWS_ROLE_SESSION_NAME", "wi-session", 1);
    setenv("AWS_ENDPOINT_URL_STS", mock("/s/wienv"), 1);
    aws_cred_conf_t none = {0};
    aws_cred_provider_t *p = expect(&none, "web-identity", NULL);
    const aws_creds_t *c = aws_creds_get(p);
    CHECK(c != NULL && strncmp(c->access_key_id, "ASIAWEBI", 8) == 0 && c->session_token != NULL &&
          c->expires_unix_ms > aws_now_ms() + 3000 * 1000);
    char *v = mock_last("wienv", "session");
    CHECK_STR(v, "wi-session");
    free(v);
    CHECK(mock_count("wienv", "sts") == 1);
    aws_creds_release(p);

    write_file("wi-token", "not-the-token");
    p = expect(&none, NULL, "InvalidIdentityToken");
    char err[AWS_ERR_LEN];
    aws_creds_error(p, err, sizeof err);
    CHECK(has(err, "web-identity arn:aws:iam::123456789012:role/web"));
    aws_creds_release(p);
    unsetenv("AWS_ROLE_ARN"); /* a token file alone is not a configured source */
    p = expect(&none, NULL, "no AWS credentials found");
    aws_creds_release(p);
}

static void test_container(void)
{
    clear_env();
    aws_cred_conf_t none = {0};
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", mock("/s/ctr/container/v1"), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "mock-container-token", 1);
    aws_cred_provider_t *p = expect(&none, "container", NULL);
    const aws_creds_t *c = aws_creds_get(p);
    CHECK(c != NULL && strncmp(c->access_key_id, "ASIACTNR", 8) == 0 && c->session_token != NULL);
    aws_creds_release(p);

    /* The token file wins over the variable. */
    write_file("ctr-token", "mock-container-token\n");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path_of("ctr-token"), 1);
    p = expect(&none, "container", NULL);
    aws_creds_release(p);
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    p = expect(&none, NULL, "HTTP 401");
    char err[AWS_ERR_LEN];
    aws_creds_error(p, err, sizeof err);
    CHECK(has(err, "container: GET http://127.0.0.1"));
    aws_creds_release(p);

    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://credentials.example.com/x", 1);
    p = expect(&none, NULL, "loopback");
    aws_creds_release(p);
}

static void test_imds(void)
{
    clear_env();
    unsetenv("AWS_EC2_METADATA_DISABLED");
    aws_cred_conf_t none = {0};
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", mock("/s/imds/"), 1);
    aws_cred_provider_t *p = expect(&none, "imds", NULL);
    const aws_creds_t *c = aws_creds_get(p);
    CHECK(c != NULL && strncmp(c->access_key_id, "ASIAIMDS", 8) == 0);
    /* IMDSv2: one session token, the role list, the role's credentials - and no request without
     * the token. */
    CHECK(mock_count("imds", "token") == 1);
    CHECK(mock_count("imds", "list") == 1);
    CHECK(mock_count("imds", "creds") == 1);
    CHECK(mock_count("imds", "unauthorized") == 0);
    aws_creds_release(p);

    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", mock("/s/imdsrole,role=other"), 1);
    p = expect(&none, "imds", NULL);
    aws_creds_release(p);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", mock("/s/imdsbad,badjson"), 1);
    p = expect(&none, NULL, "imds: role mock-role: the JSON has no AccessKeyId");
    aws_creds_release(p);
    /* Nothing configured and IMDS unreachable: the error says nothing else was configured. */
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 1);
    p = expect(&none, NULL, "(no other source configured)");
    aws_creds_release(p);
    setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
    p = expect(&none, NULL, "imds: disabled");
    aws_creds_release(p);
}

static void test_precedence(void)
{
    clear_env();
    unsetenv("AWS_EC2_METADATA_DISABLED");
    write_file("wi-token", "mock-web-identity-token\n");
    aws_cred_conf_t none = {0};
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path_of("wi-token"), 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web", 1);
    setenv("AWS_ENDPOINT_URL_STS", mock("/s/prec-sts"), 1);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", mock("/s/prec-c/container"), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "mock-container-token", 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", mock("/s/prec-i"), 1);
    aws_cred_provider_t *p = expect(&none, "web-identity", NULL);
    aws_creds_release(p);
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    p = expect(&none, "container", NULL);
    aws_creds_release(p);
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    p = expect(&none, "imds", NULL);
    aws_creds_release(p);
    /* The sources later in the chain were not asked while an earlier one answered. */
    CHECK(mock_count("prec-c", "creds") == 1);
    CHECK(mock_count("prec-i", "token") == 1);
    /* A failing configured source is the answer; the chain does not fall through to IMDS. */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", mock("/s/prec-c2,fail=100/container"), 1);
    p = expect(&none, NULL, "container");
    aws_creds_release(p);
    CHECK(mock_count("prec-i", "token") == 1);
}

static void test_assume_role(void)
{
    clear_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDBASE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-AKIDBASE", 1);
    aws_cred_conf_t conf = {.role_arn = "arn:aws:iam::123456789012:role/target",
                            .session_name = "gw",
                            .sts_endpoint = mock("/s/ar1"),
                            .region = "us-east-2"};
    aws_cred_provider_t *p = expect(&conf, "assume-role", NULL);
    char *v = mock_last("ar1", "region");
    CHECK_STR(v, "us-east-2");
    free(v);
    v = mock_last("ar1", "access_key");
    CHECK_STR(v, "AKIDBASE");
    free(v);
    v = mock_last("ar1", "role_arn");
    CHECK_STR(v, "arn:aws:iam::123456789012:role/target");
    free(v);
    CHECK(mock_count("ar1", "sts") == 1 && mock_count("ar1", "unauthorized") == 0);
    aws_creds_release(p);

    /* Base credentials with a session token (the container's) sign it too. */
    clear_env();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", mock("/s/ar-ctr/container"), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "mock-container-token", 1);
    conf.sts_endpoint = mock("/s/ar2");
    p = expect(&conf, "assume-role", NULL);
    v = mock_last("ar2", "access_key");
    CHECK(v != NULL && strncmp(v, "ASIACTNR", 8) == 0);
    free(v);
    aws_creds_release(p);

    /* A wrong secret: the mock's signature check refuses it; the error names STS's code but never
     * the secret. */
    clear_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDBAD", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-xyz", 1);
    conf.sts_endpoint = mock("/s/ar3");
    p = expect(&conf, NULL, "SignatureDoesNotMatch");
    char err[AWS_ERR_LEN];
    aws_creds_error(p, err, sizeof err);
    CHECK(
        has(err, "assume-role arn:aws:iam::123456789012:role/target (with credentials from env)"));
    CHECK(strstr(err, "not-the-secret-xyz") == NULL);
    aws_creds_release(p);

    /* The STS endpoint: conf, else $AWS_ENDPOINT_URL_STS, else $AWS_ENDPOINT_URL. */
    clear_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDBASE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-AKIDBASE", 1);
    setenv("AWS_ENDPOINT_URL", mock("/s/ep-generic"), 1);
    conf.sts_endpoint = NULL;
    p = expect(&conf, "assume-role", NULL);
    aws_creds_release(p);
    setenv("AWS_ENDPOINT_URL_STS", mock("/s/ep-sts"), 1);
    p = expect(&conf, "assume-role", NULL);
    aws_creds_release(p);
    conf.sts_endpoint = mock("/s/ep-conf");
    p = expect(&conf, "assume-role", NULL);
    aws_creds_release(p);
    CHECK(mock_count("ep-generic", "sts") == 1 && mock_count("ep-sts", "sts") == 1 &&
          mock_count("ep-conf", "sts") == 1);
}

/* A conf-only web identity provider against one mock scenario: tests that run providers side by
 * side vary only the conf. */
static aws_cred_provider_t *wi_provider(const char *scenario, const char *session)
{
    char ep[256], err[AWS_ERR_LEN];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d/s/%s", port, scenario);
    aws_cred_conf_t conf = {.role_arn = "arn:aws:iam::123456789012:role/conf",
                            .web_identity_token_file = path_of("wi-token"),
                            .session_name = session,
                            .sts_endpoint = ep};
    aws_cred_provider_t *p = aws_creds_new(&conf, err, sizeof err);
    CHECK(p != NULL);
    return p;
}

static void test_refresh_and_backoff(void)
{
    clear_env();
    write_file("wi-token", "mock-web-identity-token\n");
    double t0 = now_s();
    aws_cred_provider_t *refresh = wi_provider("refresh,expires=8", NULL);
    aws_cred_provider_t *flaky = wi_provider("flaky,fail=2", NULL);
    aws_cred_provider_t *down = wi_provider("down,fail=1000", NULL);
    aws_cred_provider_t *expired = wi_provider("expired,expires=-10", NULL);
    CHECK(wait_ready(refresh, 10) && wait_ready(flaky, 10) && wait_ready(down, 10) &&
          wait_ready(expired, 10));
    const aws_creds_t *first = aws_creds_get(refresh);
    CHECK(first != NULL && strcmp(first->source, "web-identity") == 0);
    char first_key[64];
    snprintf(first_key, sizeof first_key, "%s", first ? first->access_key_id : "");
    char *v = mock_last("refresh", "session");
    CHECK(v != NULL && strncmp(v, "gantry-", 7) == 0); /* the default session name */
    free(v);

    /* A failure: no credentials, the error says why, and no immediate retry. */
    char err[AWS_ERR_LEN];
    CHECK(aws_creds_get(flaky) == NULL);
    aws_creds_error(flaky, err, sizeof err);
    CHECK(has(err, "HTTP 503 ServiceUnavailable"));
    CHECK(aws_creds_get(expired) == NULL);
    aws_creds_error(expired, err, sizeof err);
    CHECK(has(err, "already expired"));
    sleep_ms(500);
    CHECK(mock_count("flaky", "sts") == 1);

    /* Back-off 1 s, 2 s: the flaky one succeeds on its third attempt. */
    const aws_creds_t *c = NULL;
    while ((c = aws_creds_get(flaky)) == NULL && now_s() - t0 < 10)
        sleep_ms(20);
    CHECK(c != NULL);
    double at[8];
    CHECK(mock_times("flaky", at, 8) == 3);
    double gap1 = (at[1] - at[0]) / 1000, gap2 = (at[2] - at[1]) / 1000;
    CHECK(gap1 > 0.9 && gap1 < 1.6);
    CHECK(gap2 > 1.9 && gap2 < 2.6);
    aws_creds_error(flaky, err, sizeof err);
    CHECK_STR(err, ""); /* cleared by the success */

    /* Credentials living 7-8 s are refreshed at half their remaining life (5 minutes before
     * expiry would be long past): the second fetch comes 3.5-4 s after the first.  The new
     * snapshot replaced the first, which stays readable. */
    while (mock_count("refresh", "sts") < 2 && now_s() - t0 < 10)
        sleep_ms(50);
    CHECK(mock_times("refresh", at, 8) == 2);
    double gap = (at[1] - at[0]) / 1000;
    CHECK(gap > 3.4 && gap < 4.3);
    const aws_creds_t *now = NULL;
    while (((now = aws_creds_get(refresh)) == NULL || strcmp(now->access_key_id, first_key) == 0) &&
           now_s() - t0 < 10)
        sleep_ms(20);
    CHECK(now != NULL && strcmp(now->access_key_id, first_key) != 0);
    CHECK(first != NULL && strcmp(first->access_key_id, first_key) == 0);
    /* Always failing: attempts 1 s, then 2 s apart (then 4 s), not a retry storm. */
    size_t d = mock_times("down", at, 8);
    CHECK(d >= 3 && d <= 4);
    CHECK(d >= 3 && at[1] - at[0] > 900 && at[2] - at[1] > 1900);
    if (gap1 <= 0.9 || gap1 >= 1.6 || gap2 <= 1.9 || gap2 >= 2.6 || gap <= 3.4 || gap >= 4.3)
        fprintf(stderr, "  back-off gaps %.2f %.2f s, refresh gap %.2f s\n", gap1, gap2, gap);
    aws_creds_release(refresh);
    aws_creds_release(flaky);
    aws_creds_release(down);
    aws_creds_release(expired);
}

static void test_never_blocks_and_sharing(void)
{
    clear_env();
    write_file("wi-token", "mock-web-identity-token\n");
    double t = now_s();
    aws_cred_provider_t *slow = wi_provider("slow,delay=1500", NULL);
    CHECK(now_s() - t < 0.5);
    CHECK(aws_creds_pending(slow));
    double worst = 0;
    for (int i = 0; i < 1000; i++) {
        double a = now_s();
        CHECK(aws_creds_get(slow) == NULL);
        double b = now_s() - a;
        worst = b > worst ? b : worst;
    }
    CHECK(worst < 0.2); /* a load and a clock read; the bound only allows for preemption */
    char err[AWS_ERR_LEN];
    aws_creds_error(slow, err, sizeof err);
    CHECK_STR(err, "");
    CHECK(wait_ready(slow, 10) && aws_creds_get(slow) != NULL);
    CHECK(now_s() - t > 1.2);

    /* Identical confs share one provider (and one fetch); a different conf does not. */
    aws_cred_provider_t *a = wi_provider("share", NULL);
    aws_cred_provider_t *b = wi_provider("share", NULL);
    aws_cred_provider_t *other = wi_provider("share", "other-session");
    CHECK(a != NULL && a == b && other != a);
    CHECK(wait_ready(a, 10) && wait_ready(other, 10));
    CHECK(mock_count("share", "sts") == 2);
    aws_creds_release(a);
    CHECK(aws_creds_get(b) != NULL); /* still referenced */
    aws_creds_release(b);
    aws_creds_release(other);

    /* Releasing a provider whose fetch is in flight cancels it instead of waiting for it. */
    aws_cred_provider_t *hung = wi_provider("hung,delay=8000", NULL);
    sleep_ms(200);
    t = now_s();
    aws_creds_release(hung);
    CHECK(now_s() - t < 1.0);
    aws_creds_release(slow);
}

int main(void)
{
    const char *p = getenv("AWS_MOCK_PORT");
    port = p != NULL ? (int)strtol(p, NULL, 10) : 0;
    if (port <= 0) {
        fprintf(stderr, "AWS_MOCK_PORT is not set: run me through test_creds.sh\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "/tmp/gantry-aws-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    test_static_and_conf_errors();
    test_profiles();
    test_web_identity_env();
    test_container();
    test_imds();
    test_precedence();
    test_assume_role();
    test_refresh_and_backoff();
    test_never_blocks_and_sharing();
    static const char *const files[] = {"config", "credentials", "wi-token", "ctr-token"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(path_of(files[i]));
    rmdir(dir);
    return check_report();
}
