/*
 * ops/alter.c - ALTER TABLE t SET TBLPROPERTIES ('key' = 'value', ...): one metadata
 * commit that merges the given properties into metaData.configuration.
 *
 * Keys outside the delta.* namespace are the user's and stored as given. Of Delta's own
 * keys loch accepts the ones whose rules it follows (delta.enableDeletionVectors and
 * delta.enableChangeDataFeed among them: DELETE, UPDATE and MERGE then write deletion
 * vectors and change data, ops/dml.c); a key whose rules loch does not follow yet
 * (column mapping, ...) is refused rather than recorded and then ignored. One that needs a feature the protocol lacks upgrades it (core/protocol.h).
 */
#include "ops/ops.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checkpoint.h"
#include "util/misc.h"

/* Digits with an optional leading '-', nothing else, within 64 bits. */
static bool whole_number(const char *s, long long *out)
{
    char *end;
    errno = 0;
    if (!*s || isspace((unsigned char)*s) || *s == '+')
        return false;
    *out = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0';
}

static int check_property(const char *key, const char *value)
{
    static const char *known[] = {"delta.checkpointInterval", "delta.logRetentionDuration",
                                  "delta.deletedFileRetentionDuration", "delta.enableExpiredLogCleanup",
                                  "delta.appendOnly", "delta.dataSkippingNumIndexedCols", "delta.targetFileSize",
                                  "delta.isolationLevel", "delta.enableDeletionVectors",
                                  "delta.enableChangeDataFeed", "delta.autoOptimize.autoCompact"};
    const char *c = value, *item;
    size_t len;
    while (strcmp(key, EMBED_AUTO_PROPERTY) == 0 && list_item(&c, &item, &len))
        if (!len || len > 255)
            return error_set(LOCH_EINVALID, "%s is a list of column names, separated by commas, not \"%s\"", key,
                             value);
    size_t bytes;
    if (strcmp(key, EMBED_CHUNK_PROPERTY) == 0 && embed_chunk_size(value, &bytes) < 0)
        return loch_error_last_code();
    if (strcmp(key, TAIL_LOG_PROPERTY) == 0 && strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
        return error_set(LOCH_EINVALID, "%s must be true or false, not \"%s\"", key, value);
    if (strncmp(key, "delta.", 6) != 0)
        return 0;
    size_t i = 0;
    while (i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]) != 0)
        i++;
    if (i == sizeof(known) / sizeof(known[0]))
        return error_set(LOCH_EUNSUPPORTED, "table property %s is not supported by loch yet", key);
    /* Values as strict as Delta's own readers: one they refuse makes the table
     * unreadable or unwritable for them. */
    long long n;
    if (strcmp(key, "delta.targetFileSize") == 0 && (!whole_number(value, &n) || n < 1024 * 1024))
        return error_set(LOCH_EINVALID, "delta.targetFileSize is in bytes, at least 1048576, not \"%s\"", value);
    if (strcmp(key, "delta.checkpointInterval") == 0 && (!whole_number(value, &n) || n <= 0 || n > 2147483647))
        return error_set(LOCH_EINVALID, "delta.checkpointInterval must be a whole number from 1 to 2147483647, not "
                         "\"%s\"", value);
    if (strcmp(key, "delta.dataSkippingNumIndexedCols") == 0 &&
        (!whole_number(value, &n) || n < -1 || n > 2147483647))
        return error_set(LOCH_EINVALID, "delta.dataSkippingNumIndexedCols must be a whole number, -1 or more, not "
                         "\"%s\"", value);
    int64_t ms;
    if (strstr(key, "Duration") && checkpoint_interval_parse(value, &ms) < 0)
        return error_prefix("%s: ", key);
    if (strcmp(key, "delta.isolationLevel") == 0 && !*value)
        return error_set(LOCH_EINVALID, "delta.isolationLevel must be Serializable or WriteSerializable");
    if ((strcmp(key, "delta.enableExpiredLogCleanup") == 0 || strcmp(key, "delta.appendOnly") == 0 ||
         strcmp(key, "delta.enableDeletionVectors") == 0 || strcmp(key, "delta.enableChangeDataFeed") == 0 ||
         strcmp(key, "delta.autoOptimize.autoCompact") == 0) &&
        strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
        return error_set(LOCH_EINVALID, "%s must be true or false, not \"%s\"", key, value);
    commit_isolation level;
    if (strcmp(key, "delta.isolationLevel") == 0 && commit_isolation_parse(value, &level) < 0)
        return loch_error_last_code();
    return 0;
}

int ops_set_properties(loch_lake *lake, const char *table, const char **keys, const char **values, size_t n,
                       loch_result **out)
{
    snapshot *s = NULL;
    txlog_commit c;
    int64_t version = 0;
    const log_kv *old = NULL;
    const char **k = NULL, **v = NULL;
    buf params = BUF_INIT;
    txlog_commit_init(&c, table, "SET TBLPROPERTIES");
    int rc = txlog_load(lake, table, &(txlog_at){-1, 0, 0}, &s);
    rc = rc ? rc : snapshot_check_writable(s);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = check_property(keys[i], values[i]);
        if (rc == 0 && strcmp(keys[i], TAIL_LOG_PROPERTY) == 0 && strcmp(values[i], "false") == 0 &&
            snapshot_property(s, TAIL_PK_PROPERTY))
            rc = error_set(LOCH_EINVALID, "table \"%s\" has a primary key: its writes always go through its "
                           "write-ahead log", table);
        for (size_t f = 0; rc == 0 && strcmp(keys[i], TAIL_LOG_PROPERTY) == 0 && strcmp(values[i], "true") == 0 &&
                           f < s->schema.count; f++)
            if (tail_reserved(s->schema.fields[f].name))
                rc = error_set(LOCH_EINVALID, "table \"%s\" has a column named %s, which its write-ahead log would "
                               "use for its own: rename the column first", table, s->schema.fields[f].name);
        /* a key is declared with the table (CREATE TABLE ... PRIMARY KEY), where it holds
         * from the first row: set later, rows already in the table could share one */
        if (rc == 0 && strcmp(keys[i], TAIL_PK_PROPERTY) == 0)
            rc = error_set(LOCH_EINVALID, "%s is set by CREATE TABLE ... PRIMARY KEY, not by SET TBLPROPERTIES",
                           TAIL_PK_PROPERTY);
    }
    if (rc < 0)
        goto cleanup;
    old = &s->metadata.configuration;
    k = calloc(old->count + n + 1, sizeof(char *));
    v = calloc(old->count + n + 1, sizeof(char *));
    if (!k || !v) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto cleanup;
    }
    size_t m = 0;
    for (size_t i = 0; i < old->count; i++, m++) {
        k[m] = old->keys[i];
        v[m] = old->values[i];
        for (size_t j = 0; j < n; j++)
            if (strcmp(keys[j], old->keys[i]) == 0)
                v[m] = values[j];
    }
    for (size_t j = 0; j < n; j++) {
        size_t i = 0;
        while (i < m && strcmp(k[i], keys[j]) != 0)
            i++;
        if (i == m) {
            k[m] = keys[j];
            v[m++] = values[j];
        }
    }
    log_metadata md = s->metadata;
    md.configuration = (log_kv){k, v, m};
    rc = txlog_commit_against(&c, s);
    rc = rc || log_write_kv(&params, &(log_kv){keys, values, n}) ? loch_error_last_code() : 0;
    rc = rc ? rc : commit_parameter(&c.cm, "properties", params.data);
    /* A property that needs a feature the protocol lacks (delta.appendOnly on a (1,1)
     * table) upgrades it in the same commit (core/protocol.c). */
    log_action p = {.kind = LOG_PROTOCOL};
    bool upgrade = false;
    unsigned kinds = 0;
    for (size_t i = 0; i < s->schema.count; i++)
        kinds |= s->schema.fields[i].nullable ? 0 : PROTOCOL_NOT_NULL;
    kinds |= strstr(s->metadata.schema_string, "timestamp_ntz") ? PROTOCOL_NTZ : 0;
    rc = rc ? rc : protocol_choose(&c.cm.a, &s->protocol, &md.configuration, kinds, &p.u.protocol, &upgrade);
    rc = rc || !upgrade ? rc : commit_append(&c.cm, &p);
    rc = rc ? rc : commit_append(&c.cm, &(log_action){.kind = LOG_METADATA, .u.metadata = md});
    rc = rc ? rc : txlog_commit_run(lake, &c, &version);
    rc = rc ? rc : result_message(out, "set %zu propert%s of %s (version %lld)", n, n == 1 ? "y" : "ies", table,
                                  (long long)version);
cleanup:
    buf_free(&params);
    free(k);
    free(v);
    txlog_commit_free(&c);
    txlog_snapshot_free(s);
    return rc;
}
