/*
 * policy_tz: UTC offsets of IANA time zones, from TZif files (RFC 8536), for policy time windows.
 *
 * A zone is a sorted table of transition instants, each naming a local time type (an offset), plus
 * for version 2+ files a POSIX TZ string (the footer) that gives the rule for instants after the
 * last transition.  Debian ships "fat" files with transitions until 2037 and the footer beyond;
 * "slim" files stop at the last rule change and rely on the footer for the present day, so the
 * footer is not an afterthought.  All of it is read once at load into an immutable struct that any
 * thread may query.
 *
 * Leap-second records ("right/" zones) are skipped: their correction is under a minute, which does
 * not matter for business-hour windows.
 */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Real TZif files are a few KiB; the limits keep a hostile file from costing much. */
#define TZ_MAX_FILE (1u << 20)
#define TZ_MAX_TRANSITIONS 100000u
#define TZ_MAX_TYPES 256u
#define TZ_MAX_NAME 255u

/* One date rule of a POSIX TZ string. */
typedef struct tz_rule {
    char kind; /* 'J': Julian day 1..365 without Feb 29; 'D': zero-based day 0..365; 'M' */
    int day;   /* 'J' / 'D' */
    int mon, week, wday; /* 'M': month 1..12, week 1..5 (5 = last), weekday 0..6 (0 = Sunday) */
    int32_t time; /* seconds after local midnight (may be negative or past 24h, RFC 8536 3.3.1) */
} tz_rule_t;

typedef struct tz_posix {
    int32_t std_off, dst_off; /* seconds east of UTC (POSIX writes them west-positive) */
    bool has_dst;
    tz_rule_t start, end;
} tz_posix_t;

struct pol_tz {
    char *name;
    size_t n;       /* transitions */
    int64_t *at;    /* transition instants, strictly ascending */
    uint8_t *type;  /* local time type that starts at at[i] */
    int32_t *utoff; /* offset of each type */
    size_t ntypes;
    bool has_footer; /* a non-empty POSIX TZ string governs instants after the last transition */
    tz_posix_t footer;
};

static void tz_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tz_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- Calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ---------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* H. Hinnant's days_from_civil: exact for every year an int64 day count can hold. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t year_of_days(int64_t z)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    return yoe + era * 400 + (m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday_of_days(int64_t days)
{
    return (int)(((days % 7) + 7 + 4) % 7);
}

/* The local (wall clock) instant, in seconds since the epoch, at which `r` fires in year y. */
static int64_t rule_local(int64_t y, const tz_rule_t *r)
{
    int64_t day;
    switch (r->kind) {
    case 'J':
        /* Feb 29 is never counted, so day 60 is always March 1. */
        day = days_from_civil(y, 1, 1) + r->day - 1 + (is_leap(y) && r->day >= 60);
        break;
    case 'D':
        day = days_from_civil(y, 1, 1) + r->day;
        break;
    default: {
        int64_t first = days_from_civil(y, r->mon, 1);
        int dom = 1 + (r->wday - weekday_of_days(first) + 7) % 7 + (r->week - 1) * 7;
        while (dom > month_days(y, r->mon))
            dom -= 7; /* week 5 means "the last such weekday" */
        day = first + dom - 1;
        break;
    }
    }
    return day * 86400 + r->time;
}

static int32_t posix_offset(const tz_posix_t *z, int64_t t)
{
    if (!z->has_dst)
        return z->std_off;
    /* Keep the arithmetic far from int64 overflow; no calendar rule is meaningful out there. */
    const int64_t lim = INT64_C(1) << 50;
    if (t > lim)
        t = lim;
    if (t < -lim)
        t = -lim;
    /* The year as local standard time sees it.  For zones whose summer spans New Year (southern
     * hemisphere) both transitions of that year still bracket the winter, so one year suffices. */
    int64_t y = year_of_days(floor_div(t + z->std_off, 86400));
    /* The start time is written in standard time, the end time in daylight time. */
    int64_t start = rule_local(y, &z->start) - z->std_off;
    int64_t end = rule_local(y, &z->end) - z->dst_off;
    bool dst;
    if (start < end)
        dst = t >= start && t < end;
    else
        dst = !(t >= end && t < start);
    return dst ? z->dst_off : z->std_off;
}

/* ---- POSIX TZ strings ------------------------------------------------------------------------ */

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A zone abbreviation: three or more letters, or <...> with letters, digits, '+' and '-'. */
static const char *parse_abbr(const char *s)
{
    const char *p = s;
    if (*p == '<') {
        p++;
        while (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-')
            p++;
        if (*p != '>' || p - s - 1 < 3)
            return NULL;
        return p + 1;
    }
    while (is_alpha(*p))
        p++;
    return p - s >= 3 ? p : NULL;
}

static const char *parse_num(const char *s, int min, int max, int *out)
{
    if (!is_digit(*s))
        return NULL;
    int v = 0;
    while (is_digit(*s)) {
        v = v * 10 + (*s++ - '0');
        if (v > max)
            return NULL;
    }
    if (v < min)
        return NULL;
    *out = v;
    return s;
}

/* [+|-]hh[:mm[:ss]] with hours up to max_h; the sign is applied. */
static const char *parse_hms(const char *s, int max_h, int32_t *out)
{
    int sign = 1, h, m = 0, sec = 0;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if ((s = parse_num(s, 0, max_h, &h)) == NULL)
        return NULL;
    if (*s == ':') {
        if ((s = parse_num(s + 1, 0, 59, &m)) == NULL)
            return NULL;
        if (*s == ':' && (s = parse_num(s + 1, 0, 59, &sec)) == NULL)
            return NULL;
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return s;
}

static const char *parse_rule(const char *s, tz_rule_t *r)
{
    memset(r, 0, sizeof *r);
    if (*s == 'J') {
        r->kind = 'J';
        s = parse_num(s + 1, 1, 365, &r->day);
    } else if (*s == 'M') {
        r->kind = 'M';
        if ((s = parse_num(s + 1, 1, 12, &r->mon)) == NULL || *s != '.')
            return NULL;
        if ((s = parse_num(s + 1, 1, 5, &r->week)) == NULL || *s != '.')
            return NULL;
        s = parse_num(s + 1, 0, 6, &r->wday);
    } else {
        r->kind = 'D';
        s = parse_num(s, 0, 365, &r->day);
    }
    if (s == NULL)
        return NULL;
    r->time = 2 * 3600; /* POSIX default: 02:00 */
    if (*s == '/')
        s = parse_hms(s + 1, 167, &r->time); /* RFC 8536 allows -167..167 hours */
    return s;
}

static bool parse_posix(const char *s, tz_posix_t *z)
{
    memset(z, 0, sizeof *z);
    int32_t off;
    if ((s = parse_abbr(s)) == NULL || (s = parse_hms(s, 24, &off)) == NULL)
        return false;
    z->std_off = -off; /* "EST5" is five hours west */
    if (*s == '\0')
        return true;
    if ((s = parse_abbr(s)) == NULL)
        return false;
    z->has_dst = true;
    z->dst_off = z->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if ((s = parse_hms(s, 24, &off)) == NULL)
            return false;
        z->dst_off = -off;
    }
    if (*s == '\0') {
        /* No rule given: POSIX leaves it to the implementation; glibc and tzcode use the US one. */
        return parse_rule("M3.2.0", &z->start) != NULL && parse_rule("M11.1.0", &z->end) != NULL;
    }
    if (*s != ',' || (s = parse_rule(s + 1, &z->start)) == NULL)
        return false;
    if (*s != ',' || (s = parse_rule(s + 1, &z->end)) == NULL)
        return false;
    return *s == '\0';
}

/* ---- TZif ------------------------------------------------------------------------------------ */

typedef struct tzif_header {
    char version; /* 0, '2', '3', '4', ... */
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_header_t;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static bool read_header(const uint8_t *p, size_t len, tzif_header_t *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    return true;
}

/* Bytes of the data block after a header; time_size is 4 (v1 block) or 8 (v2+ block). */
static size_t block_size(const tzif_header_t *h, size_t time_size)
{
    return (size_t)h->timecnt * time_size + h->timecnt + (size_t)h->typecnt * 6 + h->charcnt +
           (size_t)h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt;
}

static bool header_bounded(const tzif_header_t *h, char *err, size_t errlen)
{
    if (h->typecnt > TZ_MAX_TYPES || h->timecnt > TZ_MAX_TRANSITIONS || h->charcnt > 65536 ||
        h->leapcnt > 10000 || h->isstdcnt > TZ_MAX_TYPES || h->isutcnt > TZ_MAX_TYPES) {
        tz_err(err, errlen, "bad TZif header counts");
        return false;
    }
    return true;
}

/* RFC 8536 3.1: a block that is used has at least one type and one abbreviation byte. */
static bool header_sane(const tzif_header_t *h, char *err, size_t errlen)
{
    if (!header_bounded(h, err, errlen))
        return false;
    if (h->typecnt == 0 || h->charcnt == 0 || (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) ||
        (h->isutcnt != 0 && h->isutcnt != h->typecnt)) {
        tz_err(err, errlen, "bad TZif header counts");
        return false;
    }
    return true;
}

static bool read_block(pol_tz_t *tz, const tzif_header_t *h, const uint8_t *p, size_t time_size,
                       char *err, size_t errlen)
{
    tz->n = h->timecnt;
    tz->ntypes = h->typecnt;
    tz->at = malloc((h->timecnt ? h->timecnt : 1) * sizeof *tz->at);
    tz->type = malloc(h->timecnt ? h->timecnt : 1);
    tz->utoff = malloc(h->typecnt * sizeof *tz->utoff);
    if (tz->at == NULL || tz->type == NULL || tz->utoff == NULL) {
        tz_err(err, errlen, "out of memory");
        return false;
    }
    for (uint32_t i = 0; i < h->timecnt; i++, p += time_size) {
        tz->at[i] = time_size == 8 ? (int64_t)be64(p) : (int64_t)(int32_t)be32(p);
        if (i > 0 && tz->at[i] <= tz->at[i - 1]) {
            tz_err(err, errlen, "TZif transitions are not in ascending order");
            return false;
        }
    }
    for (uint32_t i = 0; i < h->timecnt; i++) {
        tz->type[i] = p[i];
        if (p[i] >= h->typecnt) {
            tz_err(err, errlen, "TZif transition names a missing type");
            return false;
        }
    }
    p += h->timecnt;
    for (uint32_t i = 0; i < h->typecnt; i++, p += 6) {
        int32_t off = (int32_t)be32(p);
        /* RFC 8536: utoff must not be -2^31, and real zones stay within about a day. */
        if (off < -25 * 3600 || off > 26 * 3600 || p[4] > 1 || p[5] >= h->charcnt) {
            tz_err(err, errlen, "bad TZif local time type");
            return false;
        }
        tz->utoff[i] = off;
    }
    /* Abbreviations, leap seconds and the std/ut indicators are not needed for offsets. */
    return true;
}

pol_tz_t *pol_tz_parse(const char *name, const void *data, size_t len, char *err, size_t errlen)
{
    const uint8_t *p = data;
    tzif_header_t h;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (!read_header(p, len, &h)) {
        tz_err(err, errlen, "not a TZif file");
        return NULL;
    }
    /* The counts of a block we only skip (the v1 block of a v2+ file) need just be bounded. */
    if (h.version == 0 ? !header_sane(&h, err, errlen) : !header_bounded(&h, err, errlen))
        return NULL;
    pol_tz_t *tz = calloc(1, sizeof *tz);
    if (tz == NULL || (tz->name = strdup(name != NULL ? name : "")) == NULL) {
        tz_err(err, errlen, "out of memory");
        goto fail;
    }
    size_t v1 = block_size(&h, 4);
    if (len - 44 < v1) {
        tz_err(err, errlen, "truncated TZif file");
        goto fail;
    }
    if (h.version == 0) {
        /* Version 1: 32-bit times, no footer. */
        if (!read_block(tz, &h, p + 44, 4, err, errlen))
            goto fail;
        return tz;
    }
    /* Version 2+: skip the 32-bit block; a second header introduces the 64-bit one. */
    size_t off = 44 + v1;
    if (!read_header(p + off, len - off, &h) || h.version == 0) {
        tz_err(err, errlen, "TZif version 2+ file without its second header");
        goto fail;
    }
    if (!header_sane(&h, err, errlen))
        goto fail;
    off += 44;
    size_t v2 = block_size(&h, 8);
    if (len - off < v2) {
        tz_err(err, errlen, "truncated TZif file");
        goto fail;
    }
    if (!read_block(tz, &h, p + off, 8, err, errlen))
        goto fail;
    off += v2;
    /* The footer: "\n" TZ-string "\n".  An empty string means "no rule after the table". */
    if (off >= len || p[off] != '\n') {
        tz_err(err, errlen, "TZif footer missing");
        goto fail;
    }
    const uint8_t *s = p + off + 1;
    const uint8_t *nl = memchr(s, '\n', len - off - 1);
    if (nl == NULL || nl - s > 255) {
        tz_err(err, errlen, "TZif footer is not terminated");
        goto fail;
    }
    if (nl > s) {
        char buf[256];
        memcpy(buf, s, (size_t)(nl - s));
        buf[nl - s] = '\0';
        if (!parse_posix(buf, &tz->footer)) {
            tz_err(err, errlen, "TZif footer \"%s\" is not a POSIX TZ string this reader knows",
                   buf);
            goto fail;
        }
        tz->has_footer = true;
    }
    return tz;

fail:
    pol_tz_free(tz);
    return NULL;
}

pol_tz_t *pol_tz_from_posix(const char *spec, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    tz_posix_t z;
    if (spec == NULL || !parse_posix(spec, &z)) {
        tz_err(err, errlen, "\"%s\" is not a POSIX TZ string", spec != NULL ? spec : "");
        return NULL;
    }
    pol_tz_t *tz = calloc(1, sizeof *tz);
    if (tz != NULL) {
        tz->name = strdup(spec);
        tz->utoff = malloc(sizeof *tz->utoff);
    }
    if (tz == NULL || tz->name == NULL || tz->utoff == NULL) {
        pol_tz_free(tz);
        tz_err(err, errlen, "out of memory");
        return NULL;
    }
    tz->ntypes = 1;
    tz->utoff[0] = z.std_off;
    tz->footer = z;
    tz->has_footer = true;
    return tz;
}

/* A zone name is a relative path of ordinary components, so it cannot leave the zoneinfo tree. */
static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_MAX_NAME || name[0] == '/' || name[n - 1] == '/')
        return false;
    const char *comp = name;
    for (const char *c = name;; c++) {
        if (*c == '/' || *c == '\0') {
            size_t cl = (size_t)(c - comp);
            if (cl == 0 || (cl <= 2 && strncmp(comp, "..", cl) == 0))
                return false; /* empty, "." or ".." */
            if (*c == '\0')
                return true;
            comp = c + 1;
        } else if (!is_alpha(*c) && !is_digit(*c) && *c != '_' && *c != '-' && *c != '+' &&
                   *c != '.') {
            return false;
        }
    }
}

pol_tz_t *pol_tz_load(const char *name, const char *dir, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (name == NULL || !name_ok(name)) {
        tz_err(err, errlen, "'%s' is not a time zone name", name != NULL ? name : "");
        return NULL;
    }
    if (dir == NULL) {
        /* Read once at load; glibc honours the same variable, so both agree on the data. */
        dir = getenv("TZDIR");
        if (dir == NULL || dir[0] == '\0')
            dir = "/usr/share/zoneinfo";
    }
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        tz_err(err, errlen, "time zone path too long");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        /* UTC needs no data; accept it even where tzdata is not installed. */
        if (e == ENOENT && (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0))
            return pol_tz_from_posix("UTC0", err, errlen);
        tz_err(err, errlen, "unknown time zone '%s' (%s: %s)", name, path, strerror(e));
        return NULL;
    }
    struct stat st;
    uint8_t *buf = NULL;
    pol_tz_t *tz = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)TZ_MAX_FILE) {
        tz_err(err, errlen, "unknown time zone '%s' (%s is not a zone file)", name, path);
        goto out;
    }
    size_t size = (size_t)st.st_size, got = 0;
    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        tz_err(err, errlen, "out of memory");
        goto out;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    char perr[200];
    tz = pol_tz_parse(name, buf, got, perr, sizeof perr);
    if (tz == NULL)
        tz_err(err, errlen, "time zone '%s': %s: %s", name, path, perr);
out:
    free(buf);
    close(fd);
    return tz;
}

void pol_tz_free(pol_tz_t *tz)
{
    if (tz == NULL)
        return;
    free(tz->name);
    free(tz->at);
    free(tz->type);
    free(tz->utoff);
    free(tz);
}

const char *pol_tz_name(const pol_tz_t *tz)
{
    return tz->name;
}

int32_t pol_tz_offset(const pol_tz_t *tz, int64_t t)
{
    /* RFC 8536 3.2: without transitions the footer (if any) rules all time; before the first
     * transition type 0 applies; after the last one the footer does. */
    if (tz->n == 0 || t >= tz->at[tz->n - 1]) {
        if (tz->has_footer)
            return posix_offset(&tz->footer, t);
        return tz->n == 0 ? tz->utoff[0] : tz->utoff[tz->type[tz->n - 1]];
    }
    if (t < tz->at[0])
        return tz->utoff[0];
    /* The last transition at or before t: at[lo] <= t < at[hi]. */
    size_t lo = 0, hi = tz->n - 1;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->utoff[tz->type[lo]];
}
