/*
 * policy: custom routing rules.  A policy set is an ordered list of rules read from YAML policy
 * files (in policies/, listed under the config's top-level `policies:` key) or written inline. Each
 * rule matches on request attributes (model, key, team, user, customer, metadata, tags, headers,
 * prompt size, tools, images, time of day) and names one action (route to another group or a
 * deployment, restrict the pick to a tag or region, prefer the cheapest deployment, or reject).
 * The first matching rule wins.  policies/README.md documents the file format.
 *
 * Everything is checked at load, with errors reported through cfg_error() at the file:line:col of
 * the offending node, so a running generation never meets a rule it cannot evaluate.  After
 * pol_load() the set is immutable: pol_eval() reads it without locks from any thread.
 *
 * Time zones come from the system's TZif files (/usr/share/zoneinfo, or $TZDIR), parsed here once
 * at load (policy_tz.c).  We do not switch TZ and call localtime(): that changes process-wide state
 * and is not safe while other threads format times.
 */
#ifndef GANTRY_POLICY_H
#define GANTRY_POLICY_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg_node.h"

typedef struct pol_set pol_set_t;

/*
 * Check that a target exists: kind 'g' = model group name, 'd' = deployment id.  Returns true if
 * known.  Called only during pol_load(), on the loading thread.
 */
typedef bool (*pol_target_fn)(void *arg, char kind, const char *name);

/*
 * Build a policy set from the top-level `policies:` node.  `spec` is
 *   - a string: one policy file, or a directory whose *.yaml / *.yml files load in name order;
 *   - a map: one inline policy {name?, description?, rules: [...]};
 *   - a list whose items are any of the above;
 *   - NULL or null: no policies (an empty set, pol_eval() never matches).
 * Relative paths are taken from `config_dir` (NULL or "" = the working directory).  `known` may be
 * NULL to accept every route target unchecked.
 *
 * Every problem is reported through cfg_error() with the position inside the policy file; the
 * result is NULL if there was any.  The set copies everything it needs: it holds no pointer into
 * `spec`'s document or into the policy files' documents, which are freed before pol_load() returns.
 * Free it with pol_free() (NULL is fine).
 */
pol_set_t *pol_load(const cfg_node_t *spec, const char *config_dir, pol_target_fn known, void *arg);
void pol_free(pol_set_t *p);

/* Number of enabled rules in the set (for logs). */
size_t pol_count(const pol_set_t *p);

/* The request as the rules see it.  Everything is borrowed for the duration of pol_eval(). */
typedef struct pol_input {
    const char *model; /* requested model group */
    /* May be NULL.  key_hash is the stored hash of the virtual key, never the key itself. */
    const char *key_alias, *key_hash, *user_id, *team_id, *customer;
    const cJSON *key_metadata, *team_metadata; /* objects or NULL */
    const char *const *tags;                   /* request/key/team tags (union) */
    size_t ntags;
    /* Header lookup by lowercase name; returns the value or NULL (not NUL-terminated: *len).  May
     * be NULL: then no header is present. */
    const char *(*header)(void *arg, const char *name, size_t *len);
    void *header_arg;
    int64_t prompt_tokens; /* estimate; negative = unknown (never matches a prompt_tokens range) */
    bool has_tools, has_images;
    int64_t now_unix_ms; /* injectable clock */
} pol_input_t;

typedef enum pol_action {
    POL_NONE = 0,
    POL_ROUTE_GROUP,
    POL_ROUTE_DEPLOYMENT,
    POL_RESTRICT,
    POL_PREFER_CHEAPEST,
    POL_REJECT,
    POL_LIMIT, /* rate limits while the rule matches: never "wins", every matching one applies */
} pol_action_t;

/* Whose requests a limit rule counts together (LIMIT). */
typedef enum pol_per {
    POL_PER_KEY = 0,
    POL_PER_USER,
    POL_PER_TEAM,
    POL_PER_CUSTOMER,
    POL_PER_ALL,
} pol_per_t;

/* What the matching rule asks for.  All strings are owned by the set and live as long as it. */
typedef struct pol_result {
    pol_action_t action;
    const char *rule; /* rule name (for logs/headers): printable ASCII, no quotes or backslashes */
    const char *target;   /* ROUTE_GROUP: group; ROUTE_DEPLOYMENT: deployment id */
    const char *tag;      /* RESTRICT: deployments must carry this tag (litellm_params.tags /
                             model_info.tags) or NULL */
    const char *region;   /* RESTRICT: model_info.region must equal this, or NULL */
    bool prefer_cheapest; /* also true for POL_PREFER_CHEAPEST; RESTRICT may combine with it */
    int status;           /* REJECT: HTTP status (default 403) */
    const char *message;  /* REJECT message */
    int64_t rpm, tpm, max_parallel; /* LIMIT: 0 = not limited */
    pol_per_t per;                  /* LIMIT */
} pol_result_t;

/*
 * First matching rule wins.  Returns true when a rule matched and fills *out; otherwise *out is
 * zeroed (action POL_NONE).  Pure and thread-safe: the set is never written after load.
 */
bool pol_eval(const pol_set_t *p, const pol_input_t *in, pol_result_t *out);

/* Every enabled `limit` rule that matches, in order (at most max); returns how many.  Limit rules
 * are left out of pol_eval(): they restrict how fast, not where. */
size_t pol_limits(const pol_set_t *p, const pol_input_t *in, const pol_result_t **out, size_t max);

/* ---- Time zones (policy_tz.c) ---------------------------------------------------------------- */

typedef struct pol_tz pol_tz_t;

/*
 * Load the zone `name` (an IANA name such as "Europe/Berlin") from the TZif file under `dir`
 * (NULL: $TZDIR, else /usr/share/zoneinfo).  Names are checked so they cannot leave `dir`.  On
 * failure returns NULL with a message in err (always NUL-terminated).
 */
pol_tz_t *pol_tz_load(const char *name, const char *dir, char *err, size_t errlen);

/* Parse TZif bytes (version 1, 2, 3 or 4).  `name` is copied for pol_tz_name(). */
pol_tz_t *pol_tz_parse(const char *name, const void *data, size_t len, char *err, size_t errlen);

/* A zone from a POSIX TZ string alone, e.g. "CET-1CEST,M3.5.0,M10.5.0/3" (TZif footer syntax). */
pol_tz_t *pol_tz_from_posix(const char *spec, char *err, size_t errlen);

void pol_tz_free(pol_tz_t *tz);
const char *pol_tz_name(const pol_tz_t *tz);

/* Offset of local time from UTC, in seconds east of Greenwich, at Unix time t (seconds). */
int32_t pol_tz_offset(const pol_tz_t *tz, int64_t t);

#endif
