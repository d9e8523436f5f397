/*
 * loch/table.h - listing and inspecting tables, and their history.
 *
 * These answer with a loch_result (the same shape as a query), so every front end
 * renders them the same way.
 */
#ifndef LOCH_TABLE_H
#define LOCH_TABLE_H

#include "loch/query.h"

#ifdef __cplusplus
extern "C" {
#endif

/* name, version, files, rows, bytes, updated: one row per table. */
LOCH_EXTERN int loch_table_list(loch_result **out, loch_lake *lake);
/* column, type (Delta), sql_type, nullable, partition: one row per column. */
LOCH_EXTERN int loch_table_describe(loch_result **out, loch_lake *lake, const char *table);
/* version, timestamp, operation, parameters, metrics: newest first. */
LOCH_EXTERN int loch_table_history(loch_result **out, loch_lake *lake, const char *table);
/* Deletes the table and all its files. */
LOCH_EXTERN int loch_table_drop(loch_lake *lake, const char *table, int if_exists);

#ifdef __cplusplus
}
#endif
#endif
