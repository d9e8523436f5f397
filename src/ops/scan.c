/*
 * ops/scan.c - what a table name in a query turns into.
 *
 * The SQL engine asks (during binding) for names it does not know; the answer is a
 * SELECT over exactly the files of one pinned snapshot:
 *
 *   SELECT CAST(phys AS type) AS name, ...            logical names and Delta types
 *   FROM (SELECT NULL::type AS phys, ... WHERE false  every schema column exists,
 *         UNION ALL BY NAME                            even if no file has it yet
 *         SELECT * FROM read_parquet([files...])      files without partitions
 *           [WHERE <skip the deleted rows>]            when any of them has a DV
 *         UNION ALL BY NAME
 *         SELECT *, 'v'::type AS part FROM read_parquet([...])   one per partition value set
 *           [WHERE ...])
 *
 * Deletion vectors never become SQL text: the rows each file of a read_parquet list
 * loses are decoded (core/dv.c) and handed to the engine as a relation
 * (compute_register, adapters/compute.h), and the branch filters by the predicate the
 * engine gives back, so files with and without DVs share one Parquet scan. The
 * relations live until the statement ends (scan_unpin clears them).
 *
 * Columns are read by physical name as stored and shown by logical name: under column
 * mapping the physical names go all the way down (core/schema.h), and in id mode a file
 * that names its columns otherwise is read by field id, alone in its branch, with an
 * explicit list of expressions built from its own Parquet schema. A partition column
 * always comes from the log, even when a writer kept it in the file too.
 * Filters and projections pass through the union into each Parquet scan.
 * loch's generated SQL calls the engine's functions by their full names
 * (system.main.read_parquet): a macro a user defines in a trusted session cannot stand
 * in for them.
 * Names: "t" is the latest version, "t@v12" version 12, "t@2026-11-21T10:00:00Z" the
 * version current at that instant.
 */
#include "ops/ops.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dv.h"
#include "util/misc.h"

int scan_parse_name(const char *name, char *table, size_t cap, txlog_at *at)
{
    const char *at_sign = strchr(name, '@');
    size_t n = at_sign ? (size_t)(at_sign - name) : strlen(name);
    memset(at, 0, sizeof(*at));
    at->version = -1;
    if (n == 0 || n >= cap)
        return error_set(LOCH_EINVALID, "bad table name \"%s\"", name);
    for (size_t i = 0; i < n; i++)
        table[i] = (char)tolower((unsigned char)name[i]);
    table[n] = '\0';
    if (!at_sign)
        return 0;
    const char *spec = at_sign + 1;
    if ((spec[0] == 'v' || spec[0] == 'V') && spec[1]) {
        char *end;
        errno = 0;
        long long v = strtoll(spec + 1, &end, 10);
        if (errno == ERANGE)
            return error_set(LOCH_EINVALID, "version in \"%s\" is out of range", name);
        if (*end || v < 0 || spec[1] < '0' || spec[1] > '9')
            return error_set(LOCH_EINVALID, "bad version in \"%s\" (use %s@v12)", name, table);
        at->version = v;
        return 0;
    }
    at->has_timestamp = 1;
    return iso8601_parse_ms(spec, &at->timestamp_ms);
}

int scan_pin(loch_lake *lake, const char *name, snapshot *s)
{
    for (int i = 0; i < lake->pin_count; i++)
        if (strcmp(lake->pins[i].name, name) == 0)
            return 0;
    if (lake->pin_count == PIN_MAX)
        return error_set(LOCH_EINVALID, "a statement may read at most %d table versions", PIN_MAX);
    if (!(lake->pins[lake->pin_count].name = strdup(name)))
        return error_set(LOCH_ENOMEM, "out of memory");
    lake->pins[lake->pin_count].sql = NULL; /* made when first read */
    lake->pins[lake->pin_count++].snap = s;
    s->refs++;
    return 0;
}

int scan_pin_sql(loch_lake *lake, const char *name, snapshot *s, const char *sql)
{
    if (scan_pinned(lake, name))
        return 0;
    int rc = scan_pin(lake, name, s);
    if (rc == 0 && !(lake->pins[lake->pin_count - 1].sql = strdup(sql)))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    return rc;
}

bool scan_pinned(const loch_lake *lake, const char *name)
{
    for (int i = 0; i < lake->pin_count; i++)
        if (strcasecmp(lake->pins[i].name, name) == 0)
            return true;
    return false;
}

void scan_unpin(loch_lake *lake)
{
    for (int i = 0; i < lake->pin_count; i++) {
        free(lake->pins[i].name);
        free(lake->pins[i].sql);
        txlog_snapshot_free(lake->pins[i].snap);
    }
    lake->pin_count = 0;
    if (lake->cp)
        compute_relations_clear(lake->cp);
}

static int file_list(loch_lake *lake, const char *table, const log_file **files, size_t n, buf *sql)
{
    buf rel = BUF_INIT, local = BUF_INIT;
    int rc = buf_putc(sql, '[');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        buf_clear(&rel);
        rc = files[i]->path[0] == '/' || strstr(files[i]->path, "://")
                 ? error_set(LOCH_EUNSUPPORTED, "absolute data file paths are not supported (%s)", files[i]->path)
                 : buf_printf(&rel, "%s/%s", table, files[i]->path);
        rc = rc ? rc : lake->st->engine_path(lake->st, rel.data, &local);
        rc = rc ? rc : (i ? buf_putc(sql, ',') : 0);
        rc = rc ? rc : compute_put_path(sql, local.data);
    }
    buf_free(&rel);
    buf_free(&local);
    return rc ? rc : buf_putc(sql, ']');
}

static const char *partition_value(const log_file *f, const char *phys)
{
    for (size_t i = 0; i < f->partition_values.count; i++)
        if (strcmp(f->partition_values.keys[i], phys) == 0)
            return f->partition_values.values[i];
    return NULL;
}

/* True when loch wrote the file under the table's current schema. */
static int current_schema(const log_file *f, const char *tag)
{
    for (size_t i = 0; i < f->tags.count; i++)
        if (strcmp(f->tags.keys[i], "loch.schema") == 0)
            return f->tags.values[i] && strcmp(f->tags.values[i], tag) == 0;
    return 0;
}

static int same_partition(const snapshot *s, const log_file *a, const log_file *b)
{
    for (size_t i = 0; i < s->schema.count; i++) {
        if (!s->schema.fields[i].partition)
            continue;
        const char *x = partition_value(a, s->schema.fields[i].physical);
        const char *y = partition_value(b, s->schema.fields[i].physical);
        if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
            return 0;
    }
    return 1;
}

static int partition_columns(const snapshot *s, const log_file *f, buf *sql)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        const schema_field *c = &s->schema.fields[i];
        if (!c->partition)
            continue;
        const char *v = partition_value(f, c->physical);
        rc = buf_puts(sql, ", ");
        if (!rc && (!v || !*v)) {
            rc = buf_printf(sql, "NULL::%s", c->duck_type);
        } else if (!rc && strcmp(c->delta_type, "\"binary\"") == 0) {
            /* A binary value is the bytes of the string as written in the log; a cast
             * from text would read backslash escapes and refuse non-ASCII bytes. */
            rc = buf_puts(sql, "system.main.unhex('");
            for (const unsigned char *b = (const unsigned char *)v; rc == 0 && *b; b++)
                rc = buf_printf(sql, "%02x", *b);
            rc = rc ? rc : buf_puts(sql, "')");
        } else if (!rc && strcmp(c->delta_type, "\"timestamp\"") == 0 && !strpbrk(v + (strlen(v) > 10 ? 10 : 0), "Z+-")) {
            /* "2024-03-01 12:34:56" without an offset names an instant in UTC; a cast
             * to TIMESTAMPTZ would read it in the machine's zone. */
            rc = buf_puts(sql, "system.main.timezone('UTC', CAST(") || buf_put_sql_str(sql, v) ||
                 buf_puts(sql, " AS TIMESTAMP))") ? LOCH_ENOMEM : 0;
        } else if (!rc) {
            rc = buf_puts(sql, "CAST(") || buf_put_sql_str(sql, v) || buf_printf(sql, " AS %s)", c->duck_type)
                     ? LOCH_ENOMEM : 0;
        }
        rc = rc ? rc : buf_puts(sql, " AS ");
        rc = rc ? rc : buf_put_sql_ident(sql, c->physical);
    }
    return rc;
}

/* The columns a branch takes from its files: all of them, but never a partition
 * column (some writers keep it in the file too; the log's value wins, and a second
 * column of the same name would break the union). */
static int file_columns(const snapshot *s, buf *sql)
{
    int partitioned = 0;
    for (size_t i = 0; i < s->schema.count; i++)
        partitioned = partitioned || s->schema.fields[i].partition;
    if (!partitioned)
        return buf_puts(sql, "*");
    int rc = buf_puts(sql, "COLUMNS(c -> system.main.lower(c) NOT IN (");
    int first = 1;
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        if (!s->schema.fields[i].partition)
            continue;
        rc = (first ? 0 : buf_puts(sql, ", ")) || buf_puts(sql, "system.main.lower(") ||
             buf_put_sql_str(sql, s->schema.fields[i].physical) || buf_putc(sql, ')') ? LOCH_ENOMEM : 0;
        first = 0;
    }
    return rc ? rc : buf_puts(sql, "))");
}

/* Decodes one DV. DVs of many files often share one DV file (Spark writes one per
 * task): *file caches the last one read, named by *file_path, so it is read once. */
static int load_dv(loch_lake *lake, const char *table, const log_dv *dv, buf *file_path, buf *file, dv_rows *rows)
{
    if (dv->storage_type == 'i')
        return dv_decode_inline(dv->path_or_inline, (size_t)dv->size_in_bytes, rows);
    if (dv->storage_type != 'u')
        return error_set(LOCH_EUNSUPPORTED, "deletion vectors stored by absolute path are not supported");
    char rel[512];
    buf path = BUF_INIT;
    int rc = dv_relative_path(dv->path_or_inline, rel, sizeof(rel));
    rc = rc ? rc : buf_printf(&path, "%s/%s", table, rel);
    if (rc == 0 && !(file_path->len && strcmp(file_path->data, path.data) == 0)) {
        buf_clear(file_path);
        buf_clear(file);
        rc = lake->st->get(lake->st, path.data, file);
        if (rc == LOCH_ENOTFOUND) /* the table exists: its DV file is what is missing */
            rc = error_set(LOCH_ECORRUPT, "the deletion vector file %s is missing", rel);
        rc = rc ? rc : buf_puts(file_path, path.data);
    }
    rc = rc ? rc : dv_decode_file((const uint8_t *)file->data, file->len, dv->offset < 0 ? 1 : dv->offset,
                                  (size_t)dv->size_in_bytes, rows);
    if (rc < 0) {
        buf_clear(file_path); /* whatever was read is not trusted for the next one */
        error_prefix("deletion vector of table \"%s\": ", table);
    }
    buf_free(&path);
    return rc;
}

typedef struct {
    loch_lake *lake;
    const char *table;
    const log_file **files;
    buf file_path, file;    /* the DV file read last (load_dv) */
    dv_rows rows;           /* the DV decoded last */
} dv_loader;

static int dv_load(void *ctx, size_t i, const uint64_t **rows, size_t *count)
{
    dv_loader *l = ctx;
    dv_rows_free(&l->rows);
    const log_file *f = l->files[i];
    int rc = load_dv(l->lake, l->table, &f->dv, &l->file_path, &l->file, &l->rows);
    /* The log's count of deleted rows must be the bitmap's: a count answered from the
     * log (cardinality) and a scan (the bitmap) may never disagree. */
    if (rc == 0 && (int64_t)l->rows.count != f->dv.cardinality)
        rc = error_set(LOCH_ECORRUPT, "table \"%s\": the deletion vector of %s deletes %zu rows, but the log says %lld",
                       l->table, f->path, l->rows.count, (long long)f->dv.cardinality);
    *rows = l->rows.rows;
    *count = l->rows.count;
    return rc;
}

/* When any of the n files read by one read_parquet list has a DV: " WHERE " and the
 * predicate that skips their deleted rows (handed to the engine as a relation, files[i]
 * being the list's file i). Nothing otherwise. A DV is named for the engine's cache by
 * its table and descriptor: a DV file is never rewritten (its name is a fresh UUID) and
 * an inline DV is its own content, so one name is always the same rows. */
static int skip_deleted(loch_lake *lake, const char *table, const snapshot *s, const log_file **files, size_t n,
                        buf *sql)
{
    size_t with_dv = 0;
    for (size_t i = 0; i < n; i++)
        with_dv += files[i]->dv.storage_type != 0;
    if (with_dv == 0)
        return 0;
    for (size_t i = 0; i < s->schema.count; i++)
        if (compute_skip_reserved(s->schema.fields[i].physical))
            return error_set(LOCH_EUNSUPPORTED, "table \"%s\": a column named \"%s\" and deletion vectors cannot "
                             "be read together yet", table, s->schema.fields[i].physical);
    char **keys = calloc(n, sizeof(*keys));
    dv_loader l = {lake, table, files, BUF_INIT, BUF_INIT, {NULL, 0}};
    buf key = BUF_INIT;
    int rc = keys ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const log_dv *dv = &files[i]->dv;
        if (!dv->storage_type)
            continue;
        buf_clear(&key);
        rc = buf_printf(&key, "%s/%c%s@%lld", table, dv->storage_type, dv->path_or_inline, (long long)dv->offset);
        if (rc == 0 && !(keys[i] = strdup(key.data)))
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    compute_relation rel = {COMPUTE_RELATION_SKIP, n, (const char *const *)keys, dv_load, &l};
    rc = rc ? rc : buf_puts(sql, " WHERE ");
    rc = rc ? rc : compute_register(lake->cp, &rel, sql);
    for (size_t i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    buf_free(&key);
    buf_free(&l.file_path);
    buf_free(&l.file);
    dv_rows_free(&l.rows);
    return rc;
}

/* One branch of the union for a group of files sharing partition values. */
static int scan_branch(loch_lake *lake, const char *table, const snapshot *s, const log_file **files,
                       size_t n, int uniform, const char *select, buf *sql)
{
    int rc = buf_puts(sql, " UNION ALL BY NAME SELECT ");
    rc = rc ? rc : select ? buf_puts(sql, select) : file_columns(s, sql);
    rc = rc ? rc : partition_columns(s, files[0], sql);
    rc = rc ? rc : buf_puts(sql, " FROM system.main.read_parquet(");
    rc = rc ? rc : file_list(lake, table, files, n, sql);
    /* Partition values come from the log, never from k=v paths. */
    rc = rc ? rc : buf_printf(sql, ", hive_partitioning=false%s)", n > 1 && !uniform ? ", union_by_name=true" : "");
    return rc ? rc : skip_deleted(lake, table, s, files, n, sql);
}

typedef struct {
    arena *a;
    schema_pq_element *els;
    size_t n, cap;
} pq_elements;

static int pq_element(void *ctx, const char *name, int64_t field_id, int64_t children, bool repeated,
                      const char *converted)
{
    pq_elements *p = ctx;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        schema_pq_element *grown = arena_alloc(p->a, sizeof(*grown) * cap);
        if (!grown)
            return error_set(LOCH_ENOMEM, "out of memory");
        if (p->n)
            memcpy(grown, p->els, sizeof(*grown) * p->n);
        p->els = grown;
        p->cap = cap;
    }
    schema_pq_element *e = &p->els[p->n++];
    e->name = arena_strdup(p->a, name);
    e->converted = converted ? arena_strdup(p->a, converted) : NULL;
    e->field_id = field_id;
    e->children = children;
    e->repeated = repeated;
    return e->name ? 0 : error_set(LOCH_ENOMEM, "out of memory");
}

/* In id mode a file's columns are the table's by field id, whatever the file calls them
 * (Delta protocol, "Column Mapping"): the file's schema is read, and when it names some field
 * otherwise than its physical name (or lacks one) *select gets the list of expressions
 * reading each column by id, as stored; otherwise *select stays NULL and the file is
 * read by name like any other. */
static int id_select(loch_lake *lake, const char *table, const snapshot *s, const log_file *f, arena *a,
                     char **select)
{
    buf rel = BUF_INIT, local = BUF_INIT, cols = BUF_INIT;
    pq_elements p = {a, NULL, 0, 0};
    int same = 1;
    *select = NULL;
    int rc = buf_printf(&rel, "%s/%s", table, f->path);
    rc = rc ? rc : lake->st->engine_path(lake->st, rel.data, &local);
    rc = rc ? rc : compute_parquet_schema(lake->cp, local.data, pq_element, &p);
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        const schema_field *c = &s->schema.fields[i];
        if (c->partition)
            continue;
        rc = cols.len ? buf_puts(&cols, ", ") : 0;
        rc = rc ? rc : schema_id_read_expr(a, c, p.els, p.n, &cols, &same);
        rc = rc || buf_puts(&cols, " AS ") || buf_put_sql_ident(&cols, c->physical) ? (rc ? rc : LOCH_ENOMEM) : 0;
    }
    if (rc == 0 && !same && !(*select = arena_strdup(a, cols.len ? cols.data : "NULL AS \"__loch_none\"")))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc < 0)
        error_prefix("table \"%s\", file %s: ", table, f->path);
    buf_free(&rel);
    buf_free(&local);
    buf_free(&cols);
    return rc;
}

/* Files loch wrote under the current schema, with no partitions or column mapping, hold
 * exactly the table's columns and types: a plain read is the whole scan (and the
 * cheapest for the engine to plan), filtered when some files have DVs. */
static int plain_scan(loch_lake *lake, const char *table, const snapshot *s, buf *sql)
{
    char tag[17];
    write_schema_tag(s->metadata.schema_string, tag);
    if (s->file_count == 0)
        return 0;
    for (size_t i = 0; i < s->schema.count; i++)
        if (s->schema.fields[i].partition || s->schema.fields[i].renamed_inside ||
            strcmp(s->schema.fields[i].physical, s->schema.fields[i].name) != 0)
            return 0;
    for (size_t i = 0; i < s->file_count; i++)
        if (!current_schema(&s->files[i], tag))
            return 0;
    const log_file **all = malloc(sizeof(*all) * s->file_count);
    if (!all)
        return error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->file_count; i++)
        all[i] = &s->files[i];
    int rc = buf_puts(sql, "SELECT ");
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++)
        rc = (i ? buf_puts(sql, ", ") : 0) || buf_put_sql_ident(sql, s->schema.fields[i].name) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : buf_puts(sql, " FROM system.main.read_parquet(");
    rc = rc ? rc : file_list(lake, table, all, s->file_count, sql);
    rc = rc ? rc : buf_puts(sql, ", hive_partitioning=false)");
    rc = rc ? rc : skip_deleted(lake, table, s, all, s->file_count, sql);
    free(all);
    return rc ? rc : 1;
}

int ops_put_names(buf *sql, const char *prefix, const char *const *names, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = buf_printf(sql, "%s%s", i ? ", " : "", prefix) || buf_put_sql_ident(sql, names[i]) ? LOCH_ENOMEM : 0;
    return rc;
}

int ops_put_columns(buf *sql, const char *prefix, const snapshot *s)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++)
        rc = buf_printf(sql, "%s%s", i ? ", " : "", prefix) || buf_put_sql_ident(sql, s->schema.fields[i].name)
                 ? LOCH_ENOMEM : 0;
    return rc;
}

int scan_sql(loch_lake *lake, const char *table, const snapshot *s, buf *sql)
{
    int plain = plain_scan(lake, table, s, sql);
    if (plain != 0)
        return plain < 0 ? plain : 0;
    const log_file **group = malloc(sizeof(*group) * (s->file_count + 1));
    char *done = calloc(s->file_count + 1, 1);
    arena a = ARENA_INIT;
    buf phys = BUF_INIT;
    const char *mode = snapshot_property(s, "delta.columnMapping.mode");
    char **select = mode && strcmp(mode, "id") == 0 ? calloc(s->file_count + 1, sizeof(char *)) : NULL;
    int rc = group && done && (select || !mode || strcmp(mode, "id") != 0) ? buf_puts(sql, "SELECT ")
                                                                          : error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && select && i < s->file_count; i++)
        rc = id_select(lake, table, s, &s->files[i], &a, &select[i]);
    /* Columns are read by physical name and stored type (physical names inside too),
     * then shown by logical name and type. */
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        const schema_field *f = &s->schema.fields[i];
        buf_clear(&phys);
        rc = (i ? buf_puts(sql, ", ") : 0) || buf_put_sql_ident(&phys, f->physical) ? LOCH_ENOMEM : 0;
        rc = rc ? rc : schema_read_expr(&a, f, phys.data, sql);
        rc = rc || buf_puts(sql, " AS ") || buf_put_sql_ident(sql, f->name) ? (rc ? rc : LOCH_ENOMEM) : 0;
    }
    rc = rc ? rc : buf_puts(sql, " FROM (SELECT ");
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        const schema_field *f = &s->schema.fields[i];
        rc = (i ? buf_puts(sql, ", ") : 0) || buf_printf(sql, "NULL::%s AS ", f->stored_type) ||
             buf_put_sql_ident(sql, f->physical) ? LOCH_ENOMEM : 0;
    }
    rc = rc ? rc : buf_puts(sql, " WHERE false");
    /* Group files by identical partition values and by whether they carry the current
     * schema (those need no union_by_name, which would read every footer twice). */
    char tag[17];
    write_schema_tag(s->metadata.schema_string, tag);
    for (size_t i = 0; rc == 0 && i < s->file_count; i++) {
        if (done[i])
            continue;
        size_t n = 0;
        int uniform = current_schema(&s->files[i], tag);
        const char *own = select ? select[i] : NULL; /* a file read by field id goes alone */
        group[n++] = &s->files[i];
        done[i] = 1;
        for (size_t j = i + 1; !own && j < s->file_count; j++) {
            if (!done[j] && current_schema(&s->files[j], tag) == uniform &&
                (!select || !select[j]) && same_partition(s, &s->files[i], &s->files[j])) {
                group[n++] = &s->files[j];
                done[j] = 1;
            }
        }
        rc = scan_branch(lake, table, s, group, n, uniform, own, sql);
    }
    rc = rc ? rc : buf_putc(sql, ')');
    free(group);
    free(done);
    free(select);
    arena_free(&a);
    buf_free(&phys);
    return rc;
}

int scan_rows_sql(loch_lake *lake, const char *table, const snapshot *s, const size_t *which, size_t n,
                  const scan_skip *skip, bool ids, buf *sql)
{
    const log_file **files = malloc(sizeof(*files) * (n + 1));
    char **keys = NULL;
    arena a = ARENA_INIT;
    buf phys = BUF_INIT, key = BUF_INIT;
    int rc = files ? buf_puts(sql, "SELECT ") : error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        files[i] = &s->files[which[i]];
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        const schema_field *f = &s->schema.fields[i];
        if (f->partition || strcmp(f->physical, f->name) != 0)
            rc = error_set(LOCH_EUNSUPPORTED, "table \"%s\": changing rows of partitioned or column-mapped tables is "
                           "not supported yet", table);
        if (rc == 0 && (compute_skip_reserved(f->physical) || strncasecmp(f->physical, "__loch_", 7) == 0))
            rc = error_set(LOCH_EUNSUPPORTED, "table \"%s\": a column named \"%s\" and row changes cannot go "
                           "together yet", table, f->physical);
        buf_clear(&phys);
        rc = rc || buf_put_sql_ident(&phys, f->physical) ? (rc ? rc : LOCH_ENOMEM) : 0;
        rc = rc ? rc : schema_read_expr(&a, f, phys.data, sql);
        rc = rc || buf_puts(sql, " AS ") || buf_put_sql_ident(sql, f->name) ||
             buf_puts(sql, ids || i + 1 < s->schema.count ? ", " : "") ? (rc ? rc : LOCH_ENOMEM) : 0;
    }
    rc = rc ? rc : buf_puts(sql, ids ? "__loch_file, __loch_row FROM (SELECT " : " FROM (SELECT ");
    for (size_t i = 0; rc == 0 && i < s->schema.count; i++) {
        const schema_field *f = &s->schema.fields[i];
        rc = buf_printf(sql, "NULL::%s AS ", f->stored_type) || buf_put_sql_ident(sql, f->physical) ||
             buf_puts(sql, ids || i + 1 < s->schema.count ? ", " : "") ? LOCH_ENOMEM : 0;
    }
    rc = rc ? rc : buf_puts(sql, ids ? "NULL::BIGINT AS __loch_file, NULL::BIGINT AS __loch_row WHERE false"
                                     : " WHERE false");
    if (rc == 0 && n > 0) {
        /* file_index counts within this list; __loch_file is the file's index in s. */
        rc = buf_puts(sql, ids ? " UNION ALL BY NAME SELECT *, (ARRAY[" : " UNION ALL BY NAME SELECT *");
        for (size_t i = 0; rc == 0 && ids && i < n; i++)
            rc = buf_printf(sql, "%s%zu::BIGINT", i ? "," : "", which[i]);
        rc = rc ? rc : buf_puts(sql, ids ? "])[file_index::BIGINT + 1] AS __loch_file, file_row_number::BIGINT AS "
                                           "__loch_row FROM system.main.read_parquet("
                                         : " FROM system.main.read_parquet(");
        rc = rc ? rc : file_list(lake, table, files, n, sql);
        /* Files loch wrote under the current schema hold exactly its columns: no
         * union by name (which reads every footer once more). */
        char tag[17];
        bool uniform = true;
        write_schema_tag(s->metadata.schema_string, tag);
        for (size_t i = 0; uniform && i < n; i++)
            uniform = current_schema(files[i], tag);
        rc = rc ? rc : buf_puts(sql, uniform ? ", hive_partitioning=false)" : ", hive_partitioning=false, union_by_name=true)");
        if (rc == 0 && skip) {
            keys = calloc(n, sizeof(*keys));
            rc = keys ? 0 : error_set(LOCH_ENOMEM, "out of memory");
            for (size_t i = 0; rc == 0 && i < n; i++) {
                buf_clear(&key);
                rc = buf_printf(&key, "%s/%s#%zu", table, skip->tag, which[i]);
                if (rc == 0 && !(keys[i] = strdup(key.data)))
                    rc = error_set(LOCH_ENOMEM, "out of memory");
            }
            scan_skip local = *skip;
            local.which = which;
            compute_relation rel = {COMPUTE_RELATION_SKIP, n, (const char *const *)keys, skip->load, &local};
            rc = rc ? rc : buf_puts(sql, " WHERE ");
            rc = rc ? rc : compute_register(lake->cp, &rel, sql);
        } else if (rc == 0) {
            rc = skip_deleted(lake, table, s, files, n, sql);
        }
    }
    rc = rc ? rc : buf_putc(sql, ')');
    for (size_t i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    free(files);
    arena_free(&a);
    buf_free(&phys);
    buf_free(&key);
    return rc;
}

int scan_files_sql(loch_lake *lake, const char *table, const snapshot *s, const log_file **files, size_t n,
                   const char *extra, bool data_files, buf *sql)
{
    /* A data file may carry a _change_type column of its own (Spark writes one, all
     * NULL, with an UPDATE's rows): a data file's rows get theirs from the caller. */
    int rc = buf_printf(sql, "SELECT %s%s FROM system.main.read_parquet(",
                        data_files ? "COLUMNS(c -> c <> '_change_type')" : "*", extra) ? LOCH_ENOMEM : 0;
    rc = rc ? rc : file_list(lake, table, files, n, sql);
    rc = rc ? rc : buf_puts(sql, ", hive_partitioning=false, union_by_name=true)");
    return rc ? rc : skip_deleted(lake, table, s, files, n, sql);
}

int scan_file_dv(loch_lake *lake, const char *table, const log_file *f, dv_rows *rows)
{
    buf path = BUF_INIT, file = BUF_INIT;
    int rc = f->dv.storage_type ? load_dv(lake, table, &f->dv, &path, &file, rows) : 0;
    if (rc == 0 && f->dv.storage_type && (int64_t)rows->count != f->dv.cardinality)
        rc = error_set(LOCH_ECORRUPT, "table \"%s\": the deletion vector of %s deletes %zu rows, but the log says %lld",
                       table, f->path, rows->count, (long long)f->dv.cardinality);
    buf_free(&path);
    buf_free(&file);
    return rc;
}

int scan_resolve(void *ctx, const char *name, buf *sql)
{
    loch_lake *lake = ctx;
    char table[256];
    txlog_at at;
    snapshot *s = NULL;
    int rc;
    const char *feed = strstr(name, "@changes:"), *touched = feed ? NULL : strstr(name, "@touched:");
    feed = feed ? feed : touched;
    if (feed && (size_t)(feed - name) < sizeof(table)) { /* table_changes (ops/changes.c) */
        snprintf(table, sizeof(table), "%.*s", (int)(feed - name), name);
        for (char *p = table; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (strchr(table, '@'))
            return error_set(LOCH_EINVALID, "table_changes takes a table's name, not a version of it (\"%s\")",
                             table);
        if (table_name_check(table) < 0 || !txlog_exists(lake, table))
            return error_set(LOCH_ENOTFOUND, "table_changes: table \"%s\" does not exist", table);
        if ((rc = changes_sql(lake, table, feed + 9, !touched, sql)) == 0 && lake->pin_count < PIN_MAX &&
            (lake->pins[lake->pin_count].name = strdup(name))) {
            /* pinned as its SQL alone: a feed is not a snapshot */
            if (!(lake->pins[lake->pin_count].sql = strdup(sql->data)) ||
                txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &lake->pins[lake->pin_count].snap) < 0) {
                free(lake->pins[lake->pin_count].name);
                free(lake->pins[lake->pin_count].sql);
                error_clear();
            } else {
                lake->pin_count++;
            }
        }
        return rc;
    }
    if (scan_parse_name(name, table, sizeof(table), &at) < 0)
        return strchr(name, '@') ? loch_error_last_code() : LOCH_ENOTFOUND;
    for (int i = 0; i < lake->pin_count; i++)
        if (strcasecmp(lake->pins[i].name, name) == 0)
            return lake->pins[i].sql ? buf_puts(sql, lake->pins[i].sql) : scan_sql(lake, table, lake->pins[i].snap, sql);
    if (table_name_check(table) < 0)
        return LOCH_ENOTFOUND;
    if ((rc = guard_check_dir(lake, table)) < 0)
        return rc;
    bool latest = at.version < 0 && !at.has_timestamp;
    /* The latest version is loaded straight away (one listing of the log, not one to see
     * that the table exists and one to load it: on a bucket each is a request); only a
     * load that fails asks which failure it is. */
    if (!latest && !txlog_exists(lake, table))
        return LOCH_ENOTFOUND;
    if ((rc = txlog_load(lake, table, &at, &s)) == LOCH_ENOTFOUND && latest) {
        char *why = strdup(loch_error_last());
        int exists = txlog_exists(lake, table);
        error_set(LOCH_ENOTFOUND, "%s", why ? why : "");
        free(why);
        if (!exists)
            return LOCH_ENOTFOUND;
    }
    if (rc < 0)
        return rc == LOCH_ENOTFOUND ? LOCH_EINVALID : rc; /* the table exists: say why not */
    /* The latest version of a table with a write-ahead log has its tail over it, loaded
     * before the statement began (tail_prepare). */
    rc = latest && tail_logged(s) ? tail_scan_sql(lake, table, s, 0, sql) : scan_sql(lake, table, s, sql);
    if (rc == 0 && lake->pin_count < PIN_MAX && (lake->pins[lake->pin_count].name = strdup(name))) {
        lake->pins[lake->pin_count].sql = sql->data ? strdup(sql->data) : NULL; /* NULL: made again */
        lake->pins[lake->pin_count++].snap = s;
        s = NULL;
    }
    txlog_snapshot_free(s);
    return rc;
}
