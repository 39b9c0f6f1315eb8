/*
 * jsonl logger: configuration, instance and worker lifecycle, and the plugin descriptor.
 */
#include "jsonl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JL_DEFAULT_BUFFER (1024 * 1024)
#define JL_MIN_BUFFER (4 * 1024)
#define JL_MAX_BUFFER (1024 * 1024 * 1024)
#define JL_DEFAULT_FLUSH_MS 200
#define JL_MAX_FLUSH_MS 60000

static int get_int(const gantry_host_t *host, const gantry_conf_t *conf, const char *key,
                   int64_t min, int64_t max, int64_t *out)
{
    const gantry_conf_t *node = host->conf_get(conf, key);
    int64_t v;

    if (node == NULL)
        return GANTRY_OK;
    if (host->conf_int(node, &v) != GANTRY_OK)
        return host->conf_error(node, "jsonl: `%s` must be an integer", key);
    if (v < min || v > max)
        return host->conf_error(node, "jsonl: `%s` must be between %lld and %lld", key,
                                (long long)min, (long long)max);
    *out = v;
    return GANTRY_OK;
}

/* Open the destination now, on the main thread, so a bad path is a load error, not a lost log. */
static int open_output(jl_instance_t *jl, const gantry_conf_t *node)
{
    const gantry_host_t *host = jl->host;

    if (strcmp(jl->path, "stdout") == 0) {
        jl->fd = STDOUT_FILENO;
        return GANTRY_OK;
    }
    if (strcmp(jl->path, "stderr") == 0) {
        jl->fd = STDERR_FILENO;
        return GANTRY_OK;
    }
    jl->fd = open(jl->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (jl->fd < 0) {
        /* create() runs on the main thread, where strerror() is safe to call. */
        return host->conf_error(node, "jsonl: cannot open '%s' for appending: %s", jl->path,
                                strerror(errno));
    }
    jl->own_fd = true;
    return GANTRY_OK;
}

static int init_locks(jl_instance_t *jl)
{
    pthread_condattr_t attr;
    bool attr_ok = false, wlock_ok = false, reg_ok = false;

    if (pthread_mutex_init(&jl->wlock, NULL) != 0)
        goto fail;
    wlock_ok = true;
    if (pthread_mutex_init(&jl->reg_lock, NULL) != 0)
        goto fail;
    reg_ok = true;
    /* Monotonic deadlines: a wall-clock jump must neither stall nor rush the flushes. */
    if (pthread_condattr_init(&attr) != 0)
        goto fail;
    attr_ok = true;
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&jl->wcond, &attr) != 0)
        goto fail;
    pthread_condattr_destroy(&attr);
    jl->locks_ready = true;
    return GANTRY_OK;

fail:
    if (attr_ok)
        pthread_condattr_destroy(&attr);
    if (reg_ok)
        pthread_mutex_destroy(&jl->reg_lock);
    if (wlock_ok)
        pthread_mutex_destroy(&jl->wlock);
    return GANTRY_ENOMEM;
}

static void jl_destroy(void *state)
{
    jl_instance_t *jl = state;
    const gantry_host_t *host;
    jl_slot_t *slot;

    if (jl == NULL)
        return;
    host = jl->host;
    if (jl->locks_ready) {
        /* Every request has finished: stop the writer and write out what the buffers still hold. */
        jl_writer_stop(jl);
        while ((slot = jl->slots) != NULL) {
            jl->slots = slot->next;
            jl_slot_free(jl, slot);
        }
        pthread_cond_destroy(&jl->wcond);
        pthread_mutex_destroy(&jl->reg_lock);
        pthread_mutex_destroy(&jl->wlock);
    }
    if (jl->own_fd)
        close(jl->fd);
    host->mem_free(jl->spare);
    host->mem_free(jl->path);
    host->mem_free(jl);
}

static int jl_create(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                     void **state)
{
    const gantry_conf_t *path_node = host->conf_get(conf, "path");
    int64_t buf_size = JL_DEFAULT_BUFFER, flush_ms = JL_DEFAULT_FLUSH_MS;
    jl_instance_t *jl;
    gantry_str_t path;
    int rc;

    if (path_node == NULL)
        return host->conf_error(conf, "jsonl: `path` is required");
    if (host->conf_string(path_node, &path) != GANTRY_OK || path.len == 0)
        return host->conf_error(path_node,
                                "jsonl: `path` must be `stdout`, `stderr` or a file path");
    if ((rc = get_int(host, conf, "buffer_bytes", JL_MIN_BUFFER, JL_MAX_BUFFER, &buf_size)) !=
            GANTRY_OK ||
        (rc = get_int(host, conf, "flush_interval_ms", 1, JL_MAX_FLUSH_MS, &flush_ms)) != GANTRY_OK)
        return rc;

    jl = host->mem_calloc(1, sizeof(*jl));
    if (jl == NULL)
        goto nomem;
    jl->host = host;
    jl->self = self;
    jl->fd = -1;
    jl->buf_size = (size_t)buf_size;
    jl->flush_ms = flush_ms;
    jl->path = host->mem_alloc(path.len + 1);
    if (jl->path == NULL)
        goto nomem;
    memcpy(jl->path, path.ptr, path.len);
    jl->path[path.len] = '\0';
    if ((rc = open_output(jl, path_node)) != GANTRY_OK)
        goto fail;
    jl->spare = host->mem_alloc(jl->buf_size);
    if (jl->spare == NULL || init_locks(jl) != GANTRY_OK)
        goto nomem;
    /* The shared slot takes the lines of log() calls that come without worker state. */
    jl->shared = jl_slot_new(jl);
    if (jl->shared == NULL)
        goto nomem;
    jl->slots = jl->shared;
    if (jl_writer_start(jl) != GANTRY_OK) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "cannot start the writer thread");
        rc = GANTRY_EIO;
        goto fail;
    }
    *state = jl;
    return GANTRY_OK;

nomem:
    host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory");
    rc = GANTRY_ENOMEM;
fail:
    jl_destroy(jl);
    return rc;
}

static int jl_worker_init(void *state, unsigned worker_id, void **worker_state)
{
    jl_instance_t *jl = state;
    jl_slot_t *slot = jl_slot_new(jl);

    if (slot == NULL) {
        jl->host->log(jl->self, NULL, GANTRY_LOG_ERROR, "worker %u: out of memory", worker_id);
        return GANTRY_ENOMEM;
    }
    pthread_mutex_lock(&jl->reg_lock);
    slot->next = jl->slots;
    jl->slots = slot;
    pthread_mutex_unlock(&jl->reg_lock);
    *worker_state = slot;
    return GANTRY_OK;
}

static void jl_worker_fini(void *state, unsigned worker_id, void *worker_state)
{
    jl_instance_t *jl = state;
    jl_slot_t *slot = worker_state;

    (void)worker_id;
    if (slot == NULL)
        return;
    /* The writer drains and frees the slot; after this the worker never touches it again. */
    pthread_mutex_lock(&slot->lock);
    slot->retired = true;
    pthread_mutex_unlock(&slot->lock);
    jl_kick(jl);
}

static const gantry_conf_field_t jl_fields[] = {
    {"path", GANTRY_CONF_STRING, GANTRY_CONF_REQUIRED,
     "`stdout`, `stderr`, or a file to append to (created with mode 0640)"},
    {"buffer_bytes", GANTRY_CONF_INT, 0,
     "per-worker buffer; lines that do not fit are dropped and counted (default 1048576)"},
    {"flush_interval_ms", GANTRY_CONF_INT, 0,
     "how often the writer thread writes the buffers out (default 200)"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t jl_ops = {
    .size = sizeof(gantry_ops_t),
    .create = jl_create,
    .destroy = jl_destroy,
    .worker_init = jl_worker_init,
    .worker_fini = jl_worker_fini,
    .log = jl_log,
};

static const gantry_plugin_desc_t jl_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_LOGGER,
    .name = "jsonl",
    .version = "0.1.0",
    .summary = "writes one JSON line per finished request to a file, stdout or stderr",
    .flags = 0,
    .config_fields = jl_fields,
    .deployment_fields = NULL,
    .ops = &jl_ops,
};

GANTRY_PLUGIN(&jl_desc)
