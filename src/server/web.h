/*
 * server/web.h - the browser UI's files (web/), compiled into the binary at build time
 * (esbuild bundles web/src into one script and one style sheet; scripts/web_assets.py
 * writes them here as byte arrays), and how the server answers for them.
 *
 * The page is served to anyone who can reach the server, token or not, as /health is:
 * it holds no data, and everything it shows comes through the API with the token the
 * user gives it. It runs under a strict Content-Security-Policy: scripts and styles from
 * this server only, no inline script, connections to this server only, no framing.
 */
#ifndef LOCH_SERVER_WEB_H
#define LOCH_SERVER_WEB_H

#include <stddef.h>

#include "adapters/http.h"

typedef struct {
    const char *path;          /* the URL path: "/", "/ui/app.js" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
    const char *etag;          /* quoted, from the bytes' SHA-256 */
} web_asset;

extern const web_asset web_assets[];
extern const size_t web_nassets;

/* The asset a path names, or NULL. */
const web_asset *web_find(const char *path);

/* Answers GET for an asset with the security headers: the page "/" with a fresh style
 * nonce each time (never cached); a file with its bytes, or 304 when the client's
 * If-None-Match holds its ETag. -1 when out of memory. */
int web_answer(const web_asset *a, const http_request *req, http_response *out);

#endif
