/*
 * core/snapshot.c - replaying actions into a snapshot. See snapshot.h.
 *
 * Removal during replay only marks a slot dead (path = NULL) so slots stay stable while
 * the index points at them; snapshot_finish() compacts once. Replaying N actions is
 * O(N) expected time.
 */
#include "core/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void snapshot_init(snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->version = -1;
}

void snapshot_free(snapshot *s)
{
    if (!s)
        return;
    free(s->files);
    free(s->tombstones);
    free(s->txns);
    strmap_free(&s->index);
    arena_free(&s->arena);
    snapshot_init(s);
}

static int grow(void **arr, size_t *alloc, size_t need, size_t size)
{
    if (need <= *alloc)
        return 0;
    size_t n = *alloc ? *alloc * 2 : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * size);
    if (!p)
        return error_set(LOCH_ENOMEM, "out of memory replaying the log");
    *arr = p;
    *alloc = n;
    return 0;
}

static const char *file_key(snapshot *s, const log_file *f)
{
    const char *dv = log_dv_unique_id(&s->arena, &f->dv);
    if (!dv)
        return NULL;
    if (!*dv)
        return f->path;
    size_t a = strlen(f->path), b = strlen(dv);
    char *k = arena_alloc(&s->arena, a + b + 2);
    if (k) {
        memcpy(k, f->path, a);
        k[a] = '\x1f'; /* cannot appear in a decoded path we accept from a writer */
        memcpy(k + a + 1, dv, b + 1);
    }
    return k;
}

static int apply_add(snapshot *s, const log_file *f)
{
    const char *key = file_key(s, f);
    if (!key)
        return LOCH_ENOMEM;
    size_t slot;
    if (strmap_get(&s->index, key, &slot)) {
        s->files[slot] = *f;
        return 0;
    }
    int rc = grow((void **)&s->files, &s->file_alloc, s->file_count + 1, sizeof(log_file));
    if (rc < 0)
        return rc;
    s->files[s->file_count] = *f;
    if ((rc = strmap_put(&s->index, key, s->file_count)) < 0)
        return rc;
    s->file_count++;
    return 0;
}

static int apply_remove(snapshot *s, const log_file *f)
{
    const char *key = file_key(s, f);
    if (!key)
        return LOCH_ENOMEM;
    size_t slot;
    if (strmap_get(&s->index, key, &slot)) {
        s->files[slot].path = NULL;
        strmap_del(&s->index, key);
    }
    int rc = grow((void **)&s->tombstones, &s->tombstone_alloc, s->tombstone_count + 1,
                  sizeof(log_file));
    if (rc < 0)
        return rc;
    s->tombstones[s->tombstone_count++] = *f;
    return 0;
}

static int apply_txn(snapshot *s, const log_txn *t)
{
    for (size_t i = 0; i < s->txn_count; i++) {
        if (strcmp(s->txns[i].app_id, t->app_id) == 0) {
            s->txns[i] = *t;
            return 0;
        }
    }
    int rc = grow((void **)&s->txns, &s->txn_alloc, s->txn_count + 1, sizeof(log_txn));
    if (rc == 0)
        s->txns[s->txn_count++] = *t;
    return rc;
}

int snapshot_apply(snapshot *s, const log_action *act)
{
    switch (act->kind) {
    case LOG_ADD: return apply_add(s, &act->u.file);
    case LOG_REMOVE: return apply_remove(s, &act->u.file);
    case LOG_TXN: return apply_txn(s, &act->u.txn);
    case LOG_PROTOCOL:
        s->protocol = act->u.protocol;
        s->has_protocol = true;
        return 0;
    case LOG_METADATA:
        s->metadata = act->u.metadata;
        s->has_metadata = true;
        return 0;
    default:
        return 0;
    }
}

int snapshot_check_readable(const log_protocol *p)
{
    static const char *supported[] = {"columnMapping", "deletionVectors", "timestampNtz",
                                      "v2Checkpoint", "vacuumProtocolCheck", "typeWidening",
                                      "typeWidening-preview"};
    if (p->min_reader > 3)
        return error_set(LOCH_EUNSUPPORTED, "table needs reader version %d; loch reads up to 3",
                         p->min_reader);
    if (p->min_reader < 3)
        return 0;
    for (size_t i = 0; i < p->reader_count; i++) {
        bool ok = false;
        for (size_t j = 0; j < sizeof(supported) / sizeof(supported[0]); j++)
            ok = ok || strcmp(p->reader_features[i], supported[j]) == 0;
        if (!ok)
            return error_set(LOCH_EUNSUPPORTED,
                             "table needs reader feature \"%s\", which loch does not implement",
                             p->reader_features[i]);
    }
    return 0;
}

const char *snapshot_property(const snapshot *s, const char *key)
{
    const log_kv *c = &s->metadata.configuration;
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->keys[i], key) == 0)
            return c->values[i];
    return NULL;
}

int snapshot_check_writable(const snapshot *s)
{
    /* Writer features whose rules loch's writes obey. Some only matter when in use
     * (generated and identity columns, CHECK constraints, invariants: checked below,
     * from the schema and properties): an upgrade from a legacy writer version lists
     * them all, used or not, and they must not make the table unwritable. */
    static const char *ok[] = {"appendOnly", "timestampNtz", "deletionVectors", "changeDataFeed",
                               "vacuumProtocolCheck", "domainMetadata", "v2Checkpoint",
                               "typeWidening", "invariants", "checkConstraints", "generatedColumns",
                               "identityColumns"};
    const log_protocol *p = &s->protocol;
    /* Read from the schema, not the protocol: a legacy writer version (4 to 6) allows
     * generated and identity columns without naming a feature, and a writer that
     * ignored them would store values that break the table's rules. */
    for (size_t i = 0; i < s->schema.count; i++) {
        if (s->schema.fields[i].generated)
            return error_set(LOCH_EUNSUPPORTED, "writing to tables with generated columns is not supported yet "
                             "(column \"%s\")", s->schema.fields[i].name);
        if (s->schema.fields[i].identity)
            return error_set(LOCH_EUNSUPPORTED, "writing to tables with identity columns is not supported yet "
                             "(column \"%s\")", s->schema.fields[i].name);
    }
    if (p->min_writer > 7)
        return error_set(LOCH_EUNSUPPORTED, "table needs writer version %d", p->min_writer);
    for (size_t i = 0; p->min_writer == 7 && i < p->writer_count; i++) {
        bool good = false;
        for (size_t j = 0; j < sizeof(ok) / sizeof(ok[0]); j++)
            good = good || strcmp(p->writer_features[i], ok[j]) == 0;
        if (!good)
            return error_set(LOCH_EUNSUPPORTED,
                             "writing needs writer feature \"%s\", which loch does not implement",
                             p->writer_features[i]);
    }
    const char *mode = snapshot_property(s, "delta.columnMapping.mode");
    if (mode && strcmp(mode, "none") != 0)
        return error_set(LOCH_EUNSUPPORTED, "writing to tables with column mapping is not supported yet");
    for (size_t i = 0; i < s->metadata.configuration.count; i++)
        if (strncmp(s->metadata.configuration.keys[i], "delta.constraints.", 18) == 0)
            return error_set(LOCH_EUNSUPPORTED, "writing to tables with CHECK constraints is not supported yet");
    if (s->metadata.partition_count > 0)
        return error_set(LOCH_EUNSUPPORTED, "writing to partitioned tables is not supported yet (reading them is)");
    if (s->schema_string_has_invariants)
        return error_set(LOCH_EUNSUPPORTED, "writing to tables with column invariants is not supported yet");
    return 0;
}

int64_t snapshot_txn_version(const snapshot *s, const char *app_id)
{
    for (size_t i = 0; i < s->txn_count; i++)
        if (strcmp(s->txns[i].app_id, app_id) == 0)
            return s->txns[i].version;
    return -1;
}

/* An integer property, or dflt when absent; malformed text is refused by name. */
static int int_property(const snapshot *s, const char *key, const char *preview, int64_t dflt, int64_t *out)
{
    const char *v = snapshot_property(s, key);
    v = v ? v : snapshot_property(s, preview);
    *out = dflt;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < 0)
        return error_set(LOCH_ECORRUPT, "table property %s is not a version or time: \"%s\"", key, v);
    *out = n;
    return 0;
}

int snapshot_ict_info(const snapshot *s, snapshot_ict *out)
{
    /* delta-spark 3.2 wrote the preview names; the protocol's are the plain ones. */
    const char *on = snapshot_property(s, "delta.enableInCommitTimestamps");
    on = on ? on : snapshot_property(s, "delta.enableInCommitTimestamps-preview");
    memset(out, 0, sizeof(*out));
    out->enabled = on && strcmp(on, "true") == 0;
    if (!out->enabled)
        return 0;
    int rc = int_property(s, "delta.inCommitTimestampEnablementVersion",
                          "delta.inCommitTimestampEnablementVersion-preview", 0, &out->version);
    rc = rc ? rc : int_property(s, "delta.inCommitTimestampEnablementTimestamp",
                                "delta.inCommitTimestampEnablementTimestamp-preview", INT64_MIN, &out->timestamp_ms);
    if (rc == 0 && out->version > 0 && out->timestamp_ms == INT64_MIN)
        rc = error_set(LOCH_ECORRUPT, "in-commit timestamps enabled at version %lld without "
                       "delta.inCommitTimestampEnablementTimestamp", (long long)out->version);
    return rc;
}

void snapshot_ict_window(const snapshot_ict *ict, int64_t at_ms, int64_t *first, int64_t *last, bool *use_ict)
{
    *first = 0;
    *last = INT64_MAX;
    *use_ict = false;
    if (!ict->enabled)
        return;
    if (ict->version == 0 || at_ms >= ict->timestamp_ms) {
        *first = ict->version;
        *use_ict = true;
    } else {
        *last = ict->version - 1;
    }
}

/* stats.numRecords, read without building a tree: this runs once per file on every
 * table load. Falls back to a full parse when the text is not in the plain form. */
static int64_t stats_num_records(arena *a, const char *stats)
{
    if (!stats)
        return -1;
    const char *k = strstr(stats, "\"numRecords\"");
    if (k) {
        const char *p = k + 12;
        while (*p == ' ')
            p++;
        if (*p == ':') {
            char *end;
            long long v = strtoll(p + 1, &end, 10);
            while (*end == ' ')
                end++;
            if (end != p + 1 && (*end == ',' || *end == '}') && v >= 0)
                return v;
        }
    }
    json *j;
    if (json_parse(a, stats, strlen(stats), &j) < 0)
        return -1;
    return json_get_i64(j, "numRecords", -1);
}

int snapshot_finish(snapshot *s, int64_t version)
{
    int rc;
    if (!s->has_protocol || !s->has_metadata)
        return error_set(LOCH_ECORRUPT, "log up to version %lld has no %s action",
                         (long long)version, s->has_protocol ? "metaData" : "protocol");
    if ((rc = snapshot_check_readable(&s->protocol)) < 0)
        return rc;
    /* Only the metaData in effect must be whole; older ones were replaced unread. */
    if (!s->metadata.id || !s->metadata.schema_string)
        return error_set(LOCH_ECORRUPT, "the metaData in effect at version %lld has no %s", (long long)version,
                         s->metadata.id ? "schemaString" : "id");
    if ((rc = schema_parse(&s->arena, s->metadata.schema_string, s->metadata.partition_columns,
                           s->metadata.partition_count, &s->schema)) < 0)
        return rc;
    s->schema_string_has_invariants = strstr(s->metadata.schema_string, "delta.invariants") != NULL;
    size_t n = 0;
    s->num_records = 0;
    s->size_bytes = 0;
    for (size_t i = 0; i < s->file_count; i++) {
        if (!s->files[i].path)
            continue;
        if (n != i)
            s->files[n] = s->files[i];
        log_file *f = &s->files[n++]; /* counted where it now lives */
        if (f->num_records == LOG_UNCOUNTED)
            f->num_records = stats_num_records(&s->arena, f->stats);
        int64_t r = f->num_records;
        if (r < 0 || s->num_records < 0)
            s->num_records = -1;
        else
            s->num_records += r - (f->dv.storage_type ? f->dv.cardinality : 0);
        s->size_bytes += f->size > 0 ? f->size : 0;
    }
    /* The index maps keys to slots; when slots moved it is rebuilt on reopen, but a
     * table that only grew (appends) keeps it, so moving forward costs O(new files). */
    if (n != s->file_count)
        strmap_free(&s->index);
    s->file_count = n;
    s->version = version;
    return 0;
}

int snapshot_reopen(snapshot *s)
{
    if (s->index.count == s->file_count) {
        s->version = -1;
        return 0;
    }
    strmap_free(&s->index);
    for (size_t i = 0; i < s->file_count; i++) {
        const char *key = file_key(s, &s->files[i]);
        int rc = key ? strmap_put(&s->index, key, i) : LOCH_ENOMEM;
        if (rc < 0)
            return rc;
    }
    s->version = -1;
    return 0;
}
