/*
 * formats/parquet.h - reading single values and whole columns of a Parquet file
 * without the SQL engine: what a point lookup by key needs (ops/lookup.c), where the
 * engine's Parquet scan costs milliseconds of fixed overhead for one row.
 *
 * The reader parses the footer (Thrift compact protocol), then reads only the pages
 * that hold the row asked for: one page header after another (a page's value count
 * says whether the row is in it) and then that page, decompressed only as far as the
 * value needs when the page is plain, fixed-width and has no nulls.
 *
 * Scope, and everything else refused with LOCH_EUNSUPPORTED (the caller then asks the
 * engine): top-level columns that are not nested or repeated; codecs UNCOMPRESSED and
 * SNAPPY; data pages v1 and v2; encodings PLAIN, PLAIN_DICTIONARY / RLE_DICTIONARY and
 * RLE (booleans). That is what loch (through DuckDB), Spark and delta-rs write by
 * default.
 *
 * All input is hostile. Every offset and length is checked against the bytes given
 * before it is used, Thrift nesting is bounded, allocations are bounded by what the
 * file could hold, and malformed bytes give LOCH_ECORRUPT naming the offset; never a
 * crash or a read outside data[0..size).
 *
 * A pq_file is used by one thread at a time (it keeps its decompression buffers).
 */
#ifndef LOCH_FORMATS_PARQUET_H
#define LOCH_FORMATS_PARQUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct pq_file pq_file;

/* What a column's values mean, from its physical type and annotations. */
typedef enum {
    PQ_BOOL,
    PQ_INT,       /* a signed integer of any width (INT32 / INT64, INT_8..INT_64) */
    PQ_FLOAT,
    PQ_DOUBLE,
    PQ_STRING,    /* BYTE_ARRAY annotated UTF8 / STRING / ENUM / JSON */
    PQ_DATE,      /* days since 1970-01-01 */
    PQ_TIMESTAMP, /* unit and utc say which; INT96 is read as nanoseconds, not UTC-adjusted */
    PQ_DECIMAL,   /* an unscaled integer, scale and precision */
    PQ_OTHER      /* binary, unsigned, time, interval, ...: values are read, never rendered */
} pq_kind;

typedef struct {
    const char *name;
    pq_kind kind;
    int physical;      /* Parquet's Type: 0 BOOLEAN .. 7 FIXED_LEN_BYTE_ARRAY */
    int type_length;
    bool optional;
    int scale, precision;
    int unit;          /* timestamps: 1000 ms, 1000000 us, 1000000000 ns per second */
    bool utc;          /* timestamps: isAdjustedToUTC */
} pq_column;

typedef struct {
    bool null;
    int64_t i;         /* BOOLEAN, INT32, INT64; INT96 as nanoseconds since 1970 */
    double d;          /* FLOAT, DOUBLE */
    const uint8_t *bytes; /* BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY: valid until the next read */
    size_t len;
} pq_value;

/* Parses the footer of data[0..size), which must stay valid until pq_free. */
int pq_open(pq_file **out, const uint8_t *data, size_t size);
/* The same for a file read piece by piece: read(ctx, off, buf, len) fills buf with the
 * file's bytes [off, off + len) or fails (an error set: a short read means the file
 * changed). Nothing is mapped, so a file cut short under the reader is an error, never a
 * fault. size: the file's size. */
typedef struct {
    int (*read)(void *ctx, uint64_t off, void *buf, size_t len);
    void *ctx;
} pq_reader;
int pq_open_reader(pq_file **out, const pq_reader *reader, uint64_t size);
void pq_free(pq_file *f);
/* Lets go of the buffers reads keep (bytes read, a decompressed page, a dictionary):
 * for a caller that holds many files open and reads from one at a time. */
void pq_trim(pq_file *f);
int64_t pq_rows(const pq_file *f);
/* The top-level column named `name` (exact), or -1 (also when it is nested). */
int pq_find(const pq_file *f, const char *name);
/* Whether the file has a top-level element of that name in any case, of any kind
 * (nested and repeated ones too): a column pq_find does not offer may still be there. */
bool pq_has_name(const pq_file *f, const char *name);
/* How many columns are offered, and the col-th (NULL when there is none). */
size_t pq_columns(const pq_file *f);
const pq_column *pq_column_at(const pq_file *f, int col);

/* The value of column col at 0-based row. */
int pq_read(pq_file *f, int col, int64_t row, pq_value *out);
/* Walks column col's pages once and remembers where each starts (and where each 64 KiB
 * of a compressed page starts), so that later pq_reads of it go straight there. */
int pq_prepare(pq_file *f, int col);
/* Every value of column col in row order: fn(ctx, row, value); a non-zero return from
 * fn stops the scan and is returned. */
int pq_scan(pq_file *f, int col, int (*fn)(void *ctx, int64_t row, const pq_value *v), void *ctx);

/* The value as text that the SQL engine's CAST to the column's type reads back as the
 * same value ("2026-11-28 10:00:00.5+00", "-12.50", "1e+300"); NULL renders nothing
 * (the caller passes SQL NULL). LOCH_EUNSUPPORTED for PQ_OTHER and for what the engine
 * would read otherwise than text can say (nanosecond timestamps, wide decimals, text
 * that is not UTF-8 or holds NUL). */
int pq_text(const pq_column *c, const pq_value *v, buf *out);

#endif
