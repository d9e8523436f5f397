/*
 * loch/table.h - listing and inspecting tables, and their history.
 *
 * These answer with a loch_result (the same shape as a query), so every front end
 * renders them the same way.
 */
#ifndef LOCH_TABLE_H
#define LOCH_TABLE_H

#include "loch/query.h"

#ifdef __cplusplus
extern "C" {
#endif

/* name, version, files, rows, bytes, updated: one row per table. */
LOCH_EXTERN int loch_table_list(loch_result **out, loch_lake *lake);
/* column, type (Delta), sql_type, nullable, partition: one row per column. */
LOCH_EXTERN int loch_table_describe(loch_result **out, loch_lake *lake, const char *table);
/* version, timestamp, operation, parameters, metrics: newest first. */
LOCH_EXTERN int loch_table_history(loch_result **out, loch_lake *lake, const char *table);
/* Deletes the table and all its files. */
LOCH_EXTERN int loch_table_drop(loch_lake *lake, const char *table, int if_exists);

/* What a write does with its rows. On a table with a primary key, an insert is an
 * upsert (as INSERT is), a delete needs only the key's columns; a table without one
 * (its log on: table property loch.wal.enabled = 'true') takes inserts only, and an
 * upsert there, with no key to match, is an insert. */
typedef enum { LOCH_WRITE_UPSERT = 1, LOCH_WRITE_INSERT = 2, LOCH_WRITE_DELETE = 3 } loch_write_op;

/* Writes the rows of a file (format "csv", "ndjson", "json", "parquet" or "arrow";
 * NULL: from the name's extension) to a table with a primary key, through its
 * write-ahead log: one write, durable when it returns. The result's message says the
 * rows and the last LSN. */
LOCH_EXTERN int loch_table_write_file(loch_result **out, loch_lake *lake, const char *table, const char *path,
                                      const char *format, loch_write_op op);
/* The same numbered by a producer (loch/write.h: exactly once); producer NULL: not
 * numbered. A repeated sequence answers with the original LSN and duplicate true. */
LOCH_EXTERN int loch_table_write_file_from(loch_result **out, loch_lake *lake, const char *table, const char *path,
                                           const char *format, loch_write_op op, const char *producer,
                                           uint64_t sequence);
/* Flushes a table's write-ahead log into one Delta commit (as FLUSH t does); NULL:
 * every table's. out may be NULL. */
LOCH_EXTERN int loch_table_flush(loch_result **out, loch_lake *lake, const char *table);
/* Flushes the tables whose write-ahead log holds a write older than the table's
 * loch.wal.flushAge (seconds, default 60); *flushed counts them. `loch serve` calls it
 * every second. */
LOCH_EXTERN int loch_table_flush_aged(loch_lake *lake, int *flushed);
/* table, primary_key, assigned, durable, visible, flushed, lag, log_bytes, segments:
 * one row per table with a primary key. LSNs: the last handed out, the last durable,
 * the last queries see, the last in the Delta table; lag = visible - flushed. */
LOCH_EXTERN int loch_lake_status(loch_result **out, loch_lake *lake);

#ifdef __cplusplus
}
#endif
#endif
