/*
 * adapters/catalog.h - the lake's index in _loch/catalog.sqlite.
 *
 * Never the truth (ops/tables.c): every row can be rebuilt from the tables' logs,
 * and is, whenever the file is missing or a row is behind the log. It makes listing a
 * lake with many tables cheap and keeps schema history queryable.
 *
 *   tables(name PK, version, files, rows, bytes, schema, updated_ms)
 *   schema_history(name, version, schema, PK(name, version))
 */
#ifndef LOCH_ADAPTERS_CATALOG_H
#define LOCH_ADAPTERS_CATALOG_H

#include <stdint.h>

typedef struct catalog catalog;

typedef struct {
    const char *name;
    int64_t version, files, rows, bytes, updated_ms;
    const char *schema;
} catalog_table;

int catalog_open(catalog **out, const char *path);
void catalog_free(catalog *c);
int catalog_put(catalog *c, const catalog_table *t);
int catalog_delete(catalog *c, const char *name);
/* Fills *t (strings valid until the next catalog call) or returns LOCH_ENOTFOUND. */
int catalog_get(catalog *c, const char *name, catalog_table *t);

#endif
