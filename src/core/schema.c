/*
 * core/schema.c - parsing Delta schemas and mapping their types to DuckDB's.
 */
#include "core/schema.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"
#include "util/json.h"

static int duck_type(const json *t, buf *out, int depth, int physical);

/* A struct field's name in the data files: its physical name under column mapping. */
static const char *field_name(const json *f, int physical)
{
    const char *name = json_get_str(f, "name");
    const char *phys = physical ? json_get_str(json_get(f, "metadata"), "delta.columnMapping.physicalName") : NULL;
    return phys ? phys : name;
}

static int primitive(const char *name, buf *out)
{
    static const struct { const char *delta, *duck; } map[] = {
        {"byte", "TINYINT"},   {"short", "SMALLINT"}, {"integer", "INTEGER"},
        {"long", "BIGINT"},    {"float", "FLOAT"},    {"double", "DOUBLE"},
        {"string", "VARCHAR"}, {"binary", "BLOB"},    {"boolean", "BOOLEAN"},
        {"date", "DATE"},      {"timestamp", "TIMESTAMPTZ"},
        {"timestamp_ntz", "TIMESTAMP"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(name, map[i].delta) == 0)
            return buf_puts(out, map[i].duck);
    int p, s, n = 0;
    if (sscanf(name, "decimal(%d,%d)%n", &p, &s, &n) == 2 && name[n] == '\0' && p >= 1 &&
        p <= 38 && s >= 0 && s <= p)
        return buf_printf(out, "DECIMAL(%d,%d)", p, s);
    if (sscanf(name, "decimal(%d, %d)%n", &p, &s, &n) == 2 && name[n] == '\0' && p >= 1 &&
        p <= 38 && s >= 0 && s <= p)
        return buf_printf(out, "DECIMAL(%d,%d)", p, s);
    return error_set(LOCH_EUNSUPPORTED, "column type \"%s\" is not supported", name);
}

static int struct_type(const json *t, buf *out, int depth, int physical)
{
    const json *fields = json_get(t, "fields");
    if (!fields || fields->type != JSON_ARRAY || fields->len == 0)
        return error_set(LOCH_ECORRUPT, "struct type without fields");
    int rc = buf_puts(out, "STRUCT(");
    for (const json *f = fields->child; rc == 0 && f; f = f->next) {
        const char *name = field_name(f, physical);
        if (!name || !json_get_str(f, "name"))
            return error_set(LOCH_ECORRUPT, "struct field without a name");
        if (f != fields->child)
            rc = buf_puts(out, ", ");
        rc = rc ? rc : buf_put_sql_ident(out, name);
        rc = rc ? rc : buf_putc(out, ' ');
        rc = rc ? rc : duck_type(json_get(f, "type"), out, depth + 1, physical);
    }
    return rc ? rc : buf_putc(out, ')');
}

static int duck_type(const json *t, buf *out, int depth, int physical)
{
    if (depth > 64)
        return error_set(LOCH_ECORRUPT, "schema nested too deeply");
    if (!t)
        return error_set(LOCH_ECORRUPT, "schema field without a type");
    if (t->type == JSON_STRING)
        return primitive(t->str, out);
    const char *kind = json_get_str(t, "type");
    if (!kind)
        return error_set(LOCH_ECORRUPT, "schema type is neither a name nor an object");
    int rc;
    if (strcmp(kind, "array") == 0) {
        rc = duck_type(json_get(t, "elementType"), out, depth + 1, physical);
        return rc ? rc : buf_puts(out, "[]");
    }
    if (strcmp(kind, "map") == 0) {
        rc = buf_puts(out, "MAP(");
        rc = rc ? rc : duck_type(json_get(t, "keyType"), out, depth + 1, physical);
        rc = rc ? rc : buf_puts(out, ", ");
        rc = rc ? rc : duck_type(json_get(t, "valueType"), out, depth + 1, physical);
        return rc ? rc : buf_putc(out, ')');
    }
    if (strcmp(kind, "struct") == 0)
        return struct_type(t, out, depth, physical);
    return error_set(LOCH_EUNSUPPORTED, "column type \"%s\" is not supported", kind);
}

/* Whether some struct field below t is stored under another name than it is shown. */
static int renamed_inside(const json *t, int depth)
{
    if (!t || t->type != JSON_OBJECT || depth > 64)
        return 0;
    const json *fields = json_get(t, "fields");
    for (const json *f = fields && fields->type == JSON_ARRAY ? fields->child : NULL; f; f = f->next) {
        const char *name = json_get_str(f, "name"), *phys = field_name(f, 1);
        if ((name && phys && strcmp(name, phys) != 0) || renamed_inside(json_get(f, "type"), depth + 1))
            return 1;
    }
    return renamed_inside(json_get(t, "elementType"), depth + 1) || renamed_inside(json_get(t, "keyType"), depth + 1) ||
           renamed_inside(json_get(t, "valueType"), depth + 1);
}

/* An expression turning src, a value as stored (physical names at every level), into
 * the value users see: structs rebuilt field by field under their logical names,
 * list elements and map keys and values converted in lambdas, leaves cast to their
 * types. A NULL struct stays NULL (struct_pack alone would make one of NULL fields). */
static int convert(const json *t, const char *src, buf *out, int depth)
{
    buf type = BUF_INIT, inner = BUF_INIT;
    int rc = depth > 64 ? error_set(LOCH_ECORRUPT, "schema nested too deeply") : 0;
    const char *kind = t && t->type == JSON_OBJECT ? json_get_str(t, "type") : NULL;
    if (rc == 0 && (!kind || !renamed_inside(t, 0))) {
        rc = duck_type(t, &type, depth, 0);
        rc = rc ? rc : buf_printf(out, "CAST(%s AS %s)", src, type.data);
    } else if (rc == 0 && strcmp(kind, "struct") == 0) {
        rc = buf_printf(out, "CASE WHEN (%s) IS NULL THEN NULL ELSE system.main.struct_pack(", src);
        const json *fields = json_get(t, "fields");
        for (const json *f = fields->child; rc == 0 && f; f = f->next) {
            buf_clear(&inner);
            rc = (f != fields->child ? buf_puts(out, ", ") : 0) || buf_put_sql_ident(out, json_get_str(f, "name")) ||
                 buf_puts(out, " := ") || buf_printf(&inner, "system.main.struct_extract(%s, ", src) ||
                 buf_put_sql_str(&inner, field_name(f, 1)) || buf_putc(&inner, ')') ? LOCH_ENOMEM : 0;
            rc = rc ? rc : convert(json_get(f, "type"), inner.data, out, depth + 1);
        }
        rc = rc ? rc : buf_puts(out, ") END");
    } else if (rc == 0 && strcmp(kind, "array") == 0) {
        rc = buf_printf(out, "system.main.list_transform(%s, lambda e%d: ", src, depth);
        rc = rc ? rc : buf_printf(&inner, "e%d", depth);
        rc = rc ? rc : convert(json_get(t, "elementType"), inner.data, out, depth + 1);
        rc = rc ? rc : buf_putc(out, ')');
    } else if (rc == 0) { /* map */
        rc = buf_printf(out, "system.main.map(system.main.list_transform(system.main.map_keys(%s), lambda k%d: ",
                        src, depth);
        rc = rc ? rc : buf_printf(&inner, "k%d", depth);
        rc = rc ? rc : convert(json_get(t, "keyType"), inner.data, out, depth + 1);
        rc = rc ? rc : buf_printf(out, "), system.main.list_transform(system.main.map_values(%s), lambda v%d: ",
                                  src, depth);
        buf_clear(&inner);
        rc = rc ? rc : buf_printf(&inner, "v%d", depth);
        rc = rc ? rc : convert(json_get(t, "valueType"), inner.data, out, depth + 1);
        rc = rc ? rc : buf_puts(out, "))");
    }
    buf_free(&type);
    buf_free(&inner);
    return rc;
}

static int parse_field(arena *a, const json *f, schema_field *out)
{
    buf b = BUF_INIT;
    int rc;
    out->name = json_get_str(f, "name");
    if (!out->name)
        return error_set(LOCH_ECORRUPT, "schema field without a name");
    const json *type = json_get(f, "type");
    if ((rc = duck_type(type, &b, 0, 0)) < 0) {
        error_prefix("column \"%s\": ", out->name);
        goto cleanup;
    }
    out->duck_type = arena_strdup(a, b.data);
    out->stored_type = out->duck_type;
    out->renamed_inside = renamed_inside(type, 0);
    if (out->renamed_inside) {
        buf_clear(&b);
        if ((rc = duck_type(type, &b, 0, 1)) < 0)
            goto cleanup;
        out->stored_type = arena_strdup(a, b.data);
    }
    buf_clear(&b);
    if ((rc = json_write(&b, type)) < 0)
        goto cleanup;
    out->delta_type = arena_strdup(a, b.data);
    out->nullable = json_get_bool(f, "nullable", true);
    const json *meta = json_get(f, "metadata");
    const char *phys = json_get_str(meta, "delta.columnMapping.physicalName");
    out->physical = phys ? phys : out->name;
    out->field_id = json_get_i64(meta, "delta.columnMapping.id", -1);
    if (!out->duck_type || !out->delta_type || !out->stored_type)
        rc = LOCH_ENOMEM;
cleanup:
    buf_free(&b);
    return rc;
}

int schema_parse(arena *a, const char *schema_string, const char **partition_columns,
                 size_t partition_count, schema *out)
{
    json *root;
    int rc = json_parse(a, schema_string, strlen(schema_string), &root);
    if (rc < 0)
        return error_prefix("schemaString: ");
    const json *fields = json_get(root, "fields");
    if (!fields || fields->type != JSON_ARRAY)
        return error_set(LOCH_ECORRUPT, "schemaString is not a struct with fields");
    out->count = 0;
    out->fields = arena_alloc(a, sizeof(schema_field) * (fields->len + 1));
    if (!out->fields)
        return LOCH_ENOMEM;
    for (const json *f = fields->child; f; f = f->next) {
        schema_field *sf = &out->fields[out->count];
        if ((rc = parse_field(a, f, sf)) < 0)
            return rc;
        if (schema_find(out, sf->name))
            return error_set(LOCH_ECORRUPT, "duplicate column \"%s\" in schema", sf->name);
        out->count++;
    }
    for (size_t i = 0; i < partition_count; i++) {
        schema_field *sf = (schema_field *)schema_find(out, partition_columns[i]);
        if (!sf)
            return error_set(LOCH_ECORRUPT, "partition column \"%s\" is not in the schema",
                             partition_columns[i]);
        sf->partition = true;
    }
    return 0;
}

const schema_field *schema_find(const schema *s, const char *name)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcasecmp(s->fields[i].name, name) == 0)
            return &s->fields[i];
    return NULL;
}

int schema_duck_type(arena *a, const char *delta_type_json, buf *out)
{
    json *t;
    int rc = json_parse(a, delta_type_json, strlen(delta_type_json), &t);
    return rc ? rc : duck_type(t, out, 0, 0);
}

int schema_read_expr(arena *a, const schema_field *f, const char *src, buf *out)
{
    json *t;
    int rc = json_parse(a, f->delta_type, strlen(f->delta_type), &t);
    return rc ? rc : convert(t, src, out, 0);
}
