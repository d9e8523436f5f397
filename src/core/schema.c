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
    /* Writers must compute these columns' values (Delta protocol, "Generated Columns",
     * "Identity Columns"); legacy writer versions 4 to 6 name no feature for them. */
    out->generated = json_get(meta, "delta.generationExpression") != NULL;
    out->identity = false;
    for (const json *k = meta && meta->type == JSON_OBJECT ? meta->child : NULL; k; k = k->next)
        out->identity = out->identity || (k->key && strncmp(k->key, "delta.identity.", 15) == 0);
    buf_clear(&b);
    if (meta && meta->type == JSON_OBJECT && (rc = json_write(&b, meta)) < 0)
        goto cleanup;
    out->metadata = arena_strdup(a, b.len ? b.data : "{}");
    if (!out->duck_type || !out->delta_type || !out->stored_type || !out->metadata)
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

/* ---- id mode: matching a file's own schema by field id ---------------------------- */

typedef struct {
    const schema_pq_element *els;
    size_t n;
    int *same;
} pq_tree;

/* The index just past element i's subtree, or 0 when the counts run past the list. */
static size_t pq_end(const pq_tree *t, size_t i, int depth)
{
    if (i >= t->n || depth > 64 || t->els[i].children < 0 || t->els[i].children > (int64_t)t->n)
        return 0;
    size_t at = i + 1;
    for (int64_t k = 0; k < t->els[i].children; k++)
        if (!(at = pq_end(t, at, depth + 1)))
            return 0;
    return at;
}

/* The k-th child of element i, or (size_t)-1. */
static size_t pq_child(const pq_tree *t, size_t i, int64_t k)
{
    size_t at = i + 1;
    if (i >= t->n || k >= t->els[i].children)
        return (size_t)-1;
    for (int64_t j = 0; j < k && at; j++)
        at = pq_end(t, at, 0);
    return at && at < t->n ? at : (size_t)-1;
}

/* The element holding a list's items or a map's key/value pairs: LIST and MAP groups
 * wrap them in one repeated group (the three-level layout); an old two-level list
 * repeats the element itself. */
static size_t pq_items(const pq_tree *t, size_t i, int pairs)
{
    if (t->els[i].repeated)
        return i;
    size_t r = pq_child(t, i, 0);
    if (r == (size_t)-1 || !t->els[r].repeated)
        return (size_t)-1;
    if (pairs)
        return r;
    return t->els[r].children == 1 ? pq_child(t, r, 0) : r;
}

static int id_convert(const json *ty, const pq_tree *t, size_t node, const char *src, buf *out, int depth);

static int null_of(const json *ty, buf *out)
{
    buf type = BUF_INIT;
    int rc = duck_type(ty, &type, 0, 1);
    rc = rc ? rc : buf_printf(out, "NULL::%s", type.data);
    buf_free(&type);
    return rc;
}

static int id_struct(const json *ty, const pq_tree *t, size_t node, const char *src, buf *out, int depth)
{
    buf inner = BUF_INIT;
    const json *fields = json_get(ty, "fields");
    int rc = buf_printf(out, "CASE WHEN (%s) IS NULL THEN NULL ELSE system.main.struct_pack(", src);
    for (const json *f = fields->child; rc == 0 && f; f = f->next) {
        int64_t id = json_get_i64(json_get(f, "metadata"), "delta.columnMapping.id", -1);
        size_t c = (size_t)-1;
        for (int64_t k = 0; id >= 0 && c == (size_t)-1 && k < t->els[node].children; k++) {
            size_t e = pq_child(t, node, k);
            if (e == (size_t)-1)
                return error_set(LOCH_ECORRUPT, "malformed Parquet schema");
            c = t->els[e].field_id == id ? e : c;
        }
        rc = (f != fields->child ? buf_puts(out, ", ") : 0) || buf_put_sql_ident(out, field_name(f, 1)) ||
             buf_puts(out, " := ") ? LOCH_ENOMEM : 0;
        if (rc == 0 && c == (size_t)-1) {
            *t->same = 0;
            rc = null_of(json_get(f, "type"), out);
            continue;
        }
        if (rc == 0 && strcmp(t->els[c].name, field_name(f, 1)) != 0)
            *t->same = 0;
        buf_clear(&inner);
        rc = rc ? rc : buf_printf(&inner, "system.main.struct_extract(%s, ", src);
        rc = rc || buf_put_sql_str(&inner, t->els[c].name) || buf_putc(&inner, ')') ? (rc ? rc : LOCH_ENOMEM) : 0;
        rc = rc ? rc : id_convert(json_get(f, "type"), t, c, inner.data, out, depth + 1);
    }
    buf_free(&inner);
    return rc ? rc : buf_puts(out, ") END");
}

/* Like convert(), but the source is a file's field (element node) whose nested fields
 * are found by field id, and the result keeps physical names (the stored type). */
static int id_convert(const json *ty, const pq_tree *t, size_t node, const char *src, buf *out, int depth)
{
    const char *kind = ty && ty->type == JSON_OBJECT ? json_get_str(ty, "type") : NULL;
    buf type = BUF_INIT, inner = BUF_INIT;
    int rc = depth > 64 ? error_set(LOCH_ECORRUPT, "schema nested too deeply") : 0;
    if (rc == 0 && (!kind || strcmp(kind, "struct") != 0) && (!kind || (strcmp(kind, "array") && strcmp(kind, "map")))) {
        rc = duck_type(ty, &type, depth, 1);
        rc = rc ? rc : buf_printf(out, "CAST(%s AS %s)", src, type.data);
    } else if (rc == 0 && strcmp(kind, "struct") == 0) {
        rc = t->els[node].children > 0 ? id_struct(ty, t, node, src, out, depth)
                                       : error_set(LOCH_ECORRUPT, "field \"%s\" is not a group in the file",
                                                   t->els[node].name);
    } else if (rc == 0 && strcmp(kind, "array") == 0) {
        size_t item = pq_items(t, node, 0);
        rc = item == (size_t)-1 ? error_set(LOCH_ECORRUPT, "field \"%s\" is not a list in the file",
                                            t->els[node].name) : 0;
        rc = rc ? rc : buf_printf(out, "system.main.list_transform(%s, lambda e%d: ", src, depth);
        rc = rc ? rc : buf_printf(&inner, "e%d", depth);
        rc = rc ? rc : id_convert(json_get(ty, "elementType"), t, item, inner.data, out, depth + 1);
        rc = rc ? rc : buf_putc(out, ')');
    } else if (rc == 0) {
        size_t kv = pq_items(t, node, 1);
        size_t k = kv == (size_t)-1 ? kv : pq_child(t, kv, 0), v = kv == (size_t)-1 ? kv : pq_child(t, kv, 1);
        rc = k == (size_t)-1 || v == (size_t)-1 ? error_set(LOCH_ECORRUPT, "field \"%s\" is not a map in the file",
                                                            t->els[node].name) : 0;
        rc = rc ? rc : buf_printf(out, "system.main.map(system.main.list_transform(system.main.map_keys(%s), "
                                       "lambda k%d: ", src, depth);
        rc = rc ? rc : buf_printf(&inner, "k%d", depth);
        rc = rc ? rc : id_convert(json_get(ty, "keyType"), t, k, inner.data, out, depth + 1);
        rc = rc ? rc : buf_printf(out, "), system.main.list_transform(system.main.map_values(%s), lambda v%d: ",
                                  src, depth);
        buf_clear(&inner);
        rc = rc ? rc : buf_printf(&inner, "v%d", depth);
        rc = rc ? rc : id_convert(json_get(ty, "valueType"), t, v, inner.data, out, depth + 1);
        rc = rc ? rc : buf_puts(out, "))");
    }
    buf_free(&type);
    buf_free(&inner);
    return rc;
}

int schema_id_read_expr(arena *a, const schema_field *f, const schema_pq_element *els, size_t n, buf *out, int *same)
{
    pq_tree t = {els, n, same};
    json *ty;
    buf src = BUF_INIT;
    if (n == 0 || pq_end(&t, 0, 0) != n)
        return error_set(LOCH_ECORRUPT, "malformed Parquet schema (its element counts do not add up)");
    int rc = json_parse(a, f->delta_type, strlen(f->delta_type), &ty);
    size_t node = (size_t)-1;
    for (int64_t k = 0; rc == 0 && f->field_id >= 0 && node == (size_t)-1 && k < els[0].children; k++) {
        size_t e = pq_child(&t, 0, k);
        node = e != (size_t)-1 && els[e].field_id == f->field_id ? e : node;
    }
    if (rc == 0 && node == (size_t)-1) {
        *same = 0;
        rc = buf_printf(out, "NULL::%s", f->stored_type);
    } else if (rc == 0) {
        if (strcmp(els[node].name, f->physical) != 0)
            *same = 0;
        rc = buf_put_sql_ident(&src, els[node].name);
        rc = rc ? rc : id_convert(ty, &t, node, src.data, out, 0);
    }
    buf_free(&src);
    return rc;
}

int schema_read_expr(arena *a, const schema_field *f, const char *src, buf *out)
{
    json *t;
    int rc = json_parse(a, f->delta_type, strlen(f->delta_type), &t);
    return rc ? rc : convert(t, src, out, 0);
}
