/*
 * formats/csvtypes.h - the rules that give a column of delimited text a type. A column
 * is BIGINT, DOUBLE, BOOLEAN, DATE or TIMESTAMP only when every non-empty value is that
 * type's canonical spelling: what the SQL engine prints for a value of the type, so a
 * value read as the type gives back the text it came from. Anything else stays text,
 * which never loses a value (no 007 read as 7, no 1e400 as infinity).
 *
 * Each rule is written twice, side by side in one table (csv_types): in C, which
 * formats/csvcheck.c applies to plain files in its one scan, and in SQL, which
 * ingest/csv.c hands the engine for everything else (compressed files, rejects, other
 * dialects). tests/unit/test_csvtypes.c runs both halves of every rule over the same
 * values and requires the same answer, so a file has one schema however it is read.
 *
 * Invariants:
 *   - csv_types[t].kind == 1u << t, and the table's order is the order of preference:
 *     a column takes the first kind every one of its values has (integers are BIGINT,
 *     though they are canonical doubles too).
 *   - csv_value_kinds(s) is exactly the set of rules whose recognizer accepts s; it
 *     takes shortcuts (the scan calls it once per field) that the test checks.
 */
#ifndef LOCH_FORMATS_CSVTYPES_H
#define LOCH_FORMATS_CSVTYPES_H

#include <stddef.h>

#include "util/buf.h"

enum {
    CSV_BIGINT = 1,
    CSV_DOUBLE = 2,
    CSV_BOOLEAN = 4,
    CSV_DATE = 8,
    CSV_TIMESTAMP = 16,
    CSV_ALL = 31
};

enum { CSV_NTYPES = 5 };

typedef struct {
    unsigned kind;           /* its CSV_* bit */
    const char *sql_type;    /* the engine's type, as read_csv and CAST spell it */
    const char *delta_type;  /* the type a column of these values gets in the table's schema */
    /* Whether s[0..n) is the type's canonical spelling. */
    int (*accepts)(const char *s, size_t n);
    /* The same rule in SQL: a boolean expression over a VARCHAR named v, written as
     * CASE WHEN <a cheap check of the first character or the length> THEN <the exact
     * check> ELSE false END, so text columns never reach a failing TRY_CAST (which
     * formats an error per value). See csv_type_test. */
    const char *sql_test;
} csv_type;

extern const csv_type csv_types[CSV_NTYPES];

/* Appends t's SQL test with column (an SQL expression, e.g. a quoted identifier) in
 * place of v. 0, or LOCH_ENOMEM. */
int csv_type_test(buf *out, const csv_type *t, const char *column);

/* The kinds (CSV_* bits) whose canonical spelling s[0..n) is. */
unsigned csv_value_kinds(const char *s, size_t n);
/* The same, limited to the kinds in want (only their checks run). */
unsigned csv_value_kinds_in(const char *s, size_t n, unsigned want);
/* The kinds of a JSON number literal: an int64 is BIGINT (and DOUBLE when 16
 * characters or fewer keep every digit); a fraction or exponent is DOUBLE (JSON
 * numbers are) unless the exponent's magnitude passes 290; a larger integer is
 * neither, so its column keeps the exact digits as text. Nothing is checked when
 * want holds neither BIGINT nor DOUBLE. */
unsigned csv_number_kinds(const char *s, size_t n, unsigned want);

#endif
