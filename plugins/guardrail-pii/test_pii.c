/*
 * Unit tests of the pii guardrail: every detector (what it must find and what it must leave
 * alone), the checksums, masking, streams split at every byte, and the plugin through a host
 * (configuration, requests, responses, chunks, blocking, allocation failures).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pii_detect.h"
#include "pii_int.h"
#include "test_host.h"

static void *lc_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

static const pii_mem_t libc_mem = {lc_realloc, free};

/* Every entity masked as [LABEL], or the ones in `block` blocked. */
static pii_rules_t rules_for(uint32_t enabled, uint32_t block)
{
    static char labels[PII_NENTITIES][32];
    pii_rules_t r = {.enabled = enabled, .block = block};

    for (unsigned e = 0; e < PII_NENTITIES; e++) {
        snprintf(labels[e], sizeof(labels[e]), "[%s]", pii_entity_label((pii_entity_t)e));
        r.repl[e] = labels[e];
        r.repl_len[e] = strlen(labels[e]);
    }
    return r;
}

/* The whole text masked (a static buffer), or "BLOCKED:<entity>". */
static const char *mask_with(const pii_rules_t *r, const char *text)
{
    static char result[4096];
    pii_buf_t out = {NULL, 0, 0};
    pii_entity_t blocked = PII_NENTITIES;
    pii_verdict_t v = pii_check_text(r, &libc_mem, text, strlen(text), &out, &blocked);

    if (v == PII_BLOCKED)
        snprintf(result, sizeof(result), "BLOCKED:%s", pii_entity_name(blocked));
    else if (v == PII_MASKED)
        snprintf(result, sizeof(result), "%s", out.ptr);
    else if (v == PII_CLEAN)
        snprintf(result, sizeof(result), "%s", text);
    else
        snprintf(result, sizeof(result), "NOMEM");
    pii_buf_free(&libc_mem, &out);
    return result;
}

static const char *mask(const char *text)
{
    pii_rules_t r = rules_for(PII_ALL, 0);
    return mask_with(&r, text);
}

#define EXPECT_MASK(text, want)                                                                    \
    do {                                                                                           \
        const char *got_ = mask(text);                                                             \
        if (strcmp(got_, want) != 0)                                                               \
            fprintf(stderr, "  input:    %s\n  expected: %s\n  got:      %s\n", text, want, got_); \
        CHECK(strcmp(got_, want) == 0);                                                            \
    } while (0)

#define EXPECT_SAME(text) EXPECT_MASK(text, text)

static void test_email(void)
{
    EXPECT_MASK("mail bob.smith+tag@example.co.uk now", "mail [EMAIL] now");
    EXPECT_MASK("Contact: <alice@mail.example.com>.", "Contact: <[EMAIL]>.");
    EXPECT_MASK("write to bob@example.com.", "write to [EMAIL].");
    EXPECT_MASK("mailto:bob@example.com", "mailto:[EMAIL]");
    EXPECT_MASK("https://example.com/u?email=bob@example.com&x=1",
                "https://example.com/u?email=[EMAIL]&x=1");
    EXPECT_MASK("jos\xc3\xa9@ex\xc3\xa4mple.de", "[EMAIL]");
    EXPECT_MASK("\xe8\x81\x94\xe7\xb3\xbb"
                "bob@example.com",
                "\xe8\x81\x94\xe7\xb3\xbb"
                "[EMAIL]");
    EXPECT_MASK("a@b.com- x", "[EMAIL]- x");
    EXPECT_SAME("a@b.com-x");
    EXPECT_MASK("x@xn--bcher-kva.example", "[EMAIL]");
    EXPECT_MASK("two: a@ex.org,b@ex.org", "two: [EMAIL],[EMAIL]");
    /* Not addresses: handles in URLs, hosts without a domain, numeric or one-letter TLDs. */
    EXPECT_SAME("https://medium.com/@alice/post");
    EXPECT_SAME("user@localhost");
    EXPECT_SAME("a@b.c");
    EXPECT_SAME("follow @handle");
    EXPECT_SAME("x@123.456");
    EXPECT_SAME("..@example.com");
    EXPECT_SAME("bob.@example.com");
}

static void test_phone(void)
{
    EXPECT_MASK("call +1 415 555 2671", "call [PHONE]");
    EXPECT_MASK("call +14155552671.", "call [PHONE].");
    EXPECT_MASK("(415) 555-2671", "[PHONE]");
    EXPECT_MASK("tel: 415-555-2671", "tel: [PHONE]");
    EXPECT_MASK("415.555.2671", "[PHONE]");
    EXPECT_MASK("+44 20 7946 0958", "[PHONE]");
    EXPECT_MASK("+44 (0)20 7946 0958", "[PHONE]");
    EXPECT_MASK("Tel. 030 12345678", "Tel. [PHONE]");
    EXPECT_MASK("06 12 34 56 78", "[PHONE]");
    EXPECT_MASK("(555-123-4567)", "([PHONE])");
    EXPECT_MASK("room 102 415-555-2671", "room 102 [PHONE]");
    /* Plain numbers, dates, times, versions, ISBNs, amounts and ids are not phone numbers. */
    EXPECT_SAME("order 5551234567");
    EXPECT_SAME("id 123456789012");
    EXPECT_SAME("on 2024-01-15 at 10:30");
    EXPECT_SAME("v1.2.3 and 12/25/2024");
    EXPECT_SAME("ISBN 978-3-16-148410-0");
    EXPECT_SAME("cost $1 234 567 890");
    EXPECT_SAME("ref #555-123-4567");
    EXPECT_SAME("SSN 123-45-6789");
    EXPECT_SAME("zip 94105-1234");
    EXPECT_SAME("+123 short");
    EXPECT_SAME("+04155552671");
    EXPECT_SAME("1234 5678 9012 3456 7890");
    EXPECT_SAME("415-555-2671abc");
    EXPECT_SAME("+1 415 555 2671 1234 5678");
}

static void test_card(void)
{
    EXPECT_MASK("4111 1111 1111 1111", "[CREDIT_CARD]");
    EXPECT_MASK("4111-1111-1111-1111", "[CREDIT_CARD]");
    EXPECT_MASK("card 4111111111111111.", "card [CREDIT_CARD].");
    EXPECT_MASK("5555555555554444", "[CREDIT_CARD]");
    EXPECT_MASK("amex 3782 822463 10005", "amex [CREDIT_CARD]");
    EXPECT_MASK("6011111111111117", "[CREDIT_CARD]");
    EXPECT_MASK("3530111333300000", "[CREDIT_CARD]");
    EXPECT_MASK("30569309025904", "[CREDIT_CARD]");
    EXPECT_MASK("2223003122003222", "[CREDIT_CARD]");
    EXPECT_MASK("6200000000000005", "[CREDIT_CARD]");
    EXPECT_MASK("4222222222222", "[CREDIT_CARD]");
    EXPECT_MASK("card 4111 1111 1111 1111 exp 12/27", "card [CREDIT_CARD] exp 12/27");
    EXPECT_MASK("4111 1111 1111 1111 12/27", "[CREDIT_CARD] 12/27");
    /* Luhn failures, unknown issuers, wrong lengths, longer numbers, glued to words. */
    EXPECT_SAME("4111111111111112");
    EXPECT_SAME("4111 1111 1111 1112");
    EXPECT_SAME("1234567812345670");
    EXPECT_SAME("9111111111111111");
    EXPECT_SAME("41111111111111111111");
    EXPECT_SAME("x4111111111111111");
    EXPECT_SAME("4111111111111111x");
    EXPECT_MASK("371449635398431 2", "[CREDIT_CARD] 2");
    EXPECT_MASK("order 12 4111 1111 1111 1111", "order 12 [CREDIT_CARD]");
    CHECK(pii_luhn_ok("79927398713", 11));
    CHECK(!pii_luhn_ok("79927398710", 11));
    CHECK(!pii_luhn_ok("", 0));
}

static void test_iban(void)
{
    EXPECT_MASK("IBAN DE89 3704 0044 0532 0130 00, thanks", "IBAN [IBAN], thanks");
    EXPECT_MASK("DE89370400440532013000", "[IBAN]");
    EXPECT_MASK("GB82WEST12345698765432", "[IBAN]");
    EXPECT_MASK("GB82 WEST 1234 5698 7654 32", "[IBAN]");
    EXPECT_MASK("FR14 2004 1010 0505 0001 3M02 606", "[IBAN]");
    EXPECT_MASK("NL91ABNA0417164300", "[IBAN]");
    EXPECT_MASK("(CH9300762011623852957)", "([IBAN])");
    EXPECT_MASK("IT60X0542811101000000123456", "[IBAN]");
    /* Bad check digits, wrong lengths, unknown countries, glued to more characters. */
    EXPECT_SAME("DE89370400440532013001");
    EXPECT_SAME("DE8937040044053201300");
    EXPECT_SAME("XX89370400440532013000");
    EXPECT_SAME("GB82WEST12345698765432X");
    EXPECT_SAME("DE89 3704 0044 0532 0130 001");
    CHECK(pii_iban_ok("BE68539007547034", 16));
    CHECK(!pii_iban_ok("BE68539007547035", 16));
    CHECK(pii_iban_length('D', 'E') == 22);
    CHECK(pii_iban_length('Z', 'Z') == 0);
}

static void test_aws(void)
{
    EXPECT_MASK("key AKIAIOSFODNN7EXAMPLE", "key [AWS_ACCESS_KEY]");
    EXPECT_MASK("ASIAY34FZKBOKMUTVV7A", "[AWS_ACCESS_KEY]");
    EXPECT_MASK("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
                "aws_access_key_id = [AWS_ACCESS_KEY]\n"
                "aws_secret_access_key = [AWS_SECRET_KEY]\n");
    EXPECT_MASK("{\"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}",
                "{\"SecretAccessKey\": \"[AWS_SECRET_KEY]\"}");
    /* A 40-character base64 word alone is not a secret; nor are near-miss key ids. */
    EXPECT_SAME("hash wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    EXPECT_SAME("AKIAIOSFODNN7EXAMPL");
    EXPECT_SAME("AKIAIOSFODNN7EXAMPLEX");
    EXPECT_SAME("xAKIAIOSFODNN7EXAMPLE");
    EXPECT_SAME("AKIAiosfodnn7example");
    EXPECT_MASK("AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1",
                "[AWS_ACCESS_KEY] wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1");
}

static void test_ip(void)
{
    EXPECT_MASK("server 192.168.1.10 is down", "server [IPV4] is down");
    EXPECT_MASK("10.0.0.1:8080", "[IPV4]:8080");
    EXPECT_MASK("use 8.8.8.8.", "use [IPV4].");
    EXPECT_MASK("2001:db8::8a2e:370:7334", "[IPV6]");
    EXPECT_MASK("via fe80::1 today", "via [IPV6] today");
    EXPECT_MASK("::1", "[IPV6]");
    EXPECT_MASK("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[IPV6]");
    EXPECT_MASK("::ffff:192.0.2.128", "[IPV6]");
    EXPECT_MASK("[2001:db8::1]:443", "[[IPV6]]:443");
    EXPECT_MASK("host fe80::1: up", "host [IPV6]: up");
    EXPECT_SAME("1.2.3 and 256.1.1.1");
    EXPECT_SAME("1.2.3.4.5");
    EXPECT_SAME("v1.2.3.4");
    EXPECT_SAME("01.02.03.04");
    EXPECT_SAME("1.2.3.4a");
    EXPECT_SAME("at 12:30:45");
    EXPECT_SAME("std::vector and a[::2] and x[1::2]");
    EXPECT_SAME("mac 00:1A:2B:3C:4D:5E");
    EXPECT_SAME("fe80::1x");
    EXPECT_SAME("deadbeef cafe");
}

static void test_pem(void)
{
    EXPECT_MASK("key:\n-----BEGIN RSA PRIVATE KEY-----\n"
                "MIIEowIBAAKCAQEA1234567890abcdefghijABCDEFGHIJ\n"
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef==\n"
                "-----END RSA PRIVATE KEY-----\nthanks",
                "key:\n[PRIVATE_KEY]\nthanks");
    EXPECT_MASK("-----BEGIN ENCRYPTED PRIVATE KEY-----\\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkq\\n"
                "-----END ENCRYPTED PRIVATE KEY-----",
                "[PRIVATE_KEY]");
    EXPECT_MASK("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE\n"
                "and that is all I have.",
                "[PRIVATE_KEY]\nand that is all I have.");
    EXPECT_MASK("the line -----BEGIN PRIVATE KEY----- starts a PEM file",
                "the line [PRIVATE_KEY] starts a PEM file");
    EXPECT_MASK("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0abcdefghijklmnopqrst\n"
                "-----END PGP PRIVATE KEY BLOCK-----",
                "[PRIVATE_KEY]");
    EXPECT_SAME(
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n-----END PUBLIC KEY-----");
    EXPECT_SAME("-----BEGIN CERTIFICATE-----");
    EXPECT_SAME("----- BEGIN PRIVATE KEY -----");
}

static void test_tokens(void)
{
    EXPECT_MASK("token ghp_abcdefghijklmnopqrstuvwxyz0123456789 ok", "token [GITHUB_TOKEN] ok");
    EXPECT_MASK("gho_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "[GITHUB_TOKEN]");
    EXPECT_MASK("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "[GITHUB_TOKEN]");
    EXPECT_MASK("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "[SLACK_TOKEN]");
    EXPECT_MASK("xoxp-1234567890-abc", "[SLACK_TOKEN]");
    EXPECT_MASK("OPENAI_API_KEY=sk-proj-abc123DEF456ghi789JKL012mno345",
                "OPENAI_API_KEY=[OPENAI_KEY]");
    EXPECT_MASK("sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH", "[OPENAI_KEY]");
    EXPECT_MASK("key=AIzaSyA1234567890abcdefghijklmnopqrstuv&q=1", "key=[GOOGLE_API_KEY]&q=1");
    EXPECT_MASK(
        "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6"
        "IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "Bearer [JWT]");
    EXPECT_MASK("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0NTY3ODkwIn0.", "[JWT]");
    EXPECT_MASK("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[STRIPE_KEY]");
    EXPECT_MASK("rk_live_51H8abcDEFghiJKLmno", "[STRIPE_KEY]");
    EXPECT_SAME("ghp_short and xghp_abcdefghijklmnopqrstuvwxyz0123456789");
    EXPECT_SAME("xoxz-123456789012 and xoxb-123");
    EXPECT_SAME("sk-learn-is-a-great-library-for-ml");
    EXPECT_SAME("task-1234567890abcdefghijk");
    EXPECT_SAME("AIzaSyA1234567890abcdefghijklmnopqrstu");
    EXPECT_SAME("eyJhbGciOiJIUzI1NiJ9 alone");
    EXPECT_SAME("eyJabc.eyJdef.x");
    EXPECT_SAME("sk_live_short");
    EXPECT_SAME("sk_test_4eC39HqLyjWDarjtT1zdp7dc");
}

static void test_rules(void)
{
    pii_rules_t only_email = rules_for(1u << PII_EMAIL, 0);
    pii_rules_t block_card = rules_for(PII_ALL, 1u << PII_CREDIT_CARD);
    pii_rules_t custom = rules_for(PII_ALL, 0);

    CHECK_STR(mask_with(&only_email, "a@example.com 4111111111111111"), "[EMAIL] 4111111111111111");
    CHECK_STR(mask_with(&block_card, "a@example.com 4111111111111111"), "BLOCKED:credit_card");
    CHECK_STR(mask_with(&block_card, "a@example.com 4111111111111112"), "[EMAIL] 4111111111111112");
    custom.repl[PII_EMAIL] = "***";
    custom.repl_len[PII_EMAIL] = 3;
    CHECK_STR(mask_with(&custom, "<a@example.com>"), "<***>");
    /* Overlapping entities merge into one range named after the first. */
    CHECK_STR(mask("::ffff:192.0.2.128 x"), "[IPV6] x");
    CHECK(pii_entity_lookup("EMAIL_ADDRESS", 13) == (1u << PII_EMAIL));
    CHECK(pii_entity_lookup("Credit_Card", 11) == (1u << PII_CREDIT_CARD));
    CHECK(pii_entity_lookup("ip_address", 10) == ((1u << PII_IPV4) | (1u << PII_IPV6)));
    CHECK(pii_entity_lookup("nope", 4) == 0);
    /* UTF-8 around entities stays intact. */
    CHECK_STR(mask("\xc3\xa9t\xc3\xa9 4111111111111111 \xe2\x82\xac"),
              "\xc3\xa9t\xc3\xa9 [CREDIT_CARD] \xe2\x82\xac");
}

/* ---- streams ---- */

static const char *const stream_texts[] = {
    "Hi, write to bob.smith+tag@example.co.uk or call +1 415 555 2671 or (415) 555-2671. "
    "Card 4111 1111 1111 1111 exp 12/27, IBAN DE89 3704 0044 0532 0130 00. Server 192.168.1.10 "
    "and fe80::1. Keys AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, "
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789, sk-proj-abc123DEF456ghi789JKL012mno345 and "
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcDEF123_-x done.",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234567890abcdefghijABCDEFGHIJ\n"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef==\n-----END RSA PRIVATE KEY-----\nthanks a@b.co",
    "no entities here, only words and 12 numbers 3.5 and 2024-01-15 \xe6\x97\xa5\xe6\x9c\xac "
    "\xc3\xa9t\xc3\xa9 order 5551234567",
    "5551234567 4111111111111112 x@y.z 1.2.3.4.5 DE89370400440532013001 a@b.com",
    /* A cut inside a two-byte letter right after an entity must not settle it early. */
    "mail a@b.co\xc3\xa4 and x@y.org\xc3\xa9 and 4111111111111111\xc3\xa9 and 10.0.0.1\xc3\xa9 "
    "fe80::1\xc3\xa9 ghp_abcdefghijklmnopqrstuvwxyz0123456789\xc3\xa9 +14155552671\xc3\xa9",
};

/* Feed `text` in pieces cut at `cuts` (sorted offsets) and return the released text. */
static char *feed_pieces(const pii_rules_t *r, const char *text, const size_t *cuts, size_t ncuts,
                         bool *forced, const char **blocked)
{
    pii_carry_t c = {0};
    pii_buf_t out = {NULL, 0, 0}, all = {NULL, 0, 0};
    size_t n = strlen(text), at = 0;
    pii_entity_t e = PII_NENTITIES;

    *blocked = NULL;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t to = k < ncuts ? cuts[k] : n;
        pii_verdict_t v =
            pii_carry_feed(r, &libc_mem, &c, text + at, to - at, k == ncuts, &out, &e);

        if (v == PII_BLOCKED) {
            *blocked = pii_entity_name(e);
            break;
        }
        CHECK(v == PII_CLEAN || v == PII_MASKED);
        CHECK(pii_buf_put(&libc_mem, &all, out.ptr, out.len));
        at = to;
    }
    *forced = c.forced;
    pii_carry_free(&libc_mem, &c);
    pii_buf_free(&libc_mem, &out);
    if (all.ptr == NULL)
        CHECK(pii_buf_put(&libc_mem, &all, "", 0));
    return all.ptr;
}

static void test_stream_splits(void)
{
    pii_rules_t r = rules_for(PII_ALL, 0);

    for (size_t t = 0; t < sizeof(stream_texts) / sizeof(stream_texts[0]); t++) {
        const char *text = stream_texts[t];
        size_t n = strlen(text);
        char *whole = strdup(mask(text));
        size_t *cuts = malloc(n * sizeof(*cuts));
        const char *blocked;
        bool forced;
        int bad = 0;

        /* One cut at every offset. */
        for (size_t k = 0; k <= n; k++) {
            char *got = feed_pieces(&r, text, &k, 1, &forced, &blocked);
            if (strcmp(got, whole) != 0 && bad++ < 3)
                fprintf(stderr, "  text %zu split at %zu:\n  whole: %s\n  split: %s\n", t, k, whole,
                        got);
            CHECK(strcmp(got, whole) == 0);
            CHECK(!forced && blocked == NULL);
            free(got);
        }
        /* Byte by byte. */
        for (size_t k = 0; k < n; k++)
            cuts[k] = k;
        {
            char *got = feed_pieces(&r, text, cuts, n, &forced, &blocked);
            if (strcmp(got, whole) != 0)
                fprintf(stderr, "  text %zu byte by byte:\n  whole: %s\n  split: %s\n", t, whole,
                        got);
            CHECK(strcmp(got, whole) == 0);
            free(got);
        }
        free(cuts);
        free(whole);
    }
}

static void test_stream_block_and_hold(void)
{
    pii_rules_t r = rules_for(PII_ALL, 1u << PII_CREDIT_CARD);
    pii_carry_t c = {0};
    pii_buf_t out = {NULL, 0, 0};
    pii_entity_t e = PII_NENTITIES;
    const char *blocked;
    bool forced;
    static char big[PII_MAX_CARRY + 4096];
    size_t cut = sizeof(big) - 100;
    char *got;

    /* The card is split; it blocks when it is complete, and nothing of it was released. */
    CHECK(pii_carry_feed(&r, &libc_mem, &c, "pay with 4111 1111 ", 19, false, &out, &e) ==
          PII_CLEAN);
    CHECK(strstr(out.ptr, "4111") == NULL);
    CHECK(pii_carry_feed(&r, &libc_mem, &c, "1111 1111 thanks", 16, false, &out, &e) ==
          PII_BLOCKED);
    CHECK(e == PII_CREDIT_CARD);
    pii_carry_free(&libc_mem, &c);

    /* Ordinary words flow with a bounded delay. */
    r = rules_for(PII_ALL, 0);
    memset(big, 'a', 200);
    big[200] = '\0';
    for (size_t k = 0; k < 200; k += 10)
        big[k] = ' ';
    CHECK(pii_carry_feed(&r, &libc_mem, &c, big, 200, false, &out, &e) == PII_CLEAN);
    CHECK(out.len >= 200 - PII_HOLD - 10 && out.len <= 200 - PII_HOLD);
    pii_carry_free(&libc_mem, &c);

    /* A run without spaces longer than PII_MAX_CARRY is released in part, and says so. */
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    got = feed_pieces(&r, big, &cut, 1, &forced, &blocked);
    CHECK(forced);
    CHECK(strcmp(got, big) == 0);
    free(got);
    pii_buf_free(&libc_mem, &out);
}

/* ---- the plugin through a host ---- */

extern const gantry_plugin_desc_t *gantry_plugin_describe(void);

static const char *body_json(gantry_req_t *req)
{
    static char buf[8192];
    char *s = cJSON_PrintUnformatted(th_req_body(req));
    snprintf(buf, sizeof(buf), "%s", s);
    free(s);
    return buf;
}

static void test_plugin_config(void)
{
    const gantry_plugin_desc_t *d = gantry_plugin_describe();
    th_inst_t in;

    CHECK(d->kind == GANTRY_KIND_GUARDRAIL && strcmp(d->name, "pii") == 0);
    CHECK(th_inst_open(&in, d, "pii", "{\"entities\": {\"emial\": \"mask\"}}") == GANTRY_ECONFIG);
    CHECK(strstr(th_conf_error(), "unknown entity 'emial'") != NULL);
    CHECK(th_inst_open(&in, d, "pii", "{\"entities\": {\"email\": \"hide\"}}") == GANTRY_ECONFIG);
    CHECK(strstr(th_conf_error(), "mask, block or off") != NULL);
    CHECK(th_inst_open(&in, d, "pii", "{\"entities\": [\"email\"]}") == GANTRY_ECONFIG);
    CHECK(th_inst_open(&in, d, "pii", "{\"mask_format\": 3}") == GANTRY_ECONFIG);
    CHECK(th_inst_open(&in, d, "pii", "{\"check_request\": \"yes\"}") == GANTRY_ECONFIG);
    CHECK(th_inst_open(&in, d, "pii", "{\"entities\": {\"EMAIL_ADDRESS\": \"BLOCK\"}}") ==
          GANTRY_OK);
    th_inst_close(&in);
    CHECK(th_inst_open(&in, d, "pii", "{\"pii_entities_config\": {\"CREDIT_CARD\": \"BLOCK\"}}") ==
          GANTRY_OK);
    CHECK(((const pii_instance_t *)in.state)->rules.block == (1u << PII_CREDIT_CARD));
    th_inst_close(&in);
    CHECK(th_inst_open(&in, d, "pii",
                       "{\"entities\": {}, \"pii_entities_config\": {\"email\": \"mask\"}}") ==
          GANTRY_ECONFIG);
}

static void test_plugin_request(void)
{
    const gantry_plugin_desc_t *d = gantry_plugin_describe();
    th_inst_t in;
    gantry_req_t *req;

    CHECK(th_inst_open(&in, d, "my-pii", "{}") == GANTRY_OK);
    req = th_req_new(
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"admin is root@example.com\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"card 4111111111111111\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/a@b.com\"}}]},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"to\\\":\\\"bob@ex.org\\\"}"
        "\"}}]},"
        "{\"role\":\"user\",\"content\":\"nothing here\"}]}",
        false);
    CHECK(d->ops->check_request(req, in.state, NULL) == GANTRY_CONTINUE);
    CHECK(strstr(body_json(req), "admin is [EMAIL]") != NULL);
    CHECK(strstr(body_json(req), "card [CREDIT_CARD]") != NULL);
    CHECK(strstr(body_json(req), "https://x/a@b.com") != NULL); /* images are not text */
    CHECK(strstr(body_json(req), "{\\\"to\\\":\\\"[EMAIL]\\\"}") != NULL);
    CHECK(strstr(body_json(req), "nothing here") != NULL);
    CHECK_STR(th_req_noted(req), "my-pii");
    th_req_free(req);

    /* Nothing found: nothing noted, nothing changed. */
    req = th_req_new("{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}", false);
    CHECK(d->ops->check_request(req, in.state, NULL) == GANTRY_CONTINUE);
    CHECK_STR(th_req_noted(req), "");
    th_req_free(req);

    /* Completions prompts and embeddings inputs. */
    req = th_req_new("{\"prompt\":[\"to a@b.com\",\"x\"],\"input\":\"c@d.org\"}", false);
    CHECK(d->ops->check_request(req, in.state, NULL) == GANTRY_CONTINUE);
    CHECK_STR(body_json(req), "{\"prompt\":[\"to [EMAIL]\",\"x\"],\"input\":\"[EMAIL]\"}");
    th_req_free(req);
    th_inst_close(&in);

    /* Blocking, a custom format, an entity switched off, and the request direction off. */
    CHECK(th_inst_open(&in, d, "pii-block",
                       "{\"entities\": {\"credit_card\": \"block\", \"phone\": \"off\"}, "
                       "\"mask_format\": \"<{entity}>\"}") == GANTRY_OK);
    req = th_req_new("{\"messages\":[{\"role\":\"user\",\"content\":\"a@b.com +14155552671\"}]}",
                     false);
    CHECK(d->ops->check_request(req, in.state, NULL) == GANTRY_CONTINUE);
    CHECK(strstr(body_json(req), "<email> +14155552671") != NULL);
    th_req_free(req);
    req = th_req_new("{\"messages\":[{\"role\":\"user\",\"content\":\"a@b.com\"},"
                     "{\"role\":\"user\",\"content\":\"pay 4111 1111 1111 1111\"}]}",
                     false);
    CHECK(d->ops->check_request(req, in.state, NULL) == GANTRY_FAIL);
    CHECK(th_req_status(req) == 400);
    CHECK(th_req_class(req) == GANTRY_ERR_GUARDRAIL);
    CHECK_STR(th_req_type(req), "guardrail_violation");
    CHECK_STR(th_req_code(req), "pii_detected");
    CHECK_STR(th_req_message(req),
              "guardrail 'pii-block' blocked the request: it contains credit_card");
    CHECK_STR(th_req_noted(req), "pii-block");
    th_req_free(req);
    th_inst_close(&in);

    CHECK(th_inst_open(&in, d, "pii-out", "{\"check_request\": false}") == GANTRY_OK);
    req = th_req_new("{\"messages\":[{\"role\":\"user\",\"content\":\"a@b.com\"}]}", false);
    CHECK(d->ops->check_request(req, in.state, NULL) == GANTRY_CONTINUE);
    CHECK(strstr(body_json(req), "a@b.com") != NULL);
    th_req_free(req);
    th_inst_close(&in);
}

static void test_plugin_response(void)
{
    const gantry_plugin_desc_t *d = gantry_plugin_describe();
    th_inst_t in;
    gantry_req_t *req;
    char *s;

    CHECK(th_inst_open(&in, d, "pii", "{\"entities\": {\"aws_access_key\": \"block\"}}") ==
          GANTRY_OK);
    req = th_req_new("{\"messages\":[]}", false);
    th_req_set_resp(req, "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                         "\"content\":\"mail me at x@example.com\"},\"finish_reason\":\"stop\"}]}");
    CHECK(d->ops->check_response(req, in.state, NULL) == GANTRY_CONTINUE);
    s = cJSON_PrintUnformatted(th_req_resp(req));
    CHECK(strstr(s, "mail me at [EMAIL]") != NULL);
    free(s);
    CHECK_STR(th_req_noted(req), "pii");
    th_req_set_resp(req, "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                         "\"content\":\"use AKIAIOSFODNN7EXAMPLE\"}}]}");
    CHECK(d->ops->check_response(req, in.state, NULL) == GANTRY_FAIL);
    CHECK_STR(th_req_message(req), "guardrail 'pii' blocked the response: it contains "
                                   "aws_access_key");
    th_req_free(req);

    /* A streamed answer is not judged again as a whole. */
    req = th_req_new("{\"messages\":[]}", true);
    th_req_set_resp(req, "{\"choices\":[{\"message\":{\"content\":\"AKIAIOSFODNN7EXAMPLE\"}}]}");
    CHECK(d->ops->check_response(req, in.state, NULL) == GANTRY_CONTINUE);
    th_req_free(req);
    th_inst_close(&in);
}

/* Run a stream of chunks through check_chunk: the text of each choice cut at `cuts`, choices
 * interleaved, the finish chunk with an empty delta.  Returns the texts the client sees, joined
 * with '|' between choices, or "FAIL:<message>". */
static char *run_stream(th_inst_t *in, const char *const *texts, size_t nchoices,
                        const size_t *cuts, size_t ncuts)
{
    const gantry_plugin_desc_t *d = in->desc;
    gantry_req_t *req = th_req_new("{\"messages\":[]}", true);
    pii_buf_t seen[4] = {{0}};
    char *result = NULL;
    size_t at[4] = {0};
    bool failed = false;

    for (size_t k = 0; k <= ncuts + 1 && !failed; k++) {
        for (size_t c = 0; c < nchoices && !failed; c++) {
            cJSON *chunk = cJSON_CreateObject(),
                  *choices = cJSON_AddArrayToObject(chunk, "choices");
            cJSON *choice = cJSON_CreateObject(), *delta = cJSON_AddObjectToObject(choice, "delta");
            cJSON *content;
            size_t n = strlen(texts[c]), to = k < ncuts ? (cuts[k] < n ? cuts[k] : n) : n;

            cJSON_AddNumberToObject(choice, "index", (double)c);
            if (k == 0)
                cJSON_AddStringToObject(delta, "role", "assistant");
            if (k <= ncuts) {
                char *piece = strndup(texts[c] + at[c], to - at[c]);
                cJSON_AddStringToObject(delta, "content", piece);
                free(piece);
                at[c] = to;
                cJSON_AddNullToObject(choice, "finish_reason");
            } else {
                cJSON_AddStringToObject(choice, "finish_reason", "stop");
            }
            cJSON_AddItemToArray(choices, choice);
            if (d->ops->check_chunk(req, in->state, NULL, (gantry_json_t *)chunk) !=
                GANTRY_CONTINUE) {
                failed = true;
            } else {
                content = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0), "delta"),
                    "content");
                if (cJSON_IsString(content))
                    CHECK(pii_buf_put(&libc_mem, &seen[c], content->valuestring,
                                      strlen(content->valuestring)));
            }
            cJSON_Delete(chunk);
        }
    }
    if (failed) {
        size_t n = strlen(th_req_message(req)) + 6;
        result = malloc(n);
        snprintf(result, n, "FAIL:%s", th_req_message(req));
    } else {
        pii_buf_t all = {0};
        for (size_t c = 0; c < nchoices; c++) {
            if (c > 0)
                CHECK(pii_buf_put(&libc_mem, &all, "|", 1));
            CHECK(pii_buf_put(&libc_mem, &all, seen[c].ptr ? seen[c].ptr : "", seen[c].len));
        }
        if (all.ptr == NULL)
            CHECK(pii_buf_put(&libc_mem, &all, "", 0));
        result = all.ptr;
    }
    for (size_t c = 0; c < nchoices; c++)
        pii_buf_free(&libc_mem, &seen[c]);
    th_req_free(req);
    return result;
}

static void test_plugin_stream(void)
{
    const gantry_plugin_desc_t *d = gantry_plugin_describe();
    const char *text = stream_texts[0];
    const char *two[2] = {"first a@example.com end", "second 4111 1111 1111 1111 end"};
    size_t n = strlen(text);
    char want[4096];
    th_inst_t in;
    char *got;
    size_t cuts[3];

    CHECK(th_inst_open(&in, d, "pii", "{}") == GANTRY_OK);
    snprintf(want, sizeof(want), "%s", mask(text));
    for (size_t k = 0; k <= n; k += 3) {
        cuts[0] = k;
        cuts[1] = k + 7;
        cuts[2] = k + 40;
        got = run_stream(&in, &text, 1, cuts, 3);
        CHECK_STR(got, want);
        free(got);
    }
    /* Two interleaved choices keep their own held text. */
    for (size_t k = 0; k < 30; k++) {
        cuts[0] = k;
        got = run_stream(&in, two, 2, cuts, 1);
        CHECK_STR(got, "first [EMAIL] end|second [CREDIT_CARD] end");
        free(got);
    }
    th_inst_close(&in);

    CHECK(th_inst_open(&in, d, "pii", "{\"entities\": {\"credit_card\": \"block\"}}") == GANTRY_OK);
    cuts[0] = 20;
    got = run_stream(&in, two, 2, cuts, 1);
    CHECK_STR(got, "FAIL:guardrail 'pii' blocked the response: it contains credit_card");
    free(got);
    th_inst_close(&in);

    CHECK(th_inst_open(&in, d, "pii", "{\"check_response\": false}") == GANTRY_OK);
    got = run_stream(&in, two, 1, cuts, 1);
    CHECK_STR(got, "first a@example.com end");
    free(got);
    th_inst_close(&in);
}

/* Every allocation failing in turn: each run ends in a clean result or a 500, never a crash or
 * a leak (the ASan build checks the leaks). */
static void test_plugin_nomem(void)
{
    const gantry_plugin_desc_t *d = gantry_plugin_describe();
    th_inst_t in;
    const char *texts[1] = {stream_texts[0]};
    size_t cuts[2] = {50, 120};
    long total;

    CHECK(th_inst_open(&in, d, "pii", "{}") == GANTRY_OK);
    th_fail_after(-1);
    {
        char *s = run_stream(&in, texts, 1, cuts, 2);
        free(s);
    }
    total = th_fail_after(-1);
    for (long k = 0; k < total; k++) {
        gantry_req_t *req = th_req_new("{\"messages\":[{\"role\":\"user\",\"content\":"
                                       "\"a@b.com 4111111111111111\"}]}",
                                       false);
        gantry_action_t a;
        char *s;

        th_fail_after(k);
        a = d->ops->check_request(req, in.state, NULL);
        CHECK(a == GANTRY_CONTINUE || (a == GANTRY_FAIL && th_req_status(req) == 500 &&
                                       th_req_class(req) == GANTRY_ERR_INTERNAL));
        th_req_free(req);
        th_fail_after(k);
        s = run_stream(&in, texts, 1, cuts, 2);
        th_fail_after(-1);
        CHECK(strncmp(s, "FAIL:guardrail 'pii' could not check", 36) == 0 ||
              strcmp(s, mask(texts[0])) == 0);
        free(s);
    }
    th_fail_after(-1);
    th_inst_close(&in);
    for (long k = 0; k < 20; k++) {
        th_fail_after(k);
        if (th_inst_open(&in, d, "pii", "{}") == GANTRY_OK)
            th_inst_close(&in);
    }
    th_fail_after(-1);
}

int main(void)
{
    test_email();
    test_phone();
    test_card();
    test_iban();
    test_aws();
    test_ip();
    test_pem();
    test_tokens();
    test_rules();
    test_stream_splits();
    test_stream_block_and_hold();
    test_plugin_config();
    test_plugin_request();
    test_plugin_response();
    test_plugin_stream();
    test_plugin_nomem();
    return check_report();
}
