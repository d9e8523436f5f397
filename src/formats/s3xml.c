/*
 * formats/s3xml.c - see s3xml.h. One pass over the document: a stack of open element
 * names (local names, namespace prefixes dropped), the text of the leaf elements loch
 * reads, and an entry begun at each <Contents> or <CommonPrefixes>.
 */
#include "formats/s3xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/misc.h"

enum { DEPTH = 16, NAME = 64 };

typedef struct {
    const char *x;
    size_t len, pos;
    char stack[DEPTH][NAME];
    int depth;
} scanner;

static int corrupt(const scanner *s, const char *what)
{
    return error_set(LOCH_ECORRUPT, "the store's XML answer is not readable: %s at byte %zu", what, s->pos);
}

static size_t find(const scanner *s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = s->pos; i + n <= s->len; i++)
        if (!memcmp(s->x + i, needle, n))
            return i;
    return (size_t)-1;
}

/* Appends a code point as UTF-8; 0 for one that is no character (NUL, surrogates, past
 * U+10FFFF). */
static int put_code_point(buf *out, unsigned long c)
{
    char u[4];
    size_t n;
    if (c == 0 || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
        return 0;
    if (c < 0x80)
        u[0] = (char)c, n = 1;
    else if (c < 0x800)
        u[0] = (char)(0xc0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3f)), n = 2;
    else if (c < 0x10000)
        u[0] = (char)(0xe0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 0x3f)), u[2] = (char)(0x80 | (c & 0x3f)), n = 3;
    else
        u[0] = (char)(0xf0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 0x3f)), u[2] = (char)(0x80 | ((c >> 6) & 0x3f)),
        u[3] = (char)(0x80 | (c & 0x3f)), n = 4;
    return buf_put(out, u, n) < 0 ? -1 : 1;
}

/* Decodes text (x[from..to)) into out: the five entities and &#N; / &#xN;. */
static int decode(scanner *s, size_t from, size_t to, buf *out)
{
    static const struct { const char *name; char c; } ents[] = {
        {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    buf_clear(out);
    for (size_t i = from; i < to;) {
        const char *p = s->x + i;
        if (*p != '&') {
            size_t run = 1;
            while (i + run < to && p[run] != '&')
                run++;
            if (buf_put(out, p, run) < 0)
                return error_set(LOCH_ENOMEM, "out of memory");
            i += run;
            continue;
        }
        size_t k = 0;
        for (; k < sizeof(ents) / sizeof(ents[0]); k++)
            if (to - i - 1 >= strlen(ents[k].name) && !memcmp(p + 1, ents[k].name, strlen(ents[k].name)))
                break;
        if (k < sizeof(ents) / sizeof(ents[0])) {
            if (buf_putc(out, ents[k].c) < 0)
                return error_set(LOCH_ENOMEM, "out of memory");
            i += 1 + strlen(ents[k].name);
            continue;
        }
        if (i + 2 >= to || p[1] != '#') {
            s->pos = i;
            return corrupt(s, "an unknown entity");
        }
        int hex = p[2] == 'x' || p[2] == 'X';
        size_t j = i + 2 + (size_t)hex, digits = 0;
        unsigned long c = 0;
        for (; j < to && digits < 8; j++, digits++) {
            char d = s->x[j];
            int v = d >= '0' && d <= '9' ? d - '0' : hex && d >= 'a' && d <= 'f' ? d - 'a' + 10
                                                     : hex && d >= 'A' && d <= 'F' ? d - 'A' + 10 : -1;
            if (v < 0)
                break;
            c = c * (hex ? 16 : 10) + (unsigned long)v;
        }
        int put = digits && j < to && s->x[j] == ';' ? put_code_point(out, c) : 0;
        if (put < 0)
            return error_set(LOCH_ENOMEM, "out of memory");
        if (!put) {
            s->pos = i;
            return corrupt(s, "a character reference to no character");
        }
        i = j + 1;
    }
    if (buf_puts(out, "") < 0) /* data is a string even when empty */
        return error_set(LOCH_ENOMEM, "out of memory");
    return 0;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ':' || (unsigned char)c >= 0x80;
}

/* The element a token opens or closes: *kind 1 start, 2 end, 3 empty (<a/>), 0 skipped
 * (a declaration or comment); name gets its local name. s->pos moves past the '>'. */
static int tag(scanner *s, int *kind, char name[NAME])
{
    const char *x = s->x;
    size_t p = s->pos + 1;
    *kind = 0;
    if (p < s->len && x[p] == '?') {
        size_t e = find(s, "?>");
        if (e == (size_t)-1)
            return corrupt(s, "an unterminated declaration");
        s->pos = e + 2;
        return 0;
    }
    if (p + 2 < s->len && !memcmp(x + p, "!--", 3)) {
        size_t e = find(s, "-->");
        if (e == (size_t)-1)
            return corrupt(s, "an unterminated comment");
        s->pos = e + 3;
        return 0;
    }
    if (p < s->len && x[p] == '!')
        return corrupt(s, "a DTD or CDATA section");
    int end = p < s->len && x[p] == '/';
    p += (size_t)end;
    size_t from = p;
    while (p < s->len && is_name_char(x[p]))
        p++;
    if (p == from)
        return corrupt(s, "a tag without a name");
    const char *colon = memchr(x + from, ':', p - from);
    size_t start = colon ? (size_t)(colon - x) + 1 : from, n = p - start;
    if (n >= NAME)
        return corrupt(s, "an element name too long");
    memcpy(name, x + start, n);
    name[n] = '\0';
    char quote = 0; /* attributes: skipped, quotes respected */
    for (; p < s->len; p++) {
        if (quote) {
            if (x[p] == quote)
                quote = 0;
        } else if (x[p] == '"' || x[p] == '\'') {
            quote = x[p];
        } else if (x[p] == '>') {
            break;
        }
    }
    if (p >= s->len)
        return corrupt(s, "an unterminated tag");
    *kind = end ? 2 : x[p - 1] == '/' ? 3 : 1;
    s->pos = p + 1;
    return 0;
}

static int in(const scanner *s, const char *name) /* an open element, at any depth */
{
    for (int i = 0; i < s->depth; i++)
        if (!strcmp(s->stack[i], name))
            return 1;
    return 0;
}

/* Walks the document; for each leaf text, calls on_text(ctx, element, text) with the
 * stack as it is; on_open(ctx, element) for each start tag. */
typedef struct {
    int (*on_open)(void *ctx, scanner *s, const char *name);
    int (*on_text)(void *ctx, scanner *s, const char *name, const char *text);
    void *ctx;
} walker;

static int walk(scanner *s, const walker *w)
{
    buf text = BUF_INIT;
    size_t text_from = 0;
    int rc = 0, leaf = 0;
    while (rc == 0 && s->pos < s->len) {
        if (s->x[s->pos] != '<') {
            const char *lt = memchr(s->x + s->pos, '<', s->len - s->pos);
            s->pos = lt ? (size_t)(lt - s->x) : s->len;
            continue;
        }
        size_t at = s->pos;
        int kind;
        char name[NAME];
        if ((rc = tag(s, &kind, name)) < 0 || kind == 0)
            continue;
        if (kind == 1) {
            if (s->depth == DEPTH) {
                rc = corrupt(s, "elements nested too deeply");
                break;
            }
            memcpy(s->stack[s->depth++], name, NAME);
            text_from = s->pos;
            leaf = 1;
            rc = w->on_open ? w->on_open(w->ctx, s, name) : 0;
        } else if (kind == 2) {
            if (!s->depth || strcmp(s->stack[s->depth - 1], name) != 0) {
                s->pos = at;
                rc = corrupt(s, "a closing tag that closes nothing open");
                break;
            }
            if (leaf && (rc = decode(s, text_from, at, &text)) == 0 && w->on_text)
                rc = w->on_text(w->ctx, s, name, text.data);
            s->depth--;
            leaf = 0;
        } else {
            leaf = 0;
            rc = w->on_open ? w->on_open(w->ctx, s, name) : 0;
        }
    }
    if (rc == 0 && s->depth)
        rc = corrupt(s, "the document ends inside an element");
    buf_free(&text);
    return rc;
}

static int list_open(void *ctx, scanner *s, const char *name)
{
    s3xml_list *l = ctx;
    (void)s;
    if (strcmp(name, "Contents") && strcmp(name, "CommonPrefixes"))
        return 0;
    if ((l->count & (l->count - 1)) == 0) { /* 0, 1, 2, 4, ...: grow at each power of two */
        s3xml_entry *g = realloc(l->entries, (l->count ? 2 * l->count : 1) * sizeof(*g));
        if (!g)
            return error_set(LOCH_ENOMEM, "out of memory");
        l->entries = g;
    }
    l->entries[l->count++] = (s3xml_entry){.size = -1, .mtime_ms = -1, .is_prefix = !strcmp(name, "CommonPrefixes")};
    return 0;
}

static int set_text(char **field, const char *text)
{
    free(*field);
    return (*field = strdup(text)) ? 0 : error_set(LOCH_ENOMEM, "out of memory");
}

static int list_text(void *ctx, scanner *s, const char *name, const char *text)
{
    s3xml_list *l = ctx;
    int entry = l->count && (in(s, "Contents") || in(s, "CommonPrefixes"));
    s3xml_entry *e = entry ? &l->entries[l->count - 1] : NULL;
    if (e && ((!strcmp(name, "Key") && !e->is_prefix) || (!strcmp(name, "Prefix") && e->is_prefix)))
        return set_text(&e->key, text);
    if (e && !strcmp(name, "Size")) {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!*text || *end || errno || v < 0)
            return corrupt(s, "a Size that is not a size");
        e->size = v;
    } else if (e && !strcmp(name, "LastModified")) {
        int64_t ms;
        e->mtime_ms = iso8601_parse_ms(text, &ms) == 0 ? ms : -1;
        error_clear();
    } else if (e && !strcmp(name, "ETag")) {
        size_t n = strlen(text);
        if (n >= 2 && text[0] == '"' && text[n - 1] == '"')
            text++, n -= 2;
        if (n >= sizeof(e->etag))
            return corrupt(s, "an ETag too long");
        memcpy(e->etag, text, n);
        e->etag[n] = '\0';
    } else if (!e && !strcmp(name, "IsTruncated")) {
        l->truncated = !strcmp(text, "true");
    } else if (!e && !strcmp(name, "NextContinuationToken")) {
        return set_text(&l->next_token, text);
    }
    return 0;
}

int s3xml_parse_list(const char *xml, size_t len, s3xml_list *out)
{
    scanner s = {.x = xml, .len = len};
    memset(out, 0, sizeof(*out));
    walker w = {list_open, list_text, out};
    int rc = walk(&s, &w);
    for (size_t i = 0; rc == 0 && i < out->count; i++)
        if (!out->entries[i].key || (!out->entries[i].is_prefix && out->entries[i].size < 0))
            rc = error_set(LOCH_ECORRUPT, "the store's XML answer is not readable: entry %zu has no %s", i + 1,
                           out->entries[i].key ? "Size" : "Key");
    if (rc == 0 && out->truncated && (!out->next_token || !*out->next_token))
        rc = error_set(LOCH_ECORRUPT, "the store's XML answer is not readable: a truncated list without a "
                                      "continuation token");
    if (rc < 0)
        s3xml_list_free(out);
    return rc;
}

void s3xml_list_free(s3xml_list *l)
{
    for (size_t i = 0; l->entries && i < l->count; i++)
        free(l->entries[i].key);
    free(l->entries);
    free(l->next_token);
    memset(l, 0, sizeof(*l));
}

typedef struct {
    char *code, *message;
    size_t code_cap, message_cap;
    int is_error;
} error_doc;

static int error_open(void *ctx, scanner *s, const char *name)
{
    error_doc *d = ctx;
    d->is_error |= s->depth == 1 && !strcmp(name, "Error");
    return 0;
}

/* text into to[cap], cut to fit and NUL-terminated (cap > 0). */
static void copy_cut(char *to, size_t cap, const char *text)
{
    size_t n = strlen(text) < cap - 1 ? strlen(text) : cap - 1;
    memcpy(to, text, n);
    to[n] = '\0';
}

static int error_text(void *ctx, scanner *s, const char *name, const char *text)
{
    error_doc *d = ctx;
    if (!in(s, "Error"))
        return 0;
    char *to = !strcmp(name, "Code") ? d->code : !strcmp(name, "Message") ? d->message : NULL;
    size_t cap = to == d->code ? d->code_cap : d->message_cap;
    if (to && cap)
        copy_cut(to, cap, text);
    return 0;
}

int s3xml_parse_error(const char *xml, size_t len, char *code, size_t code_cap, char *message, size_t message_cap)
{
    scanner s = {.x = xml, .len = len};
    error_doc d = {code, message, code_cap, message_cap, 0};
    if (code_cap)
        code[0] = '\0';
    if (message_cap)
        message[0] = '\0';
    walker w = {error_open, error_text, &d};
    int ok = walk(&s, &w) == 0 && d.is_error;
    error_clear();
    if (!ok) {
        if (code_cap)
            code[0] = '\0';
        if (message_cap)
            message[0] = '\0';
    }
    return ok;
}

typedef struct {
    const char *element;
    char *out;
    size_t cap;
    int found;
} text_doc;

static int text_of(void *ctx, scanner *s, const char *name, const char *text)
{
    text_doc *d = ctx;
    (void)s;
    if (!d->found && !strcmp(name, d->element) && d->cap) {
        copy_cut(d->out, d->cap, text);
        d->found = 1;
    }
    return 0;
}

int s3xml_text(const char *xml, size_t len, const char *element, char *out, size_t cap)
{
    scanner s = {.x = xml, .len = len};
    text_doc d = {element, out, cap, 0};
    if (cap)
        out[0] = '\0';
    walker w = {NULL, text_of, &d};
    int ok = walk(&s, &w) == 0 && d.found;
    error_clear();
    if (!ok && cap)
        out[0] = '\0';
    return ok;
}

typedef struct {
    const char *key;
    char (*ids)[256];
    size_t cap, n;
    char cur_key[1100], cur_id[256];
    int in_upload;
} uploads_doc;

static void upload_done(uploads_doc *d)
{
    if (d->in_upload && d->cur_id[0] && !strcmp(d->cur_key, d->key) && d->n < d->cap)
        memcpy(d->ids[d->n++], d->cur_id, sizeof(d->cur_id));
    d->cur_key[0] = d->cur_id[0] = '\0';
}

static int uploads_open(void *ctx, scanner *s, const char *name)
{
    uploads_doc *d = ctx;
    (void)s;
    if (!strcmp(name, "Upload")) {
        upload_done(d); /* the one before, if its end was not seen as text */
        d->in_upload = 1;
    }
    return 0;
}

static int uploads_text(void *ctx, scanner *s, const char *name, const char *text)
{
    uploads_doc *d = ctx;
    if (!in(s, "Upload"))
        return 0;
    char *to = !strcmp(name, "Key") ? d->cur_key : !strcmp(name, "UploadId") ? d->cur_id : NULL;
    size_t cap = to == d->cur_key ? sizeof(d->cur_key) : sizeof(d->cur_id);
    if (to)
        copy_cut(to, cap, text);
    return 0;
}

int s3xml_upload_ids(const char *xml, size_t len, const char *key, char (*ids)[256], size_t cap, size_t *n)
{
    scanner s = {.x = xml, .len = len};
    uploads_doc d = {.key = key, .ids = ids, .cap = cap};
    walker w = {uploads_open, uploads_text, &d};
    int rc = walk(&s, &w);
    upload_done(&d);
    *n = rc == 0 ? d.n : 0;
    return rc;
}
