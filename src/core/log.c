/*
 * core/log.c - parsing and writing Delta log actions. See log.h for the format.
 *
 * Parsing is lenient where the protocol says "ignore" (unknown keys, unknown actions)
 * and strict where a mistake would corrupt a snapshot (a file action without a path,
 * a path with a bad escape, a wrongly-typed version).
 */
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/misc.h"

static int corrupt(const char *what)
{
    return error_set(LOCH_ECORRUPT, "malformed log action: %s", what);
}

static int read_strings(arena *a, const json *arr, const char ***out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (!arr || arr->type == JSON_NULL)
        return 0;
    if (arr->type != JSON_ARRAY)
        return corrupt("expected an array of strings");
    const char **v = arena_alloc(a, sizeof(*v) * (arr->len + 1));
    if (!v)
        return LOCH_ENOMEM;
    size_t n = 0;
    for (json *e = arr->child; e; e = e->next) {
        if (e->type != JSON_STRING)
            return corrupt("expected an array of strings");
        v[n++] = e->str;
    }
    *out = v;
    *count = n;
    return 0;
}

int log_read_kv(arena *a, const json *obj, log_kv *out)
{
    memset(out, 0, sizeof(*out));
    if (!obj || obj->type == JSON_NULL)
        return 0;
    if (obj->type != JSON_OBJECT)
        return corrupt("expected a string map");
    out->keys = arena_alloc(a, sizeof(char *) * (obj->len + 1));
    out->values = arena_alloc(a, sizeof(char *) * (obj->len + 1));
    if (!out->keys || !out->values)
        return LOCH_ENOMEM;
    for (json *m = obj->child; m; m = m->next) {
        if (m->type != JSON_STRING && m->type != JSON_NULL)
            return corrupt("map values must be strings or null");
        out->keys[out->count] = m->key;
        out->values[out->count] = m->type == JSON_STRING ? m->str : NULL;
        out->count++;
    }
    return 0;
}

int log_read_dv(const json *o, log_dv *dv)
{
    memset(dv, 0, sizeof(*dv));
    dv->offset = -1;
    if (!o || o->type == JSON_NULL)
        return 0;
    const char *st = json_get_str(o, "storageType");
    dv->path_or_inline = json_get_str(o, "pathOrInlineDv");
    if (!st || strlen(st) != 1 || !strchr("uip", st[0]) || !dv->path_or_inline)
        return corrupt("deletionVector needs storageType u, i or p and pathOrInlineDv");
    dv->storage_type = st[0];
    dv->offset = json_get_i64(o, "offset", -1);
    dv->size_in_bytes = json_get_i64(o, "sizeInBytes", -1);
    dv->cardinality = json_get_i64(o, "cardinality", -1);
    if (dv->size_in_bytes < 0 || dv->cardinality < 0)
        return corrupt("deletionVector needs sizeInBytes and cardinality");
    return 0;
}

static int read_file(arena *a, const json *o, log_file *f)
{
    int rc;
    const char *path = json_get_str(o, "path");
    if (!path || !*path)
        return corrupt("file action without a path");
    char *p = arena_strdup(a, path);
    if (!p)
        return LOCH_ENOMEM;
    if ((rc = uri_decode(p)) < 0)
        return rc;
    f->path = p;
    if ((rc = log_read_kv(a, json_get(o, "partitionValues"), &f->partition_values)) < 0)
        return rc;
    f->size = json_get_i64(o, "size", -1);
    f->modification_time = json_get_i64(o, "modificationTime", 0);
    f->deletion_timestamp = json_get_i64(o, "deletionTimestamp", 0);
    f->data_change = json_get_bool(o, "dataChange", true);
    f->stats = json_get_str(o, "stats");
    f->num_records = LOG_UNCOUNTED;
    json *tags = json_get(o, "tags");
    if (tags && tags->type == JSON_OBJECT && (rc = log_read_kv(a, tags, &f->tags)) < 0)
        return rc;
    return log_read_dv(json_get(o, "deletionVector"), &f->dv);
}

static int read_protocol(arena *a, const json *o, log_protocol *p)
{
    json *r = json_get(o, "minReaderVersion"), *w = json_get(o, "minWriterVersion");
    if (!r || !w || r->type != JSON_NUMBER || w->type != JSON_NUMBER || !r->is_int || !w->is_int)
        return corrupt("protocol needs integer minReaderVersion and minWriterVersion");
    p->min_reader = (int)r->i64;
    p->min_writer = (int)w->i64;
    int rc = read_strings(a, json_get(o, "readerFeatures"), &p->reader_features, &p->reader_count);
    return rc ? rc : read_strings(a, json_get(o, "writerFeatures"), &p->writer_features, &p->writer_count);
}

static int read_metadata(arena *a, const json *o, log_metadata *m)
{
    m->id = json_get_str(o, "id");
    m->name = json_get_str(o, "name");
    m->description = json_get_str(o, "description");
    m->schema_string = json_get_str(o, "schemaString");
    m->created_time = json_get_i64(o, "createdTime", 0);
    /* id and schemaString are checked where a metaData takes effect (snapshot_finish):
     * an old, superseded one without them (real Databricks tables have one) must not
     * make the versions after it unreadable. */
    int rc = read_strings(a, json_get(o, "partitionColumns"), &m->partition_columns, &m->partition_count);
    return rc ? rc : log_read_kv(a, json_get(o, "configuration"), &m->configuration);
}

int log_action_from_json(arena *a, const json *obj, log_action *out)
{
    memset(out, 0, sizeof(*out));
    if (!obj || obj->type != JSON_OBJECT)
        return corrupt("a log line must be a JSON object");
    for (const json *m = obj->child; m; m = m->next) {
        if (m->type == JSON_NULL)
            continue; /* checkpoint rows carry every action column, mostly null */
        const char *k = m->key;
        if (strcmp(k, "add") == 0 || strcmp(k, "remove") == 0) {
            if (m->type != JSON_OBJECT)
                return corrupt("file action is not an object");
            out->kind = k[0] == 'a' ? LOG_ADD : LOG_REMOVE;
            return read_file(a, m, &out->u.file);
        }
        if (strcmp(k, "protocol") == 0) {
            out->kind = LOG_PROTOCOL;
            return read_protocol(a, m, &out->u.protocol);
        }
        if (strcmp(k, "metaData") == 0) {
            out->kind = LOG_METADATA;
            return read_metadata(a, m, &out->u.metadata);
        }
        if (strcmp(k, "txn") == 0) {
            out->kind = LOG_TXN;
            out->u.txn.app_id = json_get_str(m, "appId");
            out->u.txn.version = json_get_i64(m, "version", -1);
            out->u.txn.last_updated = json_get_i64(m, "lastUpdated", 0);
            return out->u.txn.app_id ? 0 : corrupt("txn without appId");
        }
        if (strcmp(k, "cdc") == 0) {
            if (m->type != JSON_OBJECT)
                return corrupt("cdc is not an object");
            out->kind = LOG_CDC;
            return read_file(a, m, &out->u.file);
        }
        if (strcmp(k, "domainMetadata") == 0) {
            out->kind = LOG_DOMAIN;
            out->u.domain.domain = json_get_str(m, "domain");
            out->u.domain.configuration = json_get_str(m, "configuration");
            out->u.domain.removed = json_get_bool(m, "removed", false);
            return out->u.domain.domain ? 0 : corrupt("domainMetadata without domain");
        }
        if (strcmp(k, "commitInfo") == 0) {
            out->kind = LOG_COMMITINFO;
            out->u.commit_info = m;
            return 0;
        }
    }
    out->kind = LOG_OTHER; /* checkpointMetadata, sidecar, ... */
    return 0;
}

int log_parse_action(arena *a, const char *line, size_t len, log_action *out)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len) {
        memset(out, 0, sizeof(*out));
        return 0;
    }
    json *obj;
    int rc = json_parse(a, line, len, &obj);
    return rc ? rc : log_action_from_json(a, obj, out);
}

const char *log_dv_unique_id(arena *a, const log_dv *dv)
{
    if (!dv->storage_type)
        return "";
    buf b = BUF_INIT;
    const char *out = NULL;
    if (buf_putc(&b, dv->storage_type) == 0 && buf_puts(&b, dv->path_or_inline) == 0 &&
        (dv->offset < 0 || buf_printf(&b, "@%lld", (long long)dv->offset) == 0))
        out = arena_strdup(a, b.data);
    buf_free(&b);
    return out;
}

/* ---- writing ---------------------------------------------------------------- */

int log_write_kv(buf *b, const log_kv *kv)
{
    int rc = buf_putc(b, '{');
    for (size_t i = 0; rc == 0 && i < kv->count; i++) {
        if (i)
            rc = buf_putc(b, ',');
        if (!rc)
            rc = buf_put_json_str(b, kv->keys[i]);
        if (!rc)
            rc = buf_putc(b, ':');
        if (!rc)
            rc = kv->values[i] ? buf_put_json_str(b, kv->values[i]) : buf_puts(b, "null");
    }
    return rc ? rc : buf_putc(b, '}');
}

static int write_strings(buf *b, const char **v, size_t n)
{
    int rc = buf_putc(b, '[');
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = (i ? buf_putc(b, ',') : 0) || buf_put_json_str(b, v[i]);
    return rc ? loch_error_last_code() : buf_putc(b, ']');
}

int log_write_protocol(buf *b, const log_protocol *p)
{
    int rc = buf_printf(b, "{\"protocol\":{\"minReaderVersion\":%d,\"minWriterVersion\":%d",
                        p->min_reader, p->min_writer);
    if (!rc && p->min_reader >= 3)
        rc = buf_puts(b, ",\"readerFeatures\":") || write_strings(b, p->reader_features, p->reader_count);
    if (!rc && p->min_writer >= 7)
        rc = buf_puts(b, ",\"writerFeatures\":") || write_strings(b, p->writer_features, p->writer_count);
    return rc ? loch_error_last_code() : buf_puts(b, "}}\n");
}

int log_write_metadata(buf *b, const log_metadata *m)
{
    if (!m->id || !m->schema_string) /* read from a foreign log, which may omit them */
        return error_set(LOCH_EINVALID, "a metaData without %s cannot be written", m->id ? "schemaString" : "id");
    int rc = buf_puts(b, "{\"metaData\":{\"id\":");
    rc = rc || buf_put_json_str(b, m->id);
    if (m->name)
        rc = rc || buf_puts(b, ",\"name\":") || buf_put_json_str(b, m->name);
    if (m->description)
        rc = rc || buf_puts(b, ",\"description\":") || buf_put_json_str(b, m->description);
    rc = rc || buf_puts(b, ",\"format\":{\"provider\":\"parquet\",\"options\":{}},\"schemaString\":");
    rc = rc || buf_put_json_str(b, m->schema_string);
    rc = rc || buf_puts(b, ",\"partitionColumns\":");
    rc = rc || write_strings(b, m->partition_columns, m->partition_count);
    rc = rc || buf_puts(b, ",\"configuration\":") || log_write_kv(b, &m->configuration);
    rc = rc || buf_printf(b, ",\"createdTime\":%lld}}\n", (long long)m->created_time);
    return rc ? loch_error_last_code() : 0;
}

static int write_file_common(buf *b, const log_file *f)
{
    char *enc = uri_encode_path(f->path);
    if (!enc)
        return error_set(LOCH_ENOMEM, "out of memory");
    int rc = buf_puts(b, "\"path\":") || buf_put_json_str(b, enc);
    free(enc);
    rc = rc || buf_puts(b, ",\"partitionValues\":") || log_write_kv(b, &f->partition_values);
    if (f->size >= 0)
        rc = rc || buf_printf(b, ",\"size\":%lld", (long long)f->size);
    rc = rc || buf_printf(b, ",\"dataChange\":%s", f->data_change ? "true" : "false");
    return rc ? loch_error_last_code() : 0;
}

static int write_dv(buf *b, const log_dv *dv)
{
    if (!dv->storage_type)
        return 0;
    int rc = buf_printf(b, ",\"deletionVector\":{\"storageType\":\"%c\",\"pathOrInlineDv\":",
                        dv->storage_type) || buf_put_json_str(b, dv->path_or_inline);
    if (!rc && dv->offset >= 0)
        rc = buf_printf(b, ",\"offset\":%lld", (long long)dv->offset);
    rc = rc || buf_printf(b, ",\"sizeInBytes\":%lld,\"cardinality\":%lld}",
                          (long long)dv->size_in_bytes, (long long)dv->cardinality);
    return rc ? loch_error_last_code() : 0;
}

int log_write_add(buf *b, const log_file *f)
{
    int rc = buf_puts(b, "{\"add\":{") || write_file_common(b, f) || write_dv(b, &f->dv);
    rc = rc || buf_printf(b, ",\"modificationTime\":%lld", (long long)f->modification_time);
    if (f->stats)
        rc = rc || buf_puts(b, ",\"stats\":") || buf_put_json_str(b, f->stats);
    if (f->tags.count)
        rc = rc || buf_puts(b, ",\"tags\":") || log_write_kv(b, &f->tags);
    return rc ? loch_error_last_code() : buf_puts(b, "}}\n");
}

int log_write_remove(buf *b, const log_file *f)
{
    int rc = buf_puts(b, "{\"remove\":{") || write_file_common(b, f) || write_dv(b, &f->dv);
    rc = rc || buf_printf(b, ",\"deletionTimestamp\":%lld,\"extendedFileMetadata\":true",
                          (long long)f->deletion_timestamp);
    return rc ? loch_error_last_code() : buf_puts(b, "}}\n");
}

int log_write_txn(buf *b, const log_txn *t)
{
    int rc = buf_puts(b, "{\"txn\":{\"appId\":") || buf_put_json_str(b, t->app_id);
    rc = rc || buf_printf(b, ",\"version\":%lld,\"lastUpdated\":%lld}}\n", (long long)t->version,
                          (long long)t->last_updated);
    return rc ? loch_error_last_code() : 0;
}

int log_write_cdc(buf *b, const log_file *f)
{
    int rc = buf_puts(b, "{\"cdc\":{") || write_file_common(b, f);
    if (f->tags.count)
        rc = rc || buf_puts(b, ",\"tags\":") || log_write_kv(b, &f->tags);
    return rc ? loch_error_last_code() : buf_puts(b, "}}\n");
}

int log_write_domain(buf *b, const log_domain *d)
{
    int rc = buf_puts(b, "{\"domainMetadata\":{\"domain\":") || buf_put_json_str(b, d->domain);
    rc = rc || buf_puts(b, ",\"configuration\":") || buf_put_json_str(b, d->configuration ? d->configuration : "");
    rc = rc || buf_printf(b, ",\"removed\":%s}}\n", d->removed ? "true" : "false");
    return rc ? loch_error_last_code() : 0;
}

void log_commit_name(int64_t version, char out[32])
{
    snprintf(out, 32, "%020lld.json", (long long)version);
}

int64_t log_name_version(const char *name, char *kind, int *part, int *parts)
{
    *kind = 0;
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return -1;
    int64_t v = strtoll(name, NULL, 10);
    const char *rest = name + 20;
    if (strcmp(rest, ".json") == 0) {
        *kind = 'j';
    } else if (strcmp(rest, ".checkpoint.parquet") == 0) {
        *kind = 'c';
    } else if (strncmp(rest, ".checkpoint.", 12) == 0) {
        const char *t = rest + 12;
        int a, b, n = 0;
        if (sscanf(t, "%10d.%10d.parquet%n", &a, &b, &n) == 2 && t[n] == '\0' && strlen(t) == 29) {
            *kind = 'm';
            *part = a;
            *parts = b;
        } else if (strlen(t) > 36 && (strstr(t, ".json") || strstr(t, ".parquet"))) {
            *kind = 'v';
        } else {
            return -1;
        }
    } else {
        return -1;
    }
    return v;
}
