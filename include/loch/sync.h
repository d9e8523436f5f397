/*
 * loch/sync.h - copying a lake to another place: a local lake to a bucket (push), a
 * bucket to a local read replica (pull), or between any two lake locations.
 *
 *   loch_sync_options o = LOCH_SYNC_OPTIONS_INIT;
 *   loch_sync_stats st;
 *   if (loch_sync("./lake", "s3://bucket/lake", &lake_opts, &o, &st) < 0) ...
 *
 * What the destination lacks, or holds at another size, is copied; nothing is deleted
 * there. Copies are whole (each object appears complete or not at all), and each table's
 * log goes after its data files, in version order, with _last_checkpoint last: a reader
 * of the destination sees at every moment a lake that is whole, at an older version.
 * So a sync that was stopped (killed, the network gone) is taken up by the next one,
 * which copies what is still missing. A sync with nothing new lists each side once
 * (one LIST of the bucket) and writes nothing.
 */
#ifndef LOCH_SYNC_H
#define LOCH_SYNC_H

#include <stdint.h>

#include "loch/lake.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t objects;        /* objects in the source (loch's own local files left out) */
    int64_t copied;         /* of them, copied by this sync */
    int64_t bytes_copied;
    int64_t present;        /* already at the destination, same size */
} loch_sync_stats;

typedef struct {
    unsigned int version;   /* LOCH_SYNC_OPTIONS_VERSION */
    int threads;            /* copies at once; 0: 16 */
    /* After every object copied (on the copying thread, one call at a time). */
    void (*progress)(void *ctx, const loch_sync_stats *so_far, int64_t bytes_total);
    void *ctx;
} loch_sync_options;

#define LOCH_SYNC_OPTIONS_VERSION 1
#define LOCH_SYNC_OPTIONS_INIT {LOCH_SYNC_OPTIONS_VERSION, 0, NULL, NULL}

/* Copies the lake at `from` to `to` (paths or URIs as loch_lake_open takes them; the S3
 * settings and local_dir of lake_opts open either). The destination is made when
 * missing. stats may be NULL. */
LOCH_EXTERN int loch_sync(const char *from, const char *to, const loch_lake_options *lake_opts,
                          const loch_sync_options *opts, loch_sync_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
