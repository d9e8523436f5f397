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

/* Where an ingest stands, for a progress display. */
typedef struct {
    const char *file;       /* the input being worked on, as named */
    const char *phase;      /* "scanning", "writing" or "committing" */
    int64_t bytes_done;     /* input bytes through the ingest so far (an estimate while writing) */
    int64_t bytes_total;    /* input bytes of all the inputs */
    int64_t rows;           /* rows read into the table so far */
    double seconds;         /* since the ingest started */
} loch_ingest_progress;

typedef void (*loch_ingest_progress_cb)(const loch_ingest_progress *p, void *ctx);

typedef struct {
    unsigned int version;   /* LOCH_INGEST_OPTIONS_VERSION */
    const char *format;     /* csv, tsv, json, ndjson, parquet; NULL = by name or content */
    int overwrite;          /* replace the table's rows (and schema) in the same commit */
    const char *schema;     /* "col TYPE, ..." overriding inferred types; NULL = none */
    int force;              /* ingest files whose bytes the table already holds */
    const char *rejects;    /* CSV/TSV: bad rows go to this table (file, line, column, reason,
                               message, raw) and the good rows are committed; NULL = fail */
    /* version 2: */
    loch_ingest_progress_cb progress; /* called about five times a second from a helper
                                         thread while the ingest runs; NULL = none */
    void *progress_ctx;
    const char *encoding;   /* CSV/TSV text: utf-8, utf-16 or latin-1; NULL = UTF-8, or
                               UTF-16 when the file starts with its byte order mark */
    const char *sha256;     /* with a single input file: its SHA-256 (64 hex digits), when
                               the caller computed it already (an upload, hashed as it
                               arrived); the ingest then does not read the file for it */
    /* version 3: */
    const char *name;       /* with a single input: the name it is shown and recorded by (an
                               upload's own file name; its directory part is dropped) instead
                               of the path it was read from; NULL = the path */
} loch_ingest_options;

#define LOCH_INGEST_OPTIONS_VERSION 3
#define LOCH_INGEST_OPTIONS_INIT {LOCH_INGEST_OPTIONS_VERSION, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL}

/* On success *out has one row: table, version (-1 when nothing changed), rows, files,
 * skipped, bytes, seconds, schema (the table's Delta schema JSON), rejected. */
LOCH_EXTERN int loch_ingest(loch_result **out, loch_lake *lake, const char *table, const char *const *inputs,
                            size_t count, const loch_ingest_options *opts);

#ifdef __cplusplus
}
#endif
#endif
