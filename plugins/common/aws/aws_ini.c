/*
 * aws_ini: the shared config and credentials files (~/.aws/config, ~/.aws/credentials) as the AWS
 * SDKs read them.  In the config file a profile is "[default]" or "[profile NAME]" and other
 * sections ("[sso-session x]", "[services x]") are not profiles; in the credentials file a section
 * name is the profile name.  "key = value" (or "key: value"), keys case-insensitive; lines starting
 * with '#' or ';' are comments, and so is the rest of a value after whitespace and '#' or ';'
 * (secrets never hold whitespace); indented lines continue a nested setting ("s3 =\n  x = y") and
 * are skipped.  Later values win.  Bad lines are skipped, never fatal.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_internal.h"

typedef struct ini_ent {
    char *profile, *key, *value;
} ini_ent_t;

struct aws_ini {
    ini_ent_t *e;
    size_t n, cap;
    char **profiles; /* every profile section seen, even an empty one */
    size_t nprofiles, profiles_cap;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **s, const char **end)
{
    while (*s < *end && is_space(**s))
        (*s)++;
    while (*end > *s && is_space((*end)[-1]))
        (*end)--;
}

static bool add_profile(aws_ini_t *ini, const char *name, size_t len)
{
    for (size_t i = 0; i < ini->nprofiles; i++)
        if (strlen(ini->profiles[i]) == len && memcmp(ini->profiles[i], name, len) == 0)
            return true;
    if (ini->nprofiles == ini->profiles_cap) {
        size_t cap = ini->profiles_cap ? ini->profiles_cap * 2 : 8;
        char **p = realloc(ini->profiles, cap * sizeof *p);
        if (p == NULL)
            return false;
        ini->profiles = p;
        ini->profiles_cap = cap;
    }
    char *copy = aws_strndup(name, len);
    if (copy == NULL)
        return false;
    ini->profiles[ini->nprofiles++] = copy;
    return true;
}

static bool add_ent(aws_ini_t *ini, const char *profile, const char *k, size_t klen, const char *v,
                    size_t vlen)
{
    if (ini->n == ini->cap) {
        size_t cap = ini->cap ? ini->cap * 2 : 16;
        ini_ent_t *e = realloc(ini->e, cap * sizeof *e);
        if (e == NULL)
            return false;
        ini->e = e;
        ini->cap = cap;
    }
    ini_ent_t *e = &ini->e[ini->n];
    e->profile = strdup(profile);
    e->key = aws_strndup(k, klen);
    e->value = aws_strndup(v, vlen);
    if (e->profile == NULL || e->key == NULL || e->value == NULL) {
        free(e->profile);
        free(e->key);
        aws_free_secret(e->value);
        return false;
    }
    ini->n++;
    return true;
}

/* The profile a section header names, or NULL len when the section is not a profile. */
static const char *section_profile(const char *s, const char *end, bool config_file, size_t *len)
{
    trim(&s, &end);
    if (s == end)
        return NULL;
    if (config_file) {
        if ((size_t)(end - s) == 7 && memcmp(s, "default", 7) == 0) {
            *len = 7;
            return s;
        }
        if ((size_t)(end - s) > 8 && memcmp(s, "profile", 7) == 0 && is_space(s[7])) {
            s += 8;
            trim(&s, &end);
            if (s == end)
                return NULL;
            *len = (size_t)(end - s);
            return s;
        }
        return NULL;
    }
    *len = (size_t)(end - s);
    return s;
}

aws_ini_t *aws_ini_parse(const char *text, size_t len, bool config_file)
{
    aws_ini_t *ini = calloc(1, sizeof *ini);
    if (ini == NULL)
        return NULL;
    char *profile = NULL; /* current profile section, NULL outside one */
    const char *p = text, *end = text + (text != NULL ? len : 0);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *ls = p, *le = nl != NULL ? nl : end;
        p = nl != NULL ? nl + 1 : end;
        bool indented = ls < le && is_space(*ls);
        trim(&ls, &le);
        if (ls == le || *ls == '#' || *ls == ';')
            continue;
        if (*ls == '[') {
            const char *close = memchr(ls, ']', (size_t)(le - ls));
            free(profile);
            profile = NULL;
            if (close == NULL)
                continue;
            size_t nlen = 0;
            const char *name = section_profile(ls + 1, close, config_file, &nlen);
            if (name == NULL || memchr(name, '\0', nlen) != NULL)
                continue;
            profile = aws_strndup(name, nlen);
            if (profile == NULL || !add_profile(ini, name, nlen))
                goto oom;
            continue;
        }
        if (profile == NULL || indented)
            continue;
        const char *eq = ls;
        while (eq < le && *eq != '=' && *eq != ':')
            eq++;
        if (eq == le)
            continue;
        const char *ks = ls, *ke = eq, *vs = eq + 1, *ve = le;
        trim(&ks, &ke);
        for (const char *c = vs; c < ve; c++)
            if ((*c == '#' || *c == ';') && c > vs && is_space(c[-1])) {
                ve = c;
                break;
            }
        trim(&vs, &ve);
        if (ks == ke || memchr(ks, '\0', (size_t)(ke - ks)) != NULL ||
            memchr(vs, '\0', (size_t)(ve - vs)) != NULL)
            continue;
        if (!add_ent(ini, profile, ks, (size_t)(ke - ks), vs, (size_t)(ve - vs)))
            goto oom;
    }
    free(profile);
    return ini;
oom:
    free(profile);
    aws_ini_free(ini);
    return NULL;
}

void aws_ini_free(aws_ini_t *ini)
{
    if (ini == NULL)
        return;
    for (size_t i = 0; i < ini->n; i++) {
        free(ini->e[i].profile);
        free(ini->e[i].key);
        aws_free_secret(ini->e[i].value);
    }
    for (size_t i = 0; i < ini->nprofiles; i++)
        free(ini->profiles[i]);
    free(ini->e);
    free(ini->profiles);
    free(ini);
}

bool aws_ini_has_profile(const aws_ini_t *ini, const char *profile)
{
    if (ini == NULL || profile == NULL)
        return false;
    for (size_t i = 0; i < ini->nprofiles; i++)
        if (strcmp(ini->profiles[i], profile) == 0)
            return true;
    return false;
}

const char *aws_ini_get(const aws_ini_t *ini, const char *profile, const char *key)
{
    if (ini == NULL || profile == NULL || key == NULL)
        return NULL;
    for (size_t i = ini->n; i-- > 0;)
        if (strcmp(ini->e[i].profile, profile) == 0 && strcasecmp(ini->e[i].key, key) == 0)
            return ini->e[i].value;
    return NULL;
}
