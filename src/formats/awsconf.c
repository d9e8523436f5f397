/*
 * formats/awsconf.c - see awsconf.h. One pass over the lines, as Python's configparser
 * (which botocore uses) reads them: a line indented under a key continues it, and under
 * a key with no value of its own it is a sub-key (s3 = / addressing_style = path).
 */
#include "formats/awsconf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* [from, to) without the blanks at its ends. */
static void trim(const char **from, const char **to)
{
    while (*from < *to && isspace((unsigned char)**from))
        (*from)++;
    while (*to > *from && isspace((unsigned char)(*to)[-1]))
        (*to)--;
}

static int same(const char *a, const char *b, size_t n, int fold) /* b[0..n) is a, whole */
{
    if (strlen(a) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((fold ? tolower((unsigned char)a[i]) : a[i]) != (fold ? tolower((unsigned char)b[i]) : b[i]))
            return 0;
    return 1;
}

/* Whether the header [h, h+n) names section: "profile  x" is "profile x". */
static int section_is(const char *h, size_t n, const char *section)
{
    const char *e = h + n;
    trim(&h, &e);
    if (!strncmp(section, "profile ", 8) && e - h > 8 && !strncmp(h, "profile", 7) && isspace((unsigned char)h[7])) {
        const char *p = h + 7;
        while (p < e && isspace((unsigned char)*p))
            p++;
        return same(section + 8, p, (size_t)(e - p), 0);
    }
    return same(section, h, (size_t)(e - h), 0);
}

int awsconf_ini_get(const char *text, size_t len, const char *name, const char *section, const char *sub,
                    const char *key, char **out)
{
    const char *p = text, *end = text + len;
    int in_section = 0, line_no = 0;
    int under = 0;       /* the current top key is `sub`, with its value on the lines below */
    int have_key = 0;    /* a key is open: indented lines continue it */
    *out = NULL;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *ls = p, *le = nl ? nl : end;
        p = nl ? nl + 1 : end;
        line_no++;
        int indented = ls < le && (*ls == ' ' || *ls == '\t');
        trim(&ls, &le);
        if (ls == le || *ls == '#' || *ls == ';')
            continue;
        if (memchr(ls, '\0', (size_t)(le - ls)))
            return error_set(LOCH_ECORRUPT, "%s, line %d: a NUL byte", name, line_no);
        if (*ls == '[' && !indented) {
            const char *close = memchr(ls, ']', (size_t)(le - ls));
            if (!close || close + 1 != le)
                return error_set(LOCH_ECORRUPT, "%s, line %d: a section header without its ']'", name, line_no);
            in_section = section_is(ls + 1, (size_t)(close - ls - 1), section);
            under = have_key = 0;
            continue;
        }
        const char *eq = ls;
        while (eq < le && *eq != '=' && *eq != ':')
            eq++;
        if (indented && have_key) { /* under the open key */
            if (!under || eq == le)
                continue; /* a continued value: loch reads no such key */
        } else if (eq == le) {
            return error_set(LOCH_ECORRUPT, "%s, line %d: neither a [section] nor key = value", name, line_no);
        }
        const char *ks = ls, *ke = eq, *vs = eq + 1, *ve = le;
        trim(&ks, &ke);
        trim(&vs, &ve);
        if (ks == ke)
            return error_set(LOCH_ECORRUPT, "%s, line %d: a value without a key", name, line_no);
        if (!(indented && have_key)) {
            have_key = 1;
            under = sub && same(sub, ks, (size_t)(ke - ks), 1) && vs == ve;
            if (!in_section || sub || !same(key, ks, (size_t)(ke - ks), 1))
                continue;
        } else if (!in_section || !same(key, ks, (size_t)(ke - ks), 1)) {
            continue;
        }
        free(*out); /* the last one counts, as in configparser's raw reading */
        if (!(*out = strndup(vs, (size_t)(ve - vs))))
            return error_set(LOCH_ENOMEM, "out of memory");
    }
    return 0;
}
