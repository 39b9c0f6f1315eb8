#include "plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#ifndef GANTRY_PLUGINDIR_REL
#define GANTRY_PLUGINDIR_REL "lib/gantry/plugins"
#endif

#define MAX_DIRS 32
#define MAX_LOADED 128

static char *search_dirs[MAX_DIRS];
static char *config_dir; /* relative plugin file paths are relative to the config file */
static size_t nsearch;
static char default_dir[2 * PATH_MAX];
static plugin_t *loaded[MAX_LOADED];
static size_t nloaded;

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *plugin_default_dir(void)
{
    if (default_dir[0] != '\0')
        return default_dir;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    /* An executable inside a meson build tree uses the plugins built next to it. */
    char probe[2 * PATH_MAX];
    snprintf(probe, sizeof probe, "%s/meson-private", exe);
    if (is_dir(probe)) {
        snprintf(default_dir, sizeof default_dir, "%s/plugins", exe);
    } else {
        /* Installed: <prefix>/bin/gantry -> <prefix>/<libdir>/gantry/plugins. */
        snprintf(default_dir, sizeof default_dir, "%s/../%s", exe, GANTRY_PLUGINDIR_REL);
    }
    return default_dir;
}

static void add_dir(const char *d, size_t len, const char *relative_to)
{
    if (len == 0 || nsearch >= MAX_DIRS)
        return;
    char buf[PATH_MAX];
    if (d[0] != '/' && relative_to != NULL)
        snprintf(buf, sizeof buf, "%s/%.*s", relative_to, (int)len, d);
    else
        snprintf(buf, sizeof buf, "%.*s", (int)len, d);
    /* Out of memory: the directory is left out rather than kept as a NULL to be printed later. */
    char *dup = strdup(buf);
    if (dup != NULL)
        search_dirs[nsearch++] = dup;
}

void plugin_set_search(const char *const *extra, size_t nextra, const char *relative_to)
{
    for (size_t i = 0; i < nsearch; i++)
        free(search_dirs[i]);
    nsearch = 0;
    free(config_dir);
    config_dir = relative_to ? strdup(relative_to) : NULL;
    const char *env = getenv("GANTRY_PLUGIN_PATH");
    if (env != NULL) {
        const char *p = env;
        while (*p) {
            const char *colon = strchr(p, ':');
            size_t len = colon ? (size_t)(colon - p) : strlen(p);
            add_dir(p, len, NULL);
            p += len;
            if (*p == ':')
                p++;
        }
    }
    for (size_t i = 0; i < nextra; i++)
        add_dir(extra[i], strlen(extra[i]), relative_to);
    const char *def = plugin_default_dir();
    if (def != NULL)
        add_dir(def, strlen(def), NULL);
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int plugin_find(const char *name, char *out, size_t len)
{
    if (strchr(name, '/') != NULL) {
        if (name[0] != '/' && config_dir != NULL)
            snprintf(out, len, "%s/%s", config_dir, name);
        else
            snprintf(out, len, "%s", name);
        return is_file(out) ? 0 : -1;
    }
    for (size_t i = 0; i < nsearch; i++) {
        snprintf(out, len, "%s/%s.so", search_dirs[i], name);
        if (is_file(out))
            return 0;
        /* One level down too: the build tree keeps each plugin in plugins/<kind>-<name>/. */
        DIR *dir = opendir(search_dirs[i]);
        if (dir == NULL)
            continue;
        struct dirent *de;
        int found = -1;
        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(out, len, "%s/%s/%s.so", search_dirs[i], de->d_name, name);
            if (is_file(out)) {
                found = 0;
                break;
            }
        }
        closedir(dir);
        if (found == 0)
            return 0;
    }
    return -1;
}

const char *plugin_kind_name(gantry_kind_t kind)
{
    switch (kind) {
    case GANTRY_KIND_PROVIDER:
        return "provider";
    case GANTRY_KIND_AUTH:
        return "auth";
    case GANTRY_KIND_GUARDRAIL:
        return "guardrail";
    case GANTRY_KIND_CACHE:
        return "cache";
    case GANTRY_KIND_LOGGER:
        return "logger";
    }
    return "unknown";
}

static bool valid_name(const char *n)
{
    if (n == NULL || *n == '\0' || strlen(n) > 64)
        return false;
    for (const char *p = n; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return false;
    }
    return true;
}

const char *plugin_check_desc(const gantry_plugin_desc_t *d, char *buf, size_t len)
{
    if (d == NULL)
        return "gantry_plugin_describe() returned NULL";
    if (d->size < offsetof(gantry_plugin_desc_t, ops) + sizeof(d->ops)) {
        snprintf(buf, len, "descriptor too small (%u bytes; ABI 1.0 needs %zu)", d->size,
                 offsetof(gantry_plugin_desc_t, ops) + sizeof(d->ops));
        return buf;
    }
    if (d->abi_major != GANTRY_ABI_MAJOR) {
        snprintf(buf, len, "built for plugin ABI %u.%u; this gantry speaks %d.%d (major differs)",
                 d->abi_major, d->abi_minor, GANTRY_ABI_MAJOR, GANTRY_ABI_MINOR);
        return buf;
    }
    if (d->abi_minor > GANTRY_ABI_MINOR) {
        snprintf(buf, len, "built for plugin ABI %u.%u, newer than this gantry's %d.%d",
                 d->abi_major, d->abi_minor, GANTRY_ABI_MAJOR, GANTRY_ABI_MINOR);
        return buf;
    }
    if (d->kind < GANTRY_KIND_PROVIDER || d->kind > GANTRY_KIND_LOGGER) {
        snprintf(buf, len, "unknown plugin kind %d", (int)d->kind);
        return buf;
    }
    if (!valid_name(d->name))
        return "descriptor name missing or not [a-z0-9_-]{1,64}";
    const gantry_ops_t *o = d->ops;
    if (o == NULL || o->size < offsetof(gantry_ops_t, invoke) + sizeof(o->invoke)) {
        snprintf(buf, len, "ops table missing or too small (%u bytes)", o ? o->size : 0);
        return buf;
    }
    if (o->create == NULL || o->destroy == NULL)
        return "ops table lacks create/destroy";
    switch (d->kind) {
    case GANTRY_KIND_AUTH:
        if (o->authenticate == NULL)
            return "auth plugin without authenticate()";
        break;
    case GANTRY_KIND_GUARDRAIL:
        if (o->check_request == NULL && o->check_chunk == NULL && o->check_response == NULL)
            return "guardrail plugin without any check_*()";
        break;
    case GANTRY_KIND_CACHE:
        if (o->lookup == NULL || o->store == NULL)
            return "cache plugin without lookup()/store()";
        break;
    case GANTRY_KIND_LOGGER:
        if (o->log == NULL)
            return "logger plugin without log()";
        break;
    case GANTRY_KIND_PROVIDER:
        if (o->deployment_create == NULL)
            return "provider plugin without deployment_create()";
        if (o->invoke == NULL && (o->prepare == NULL || o->parse_response == NULL))
            return "provider plugin needs invoke() or prepare()+parse_response()";
        break;
    }
    return NULL;
}

plugin_t *plugin_load(const char *name, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (plugin_find(name, path, sizeof path) != 0) {
        /* A path is not searched for, so the search path is no help there. */
        if (strchr(name, '/') != NULL) {
            snprintf(err, errlen, "plugin file %s not found", name);
            return NULL;
        }
        snprintf(err, errlen,
                 "plugin '%s' not found (searched %zu director%s; set GANTRY_PLUGIN_PATH "
                 "or plugins.path)",
                 name, nsearch, nsearch == 1 ? "y" : "ies");
        return NULL;
    }
    char real[PATH_MAX];
    if (realpath(path, real) == NULL)
        snprintf(real, sizeof real, "%s", path);
    for (size_t i = 0; i < nloaded; i++) {
        if (strcmp(loaded[i]->path, real) == 0) {
            loaded[i]->refs++;
            return loaded[i];
        }
    }
    if (nloaded >= MAX_LOADED) {
        snprintf(err, errlen, "too many plugins loaded (%d)", MAX_LOADED);
        return NULL;
    }
    void *dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        snprintf(err, errlen, "cannot load plugin %s: %s", real, dlerror());
        return NULL;
    }
    gantry_plugin_describe_fn fn;
    *(void **)&fn = dlsym(dl, GANTRY_PLUGIN_SYMBOL);
    if (fn == NULL) {
        snprintf(err, errlen, "refusing plugin %s: it does not export %s()", real,
                 GANTRY_PLUGIN_SYMBOL);
        dlclose(dl);
        return NULL;
    }
    const gantry_plugin_desc_t *d = fn();
    char why[256];
    const char *bad = plugin_check_desc(d, why, sizeof why);
    if (bad != NULL) {
        snprintf(err, errlen, "refusing plugin %s: %s", real, bad);
        dlclose(dl);
        return NULL;
    }
    for (size_t i = 0; i < nloaded; i++) {
        if (strcmp(loaded[i]->desc->name, d->name) == 0) {
            snprintf(err, errlen, "refusing plugin %s: its name '%s' is already taken by %s", real,
                     d->name, loaded[i]->path);
            dlclose(dl);
            return NULL;
        }
    }
    if (strchr(name, '/') == NULL && strcmp(d->name, name) != 0) {
        snprintf(err, errlen,
                 "refusing plugin %s: file is named '%s' but the plugin calls itself '%s'", real,
                 name, d->name);
        dlclose(dl);
        return NULL;
    }
    plugin_t *p = calloc(1, sizeof *p);
    char *copy = strdup(real);
    if (p == NULL || copy == NULL) {
        snprintf(err, errlen, "cannot load plugin %s: out of memory", real);
        free(copy);
        free(p);
        dlclose(dl);
        return NULL;
    }
    p->path = copy;
    p->dl = dl;
    p->desc = d;
    p->ops = d->ops;
    p->refs = 1;
    loaded[nloaded++] = p;
    log_debug("loaded %s plugin '%s' %s (ABI %u.%u) from %s", plugin_kind_name(d->kind), d->name,
              d->version ? d->version : "", d->abi_major, d->abi_minor, real);
    return p;
}

void plugin_release(plugin_t *p)
{
    if (p == NULL || --p->refs > 0)
        return;
    for (size_t i = 0; i < nloaded; i++) {
        if (loaded[i] == p) {
            loaded[i] = loaded[--nloaded];
            break;
        }
    }
    /*
     * Under sanitizers keep the object mapped so leak reports can still name plugin functions.
     * Otherwise unload: no generation uses it any more.
     */
#if !defined(__SANITIZE_ADDRESS__)
    dlclose(p->dl);
#endif
    free(p->path);
    free(p);
}
