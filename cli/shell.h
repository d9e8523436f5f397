/*
 * cli/shell.h - `loch shell`, the interactive SQL prompt.
 */
#ifndef LOCH_CLI_SHELL_H
#define LOCH_CLI_SHELL_H

#include "format.h"

int shell_run(loch_lake *lake, output_format format);

#endif
