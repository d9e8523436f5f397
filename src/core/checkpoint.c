/*
 * core/checkpoint.c - checkpoint rows, layout and retention. See checkpoint.h.
 */
#include "core/checkpoint.h"

#include "util/strmap.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "util/error.h"

#define F(n, t) {n, t, NULL}
#define S(n, f) {n, CP_STRUCT, f}
#define END {NULL, CP_STRING, NULL}

static const checkpoint_field dv[] = {F("storageType", CP_STRING), F("pathOrInlineDv", CP_STRING),
                                      F("offset", CP_INT), F("sizeInBytes", CP_INT), F("cardinality", CP_LONG), END};
static const checkpoint_field txn[] = {F("appId", CP_STRING), F("version", CP_LONG), F("lastUpdated", CP_LONG), END};
static const checkpoint_field add[] = {F("path", CP_STRING), F("partitionValues", CP_STRING_MAP), F("size", CP_LONG),
                                       F("modificationTime", CP_LONG), F("dataChange", CP_BOOL), F("stats", CP_STRING),
                                       F("tags", CP_STRING_MAP), S("deletionVector", dv), END};
static const checkpoint_field remove_[] = {F("path", CP_STRING), F("deletionTimestamp", CP_LONG),
                                           F("dataChange", CP_BOOL), F("extendedFileMetadata", CP_BOOL),
                                           F("partitionValues", CP_STRING_MAP), F("size", CP_LONG),
                                           S("deletionVector", dv), END};
static const checkpoint_field format[] = {F("provider", CP_STRING), F("options", CP_STRING_MAP), END};
static const checkpoint_field metadata[] = {F("id", CP_STRING), F("name", CP_STRING), F("description", CP_STRING),
                                            S("format", format), F("schemaString", CP_STRING),
                                            F("partitionColumns", CP_STRING_LIST), F("configuration", CP_STRING_MAP),
                                            F("createdTime", CP_LONG), END};
static const checkpoint_field protocol[] = {F("minReaderVersion", CP_INT), F("minWriterVersion", CP_INT),
                                            F("readerFeatures", CP_STRING_LIST), F("writerFeatures", CP_STRING_LIST),
                                            END};

const checkpoint_field checkpoint_schema[] = {S("txn", txn), S("add", add), S("remove", remove_),
                                              S("metaData", metadata), S("protocol", protocol), END};

int checkpoint_interval_parse(const char *text, int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t us;     /* microseconds per unit */
        bool days;      /* counted in days (a 32-bit field) by Delta readers */
    } units[] = {{"week", 7LL * 86400000000, true}, {"day", 86400000000LL, true}, {"hour", 3600000000LL, false},
                 {"minute", 60000000LL, false}, {"second", 1000000LL, false}, {"millisecond", 1000LL, false},
                 {"microsecond", 1LL, false}};
    long long n;
    char unit[24], extra;
    if (!text || sscanf(text, "interval %lld %23s %c", &n, unit, &extra) != 2 || n < 0 ||
        strncmp(text, "interval ", 9) != 0)
        return error_set(LOCH_EINVALID, "\"%s\" is not an interval such as \"interval 30 days\"", text ? text : "");
    size_t len = strlen(unit);
    if (len > 1 && unit[len - 1] == 's')
        unit[--len] = '\0';
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].unit) != 0)
            continue;
        int64_t days_per_unit = units[i].us / 86400000000LL;
        if ((units[i].days && n > 2147483647LL / days_per_unit) || (!units[i].days && n > INT64_MAX / units[i].us))
            return error_set(LOCH_EINVALID, "interval \"%s\" is longer than Delta readers accept", text);
        *ms = units[i].us >= 1000 ? n * (units[i].us / 1000) : n / (1000 / units[i].us);
        return 0;
    }
    return error_set(LOCH_EINVALID, "interval \"%s\": use weeks, days, hours, minutes, seconds, milliseconds or "
                     "microseconds (Delta takes no months or years)", text);
}

int64_t checkpoint_interval_ms(const char *text, int64_t dflt)
{
    int64_t ms;
    if (!text || checkpoint_interval_parse(text, &ms) < 0) {
        error_clear();
        return dflt;
    }
    return ms;
}

/* A file's identity in the log: its path and its deletion vector's id. */
static const char *live_key(arena *a, const log_file *f)
{
    const char *dvid = log_dv_unique_id(a, &f->dv);
    buf k = BUF_INIT;
    const char *out = dvid && buf_printf(&k, "%s\x1f%s", f->path, dvid) == 0 ? arena_strdup(a, k.data) : NULL;
    buf_free(&k);
    return out;
}

int checkpoint_rows(const snapshot *s, int64_t now_ms, buf *out, size_t *actions)
{
    int64_t keep = checkpoint_interval_ms(snapshot_property(s, "delta.deletedFileRetentionDuration"),
                                          7LL * 86400000);
    size_t n = 2 + s->file_count + s->txn_count;
    int rc = log_write_protocol(out, &s->protocol);
    rc = rc ? rc : log_write_metadata(out, &s->metadata);
    for (size_t i = 0; rc == 0 && i < s->file_count; i++)
        rc = log_write_add(out, &s->files[i]);
    /* A tombstone of a file that is live again (RESTORE re-adds what a version removed)
     * is no tombstone: a checkpoint holding both would read as the file removed. */
    arena a = ARENA_INIT;
    strmap live = STRMAP_INIT;
    for (size_t i = 0; rc == 0 && s->tombstone_count && i < s->file_count; i++) {
        const char *k = live_key(&a, &s->files[i]);
        rc = k && strmap_put(&live, k, i) == 0 ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < s->tombstone_count; i++) {
        size_t slot;
        const char *k = live_key(&a, &s->tombstones[i]);
        if (!k)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        else if (s->tombstones[i].deletion_timestamp > now_ms - keep && !strmap_get(&live, k, &slot)) {
            rc = log_write_remove(out, &s->tombstones[i]);
            n++;
        }
    }
    strmap_free(&live);
    arena_free(&a);
    for (size_t i = 0; rc == 0 && i < s->txn_count; i++)
        rc = log_write_txn(out, &s->txns[i]);
    *actions = n;
    return rc;
}

int checkpoint_last(int64_t version, size_t actions, size_t size_bytes, size_t add_files, buf *out)
{
    return buf_printf(out, "{\"version\":%lld,\"size\":%zu,\"sizeInBytes\":%zu,\"numOfAddFiles\":%zu}",
                      (long long)version, actions, size_bytes, add_files);
}

size_t checkpoint_expired(const checkpoint_log_file *files, size_t n, int64_t cutoff_ms, unsigned char *expire)
{
    int64_t keep_from = -1; /* the newest checkpoint at or before the cutoff */
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (files[i].kind == 'c' && files[i].mtime_ms <= cutoff_ms && files[i].version > keep_from)
            keep_from = files[i].version;
    for (size_t i = 0; i < n; i++) {
        expire[i] = keep_from > 0 && files[i].kind && files[i].version < keep_from && files[i].mtime_ms <= cutoff_ms;
        count += expire[i];
    }
    return count;
}
