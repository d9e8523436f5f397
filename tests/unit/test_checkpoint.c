/*
 * tests/unit/test_checkpoint.c - log replay results, and checkpoints that hold the
 * same table: replaying a log, writing its checkpoint rows and replaying those gives
 * the same files, tombstones, transactions, protocol and metadata.
 *
 * Oracle: the Delta protocol, "Action Reconciliation" (a file is keyed by path and
 * deletion vector id; the latest protocol, metaData and txn per appId win; removes
 * become tombstones), "Checkpoints" and "Metadata Cleanup".
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/snapshot.h"
#include "test.h"
#include "util/error.h"

#define DAY 86400000LL
#define PROTO "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}"
#define META(conf) "{\"metaData\":{\"id\":\"t\",\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":" \
                   "[{\\\"name\\\":\\\"id\\\",\\\"type\\\":\\\"long\\\",\\\"nullable\\\":true,\\\"metadata\\\":{}}]}\"," \
                   "\"partitionColumns\":[],\"configuration\":" conf "}}"
#define ADD(p, n) "{\"add\":{\"path\":\"" p "\",\"partitionValues\":{},\"size\":10,\"modificationTime\":1," \
                  "\"dataChange\":true,\"stats\":\"{\\\"numRecords\\\":" #n "}\"}}"
#define ADD_DV(p, id) "{\"add\":{\"path\":\"" p "\",\"partitionValues\":{},\"size\":10,\"modificationTime\":1," \
                      "\"dataChange\":true,\"deletionVector\":{\"storageType\":\"u\",\"pathOrInlineDv\":\"" id "\"," \
                      "\"offset\":1,\"sizeInBytes\":40,\"cardinality\":2}}}"
#define REMOVE(p, t) "{\"remove\":{\"path\":\"" p "\",\"deletionTimestamp\":" #t ",\"dataChange\":true}}"
#define TXN(a, v) "{\"txn\":{\"appId\":\"" a "\",\"version\":" #v ",\"lastUpdated\":1}}"

static int replay_text(snapshot *s, const char *text, int64_t version)
{
    snapshot_init(s);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        log_action a;
        int rc = log_parse_action(&s->arena, p, n, &a);
        rc = rc ? rc : snapshot_apply(s, &a);
        if (rc < 0)
            return rc;
        p += n + (nl != NULL);
    }
    return snapshot_finish(s, version);
}

static const log_file *find(const snapshot *s, const char *path)
{
    for (size_t i = 0; i < s->file_count; i++)
        if (strcmp(s->files[i].path, path) == 0)
            return &s->files[i];
    return NULL;
}

static const char *LOG =
    PROTO "\n" META("{}") "\n" ADD("a.parquet", 3) "\n" ADD("b.parquet", 4) "\n" TXN("app", 1) "\n"
    /* version 1: b goes, c comes, the app moves on, a's DV replaces a */
    REMOVE("b.parquet", 1000) "\n" ADD("c.parquet", 5) "\n" TXN("app", 2) "\n" TXN("other", 7) "\n"
    REMOVE("a.parquet", 1000) "\n" ADD_DV("a.parquet", "ab^-aqEH.-t@S}K{vb[*k^") "\n"
    /* version 2: a property change; the old metaData is replaced whole */
    META("{\"delta.deletedFileRetentionDuration\":\"interval 2 days\"}") "\n";

static void test_replay_results(void)
{
    snapshot s;
    CHECK_OK(replay_text(&s, LOG, 2));
    CHECK(s.file_count == 2 && s.tombstone_count == 2);
    CHECK(find(&s, "c.parquet") && !find(&s, "b.parquet"));
    const log_file *a = find(&s, "a.parquet");
    CHECK(a && a->dv.storage_type == 'u' && a->dv.cardinality == 2);
    CHECK(snapshot_txn_version(&s, "app") == 2 && snapshot_txn_version(&s, "other") == 7 &&
          snapshot_txn_version(&s, "none") == -1);
    CHECK_STR(snapshot_property(&s, "delta.deletedFileRetentionDuration"), "interval 2 days");
    CHECK(s.num_records == -1); /* the DV'd add has no stats */
    CHECK(s.size_bytes == 20);
    snapshot_free(&s);
}

static void test_checkpoint_round_trip(void)
{
    snapshot s, back;
    buf rows = BUF_INIT;
    size_t actions = 0;
    CHECK_OK(replay_text(&s, LOG, 2));
    /* a day after the removes both tombstones stay (retention 2 days); three days after, none */
    CHECK_OK(checkpoint_rows(&s, 1000 + DAY, &rows, &actions));
    CHECK(actions == 2 + 2 + 2 + 2); /* protocol, metaData, 2 adds, 2 tombstones, 2 txns */
    CHECK_OK(replay_text(&back, rows.data, 2));
    CHECK(back.file_count == s.file_count && back.tombstone_count == 2 && back.txn_count == 2);
    CHECK(find(&back, "a.parquet") && find(&back, "a.parquet")->dv.cardinality == 2 && find(&back, "c.parquet"));
    CHECK(back.protocol.min_writer == 2 && strcmp(back.metadata.id, "t") == 0);
    CHECK_STR(snapshot_property(&back, "delta.deletedFileRetentionDuration"), "interval 2 days");
    snapshot_free(&back);
    buf_clear(&rows);
    CHECK_OK(checkpoint_rows(&s, 1000 + 3 * DAY, &rows, &actions));
    CHECK(actions == 6 && !strstr(rows.data, "\"remove\""));
    snapshot_free(&s);
    buf_free(&rows);
}

static void test_last_checkpoint_and_intervals(void)
{
    buf b = BUF_INIT;
    CHECK_OK(checkpoint_last(100, 8, 4096, 3, &b));
    CHECK_STR(b.data, "{\"version\":100,\"size\":8,\"sizeInBytes\":4096,\"numOfAddFiles\":3}");
    buf_free(&b);
    CHECK(checkpoint_interval_ms("interval 30 days", 0) == 30 * DAY);
    CHECK(checkpoint_interval_ms("interval 1 week", 0) == 7 * DAY);
    CHECK(checkpoint_interval_ms("interval 2 hours", 0) == 2 * 3600000LL);
    CHECK(checkpoint_interval_ms("interval 5 fortnights", 9) == 9);
    CHECK(checkpoint_interval_ms("interval -1 days", 9) == 9);
    CHECK(checkpoint_interval_ms(NULL, 9) == 9);
}

static void test_expired_log_files(void)
{
    /* commits 0..5 and checkpoints at 2 and 4; everything up to version 4 is old */
    checkpoint_log_file f[] = {{0, 'j', 10}, {1, 'j', 10}, {2, 'j', 10}, {2, 'c', 10}, {3, 'j', 10},
                               {4, 'j', 10}, {4, 'c', 10}, {5, 'j', 99}, {-1, 0, 1}};
    unsigned char expire[9];
    /* the newest old checkpoint is 4: versions before it go, 4 and after stay */
    CHECK(checkpoint_expired(f, 9, 50, expire) == 5);
    for (int i = 0; i < 9; i++)
        CHECK(expire[i] == (f[i].version >= 0 && f[i].version < 4));
    /* no checkpoint is old enough: nothing goes, or old versions would be unreadable */
    CHECK(checkpoint_expired(f, 9, 5, expire) == 0);
}

/* Delta's interval text, strictly: what Spark would refuse is refused, never misread. */
static void test_interval_parse(void)
{
    static const struct {
        const char *text;
        int64_t ms; /* -1: refused */
    } rows[] = {
        {"interval 30 days", 30 * DAY}, {"interval 1 day", DAY}, {"interval 2 weeks", 14 * DAY},
        {"interval 3 hours", 3 * 3600000LL}, {"interval 0 seconds", 0}, {"interval 1500 milliseconds", 1500},
        {"interval 2000 microseconds", 2}, {"interval 2147483647 days", 2147483647LL * DAY},
        {"interval 2147483648 days", -1}, {"interval 1000000000 weeks", -1},
        {"interval 9223372036854775807 hours", -1}, {"interval 200000000000 days", -1},
        {"interval 1 month", -1}, {"interval 1 year", -1}, {"interval 1.5 days", -1}, {"interval -1 days", -1},
        {"1 day", -1}, {"interval 1 days extra", -1}, {"interval 1 fortnights", -1}, {"", -1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t ms = -7;
        int rc = checkpoint_interval_parse(rows[i].text, &ms);
        if ((rows[i].ms < 0) != (rc < 0) || (rc == 0 && ms != rows[i].ms))
            fprintf(stderr, "  \"%s\": rc %d ms %lld\n", rows[i].text, rc, (long long)ms);
        CHECK(rows[i].ms < 0 ? rc == LOCH_EINVALID : rc == 0 && ms == rows[i].ms);
    }
    /* as a retention, an invalid value is the default, never "delete everything" */
    CHECK(checkpoint_interval_ms("interval 200000000000 days", 30 * DAY) == 30 * DAY);
}

/* The layout every Delta reader expects: the five action columns, in order. */
static void test_schema(void)
{
    const char *want[] = {"txn", "add", "remove", "metaData", "protocol"};
    size_t n = 0;
    for (const checkpoint_field *f = checkpoint_schema; f->name; f++, n++) {
        CHECK(n < 5 && strcmp(f->name, want[n]) == 0);
        CHECK(f->type == CP_STRUCT && f->fields && f->fields[0].name);
    }
    CHECK(n == 5);
    CHECK_STR(checkpoint_schema[1].fields[0].name, "path");
}

TEST_MAIN(T(test_replay_results), T(test_checkpoint_round_trip), T(test_last_checkpoint_and_intervals),
          T(test_expired_log_files), T(test_interval_parse), T(test_schema))
