/*
 * adapters/httpc.h - an HTTP client for one request at a time, nothing about loch.
 *
 * What loch asks of a remote service (a model server today) is a POST of a small body
 * and an answer that may stream for minutes. So the body of the answer is handed to
 * the caller piece by piece as it arrives, with the status already known, and the
 * caller can stop it at any piece or between pieces (a cancelled question).
 *
 * Safe by default, because the address comes from configuration and the answer from
 * another program: only http and https; redirects are never followed (an Authorization
 * header must not travel to another host); the connection must be made within
 * connect_timeout_s and then some byte must arrive every idle_timeout_s. Header values
 * given here are never part of an error message (they carry keys). libcurl is the only
 * thing that speaks the protocol (adapters/httpc_curl.c, the one file that includes
 * curl.h); it honours the usual proxy variables (http_proxy, no_proxy).
 */
#ifndef LOCH_ADAPTERS_HTTPC_H
#define LOCH_ADAPTERS_HTTPC_H

#include <stddef.h>

typedef struct {
    const char *url;
    const char *const *headers; /* "Name: value" each, NULL-terminated; NULL: none */
    const char *body;           /* sent as POST with this Content-Type; NULL: GET */
    size_t body_len;
    const char *content_type;   /* NULL: application/json */
    int connect_timeout_s;      /* 0: 10 */
    int idle_timeout_s;         /* 0: 300 */
    int total_timeout_s;        /* the whole exchange; 0: no limit but the idle one */
    /* Each piece of the answer's body, with its status; nonzero stops the transfer, which
     * then returns 0 (the caller had what it wanted) unless stop() said otherwise. */
    int (*on_data)(void *ctx, int status, const char *data, size_t len);
    /* asked while waiting; nonzero abandons the request with LOCH_EINTERRUPTED */
    int (*stop)(void *ctx);
    void *ctx;
} httpc_request;

/* Sends r and hands its answer to r->on_data; *status is the answer's HTTP status.
 * A failure to connect, send or receive is LOCH_EIO with what went wrong and the URL's
 * scheme, host and port (never its query or credentials). */
int httpc_send(const httpc_request *r, int *status);

#endif
