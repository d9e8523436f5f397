/*
 * core/checkpoint.h - what a classic checkpoint holds and how it is laid out, and the
 * retention rules that decide which log files and tombstones may go.
 *
 * A classic checkpoint (the Delta protocol, "Checkpoints", "Checkpoint Schema") is one
 * Parquet file with a column per action kind: each row has exactly one of txn, add,
 * remove, metaData, protocol set. loch renders the rows as NDJSON (checkpoint_rows)
 * and the engine writes them under checkpoint_schema, a typed tree the adapter turns
 * into its own types - the schema is the protocol's, not the engine's.
 *
 * Retention: a remove (tombstone) stays in checkpoints while it is younger than
 * delta.deletedFileRetentionDuration (default one week), so VACUUM by another engine
 * does not delete files a reader of an older version may still need; log files older
 * than delta.logRetentionDuration (default 30 days) go, except the newest checkpoint at
 * or before that cutoff and everything after it (the protocol, "Metadata Cleanup"),
 * so every retained version stays readable.
 */
#ifndef LOCH_CORE_CHECKPOINT_H
#define LOCH_CORE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/snapshot.h"
#include "util/buf.h"

typedef enum {
    CP_STRING, CP_INT, CP_LONG, CP_BOOL,
    CP_STRING_MAP,  /* map<string, string> */
    CP_STRING_LIST, /* array<string> */
    CP_STRUCT
} checkpoint_type;

typedef struct checkpoint_field {
    const char *name;
    checkpoint_type type;
    const struct checkpoint_field *fields; /* CP_STRUCT's, NULL-name terminated */
} checkpoint_field;

/* The top-level columns, NULL-name terminated: txn, add, remove, metaData, protocol. */
extern const checkpoint_field checkpoint_schema[];

/* Appends the rows of a checkpoint of s as NDJSON and sets *actions to their number.
 * now_ms decides which tombstones are still kept. */
int checkpoint_rows(const snapshot *s, int64_t now_ms, buf *out, size_t *actions);
/* The content of _delta_log/_last_checkpoint. */
int checkpoint_last(int64_t version, size_t actions, size_t size_bytes, size_t add_files, buf *out);
/* Parses Delta's interval text ("interval 30 days"; units week, day, hour, minute,
 * second, millisecond, microsecond, singular or plural; no months or years, which Delta
 * refuses) into milliseconds. EINVALID for anything else, and for values past what
 * Delta readers accept (days beyond a 32-bit count, microseconds beyond 64 bits), which
 * would make other engines refuse the table. */
int checkpoint_interval_parse(const char *text, int64_t *ms);
/* The same, as a retention: dflt when absent or invalid. */
int64_t checkpoint_interval_ms(const char *text, int64_t dflt);

/* One file of a listed _delta_log, for checkpoint_expired. */
typedef struct {
    int64_t version;
    char kind;       /* 'j' commit, 'c' classic, 'm' multi-part, 'v' v2 checkpoint, 0 other */
    int64_t mtime_ms;
} checkpoint_log_file;

/* Marks in expire[i] the log files that may be deleted when files older than cutoff_ms
 * expire. Returns how many. */
size_t checkpoint_expired(const checkpoint_log_file *files, size_t n, int64_t cutoff_ms, unsigned char *expire);

#endif
