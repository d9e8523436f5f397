/*
 * loch/lake.h - a lake: a directory (or bucket prefix) of Delta tables.
 *
 *   loch_lake *lake;
 *   loch_lake_options opts = LOCH_LAKE_OPTIONS_INIT;
 *   if (loch_lake_open(&lake, "./lake", &opts) < 0)
 *       fprintf(stderr, "%s\n", loch_error_last());
 *   ...
 *   loch_lake_free(lake);
 *
 * One lake handle serves one thread at a time.
 */
#ifndef LOCH_LAKE_H
#define LOCH_LAKE_H

#include <stdint.h>

#include "loch/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loch_lake loch_lake;

typedef struct {
    unsigned int version;     /* LOCH_LAKE_OPTIONS_VERSION */
    int sandbox;              /* SQL may touch no file outside the lake (default 0) */
    const char *memory_limit; /* SQL engine memory limit, e.g. "4GB"; NULL = engine default */
    int threads;              /* SQL engine threads; 0 = one per core */
    int create;               /* create the lake directory when missing (default 1) */
} loch_lake_options;

#define LOCH_LAKE_OPTIONS_VERSION 1
#define LOCH_LAKE_OPTIONS_INIT {LOCH_LAKE_OPTIONS_VERSION, 0, NULL, 0, 1}

/* Opens (and with opts->create, initializes) the lake at path. */
LOCH_EXTERN int loch_lake_open(loch_lake **out, const char *path, const loch_lake_options *opts);
LOCH_EXTERN void loch_lake_free(loch_lake *lake);
/* The lake's absolute root directory; valid until loch_lake_free. */
LOCH_EXTERN const char *loch_lake_root(const loch_lake *lake);
/* Cancels the SQL statement running on this lake; safe from a signal handler. */
LOCH_EXTERN void loch_lake_interrupt(loch_lake *lake);

/* Frees memory that loch handed to the caller (strings from loch_result_text etc.). */
LOCH_EXTERN void loch_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
