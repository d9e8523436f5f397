/*
 * core/commit.h - a Delta commit as data: the actions a transaction writes, what it
 * read to decide them, and the rules that say whether it may still go in after other
 * commits won the race for its version.
 *
 * A commit is built by the verbs (ops/) action by action, rendered to the log's NDJSON
 * by commit_render alone, and checked against each winning commit - parsed back into
 * the same structure by commit_parse - by conflict_check, a pure function. No I/O here:
 * ops/txlog.c reads and writes the files.
 *
 * The read set says what the transaction's actions depend on:
 *   whole_table  it read every file (CREATE OR REPLACE, overwrite, a rewrite);
 *   predicates   it read the files matching these partition-value conjunctions (an
 *                empty conjunction matches every file, which is how a predicate on
 *                data columns is represented: partition pruning is all the checker
 *                can judge, so it over-approximates, never under);
 *   files        the paths it read (a DELETE or UPDATE rewriting them);
 *   app_ids      txn application ids whose version it read (exactly-once writers);
 *   sources      loch's own: source hashes it found absent (ingest adds the same input
 *                bytes once; a concurrent commit adding them makes this one a duplicate).
 *
 * conflict_check follows Delta's ConflictChecker (delta-io/delta,
 * spark/src/main/scala/org/apache/spark/sql/delta/ConflictChecker.scala), in its order:
 *   1. protocol   a winning protocol action conflicts with everything. (Delta lets a
 *                 transaction that writes no protocol pass an upgrade whose features it
 *                 can write; loch is stricter, because the features a transaction was
 *                 prepared under decide how its files were written.)
 *   2. metadata   a winning metaData action conflicts with everything.
 *   3. domains    both commits write the same domainMetadata domain.
 *   4. app ids    the winner sets a txn version for an app id we read.
 *   5. appends    a file the winner added matches our read set. Which added files count
 *                 depends on the isolation level: Serializable checks them all;
 *                 WriteSerializable (the default) skips those of a blind append (a winner
 *                 whose commitInfo says isBlindAppend=true), unless our own commit
 *                 changes the metadata. A winner without the flag is not a blind append.
 *   6. delete-read    the winner removed a file we read (or any file, if we read the
 *                     whole table).
 *   7. delete-delete  the winner removed a file we remove too.
 *   8. sources    (loch) the winner added a file carrying a source hash we read absent.
 * The first rule that fires decides; a later winner never clears an earlier conflict.
 *
 * Memory: a commit owns an arena; every string an action or the read set points at is
 * copied into it, so callers may pass stack buffers.
 */
#ifndef LOCH_CORE_COMMIT_H
#define LOCH_CORE_COMMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"
#include "util/arena.h"
#include "util/buf.h"

typedef enum {
    ISOLATION_WRITE_SERIALIZABLE, /* Delta's default */
    ISOLATION_SERIALIZABLE
} commit_isolation;

typedef struct {
    log_kv partition_equals;      /* a file matches when every listed value is equal (NULL = null) */
} commit_predicate;

typedef struct {
    bool whole_table;
    commit_predicate *predicates;
    size_t predicate_count, predicate_cap;
    const char **files, **app_ids, **sources;
    size_t file_count, app_id_count, source_count;
    size_t file_cap, app_id_cap, source_cap;
} commit_reads;

typedef struct {
    arena a;                      /* owns everything below */
    log_action *actions;          /* in the order they are written; no commitInfo */
    size_t count, cap;
    const char *operation;        /* "WRITE", "CREATE TABLE", ... */
    log_kv parameters;            /* operationParameters: Delta reads a map of strings */
    size_t parameters_cap;
    int64_t read_version;         /* the version it was prepared against; -1 = a new table */
    int64_t rows_written, files_written; /* operationMetrics, unless metrics are set */
    log_kv metrics;               /* operationMetrics as set by commit_metric (strings, as Delta's) */
    size_t metrics_cap;
    commit_isolation isolation;
    commit_reads reads;
    /* Set by commit_parse from a winner's commitInfo: 1 / 0 / -1 when absent. */
    int blind_append_flag;
} commit;

typedef enum {
    CONFLICT_NONE = 0,
    CONFLICT_PROTOCOL,            /* Delta: ProtocolChangedException */
    CONFLICT_METADATA,            /* MetadataChangedException */
    CONFLICT_DOMAIN,              /* ConcurrentTransactionException (a domain) */
    CONFLICT_APP_ID,              /* ConcurrentTransactionException */
    CONFLICT_APPEND,              /* ConcurrentAppendException */
    CONFLICT_DELETE_READ,         /* ConcurrentDeleteReadException */
    CONFLICT_DELETE_DELETE,       /* ConcurrentDeleteDeleteException */
    CONFLICT_SAME_SOURCE          /* loch: the same input bytes went in concurrently */
} conflict_kind;

typedef struct {
    conflict_kind kind;
    size_t winner;                /* index into the winners array */
    const char *subject;          /* the file, app id or domain at issue (the winner's), or NULL */
} conflict;

void commit_init(commit *c, const char *operation, int64_t read_version);
void commit_free(commit *c);

/* Appends a copy of act (any kind but LOG_COMMITINFO, LOG_NONE and LOG_OTHER). */
int commit_append(commit *c, const log_action *act);
/* Forgets the actions after the first count (a write that failed half way). */
void commit_truncate(commit *c, size_t count);
/* Sets operationParameters[key] = value. Values are strings, as Delta readers require
 * (a list or map goes in as its JSON text, the way delta-spark writes "properties"). */
int commit_parameter(commit *c, const char *key, const char *value);
/* Sets an operationMetrics entry; once any is set, they replace the default
 * numFiles / numOutputRows pair. */
int commit_metric(commit *c, const char *key, int64_t value);

/* The read set. */
void commit_read_whole_table(commit *c);
int commit_read_predicate(commit *c, const log_kv *partition_equals);
int commit_read_file(commit *c, const char *path);
int commit_read_app_id(commit *c, const char *app_id);
int commit_read_source(commit *c, const char *sha256);

/* Delta's isBlindAppend: only adds among its file actions, and nothing read. */
bool commit_is_blind_append(const commit *c);
bool commit_changes_metadata(const commit *c);
/* "WriteSerializable" (or absent) / "Serializable"; EINVALID for anything else
 * (SnapshotIsolation is a read level, not a table's). */
int commit_isolation_parse(const char *text, commit_isolation *out);

/* The commit's file text: commitInfo first (timestamp, operation, operationParameters,
 * operationMetrics, readVersion, isolationLevel, isBlindAppend, engineInfo), then the
 * actions in order. Appends to out. */
int commit_render(const commit *c, int64_t timestamp_ms, buf *out);
/* Parses a commit file's text (a winner, or any commit) into c, which must be fresh
 * from commit_init. ECORRUPT with the line number for a malformed line. */
int commit_parse(commit *c, const char *text, size_t len);

/* loch's tag on a data file naming the input bytes it came from: "loch.source.sha256",
 * one hash, or a comma-separated list after a rewrite. NULL when untagged. */
const char *commit_file_sources(const log_file *f);
bool commit_file_has_source(const log_file *f, const char *sha256);

/* Whether ours may go in after winners[0..n), oldest first. Returns 1 and fills *out
 * when one conflicts, else 0. Pure: no I/O, no error state. */
int conflict_check(const commit *ours, const commit *const *winners, size_t n, conflict *out);
/* A sentence for a conflict ("a concurrent commit removed a file this one read"). */
const char *conflict_describe(conflict_kind kind);

#endif
