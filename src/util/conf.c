/*
 * util/conf.c - see conf.h. Fuzzed by fuzz/fuzz_conf.c.
 */
#include "util/conf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"

void conf_free(conf *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].key);
        free(c->v[i].value);
    }
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

const conf_item *conf_get(const conf *c, const char *key)
{
    for (size_t i = c->n; i-- > 0;) /* the last one wins */
        if (!strcmp(c->v[i].key, key))
            return &c->v[i];
    return NULL;
}

typedef struct {
    const char *p, *end;
    int line;
} cursor;

static void blanks(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static int at_line_end(cursor *c)
{
    blanks(c);
    return c->p == c->end || *c->p == '\n' || *c->p == '#' || *c->p == '\r';
}

static int fail(cursor *c, const char *what) { return error_set(LOCH_EINVALID, "line %d: %s", c->line, what); }

/* A quoted string into out. */
static int string(cursor *c, buf *out, int in_array)
{
    char q = *c->p++;
    while (c->p < c->end && *c->p != q && *c->p != '\n') {
        char ch = *c->p++;
        if (q == '"' && ch == '\\') {
            if (c->p == c->end)
                break;
            char e = *c->p++;
            ch = e == 'n' ? '\n' : e == 't' ? '\t' : e == '"' ? '"' : e == '\\' ? '\\' : 0;
            if (!ch)
                return fail(c, "an unknown escape in a string");
            if (ch == '\n' && in_array) /* items are kept joined by line ends */
                return fail(c, "array items cannot hold line ends");
        }
        if (buf_putc(out, ch))
            return LOCH_ENOMEM;
    }
    if (c->p == c->end || *c->p != q)
        return fail(c, "a string without its closing quote");
    c->p++;
    return 0;
}

/* A bare value: an integer, true or false. */
static int bare(cursor *c, buf *out)
{
    const char *s = c->p;
    while (c->p < c->end && (isalnum((unsigned char)*c->p) || *c->p == '_' || *c->p == '-' || *c->p == '+'))
        c->p++;
    size_t n = (size_t)(c->p - s);
    if (n == 0)
        return fail(c, "a value is missing");
    int ok = (n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5));
    if (!ok && n == 1 && (s[0] == '-' || s[0] == '+'))
        return fail(c, "a sign without its number");
    for (size_t i = (s[0] == '-' || s[0] == '+'); !ok && i < n; i++)
        if (!isdigit((unsigned char)s[i]) && s[i] != '_')
            return fail(c, "a value must be a quoted string, an integer, true, false or an array");
    return buf_put(out, s, n) ? LOCH_ENOMEM : 0;
}

static int push(conf *out, const char *section, const char *key, size_t klen, buf *value, int is_array, int line)
{
    conf_item *g = realloc(out->v, (out->n + 1) * sizeof(*g));
    if (!g)
        return LOCH_ENOMEM;
    out->v = g;
    buf k = BUF_INIT;
    if ((section[0] ? buf_printf(&k, "%s.", section) : 0) || buf_put(&k, key, klen)) {
        buf_free(&k);
        return LOCH_ENOMEM;
    }
    g[out->n] = (conf_item){.key = buf_detach(&k), .value = buf_detach(value), .is_array = is_array, .line = line};
    if (!g[out->n].value && !(g[out->n].value = strdup("")))
        return LOCH_ENOMEM;
    out->n++;
    return 0;
}

int conf_parse(conf *out, const char *text, size_t len)
{
    cursor c = {text, text + len, 1};
    char section[128] = "";
    buf value = BUF_INIT;
    int rc = 0;
    out->v = NULL;
    out->n = 0;
    while (rc == 0 && c.p < c.end) {
        blanks(&c);
        if (c.p < c.end && *c.p == '[') {
            const char *s = ++c.p;
            while (c.p < c.end && (isalnum((unsigned char)*c.p) || *c.p == '_' || *c.p == '-' || *c.p == '.'))
                c.p++;
            if (c.p == c.end || *c.p != ']' || c.p == s || (size_t)(c.p - s) >= sizeof(section)) {
                rc = fail(&c, "a section header is [name]");
                break;
            }
            memcpy(section, s, (size_t)(c.p - s));
            section[c.p - s] = '\0';
            c.p++;
        } else if (c.p < c.end && (isalpha((unsigned char)*c.p) || *c.p == '_')) {
            const char *k = c.p;
            while (c.p < c.end && (isalnum((unsigned char)*c.p) || *c.p == '_' || *c.p == '-'))
                c.p++;
            size_t klen = (size_t)(c.p - k);
            blanks(&c);
            if (c.p == c.end || *c.p != '=') {
                rc = fail(&c, "expected key = value");
                break;
            }
            c.p++;
            blanks(&c);
            int is_array = 0;
            buf_clear(&value);
            if (c.p < c.end && *c.p == '[') {
                is_array = 1;
                c.p++;
                for (int first = 1;; first = 0) {
                    blanks(&c);
                    if (c.p < c.end && *c.p == ']') {
                        c.p++;
                        break;
                    }
                    if (!first) {
                        if (c.p == c.end || *c.p != ',') {
                            rc = fail(&c, "array items are separated by commas");
                            break;
                        }
                        c.p++;
                        blanks(&c);
                        if (c.p < c.end && *c.p == ']') { /* a trailing comma */
                            c.p++;
                            break;
                        }
                        if (buf_putc(&value, '\n')) {
                            rc = LOCH_ENOMEM;
                            break;
                        }
                    }
                    if (c.p == c.end || (*c.p != '"' && *c.p != '\'')) {
                        rc = fail(&c, "arrays hold quoted strings, on one line");
                        break;
                    }
                    if ((rc = string(&c, &value, 1)) < 0)
                        break;
                }
            } else if (c.p < c.end && (*c.p == '"' || *c.p == '\'')) {
                rc = string(&c, &value, 0);
            } else {
                rc = bare(&c, &value);
            }
            if (rc == 0 && !at_line_end(&c))
                rc = fail(&c, "text after the value");
            if (rc == 0)
                rc = push(out, section, k, klen, &value, is_array, c.line);
        } else if (!at_line_end(&c)) {
            rc = fail(&c, "expected a key, a [section] or a comment");
            break;
        }
        while (rc == 0 && c.p < c.end && *c.p != '\n') { /* the rest of the line: a comment */
            if (*c.p != '#' && *c.p != '\r' && *c.p != ' ' && *c.p != '\t') {
                rc = fail(&c, "text after the value");
                break;
            }
            if (*c.p == '#')
                while (c.p < c.end && *c.p != '\n')
                    c.p++;
            else
                c.p++;
        }
        if (c.p < c.end) {
            c.p++;
            c.line++;
        }
    }
    buf_free(&value);
    if (rc < 0)
        conf_free(out);
    return rc;
}
