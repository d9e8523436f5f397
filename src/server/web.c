/*
 * server/web.c - the browser UI's files, answered from the binary (server/web.h).
 *
 * Every answer carries the same headers: a Content-Security-Policy that allows this
 * server's own scripts, styles and connections and nothing else (no inline script, no
 * eval, no framing, no form posted elsewhere), nosniff, no referrer. The editor writes
 * its styles into a <style> element, which the policy allows by a nonce only: the page
 * is answered with a new random nonce each time, in its policy and in its
 * <meta name="csp-nonce"> (where the page's "{{nonce}}" was), so no other style element
 * is accepted. The page is therefore never cached ("no-store"); the script and style
 * sheet carry an ETag (their SHA-256) with "no-cache", so a browser asks each time and a
 * new loch's page is never mixed with an old one's script.
 */
#include "server/web.h"

#include <stdio.h>
#include <string.h>

#include "util/misc.h"

#define WEB_CSP                                                                                           \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'%s%s%s; img-src 'self' " \
    "data: blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "              \
    "frame-ancestors 'none'\n"
#define WEB_HEADERS                                                                                    \
    "X-Content-Type-Options: nosniff\nReferrer-Policy: no-referrer\nX-Frame-Options: DENY\n"            \
    "Cross-Origin-Opener-Policy: same-origin\n"
#define NONCE_MARK "{{nonce}}"

const web_asset *web_find(const char *path)
{
    for (size_t i = 0; i < web_nassets; i++)
        if (!strcmp(web_assets[i].path, path))
            return &web_assets[i];
    return NULL;
}

/* Whether an If-None-Match list ("a", W/"b", *) holds etag. */
static int etag_matches(const char *list, const char *etag)
{
    if (!list)
        return 0;
    size_t n = strlen(etag);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!strncmp(p, "W/", 2))
            p += 2;
        if (*p == '*' || (!strncmp(p, etag, n) && (p[n] == '\0' || p[n] == ',' || p[n] == ' ')))
            return 1; /* the whole tag, not a tag it begins */
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

/* The page with its nonce in place of each NONCE_MARK. */
static int put_page(buf *b, const web_asset *a, const char *nonce)
{
    const char *p = (const char *)a->data, *end = p + a->len;
    size_t mark = strlen(NONCE_MARK);
    for (;;) {
        const char *m = memmem(p, (size_t)(end - p), NONCE_MARK, mark);
        if (buf_put(b, p, m ? (size_t)(m - p) : (size_t)(end - p)) < 0)
            return -1;
        if (!m)
            return 0;
        if (buf_puts(b, nonce) < 0)
            return -1;
        p = m + mark;
    }
}

int web_answer(const web_asset *a, const http_request *req, http_response *out)
{
    out->content_type = a->content_type;
    if (!strcmp(a->path, "/")) {
        char nonce[37];
        uuid_v4(nonce); /* 122 random bits (getrandom), a fresh one each time */
        snprintf(out->headers, sizeof(out->headers), WEB_CSP WEB_HEADERS "Cache-Control: no-store\n", " 'nonce-",
                 nonce, "'");
        out->status = 200;
        return put_page(&out->body, a, nonce);
    }
    snprintf(out->headers, sizeof(out->headers), WEB_CSP WEB_HEADERS "Cache-Control: no-cache\nETag: %s\n", "", "", "",
             a->etag);
    if (etag_matches(http_header(req, "If-None-Match"), a->etag)) {
        out->status = 304;
        return 0;
    }
    out->status = 200;
    return buf_put(&out->body, a->data, a->len);
}
