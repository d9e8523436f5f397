/*
 * cli/serve.h - `loch serve`: the HTTP API (include/loch/server.h) as a command.
 */
#ifndef LOCH_CLI_SERVE_H
#define LOCH_CLI_SERVE_H

#include "loch/lake.h"

/* The command line's values (NULL when not given). */
typedef struct {
    const char *listen, *config, *token_file, *workers, *query_timeout, *max_body, *max_upload, *cors;
    const char *lake;          /* --lake, or $LOCH_LAKE */
    const char *memory_limit;  /* --memory-limit, or $LOCH_MEMORY_LIMIT */
    int threads;               /* --threads, or $LOCH_THREADS */
    const loch_lake_options *lake_options; /* log callback and test hooks for the server's lakes */
    /* Called with the lake the settings name (flags, environment or config file) before the
     * server opens it: fills lake_options with what that lake needs (a bucket's
     * settings). Nonzero: the exit code. NULL: nothing to do. */
    int (*lake_settings)(void *ctx, const char *lake);
    void *ctx;
} serve_flags;

/* Runs the server until SIGTERM or SIGINT; returns the exit code. */
int serve_main(const serve_flags *f);

/* "10GiB", "1MB", "4096": bytes, or -1 (--max-body, --max-upload, LOCH_CACHE_SIZE). */
long long parse_size(const char *s);

#endif
