/*
 * formats/jsonscan.h - one pass over JSON records (NDJSON lines, or the elements of one
 * top-level array, or a sequence of objects) that decides the table's columns and
 * their types by loch's conservative rule, without building the records.
 *
 * Every key path gets a node: which kinds of JSON value it held (seen) and which
 * canonical types all its scalars had (kinds, the CSV_* bits of formats/csvtypes.h).
 * A path is then typed:
 *   only objects       STRUCT of its members      only arrays     a LIST of its elements
 *   only booleans      BOOLEAN                    only strings    DATE or TIMESTAMP when
 *   only numbers       BIGINT when every one is                   all are canonical, else
 *                      an int64, DOUBLE when all                  VARCHAR
 *                      fit a double exactly enough, else VARCHAR (the exact digits)
 *   nothing but nulls, or a mix of kinds: VARCHAR (strings as text, others as JSON text)
 * so no value is rounded, truncated or turned into a JSON blob for a column of names.
 *
 * The scan reads a contiguous buffer (the caller maps the file). It is strict about
 * structure but not a validator: it gives up (failed, with a reason) on anything it
 * does not read exactly as the SQL engine would (escaped keys, non-object records,
 * nesting deeper than 64, objects with more than 1000 members), and the caller then
 * lets the engine decide. Two scans of adjacent NDJSON ranges merge into one.
 */
#ifndef LOCH_FORMATS_JSONSCAN_H
#define LOCH_FORMATS_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum { JSON_SEEN_NUM = 1, JSON_SEEN_STR = 2, JSON_SEEN_BOOL = 4, JSON_SEEN_OBJ = 8, JSON_SEEN_ARR = 16 };

typedef struct jsonscan_node jsonscan_node;
struct jsonscan_node {
    char *name;              /* owned; member name (NULL for the root and array elements) */
    size_t len;
    unsigned seen;           /* JSON_SEEN_* */
    unsigned kinds;          /* CSV_* kinds every scalar had */
    jsonscan_node *child, *last, *next; /* members, in order of first appearance */
    jsonscan_node *hint;     /* the member expected next: records usually repeat an order */
    jsonscan_node *elem;     /* the elements of arrays */
    size_t nchild;
};

typedef struct {
    jsonscan_node root;      /* the records */
    int64_t records;
    int array_doc;           /* the input is one top-level array of records */
    int failed;
    const char *why;         /* static text, when failed */
    int invalid;             /* failed because the text is not JSON ... */
    size_t invalid_at;       /* ... at this offset into the text scanned */
    /* Called between records after every `every` bytes (when set): how far the scan
     * is into the text it was given. The caller may release the pages behind it. */
    void (*progress)(void *ctx, size_t done);
    void *ctx;
    size_t every;
} jsonscan;

void jsonscan_init(jsonscan *s);
void jsonscan_free(jsonscan *s);
/* Scans text[0..n): whole records only (an NDJSON range must start and end at line
 * boundaries). ndjson: one record per line; else an array of records or a sequence.
 * Returns 0, or -1 when the scan gave up (s->failed, s->why). */
int jsonscan_run(jsonscan *s, const char *text, size_t n, int ndjson);
/* Adds b's findings (a later range of the same file) to a. -1 on allocation failure. */
int jsonscan_merge(jsonscan *a, const jsonscan *b);
/* Appends the SQL type of a node ("BIGINT", "STRUCT(\"a\" DATE, ...)", "VARCHAR[]"). */
int jsonscan_type(const jsonscan_node *node, buf *out);

#endif
