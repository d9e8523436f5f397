/*
 * loch/write.h - rows from memory into a table with a write-ahead log (a primary key,
 * or loch.wal.enabled = 'true' for appends), through the log: the streaming write path.
 *
 *   struct ArrowArrayStream rows = ...;           // the Arrow C stream interface
 *   uint64_t lsn;
 *   loch_write(lake, "users", &rows, LOCH_WRITE_UPSERT, &lsn);      // durable now
 *
 * A pipelined producer writes without waiting and waits for the last LSN once:
 *
 *   loch_write(lake, "users", &rows, LOCH_WRITE_UPSERT | LOCH_WRITE_NOWAIT, &lsn);
 *   ...
 *   loch_wait_durable(lake, "users", lsn);
 *
 * The stream's columns are the table's, by name, in any order, with the Arrow types
 * loch_table_describe's sql_type maps to (BIGINT int64 "l", INTEGER "i", SMALLINT "s",
 * TINYINT "c", DOUBLE "g", FLOAT "f", BOOLEAN "b", VARCHAR utf8 "u", BLOB "z", DATE
 * "tdD", TIMESTAMP "tsu:", TIMESTAMPTZ "tsu:<zone>", DECIMAL(p,s) "d:p,s"); a column
 * left out is NULL (an error for a NOT NULL one); a delete needs the key's columns
 * only. Arrays must have offset 0. All of a call's batches are one write: after a crash
 * the log holds all of them or none. The rows are visible to the next query once
 * durable; they reach the Delta table at the next flush (loch_table_flush, automatic
 * thresholds, or when `loch serve` stops).
 *
 * Threads: loch_write and loch_wait_durable may be called from many threads at once on
 * one lake handle (writes share one fdatasync: group commit), but not while another
 * thread runs any other call on that handle.
 */
#ifndef LOCH_WRITE_H
#define LOCH_WRITE_H

#include <stdint.h>

#include "loch/lake.h"
#include "loch/table.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ArrowArrayStream;

/* Or'ed into op: return once the write is in the log, before it is durable. */
#define LOCH_WRITE_NOWAIT 0x100

/* Writes every batch of rows (which it releases) as one write; *lsn is its last LSN
 * (0 when it had no rows). */
LOCH_EXTERN int loch_write(loch_lake *lake, const char *table, struct ArrowArrayStream *rows, int op, uint64_t *lsn);

/* Exactly once for producers: a write numbered by its producer (an id of 1 to 120 bytes
 * without spaces, and a sequence from 1 that grows with each of its writes) is applied
 * once. A write whose sequence is at or below the producer's last is not written again:
 * it succeeds with *duplicate set and *lsn the LSN the producer's last write ended at
 * (durable when the call returns). So a client that retries after a timeout or a crash
 * never doubles its rows. The producers' sequences survive restarts and flushes (a flush
 * records them in the Delta table as txn actions "loch.producer/<id>"). */
typedef struct {
    unsigned int version;     /* LOCH_WRITE_OPTIONS_VERSION */
    const char *producer;     /* NULL: not numbered */
    uint64_t sequence;
} loch_write_options;
#define LOCH_WRITE_OPTIONS_VERSION 1
#define LOCH_WRITE_OPTIONS_INIT {LOCH_WRITE_OPTIONS_VERSION, NULL, 0}
LOCH_EXTERN int loch_write_with(loch_lake *lake, const char *table, struct ArrowArrayStream *rows, int op,
                                const loch_write_options *opts, uint64_t *lsn, int *duplicate);
/* Returns once every LSN of the table's log up to lsn is durable. */
LOCH_EXTERN int loch_wait_durable(loch_lake *lake, const char *table, uint64_t lsn);

/* Rows as NDJSON text (one JSON object per line, members named as the table's columns)
 * written as loch_write_with does, parsed without the SQL engine: for small writes,
 * where the engine's reader would cost more than the write. Strict: an unknown member,
 * a value of the wrong kind, a line that is not an object fail with the line and column.
 * LOCH_EUNSUPPORTED when the table has a column type it does not parse (decimals,
 * dates, timestamps, nested types): loch_table_write_file reads those. *rows: the
 * rows the text held. */
LOCH_EXTERN int loch_write_ndjson(loch_lake *lake, const char *table, const char *text, size_t len, int op,
                                  const loch_write_options *opts, uint64_t *lsn, int *duplicate, int64_t *rows);

/* The two-phase sink API, for stream processors: exactly-once appends to a table
 * without a primary key, keyed by the sink's id (1 to 128 letters, digits, '_', '-',
 * '.') and a growing epoch (a checkpoint id).
 *   loch_txn_prepare writes the epoch's rows as data files and a prepared marker
 *     (_loch/txn/<table>/<sink>/<epoch>); nothing is visible yet. The stream's columns are
 *     matched to the table's by name and cast as INSERT does.
 *   loch_txn_commit commits them in one version with a txn action {appId: sink,
 *     version: epoch}: *version is that version, or -1 when the table already holds
 *     the epoch (a retry or a replay: a no-op that succeeds).
 *   loch_txn_abort removes a prepared epoch's files and marker (nothing when none).
 * After a restart, a sink commits the epochs it prepared and did not see committed;
 * those already in the table are no-ops. */
LOCH_EXTERN int loch_txn_prepare(loch_lake *lake, const char *table, const char *sink, int64_t epoch,
                                 struct ArrowArrayStream *rows);
LOCH_EXTERN int loch_txn_commit(loch_lake *lake, const char *table, const char *sink, int64_t epoch,
                                int64_t *version);
LOCH_EXTERN int loch_txn_abort(loch_lake *lake, const char *table, const char *sink, int64_t epoch);

#ifdef __cplusplus
}
#endif
#endif
