/*
 * loch/ingest.h - files in, a Delta table out.
 *
 *   loch_ingest_options o = LOCH_INGEST_OPTIONS_INIT;
 *   const char *files[] = {"people.csv", "more/"};
 *   loch_result *summary;
 *   loch_ingest(&summary, lake, "people", files, 2, &o);
 *
 * Each input (a file, a directory of files, a glob, or "-" for standard input) becomes
 * part of one commit. CSV/TSV columns get a type only when every value parses as it;
 * JSON keeps its own types and nested objects become parent_child columns; Parquet
 * keeps its schema. A file whose bytes are already in the table (by SHA-256, recorded
 * in the log) is skipped unless force is set.
 */
#ifndef LOCH_INGEST_H
#define LOCH_INGEST_H

#include "loch/query.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    unsigned int version;   /* LOCH_INGEST_OPTIONS_VERSION */
    const char *format;     /* csv, tsv, json, ndjson, parquet; NULL = by name or content */
    int overwrite;          /* replace the table's rows (and schema) in the same commit */
    const char *schema;     /* "col TYPE, ..." overriding inferred types; NULL = none */
    int force;              /* ingest files whose bytes the table already holds */
    const char *rejects;    /* CSV/TSV: bad rows go to this table (file, line, column, reason,
                               message, raw) and the good rows are committed; NULL = fail */
} loch_ingest_options;

#define LOCH_INGEST_OPTIONS_VERSION 1
#define LOCH_INGEST_OPTIONS_INIT {LOCH_INGEST_OPTIONS_VERSION, NULL, 0, NULL, 0, NULL}

/* On success *out has one row: table, version (-1 when nothing changed), rows, files,
 * skipped, bytes, seconds, schema (the table's Delta schema JSON), rejected. */
int loch_ingest(loch_result **out, loch_lake *lake, const char *table, const char *const *inputs, size_t count,
                const loch_ingest_options *opts);

#ifdef __cplusplus
}
#endif
#endif
