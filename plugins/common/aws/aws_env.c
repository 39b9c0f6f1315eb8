/*
 * aws_env: the environment variables the AWS SDKs honour, captured once per provider on the main
 * thread, plus the default region lookup and small-file reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws_chain.h"

int64_t aws_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An environment variable, NULL when unset or empty (the SDKs treat both alike). */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

static bool dup_env(char **out, const char *name)
{
    const char *v = env(name);
    *out = v != NULL ? strdup(v) : NULL;
    return v == NULL || *out != NULL;
}

/* A path with "~/" expanded; NULL when it cannot be resolved. */
static char *expand_path(const char *path, const char *fallback)
{
    const char *p = path != NULL ? path : fallback;
    if (strncmp(p, "~/", 2) != 0)
        return strdup(p);
    const char *home = env("HOME");
    if (home == NULL)
        return NULL;
    aws_buf_t b = {0};
    aws_buf_puts(&b, home);
    aws_buf_puts(&b, p + 1);
    return aws_buf_take(&b);
}

static char *config_path(void)
{
    return expand_path(env("AWS_CONFIG_FILE"), "~/.aws/config");
}

int aws_env_capture(aws_env_t *e)
{
    memset(e, 0, sizeof *e);
    bool ok = dup_env(&e->access_key_id, "AWS_ACCESS_KEY_ID") &&
              dup_env(&e->secret_access_key, "AWS_SECRET_ACCESS_KEY") &&
              dup_env(&e->session_token, "AWS_SESSION_TOKEN") &&
              dup_env(&e->profile, "AWS_PROFILE") &&
              dup_env(&e->web_identity_token_file, "AWS_WEB_IDENTITY_TOKEN_FILE") &&
              dup_env(&e->role_arn, "AWS_ROLE_ARN") &&
              dup_env(&e->role_session_name, "AWS_ROLE_SESSION_NAME") &&
              dup_env(&e->container_relative_uri, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") &&
              dup_env(&e->container_full_uri, "AWS_CONTAINER_CREDENTIALS_FULL_URI") &&
              dup_env(&e->container_token, "AWS_CONTAINER_AUTHORIZATION_TOKEN") &&
              dup_env(&e->container_token_file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (!ok)
        goto oom;
    /* A legacy name some SDKs still read. */
    if (e->session_token == NULL && !dup_env(&e->session_token, "AWS_SECURITY_TOKEN"))
        goto oom;
    const char *sts = env("AWS_ENDPOINT_URL_STS");
    if (sts == NULL)
        sts = env("AWS_ENDPOINT_URL");
    if (sts != NULL && (e->sts_endpoint = strdup(sts)) == NULL)
        goto oom;
    const char *region = env("AWS_REGION");
    if (region == NULL)
        region = env("AWS_DEFAULT_REGION");
    if (region != NULL && (e->region = strdup(region)) == NULL)
        goto oom;
    /* Missing paths (no $HOME) simply mean no shared files. */
    e->credentials_file = expand_path(env("AWS_SHARED_CREDENTIALS_FILE"), "~/.aws/credentials");
    e->config_file = config_path();

    const char *disabled = env("AWS_EC2_METADATA_DISABLED");
    e->imds_disabled = disabled != NULL && strcasecmp(disabled, "true") == 0;
    const char *ep = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    if (ep == NULL)
        ep = mode != NULL && strcasecmp(mode, "IPv6") == 0 ? "http://[fd00:ec2::254]"
                                                           : "http://169.254.169.254";
    size_t eplen = strlen(ep);
    while (eplen > 0 && ep[eplen - 1] == '/')
        eplen--;
    if ((e->imds_endpoint = aws_strndup(ep, eplen)) == NULL)
        goto oom;
    return 0;
oom:
    aws_env_free(e);
    return -1;
}

void aws_env_free(aws_env_t *e)
{
    free(e->access_key_id);
    aws_free_secret(e->secret_access_key);
    aws_free_secret(e->session_token);
    free(e->profile);
    free(e->credentials_file);
    free(e->config_file);
    free(e->web_identity_token_file);
    free(e->role_arn);
    free(e->role_session_name);
    free(e->container_relative_uri);
    free(e->container_full_uri);
    aws_free_secret(e->container_token);
    free(e->container_token_file);
    free(e->imds_endpoint);
    free(e->sts_endpoint);
    free(e->region);
    memset(e, 0, sizeof *e);
}

static void key_field(aws_buf_t *b, const char *name, const char *v)
{
    aws_buf_puts(b, name);
    if (v != NULL) {
        aws_buf_putc(b, '=');
        aws_buf_puts(b, v);
    }
    aws_buf_putc(b, '\0');
}

void aws_env_key(const aws_env_t *e, aws_buf_t *b)
{
    key_field(b, "ak", e->access_key_id);
    key_field(b, "sk", e->secret_access_key);
    key_field(b, "st", e->session_token);
    key_field(b, "profile", e->profile);
    key_field(b, "cf", e->credentials_file);
    key_field(b, "cfg", e->config_file);
    key_field(b, "wif", e->web_identity_token_file);
    key_field(b, "role", e->role_arn);
    key_field(b, "rsn", e->role_session_name);
    key_field(b, "crel", e->container_relative_uri);
    key_field(b, "cfull", e->container_full_uri);
    key_field(b, "ctok", e->container_token);
    key_field(b, "ctokf", e->container_token_file);
    key_field(b, "imds", e->imds_endpoint);
    key_field(b, "imdsoff", e->imds_disabled ? "1" : NULL);
    key_field(b, "sts", e->sts_endpoint);
    key_field(b, "region", e->region);
}

char *aws_read_file(const char *path, size_t max, size_t *len)
{
    *len = 0;
    if (path == NULL) {
        errno = ENOENT;
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    aws_buf_t b = {0};
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            aws_buf_free(&b);
            errno = e;
            return NULL;
        }
        if (n == 0)
            break;
        if (b.len + (size_t)n > max) {
            close(fd);
            aws_buf_free(&b);
            errno = EFBIG;
            return NULL;
        }
        aws_buf_put(&b, chunk, (size_t)n);
    }
    close(fd);
    *len = b.len;
    char *s = aws_buf_take(&b);
    if (s == NULL)
        errno = ENOMEM;
    return s;
}

/* ---- the default region ---- */

/* Regions handed out by aws_default_region(), kept for the life of the process so the pointer
 * stays valid for every caller; there are only ever a handful.  Static storage, not the heap: a
 * plugin's copy of this library may be unloaded, and nothing should look leaked then. */
#define MAX_INTERNED 32
#define MAX_REGION 64
static pthread_mutex_t interned_mu = PTHREAD_MUTEX_INITIALIZER;
static char interned[MAX_INTERNED][MAX_REGION + 1];
static size_t ninterned;

static const char *intern(const char *s)
{
    const char *out = NULL;
    if (strlen(s) > MAX_REGION)
        return NULL;
    pthread_mutex_lock(&interned_mu);
    for (size_t i = 0; i < ninterned && out == NULL; i++)
        if (strcmp(interned[i], s) == 0)
            out = interned[i];
    if (out == NULL && ninterned < MAX_INTERNED) {
        memcpy(interned[ninterned], s, strlen(s) + 1);
        out = interned[ninterned++];
    }
    pthread_mutex_unlock(&interned_mu);
    return out;
}

static bool region_ok(const char *r)
{
    if (r == NULL || *r == '\0' || strlen(r) > MAX_REGION)
        return false;
    for (; *r != '\0'; r++)
        if (!((*r >= 'a' && *r <= 'z') || (*r >= 'A' && *r <= 'Z') || (*r >= '0' && *r <= '9') ||
              *r == '-'))
            return false;
    return true;
}

char *aws_profile_region(const char *config_file, const char *profile)
{
    size_t len;
    char *text = aws_read_file(config_file, 1 << 20, &len);
    if (text == NULL)
        return NULL;
    aws_ini_t *ini = aws_ini_parse(text, len, true);
    free(text);
    const char *r = aws_ini_get(ini, profile != NULL ? profile : "default", "region");
    char *out = region_ok(r) ? strdup(r) : NULL;
    aws_ini_free(ini);
    return out;
}

const char *aws_default_region(const char *profile)
{
    const char *r = env("AWS_REGION");
    if (r == NULL)
        r = env("AWS_DEFAULT_REGION");
    if (r != NULL)
        return region_ok(r) ? intern(r) : NULL;
    if (profile == NULL)
        profile = env("AWS_PROFILE");
    char *path = config_path();
    char *fr = aws_profile_region(path, profile);
    free(path);
    const char *out = fr != NULL ? intern(fr) : NULL;
    free(fr);
    return out;
}
