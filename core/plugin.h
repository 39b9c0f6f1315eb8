/*
 * plugin: finding, loading and validating plugin shared objects.
 *
 * A .so is dlopen'ed with RTLD_NOW | RTLD_LOCAL (missing symbols fail at once and nothing leaks
 * into the global namespace) and must export exactly gantry_plugin_describe().  The descriptor is
 * checked before anything else of the plugin runs.  Loaded objects are shared by generations and
 * counted; they are dlclose'd only when nothing uses them.
 */
#ifndef GANTRY_PLUGIN_LOADER_H
#define GANTRY_PLUGIN_LOADER_H

#include <gantry/plugin.h>
#include <stddef.h>

typedef struct plugin {
    char *path;
    void *dl;
    const gantry_plugin_desc_t *desc;
    const gantry_ops_t *ops;
    int refs;
} plugin_t;

/*
 * Search directories, in order: $GANTRY_PLUGIN_PATH (colon separated), `extra` (the config's
 * plugins.path), then the default directory (the build tree's plugins/ when the executable runs
 * from its build tree, else the installed plugin directory), both found from the executable's
 * location.
 */
void plugin_set_search(const char *const *extra, size_t nextra, const char *relative_to);
const char *plugin_default_dir(void);

/*
 * Load `name` (searched on the path) or a file path (contains '/').  Returns the plugin with one
 * more reference, or NULL after writing one line into err.
 */
plugin_t *plugin_load(const char *name, char *err, size_t errlen);
/* Find by name whether a plugin can be found on the path, without loading it. */
int plugin_find(const char *name, char *path_out, size_t len);
void plugin_release(plugin_t *p);
const char *plugin_kind_name(gantry_kind_t kind);

/* Checks of a descriptor, separate so the fixture tests can call it: NULL when acceptable. */
const char *plugin_check_desc(const gantry_plugin_desc_t *d, char *buf, size_t len);

#endif
