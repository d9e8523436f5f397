/*
 * adapters/http.h - the HTTP transport loch's server runs on: requests in, responses
 * out, nothing about loch. Implemented over libmicrohttpd (adapters/http_mhd.c), one
 * thread per connection, so a long query never holds up another client's request.
 *
 * A request's body is collected up to its route's limit (413 beyond, without reading
 * the rest): in memory for small bodies, spooled to a file for uploads (the handler
 * chooses which when the headers arrive). A response is a status, headers and either
 * a whole body or a producer the transport calls for more bytes (chunked encoding).
 */
#ifndef LOCH_ADAPTERS_HTTP_H
#define LOCH_ADAPTERS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct http_server http_server;
typedef struct http_request http_request;

const char *http_method(const http_request *r);
const char *http_path(const http_request *r);
/* A header or a query string argument; NULL when absent. */
const char *http_header(const http_request *r, const char *name);
const char *http_query(const http_request *r, const char *name);
const char *http_peer(const http_request *r); /* the client's address, as text */
/* The body collected in memory (NUL-terminated), or the file it was spooled to. */
const char *http_body(const http_request *r, size_t *len);
const char *http_body_file(const http_request *r);
int64_t http_body_bytes(const http_request *r);
/* The SHA-256 (hex) of the spooled file's bytes, computed as they arrived; NULL when
 * the body was not spooled. */
const char *http_body_sha256(http_request *r);
/* A multipart/form-data upload (a browser's form): the file field's content is what
 * is spooled; its client-side name and the other fields are here. */
const char *http_upload_name(const http_request *r);
/* How many file parts a multipart body had (only the first is spooled), or -1 when
 * the body was not multipart. */
int http_upload_parts(const http_request *r);
const char *http_form(const http_request *r, const char *name);
/* The spooled file was renamed; it is still removed when the request ends. */
int http_set_body_file(http_request *r, const char *path);

/* Called when a request's headers have arrived: how to take its body. */
typedef struct {
    int64_t limit;       /* bytes; more is answered 413 */
    int to_file;         /* spool to a temporary file in dir (uploads) */
    const char *dir;
    int refuse;          /* answer now, before any of the body is read (the handler is
                            called with no body: a missing token, a bad route) */
} http_body_plan;

/* Produces the next bytes of a streamed response into out; returns 0 while there is
 * more, 1 at the end, <0 to abort the connection. */
typedef int (*http_producer)(void *state, buf *out);

typedef struct {
    int status;
    const char *content_type;
    buf body;                 /* the whole body, unless producer is set */
    http_producer producer;
    void *state;
    void (*state_free)(void *state);
    char headers[1024];       /* extra "Name: value\n" lines */
    char route[48], note[64]; /* the application's, for its done callback */
} http_response;

typedef struct {
    /* Chooses how to take the body (defaults: in memory, 1 MiB). */
    void (*plan)(void *ctx, const http_request *r, http_body_plan *plan);
    /* Answers a request whose body has arrived. */
    void (*handle)(void *ctx, http_request *r, http_response *out);
    /* After the response went out (or the client left): for logs and metrics. */
    void (*done)(void *ctx, const http_request *r, const http_response *resp, int64_t bytes_out, double ms);
    void *ctx;
} http_handlers;

typedef struct {
    const char *host;         /* an address to bind, e.g. 127.0.0.1 or :: */
    int port;                 /* 0: any free port */
    int timeout_s;            /* idle connections are closed after this */
    int max_connections;
    int max_per_client;       /* connections from one address at once (0: 32) */
    int header_timeout_s;     /* a request's headers must be in this long after the
                                 connection opened or its last answer went (0: 10) */
} http_options;

int http_start(http_server **out, const http_options *o, const http_handlers *h);
int http_port(const http_server *s);
/* Stops accepting new connections (requests in flight go on). */
void http_quiesce(http_server *s);
/* Closes everything; waits for the handlers that are running. */
void http_stop(http_server *s);

#endif
