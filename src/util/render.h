/*
 * util/render.h - a result cell as JSON or CSV text: one rule for every front end.
 *
 * The CLI (`-f json|ndjson|csv`) and the HTTP API (json, ndjson, csv answers, whole or
 * streamed) print cells through these, so one value looks the same wherever it is
 * read. Cells arrive as the engine's text with a loch_kind:
 *
 *   kind     | JSON                                        | CSV
 *   ---------+---------------------------------------------+--------------------------
 *   NULL     | null                                        | empty field
 *   NUMBER   | as it is when it is a JSON number; else a   | as it is
 *            | string ("inf", "-inf", "nan": JSON has no   |
 *            | such numbers, and a reader must not choke)  |
 *   BOOL     | as it is (true / false)                     | as it is
 *   NESTED   | as it is (the engine renders it as JSON)    | quoted when needed
 *   STRING   | a JSON string                               | quoted when it holds a
 *            |                                             | comma, quote or line end
 */
#ifndef LOCH_UTIL_RENDER_H
#define LOCH_UTIL_RENDER_H

#include <stddef.h>

#include "loch/query.h"
#include "util/buf.h"

/* Whether v[0..len) is a number in JSON's grammar (RFC 8259 section 6). */
int render_is_json_number(const char *v, size_t len);
/* Appends a cell (v NULL: SQL NULL) as a JSON value by the table above. */
int render_json_value(buf *b, const char *v, size_t len, loch_kind kind);
/* Appends a cell (v NULL: SQL NULL) as a CSV field (RFC 4180 quoting). */
int render_csv_value(buf *b, const char *v, size_t len);

#endif
