/*
 * Unit tests for core/policy.c and core/policy_tz.c: every match attribute and action, first-match
 * order, time windows (also across midnight and DST changes), time zone offsets checked against
 * known dates and against glibc, hand-built TZif files, load errors with their exact positions,
 * and the example policies in policies/ (so they stay valid).
 *
 * Errors go to stderr through cfg_error(); the tests point stderr at a temporary file while
 * loading and read the messages back.
 */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_node.h"
#include "check.h"
#include "policy.h"

/* ---- Helpers --------------------------------------------------------------------------------- */

static char errs[16384]; /* what the last load wrote to stderr */

static bool known_target(void *arg, char kind, const char *name)
{
    static const char *const groups[] = {"gpt-4o", "gpt-4o-mini", "vision-model",
                                         "cheap",  "big",         NULL};
    static const char *const deps[] = {"dep-eu-1", "dep-us-1", NULL};
    const char *const *list = kind == 'g' ? groups : kind == 'd' ? deps : NULL;
    (*(int *)arg)++;
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static int known_calls;

/* Run pol_load with stderr captured into errs. */
static pol_set_t *load_spec(const cfg_node_t *spec, const char *dir)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    pol_set_t *p = pol_load(spec, dir, known_target, &known_calls);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(errs, 1, sizeof errs - 1, tmp);
    errs[n] = '\0';
    fclose(tmp);
    return p;
}

/* Load YAML text as the `policies:` value; the document is freed at once, so the set must not
 * point into it (ASan would notice). */
static pol_set_t *load(const char *yaml)
{
    char err[512];
    cfg_doc_t *doc = cfg_doc_load_mem("p.yaml", yaml, strlen(yaml), NULL, NULL, err, sizeof err);
    if (doc == NULL) {
        fprintf(stderr, "YAML error in test text: %s\n", err);
        errs[0] = '\0';
        return NULL;
    }
    pol_set_t *p = load_spec(doc->root, NULL);
    cfg_doc_free(doc);
    return p;
}

static pol_set_t *load_ok(int line, const char *yaml)
{
    pol_set_t *p = load(yaml);
    if (p == NULL) {
        check_failed++;
        fprintf(stderr, "%s:%d: load failed:\n%s", __FILE__, line, errs);
    } else {
        check_passed++;
    }
    return p;
}
#define LOAD_OK(yaml) load_ok(__LINE__, yaml)

/* The load must fail, and stderr must contain every `want` (NULL-terminated list). */
static void expect_errors(int line, const char *yaml, const char *const *want)
{
    pol_set_t *p = load(yaml);
    bool ok = p == NULL;
    for (size_t i = 0; want[i] != NULL; i++)
        if (strstr(errs, want[i]) == NULL)
            ok = false;
    if (ok) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "%s:%d: expected a failed load with:\n", __FILE__, line);
        for (size_t i = 0; want[i] != NULL; i++)
            fprintf(stderr, "    %s\n", want[i]);
        fprintf(stderr, "  got %s:\n%s", p ? "success" : "failure", errs);
    }
    pol_free(p);
}
#define EXPECT_ERROR(yaml, ...)                                                                    \
    expect_errors(__LINE__, yaml, (const char *const[]){__VA_ARGS__, NULL})

typedef struct hdr {
    const char *name, *value;
} hdr_t;

static const char *lookup_header(void *arg, const char *name, size_t *len)
{
    for (const hdr_t *h = arg; h != NULL && h->name != NULL; h++) {
        if (strcmp(h->name, name) == 0) {
            *len = strlen(h->value);
            return h->value;
        }
    }
    return NULL;
}

/* Unix seconds of a UTC date and time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static pol_input_t base_input(void)
{
    pol_input_t in;
    memset(&in, 0, sizeof in);
    in.model = "gpt-4o";
    in.prompt_tokens = 100;
    in.now_unix_ms = utc(2024, 6, 5, 12, 0, 0) * 1000; /* a Wednesday */
    return in;
}

/* The name of the rule that matches, or "-" when none does. */
static const char *winner(const pol_set_t *p, const pol_input_t *in)
{
    pol_result_t r;
    if (!pol_eval(p, in, &r))
        return "-";
    return r.rule;
}

/* ---- Match attributes ------------------------------------------------------------------------ */

static void test_model(void)
{
    pol_set_t *p =
        LOAD_OK("rules:\n"
                "  - {name: exact, match: {model: gpt-4o}, action: {route: big}}\n"
                "  - {name: list, match: {model: [a, b]}, action: {route: big}}\n"
                "  - {name: glob, match: {model: \"claude-*-sonnet*\"}, action: {route: big}}\n"
                "  - {name: star, match: {model: \"*\"}, action: {route: cheap}}\n");
    pol_input_t in = base_input();
    CHECK_STR(winner(p, &in), "exact");
    in.model = "GPT-4O"; /* model names are case-sensitive */
    CHECK_STR(winner(p, &in), "star");
    in.model = "b";
    CHECK_STR(winner(p, &in), "list");
    in.model = "claude-3-5-sonnet-20241022";
    CHECK_STR(winner(p, &in), "glob");
    in.model = "claude-3-5-sonnet";
    CHECK_STR(winner(p, &in), "glob");
    in.model = "claude-3-haiku";
    CHECK_STR(winner(p, &in), "star");
    in.model = NULL; /* an attribute the request lacks never matches, not even "*" */
    CHECK_STR(winner(p, &in), "-");
    CHECK(pol_count(p) == 4);
    pol_free(p);
}

static void test_identity(void)
{
    pol_set_t *p =
        LOAD_OK("rules:\n"
                "  - {name: by-alias, match: {key_alias: ci-*}, action: {route: cheap}}\n"
                "  - {name: by-key, match: {key: [abc123, prod-key]}, action: {route: big}}\n"
                "  - {name: by-user, match: {user: [alice, 12345]}, action: {route: big}}\n"
                "  - {name: by-team, match: {team: research}, action: {route: big}}\n"
                "  - {name: by-customer, match: {customer: acme*}, action: {route: big}}\n");
    pol_input_t in = base_input();
    CHECK_STR(winner(p, &in), "-");
    in.key_alias = "ci-nightly";
    CHECK_STR(winner(p, &in), "by-alias");
    in.key_alias = "prod-key"; /* `key` matches the alias ... */
    CHECK_STR(winner(p, &in), "by-key");
    in.key_alias = NULL;
    in.key_hash = "abc123"; /* ... or the key's hash */
    CHECK_STR(winner(p, &in), "by-key");
    in.key_hash = "ci-nightly"; /* key_alias looks at the alias only */
    CHECK_STR(winner(p, &in), "-");
    in.user_id = "12345"; /* written as a YAML integer */
    CHECK_STR(winner(p, &in), "by-user");
    in.user_id = "bob";
    in.team_id = "research";
    CHECK_STR(winner(p, &in), "by-team");
    in.team_id = "Research";
    CHECK_STR(winner(p, &in), "-");
    in.customer = "acme-gmbh";
    CHECK_STR(winner(p, &in), "by-customer");
    pol_free(p);
}

static void test_metadata(void)
{
    pol_set_t *p = LOAD_OK(
        "rules:\n"
        "  - name: tier\n"
        "    match: {key_metadata: {tier: [gold, platinum], internal: false}}\n"
        "    action: {route: big}\n"
        "  - name: numeric\n"
        "    match: {key_metadata: {level: 3}}\n"
        "    action: {route: big}\n"
        "  - name: has-budget-owner\n"
        "    match: {team_metadata: {budget_owner: {present: true}, frozen: {present: false}}}\n"
        "    action: {route: big}\n"
        "  - name: eu-team\n"
        "    match: {team_metadata: {regions: eu*}}\n"
        "    action: {restrict: {region: eu}}\n");
    pol_input_t in = base_input();
    cJSON *key = cJSON_Parse("{\"tier\":\"gold\",\"internal\":false}");
    cJSON *key2 = cJSON_Parse("{\"tier\":\"gold\",\"internal\":true,\"level\":3}");
    cJSON *key3 = cJSON_Parse("{\"tier\":\"gold\",\"level\":\"3\"}");
    cJSON *team = cJSON_Parse("{\"budget_owner\":\"x\",\"frozen\":null}");
    cJSON *team2 =
        cJSON_Parse("{\"budget_owner\":\"x\",\"frozen\":true,\"regions\":[\"us\",\"eu-west\"]}");
    cJSON *team3 = cJSON_Parse("{\"regions\":[\"us\", 3]}");
    CHECK_STR(winner(p, &in), "-");
    in.key_metadata = key;
    CHECK_STR(winner(p, &in), "tier");
    in.key_metadata = key2; /* internal: true fails the first rule; level: 3 (number) matches */
    CHECK_STR(winner(p, &in), "numeric");
    in.key_metadata = key3; /* "3" (string) is not 3; a missing `internal` is not false */
    CHECK_STR(winner(p, &in), "-");
    in.team_metadata = team; /* a field set to null counts as absent */
    CHECK_STR(winner(p, &in), "has-budget-owner");
    in.team_metadata = team2; /* list fields match when any element does */
    CHECK_STR(winner(p, &in), "eu-team");
    in.team_metadata = team3;
    CHECK_STR(winner(p, &in), "-");
    cJSON *arr = cJSON_Parse("[1,2]");
    in.team_metadata = arr; /* not an object: no field is present */
    CHECK_STR(winner(p, &in), "-");
    cJSON_Delete(arr);
    cJSON_Delete(key);
    cJSON_Delete(key2);
    cJSON_Delete(key3);
    cJSON_Delete(team);
    cJSON_Delete(team2);
    cJSON_Delete(team3);
    pol_free(p);
}

static void test_tags(void)
{
    pol_set_t *p =
        LOAD_OK("rules:\n"
                "  - {name: t, match: {tags: [batch, \"team:*\"]}, action: {prefer: cheapest}}\n");
    pol_input_t in = base_input();
    const char *t1[] = {"interactive", "prod"};
    const char *t2[] = {"prod", NULL, "batch"};
    const char *t3[] = {"team:ml"};
    CHECK_STR(winner(p, &in), "-");
    in.tags = t1;
    in.ntags = 2;
    CHECK_STR(winner(p, &in), "-");
    in.tags = t2;
    in.ntags = 3;
    CHECK_STR(winner(p, &in), "t");
    in.tags = t3;
    in.ntags = 1;
    CHECK_STR(winner(p, &in), "t");
    pol_free(p);
}

static void test_headers(void)
{
    pol_set_t *p =
        LOAD_OK("rules:\n"
                "  - name: eu\n"
                "    match: {header: {X-Region: [eu, \"eu-*\"], x-debug: {present: false}}}\n"
                "    action: {restrict: {region: eu}}\n"
                "  - name: debug\n"
                "    match: {header: {x-debug: {present: true}}}\n"
                "    action: {route: cheap}\n"
                "  - name: numeric\n"
                "    match: {header: {x-priority: 1}}\n"
                "    action: {route: big}\n");
    pol_input_t in = base_input();
    CHECK_STR(winner(p, &in), "-"); /* no header function: no header is present */
    hdr_t h1[] = {{"x-region", "EU-West-1"}, {NULL, NULL}};
    hdr_t h2[] = {{"x-region", "eu"}, {"x-debug", ""}, {NULL, NULL}};
    hdr_t h3[] = {{"x-region", "us-east-1"}, {NULL, NULL}};
    hdr_t h4[] = {{"x-priority", "1"}, {NULL, NULL}};
    hdr_t h5[] = {{"x-region", "europe"}, {NULL, NULL}};
    in.header = lookup_header;
    in.header_arg = h1;
    CHECK_STR(winner(p, &in), "eu"); /* values compare case-insensitively, names are lowercased */
    in.header_arg = h2;
    CHECK_STR(winner(p, &in), "debug");
    in.header_arg = h3;
    CHECK_STR(winner(p, &in), "-");
    in.header_arg = h4;
    CHECK_STR(winner(p, &in), "numeric");
    in.header_arg = h5;
    CHECK_STR(winner(p, &in), "-");
    pol_free(p);
}

static const char *raw_header(void *arg, const char *name, size_t *len)
{
    (void)name;
    *len = 10;
    return arg; /* "eu-centralXYZ": the first 10 bytes are the value */
}

static void test_header_length(void)
{
    pol_set_t *p = LOAD_OK(
        "rules:\n  - {name: exact, match: {header: {x-region: eu-central}}, action: {route: big}}\n"
        "  - {name: glob, match: {header: {x-region: \"*l\"}}, action: {route: big}}\n");
    pol_input_t in = base_input();
    static char raw[] = "eu-centralXYZ";
    in.header = raw_header;
    in.header_arg = raw;
    CHECK_STR(winner(p, &in), "exact");
    pol_free(p);
    p = LOAD_OK("rules:\n  - {name: z, match: {header: {x-region: \"*z\"}}, action: {route: big}}\n"
                "  - {name: l, match: {header: {x-region: \"*L\"}}, action: {route: big}}\n");
    CHECK_STR(winner(p, &in), "l");
    pol_free(p);
}

static void test_tokens_tools_images(void)
{
    pol_set_t *p = LOAD_OK(
        "rules:\n"
        "  - {name: tiny, match: {prompt_tokens: {lt: 10}}, action: {route: cheap}}\n"
        "  - {name: small, match: {prompt_tokens: {gte: 10, lte: 200}}, action: {route: cheap}}\n"
        "  - {name: huge, match: {prompt_tokens: {gt: 100000}}, action: {route: big}}\n"
        "  - {name: tools, match: {has_tools: true}, action: {route: big}}\n"
        "  - {name: images, match: {has_images: true}, action: {route: vision-model}}\n"
        "  - {name: plain, match: {has_tools: false, has_images: false}, action: {route: "
        "gpt-4o}}\n");
    pol_input_t in = base_input();
    in.prompt_tokens = 0;
    CHECK_STR(winner(p, &in), "tiny");
    in.prompt_tokens = 9;
    CHECK_STR(winner(p, &in), "tiny");
    in.prompt_tokens = 10;
    CHECK_STR(winner(p, &in), "small");
    in.prompt_tokens = 200;
    CHECK_STR(winner(p, &in), "small");
    in.prompt_tokens = 201;
    CHECK_STR(winner(p, &in), "plain");
    in.prompt_tokens = 100000;
    CHECK_STR(winner(p, &in), "plain");
    in.prompt_tokens = 100001;
    CHECK_STR(winner(p, &in), "huge");
    in.prompt_tokens = -1; /* unknown: no range matches */
    CHECK_STR(winner(p, &in), "plain");
    in.has_tools = true;
    CHECK_STR(winner(p, &in), "tools");
    in.has_tools = false;
    in.has_images = true;
    CHECK_STR(winner(p, &in), "images");
    in.has_tools = true;
    CHECK_STR(winner(p, &in), "tools");
    pol_free(p);
}

/* ---- Time windows ---------------------------------------------------------------------------- */

static void test_time_utc(void)
{
    pol_set_t *p = LOAD_OK(
        "rules:\n"
        "  - {name: day, match: {time: {between: \"09:00-17:30\"}}, action: {route: big}}\n");
    pol_input_t in = base_input();
    in.now_unix_ms = utc(2024, 6, 5, 8, 59, 59) * 1000 + 999;
    CHECK_STR(winner(p, &in), "-");
    in.now_unix_ms = utc(2024, 6, 5, 9, 0, 0) * 1000;
    CHECK_STR(winner(p, &in), "day");
    in.now_unix_ms = utc(2024, 6, 5, 17, 29, 59) * 1000;
    CHECK_STR(winner(p, &in), "day");
    in.now_unix_ms = utc(2024, 6, 5, 17, 30, 0) * 1000; /* the end is exclusive */
    CHECK_STR(winner(p, &in), "-");
    in.now_unix_ms = utc(1969, 12, 31, 10, 0, 0) * 1000 + 1; /* before the epoch */
    CHECK_STR(winner(p, &in), "day");
    pol_free(p);

    /* A window across midnight; the hours after midnight belong to the day it started on. */
    p = LOAD_OK("rules:\n"
                "  - name: friday-night\n"
                "    match: {time: {between: \"22:00-06:00\", days: [fri]}}\n"
                "    action: {route: cheap}\n"
                "  - name: nightly\n"
                "    match: {time: {between: \"23:30 - 24:00\"}}\n"
                "    action: {route: cheap}\n"
                "  - name: not-night\n"
                "    match: {time: {outside: \"22:00-06:00\"}}\n"
                "    action: {route: big}\n");
    in.now_unix_ms = utc(2024, 6, 7, 22, 0, 0) * 1000; /* Friday 22:00 */
    CHECK_STR(winner(p, &in), "friday-night");
    in.now_unix_ms = utc(2024, 6, 8, 5, 59, 0) * 1000; /* Saturday 05:59: still Friday's night */
    CHECK_STR(winner(p, &in), "friday-night");
    in.now_unix_ms = utc(2024, 6, 8, 6, 0, 0) * 1000; /* Saturday 06:00 */
    CHECK_STR(winner(p, &in), "not-night");
    in.now_unix_ms = utc(2024, 6, 7, 3, 0, 0) * 1000; /* Friday 03:00 belongs to Thursday */
    CHECK_STR(winner(p, &in), "-");
    in.now_unix_ms = utc(2024, 6, 8, 23, 45, 0) * 1000; /* Saturday 23:45 */
    CHECK_STR(winner(p, &in), "nightly");
    in.now_unix_ms = utc(2024, 6, 8, 12, 0, 0) * 1000;
    CHECK_STR(winner(p, &in), "not-night");
    pol_free(p);

    /* Days alone, names and ranges (also one that wraps over the weekend). */
    p = LOAD_OK(
        "rules:\n"
        "  - {name: weekend, match: {time: {days: [Saturday, sun]}}, action: {route: cheap}}\n"
        "  - {name: long-weekend, match: {time: {days: fri-mon}}, action: {route: big}}\n");
    in.now_unix_ms = utc(2024, 6, 9, 12, 0, 0) * 1000; /* Sunday */
    CHECK_STR(winner(p, &in), "weekend");
    in.now_unix_ms = utc(2024, 6, 10, 12, 0, 0) * 1000; /* Monday */
    CHECK_STR(winner(p, &in), "long-weekend");
    in.now_unix_ms = utc(2024, 6, 11, 12, 0, 0) * 1000; /* Tuesday */
    CHECK_STR(winner(p, &in), "-");
    in.now_unix_ms = utc(1970, 1, 1, 0, 0, 0) * 1000; /* Thursday */
    CHECK_STR(winner(p, &in), "-");
    in.now_unix_ms = utc(1970, 1, 2, 0, 0, 0) * 1000 - 1; /* Thursday 23:59:59.999 */
    CHECK_STR(winner(p, &in), "-");
    in.now_unix_ms = utc(1970, 1, 2, 0, 0, 0) * 1000; /* Friday */
    CHECK_STR(winner(p, &in), "long-weekend");
    in.now_unix_ms = utc(1969, 12, 28, 23, 0, 0) * 1000; /* Sunday, before the epoch */
    CHECK_STR(winner(p, &in), "weekend");
    pol_free(p);
}

static void test_time_zones(void)
{
    pol_set_t *p = LOAD_OK(
        "rules:\n"
        "  - name: berlin-hours\n"
        "    match: {time: {between: \"09:00-18:00\", days: [mon-fri], tz: Europe/Berlin}}\n"
        "    action: {route: big}\n"
        "  - name: ny-hours\n"
        "    match: {time: {between: \"09:00-17:00\", tz: America/New_York}}\n"
        "    action: {route: cheap}\n");
    pol_input_t in = base_input();
    /* Winter: Berlin is UTC+1, New York UTC-5. */
    in.now_unix_ms = utc(2024, 1, 10, 7, 59, 0) * 1000;
    CHECK_STR(winner(p, &in), "-");
    in.now_unix_ms = utc(2024, 1, 10, 8, 0, 0) * 1000;
    CHECK_STR(winner(p, &in), "berlin-hours");
    in.now_unix_ms = utc(2024, 1, 10, 16, 59, 0) * 1000;
    CHECK_STR(winner(p, &in), "berlin-hours");
    in.now_unix_ms = utc(2024, 1, 10, 17, 0, 0) * 1000; /* 18:00 Berlin, 12:00 New York */
    CHECK_STR(winner(p, &in), "ny-hours");
    in.now_unix_ms = utc(2024, 1, 10, 21, 59, 0) * 1000;
    CHECK_STR(winner(p, &in), "ny-hours");
    in.now_unix_ms = utc(2024, 1, 10, 22, 0, 0) * 1000;
    CHECK_STR(winner(p, &in), "-");
    /* Summer: UTC+2 and UTC-4. */
    in.now_unix_ms = utc(2024, 7, 10, 7, 0, 0) * 1000;
    CHECK_STR(winner(p, &in), "berlin-hours");
    in.now_unix_ms = utc(2024, 7, 10, 6, 59, 0) * 1000;
    CHECK_STR(winner(p, &in), "-");
    in.now_unix_ms = utc(2024, 7, 10, 20, 59, 0) * 1000;
    CHECK_STR(winner(p, &in), "ny-hours");
    in.now_unix_ms = utc(2024, 7, 10, 21, 0, 0) * 1000;
    CHECK_STR(winner(p, &in), "-");
    /* Saturday in Berlin: no Berlin hours. */
    in.now_unix_ms = utc(2024, 7, 13, 9, 0, 0) * 1000;
    CHECK_STR(winner(p, &in), "-");
    /* Friday 23:30 UTC is Saturday 01:30 in Berlin and Friday 19:30 in New York. */
    in.now_unix_ms = utc(2024, 7, 12, 23, 30, 0) * 1000;
    CHECK_STR(winner(p, &in), "-");
    /* The day of the DST change (2024-03-31, clocks 02:00 -> 03:00 in Berlin) is a Sunday; the
     * Monday after starts at 07:00 UTC, the Friday before at 08:00 UTC. */
    in.now_unix_ms = utc(2024, 3, 29, 7, 30, 0) * 1000;
    CHECK_STR(winner(p, &in), "-");
    in.now_unix_ms = utc(2024, 4, 1, 7, 30, 0) * 1000;
    CHECK_STR(winner(p, &in), "berlin-hours");
    /* Past 2037 the TZif table ends and the footer rule takes over. */
    in.now_unix_ms = utc(2050, 7, 6, 7, 30, 0) * 1000; /* Wednesday, 09:30 CEST */
    CHECK_STR(winner(p, &in), "berlin-hours");
    in.now_unix_ms = utc(2050, 1, 5, 7, 30, 0) * 1000; /* Wednesday, 08:30 CET */
    CHECK_STR(winner(p, &in), "-");
    pol_free(p);
}

/* ---- Actions and order ----------------------------------------------------------------------- */

static void test_actions(void)
{
    known_calls = 0;
    pol_set_t *p = LOAD_OK(
        "name: acts\n"
        "rules:\n"
        "  - {match: {model: a}, action: {route: gpt-4o-mini}}\n"
        "  - {match: {model: b}, action: {route_deployment: dep-eu-1}}\n"
        "  - {match: {model: c}, action: {restrict: {tag: gdpr}}}\n"
        "  - {match: {model: d}, action: {restrict: {region: eu, tag: x, cheapest: true}}}\n"
        "  - {match: {model: e}, action: {prefer: cheapest}}\n"
        "  - {match: {model: f}, action: {reject: no}}\n"
        "  - {match: {model: g}, action: {reject: \"slow down\", status: 429}}\n");
    CHECK(known_calls == 2);
    pol_input_t in = base_input();
    pol_result_t r;
    in.model = "a";
    CHECK(pol_eval(p, &in, &r) && r.action == POL_ROUTE_GROUP);
    CHECK_STR(r.target, "gpt-4o-mini");
    CHECK_STR(r.rule, "acts#1");
    in.model = "b";
    CHECK(pol_eval(p, &in, &r) && r.action == POL_ROUTE_DEPLOYMENT);
    CHECK_STR(r.target, "dep-eu-1");
    in.model = "c";
    CHECK(pol_eval(p, &in, &r) && r.action == POL_RESTRICT);
    CHECK_STR(r.tag, "gdpr");
    CHECK(r.region == NULL && !r.prefer_cheapest);
    in.model = "d";
    CHECK(pol_eval(p, &in, &r) && r.action == POL_RESTRICT);
    CHECK_STR(r.tag, "x");
    CHECK_STR(r.region, "eu");
    CHECK(r.prefer_cheapest);
    in.model = "e";
    CHECK(pol_eval(p, &in, &r) && r.action == POL_PREFER_CHEAPEST && r.prefer_cheapest);
    CHECK(r.target == NULL && r.tag == NULL && r.region == NULL);
    in.model = "f";
    CHECK(pol_eval(p, &in, &r) && r.action == POL_REJECT && r.status == 403);
    CHECK_STR(r.message, "no");
    in.model = "g";
    CHECK(pol_eval(p, &in, &r) && r.action == POL_REJECT && r.status == 429);
    CHECK_STR(r.message, "slow down");
    CHECK_STR(r.rule, "acts#7");
    in.model = "z";
    r.action = POL_REJECT;
    r.rule = "stale";
    CHECK(!pol_eval(p, &in, &r) && r.action == POL_NONE && r.rule == NULL);
    pol_free(p);
}

static void test_order(void)
{
    /* All conditions of a rule must hold; the first matching rule wins; disabled rules are out;
     * a rule without conditions matches everything. */
    pol_set_t *p = LOAD_OK("rules:\n"
                           "  - name: both\n"
                           "    match: {model: gpt-4o, team: research}\n"
                           "    action: {route: big}\n"
                           "  - name: off\n"
                           "    enabled: false\n"
                           "    match: {model: gpt-4o}\n"
                           "    action: {reject: disabled}\n"
                           "  - name: model-only\n"
                           "    description: the second rule for gpt-4o\n"
                           "    match: {model: gpt-4o}\n"
                           "    action: {route: cheap}\n"
                           "  - name: default\n"
                           "    match:\n"
                           "    action: {prefer: cheapest}\n");
    pol_input_t in = base_input();
    CHECK_STR(winner(p, &in), "model-only");
    in.team_id = "research";
    CHECK_STR(winner(p, &in), "both");
    in.model = "other";
    CHECK_STR(winner(p, &in), "default");
    CHECK(pol_count(p) == 3);
    pol_free(p);

    /* Several inline policies in a list keep their order; default names come from the list. */
    p = LOAD_OK(
        "- rules: [{match: {model: x}, action: {route: big}}]\n"
        "- name: second\n"
        "  rules: [{match: {model: x}, action: {route: cheap}}, {action: {route: cheap}}]\n");
    in = base_input();
    in.model = "x";
    CHECK_STR(winner(p, &in), "policies[0]#1");
    in.model = "y";
    CHECK_STR(winner(p, &in), "second#2");
    pol_free(p);

    /* Empty and missing specs give an empty set. */
    p = load_spec(NULL, NULL);
    CHECK(p != NULL && pol_count(p) == 0 && !pol_eval(p, &in, &(pol_result_t){0}));
    pol_free(p);
    p = LOAD_OK("rules: []\n");
    CHECK(pol_count(p) == 0);
    pol_free(p);
    CHECK(!pol_eval(NULL, &in, &(pol_result_t){0}));
}

/* ---- Load errors ----------------------------------------------------------------------------- */

static void test_errors(void)
{
    EXPECT_ERROR("rules:\n"
                 "  - name: r\n"
                 "    match:\n"
                 "      modle: gpt-4o\n"
                 "    action: {route: big}\n",
                 "p.yaml:4:7: unknown match attribute 'modle' (did you mean 'model'?); allowed: "
                 "model, key, key_alias, user, team, customer, key_metadata, team_metadata, tags, "
                 "header, prompt_tokens, has_tools, has_images, time");
    EXPECT_ERROR("rules:\n"
                 "  - match: {region: eu}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:13: unknown match attribute 'region'; allowed: model,");
    EXPECT_ERROR("rules:\n"
                 "  - name: r\n"
                 "    action:\n"
                 "      route: gpt-5\n",
                 "p.yaml:4:14: route: unknown model group 'gpt-5'");
    EXPECT_ERROR("rules:\n"
                 "  - action: {route_deployment: dep-mars-1}\n",
                 "p.yaml:2:32: route_deployment: unknown deployment id 'dep-mars-1'");
    EXPECT_ERROR("rules:\n"
                 "  - action: {rout: big}\n",
                 "p.yaml:2:14: unknown action 'rout' (did you mean 'route'?)");
    EXPECT_ERROR("rules:\n"
                 "  - action: {route: big, reject: no}\n",
                 "p.yaml:2:26: an action does one thing: 'route' and 'reject' cannot be combined");
    EXPECT_ERROR("rules:\n"
                 "  - action: {route: big, status: 429}\n",
                 "p.yaml:2:34: status only goes with reject");
    EXPECT_ERROR("rules:\n"
                 "  - action: {reject: no, status: 200}\n",
                 "p.yaml:2:34: reject status must be an HTTP error status (400-599)");
    EXPECT_ERROR("rules:\n"
                 "  - action: {reject: \"\"}\n",
                 "p.yaml:2:22: reject message must not be empty");
    EXPECT_ERROR(
        "rules:\n"
        "  - action: {status: 429}\n",
        "p.yaml:2:13: action needs one of: route, route_deployment, restrict, prefer, reject");
    EXPECT_ERROR("rules:\n"
                 "  - action: {prefer: fastest}\n",
                 "p.yaml:2:22: prefer must be 'cheapest'");
    EXPECT_ERROR("rules:\n"
                 "  - action: {restrict: {cheapest: true}}\n",
                 "p.yaml:2:24: restrict needs 'tag' and/or 'region'");
    EXPECT_ERROR("rules:\n"
                 "  - action: {restrict: {zone: eu}}\n",
                 "p.yaml:2:25: unknown restrict key 'zone'; allowed: tag, region, cheapest");
    EXPECT_ERROR("rules:\n"
                 "  - action: route big\n",
                 "p.yaml:2:13: action must be a map like {route: <group>}");
    EXPECT_ERROR("rules:\n"
                 "  - name: lonely\n"
                 "    match: {model: x}\n",
                 "p.yaml:2:5: rule 'lonely' has no action");
    EXPECT_ERROR("rules:\n"
                 "  - name: dup\n"
                 "    action: {route: big}\n"
                 "  - name: dup\n"
                 "    action: {route: big}\n",
                 "p.yaml:4:11: rule name 'dup' is already used at p.yaml:2");
    EXPECT_ERROR("rules:\n"
                 "  - name: \"bad\\\"name\"\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:11: rule name may only contain printable ASCII");
    EXPECT_ERROR("rules:\n"
                 "  - nmae: x\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:5: unknown rule key 'nmae' (did you mean 'name'?)");
    EXPECT_ERROR("rule:\n"
                 "  - action: {route: big}\n",
                 "p.yaml:1:1: unknown policy key 'rule' (did you mean 'rules'?)",
                 "p.yaml:1:1: a policy needs a 'rules:' list");
    EXPECT_ERROR("rules: {a: 1}\n", "p.yaml:1:8: rules must be a list, not map");
    EXPECT_ERROR("rules:\n  - 42\n", "p.yaml:2:5: a rule must be a map");
    EXPECT_ERROR("42\n",
                 "p.yaml:1:1: policies must be a file path, a list of file paths, or a map");
    EXPECT_ERROR("- 42\n", "p.yaml:1:3: policies entries must be file paths or maps");
    EXPECT_ERROR("rules:\n"
                 "  - match: {model: []}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:20: 'model' must not be an empty list");
    EXPECT_ERROR("rules:\n"
                 "  - match: {team: [a, {b: 1}, \"\"]}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:23: 'team' entries must be strings, not map",
                 "p.yaml:2:31: 'team' entries must not be empty");
    EXPECT_ERROR("rules:\n"
                 "  - match: {user: {a: b}}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:19: 'user' must be a string or a list of strings, not map");
    EXPECT_ERROR("rules:\n"
                 "  - match: {has_tools: yes}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:24: has_tools must be true or false, not string");
    EXPECT_ERROR("rules:\n"
                 "  - match: {prompt_tokens: {lt: 10, lte: 20}}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:42: prompt_tokens: give either lt or lte, not both");
    EXPECT_ERROR("rules:\n"
                 "  - match: {prompt_tokens: {gt: 100, lt: 50}}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:28: prompt_tokens: this range matches no request");
    EXPECT_ERROR("rules:\n"
                 "  - match: {prompt_tokens: {under: 5}}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:29: unknown prompt_tokens bound 'under'; allowed: lt, lte, gt, gte");
    EXPECT_ERROR("rules:\n"
                 "  - match: {prompt_tokens: {lt: -5}}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:33: prompt_tokens lt must not be negative");
    EXPECT_ERROR("rules:\n"
                 "  - match: {prompt_tokens: 200}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:28: 'prompt_tokens' must be a map with lt, lte, gt and/or gte");
    EXPECT_ERROR("rules:\n"
                 "  - match: {header: {\"x region\": eu}}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:22: 'x region' is not a valid header name");
    EXPECT_ERROR("rules:\n"
                 "  - match: {header: {x-region: {present: maybe}}}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:42: present must be true or false");
    EXPECT_ERROR("rules:\n"
                 "  - match: {header: {x-region: {equals: eu}}}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:32: header 'x-region': a map here must be {present: true} or "
                 "{present: false}");
    EXPECT_ERROR("rules:\n"
                 "  - match: {key_metadata: {tier: }}\n"
                 "    action: {route: big}\n",
                 "key_metadata 'tier' needs a value, a list of values, or {present: true|false}");
    EXPECT_ERROR("rules:\n"
                 "  - match: {key_metadata: [tier]}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:27: 'key_metadata' must be a map of field: value");
    EXPECT_ERROR("rules:\n"
                 "  - match: {team_metadata: {tier: [[a]]}}\n"
                 "    action: {route: big}\n",
                 "p.yaml:2:36: team_metadata 'tier' values must be strings, numbers or booleans");
    /* Time windows. */
    EXPECT_ERROR("rules:\n"
                 "  - match:\n"
                 "      time: {between: \"9-17\"}\n"
                 "    action: {route: big}\n",
                 "p.yaml:3:23: time range must be \"HH:MM-HH:MM\"");
    EXPECT_ERROR("rules:\n"
                 "  - match:\n"
                 "      time: {between: \"09:00-09:60\"}\n"
                 "    action: {route: big}\n",
                 "p.yaml:3:23: time range must be");
    EXPECT_ERROR("rules:\n"
                 "  - match:\n"
                 "      time: {between: \"24:00-09:00\"}\n"
                 "    action: {route: big}\n",
                 "p.yaml:3:23: time range must be");
    EXPECT_ERROR("rules:\n"
                 "  - match:\n"
                 "      time: {outside: \"00:00-24:00\"}\n"
                 "    action: {route: big}\n",
                 "p.yaml:3:23: time range \"00:00-24:00\" starts where it ends");
    EXPECT_ERROR("rules:\n"
                 "  - match:\n"
                 "      time: {between: \"09:00-18:00\", outside: \"10:00-11:00\"}\n"
                 "    action: {route: big}\n",
                 "p.yaml:3:47: time: give either between or outside, not both");
    EXPECT_ERROR("rules:\n"
                 "  - match:\n"
                 "      time: {tz: Europe/Berlin}\n"
                 "    action: {route: big}\n",
                 "p.yaml:3:13: time needs 'between' or 'outside'");
    EXPECT_ERROR("rules:\n"
                 "  - match:\n"
                 "      time: {between: \"09:00-18:00\", tz: Europe/Berln}\n"
                 "    action: {route: big}\n",
                 "p.yaml:3:42: unknown time zone 'Europe/Berln'");
    EXPECT_ERROR("rules:\n"
                 "  - match:\n"
                 "      time: {between: \"09:00-18:00\", tz: ../../etc/passwd}\n"
                 "    action: {route: big}\n",
                 "p.yaml:3:42: '../../etc/passwd' is not a time zone name");
    EXPECT_ERROR("rules:\n"
                 "  - match:\n"
                 "      time:\n"
                 "        days: [mon, tues, fri-sat, sun-]\n"
                 "        between: \"08:00-10:00\"\n"
                 "    action: {route: big}\n",
                 "p.yaml:4:21: 'tues' is not a day", "p.yaml:4:36: 'sun-' is not a day");
    EXPECT_ERROR("rules:\n"
                 "  - match:\n"
                 "      time: {betwen: \"09:00-18:00\"}\n"
                 "    action: {route: big}\n",
                 "p.yaml:3:14: unknown time key 'betwen' (did you mean 'between'?); allowed: "
                 "between, outside, days, tz");
    /* Every error is reported, not just the first. */
    EXPECT_ERROR("rules:\n"
                 "  - match: {modle: x}\n"
                 "    action: {route: nope}\n"
                 "  - match: {has_images: 1}\n"
                 "    action: {reject: x, status: 99}\n",
                 "p.yaml:2:13: unknown match attribute 'modle'",
                 "p.yaml:3:21: route: unknown model group 'nope'",
                 "p.yaml:4:25: has_images must be true or false",
                 "p.yaml:5:33: reject status must be");
}

static void test_limits_and_warnings(void)
{
    /* A rule that matches everything hides the rules after it: a warning, not an error. */
    pol_set_t *p = LOAD_OK("rules:\n"
                           "  - {name: all, action: {route: big}}\n"
                           "  - {name: hidden, match: {model: x}, action: {route: cheap}}\n");
    CHECK(strstr(errs, "p.yaml:3:5: rule 'hidden' and the rules after it can never match: rule "
                       "'all' before them matches every request") != NULL);
    pol_free(p);
    /* Disabled rules are still checked. */
    EXPECT_ERROR("rules:\n"
                 "  - {enabled: false, match: {modle: x}, action: {route: big}}\n",
                 "p.yaml:2:30: unknown match attribute 'modle'");
    EXPECT_ERROR("rules:\n"
                 "  - {enabled: maybe, action: {route: big}}\n",
                 "p.yaml:2:15: enabled must be true or false");
    EXPECT_ERROR("description: [a]\nrules: []\n", "p.yaml:1:14: description must be a string");
    /* The number of rules is bounded, even when aliases make a small document large. */
    size_t cap = 128 + 10001 * 4;
    char *big = malloc(cap);
    size_t n = (size_t)snprintf(big, cap, "rules: [&r {match: {model: m}, action: {route: big}}");
    for (int i = 0; i < 10000; i++)
        n += (size_t)snprintf(big + n, cap - n, ", *r");
    snprintf(big + n, cap - n, "]\n");
    EXPECT_ERROR(big, "p.yaml:1:9: more than 10000 policy rules");
    free(big);
}

/* ---- Files ----------------------------------------------------------------------------------- */

static char srcdir[4096];

/* The repository root: $GANTRY_SOURCE_DIR, or derived from this file's path (meson compiles from
 * the build directory, and meson test runs there too). */
static void find_srcdir(void)
{
    const char *env = getenv("GANTRY_SOURCE_DIR");
    if (env != NULL && env[0] != '\0') {
        snprintf(srcdir, sizeof srcdir, "%s", env);
        return;
    }
    snprintf(srcdir, sizeof srcdir, "%s", __FILE__);
    char *p = strstr(srcdir, "tests/unit/test_policy.c");
    if (p == srcdir)
        snprintf(srcdir, sizeof srcdir, ".");
    else if (p != NULL)
        p[-1] = '\0';
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_examples(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/policies", srcdir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));

    /* The directory form loads every example in name order. */
    char cfg[8192];
    snprintf(cfg, sizeof cfg, "policies: %s\n", path);
    char err[512];
    cfg_doc_t *doc = cfg_doc_load_mem("gantry.yaml", cfg, strlen(cfg), NULL, NULL, err, sizeof err);
    CHECK(doc != NULL);
    pol_set_t *p = load_spec(cfg_map_get(doc->root, "policies"), NULL);
    cfg_doc_free(doc);
    if (p == NULL)
        fprintf(stderr, "examples failed to load:\n%s", errs);
    CHECK(p != NULL);
    CHECK(pol_count(p) == 7);

    pol_input_t in = base_input();
    pol_result_t r;

    /* team-hours-limits: limit rules never win pol_eval(); pol_limits() gives the one whose
     * window holds (Wednesday 12:00 UTC is 13:00 in Berlin; 20:00 UTC is night). */
    const pol_result_t *lims[4];
    in.team_id = "research";
    CHECK(pol_limits(p, &in, lims, 4) == 1 && lims[0]->rpm == 10 && lims[0]->per == POL_PER_TEAM);
    CHECK_STR(lims[0]->rule, "research-daytime");
    in.now_unix_ms = utc(2024, 6, 5, 20, 0, 0) * 1000;
    CHECK(pol_limits(p, &in, lims, 4) == 1 && lims[0]->rpm == 100 && lims[0]->tpm == 200000);
    in.team_id = "other";
    CHECK(pol_limits(p, &in, lims, 4) == 0);
    in = base_input();
    /* business-hours: gpt-4o on a Wednesday at 12:00 UTC (14:00 Berlin) is fine ... */
    in.prompt_tokens = 1000;
    CHECK(!pol_eval(p, &in, &r));
    /* ... but not on Saturday, nor at 17:00 UTC in summer (19:00 Berlin). */
    in.now_unix_ms = utc(2024, 6, 8, 12, 0, 0) * 1000;
    CHECK(pol_eval(p, &in, &r) && r.action == POL_REJECT && r.status == 403);
    CHECK_STR(r.rule, "no-gpt-4o-outside-hours");
    CHECK_STR(r.message, "gpt-4o is available on weekdays 09:00-18:00 Berlin time");
    in.now_unix_ms = utc(2024, 6, 5, 16, 0, 0) * 1000;
    CHECK(pol_eval(p, &in, &r) && r.action == POL_REJECT);
    in.now_unix_ms = utc(2024, 12, 4, 16, 0, 0) * 1000; /* 17:00 Berlin in winter: open */
    CHECK(!pol_eval(p, &in, &r));

    /* Files load in name order: business-hours before eu-residency, so on a Saturday the
     * rejection wins, and in business hours the restriction does. */
    hdr_t eu[] = {{"x-region", "eu-west-1"}, {NULL, NULL}};
    in.header = lookup_header;
    in.header_arg = eu;
    in.now_unix_ms = utc(2024, 6, 8, 12, 0, 0) * 1000;
    CHECK(pol_eval(p, &in, &r) && r.action == POL_REJECT);
    in.now_unix_ms = utc(2024, 6, 5, 12, 0, 0) * 1000;
    CHECK(pol_eval(p, &in, &r) && r.action == POL_RESTRICT);
    CHECK_STR(r.region, "eu");
    CHECK_STR(r.rule, "eu-traffic-stays-in-eu");
    in.header = NULL;
    cJSON *team = cJSON_Parse("{\"data_residency\":\"eu\"}");
    in.team_metadata = team;
    CHECK(pol_eval(p, &in, &r) && r.action == POL_RESTRICT);
    CHECK_STR(r.rule, "eu-teams-stay-in-eu");
    in.team_metadata = NULL;
    cJSON_Delete(team);

    /* images-to-vision */
    in = base_input();
    in.model = "llama-3.1-8b";
    in.has_images = true;
    CHECK(pol_eval(p, &in, &r) && r.action == POL_ROUTE_GROUP);
    CHECK_STR(r.target, "vision-model");
    in.model = "vision-model";
    CHECK(!pol_eval(p, &in, &r));

    /* short-prompts-cheap */
    in = base_input();
    in.prompt_tokens = 150;
    CHECK(pol_eval(p, &in, &r) && r.action == POL_ROUTE_GROUP);
    CHECK_STR(r.target, "gpt-4o-mini");
    in.has_tools = true;
    CHECK(!pol_eval(p, &in, &r));
    pol_free(p);

    /* Files listed one by one, relative to the config directory, in the given order. */
    const char *list = "policies:\n"
                       "  - policies/short-prompts-cheap.yaml\n"
                       "  - policies/images-to-vision.yaml\n"
                       "  - policies/business-hours.yaml\n"
                       "  - policies/eu-residency.yaml\n";
    doc = cfg_doc_load_mem("gantry.yaml", list, strlen(list), NULL, NULL, err, sizeof err);
    p = load_spec(cfg_map_get(doc->root, "policies"), srcdir);
    cfg_doc_free(doc);
    CHECK(p != NULL && pol_count(p) == 5);
    in = base_input();
    in.header = lookup_header;
    in.header_arg = eu;
    in.prompt_tokens = 10;
    CHECK(pol_eval(p, &in, &r) && r.action == POL_ROUTE_GROUP); /* short prompts come first now */
    pol_free(p);

    /* A single file as a string. */
    const char *one = "policies: policies/business-hours.yaml\n";
    doc = cfg_doc_load_mem("gantry.yaml", one, strlen(one), NULL, NULL, err, sizeof err);
    p = load_spec(cfg_map_get(doc->root, "policies"), srcdir);
    cfg_doc_free(doc);
    CHECK(p != NULL && pol_count(p) == 1);
    pol_free(p);
}

static void test_file_errors(void)
{
    char dir[] = "/tmp/gantry-policy-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    char a[256], b[256], c[256], d[256];
    snprintf(a, sizeof a, "%s/10-first.yaml", dir);
    snprintf(b, sizeof b, "%s/20-second.yml", dir);
    snprintf(c, sizeof c, "%s/notes.txt", dir);
    snprintf(d, sizeof d, "%s/broken.yaml", dir);
    write_file(a, "rules:\n  - action: {route: big}\n");
    write_file(b, "rules:\n"
                  "  - match: {model: x}\n"
                  "    action: {route: cheap}\n"
                  "  - name: \"10-first#1\"\n"
                  "    match:\n"
                  "      time: {between: \"25:00-26:00\"}\n"
                  "    action: {route: cheap}\n");
    write_file(c, "not yaml: [\n");

    /* Errors name the policy file and the position inside it. */
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "policies: %s\n", dir);
    char err[512];
    cfg_doc_t *doc = cfg_doc_load_mem("gantry.yaml", cfg, strlen(cfg), NULL, NULL, err, sizeof err);
    pol_set_t *p = load_spec(doc->root->pairs[0].value, NULL);
    char want1[600], want2[600];
    snprintf(want1, sizeof want1, "%s:6:23: time range must be", b);
    snprintf(want2, sizeof want2, "%s:4:11: rule name '10-first#1' is already used at %s:2", b, a);
    CHECK(p == NULL && strstr(errs, want1) != NULL && strstr(errs, want2) != NULL);
    if (p != NULL || strstr(errs, want1) == NULL || strstr(errs, want2) == NULL)
        fprintf(stderr, "want:\n  %s\n  %s\ngot:\n%s", want1, want2, errs);
    CHECK(strstr(errs, "notes.txt") == NULL); /* only .yaml / .yml files are read */
    pol_free(p);

    /* A file that is not YAML reports the parser's position. */
    write_file(d, "rules:\n  - [\n");
    pol_set_t *q = load_spec(doc->root->pairs[0].value, NULL);
    char want3[400];
    snprintf(want3, sizeof want3, "%s:", d);
    CHECK(q == NULL && strstr(errs, want3) != NULL);
    pol_free(q);
    cfg_doc_free(doc);

    /* Missing files and non-files are errors at the `policies:` entry. */
    const char *missing = "policies:\n  - nowhere.yaml\n  - /dev/null\n";
    doc = cfg_doc_load_mem("gantry.yaml", missing, strlen(missing), NULL, NULL, err, sizeof err);
    q = load_spec(cfg_map_get(doc->root, "policies"), "/nonexistent-dir");
    CHECK(q == NULL);
    CHECK(strstr(errs, "gantry.yaml:2:5: cannot read policy file '/nonexistent-dir/nowhere.yaml': "
                       "No such file or directory") != NULL);
    CHECK(strstr(errs, "gantry.yaml:3:5: policy file '/dev/null' is not a regular file") != NULL);
    cfg_doc_free(doc);

    unlink(a);
    unlink(b);
    unlink(c);
    unlink(d);
    rmdir(dir);
}

/* ---- Time zones ------------------------------------------------------------------------------ */

static pol_tz_t *zone(const char *name)
{
    char err[256];
    pol_tz_t *tz = pol_tz_load(name, NULL, err, sizeof err);
    if (tz == NULL)
        fprintf(stderr, "cannot load %s: %s\n", name, err);
    return tz;
}

#define OFF(tz, y, mo, d, h, mi, s) pol_tz_offset(tz, utc(y, mo, d, h, mi, s))

static void test_tz_known_dates(void)
{
    pol_tz_t *berlin = zone("Europe/Berlin"), *ny = zone("America/New_York");
    CHECK(berlin != NULL && ny != NULL);
    if (berlin == NULL || ny == NULL)
        return;
    CHECK_STR(pol_tz_name(berlin), "Europe/Berlin");
    /* Berlin 2024: CEST from 2024-03-31 01:00 UTC to 2024-10-27 01:00 UTC. */
    CHECK(OFF(berlin, 2024, 1, 15, 12, 0, 0) == 3600);
    CHECK(OFF(berlin, 2024, 3, 31, 0, 59, 59) == 3600);
    CHECK(OFF(berlin, 2024, 3, 31, 1, 0, 0) == 7200);
    CHECK(OFF(berlin, 2024, 7, 1, 12, 0, 0) == 7200);
    CHECK(OFF(berlin, 2024, 10, 27, 0, 59, 59) == 7200);
    CHECK(OFF(berlin, 2024, 10, 27, 1, 0, 0) == 3600);
    /* 1945: Central European Midsummer Time (UTC+3). */
    CHECK(OFF(berlin, 1945, 6, 1, 12, 0, 0) == 10800);
    CHECK(OFF(berlin, 1945, 5, 23, 23, 59, 59) == 7200);
    CHECK(OFF(berlin, 1945, 5, 24, 0, 0, 0) == 10800);
    /* Before the first transition: local mean time (53:28). */
    CHECK(OFF(berlin, 1850, 1, 1, 0, 0, 0) == 3208);
    /* After 2037 (the end of the table in fat files): the footer rule, CET-1CEST,M3.5.0,M10.5.0/3.
     */
    CHECK(OFF(berlin, 2050, 3, 27, 0, 59, 59) == 3600);
    CHECK(OFF(berlin, 2050, 3, 27, 1, 0, 0) == 7200);
    CHECK(OFF(berlin, 2050, 10, 30, 0, 59, 59) == 7200);
    CHECK(OFF(berlin, 2050, 10, 30, 1, 0, 0) == 3600);
    CHECK(OFF(berlin, 2400, 7, 1, 0, 0, 0) == 7200);
    /* New York 2024: EDT from 2024-03-10 07:00 UTC to 2024-11-03 06:00 UTC. */
    CHECK(OFF(ny, 2024, 1, 15, 12, 0, 0) == -18000);
    CHECK(OFF(ny, 2024, 3, 10, 6, 59, 59) == -18000);
    CHECK(OFF(ny, 2024, 3, 10, 7, 0, 0) == -14400);
    CHECK(OFF(ny, 2024, 11, 3, 5, 59, 59) == -14400);
    CHECK(OFF(ny, 2024, 11, 3, 6, 0, 0) == -18000);
    /* 2006 still had the old US rule (first Sunday of April to last Sunday of October). */
    CHECK(OFF(ny, 2006, 4, 2, 6, 59, 59) == -18000);
    CHECK(OFF(ny, 2006, 4, 2, 7, 0, 0) == -14400);
    CHECK(OFF(ny, 2006, 10, 29, 5, 59, 59) == -14400);
    CHECK(OFF(ny, 2006, 10, 29, 6, 0, 0) == -18000);
    /* Footer: EST5EDT,M3.2.0,M11.1.0. */
    CHECK(OFF(ny, 2050, 3, 13, 6, 59, 59) == -18000);
    CHECK(OFF(ny, 2050, 3, 13, 7, 0, 0) == -14400);
    CHECK(OFF(ny, 2050, 11, 6, 5, 59, 59) == -14400);
    CHECK(OFF(ny, 2050, 11, 6, 6, 0, 0) == -18000);
    /* Extreme instants must not misbehave. */
    (void)pol_tz_offset(berlin, INT64_MAX);
    (void)pol_tz_offset(berlin, INT64_MIN);
    pol_tz_free(berlin);
    pol_tz_free(ny);

    /* UTC from the file, and the names that must be refused. */
    pol_tz_t *u = zone("UTC");
    CHECK(u != NULL && OFF(u, 2024, 7, 1, 0, 0, 0) == 0);
    pol_tz_free(u);
    char err[256];
    static const char *const bad[] = {
        "",        "/etc/passwd", "../etc/passwd",  "Europe/../../etc", "Europe//Berlin",
        "Europe/", "a b",         "Europe/Nowhere", "Europe",           ".",
        NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        pol_tz_t *tz = pol_tz_load(bad[i], NULL, err, sizeof err);
        CHECK(tz == NULL && err[0] != '\0');
        pol_tz_free(tz);
    }
    /* A zone directory of our own, with a file that is not TZif. */
    char dir[] = "/tmp/gantry-tz-XXXXXX";
    if (mkdtemp(dir) != NULL) {
        char path[256];
        snprintf(path, sizeof path, "%s/Fake", dir);
        write_file(path, "TZif but not really");
        pol_tz_t *tz = pol_tz_load("Fake", dir, err, sizeof err);
        CHECK(tz == NULL && strstr(err, "not a TZif file") != NULL);
        unlink(path);
        rmdir(dir);
    }
}

/* Compare with glibc's localtime_r over two centuries.  The tests are single-threaded, so
 * switching TZ here is harmless; the implementation itself never does. */
static void test_tz_against_libc(void)
{
    static const char *const zones[] = {
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",
        "Asia/Kolkata",
        "America/Sao_Paulo",
        "Pacific/Chatham",
        "Europe/Dublin",
        "America/Santiago",
        "Antarctica/Troll",
        "America/Nuuk",
        "Africa/Casablanca",
        "Asia/Tehran",
        "Pacific/Apia",
        "Europe/London",
        "America/St_Johns",
        "Australia/Lord_Howe",
        NULL,
    };
    const char *old = getenv("TZ");
    char *saved = old != NULL ? strdup(old) : NULL;
    for (size_t z = 0; zones[z] != NULL; z++) {
        pol_tz_t *tz = zone(zones[z]);
        if (tz == NULL) {
            CHECK(tz != NULL);
            continue;
        }
        char tzenv[128];
        snprintf(tzenv, sizeof tzenv, ":%s", zones[z]);
        setenv("TZ", tzenv, 1);
        tzset();
        int mismatches = 0;
        /* An odd step walks through every time of day and, over the years, every weekday. */
        for (int64_t t = utc(1901, 1, 1, 0, 0, 0); t < utc(2120, 1, 1, 0, 0, 0);
             t += 86400 * 3 + 3607) {
            time_t tt = (time_t)t;
            struct tm tm;
            localtime_r(&tt, &tm);
            if (tm.tm_gmtoff != pol_tz_offset(tz, t) && mismatches++ < 3)
                fprintf(stderr, "%s at %lld: libc %ld, ours %d\n", zones[z], (long long)t,
                        tm.tm_gmtoff, pol_tz_offset(tz, t));
        }
        CHECK(mismatches == 0);
        pol_tz_free(tz);
    }
    if (saved != NULL) {
        setenv("TZ", saved, 1);
        free(saved);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

static void test_tz_posix(void)
{
    char err[256];
    pol_tz_t *tz;
    /* US rules, the default when a DST zone gives none. */
    tz = pol_tz_from_posix("EST5EDT", err, sizeof err);
    CHECK(tz != NULL && OFF(tz, 2024, 3, 10, 7, 0, 0) == -14400 &&
          OFF(tz, 2024, 3, 10, 6, 59, 59) == -18000);
    pol_tz_free(tz);
    /* Southern hemisphere: summer spans New Year. */
    tz = pol_tz_from_posix("AEST-10AEDT,M10.1.0,M4.1.0/3", err, sizeof err);
    CHECK(tz != NULL);
    if (tz != NULL) {
        CHECK(OFF(tz, 2030, 1, 1, 0, 0, 0) == 39600);
        CHECK(OFF(tz, 2029, 12, 31, 13, 30, 0) == 39600); /* local 00:30 on New Year's Day */
        CHECK(OFF(tz, 2030, 7, 1, 0, 0, 0) == 36000);
        /* 2030-04-07 03:00 AEDT = 2030-04-06 16:00 UTC; 2030-10-06 02:00 AEST = 10-05 16:00 UTC */
        CHECK(OFF(tz, 2030, 4, 6, 15, 59, 59) == 39600);
        CHECK(OFF(tz, 2030, 4, 6, 16, 0, 0) == 36000);
        CHECK(OFF(tz, 2030, 10, 5, 15, 59, 59) == 36000);
        CHECK(OFF(tz, 2030, 10, 5, 16, 0, 0) == 39600);
    }
    pol_tz_free(tz);
    /* Julian days: J60 is March 1 also in leap years; zero-based 59 is Feb 29 in leap years. */
    tz = pol_tz_from_posix("AAA0BBB,J60/0,J300/0", err, sizeof err);
    CHECK(tz != NULL && OFF(tz, 2024, 2, 29, 23, 59, 59) == 0 &&
          OFF(tz, 2024, 3, 1, 0, 0, 0) == 3600);
    pol_tz_free(tz);
    tz = pol_tz_from_posix("AAA0BBB,59/0,300/0", err, sizeof err);
    CHECK(tz != NULL && OFF(tz, 2024, 2, 28, 23, 59, 59) == 0 &&
          OFF(tz, 2024, 2, 29, 0, 0, 0) == 3600);
    CHECK(tz != NULL && OFF(tz, 2023, 3, 1, 0, 0, 0) == 3600);
    pol_tz_free(tz);
    /* DST all year (RFC 8536's extension), quoted names, offsets with minutes, negative times. */
    tz = pol_tz_from_posix("EST5EDT,0/0,J365/25", err, sizeof err);
    CHECK(tz != NULL && OFF(tz, 2030, 1, 1, 5, 0, 0) == -14400 &&
          OFF(tz, 2030, 12, 31, 22, 0, 0) == -14400);
    pol_tz_free(tz);
    tz = pol_tz_from_posix("<+0530>-5:30", err, sizeof err);
    CHECK(tz != NULL && OFF(tz, 2030, 1, 1, 0, 0, 0) == 19800);
    pol_tz_free(tz);
    tz = pol_tz_from_posix("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", err, sizeof err);
    CHECK(tz != NULL && OFF(tz, 2030, 7, 1, 0, 0, 0) == -3600 &&
          OFF(tz, 2030, 1, 1, 0, 0, 0) == -7200);
    pol_tz_free(tz);
    tz = pol_tz_from_posix("XXX-12:45YYY-13:45,M9.5.0/2:45,M4.1.0/3:45", err, sizeof err);
    CHECK(tz != NULL && OFF(tz, 2030, 1, 1, 0, 0, 0) == 49500);
    pol_tz_free(tz);
    static const char *const bad[] = {"",
                                      "E5",
                                      "EST",
                                      "EST5EDT,M3.2.0",
                                      "EST5EDT,M13.2.0,M11.1.0",
                                      "EST5EDT,M3.6.0,M11.1.0",
                                      "EST5EDT,M3.2.7,M11.1.0",
                                      "EST5EDT,J0,J100",
                                      "EST5EDT,J366,J100",
                                      "EST25",
                                      "<AB>5",
                                      "EST5EDT,M3.2.0/168,M11.1.0",
                                      "EST5x",
                                      "EST5EDT,M3.2.0,M11.1.0,",
                                      NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        tz = pol_tz_from_posix(bad[i], err, sizeof err);
        if (tz != NULL)
            fprintf(stderr, "accepted bad TZ string \"%s\"\n", bad[i]);
        CHECK(tz == NULL);
        pol_tz_free(tz);
    }
}

/* ---- Hand-built TZif files ------------------------------------------------------------------- */

static size_t put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

static size_t put_header(uint8_t *p, char version, uint32_t timecnt, uint32_t typecnt)
{
    memset(p, 0, 44);
    memcpy(p, "TZif", 4);
    p[4] = (uint8_t)version;
    put32(p + 32, timecnt);
    put32(p + 36, typecnt);
    put32(p + 40, 4); /* charcnt: "ABC\0" */
    return 44;
}

static size_t put_block(uint8_t *p, int tsize, const int64_t *at, const uint8_t *idx, size_t n,
                        const int32_t *offs, size_t ntypes)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (tsize == 8)
            o += put32(p + o, (uint32_t)((uint64_t)at[i] >> 32));
        o += put32(p + o, (uint32_t)at[i]);
    }
    for (size_t i = 0; i < n; i++)
        p[o++] = idx[i];
    for (size_t i = 0; i < ntypes; i++) {
        o += put32(p + o, (uint32_t)offs[i]);
        p[o++] = offs[i] != offs[0];
        p[o++] = 0;
    }
    memcpy(p + o, "ABC", 4);
    return o + 4;
}

/* A TZif file; version 0 writes only the v1 block, else v1 (empty) + v2 block + footer. */
static size_t build_tzif(uint8_t *p, char version, const int64_t *at, const uint8_t *idx, size_t n,
                         const int32_t *offs, size_t ntypes, const char *footer)
{
    size_t o = 0;
    if (version == 0) {
        o += put_header(p, 0, (uint32_t)n, (uint32_t)ntypes);
        o += put_block(p + o, 4, at, idx, n, offs, ntypes);
        return o;
    }
    o += put_header(p, version, 0, 1);
    o += put_block(p + o, 4, NULL, NULL, 0, offs, 1);
    o += put_header(p + o, version, (uint32_t)n, (uint32_t)ntypes);
    o += put_block(p + o, 8, at, idx, n, offs, ntypes);
    p[o++] = '\n';
    memcpy(p + o, footer, strlen(footer));
    o += strlen(footer);
    p[o++] = '\n';
    return o;
}

static void test_tzif(void)
{
    uint8_t buf[1024];
    char err[256];
    const int64_t at[] = {1000, 2000, 3000};
    const uint8_t idx[] = {1, 2, 1};
    const int32_t offs[] = {100, 3600, 7200};

    /* Version 1: type 0 before the first transition, the last type after the last. */
    size_t len = build_tzif(buf, 0, at, idx, 3, offs, 3, NULL);
    pol_tz_t *tz = pol_tz_parse("v1", buf, len, err, sizeof err);
    CHECK(tz != NULL);
    if (tz != NULL) {
        CHECK(pol_tz_offset(tz, -5000) == 100 && pol_tz_offset(tz, 999) == 100);
        CHECK(pol_tz_offset(tz, 1000) == 3600 && pol_tz_offset(tz, 1999) == 3600);
        CHECK(pol_tz_offset(tz, 2000) == 7200 && pol_tz_offset(tz, 2999) == 7200);
        CHECK(pol_tz_offset(tz, 3000) == 3600 && pol_tz_offset(tz, INT64_C(1) << 40) == 3600);
    }
    pol_tz_free(tz);
    /* Every truncation of it fails cleanly. */
    for (size_t cut = 0; cut < len; cut++) {
        tz = pol_tz_parse("v1", buf, cut, err, sizeof err);
        CHECK(tz == NULL);
        pol_tz_free(tz);
    }

    /* Version 2 with a footer: the footer rules after the last transition. */
    const int64_t at2[] = {-INT64_C(2208988800), utc(2000, 1, 1, 0, 0, 0)};
    const uint8_t idx2[] = {1, 0};
    const int32_t offs2[] = {-18000, 0};
    len = build_tzif(buf, '2', at2, idx2, 2, offs2, 2, "EST5EDT,M3.2.0,M11.1.0");
    tz = pol_tz_parse("v2", buf, len, err, sizeof err);
    CHECK(tz != NULL);
    if (tz != NULL) {
        CHECK(pol_tz_offset(tz, utc(1850, 1, 1, 0, 0, 0)) == -18000);
        CHECK(pol_tz_offset(tz, utc(1950, 7, 1, 0, 0, 0)) == 0);
        CHECK(pol_tz_offset(tz, utc(2024, 7, 1, 0, 0, 0)) == -14400);
        CHECK(pol_tz_offset(tz, utc(2024, 1, 1, 0, 0, 0)) == -18000);
    }
    pol_tz_free(tz);
    for (size_t cut = 0; cut < len; cut++) {
        tz = pol_tz_parse("v2", buf, cut, err, sizeof err);
        CHECK(tz == NULL);
        pol_tz_free(tz);
    }
    /* Versions 3 and 4 read the same way; an empty footer leaves the last type in force. */
    len = build_tzif(buf, '3', at2, idx2, 2, offs2, 2, "");
    tz = pol_tz_parse("v3", buf, len, err, sizeof err);
    CHECK(tz != NULL && pol_tz_offset(tz, utc(2024, 7, 1, 0, 0, 0)) == -18000);
    pol_tz_free(tz);
    /* No transitions: the footer rules all time. */
    len = build_tzif(buf, '4', NULL, NULL, 0, offs2, 1, "CET-1CEST,M3.5.0,M10.5.0/3");
    tz = pol_tz_parse("v4", buf, len, err, sizeof err);
    CHECK(tz != NULL && pol_tz_offset(tz, utc(1900, 7, 1, 0, 0, 0)) == 7200 &&
          pol_tz_offset(tz, utc(1900, 1, 1, 0, 0, 0)) == 3600);
    pol_tz_free(tz);

    /* Broken files. */
    len = build_tzif(buf, '2', at2, idx2, 2, offs2, 2, "not a rule");
    tz = pol_tz_parse("x", buf, len, err, sizeof err);
    CHECK(tz == NULL && strstr(err, "footer") != NULL);
    const uint8_t bad_idx[] = {1, 2};
    len = build_tzif(buf, '2', at2, bad_idx, 2, offs2, 2, "");
    tz = pol_tz_parse("x", buf, len, err, sizeof err);
    CHECK(tz == NULL && strstr(err, "missing type") != NULL);
    const int64_t backwards[] = {2000, 1000};
    len = build_tzif(buf, '2', backwards, idx2, 2, offs2, 2, "");
    tz = pol_tz_parse("x", buf, len, err, sizeof err);
    CHECK(tz == NULL && strstr(err, "ascending") != NULL);
    len = build_tzif(buf, 0, at, idx, 3, offs, 3, NULL);
    buf[0] = 'X';
    tz = pol_tz_parse("x", buf, len, err, sizeof err);
    CHECK(tz == NULL && strstr(err, "not a TZif") != NULL);
    len = build_tzif(buf, 0, NULL, NULL, 0, offs, 0, NULL); /* no types at all */
    tz = pol_tz_parse("x", buf, len, err, sizeof err);
    CHECK(tz == NULL);
    len = build_tzif(buf, '2', at2, idx2, 2, offs2, 2, "EST5");
    buf[len - 1] = 'x'; /* footer without its closing newline */
    tz = pol_tz_parse("x", buf, len, err, sizeof err);
    CHECK(tz == NULL);
    const int32_t wild[] = {0, INT32_MIN};
    len = build_tzif(buf, 0, at, idx2, 1, wild, 2, NULL);
    tz = pol_tz_parse("x", buf, len, err, sizeof err);
    CHECK(tz == NULL && strstr(err, "local time type") != NULL);
}

int main(void)
{
    find_srcdir();
    test_model();
    test_identity();
    test_metadata();
    test_tags();
    test_headers();
    test_header_length();
    test_tokens_tools_images();
    test_time_utc();
    test_time_zones();
    test_actions();
    test_order();
    test_errors();
    test_limits_and_warnings();
    test_examples();
    test_file_errors();
    test_tz_known_dates();
    test_tz_against_libc();
    test_tz_posix();
    test_tzif();
    return check_report();
}
