/*
 * core/log.h - Delta log actions: parsing a commit's lines and writing new ones.
 *
 * "The Delta protocol" in loch's comments is the specification at
 * https://github.com/delta-io/delta/blob/master/PROTOCOL.md; comments name its sections
 * in quotes ("Action Reconciliation").
 *
 * A commit file `_delta_log/<20-digit version>.json` holds one JSON object per line,
 * each with exactly one action key:
 *
 *   key         we read                                   notes
 *   protocol    minReaderVersion, minWriterVersion,       feature lists only at 3 / 7
 *               readerFeatures, writerFeatures
 *   metaData    id, schemaString, partitionColumns,       latest one wins, whole
 *               configuration, createdTime, name
 *   add         path (URI-encoded), partitionValues,      key = (path, dv uniqueId)
 *               size, modificationTime, dataChange,
 *               stats (a JSON string), deletionVector, tags
 *   remove      path, deletionTimestamp, dataChange, deletionVector
 *   txn         appId, version, lastUpdated               latest version per appId
 *   cdc         path, partitionValues, size, dataChange   change data files (shares log_file)
 *   domainMetadata  domain, configuration, removed        latest per domain
 *   commitInfo  kept raw (timestamp, operation, ...)      never in checkpoints
 *
 * Unknown actions and unknown fields are ignored, as the protocol requires. Parsing
 * does no I/O: callers hand in bytes. Strings point into the caller's arena.
 */
#ifndef LOCH_CORE_LOG_H
#define LOCH_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"

typedef struct {
    const char **keys, **values; /* values[i] NULL means JSON null */
    size_t count;
} log_kv;

typedef struct {
    char storage_type;           /* 'u', 'i' or 'p'; 0 when the file has no DV */
    const char *path_or_inline;
    int64_t offset;              /* -1 when absent */
    int64_t size_in_bytes;
    int64_t cardinality;
} log_dv;

typedef enum {
    LOG_NONE, LOG_PROTOCOL, LOG_METADATA, LOG_ADD, LOG_REMOVE, LOG_TXN, LOG_COMMITINFO,
    LOG_CDC, LOG_DOMAIN, LOG_OTHER
} log_kind;

typedef struct {
    int min_reader, min_writer;
    const char **reader_features, **writer_features;
    size_t reader_count, writer_count;
} log_protocol;

typedef struct {
    const char *id, *name, *description, *schema_string;
    const char **partition_columns;
    size_t partition_count;
    log_kv configuration;
    int64_t created_time;
} log_metadata;

#define LOG_UNCOUNTED (-2)

typedef struct {
    const char *path;            /* decoded (no %XX) */
    log_kv partition_values;
    int64_t size, modification_time, deletion_timestamp;
    bool data_change;
    const char *stats;           /* raw JSON text or NULL */
    log_dv dv;
    int64_t num_records;         /* stats.numRecords; LOG_UNCOUNTED until replay counts it */
    log_kv tags;                 /* add.tags; loch records "loch.schema" (see ops/write.c) */
} log_file;                      /* add, remove and cdc share it */

typedef struct {
    const char *app_id;
    int64_t version, last_updated;
} log_txn;

typedef struct {
    const char *domain;
    const char *configuration;   /* the domain's own text (often JSON), kept as is */
    bool removed;
} log_domain;

typedef struct {
    log_kind kind;
    union {
        log_protocol protocol;
        log_metadata metadata;
        log_file file;
        log_txn txn;
        log_domain domain;
        const json *commit_info;
    } u;
} log_action;

/* Parses one line. Blank lines give LOG_NONE. Errors: LOCH_ECORRUPT. */
int log_parse_action(arena *a, const char *line, size_t len, log_action *out);
/* Pieces of a file action: a string map (partitionValues, tags) and a DV descriptor. */
int log_read_kv(arena *a, const json *obj, log_kv *out);
int log_read_dv(const json *obj, log_dv *dv);
/* Parses a parsed JSON object {"add": {...}} etc. (used for checkpoint rows too). */
int log_action_from_json(arena *a, const json *obj, log_action *out);

/* The uniqueId of a DV ("" without one): storageType + pathOrInlineDv [+ "@" offset]. */
const char *log_dv_unique_id(arena *a, const log_dv *dv);

/* Writers: each appends one line (with '\n') to the commit text in b. */
int log_write_protocol(buf *b, const log_protocol *p);
int log_write_metadata(buf *b, const log_metadata *m);
int log_write_add(buf *b, const log_file *f);
int log_write_remove(buf *b, const log_file *f);
int log_write_txn(buf *b, const log_txn *t);
int log_write_cdc(buf *b, const log_file *f);
int log_write_domain(buf *b, const log_domain *d);
int log_write_kv(buf *b, const log_kv *kv);

/* "00000000000000000012.json" style names. */
void log_commit_name(int64_t version, char out[32]);
/* Returns the version when name is "<20 digits>.json", "<20 digits>.checkpoint.parquet",
 * etc.; sets *kind to 'j' (commit), 'c' (classic checkpoint), 'm' (multi-part part:
 * *part and *parts set), 'v' (v2 checkpoint) or 0 (anything else, returns -1). */
int64_t log_name_version(const char *name, char *kind, int *part, int *parts);

#endif
