/*
 * core/csvcheck.h - checks that every record of a delimited text file has the same
 * number of fields, so a ragged line fails ingest with its line number instead of
 * being dropped or read under a wrong dialect. Fed in pieces (streaming, any chunk
 * boundaries); quotes may hold delimiters and newlines; "" inside quotes is a quote.
 */
#ifndef LOCH_CORE_CSVCHECK_H
#define LOCH_CORE_CSVCHECK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char delim, quote;      /* quote 0 = none */
    int in_quote;
    int64_t line;           /* 1-based line where the current record started */
    int64_t cur_line;       /* physical line being read */
    int64_t fields;         /* fields so far in the current record */
    int64_t expect;         /* fields per record (from the first), -1 until known */
    int64_t bad_line;       /* first record with another count, 0 = none */
    int64_t bad_fields;
    int64_t records;
    int record_has_data;
} csvcheck;

void csvcheck_init(csvcheck *c, char delim, char quote);
/* Feeds bytes; returns 1 once a ragged record was found (see bad_line), else 0. */
int csvcheck_feed(csvcheck *c, const char *data, size_t n);
/* Ends the input (a last record without a newline); returns like csvcheck_feed. */
int csvcheck_finish(csvcheck *c);

#endif
