/*
 * tests/unit/test_snapshot.c - replay rules for tables other writers leave: only the
 * metaData in effect must be whole, and which versions a search by time considers
 * under in-commit timestamps.
 *
 * Oracle: the Delta protocol ("Change Metadata", "In-Commit Timestamps": "If timestamp X >=
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

/* A file's own record count is kept where the file ends up after removed files are
 * compacted away (DELETE and TRUNCATE count rows per file). */
static void test_record_counts_follow_their_files(void)
{
    const char *lines[] = {
        PROTOCOL, "{\"metaData\":{\"id\":\"t\"," SCHEMA ",\"partitionColumns\":[],\"configuration\":{}}}",
        "{\"add\":{\"path\":\"a\",\"partitionValues\":{},\"size\":1,\"modificationTime\":0,\"dataChange\":true,"
        "\"stats\":\"{\\\"numRecords\\\":3}\"}}",
        "{\"add\":{\"path\":\"b\",\"partitionValues\":{},\"size\":1,\"modificationTime\":0,\"dataChange\":true,"
        "\"stats\":\"{\\\"numRecords\\\":5}\"}}",
        "{\"add\":{\"path\":\"c\",\"partitionValues\":{},\"size\":1,\"modificationTime\":0,\"dataChange\":true,"
        "\"stats\":\"{\\\"numRecords\\\":7}\"}}",
        "{\"remove\":{\"path\":\"a\",\"dataChange\":true}}", NULL};
    snapshot s;
    CHECK_OK(replay(&s, lines, 0));
    CHECK(s.file_count == 2 && s.num_records == 12);
    for (size_t i = 0; i < s.file_count; i++)
        CHECK(s.files[i].num_records == (strcmp(s.files[i].path, "b") == 0 ? 5 : 7));
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

/* A struct column s {a (id 4), b (id 5)} of an id-mode table, read from files that
 * name things their own way. */
#define CM(id, phys) "{\"delta.columnMapping.id\":" #id ",\"delta.columnMapping.physicalName\":\"" phys "\"}"
static const char s_type[] = "{\"type\":\"struct\",\"fields\":["
                             "{\"name\":\"a\",\"type\":\"integer\",\"nullable\":true,\"metadata\":" CM(4, "col-a") "},"
                             "{\"name\":\"b\",\"type\":\"string\",\"nullable\":true,\"metadata\":" CM(5, "col-b") "}]}";

static void test_id_mode_matches_nested_fields_by_id(void)
{
    arena a = ARENA_INIT;
    buf out = BUF_INIT;
    schema_field f = {.name = "s", .physical = "col-s", .field_id = 3, .delta_type = s_type,
                      .stored_type = "STRUCT(\"col-a\" INTEGER, \"col-b\" VARCHAR)"};
    /* the file calls them x, y, z and lists b before a; a has no id, so it is absent */
    schema_pq_element els[] = {{"schema", -1, 2, false, NULL}, {"x", 3, 2, false, NULL},
                               {"y", 5, 0, false, NULL},       {"z", -1, 0, false, NULL},
                               {"other", 9, 0, false, NULL}};
    int same = 1;
    CHECK_OK(schema_id_read_expr(&a, &f, els, 5, &out, &same));
    CHECK(!same);
    CHECK(strstr(out.data, "struct_extract(\"x\", 'y')") != NULL);
    CHECK(strstr(out.data, "\"col-a\" := NULL::INTEGER") != NULL);
    CHECK(strstr(out.data, "\"col-b\" := CAST(") != NULL);

    /* names already physical: a plain read is right */
    schema_pq_element plain[] = {{"schema", -1, 1, false, NULL}, {"col-s", 3, 2, false, NULL},
                                 {"col-a", 4, 0, false, NULL},   {"col-b", 5, 0, false, NULL}};
    same = 1;
    buf_clear(&out);
    CHECK_OK(schema_id_read_expr(&a, &f, plain, 4, &out, &same));
    CHECK(same);

    /* the column missing from the file altogether (added after it was written) */
    schema_pq_element older[] = {{"schema", -1, 1, false, NULL}, {"other", 9, 0, false, NULL}};
    same = 1;
    buf_clear(&out);
    CHECK_OK(schema_id_read_expr(&a, &f, older, 2, &out, &same));
    CHECK(!same);
    CHECK_STR(out.data, "NULL::STRUCT(\"col-a\" INTEGER, \"col-b\" VARCHAR)");

    /* hostile counts are refused, never followed */
    schema_pq_element bad[] = {{"schema", -1, 7, false, NULL}, {"x", 3, 1000000, false, NULL}};
    same = 1;
    CHECK(schema_id_read_expr(&a, &f, bad, 2, &out, &same) == LOCH_ECORRUPT);
    schema_pq_element neg[] = {{"schema", -1, 1, false, NULL}, {"x", 3, -1, false, NULL}};
    CHECK(schema_id_read_expr(&a, &f, neg, 2, &out, &same) == LOCH_ECORRUPT);
    buf_free(&out);
    arena_free(&a);
}

/* Name mode: an array of such structs is stored as STRUCT("col-a", "col-b")[] and shown
 * as STRUCT(a, b)[]; without mapping inside, a field is a plain cast as before. */
static void test_name_mode_rebuilds_nested_structs(void)
{
    arena a = ARENA_INIT;
    buf out = BUF_INIT, text = BUF_INIT;
    CHECK_OK(buf_printf(&text, "{\"type\":\"struct\",\"fields\":[{\"name\":\"arr\",\"type\":{\"type\":\"array\","
                               "\"elementType\":%s,\"containsNull\":true},\"nullable\":true,\"metadata\":%s},"
                               "{\"name\":\"n\",\"type\":{\"type\":\"map\",\"keyType\":\"string\",\"valueType\":"
                               "\"long\",\"valueContainsNull\":true},\"nullable\":true,\"metadata\":{}}]}",
                        s_type, CM(7, "col-arr")));
    schema sc;
    CHECK_OK(schema_parse(&a, text.data, NULL, 0, &sc));
    CHECK(sc.count == 2 && sc.fields[0].renamed_inside && !sc.fields[1].renamed_inside);
    CHECK_STR(sc.fields[0].physical, "col-arr");
    CHECK_STR(sc.fields[0].stored_type, "STRUCT(\"col-a\" INTEGER, \"col-b\" VARCHAR)[]");
    CHECK_STR(sc.fields[0].duck_type, "STRUCT(\"a\" INTEGER, \"b\" VARCHAR)[]");
    CHECK_OK(schema_read_expr(&a, &sc.fields[0], "\"col-arr\"", &out));
    CHECK_STR(out.data, "system.main.list_transform(\"col-arr\", lambda e0: CASE WHEN (e0) IS NULL THEN NULL ELSE "
                        "system.main.struct_pack(\"a\" := CAST(system.main.struct_extract(e0, 'col-a') AS INTEGER), "
                        "\"b\" := CAST(system.main.struct_extract(e0, 'col-b') AS VARCHAR)) END)");
    buf_clear(&out);
    CHECK_OK(schema_read_expr(&a, &sc.fields[1], "\"n\"", &out));
    CHECK_STR(out.data, "CAST(\"n\" AS MAP(VARCHAR, BIGINT))");
    buf_free(&out);
    buf_free(&text);
    arena_free(&a);
}

/* A field with metadata (escaped for a schemaString inside a log line). */
#define FIELD_WITH(meta) "\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[{\\\"name\\\":" \
                         "\\\"id\\\",\\\"type\\\":\\\"long\\\",\\\"nullable\\\":true,\\\"metadata\\\":{" meta "}}]}\""

/* Generated and identity columns are refused for writing by the schema alone: a legacy
 * writer version (4 to 6) lists no feature for them. */
static void test_generated_and_identity_columns_refuse_writes(void)
{
    static const struct { const char *protocol, *schema, *want; } cases[] = {
        {"{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":4}}",
         FIELD_WITH("\\\"delta.generationExpression\\\":\\\"x * 10\\\""), "generated columns"},
        {"{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":6}}",
         FIELD_WITH("\\\"delta.identity.start\\\":1,\\\"delta.identity.step\\\":1"), "identity columns"},
        {"{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}",
         FIELD_WITH("\\\"delta.identity.allowExplicitInsert\\\":true"), "identity columns"},
        {"{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":4}}",
         FIELD_WITH("\\\"comment\\\":\\\"delta.generationExpression is not a key here\\\""), NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char meta[1024];
        snprintf(meta, sizeof(meta), "{\"metaData\":{\"id\":\"t\",%s,\"partitionColumns\":[],\"configuration\":{}}}",
                 cases[i].schema);
        const char *lines[] = {cases[i].protocol, meta, NULL};
        snapshot s;
        CHECK_OK(replay(&s, lines, 0));
        if (cases[i].want) {
            CHECK(snapshot_check_writable(&s) == LOCH_EUNSUPPORTED);
            CHECK(strstr(loch_error_last(), cases[i].want) && strstr(loch_error_last(), "\"id\""));
        } else {
            CHECK_OK(snapshot_check_writable(&s));
        }
        snapshot_free(&s);
    }
}

TEST_MAIN(T(test_record_counts_follow_their_files), T(test_superseded_metadata_without_schema), T(test_generated_and_identity_columns_refuse_writes), T(test_ict_window), T(test_id_mode_matches_nested_fields_by_id),
          T(test_name_mode_rebuilds_nested_structs))
