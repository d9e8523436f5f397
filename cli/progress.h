/*
 * cli/progress.h - the progress line of long commands on a terminal.
 */
#ifndef LOCH_CLI_PROGRESS_H
#define LOCH_CLI_PROGRESS_H

#include <stdio.h>

#include "loch/loch.h"

typedef struct {
    FILE *out;        /* a terminal, or NULL: nothing is drawn */
    const char *what; /* the line's label, e.g. the table name */
    int drawn;        /* a line is on the screen */
    double after;     /* seconds before the first line: short work stays quiet */
} cli_progress;

/* Draws nothing unless out is a terminal. */
void cli_progress_init(cli_progress *p, FILE *out, const char *what);
/* A loch_ingest_progress_cb: redraws the line in place. */
void cli_progress_ingest(const loch_ingest_progress *p, void *ctx);
/* Erases the line, if one was drawn. */
void cli_progress_done(cli_progress *p);

#endif
