/*
 * tests/unit/test_snapshot.c - replay rules for tables other writers leave: only the
 * metaData in effect must be whole, and which versions a search by time considers
 * under in-commit timestamps.
 *
 * Oracle: PROTOCOL.md ("Change Metadata", "In-Commit Timestamps": "If timestamp X >=
 * delta.inCommitTimestampEnablementTimestamp, only table versions >=
 * delta.inCommitTimestampEnablementVersion should be considered for the query.
 * Otherwise, only table versions less than delta.inCommitTimestampEnablementVersion
 * should be considered").
 */
#include <stdint.h>
#include <string.h>

#include "core/snapshot.h"
#include "test.h"
#include "util/error.h"

#define PROTOCOL "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}"
#define SCHEMA "\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[{\\\"name\\\":\\\"id\\\"," \
               "\\\"type\\\":\\\"long\\\",\\\"nullable\\\":true,\\\"metadata\\\":{}}]}\""

/* Replays lines (NULL-terminated) and finishes at version. */
static int replay(snapshot *s, const char *const *lines, int64_t version)
{
    snapshot_init(s);
    for (; *lines; lines++) {
        log_action a;
        int rc = log_parse_action(&s->arena, *lines, strlen(*lines), &a);
        rc = rc ? rc : snapshot_apply(s, &a);
        if (rc < 0)
            return rc;
    }
    return snapshot_finish(s, version);
}

static void test_superseded_metadata_without_schema(void)
{
    const char *v0[] = {PROTOCOL, "{\"metaData\":{\"id\":\"t\",\"partitionColumns\":[],\"configuration\":{}}}", NULL};
    const char *v1[] = {PROTOCOL, "{\"metaData\":{\"id\":\"t\",\"partitionColumns\":[],\"configuration\":{}}}",
                        "{\"metaData\":{\"id\":\"t\"," SCHEMA ",\"partitionColumns\":[],\"configuration\":{}}}", NULL};
    snapshot s;
    CHECK(replay(&s, v0, 0) == LOCH_ECORRUPT);
    CHECK(strstr(loch_error_last(), "version 0") && strstr(loch_error_last(), "schemaString"));
    snapshot_free(&s);
    CHECK_OK(replay(&s, v1, 1));
    CHECK(s.schema.count == 1);
    snapshot_free(&s);
}

static int ict_of(const char *conf, snapshot_ict *ict)
{
    char meta[1024];
    snprintf(meta, sizeof(meta), "{\"metaData\":{\"id\":\"t\"," SCHEMA ",\"partitionColumns\":[],\"configuration\":%s}}",
             conf);
    const char *lines[] = {PROTOCOL, meta, NULL};
    snapshot s;
    int rc = replay(&s, lines, 5);
    rc = rc ? rc : snapshot_ict_info(&s, ict);
    snapshot_free(&s);
    return rc;
}

static void test_ict_window(void)
{
    snapshot_ict ict;
    int64_t first, last;
    bool use;
    CHECK_OK(ict_of("{}", &ict));
    CHECK(!ict.enabled);
    snapshot_ict_window(&ict, 123, &first, &last, &use);
    CHECK(first == 0 && last == INT64_MAX && !use);

    /* enabled at creation: every version, every instant, by inCommitTimestamp */
    CHECK_OK(ict_of("{\"delta.enableInCommitTimestamps\":\"true\"}", &ict));
    CHECK(ict.enabled && ict.version == 0);
    snapshot_ict_window(&ict, -5, &first, &last, &use);
    CHECK(first == 0 && last == INT64_MAX && use);

    CHECK_OK(ict_of("{\"delta.enableInCommitTimestamps\":\"true\",\"delta.inCommitTimestampEnablementVersion\":\"2\","
                    "\"delta.inCommitTimestampEnablementTimestamp\":\"1000\"}", &ict));
    CHECK(ict.enabled && ict.version == 2 && ict.timestamp_ms == 1000);
    snapshot_ict_window(&ict, 1000, &first, &last, &use);
    CHECK(first == 2 && last == INT64_MAX && use);
    snapshot_ict_window(&ict, 999, &first, &last, &use);
    CHECK(first == 0 && last == 1 && !use);

    /* delta-spark 3.2's preview names */
    CHECK_OK(ict_of("{\"delta.enableInCommitTimestamps-preview\":\"true\","
                    "\"delta.inCommitTimestampEnablementVersion-preview\":\"3\","
                    "\"delta.inCommitTimestampEnablementTimestamp-preview\":\"7\"}", &ict));
    CHECK(ict.enabled && ict.version == 3 && ict.timestamp_ms == 7);

    CHECK_OK(ict_of("{\"delta.enableInCommitTimestamps\":\"false\",\"delta.inCommitTimestampEnablementVersion\":\"x\"}",
                    &ict));
    CHECK(!ict.enabled);
    CHECK(ict_of("{\"delta.enableInCommitTimestamps\":\"true\",\"delta.inCommitTimestampEnablementVersion\":\"x\"}",
                 &ict) == LOCH_ECORRUPT);
    CHECK(strstr(loch_error_last(), "inCommitTimestampEnablementVersion") != NULL);
    CHECK(ict_of("{\"delta.enableInCommitTimestamps\":\"true\",\"delta.inCommitTimestampEnablementVersion\":\"4\"}",
                 &ict) == LOCH_ECORRUPT);
}

TEST_MAIN(T(test_superseded_metadata_without_schema), T(test_ict_window))
