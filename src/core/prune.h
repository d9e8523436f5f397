/*
 * core/prune.h - which data files a predicate cannot match, from their statistics.
 *
 * DELETE and UPDATE find their rows by scanning; a file whose min/max statistics prove
 * that no row of it satisfies the WHERE clause need not be opened at all (Delta's data
 * skipping). This reads the clause's text for the conjuncts it can judge and judges
 * each file by its stats JSON; everything else is left to the scan:
 *
 *   col = lit, col <> lit is not judged, col < lit, <=, >, >= (either side)
 *   col IN (lit, ...)        col BETWEEN lit AND lit        col IS NULL
 *
 * joined by AND at the top level (an OR anywhere at the top level: nothing is judged).
 * col is a top-level column of the table (bare, or alias.col); literals are integers
 * for integer columns (byte, short, integer, long) and 'strings' for string columns,
 * compared as the engine compares them (integers by value, strings byte by byte).
 * Delta's string bounds may be truncated (a prefix for the min, a prefix with U+10FFFF
 * appended for the max): both still bound the values, so the judgement stays sound.
 *
 * The one promise: a file is marked skippable only when no row of it can satisfy the
 * clause. A file without stats, a column without bounds, a clause not understood: kept.
 */
#ifndef LOCH_CORE_PRUNE_H
#define LOCH_CORE_PRUNE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/snapshot.h"

/* where: the clause's text (len bytes); alias: what the statement calls the table (or
 * its name); strings: whether string comparisons are byte comparisons (no collation
 * in effect), else string columns are not judged. skip[i] is set for each file of s
 * no row of which can match; the count of such files is returned (0 when nothing
 * could be judged), or LOCH_ENOMEM. */
int prune_files(const snapshot *s, const char *where, size_t len, const char *alias, bool strings, bool *skip);

#endif
