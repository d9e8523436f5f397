/*
 * core/stats.h - Delta's per-file statistics: which values may be bounds, and the JSON
 * an add action carries ({"numRecords":N,"minValues":{},"maxValues":{},"nullCount":{}}).
 *
 * Readers skip files by these bounds, so a wrong bound loses rows; a missing one only
 * costs a scan. Every rule below therefore leaves a value out rather than guess:
 *   - only flat columns (no struct, array or map) get statistics;
 *   - min/max only for byte, short, integer, long, float, double, decimal, string, date
 *     and timestamp (with or without time zone). Delta writes timestamps in
 *     milliseconds ("2021-01-01T00:00:00.001Z", no Z without a zone): loch rounds the
 *     min down and the max up, so a max of .000001 is written .001, still a bound;
 *   - a column has both a min and a max or neither, and a file in which a flat column
 *     has values but gets neither (a boolean or binary column always, for now)
 *     carries no minValues/maxValues at all:
 *     delta-rs reads a bound missing from them as null and skips the file for filters
 *     on that column (a column of nulls only is fine: delta-rs takes its nullCount
 *     first);
 *   - a number is written only as a JSON number, so a column with a NaN or an infinity
 *     (which JSON cannot spell) gets no bounds;
 *   - a date is written only as YYYY-MM-DD in years 0001-9999; the engine's
 *     "0044-03-15 (BC)" or "12345-01-01" parse as null in some readers, which then
 *     skip the file;
 *   - a string bound is cut at its first NUL (a reader written in C would end the
 *     value there), else past 32 bytes (Delta keeps string bounds short), and a cut
 *     max gets a successor so that it still sorts above the value (Delta orders
 *     strings by UTF-8 bytes, the same as by code points):
 *       | cut              | min              | max                              |
 *       |------------------|------------------|----------------------------------|
 *       | at the first NUL | bytes before it  | bytes before it, then 0x01       |
 *       | past 32 bytes    | 32-byte prefix   | 32-byte prefix, then U+10FFFF    |
 *     U+10FFFF is the tie-breaker Spark and Delta truncate with; a value that goes on
 *     with U+10FFFF itself at the cut gets no bounds. A prefix never ends inside a
 *     UTF-8 sequence;
 *   - nullCount for every flat column the engine counted.
 * The engine's adapter supplies the raw values as text (compute_duckdb.c reads them
 * from COPY ... RETURN_STATS); nothing here knows the engine.
 */
#ifndef LOCH_CORE_STATS_H
#define LOCH_CORE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct {
    const char *name;        /* as stored in the file */
    const char *delta_type;  /* Delta type JSON: "\"long\"", "\"decimal(10,2)\"", or an object */
    const char *min, *max;   /* the engine's text, NULL when it has none */
    size_t min_len, max_len; /* their bytes: a string may hold a NUL */
    const char *null_count;  /* NULL when not counted */
    bool has_nan;
} stats_column;

/* Whether a Delta type's values may be min/max bounds. */
bool stats_has_bounds(const char *delta_type);
/* Appends the statistics JSON of a file with rows rows to out. */
int stats_json(int64_t rows, const stats_column *cols, size_t n, buf *out);

#endif
