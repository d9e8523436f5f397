/*
 * formats/csvcheck.h - one pass over a delimited text file that (1) checks every record
 * has the same number of fields, so a ragged line fails ingest with its line number
 * instead of being dropped or read under a wrong dialect, and (2) optionally decides
 * each column's type by loch's conservative rule: a column is BIGINT, DOUBLE, BOOLEAN,
 * DATE or TIMESTAMP only when every non-empty value is that type's canonical spelling
 * (the rules of formats/csvtypes.h), else text.
 *
 * Fed in pieces (streaming, any chunk boundaries); quotes may hold delimiters and
 * newlines; "" inside quotes is a quote. Empty fields, quoted or not, are NULL and
 * decide nothing (as the SQL engine reads them). A field whose shape is anything but
 * plain or wholly quoted (a quote inside, text after a closing quote, a stray CR)
 * makes its column text: text is always a safe reading.
 */
#ifndef LOCH_FORMATS_CSVCHECK_H
#define LOCH_FORMATS_CSVCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "formats/csvtypes.h"

enum { CSV_RAGGED, CSV_TOO_LONG, CSV_UNCLOSED };

typedef struct {
    char delim, quote;      /* quote 0 = none */
    int in_quote;
    int64_t line;           /* 1-based line where the current record started */
    int64_t cur_line;       /* physical line being read */
    int64_t fields;         /* fields so far in the current record */
    int64_t expect;         /* fields per record (from the first), -1 until known */
    int64_t bad_line;       /* first record with another count (or too long), 0 = none */
    int64_t bad_fields;
    int bad_kind;           /* CSV_RAGGED, CSV_TOO_LONG (longer than max_record) or CSV_UNCLOSED
                               (a quote opened on bad_line never closes) */
    int64_t quote_line;     /* line where the open quote opened */
    int64_t bad_record;     /* which record (1-based) bad_line is in */
    int64_t max_record;     /* bytes a record may span, 0 = any */
    int64_t consumed;       /* bytes fed so far */
    int64_t record_start;   /* offset of the current record's first byte */
    int64_t longest;        /* bytes of the longest record so far */
    int64_t records;
    int64_t first_record_line; /* line where the first record started, 0 = none yet */
    int record_has_data;
    /* typing (csvcheck_types) */
    int typing;
    int64_t skip_records;   /* header records that are not typed */
    unsigned char *kinds;   /* owned; per column, the kinds every value so far has */
    unsigned char *seen;    /* owned; per column, 1 once a non-empty value came */
    size_t ncols, cap;
    int oom;
    char field[32];         /* the current field's bytes, while short enough to type */
    size_t flen;
    int fstate;             /* 0 plain, 1 opened by a quote, 2 quote closed */
    int fodd;               /* the field's shape is not typable */
    int cr;                 /* a CR outside quotes is pending (ok only before LF) */
    int want;               /* the current field's bytes are kept (its column may be typed) */
    unsigned char special[256]; /* bytes the scan stops at: delimiter, quote, CR, LF */
} csvcheck;

void csvcheck_init(csvcheck *c, char delim, char quote);
/* Turns on typing; the first header_records records are names, not values. */
void csvcheck_types(csvcheck *c, int64_t header_records);
/* Feeds bytes; returns 1 once a ragged record was found (see bad_line), else 0. */
int csvcheck_feed(csvcheck *c, const char *data, size_t n);
/* Ends the input (a last record without a newline); returns like csvcheck_feed. */
int csvcheck_finish(csvcheck *c);
/* Whether the scan stands between records (not inside a quote or a line) and past the
 * header: a second scan that started at this point reads the rest as this one would. */
int csvcheck_at_record_start(const csvcheck *c);
/* Joins the finished scan b of the bytes after a's (b started where a stood at a
 * record start, with the same dialect, typing from its first record) into a, as if a
 * had read them too; a is then finished. */
int csvcheck_merge(csvcheck *a, const csvcheck *b);
/* After finish: column i's type, one CSV_* kind (the first in enum order every value
 * has) or 0 for text (also for a column without values). */
unsigned csvcheck_column_kind(const csvcheck *c, size_t i);
void csvcheck_free(csvcheck *c);

#endif
