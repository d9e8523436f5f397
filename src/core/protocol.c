/*
 * core/protocol.c - protocol selection over one table of Delta's features. See
 * protocol.h for the rules.
 */
#include "core/protocol.h"

#include <string.h>

#include "util/error.h"

typedef struct {
    const char *name;
    bool reader;                  /* a reader-writer feature (listed in readerFeatures too) */
    int legacy_reader, legacy_writer; /* the versions that imply it; 0 = table features only */
} feature;

/* In the order they are listed when written. */
static const feature features[] = {
    {"appendOnly", false, 1, 2},
    {"invariants", false, 1, 2},
    {"checkConstraints", false, 1, 3},
    {"changeDataFeed", false, 1, 4},
    {"generatedColumns", false, 1, 4},
    {"columnMapping", true, 2, 5},
    {"identityColumns", false, 1, 6},
    {"deletionVectors", true, 0, 0},
    {"timestampNtz", true, 0, 0},
    {"v2Checkpoint", true, 0, 0},
    {"typeWidening", true, 0, 0},
    {"vacuumProtocolCheck", true, 0, 0},
    {"domainMetadata", false, 0, 0},
    {"inCommitTimestamp", false, 0, 0},
    {"rowTracking", false, 0, 0},
};
#define NFEATURES (sizeof(features) / sizeof(features[0]))

static const feature *find(const char *name)
{
    for (size_t i = 0; i < NFEATURES; i++)
        if (strcmp(features[i].name, name) == 0)
            return &features[i];
    return NULL;
}

static bool listed(const char *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], name) == 0)
            return true;
    return false;
}

static int add(const char **out, size_t cap, size_t *n, const char *name)
{
    if (listed(out, *n, name))
        return 0;
    if (*n == cap)
        return error_set(LOCH_EINVALID, "a protocol with more than %zu features", cap);
    out[(*n)++] = name;
    return 0;
}

static const char *prop(const log_kv *kv, const char *key)
{
    for (size_t i = 0; kv && i < kv->count; i++)
        if (strcmp(kv->keys[i], key) == 0)
            return kv->values[i];
    return NULL;
}

static bool is(const log_kv *kv, const char *key, const char *value)
{
    const char *v = prop(kv, key);
    return v && strcmp(v, value) == 0;
}

int protocol_required(const log_kv *properties, unsigned columns, const char **out, size_t cap, size_t *n)
{
    const char *mode = prop(properties, "delta.columnMapping.mode");
    bool constraints = false;
    for (size_t i = 0; properties && i < properties->count; i++)
        constraints = constraints || strncmp(properties->keys[i], "delta.constraints.", 18) == 0;
    struct {
        bool on;
        const char *name;
    } rules[] = {
        {is(properties, "delta.appendOnly", "true"), "appendOnly"},
        {constraints, "checkConstraints"},
        {is(properties, "delta.enableChangeDataFeed", "true"), "changeDataFeed"},
        {mode && (strcmp(mode, "name") == 0 || strcmp(mode, "id") == 0), "columnMapping"},
        {is(properties, "delta.enableDeletionVectors", "true"), "deletionVectors"},
        {(columns & PROTOCOL_NTZ) != 0, "timestampNtz"},
        {(columns & PROTOCOL_NOT_NULL) != 0, "invariants"},
        {is(properties, "delta.checkpointPolicy", "v2"), "v2Checkpoint"},
        {is(properties, "delta.enableTypeWidening", "true"), "typeWidening"},
        {is(properties, "delta.enableInCommitTimestamps", "true"), "inCommitTimestamp"},
    };
    int rc = 0;
    *n = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(rules) / sizeof(rules[0]); i++)
        if (rules[i].on)
            rc = add(out, cap, n, rules[i].name);
    return rc;
}

static bool table_features(const log_protocol *p) { return p->min_reader >= 3 || p->min_writer >= 7; }

int protocol_supported(const log_protocol *p, const char **out, size_t cap, size_t *n)
{
    int rc = 0;
    *n = 0;
    if (p->min_writer >= 7)
        for (size_t i = 0; rc == 0 && i < p->writer_count; i++)
            rc = add(out, cap, n, p->writer_features[i]);
    else
        for (size_t i = 0; rc == 0 && i < NFEATURES; i++)
            if (features[i].legacy_writer && p->min_writer >= features[i].legacy_writer &&
                p->min_reader >= features[i].legacy_reader)
                rc = add(out, cap, n, features[i].name);
    /* reader features are writer features too; list any a writer left out */
    for (size_t i = 0; rc == 0 && p->min_reader >= 3 && i < p->reader_count; i++)
        rc = add(out, cap, n, p->reader_features[i]);
    return rc;
}

/* Copies a list of names into the arena. */
static int keep(arena *a, const char *const *v, size_t n, const char ***out)
{
    const char **copy = arena_alloc(a, sizeof(*copy) * (n + 1));
    if (!copy)
        return LOCH_ENOMEM;
    for (size_t i = 0; i < n; i++)
        copy[i] = v[i];
    *out = copy;
    return 0;
}

int protocol_choose(arena *a, const log_protocol *current, const log_kv *properties, unsigned columns,
                    log_protocol *out, bool *changed)
{
    const char *have[PROTOCOL_MAX_FEATURES], *need[PROTOCOL_MAX_FEATURES], *all[PROTOCOL_MAX_FEATURES];
    const char *readers[PROTOCOL_MAX_FEATURES];
    size_t nhave = 0, nneed = 0, nall = 0, nreaders = 0;
    log_protocol base = {1, 2, NULL, NULL, 0, 0};
    const log_protocol *cur = current ? current : &base;
    int rc = current ? protocol_supported(current, have, PROTOCOL_MAX_FEATURES, &nhave) : 0;
    rc = rc ? rc : protocol_required(properties, columns, need, PROTOCOL_MAX_FEATURES, &nneed);
    if (rc < 0)
        return rc;
    /* Known features in the table's order, then names only another writer knows. */
    bool legacy = !table_features(cur);
    int reader = cur->min_reader, writer = cur->min_writer;
    for (size_t i = 0; rc == 0 && i < NFEATURES; i++) {
        if (!listed(have, nhave, features[i].name) && !listed(need, nneed, features[i].name))
            continue;
        rc = add(all, PROTOCOL_MAX_FEATURES, &nall, features[i].name);
        legacy = legacy && features[i].legacy_writer;
        if (features[i].legacy_writer) {
            reader = reader > features[i].legacy_reader ? reader : features[i].legacy_reader;
            writer = writer > features[i].legacy_writer ? writer : features[i].legacy_writer;
        }
    }
    for (size_t i = 0; rc == 0 && i < nhave; i++)
        if (!find(have[i]))
            rc = add(all, PROTOCOL_MAX_FEATURES, &nall, have[i]);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    if (legacy) {
        out->min_reader = reader;
        out->min_writer = writer;
    } else {
        /* Reader features: the reader-writer ones, and what the table listed already. */
        for (size_t i = 0; rc == 0 && i < nall; i++) {
            const feature *f = find(all[i]);
            bool was = cur->min_reader >= 3 && listed(cur->reader_features, cur->reader_count, all[i]);
            if ((f && f->reader) || was)
                rc = add(readers, PROTOCOL_MAX_FEATURES, &nreaders, all[i]);
        }
        out->min_writer = 7;
        out->min_reader = nreaders || cur->min_reader >= 3 ? 3 : reader;
        rc = rc ? rc : keep(a, all, nall, &out->writer_features);
        out->writer_count = nall;
        if (rc == 0 && out->min_reader >= 3) {
            rc = keep(a, readers, nreaders, &out->reader_features);
            out->reader_count = nreaders;
        }
        if (rc < 0)
            return rc;
    }
    /* Changed: other versions, or another set of names (order does not matter). */
    bool same = current && out->min_reader == current->min_reader && out->min_writer == current->min_writer;
    if (same && out->min_writer >= 7) {
        same = out->writer_count == current->writer_count;
        for (size_t i = 0; same && i < out->writer_count; i++)
            same = listed(current->writer_features, current->writer_count, out->writer_features[i]);
    }
    if (same && out->min_reader >= 3) {
        same = out->reader_count == current->reader_count;
        for (size_t i = 0; same && i < out->reader_count; i++)
            same = listed(current->reader_features, current->reader_count, out->reader_features[i]);
    }
    *changed = !same;
    return 0;
}
