/*
 * vector/reply.c - vector/reply.h: reading what a model wrote, trusting none of it.
 */
#include "vector/reply.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* The query in a reply: the first ```sql (or ```) block, else the whole reply; without
 * its trailing semicolons and blank space. NULL when there is none. */
char *reply_sql(const char *reply)
{
    const char *s = reply, *e = reply + strlen(reply);
    const char *open = strstr(reply, "```");
    if (open) {
        s = open + 3;
        while (isalnum((unsigned char)*s))
            s++; /* the block's language */
        const char *close = strstr(s, "```");
        e = close ? close : e;
    }
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && (isspace((unsigned char)e[-1]) || e[-1] == ';'))
        e--;
    return e > s ? strndup(s, (size_t)(e - s)) : NULL;
}

/* The numbers [n] in the text: those naming a passage are kept and marked cited; any
 * other is taken out. Returns the text as checked (owned). */
/* The bracket at p ('[', fullwidth '［' or lenticular '【'), its length; 0 if none. */
static size_t opening(const char *p)
{
    return *p == '[' ? 1 : !strncmp(p, "\xEF\xBC\xBB", 3) || !strncmp(p, "\xE3\x80\x90", 3) ? 3 : 0;
}

static size_t closing(const char *p)
{
    return *p == ']' ? 1 : !strncmp(p, "\xEF\xBC\xBD", 3) || !strncmp(p, "\xE3\x80\x91", 3) ? 3 : 0;
}

/* What may stand between a citation's brackets besides digits: spaces, commas,
 * semicolons and dashes ("[1, 9,]", "[7-9]", "[3–8]"). Its length at p; 0 if none. */
static size_t filler(const char *p)
{
    if (*p == ' ' || *p == ',' || *p == ';' || *p == '-')
        return 1;
    return !strncmp(p, "\xE2\x80\x93", 3) || !strncmp(p, "\xE2\x80\x94", 3) ? 3 : 0; /* en, em dash */
}

/* A bracket holding digits and filler only (at most 64 bytes): a citation, rewritten as
 * the numbers in it that name a shown passage ("[1, 3]"), or nothing when none does. */
static char *citations_once(const char *text, size_t npass, int *cited)
{
    buf out = BUF_INIT;
    const char *p = text;
    while (*p) {
        size_t open = opening(p);
        if (open) {
            const char *s = p + open;
            long nums[16];
            int nn = 0, digits = 0, bad = 0;
            while (s - p < 64 + (long)open) {
                size_t f;
                if (isdigit((unsigned char)*s)) {
                    const char *e = s;
                    while (isdigit((unsigned char)*e))
                        e++;
                    long v = e - s > 9 ? -1 : strtol(s, NULL, 10);
                    int dup = 0;
                    for (int i = 0; i < nn; i++)
                        dup |= nums[i] == v;
                    if (!dup && nn < 16)
                        nums[nn++] = v;
                    else if (!dup)
                        bad = 1;
                    digits = 1, s = e;
                } else if ((f = filler(s))) {
                    s += f;
                } else {
                    break;
                }
            }
            size_t close = closing(s);
            if (digits && close && !bad) {
                int first = 1;
                for (int i = 0; i < nn; i++)
                    if (nums[i] >= 1 && (size_t)nums[i] <= npass) {
                        buf_printf(&out, first ? "[%ld" : ", %ld", nums[i]);
                        cited[nums[i] - 1] = 1, first = 0;
                    }
                if (!first)
                    buf_putc(&out, ']');
                p = s + close;
                continue;
            }
            if (digits && close) { /* more numbers than a citation holds: none is kept */
                p = s + close;
                continue;
            }
        }
        buf_putc(&out, *p++);
    }
    buf_putc(&out, '\0');
    return buf_detach(&out);
}

/* Again until nothing changes: taking a number out can make a new bracketed list of the
 * text around it ("[1[2]]" with one passage: "[1]"), which must be checked too (the
 * fuzzer found it). A pass that changes the text either takes brackets out or only
 * rewrites citations into their settled form, so this ends. */
char *reply_citations(const char *text, size_t npass, int *cited)
{
    char *now = citations_once(text, npass, cited);
    for (int pass = 0; now && pass < 64; pass++) {
        char *next = citations_once(now, npass, cited);
        if (next && strcmp(next, now) == 0) {
            free(next);
            return now;
        }
        free(now);
        now = next;
    }
    free(now); /* still changing after 64 passes: no answer is better than a wrong one */
    return NULL;
}
