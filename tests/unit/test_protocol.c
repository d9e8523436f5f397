/*
 * tests/unit/test_protocol.c - protocol selection, row by row.
 *
 * Oracle: PROTOCOL.md (delta-io/delta), "Table Features": legacy writer versions imply
 * appendOnly+invariants (2), checkConstraints (3), changeDataFeed+generatedColumns (4),
 * columnMapping (5, reader 2), identityColumns (6); newer features exist only under
 * reader 3 / writer 7; a writer-only feature needs writer 7 alone.
 */
#include <stdio.h>
#include <string.h>

#include "core/protocol.h"
#include "test.h"
#include "util/error.h"

/* "r,w|reader features|writer features" for a protocol, features comma-separated. */
static void show(const log_protocol *p, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "%d,%d|", p->min_reader, p->min_writer);
    for (size_t i = 0; i < p->reader_count && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "", p->reader_features[i]);
    n += (size_t)snprintf(out + n, cap - n, "|");
    for (size_t i = 0; i < p->writer_count && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "", p->writer_features[i]);
}

static const char *RF_CM[] = {"columnMapping"}, *WF_CM[] = {"columnMapping", "futureFeature"};
static const char *WF_DV[] = {"deletionVectors"}, *RF_DV[] = {"deletionVectors"};

static const struct {
    const char *what;
    bool has_current;
    log_protocol current;
    const char *key, *value;      /* one property, or NULL */
    unsigned ntz;                 /* PROTOCOL_NTZ, PROTOCOL_NOT_NULL */
    const char *want;
    bool changed;
} rows[] = {
    {"a new table", false, {0}, NULL, NULL, false, "1,2||", true},
    {"a new table with TIMESTAMP", false, {0}, NULL, NULL, true, "3,7|timestampNtz|timestampNtz", true},
    {"a new append-only table", false, {0}, "delta.appendOnly", "true", false, "1,2||", true},
    {"a new table with CDF", false, {0}, "delta.enableChangeDataFeed", "true", false, "1,4||", true},
    {"a new table with column mapping", false, {0}, "delta.columnMapping.mode", "name", false, "2,5||", true},
    {"column mapping none needs nothing", false, {0}, "delta.columnMapping.mode", "none", false, "1,2||", true},
    {"a new table with DVs", false, {0}, "delta.enableDeletionVectors", "true", false,
     "3,7|deletionVectors|deletionVectors", true},
    {"a NOT NULL column alone stays legacy", false, {0}, NULL, NULL, PROTOCOL_NOT_NULL, "1,2||", true},
    {"DVs with a NOT NULL column list invariants (delta-spark needs it)", false, {0},
     "delta.enableDeletionVectors", "true", PROTOCOL_NOT_NULL, "3,7|deletionVectors|invariants,deletionVectors", true},
    {"a writer-only feature needs writer 7 alone", false, {0}, "delta.enableInCommitTimestamps", "true", false,
     "1,7||inCommitTimestamp", true},
    {"(1,2) unchanged by an append", true, {1, 2, NULL, NULL, 0, 0}, NULL, NULL, false, "1,2||", false},
    {"(1,1) upgraded by appendOnly", true, {1, 1, NULL, NULL, 0, 0}, "delta.appendOnly", "true", false, "1,2||", true},
    {"(1,2) + TIMESTAMP keeps what (1,2) implied", true, {1, 2, NULL, NULL, 0, 0}, NULL, NULL, true,
     "3,7|timestampNtz|appendOnly,invariants,timestampNtz", true},
    {"(2,5) + DVs lists every implied feature", true, {2, 5, NULL, NULL, 0, 0}, "delta.enableDeletionVectors", "true", false,
     "3,7|columnMapping,deletionVectors|appendOnly,invariants,checkConstraints,changeDataFeed,generatedColumns,"
     "columnMapping,deletionVectors", true},
    {"(1,4) never goes down to (1,2)", true, {1, 4, NULL, NULL, 0, 0}, NULL, NULL, false, "1,4||", false},
    {"a (3,7) table keeps unknown names", true, {3, 7, RF_CM, WF_CM, 1, 2}, NULL, NULL, false,
     "3,7|columnMapping|columnMapping,futureFeature", false},
    {"a (3,7) table gains a feature", true, {3, 7, RF_DV, WF_DV, 1, 1}, NULL, NULL, true,
     "3,7|deletionVectors,timestampNtz|deletionVectors,timestampNtz", true},
    {"(3,7) with DVs unchanged when DVs are asked for", true, {3, 7, RF_DV, WF_DV, 1, 1},
     "delta.enableDeletionVectors", "true", false, "3,7|deletionVectors|deletionVectors", false},
};

static void test_choose(void)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        arena a = ARENA_INIT;
        const char *k[] = {rows[i].key}, *v[] = {rows[i].value};
        log_kv props = {k, v, rows[i].key ? 1 : 0};
        log_protocol out;
        bool changed = !rows[i].changed;
        char got[512];
        CHECK_OK(protocol_choose(&a, rows[i].has_current ? &rows[i].current : NULL, &props, rows[i].ntz, &out,
                                 &changed));
        show(&out, got, sizeof(got));
        if (strcmp(got, rows[i].want) != 0 || changed != rows[i].changed)
            fprintf(stderr, "  %s: got %s (changed %d), want %s (changed %d)\n", rows[i].what, got, changed,
                    rows[i].want, rows[i].changed);
        CHECK(strcmp(got, rows[i].want) == 0);
        CHECK(changed == rows[i].changed);
        arena_free(&a);
    }
}

static void test_supported(void)
{
    const char *f[PROTOCOL_MAX_FEATURES];
    size_t n;
    CHECK_OK(protocol_supported(&(log_protocol){1, 1, NULL, NULL, 0, 0}, f, PROTOCOL_MAX_FEATURES, &n));
    CHECK(n == 0);
    CHECK_OK(protocol_supported(&(log_protocol){1, 6, NULL, NULL, 0, 0}, f, PROTOCOL_MAX_FEATURES, &n));
    CHECK(n == 6); /* all legacy writer features but columnMapping, which needs reader 2 */
    CHECK_OK(protocol_supported(&(log_protocol){2, 6, NULL, NULL, 0, 0}, f, PROTOCOL_MAX_FEATURES, &n));
    CHECK(n == 7);
    /* a reader feature a writer forgot to list among writer features still counts */
    CHECK_OK(protocol_supported(&(log_protocol){3, 7, RF_CM, WF_DV, 1, 1}, f, PROTOCOL_MAX_FEATURES, &n));
    CHECK(n == 2);
}

TEST_MAIN(T(test_choose), T(test_supported))
