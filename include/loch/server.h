/*
 * loch/server.h - loch's HTTP API (docs/http.md): tables, SQL and ingest over HTTP, for
 * programs and for the browser UI.
 *
 *   loch_server_options o = LOCH_SERVER_OPTIONS_INIT;
 *   o.lake = "lake";
 *   loch_server *s;
 *   loch_server_start(&s, &o);       // listening; requests are served on their own threads
 *   ...
 *   loch_server_stop(s, 10000);      // stop accepting, let requests finish (or cancel them)
 *
 * Safe by default: loopback only unless tokens are given; SQL runs sandboxed (no files
 * outside the lake, settings locked) with memory, thread and time limits.
 */
#ifndef LOCH_SERVER_H
#define LOCH_SERVER_H

#include <stdint.h>
#include <stdio.h>

#include "loch/export.h"
#include "loch/lake.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loch_server loch_server;

typedef struct {
    unsigned int version;       /* LOCH_SERVER_OPTIONS_VERSION */
    const char *lake;           /* the lake: a path or a URI, as loch_lake_open takes */
    const char *host;           /* address to listen on: "127.0.0.1" (default), "::1", "0.0.0.0" */
    int port;                   /* 8420 by default; 0 picks a free port (see loch_server_port) */
    const char *const *tokens;  /* bearer tokens; required when host is not loopback */
    size_t ntokens;
    int workers;                /* SQL engines serving requests at once (default: CPU count) */
    int threads;                /* threads per engine (default: one per core) */
    const char *memory_limit;   /* per engine, e.g. "1GB"; NULL: the engine's default */
    int64_t max_body;           /* JSON request bodies, bytes (default 1 MiB) */
    int64_t max_upload;         /* ingest uploads, bytes (default 10 GiB) */
    int query_timeout_ms;       /* queries running longer are cancelled (default 60 s; 0 = none) */
    int idle_timeout_s;         /* slow or stalled clients are dropped (default 30 s) */
    const char *cors_origins;   /* comma-separated origins allowed to call from a browser; NULL = none */
    FILE *log;                  /* one JSON line per request (default stderr; tokens never appear) */
    int header_timeout_s;       /* a request's headers must arrive within this (default 10 s) */
    int max_connections_per_client; /* connections from one address at once (default 32 of 256) */
    /* version 2: */
    const loch_lake_options *lake_options; /* the server's lake handles take their log
                                  callback and test hooks from these (sandbox, create,
                                  threads and memory_limit are the server's own); NULL,
                                  or no log callback: warnings go to `log` as JSON lines */
} loch_server_options;

#define LOCH_SERVER_OPTIONS_VERSION 2
#define LOCH_SERVER_OPTIONS_INIT {LOCH_SERVER_OPTIONS_VERSION, NULL, "127.0.0.1", 8420, NULL, 0, 0, 0, NULL, \
                                  1 << 20, INT64_C(10) << 30, 60000, 30, NULL, NULL, 10, 32, NULL}

/* Reads a configuration file (the TOML subset of docs/http.md: [sections], key = "text",
 * numbers, true/false, one-line arrays of strings) and calls item for each setting in
 * order: key as "section.key", the value as text (an array's items joined by '\n'),
 * and its line. A malformed file is LOCH_EINVALID with "line N: ..." as the message;
 * a nonzero return from item stops and is returned. */
typedef int (*loch_config_item)(void *ctx, const char *key, const char *value, int is_array, int line);
LOCH_EXTERN int loch_config_read(const char *path, loch_config_item item, void *ctx);

/* Starts serving; fails (LOCH_EPERM) on a non-loopback address without tokens. */
LOCH_EXTERN int loch_server_start(loch_server **out, const loch_server_options *opts);
/* The port actually listened on. */
LOCH_EXTERN int loch_server_port(const loch_server *s);
/* Stops accepting, waits up to grace_ms for requests in flight, cancels what still
 * runs, and frees the server. Commits are never cut in half: a cancelled write either
 * committed or left nothing. */
LOCH_EXTERN void loch_server_stop(loch_server *s, int grace_ms);

#ifdef __cplusplus
}
#endif
#endif
