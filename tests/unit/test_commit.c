/*
 * tests/unit/test_commit.c - commits as data: building, rendering, parsing, and Delta's
 * conflict rules row by row.
 *
 * Oracle for the conflict rows: delta-spark's ConflictChecker (checkProtocolCompatibility,
 * checkNoMetadataUpdates, checkIfDomainMetadataConflict,
 * checkForUpdatedApplicationTransactionIdsThatCurrentTxnDependsOn,
 * checkForAddedFilesThatShouldHaveBeenReadByCurrentTxn,
 * checkForDeletedFilesAgainstCurrentTxnReadFiles / ...DeletedFiles) and the "write
 * conflicts" table of Delta's concurrency-control documentation: INSERT never conflicts
 * with INSERT; DELETE/UPDATE/MERGE conflict with a concurrent INSERT only under
 * Serializable; they conflict with each other, and OPTIMIZE with them, when they touch
 * the same data; OPTIMIZE never conflicts with INSERT. loch is stricter than Delta in
 * one row only (a concurrent protocol change always conflicts; commit.h says why).
 */
#include <stdint.h>
#include <string.h>

#include "core/commit.h"
#include "test.h"
#include "util/error.h"

/* ---- winners, as their commit files read ---------------------------------------- */

#define CI(blind) "{\"commitInfo\":{\"timestamp\":1,\"operation\":\"X\"" blind "}}\n"
#define ADD(path, part) "{\"add\":{\"path\":\"" path "\",\"partitionValues\":" part ",\"size\":1," \
                        "\"modificationTime\":1,\"dataChange\":true}}\n"
#define ADD_NC(path, part) "{\"add\":{\"path\":\"" path "\",\"partitionValues\":" part ",\"size\":1," \
                           "\"modificationTime\":1,\"dataChange\":false}}\n"
#define REMOVE(path, change) "{\"remove\":{\"path\":\"" path "\",\"deletionTimestamp\":1,\"dataChange\":" change "}}\n"
#define META "{\"metaData\":{\"id\":\"t\",\"schemaString\":\"{}\",\"partitionColumns\":[],\"configuration\":{}}}\n"
#define PROTO "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"
#define TXN(app) "{\"txn\":{\"appId\":\"" app "\",\"version\":3}}\n"
#define DOMAIN(d) "{\"domainMetadata\":{\"domain\":\"" d "\",\"configuration\":\"{}\",\"removed\":false}}\n"
#define TAGGED(path, sha) "{\"add\":{\"path\":\"" path "\",\"partitionValues\":{},\"size\":1,\"modificationTime\":1," \
                          "\"dataChange\":true,\"tags\":{\"loch.source.sha256\":\"" sha "\"}}}\n"

#define W_INSERT CI(",\"isBlindAppend\":true") ADD("new.parquet", "{}")
#define W_INSERT_P2 CI(",\"isBlindAppend\":true") ADD("p=2/new.parquet", "{\"p\":\"2\"}")
#define W_INSERT_NOFLAG CI("") ADD("new.parquet", "{}")   /* delta-rs writes no isBlindAppend */
#define W_DELETE_F1 CI(",\"isBlindAppend\":false") REMOVE("f1.parquet", "true") ADD("f1b.parquet", "{}")
#define W_DROP_F1 CI(",\"isBlindAppend\":false") REMOVE("f1.parquet", "true")
#define W_OPTIMIZE CI(",\"isBlindAppend\":false") REMOVE("f1.parquet", "false") REMOVE("f2.parquet", "false") \
                   ADD_NC("c.parquet", "{}")
#define W_OPTIMIZE_P2 CI(",\"isBlindAppend\":false") REMOVE("p=2/f3.parquet", "false") \
                      ADD_NC("p=2/c.parquet", "{\"p\":\"2\"}")
#define W_UPDATE_P1 CI(",\"isBlindAppend\":false") REMOVE("p=1/f1.parquet", "true") \
                    ADD("p=1/f1b.parquet", "{\"p\":\"1\"}")
#define W_ALTER CI(",\"isBlindAppend\":true") META
#define W_UPGRADE CI(",\"isBlindAppend\":true") PROTO
#define W_STREAM_A CI(",\"isBlindAppend\":true") TXN("app-a") ADD("s.parquet", "{}")
#define W_CLUSTER CI(",\"isBlindAppend\":false") DOMAIN("delta.clustering")

/* ---- our side, built through the API the verbs use ------------------------------- */

typedef enum {
    O_INSERT,          /* a blind append */
    O_DELETE_ALL,      /* DELETE with a data predicate: reads every file, rewrites f1 */
    O_DELETE_P1,       /* DELETE WHERE p = 1: reads partition p=1, rewrites p=1/f1 */
    O_DELETE_F1_ONLY,  /* removes f1 having read file f2 only (to isolate delete-delete) */
    O_ALTER,           /* a property change: metaData, nothing read */
    O_REPLACE,         /* CREATE OR REPLACE: metaData, whole table, removes f1 and f2 */
    O_STREAM_A,        /* an exactly-once writer: read app-a's version, appends */
    O_STREAM_B,
    O_CLUSTER,         /* writes domain delta.clustering */
    O_ROW_DOMAIN,      /* writes another domain */
    O_INGEST_X         /* an ingest of source X (64 hex digits below) */
} ours_kind;

#define SHA_X "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_Y "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static log_action file_action(log_kind kind, const char *path, const char *part)
{
    static const char *pk[] = {"p"};
    static const char *pv[1];
    log_action a = {.kind = kind};
    a.u.file.path = path;
    a.u.file.size = 1;
    a.u.file.data_change = true;
    a.u.file.dv.offset = -1;
    if (part) {
        pv[0] = part;
        a.u.file.partition_values = (log_kv){pk, pv, 1};
    }
    return a;
}

static int append_file(commit *c, log_kind kind, const char *path, const char *part)
{
    log_action a = file_action(kind, path, part);
    return commit_append(c, &a);
}

static void build(commit *c, ours_kind k, commit_isolation iso)
{
    static const char *pk[] = {"p"}, *pv[] = {"1"};
    commit_init(c, "OURS", 4);
    c->isolation = iso;
    log_action meta = {.kind = LOG_METADATA, .u.metadata = {.id = "t", .schema_string = "{}"}};
    switch (k) {
    case O_INSERT:
        CHECK_OK(append_file(c, LOG_ADD, "mine.parquet", NULL));
        break;
    case O_DELETE_ALL:
        commit_read_whole_table(c);
        CHECK_OK(commit_read_predicate(c, &(log_kv){0}));
        CHECK_OK(commit_read_file(c, "f1.parquet"));
        CHECK_OK(append_file(c, LOG_REMOVE, "f1.parquet", NULL));
        CHECK_OK(append_file(c, LOG_ADD, "f1c.parquet", NULL));
        break;
    case O_DELETE_P1:
        CHECK_OK(commit_read_predicate(c, &(log_kv){pk, pv, 1}));
        CHECK_OK(commit_read_file(c, "p=1/f1.parquet"));
        CHECK_OK(append_file(c, LOG_REMOVE, "p=1/f1.parquet", "1"));
        CHECK_OK(append_file(c, LOG_ADD, "p=1/f1c.parquet", "1"));
        break;
    case O_DELETE_F1_ONLY:
        CHECK_OK(commit_read_file(c, "f2.parquet"));
        CHECK_OK(append_file(c, LOG_REMOVE, "f1.parquet", NULL));
        break;
    case O_ALTER:
        CHECK_OK(commit_append(c, &meta));
        break;
    case O_REPLACE:
        CHECK_OK(commit_append(c, &meta));
        commit_read_whole_table(c);
        CHECK_OK(append_file(c, LOG_REMOVE, "f1.parquet", NULL));
        CHECK_OK(append_file(c, LOG_REMOVE, "f2.parquet", NULL));
        break;
    case O_STREAM_A:
    case O_STREAM_B:
        CHECK_OK(commit_read_app_id(c, k == O_STREAM_A ? "app-a" : "app-b"));
        CHECK_OK(commit_append(c, &(log_action){.kind = LOG_TXN,
                                                .u.txn = {k == O_STREAM_A ? "app-a" : "app-b", 4, 1}}));
        CHECK_OK(append_file(c, LOG_ADD, "mine.parquet", NULL));
        break;
    case O_CLUSTER:
    case O_ROW_DOMAIN:
        CHECK_OK(commit_append(c, &(log_action){.kind = LOG_DOMAIN, .u.domain = {
            k == O_CLUSTER ? "delta.clustering" : "loch.other", "{}", false}}));
        break;
    case O_INGEST_X:
        CHECK_OK(commit_read_source(c, SHA_X));
        CHECK_OK(append_file(c, LOG_ADD, "mine.parquet", NULL));
        break;
    }
}

static conflict_kind check(ours_kind k, commit_isolation iso, const char *winner_text, const char **subject)
{
    commit ours, won;
    conflict why;
    build(&ours, k, iso);
    commit_init(&won, NULL, -1);
    CHECK_OK(commit_parse(&won, winner_text, strlen(winner_text)));
    const commit *list[] = {&won};
    conflict_kind got = conflict_check(&ours, list, 1, &why) ? why.kind : CONFLICT_NONE;
    if (subject) {
        static char keep[64];
        snprintf(keep, sizeof(keep), "%s", why.subject ? why.subject : "");
        *subject = keep;
    }
    commit_free(&ours);
    commit_free(&won);
    return got;
}

static const struct {
    ours_kind ours;
    const char *winner;
    conflict_kind write_serializable, serializable;
    const char *subject;
} matrix[] = {
    /* INSERT vs INSERT: never */
    {O_INSERT, W_INSERT, CONFLICT_NONE, CONFLICT_NONE, NULL},
    {O_INSERT, W_INSERT_NOFLAG, CONFLICT_NONE, CONFLICT_NONE, NULL},
    /* an INSERT read nothing: a concurrent DELETE, UPDATE or OPTIMIZE does not touch it */
    {O_INSERT, W_DELETE_F1, CONFLICT_NONE, CONFLICT_NONE, NULL},
    {O_INSERT, W_OPTIMIZE, CONFLICT_NONE, CONFLICT_NONE, NULL},
    /* DELETE vs a concurrent INSERT: only under Serializable */
    {O_DELETE_ALL, W_INSERT, CONFLICT_NONE, CONFLICT_APPEND, "new.parquet"},
    /* ... and a winner without the isBlindAppend flag is not a blind append */
    {O_DELETE_ALL, W_INSERT_NOFLAG, CONFLICT_APPEND, CONFLICT_APPEND, "new.parquet"},
    /* partition pruning: an insert into p=2 is not data DELETE WHERE p=1 read */
    {O_DELETE_P1, W_INSERT_P2, CONFLICT_NONE, CONFLICT_NONE, NULL},
    /* DELETE vs DELETE of the same file: the winner's add is in data we read */
    {O_DELETE_ALL, W_DELETE_F1, CONFLICT_APPEND, CONFLICT_APPEND, "f1b.parquet"},
    {O_DELETE_ALL, W_DROP_F1, CONFLICT_DELETE_READ, CONFLICT_DELETE_READ, "f1.parquet"},
    {O_DELETE_F1_ONLY, W_DROP_F1, CONFLICT_DELETE_DELETE, CONFLICT_DELETE_DELETE, "f1.parquet"},
    /* UPDATE of another partition: no conflict; of ours: conflict */
    {O_DELETE_P1, W_OPTIMIZE_P2, CONFLICT_NONE, CONFLICT_NONE, NULL},
    {O_DELETE_P1, W_UPDATE_P1, CONFLICT_APPEND, CONFLICT_APPEND, "p=1/f1b.parquet"},
    /* OPTIMIZE vs DELETE of the files it compacted: conflict */
    {O_DELETE_ALL, W_OPTIMIZE, CONFLICT_APPEND, CONFLICT_APPEND, "c.parquet"},
    /* (it also removed f2, which we read: delete-read is checked before delete-delete) */
    {O_DELETE_F1_ONLY, W_OPTIMIZE, CONFLICT_DELETE_READ, CONFLICT_DELETE_READ, "f2.parquet"},
    /* metadata and protocol changes conflict with everything */
    {O_INSERT, W_ALTER, CONFLICT_METADATA, CONFLICT_METADATA, NULL},
    {O_ALTER, W_ALTER, CONFLICT_METADATA, CONFLICT_METADATA, NULL},
    {O_INSERT, W_UPGRADE, CONFLICT_PROTOCOL, CONFLICT_PROTOCOL, NULL},
    /* our own metadata change: nothing read, so a blind append passes... */
    {O_ALTER, W_INSERT, CONFLICT_NONE, CONFLICT_NONE, NULL},
    /* ...but a replace read the whole table, and changing the schema withdraws the
     * blind-append exemption even under WriteSerializable */
    {O_REPLACE, W_INSERT, CONFLICT_APPEND, CONFLICT_APPEND, "new.parquet"},
    {O_REPLACE, W_DROP_F1, CONFLICT_DELETE_READ, CONFLICT_DELETE_READ, "f1.parquet"},
    /* application transactions: the same app id conflicts, another does not */
    {O_STREAM_A, W_STREAM_A, CONFLICT_APP_ID, CONFLICT_APP_ID, "app-a"},
    {O_STREAM_B, W_STREAM_A, CONFLICT_NONE, CONFLICT_NONE, NULL},
    /* domains: the same domain conflicts, another does not */
    {O_CLUSTER, W_CLUSTER, CONFLICT_DOMAIN, CONFLICT_DOMAIN, "delta.clustering"},
    {O_ROW_DOMAIN, W_CLUSTER, CONFLICT_NONE, CONFLICT_NONE, NULL},
    /* loch: the same source bytes, alone or in a rewritten file's list */
    {O_INGEST_X, CI(",\"isBlindAppend\":true") TAGGED("x.parquet", SHA_X), CONFLICT_SAME_SOURCE,
     CONFLICT_SAME_SOURCE, "x.parquet"},
    {O_INGEST_X, CI(",\"isBlindAppend\":false") TAGGED("xy.parquet", SHA_Y "," SHA_X), CONFLICT_SAME_SOURCE,
     CONFLICT_SAME_SOURCE, "xy.parquet"},
    {O_INGEST_X, CI(",\"isBlindAppend\":true") TAGGED("y.parquet", SHA_Y), CONFLICT_NONE, CONFLICT_NONE, NULL},
};

static void test_conflict_matrix(void)
{
    for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
        const char *subject;
        conflict_kind ws = check(matrix[i].ours, ISOLATION_WRITE_SERIALIZABLE, matrix[i].winner, &subject);
        if (ws != matrix[i].write_serializable)
            fprintf(stderr, "  row %zu (WriteSerializable): got %d, want %d\n", i, (int)ws,
                    (int)matrix[i].write_serializable);
        CHECK(ws == matrix[i].write_serializable);
        if (ws != CONFLICT_NONE && matrix[i].subject)
            CHECK_STR(subject, matrix[i].subject);
        conflict_kind s = check(matrix[i].ours, ISOLATION_SERIALIZABLE, matrix[i].winner, &subject);
        if (s != matrix[i].serializable)
            fprintf(stderr, "  row %zu (Serializable): got %d, want %d\n", i, (int)s, (int)matrix[i].serializable);
        CHECK(s == matrix[i].serializable);
    }
}

/* The first conflicting winner decides; a later one never clears it. */
static void test_first_conflict_wins(void)
{
    commit ours, a, b;
    conflict why;
    build(&ours, O_INSERT, ISOLATION_WRITE_SERIALIZABLE);
    commit_init(&a, NULL, -1);
    commit_init(&b, NULL, -1);
    CHECK_OK(commit_parse(&a, W_INSERT, strlen(W_INSERT)));
    CHECK_OK(commit_parse(&b, W_ALTER, strlen(W_ALTER)));
    const commit *ab[] = {&a, &b}, *ba[] = {&b, &a}, *aa[] = {&a, &a};
    CHECK(conflict_check(&ours, ab, 2, &why) == 1 && why.winner == 1 && why.kind == CONFLICT_METADATA);
    CHECK(conflict_check(&ours, ba, 2, &why) == 1 && why.winner == 0 && why.kind == CONFLICT_METADATA);
    CHECK(conflict_check(&ours, aa, 2, &why) == 0 && why.kind == CONFLICT_NONE);
    commit_free(&ours);
    commit_free(&a);
    commit_free(&b);
}

/* A file without the partition column a predicate names may hold any value: it counts. */
static void test_missing_partition_value_matches(void)
{
    const char *w = CI(",\"isBlindAppend\":false") ADD("odd.parquet", "{}");
    CHECK(check(O_DELETE_P1, ISOLATION_WRITE_SERIALIZABLE, w, NULL) == CONFLICT_APPEND);
}

static void test_render(void)
{
    commit c;
    buf out = BUF_INIT;
    char path[32];
    commit_init(&c, "WRITE", 6);
    CHECK_OK(commit_parameter(&c, "mode", "Append"));
    CHECK_OK(commit_parameter(&c, "files", "[{\"name\":\"a\"}]"));
    /* the action is copied: the caller's buffer may change right after */
    snprintf(path, sizeof(path), "a b.parquet");
    log_action add = file_action(LOG_ADD, path, NULL);
    add.u.file.modification_time = 7;
    CHECK_OK(commit_append(&c, &add));
    snprintf(path, sizeof(path), "overwritten");
    c.rows_written = 3;
    c.files_written = 1;
    CHECK(commit_is_blind_append(&c) && !commit_changes_metadata(&c));
    CHECK_OK(commit_render(&c, 1000, &out));
    CHECK_STR(out.data,
              "{\"commitInfo\":{\"timestamp\":1000,\"operation\":\"WRITE\",\"operationParameters\":{\"mode\":\"Append\",\"files\":\"[{\\\"name\\\":\\\"a\\\"}]\"},"
              "\"operationMetrics\":{\"numFiles\":\"1\",\"numOutputRows\":\"3\"},\"readVersion\":6,"
              "\"isolationLevel\":\"WriteSerializable\",\"isBlindAppend\":true,\"engineInfo\":\"loch/0.1.0\","
              "\"clientVersion\":\"loch-0.1.0\"}}\n"
              "{\"add\":{\"path\":\"a%20b.parquet\",\"partitionValues\":{},\"size\":1,\"dataChange\":true,"
              "\"modificationTime\":7}}\n");
    /* round trip: the same actions, the flag read back */
    commit back;
    commit_init(&back, NULL, -1);
    CHECK_OK(commit_parse(&back, out.data, out.len));
    CHECK(back.count == 1 && back.actions[0].kind == LOG_ADD && back.blind_append_flag == 1);
    CHECK_STR(back.actions[0].u.file.path, "a b.parquet");
    CHECK_STR(back.operation, "WRITE");
    commit_free(&back);

    /* a new table has no readVersion; a commit that removes is no blind append */
    commit_free(&c);
    buf_clear(&out);
    commit_init(&c, "CREATE TABLE", -1);
    CHECK_OK(append_file(&c, LOG_REMOVE, "old.parquet", NULL));
    CHECK(!commit_is_blind_append(&c));
    CHECK_OK(commit_render(&c, 5, &out));
    CHECK(!strstr(out.data, "readVersion") && strstr(out.data, "\"isBlindAppend\":false"));
    commit_truncate(&c, 0);
    CHECK(c.count == 0 && commit_is_blind_append(&c));
    commit_free(&c);
    buf_free(&out);
}

/* Every kind a commit holds renders to a line that parses back to the same kind. */
static void test_every_kind_round_trips(void)
{
    static const char *features[] = {"deletionVectors"};
    commit c, back;
    buf out = BUF_INIT;
    commit_init(&c, "X", 0);
    log_action acts[] = {
        {.kind = LOG_PROTOCOL, .u.protocol = {3, 7, features, features, 1, 1}},
        {.kind = LOG_METADATA, .u.metadata = {.id = "t", .schema_string = "{}"}},
        file_action(LOG_ADD, "a.parquet", "1"),
        file_action(LOG_REMOVE, "b.parquet", NULL),
        file_action(LOG_CDC, "_change_data/c.parquet", NULL),
        {.kind = LOG_TXN, .u.txn = {"app", 9, 1}},
        {.kind = LOG_DOMAIN, .u.domain = {"d", "{\"k\":1}", true}},
    };
    size_t n = sizeof(acts) / sizeof(acts[0]);
    for (size_t i = 0; i < n; i++)
        CHECK_OK(commit_append(&c, &acts[i]));
    CHECK_OK(commit_render(&c, 1, &out));
    commit_init(&back, NULL, -1);
    CHECK_OK(commit_parse(&back, out.data, out.len));
    CHECK(back.count == n);
    for (size_t i = 0; i < n && i < back.count; i++)
        CHECK(back.actions[i].kind == acts[i].kind);
    if (back.count == n) {
        CHECK_STR(back.actions[2].u.file.partition_values.values[0], "1");
        CHECK(back.actions[5].u.txn.version == 9);
        CHECK_STR(back.actions[6].u.domain.configuration, "{\"k\":1}");
        CHECK(back.actions[6].u.domain.removed);
        CHECK(back.actions[0].u.protocol.reader_count == 1);
    }
    /* commitInfo, blank lines and unknown actions are not actions of the commit */
    commit_free(&back);
    commit_init(&back, NULL, -1);
    const char *odd = CI("") "\n{\"checkpointMetadata\":{\"version\":1}}\n" ADD("x.parquet", "{}");
    CHECK_OK(commit_parse(&back, odd, strlen(odd)));
    CHECK(back.count == 1 && back.blind_append_flag == -1);
    commit_free(&back);
    /* a malformed line is an error naming the line */
    commit_init(&back, NULL, -1);
    CHECK(commit_parse(&back, CI("") "{\"add\":{}}\n", strlen(CI("") "{\"add\":{}}\n")) == LOCH_ECORRUPT);
    CHECK(strstr(loch_error_last(), "line 2"));
    commit_free(&back);
    commit_free(&c);
    buf_free(&out);
}

static void test_isolation_levels(void)
{
    commit_isolation l;
    CHECK(commit_isolation_parse(NULL, &l) == 0 && l == ISOLATION_WRITE_SERIALIZABLE);
    CHECK(commit_isolation_parse("WriteSerializable", &l) == 0 && l == ISOLATION_WRITE_SERIALIZABLE);
    CHECK(commit_isolation_parse("Serializable", &l) == 0 && l == ISOLATION_SERIALIZABLE);
    CHECK(commit_isolation_parse("SnapshotIsolation", &l) == LOCH_EINVALID);
    commit c;
    buf out = BUF_INIT;
    commit_init(&c, "WRITE", 0);
    c.isolation = ISOLATION_SERIALIZABLE;
    CHECK_OK(commit_render(&c, 1, &out));
    CHECK(strstr(out.data, "\"isolationLevel\":\"Serializable\""));
    commit_free(&c);
    buf_free(&out);
}

static void test_source_tags(void)
{
    static const char *k[] = {"loch.source.sha256"}, *v[1];
    log_file f = {.tags = {k, v, 1}};
    v[0] = "ab,cd";
    CHECK(commit_file_has_source(&f, "ab") && commit_file_has_source(&f, "cd"));
    CHECK(!commit_file_has_source(&f, "b") && !commit_file_has_source(&f, "c") && !commit_file_has_source(&f, ""));
    v[0] = "xab";
    CHECK(!commit_file_has_source(&f, "ab"));
    f.tags.count = 0;
    CHECK(!commit_file_sources(&f) && !commit_file_has_source(&f, "ab"));
}

static void test_cdf_reserved_columns(void)
{
    static const char *k[] = {"delta.enableChangeDataFeed"}, *on[] = {"true"}, *off[] = {"false"};
    const char *mine = "{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,"
                       "\"metadata\":{}},{\"name\":\"_Change_Type\",\"type\":\"string\",\"nullable\":true,"
                       "\"metadata\":{}}]}";
    const char *fine = "{\"type\":\"struct\",\"fields\":[{\"name\":\"change_type\",\"type\":\"string\","
                       "\"nullable\":true,\"metadata\":{}}]}";
    commit c;
    commit_init(&c, "WRITE", 0);
    log_action m = {.kind = LOG_METADATA, .u.metadata = {.id = "x", .schema_string = mine,
                                                         .configuration = {k, on, 1}}};
    CHECK(commit_append(&c, &m) == LOCH_EINVALID && strstr(loch_error_last(), "_Change_Type"));
    m.u.metadata.configuration.values = off;
    CHECK_OK(commit_append(&c, &m));
    m.u.metadata.configuration.values = on;
    m.u.metadata.schema_string = fine;
    CHECK_OK(commit_append(&c, &m));
    CHECK(c.count == 2);
    commit_free(&c);
}

TEST_MAIN(T(test_conflict_matrix), T(test_cdf_reserved_columns), T(test_source_tags), T(test_first_conflict_wins), T(test_missing_partition_value_matches),
          T(test_render), T(test_every_kind_round_trips), T(test_isolation_levels))
