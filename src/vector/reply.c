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
static char *citations_once(const char *text, size_t npass, int *cited)
{
    buf out = BUF_INIT;
    const char *p = text;
    while (*p) {
        if (*p == '[') {
            /* [n] or [n, m, ...] */
            const char *s = p + 1;
            int ok = 1, any = 0;
            long nums[16];
            int nn = 0;
            while (ok) {
                while (*s == ' ')
                    s++;
                if (!isdigit((unsigned char)*s)) {
                    ok = 0;
                    break;
                }
                char *e;
                long v = strtol(s, &e, 10);
                if (nn < 16)
                    nums[nn++] = v;
                any = 1, s = e;
                while (*s == ' ')
                    s++;
                if (*s == ',')
                    s++;
                else
                    break;
            }
            if (ok && any && *s == ']') {
                int first = 1;
                for (int i = 0; i < nn; i++)
                    if (nums[i] >= 1 && (size_t)nums[i] <= npass) {
                        buf_printf(&out, first ? "[%ld" : ", %ld", nums[i]);
                        cited[nums[i] - 1] = 1, first = 0;
                    }
                if (!first)
                    buf_putc(&out, ']');
                p = s + 1;
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
 * fuzzer found it). Each pass that changes the text shortens it, so this ends. */
char *reply_citations(const char *text, size_t npass, int *cited)
{
    char *now = citations_once(text, npass, cited);
    while (now) {
        char *next = citations_once(now, npass, cited);
        if (next && strcmp(next, now) == 0) {
            free(next);
            return now;
        }
        free(now);
        now = next;
    }
    return NULL;
}
