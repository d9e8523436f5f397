/*
 * formats/ndjson_arrow.h - NDJSON rows (one JSON object per line) into one Arrow batch
 * of given columns, with no SQL engine: the streaming write path's parser for small
 * requests (POST /v1/tables/t/rows), where the engine's reader costs more than the write.
 *
 * Strict, as the rows go straight into a table: a member that names no column, a value
 * of the wrong kind (a string for an integer column, 1.5 for an integer, an integer out
 * of the column's range) or a line that is not an object is an error naming the line and
 * the column. A column no object mentions is all NULL. Types: int64 "l", int32 "i",
 * int16 "s", int8 "c", double "g", float "f", bool "b", utf8 "u"; anything else is
 * LOCH_EUNSUPPORTED (the caller then takes the engine's path).
 */
#ifndef LOCH_FORMATS_NDJSON_ARROW_H
#define LOCH_FORMATS_NDJSON_ARROW_H

#include <stddef.h>
#include <stdint.h>

#include "formats/arrow.h"

/* Whether every format is one this parser fills. */
int ndjson_arrow_supported(const char *const *formats, size_t ncols);
/* Parses text[0..len) into a stream of one batch (none when there are no rows) of the
 * ncols columns (names[i], formats[i]); the stream owns its memory. */
int ndjson_arrow_read(const char *text, size_t len, const char *const *names, const char *const *formats,
                      size_t ncols, struct ArrowArrayStream *out, int64_t *rows);

#endif
