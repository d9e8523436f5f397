/*
 * adapters/storage.c - a lake's URI, parsed, and the backend it names (the one place a
 * scheme is looked at; adapters/storage.h lists the forms).
 *
 * Parsing is strict where a guess could land a lake somewhere the user did not mean: a
 * file URI naming another host is refused (it would otherwise be read as a local path
 * on this machine), so is one whose escapes do not decode, or decode to NUL (which
 * would cut the path short), or that carries a query or fragment. A path is never
 * normalized here: "..", links and the rest are the filesystem's to resolve, once, when
 * the backend opens its root (realpath); paths inside the lake are checked by the
 * backend on every call.
 */
#include "adapters/storage.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/utf8.h"
#include "util/error.h"

static const char local_hint[] = "loch opens lakes on a local filesystem (a path, or file:///path) and in "
                                 "S3-compatible buckets (s3://bucket/prefix)";

/* The length of the URI scheme uri starts with ("file" of "file://..."), or 0. */
static size_t scheme_length(const char *uri)
{
    size_t n = 0;
    if (!isalpha((unsigned char)uri[0]))
        return 0;
    while (isalnum((unsigned char)uri[n]) || (uri[n] && strchr("+.-", uri[n])))
        n++;
    return uri[n] == ':' ? n : 0;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes the path of a file URI into out. */
static int decode_path(const char *uri, const char *p, buf *out)
{
    for (; *p; p++) {
        if (*p == '?' || *p == '#')
            return error_set(LOCH_EINVALID, "lake %s: a file URI has no query or fragment (write '%c' as %%%02X)",
                             uri, *p, (unsigned)*p);
        int c = (unsigned char)*p;
        if (*p == '%') {
            int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
            if (hi < 0 || lo < 0)
                return error_set(LOCH_EINVALID, "lake %s: \"%%\" must start an escape of two hex digits", uri);
            if ((c = hi * 16 + lo) == 0)
                return error_set(LOCH_EINVALID, "lake %s: %%00 (NUL) cannot be part of a path", uri);
            p += 2;
        }
        if (buf_putc(out, (char)c) < 0)
            return LOCH_ENOMEM;
    }
    return 0;
}

/* file://[localhost]/path or file:/path: the decoded local path. */
static int parse_file(storage_uri *out, const char *uri, size_t n)
{
    const char *p = uri + n + 1;
    buf path = BUF_INIT;
    int rc = 0;
    if (strncmp(p, "//", 2) == 0) {
        const char *host = p + 2, *slash = strchr(host, '/');
        size_t hlen = slash ? (size_t)(slash - host) : strlen(host);
        if (!slash)
            return error_set(LOCH_EINVALID, "lake %s: a file URI needs an absolute path (file:///path)", uri);
        if (hlen && !(hlen == 9 && !strncasecmp(host, "localhost", 9)))
            return error_set(LOCH_EINVALID, "lake %s: file URI names host \"%.*s\"; loch opens lakes on this "
                             "machine only (file:///path or file://localhost/path)", uri, (int)hlen, host);
        p = slash;
    }
    if (*p != '/')
        return error_set(LOCH_EINVALID, "lake %s: a file URI needs an absolute path (file:///path)", uri);
    if ((rc = decode_path(uri, p, &path)) < 0)
        goto cleanup;
    snprintf(out->scheme, sizeof(out->scheme), "file");
    out->path = buf_detach(&path);
    rc = out->path ? 0 : error_set(LOCH_ENOMEM, "out of memory");
cleanup:
    buf_free(&path);
    return rc;
}

/* s3://bucket[/prefix]: a bucket named as S3 names them (3 to 63 of a-z, 0-9, '.', '-',
 * starting and ending with a letter or digit), and a prefix of clean parts. */
static int parse_s3(storage_uri *out, const char *uri, size_t n)
{
    const char *b = uri + n + 3;
    size_t blen = strcspn(b, "/");
    int ok = blen >= 3 && blen <= 63 && isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[blen - 1]);
    for (size_t i = 0; ok && i < blen; i++)
        ok = islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '.' || b[i] == '-';
    if (!ok)
        return error_set(LOCH_EINVALID, "lake %s: \"%.*s\" is not a bucket name (3 to 63 lowercase letters, digits, "
                         "'.' and '-')", uri, (int)blen, b);
    const char *p = b + blen + (b[blen] == '/');
    size_t plen = strlen(p);
    while (plen && p[plen - 1] == '/')
        plen--;
    for (size_t at = 0; at < plen;) {
        size_t part = strcspn(p + at, "/");
        part = part > plen - at ? plen - at : part;
        if (!part || (part == 1 && p[at] == '.') || (part == 2 && !strncmp(p + at, "..", 2)))
            return error_set(LOCH_EINVALID, "lake %s: the prefix has an empty, \".\" or \"..\" part", uri);
        at += part + 1;
    }
    for (size_t i = 0; i < plen; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return error_set(LOCH_EINVALID, "lake %s: the prefix has a control character", uri);
    if (memchr(p, '?', plen) || memchr(p, '#', plen)) /* a query or fragment meant as one is no prefix */
        return error_set(LOCH_EINVALID, "lake %s: an s3 URI has no query or fragment ('?' or '#')", uri);
    snprintf(out->scheme, sizeof(out->scheme), "s3");
    memcpy(out->bucket, b, blen);
    out->bucket[blen] = '\0';
    out->path = strndup(p, plen);
    return out->path ? 0 : error_set(LOCH_ENOMEM, "out of memory");
}

static int parse_uri(storage_uri *out, const char *uri)
{
    memset(out, 0, sizeof(*out));
    size_t n = scheme_length(uri);
    if (!*uri)
        return error_set(LOCH_EINVALID, "the lake's location is empty; %s", local_hint);
    if (n == 4 && !strncasecmp(uri, "file", 4) && uri[5] == '/')
        return parse_file(out, uri, n);
    if (n == 4 && !strncasecmp(uri, "file", 4)) /* "file:relative" is no URI, nor a path meant as one */
        return error_set(LOCH_EINVALID, "lake %s: a file URI needs an absolute path (file:///path); %s", uri,
                         local_hint);
    if (n == 0 || strncmp(uri + n, "://", 3) != 0) {
        snprintf(out->scheme, sizeof(out->scheme), "file"); /* a plain path, used as it is */
        out->path = strdup(uri);
        return out->path ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    }
    if ((n == 2 && !strncasecmp(uri, "s3", 2)) || (n == 3 && !strncasecmp(uri, "s3a", 3)))
        return parse_s3(out, uri, n);
    return error_set(LOCH_EUNSUPPORTED, "lake %s: unknown URI scheme \"%.*s\" (not supported); %s", uri, (int)n,
                     uri, local_hint);
}

int storage_uri_parse(storage_uri *out, const char *uri)
{
    int rc = parse_uri(out, uri);
    /* The SQL engine names files by UTF-8 text: a lake it cannot name is refused here,
     * before anything is created, not by the engine half way through. */
    if (rc == 0 && utf8_valid_prefix((const unsigned char *)out->path, strlen(out->path)) != strlen(out->path)) {
        storage_uri_free(out);
        rc = error_set(LOCH_EINVALID, "lake %s: the path is not valid UTF-8, which the SQL engine needs; %s", uri,
                       local_hint);
    }
    return rc;
}

void storage_uri_free(storage_uri *u)
{
    if (!u)
        return;
    free(u->path);
    u->path = NULL;
}

int storage_open(storage **out, const char *uri, int create, const storage_s3_config *bucket)
{
    storage_uri u;
    *out = NULL;
    int rc = storage_uri_parse(&u, uri);
    if (rc == 0 && !strcmp(u.scheme, "s3")) {
        rc = bucket ? storage_s3_open(out, u.bucket, u.path, create, bucket)
                    : error_set(LOCH_EINVALID, "no S3 settings were given to open it with");
        if (rc < 0)
            error_prefix("lake %s: ", uri);
    }
    else if (rc == 0)
        rc = storage_local_open(out, u.path, create);
    storage_uri_free(&u);
    return rc;
}

void storage_entries_free(storage_entry *e, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(e[i].name);
    free(e);
}
