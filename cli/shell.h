/*
 * cli/shell.h - `loch shell`, the interactive SQL prompt.
 */
#ifndef LOCH_CLI_SHELL_H
#define LOCH_CLI_SHELL_H

#include <signal.h>

#include "format.h"

/* Set by the SIGINT handler (main.c): Ctrl-C at the prompt drops the pending input. */
extern volatile sig_atomic_t cli_interrupted;

int shell_run(loch_lake *lake, output_format format);

#endif
