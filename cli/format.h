/*
 * cli/format.h - rendering a loch_result the way the DuckDB CLI does: box on a
 * terminal, or csv, json (an array), ndjson, markdown on request.
 */
#ifndef LOCH_CLI_FORMAT_H
#define LOCH_CLI_FORMAT_H

#include <stdio.h>

#include "loch/loch.h"

typedef enum { FMT_BOX, FMT_CSV, FMT_JSON, FMT_NDJSON, FMT_MARKDOWN, FMT_PARQUET } output_format;

/* Parses a format name; returns -1 when unknown. */
int format_parse(const char *name);
const char *format_name(output_format f);
/* Writes r to out; max_rows bounds box output (first and last halves shown). */
int format_result(FILE *out, const loch_result *r, output_format f, size_t max_rows);

#endif
