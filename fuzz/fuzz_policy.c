/*
 * libFuzzer target for policy loading and evaluation (core/policy.c, core/policy_tz.c).
 *
 * The input is loaded as YAML and, if it parses, handed to pol_load() as the `policies:` node, so
 * inline policies, lists and every validation path are reached.  A set that loads is evaluated
 * against a few fixed requests at several instants, and the promises of pol_eval() are checked:
 * a match names its rule and carries what its action needs.  A broken promise aborts, which
 * libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_node.h"
#include "log.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_env(const char *name, void *arg)
{
    (void)arg;
    return strcmp(name, "REGION") == 0 ? "eu" : NULL;
}

/* Accept most targets but refuse names starting with 'x', so both outcomes are reached. */
static bool fuzz_known(void *arg, char kind, const char *name)
{
    (void)arg;
    (void)kind;
    return name[0] != 'x';
}

static const char *fuzz_header(void *arg, const char *name, size_t *len)
{
    (void)arg;
    /* Values are deliberately not NUL-terminated at *len. */
    static const char region[] = "eu-west-1XYZ";
    static const char tier[] = "gold";
    if (strcmp(name, "x-region") == 0) {
        *len = 9;
        return region;
    }
    if (strcmp(name, "x-tier") == 0) {
        *len = sizeof tier - 1;
        return tier;
    }
    return NULL;
}

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_result(bool matched, const pol_result_t *r)
{
    if (!matched) {
        check(r->action == POL_NONE && r->rule == NULL);
        return;
    }
    check(r->rule != NULL && r->rule[0] != '\0');
    switch (r->action) {
    case POL_ROUTE_GROUP:
    case POL_ROUTE_DEPLOYMENT:
        check(r->target != NULL && fuzz_known(NULL, 'g', r->target));
        break;
    case POL_RESTRICT:
        check(r->tag != NULL || r->region != NULL);
        break;
    case POL_PREFER_CHEAPEST:
        check(r->prefer_cheapest);
        break;
    case POL_REJECT:
        check(r->message != NULL && r->status >= 400 && r->status <= 599);
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Rejected inputs are the common case; their error lines would only slow the run down. */
    log_level = -1;
    /* Paths in the input are followed; keep away from files that never end or block. */
    if (memmem(data, size, "/proc", 5) != NULL || memmem(data, size, "/sys", 4) != NULL ||
        memmem(data, size, "/dev", 4) != NULL)
        return 0;
    char err[256];
    cfg_doc_t *doc =
        cfg_doc_load_mem("fuzz.yaml", (const char *)data, size, fuzz_env, NULL, err, sizeof err);
    if (doc == NULL)
        return 0;
    pol_set_t *p = pol_load(doc->root, "/nonexistent-gantry-fuzz", fuzz_known, NULL);
    /* The set must not depend on the document it was read from. */
    cfg_doc_free(doc);
    if (p == NULL)
        return 0;

    static cJSON *key_md, *team_md;
    if (key_md == NULL) {
        key_md =
            cJSON_Parse("{\"tier\":\"gold\",\"level\":3,\"internal\":false,\"tags\":[\"a\",1]}");
        team_md = cJSON_Parse("{\"data_residency\":\"eu\",\"frozen\":null}");
    }
    static const char *const tags[] = {"batch", "team:ml", NULL};
    pol_input_t in;
    memset(&in, 0, sizeof in);
    in.model = "gpt-4o";
    in.key_alias = "ci-key";
    in.key_hash = "abc123";
    in.user_id = "alice";
    in.team_id = "research";
    in.customer = "acme";
    in.key_metadata = key_md;
    in.team_metadata = team_md;
    in.tags = tags;
    in.ntags = 3;
    in.header = fuzz_header;
    in.prompt_tokens = 150;
    static const int64_t instants[] = {
        INT64_C(1717588800000), /* 2024-06-05 12:00 UTC, Wednesday */
        INT64_C(1717891200000), /* 2024-06-09 00:00 UTC, Sunday */
        INT64_C(1711846800000), /* 2024-03-31 01:00 UTC, Berlin's DST change */
        INT64_C(2540000000000), /* 2050, past the TZif tables */
        -INT64_C(86400000),     /* before the epoch */
    };
    for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
        pol_result_t r;
        in.now_unix_ms = instants[i];
        in.has_images = i & 1;
        in.has_tools = i & 2;
        in.model = i == 4 ? NULL : "gpt-4o";
        check_result(pol_eval(p, &in, &r), &r);
    }
    pol_free(p);
    return 0;
}
