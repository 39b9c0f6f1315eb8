/*
 * Unit test of the JSON line builder (jl_build_line), which needs no host: a fixed request summary
 * must give exactly the expected line, and awkward strings must come out as valid JSON.
 */
#include "jsonl.c"

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

#define STR(s) ((gantry_str_t){(s), sizeof(s) - 1})

/* The builder's output (without the newline) must equal `want`. */
static void expect_line(const gantry_req_info_t *info, const char *want)
{
    static char buf[JL_LINE_MAX];
    size_t n = jl_build_line(info, 0, buf, sizeof(buf));

    CHECK(n > 0 && buf[n - 1] == '\n');
    if (n - 1 != strlen(want) || memcmp(buf, want, n - 1) != 0) {
        fprintf(stderr, "got:  %.*s\nwant: %s\n", (int)(n - 1), buf, want);
        exit(1);
    }
}

static gantry_req_info_t base_info(void)
{
    gantry_req_info_t info;

    memset(&info, 0, sizeof(info));
    info.size = sizeof(info);
    info.request_id = STR("req-1");
    info.route = STR("/v1/chat/completions");
    info.model_group = STR("gpt-mock");
    info.deployment_id = STR("dep-1");
    info.provider = STR("openai");
    info.upstream_model = STR("gpt-4o-mini");
    info.principal = STR("master-key");
    info.status = 200;
    info.stream = true;
    info.attempts = 1;
    info.start_unix_ms = 1738326896789LL;
    info.duration_us = 123456;
    info.ttft_us = 2345;
    info.upstream_us = 120000;
    info.overhead_us = 3456;
    info.prompt_tokens = 10;
    info.completion_tokens = 16;
    info.total_tokens = 26;
    info.cached_tokens = -1;
    return info;
}

static void test_golden(void)
{
    gantry_req_info_t info = base_info();

    expect_line(&info, "{\"ts\":\"2025-01-31T12:34:56.789Z\",\"request_id\":\"req-1\","
                       "\"route\":\"/v1/chat/completions\",\"model_group\":\"gpt-mock\","
                       "\"deployment\":\"dep-1\",\"provider\":\"openai\","
                       "\"upstream_model\":\"gpt-4o-mini\",\"status\":200,\"stream\":true,"
                       "\"latency_ms\":123.456,\"ttft_ms\":2.345,\"upstream_ms\":120.000,"
                       "\"overhead_ms\":3.456,\"prompt_tokens\":10,\"completion_tokens\":16,"
                       "\"total_tokens\":26,\"cached_tokens\":null,\"cache_hit\":false,"
                       "\"principal\":\"master-key\",\"user\":null,\"attempts\":1,"
                       "\"client_aborted\":false,\"error_type\":null,\"error\":null}");
}

static void test_escaping(void)
{
    gantry_req_info_t info = base_info();
    static const char id[] = "a\"b\\c\nd\te\x01"
                             "f\xc3\xa9g\xff";
    static const char cut[] = "x\xe2\x82";
    char buf[JL_LINE_MAX];
    size_t n;

    info.request_id = (gantry_str_t){id, sizeof(id) - 1};
    info.error_message = (gantry_str_t){cut, sizeof(cut) - 1};
    n = jl_build_line(&info, 0, buf, sizeof(buf));
    CHECK(n > 0);
    buf[n - 1] = '\0';
    /* Quotes, backslashes and controls escaped; valid UTF-8 kept; malformed bytes become U+FFFD. */
    CHECK(strstr(buf, "\"request_id\":\"a\\\"b\\\\c\\nd\\te\\u0001f\xc3\xa9g\\ufffd\"") != NULL);
    CHECK(strstr(buf, "\"error\":\"x\\ufffd\\ufffd\"") != NULL);
}

static void test_truncation_and_overflow(void)
{
    gantry_req_info_t info = base_info();
    char long_value[JL_FIELD_MAX * 2], buf[JL_LINE_MAX], want[JL_FIELD_MAX + 64];

    memset(long_value, 'L', sizeof(long_value));
    info.upstream_model = (gantry_str_t){long_value, sizeof(long_value)};
    CHECK(jl_build_line(&info, 0, buf, sizeof(buf)) > 0);
    snprintf(want, sizeof(want), "\"upstream_model\":\"%.*s...\"", JL_FIELD_MAX, long_value);
    CHECK(strstr(buf, want) != NULL);
    /* A buffer too small for the line gives 0 (the caller drops the line), never a partial line. */
    CHECK(jl_build_line(&info, 0, buf, 64) == 0);
}

static void test_unknowns(void)
{
    gantry_req_info_t info = base_info();
    char buf[JL_LINE_MAX];

    info.ttft_us = -1;
    info.prompt_tokens = info.completion_tokens = info.total_tokens = -1;
    info.start_unix_ms = 0;
    CHECK(jl_build_line(&info, 1000, buf, sizeof(buf)) > 0);
    CHECK(strstr(buf, "\"ts\":\"1970-01-01T00:00:01.000Z\"") != NULL);
    CHECK(strstr(buf, "\"ttft_ms\":null") != NULL);
    CHECK(strstr(buf, "\"prompt_tokens\":null,\"completion_tokens\":null,\"total_tokens\":null") !=
          NULL);
}

/*
 * The hand-written number formatting at its edges, and the per-second timestamp cache: a line of
 * another second (earlier, later, or the same second of another day) must not reuse the prefix.
 */
static void test_numbers_and_cached_ts(void)
{
    gantry_req_info_t info = base_info();
    jl_ts_cache_t ts;
    char buf[JL_LINE_MAX];

    memset(&ts, 0, sizeof(ts));
    info.status = -7;
    info.attempts = 0;
    info.duration_us = 0;
    info.ttft_us = 999;
    info.upstream_us = 1000;
    info.overhead_us = INT64_MAX;
    info.total_tokens = INT64_MAX;
    CHECK(jl_build_line_cached(&info, 0, &ts, buf, sizeof(buf)) > 0);
    CHECK(strstr(buf, "\"ts\":\"2025-01-31T12:34:56.789Z\"") != NULL);
    CHECK(strstr(buf, "\"status\":-7,") != NULL);
    CHECK(strstr(buf, "\"attempts\":0,") != NULL);
    CHECK(strstr(buf, "\"latency_ms\":0.000,\"ttft_ms\":0.999,\"upstream_ms\":1.000,"
                      "\"overhead_ms\":9223372036854775.807,") != NULL);
    CHECK(strstr(buf, "\"total_tokens\":9223372036854775807,") != NULL);

    info.start_unix_ms = 1738326896001LL; /* same second: from the cache */
    CHECK(jl_build_line_cached(&info, 0, &ts, buf, sizeof(buf)) > 0);
    CHECK(strstr(buf, "\"ts\":\"2025-01-31T12:34:56.001Z\"") != NULL);
    info.start_unix_ms = 1738326897000LL; /* the next second */
    CHECK(jl_build_line_cached(&info, 0, &ts, buf, sizeof(buf)) > 0);
    CHECK(strstr(buf, "\"ts\":\"2025-01-31T12:34:57.000Z\"") != NULL);
    info.start_unix_ms = 1738240497000LL; /* one day earlier */
    CHECK(jl_build_line_cached(&info, 0, &ts, buf, sizeof(buf)) > 0);
    CHECK(strstr(buf, "\"ts\":\"2025-01-30T12:34:57.000Z\"") != NULL);
    info.start_unix_ms = 253402300799999LL; /* the last millisecond of year 9999, then 10000 */
    CHECK(jl_build_line_cached(&info, 0, &ts, buf, sizeof(buf)) > 0);
    CHECK(strstr(buf, "\"ts\":\"9999-12-31T23:59:59.999Z\"") != NULL);
    info.start_unix_ms = 253402300800000LL;
    CHECK(jl_build_line_cached(&info, 0, &ts, buf, sizeof(buf)) > 0);
    CHECK(strstr(buf, "\"ts\":\"10000-01-01T00:00:00.000Z\"") != NULL);
    info.start_unix_ms = 0; /* falls back to now_ms: second 0 on a cache that holds another */
    CHECK(jl_build_line_cached(&info, 5, &ts, buf, sizeof(buf)) > 0);
    CHECK(strstr(buf, "\"ts\":\"1970-01-01T00:00:00.005Z\"") != NULL);
    CHECK(jl_build_line_cached(&info, -1, &ts, buf, sizeof(buf)) > 0);
    CHECK(strstr(buf, "\"ts\":null,") != NULL);
}

int main(void)
{
    test_golden();
    test_escaping();
    test_truncation_and_overflow();
    test_unknowns();
    test_numbers_and_cached_ts();
    printf("jsonl line: ok\n");
    return 0;
}
