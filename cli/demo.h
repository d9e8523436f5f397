/*
 * cli/demo.h - `loch demo`: the staffing data set, ingested and queried.
 */
#ifndef LOCH_CLI_DEMO_H
#define LOCH_CLI_DEMO_H

#include "format.h"

/* Generates the data set into dir (NULL: <lake>/_loch/demo-data) unless it is there,
 * ingests it (a no-op the second time) and runs the seed's questions with timings. */
int demo_run(loch_lake *lake, const char *dir, output_format format);

#endif
