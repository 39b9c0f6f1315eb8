/*
 * redis cache: configuration (LiteLLM's cache_params names), instance lifecycle and the plugin
 * descriptor.
 */
#include "redis_int.h"

#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define RD_DEFAULT_TTL_S 600
#define RD_MAX_TTL_S (366 * 24 * 3600)
#define RD_DEFAULT_CONNECT_TIMEOUT 1.0
#define RD_DEFAULT_COMMAND_TIMEOUT 0.2
#define RD_MAX_TIMEOUT 60.0
#define RD_DEFAULT_MAX_PENDING 1024
#define RD_MAX_MAX_PENDING 1000000

static char *dup_str(const gantry_host_t *host, const char *s, size_t len)
{
    char *p = host->mem_alloc(len + 1);

    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/* An optional string key; *out stays NULL when absent.  GANTRY_OK or an error already reported. */
static int get_str(const gantry_host_t *host, const gantry_conf_t *conf, const char *key,
                   char **out)
{
    const gantry_conf_t *node = host->conf_get(conf, key);
    gantry_str_t s;

    if (node == NULL)
        return GANTRY_OK;
    if (host->conf_string(node, &s) != GANTRY_OK)
        return host->conf_error(node, "redis: `%s` must be a string", key);
    if (memchr(s.ptr, '\0', s.len) != NULL)
        return host->conf_error(node, "redis: `%s` must not contain a NUL byte", key);
    *out = dup_str(host, s.ptr, s.len);
    return *out != NULL ? GANTRY_OK : GANTRY_ENOMEM;
}

static int get_int(const gantry_host_t *host, const gantry_conf_t *conf, const char *key,
                   int64_t min, int64_t max, int64_t *out)
{
    const gantry_conf_t *node = host->conf_get(conf, key);
    int64_t v;

    if (node == NULL)
        return GANTRY_OK;
    if (host->conf_int(node, &v) != GANTRY_OK)
        return host->conf_error(node, "redis: `%s` must be an integer", key);
    if (v < min || v > max)
        return host->conf_error(node, "redis: `%s` must be between %lld and %lld", key,
                                (long long)min, (long long)max);
    *out = v;
    return GANTRY_OK;
}

/* A timeout in seconds (a number, as redis-py's socket timeouts), kept in whole milliseconds. */
static int get_timeout(const gantry_host_t *host, const gantry_conf_t *conf, const char *key,
                       double def, uint64_t *out_ms)
{
    const gantry_conf_t *node = host->conf_get(conf, key);
    double v = def;

    if (node != NULL && host->conf_number(node, &v) != GANTRY_OK)
        return host->conf_error(node, "redis: `%s` must be a number of seconds", key);
    if (!isfinite(v) || v < 0.001 || v > RD_MAX_TIMEOUT)
        return host->conf_error(node, "redis: `%s` must be from 0.001 to %g seconds", key,
                                RD_MAX_TIMEOUT);
    *out_ms = (uint64_t)llround(v * 1000.0);
    return GANTRY_OK;
}

/* LiteLLM configs often give the port as a string (from the environment): take both. */
static int get_port(const gantry_host_t *host, const gantry_conf_t *conf, int *out)
{
    const gantry_conf_t *node = host->conf_get(conf, "port");
    int64_t v = 0;
    gantry_str_t s;

    if (node == NULL)
        return GANTRY_OK;
    if (host->conf_int(node, &v) != GANTRY_OK) {
        if (host->conf_string(node, &s) != GANTRY_OK || s.len == 0 || s.len > 5)
            return host->conf_error(node, "redis: `port` must be a port number");
        for (size_t i = 0; i < s.len; i++) {
            if (s.ptr[i] < '0' || s.ptr[i] > '9')
                return host->conf_error(node, "redis: `port` must be a port number, not '%s'",
                                        s.ptr);
            v = v * 10 + (s.ptr[i] - '0');
        }
    }
    if (v < 1 || v > 65535)
        return host->conf_error(node, "redis: `port` must be between 1 and 65535");
    *out = (int)v;
    return GANTRY_OK;
}

/*
 * Resolve the host once, here on the main thread: hiredis 0.14 resolves names inside
 * redisAsyncConnect(), which would block a worker's loop on every reconnect, and for as long as
 * DNS is down.  The price: a changed DNS record needs a configuration reload.
 */
static int resolve(const gantry_host_t *host, const gantry_conf_t *node, rd_instance_t *rd)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL, *pick = NULL;
    char buf[INET6_ADDRSTRLEN];
    const void *a;
    int rc = getaddrinfo(rd->host_name, NULL, &hints, &res);

    if (rc != 0)
        return host->conf_error(node, "redis: cannot resolve host '%s': %s", rd->host_name,
                                gai_strerror(rc));
    /* IPv4 first, as hiredis itself prefers. */
    for (struct addrinfo *ai = res; ai != NULL && pick == NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET)
            pick = ai;
    }
    for (struct addrinfo *ai = res; ai != NULL && pick == NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET6)
            pick = ai;
    }
    if (pick == NULL) {
        freeaddrinfo(res);
        return host->conf_error(node, "redis: host '%s' has no IPv4 or IPv6 address",
                                rd->host_name);
    }
    a = pick->ai_family == AF_INET
            ? (const void *)&((const struct sockaddr_in *)(const void *)pick->ai_addr)->sin_addr
            : (const void *)&((const struct sockaddr_in6 *)(const void *)pick->ai_addr)->sin6_addr;
    if (inet_ntop(pick->ai_family, a, buf, sizeof buf) == NULL) {
        freeaddrinfo(res);
        return host->conf_error(node, "redis: cannot use the address of host '%s'", rd->host_name);
    }
    freeaddrinfo(res);
    rd->addr = dup_str(host, buf, strlen(buf));
    return rd->addr != NULL ? GANTRY_OK : GANTRY_ENOMEM;
}

static void rd_destroy(void *state)
{
    rd_instance_t *rd = state;
    const gantry_host_t *host;

    if (rd == NULL)
        return;
    host = rd->host;
    host->mem_free(rd->host_name);
    host->mem_free(rd->addr);
    host->mem_free(rd->username);
    if (rd->password != NULL)
        memset(rd->password, 0, strlen(rd->password));
    host->mem_free(rd->password);
    host->mem_free(rd->ns);
    host->mem_free(rd);
}

static int load(const gantry_host_t *host, const gantry_conf_t *conf, rd_instance_t *rd)
{
    const gantry_conf_t *node;
    int64_t v;
    bool tls = false;
    int rc;

    node = host->conf_get(conf, "tls");
    if (node != NULL && host->conf_bool(node, &tls) != GANTRY_OK)
        return host->conf_error(node, "redis: `tls` must be true or false");
    if (tls)
        return host->conf_error(
            node,
            "redis: `tls: true` is not supported: this build uses hiredis %d.%d, "
            "which has no TLS; reach a TLS Redis through a local TLS tunnel "
            "(e.g. stunnel) and point `host`/`port` at it",
            HIREDIS_MAJOR, HIREDIS_MINOR);
    if ((rc = get_str(host, conf, "host", &rd->host_name)) != GANTRY_OK ||
        (rc = get_str(host, conf, "username", &rd->username)) != GANTRY_OK ||
        (rc = get_str(host, conf, "password", &rd->password)) != GANTRY_OK ||
        (rc = get_str(host, conf, "namespace", &rd->ns)) != GANTRY_OK ||
        (rc = get_port(host, conf, &rd->port)) != GANTRY_OK ||
        (rc = get_int(host, conf, "db", 0, INT32_MAX, &rd->db)) != GANTRY_OK ||
        (rc = get_int(host, conf, "ttl", 1, RD_MAX_TTL_S, &rd->ttl_s)) != GANTRY_OK ||
        (rc = get_timeout(host, conf, "connect_timeout", RD_DEFAULT_CONNECT_TIMEOUT,
                          &rd->connect_timeout_ms)) != GANTRY_OK ||
        (rc = get_timeout(host, conf, "command_timeout", RD_DEFAULT_COMMAND_TIMEOUT,
                          &rd->command_timeout_ms)) != GANTRY_OK)
        return rc;
    v = rd->max_pending;
    if ((rc = get_int(host, conf, "max_pending", 1, RD_MAX_MAX_PENDING, &v)) != GANTRY_OK)
        return rc;
    rd->max_pending = (uint32_t)v;
    if (rd->username != NULL && rd->password == NULL)
        return host->conf_error(host->conf_get(conf, "username"),
                                "redis: `username` needs a `password` (Redis ACL AUTH)");
    if (rd->host_name == NULL && (rd->host_name = dup_str(host, "127.0.0.1", 9)) == NULL)
        return GANTRY_ENOMEM;
    if (rd->host_name[0] == '\0')
        return host->conf_error(host->conf_get(conf, "host"), "redis: `host` must not be empty");
    if (rd->ns == NULL && (rd->ns = dup_str(host, "gantry", 6)) == NULL)
        return GANTRY_ENOMEM;
    rd->ns_len = strlen(rd->ns);
    if (rd->ns_len > RD_MAX_NAMESPACE)
        return host->conf_error(host->conf_get(conf, "namespace"),
                                "redis: `namespace` must be at most %d bytes", RD_MAX_NAMESPACE);
    /* A connection whose commands wait this long without any reply is dead, whatever TCP says:
     * long enough not to punish a busy Redis, short enough to recover in about a second. */
    rd->stall_ms = rd->command_timeout_ms * 5;
    if (rd->stall_ms < rd->connect_timeout_ms)
        rd->stall_ms = rd->connect_timeout_ms;
    return resolve(host, host->conf_get(conf, "host"), rd);
}

static int rd_create(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                     void **state)
{
    rd_instance_t *rd;
    int rc;

    if (!GANTRY_HOST_HAS(host, watch_new) || !GANTRY_HOST_HAS(host, watch_set) ||
        !GANTRY_HOST_HAS(host, watch_free) || !GANTRY_HOST_HAS(host, wtimer_new) ||
        !GANTRY_HOST_HAS(host, wtimer_start) || !GANTRY_HOST_HAS(host, wtimer_free)) {
        host->log(self, NULL, GANTRY_LOG_ERROR,
                  "redis needs a core with worker watches and timers (plugin ABI 1.2)");
        return GANTRY_EUNSUPPORTED;
    }
    rd = host->mem_calloc(1, sizeof(*rd));
    if (rd == NULL)
        goto nomem;
    rd->host = host;
    rd->self = self;
    rd->port = 6379;
    rd->ttl_s = RD_DEFAULT_TTL_S;
    rd->max_pending = RD_DEFAULT_MAX_PENDING;
    rc = load(host, conf, rd);
    if (rc == GANTRY_ENOMEM)
        goto nomem;
    if (rc != GANTRY_OK) {
        rd_destroy(rd);
        return rc;
    }
    host->log(self, NULL, GANTRY_LOG_INFO,
              "Redis at %s:%d (%s), db %lld, namespace '%s', ttl %lld s, command timeout %llu ms",
              rd->host_name, rd->port, rd->addr, (long long)rd->db, rd->ns, (long long)rd->ttl_s,
              (unsigned long long)rd->command_timeout_ms);
    *state = rd;
    return GANTRY_OK;

nomem:
    host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory");
    rd_destroy(rd);
    return GANTRY_ENOMEM;
}

static const gantry_conf_field_t rd_fields[] = {
    {"host", GANTRY_CONF_STRING, 0, "Redis host name or address (default 127.0.0.1)"},
    {"port", GANTRY_CONF_ANY, 0, "Redis port, a number or a numeric string (default 6379)"},
    {"password", GANTRY_CONF_STRING, GANTRY_CONF_SECRET, "AUTH password"},
    {"username", GANTRY_CONF_STRING, 0, "ACL user name (Redis 6+; needs password)"},
    {"db", GANTRY_CONF_INT, 0, "database number, selected on connect (default 0)"},
    {"tls", GANTRY_CONF_BOOL, 0, "TLS to Redis: not available with hiredis 0.14 (must be false)"},
    {"namespace", GANTRY_CONF_STRING, 0, "key prefix: keys are <namespace>:<key> (default gantry)"},
    {"ttl", GANTRY_CONF_INT, 0, "seconds an entry lives unless the store says (default 600)"},
    {"connect_timeout", GANTRY_CONF_NUMBER, 0,
     "seconds for connect + AUTH/SELECT/PING (default 1)"},
    {"command_timeout", GANTRY_CONF_NUMBER, 0,
     "seconds a lookup may wait for Redis before it is a miss (default 0.2)"},
    {"max_pending", GANTRY_CONF_INT, 0,
     "commands outstanding per worker; beyond it lookups miss and stores are skipped (default "
     "1024)"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t rd_ops = {
    .size = sizeof(gantry_ops_t),
    .create = rd_create,
    .destroy = rd_destroy,
    .worker_init = rd_worker_init,
    .worker_fini = rd_worker_fini,
    .lookup = rd_lookup,
    .store = rd_store,
    .remove = rd_remove,
    .health = rd_health,
};

static const gantry_plugin_desc_t rd_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_CACHE,
    .name = "redis",
    .version = "0.1.0",
    .summary = "shared response cache in Redis: per-worker async connections, misses on trouble",
    .flags = 0,
    .config_fields = rd_fields,
    .deployment_fields = NULL,
    .ops = &rd_ops,
};

GANTRY_PLUGIN(&rd_desc)
