/*
 * loch/query.h - running SQL against a lake.
 *
 * Lake tables are named directly (`SELECT * FROM trips`); a version or a time picks an
 * older snapshot (`"trips@v3"`, `"trips@2026-11-21T10:00:00Z"`). Within one statement
 * every reference to a table sees the same snapshot. CREATE TABLE, INSERT and DROP
 * TABLE on lake tables are Delta commits. Results are materialized.
 */
#ifndef LOCH_QUERY_H
#define LOCH_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "loch/lake.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loch_result loch_result;

typedef enum {
    LOCH_KIND_STRING, /* quote in JSON */
    LOCH_KIND_NUMBER,
    LOCH_KIND_BOOL,
    LOCH_KIND_NESTED  /* list, struct, map: text is the engine's rendering */
} loch_kind;

/* Runs every statement in sql; *out holds the last one's result (may have 0 columns). */
LOCH_EXTERN int loch_sql(loch_result **out, loch_lake *lake, const char *sql);
/* What loch_sql would run, without running anything: one row per statement as loch
 * splits sql (statement, verb: its first word in capitals, reads: true when the engine's
 * parser reads it as a query, or EXPLAIN of one). A statement that does not parse does
 * not read. A page shows it before sending text it did not write (docs/ui.md). */
LOCH_EXTERN int loch_sql_check(loch_result **out, loch_lake *lake, const char *sql);
/* A value for a $N parameter: text in the form of its kind ("12", "1.5", "true", any
 * text for a string); text NULL is SQL NULL. */
typedef struct {
    loch_kind kind;
    const char *text;
} loch_param;

/* Runs one query with $1..$N bound to params (prepared by the engine, never spliced
 * into the text). */
LOCH_EXTERN int loch_sql_params(loch_result **out, loch_lake *lake, const char *sql, const loch_param *params,
                                size_t nparams);
/* A query's rows a chunk at a time (about 2,048 rows), for results of any size: they
 * are never all in memory. Cells are text (nested values as JSON), valid until the
 * next loch_stream_next. The lake handle serves the stream until it is freed. */
typedef struct loch_stream loch_stream;
LOCH_EXTERN int loch_sql_stream(loch_stream **out, loch_lake *lake, const char *sql, const loch_param *params,
                                size_t nparams);
LOCH_EXTERN size_t loch_stream_columns(const loch_stream *s);
LOCH_EXTERN const char *loch_stream_name(const loch_stream *s, size_t col);
LOCH_EXTERN const char *loch_stream_type(const loch_stream *s, size_t col);
LOCH_EXTERN loch_kind loch_stream_kind(const loch_stream *s, size_t col);
/* The next chunk: *rows is its row count, 0 at the end. */
LOCH_EXTERN int loch_stream_next(loch_stream *s, size_t *rows);
/* A cell of the current chunk: *len bytes, not NUL-terminated; NULL for SQL NULL. */
LOCH_EXTERN const char *loch_stream_cell(loch_stream *s, size_t row, size_t col, size_t *len);
LOCH_EXTERN void loch_stream_free(loch_stream *s);

/* Runs one query and writes its rows to a file: format "parquet", "csv" or "json". */
LOCH_EXTERN int loch_sql_export(loch_lake *lake, const char *sql, const char *format, const char *path);

LOCH_EXTERN size_t loch_result_columns(const loch_result *r);
LOCH_EXTERN size_t loch_result_rows(const loch_result *r);
LOCH_EXTERN const char *loch_result_name(const loch_result *r, size_t col);
LOCH_EXTERN const char *loch_result_type(const loch_result *r, size_t col);
LOCH_EXTERN loch_kind loch_result_kind(const loch_result *r, size_t col);
/* The cell as text, owned by the caller (loch_free), or NULL for SQL NULL. */
LOCH_EXTERN char *loch_result_text(const loch_result *r, size_t row, size_t col);
/* A message for statements that return no rows ("created table trips at version 0"). */
LOCH_EXTERN const char *loch_result_message(const loch_result *r);
LOCH_EXTERN void loch_result_free(loch_result *r);

#ifdef __cplusplus
}
#endif
#endif
