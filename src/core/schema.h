/*
 * core/schema.h - the table schema: Delta's JSON schema <-> columns loch can scan.
 *
 * A Delta schema is {"type":"struct","fields":[{name,type,nullable,metadata}]}, with
 * `type` a primitive name ("long", "decimal(10,2)", "timestamp_ntz") or a nested
 * {"type":"array"|"struct"|"map", ...} object. For each top-level field loch keeps the
 * logical name users see, the physical name in the Parquet files (they differ under
 * column mapping), and the DuckDB type the scan casts to. Column mapping names nested
 * fields too (delta.columnMapping.physicalName on every struct field, at any depth):
 * files hold the stored type, with physical names all the way down, and the scan
 * turns it into the logical one (schema_read_expr).
 *
 *   Delta            DuckDB           Delta          DuckDB
 *   byte             TINYINT          date           DATE
 *   short            SMALLINT         timestamp      TIMESTAMPTZ (UTC-adjusted)
 *   integer          INTEGER          timestamp_ntz  TIMESTAMP
 *   long             BIGINT           array<T>       T[]
 *   float / double   FLOAT / DOUBLE   struct         STRUCT("a" T, ...)
 *   decimal(p,s)     DECIMAL(p,s)     map<K,V>       MAP(K, V)
 *   string / binary  VARCHAR / BLOB   boolean        BOOLEAN
 */
#ifndef LOCH_CORE_SCHEMA_H
#define LOCH_CORE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/buf.h"

typedef struct {
    const char *name;       /* logical */
    const char *physical;   /* in the data files; == name without column mapping */
    int64_t field_id;       /* delta.columnMapping.id, or -1 */
    const char *delta_type; /* JSON text of the type ("\"long\"" or an object) */
    const char *duck_type;  /* DuckDB type for the scan's CAST */
    const char *stored_type; /* DuckDB type as in the files: physical names inside */
    bool renamed_inside;    /* some nested field has a physical name of its own */
    bool nullable;
    bool partition;         /* listed in metaData.partitionColumns */
    const char *metadata;   /* JSON text of the field's metadata object ("{}" when it has
                             * none): writers that rewrite the schema carry it through */
    bool generated;         /* metadata has delta.generationExpression (a generated column) */
    bool identity;          /* metadata has delta.identity.* keys (an identity column) */
} schema_field;

typedef struct {
    schema_field *fields;
    size_t count;
} schema;

/* Parses schemaString; partition columns are marked from the given list. */
int schema_parse(arena *a, const char *schema_string, const char **partition_columns,
                 size_t partition_count, schema *out);
/* The DuckDB type for a Delta type given as JSON text ("\"long\"", {"type":"array",...}). */
int schema_duck_type(arena *a, const char *delta_type_json, buf *out);
/* An SQL expression giving the value users see of field f from src, an expression
 * holding it as stored (of f->stored_type): a CAST for most fields, a rebuild of its
 * structs under logical names when column mapping renamed fields inside it. */
int schema_read_expr(arena *a, const schema_field *f, const char *src, buf *out);
/* One element of a Parquet file's schema, as the file lists them (root first, then
 * depth first): what id-mode column mapping matches fields by. */
typedef struct {
    const char *name;
    int64_t field_id;       /* -1 when the file gives none */
    int64_t children;       /* how many child elements follow (each with its subtree) */
    bool repeated;
    const char *converted;  /* "LIST", "MAP", "MAP_KEY_VALUE" or NULL */
} schema_pq_element;

/* For id mode (delta.columnMapping.mode = id): an SQL expression reading field f from
 * a file with schema els[0..n), matching the file's fields to the table's by field id
 * at every level (Delta protocol, "Reader Requirements for Column Mapping"), giving the
 * value as stored under physical names (f->stored_type); a field the file lacks reads
 * as NULL. *same is cleared when the file names some matched field otherwise than
 * its physical name, or lacks one (then the plain read by name would be wrong). A
 * malformed element list is refused (LOCH_ECORRUPT). */
int schema_id_read_expr(arena *a, const schema_field *f, const schema_pq_element *els, size_t n, buf *out,
                        int *same);
/* Finds a field by name, case-insensitively (Delta names are unique that way). */
const schema_field *schema_find(const schema *s, const char *name);

#endif
