/*
 * core/snapshot.h - log replay: the state of a table at one version.
 *
 * A snapshot is built by feeding actions in log order (checkpoint rows first, then
 * each later commit) to snapshot_apply() and calling snapshot_finish(). It does no
 * I/O. Rules (Delta protocol, "Action Reconciliation"):
 *   - the latest protocol and metaData win, whole;
 *   - a logical file is keyed by (path, deletion vector uniqueId); a later add of the
 *     key replaces it, a later remove deletes it (and is kept as a tombstone);
 *   - the latest txn version per appId wins.
 * After finish the live files are in `files[0..file_count)` in the order first added,
 * and the schema is parsed. Everything lives in the snapshot's arena.
 */
#ifndef LOCH_CORE_SNAPSHOT_H
#define LOCH_CORE_SNAPSHOT_H

#include "core/log.h"
#include "core/schema.h"
#include "util/strmap.h"

typedef struct {
    arena arena;              /* owns every string below */
    int64_t version;          /* -1 until finished */
    int64_t timestamp_ms;     /* commit time of `version` (set by the loader) */
    log_protocol protocol;
    log_metadata metadata;
    bool has_protocol, has_metadata;
    schema schema;
    log_file *files;          /* live adds; array owned (malloc) */
    size_t file_count, file_alloc;
    log_file *tombstones;     /* removes still remembered; array owned */
    size_t tombstone_count, tombstone_alloc;
    log_txn *txns;            /* latest per appId; array owned */
    size_t txn_count, txn_alloc;
    strmap index;             /* file key -> slot in files (slot holds a dead marker once removed) */
    int64_t num_records;      /* sum of stats.numRecords, -1 if any file lacks stats */
    int64_t size_bytes;       /* sum of file sizes */
    bool schema_string_has_invariants;
    int refs;                 /* holders; the loader's cache counts as one */
    int advances;             /* times moved forward in place (its arena only grows) */
    int64_t commit_stamp;     /* the `version` commit file's stamp (storage_entry), to spot a
                                 replaced log */
} snapshot;

void snapshot_init(snapshot *s);
int snapshot_apply(snapshot *s, const log_action *act);
/* Checks the protocol can be read, parses the schema, compacts the file list. */
int snapshot_finish(snapshot *s, int64_t version);
void snapshot_free(snapshot *s);
/* Makes a finished snapshot accept more actions (the ones of later commits), so a
 * cached snapshot can move forward instead of being replayed from the start. */
int snapshot_reopen(snapshot *s);

/* 0 when loch can read a table of this protocol; else LOCH_EUNSUPPORTED naming the feature. */
int snapshot_check_readable(const log_protocol *p);
/* 0 when loch can append to this table; else LOCH_EUNSUPPORTED naming the feature. */
int snapshot_check_writable(const snapshot *s);
/* Table property lookup (metaData.configuration), or NULL. */
const char *snapshot_property(const snapshot *s, const char *key);
/* The latest txn version for app_id, or -1. */
int64_t snapshot_txn_version(const snapshot *s, const char *app_id);

/* In-commit timestamps (Delta protocol, "In-Commit Timestamps"): with
 * delta.enableInCommitTimestamps, versions from `version` on carry their commit time in
 * commitInfo.inCommitTimestamp (the first action of the commit), and earlier versions
 * have only their commit files' times. A table that had it from the start has no
 * enablement properties: version 0, and every instant counts as after enablement. */
typedef struct {
    bool enabled;
    int64_t version;          /* first version with an inCommitTimestamp */
    int64_t timestamp_ms;     /* that version's inCommitTimestamp; INT64_MIN when version 0 */
} snapshot_ict;
/* Reads the table properties; LOCH_ECORRUPT names a malformed enablement property. */
int snapshot_ict_info(const snapshot *s, snapshot_ict *out);
/* Which versions a search for the version current at instant at_ms considers, and by
 * which time: from the enablement timestamp on, only versions >= the enablement version,
 * by inCommitTimestamp; before it, only earlier versions, by file time. */
void snapshot_ict_window(const snapshot_ict *ict, int64_t at_ms, int64_t *first, int64_t *last, bool *use_ict);

#endif
