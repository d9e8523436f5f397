/*
 * core/stats.h - Delta's per-file statistics: which values may be bounds, and the JSON
 * an add action carries ({"numRecords":N,"minValues":{},"maxValues":{},"nullCount":{}}).
 *
 * Readers skip files by these bounds, so a wrong bound loses rows; a missing one only
 * costs a scan. Every rule below therefore leaves a value out rather than guess:
 *   - only flat columns (no struct, array or map) get statistics;
 *   - min/max only for byte, short, integer, long, float, double, decimal, string and
 *     date. Timestamps are left out: Delta wants them truncated to milliseconds, which
 *     would make a max that is not an upper bound;
 *   - a column with a NaN gets no min/max (NaN sorts above every number in some
 *     engines, below in others); an infinite or empty numeric bound is left out too;
 *   - a string (or date) longer than 32 bytes keeps a prefix as its min (still a
 *     lower bound, never cut inside a UTF-8 sequence) and has no max (a prefix is not
 *     an upper bound);
 *   - nullCount for every flat column the engine counted.
 * The engine's adapter supplies the raw values as text (compute_duckdb.c reads them
 * from COPY ... RETURN_STATS); nothing here knows the engine.
 */
#ifndef LOCH_CORE_STATS_H
#define LOCH_CORE_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct {
    const char *name;       /* as stored in the file */
    const char *delta_type; /* Delta type JSON: "\"long\"", "\"decimal(10,2)\"", or an object */
    const char *min, *max;  /* the engine's text, NULL when it has none */
    const char *null_count; /* NULL when not counted */
    bool has_nan;
} stats_column;

/* Whether a Delta type's values may be min/max bounds. */
bool stats_has_bounds(const char *delta_type);
/* Appends the statistics JSON of a file with rows rows to out. */
int stats_json(int64_t rows, const stats_column *cols, size_t n, buf *out);

#endif
