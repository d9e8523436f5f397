/*
 * tests/unit/test_storage.c - the storage contract (core/storage.h) as the local
 * backend keeps it, the URI forms that choose a backend (adapters/storage.h), and the
 * fault wrapper over a backend (adapters/storage_faulty.c): each step fails where the
 * table atop that file says, once, and only in the wrapper it was given to.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/storage.h"
#include "loch/loch.h"
#include "test.h"

/* ---- URIs ---------------------------------------------------------------------------- */

static void test_uri_forms(void)
{
    static const struct {
        const char *uri, *path;
    } ok[] = {
        {"/tmp/lake", "/tmp/lake"},
        {"lake", "lake"},
        {"../lakes/one", "../lakes/one"},
        {"a:b", "a:b"},                         /* no "://": a path */
        {"c:/x", "c:/x"},
        {"file:///tmp/lake", "/tmp/lake"},
        {"FILE:///tmp/lake", "/tmp/lake"},
        {"file://localhost/tmp/lake", "/tmp/lake"},
        {"file://LocalHost/tmp/lake", "/tmp/lake"},
        {"file:/tmp/lake", "/tmp/lake"},        /* RFC 8089's short form */
        {"file:///tmp/a%20b", "/tmp/a b"},
        {"file:///tmp/%C3%A9t%c3%a9", "/tmp/\xc3\xa9t\xc3\xa9"},
        {"file:///tmp/%2e%2e/x", "/tmp/../x"},  /* decoded, never normalized here */
        {"file:///tmp/a%2Fb", "/tmp/a/b"},
        {"file:///tmp/%3F%23", "/tmp/?#"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        storage_uri u;
        CHECK_OK(storage_uri_parse(&u, ok[i].uri));
        CHECK_STR(u.scheme, "file");
        CHECK_STR(u.path, ok[i].path);
        storage_uri_free(&u);
    }
    static const struct {
        const char *uri, *bucket, *prefix;
    } s3[] = {
        {"s3://bucket/lake", "bucket", "lake"},
        {"S3A://my.bucket-1/a/b/", "my.bucket-1", "a/b"}, /* s3a, as Hadoop names it; a trailing '/' dropped */
        {"s3://bucket", "bucket", ""},
        {"s3://bucket/", "bucket", ""},
        {"s3://bucket/a b/%20", "bucket", "a b/%20"}, /* keys are taken as written */
    };
    for (size_t i = 0; i < sizeof(s3) / sizeof(s3[0]); i++) {
        storage_uri u;
        CHECK_OK(storage_uri_parse(&u, s3[i].uri));
        CHECK_STR(u.scheme, "s3");
        CHECK_STR(u.bucket, s3[i].bucket);
        CHECK_STR(u.path, s3[i].prefix);
        storage_uri_free(&u);
    }
}

static void test_uri_refusals(void)
{
    static const struct {
        const char *uri;
        int code;
        const char *words;
    } bad[] = {
        {"", LOCH_EINVALID, "empty"},
        {"file://otherhost/tmp/lake", LOCH_EINVALID, "names host \"otherhost\""},
        {"file://localhost.evil/tmp/lake", LOCH_EINVALID, "names host \"localhost.evil\""},
        {"file://tmp", LOCH_EINVALID, "absolute path"},
        {"file://", LOCH_EINVALID, "absolute path"},
        {"file:///tmp/a%00b", LOCH_EINVALID, "%00"},
        {"file:///tmp/a%2", LOCH_EINVALID, "escape"},
        {"file:///tmp/a%zz", LOCH_EINVALID, "escape"},
        {"file:///tmp/a?x=1", LOCH_EINVALID, "query or fragment"},
        {"file:///tmp/a#frag", LOCH_EINVALID, "query or fragment"},
        {"s3://Bucket/lake", LOCH_EINVALID, "not a bucket name"},
        {"s3://ab/lake", LOCH_EINVALID, "not a bucket name"},
        {"s3://bucket-/lake", LOCH_EINVALID, "not a bucket name"},
        {"s3://buck_et/lake", LOCH_EINVALID, "not a bucket name"},
        {"s3://bucket/a//b", LOCH_EINVALID, "empty"},
        {"s3://bucket/a/../b", LOCH_EINVALID, "\"..\""},
        {"s3://bucket/./b", LOCH_EINVALID, "\".\""},
        {"s3://bucket/a\tb", LOCH_EINVALID, "control character"},
        {"s3://bucket/\xff", LOCH_EINVALID, "UTF-8"},
        {"s3://bucket/a?b=c", LOCH_EINVALID, "no query or fragment"},
        {"s3://bucket/q#f", LOCH_EINVALID, "no query or fragment"},
        {"gs://bucket/lake", LOCH_EUNSUPPORTED, "unknown URI scheme \"gs\""},
        {"http://example.com/lake", LOCH_EUNSUPPORTED, "unknown URI scheme \"http\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        storage_uri u;
        int rc = storage_uri_parse(&u, bad[i].uri);
        CHECK(rc == bad[i].code);
        CHECK(strstr(loch_error_last(), bad[i].words) != NULL);
        if (rc != bad[i].code || !strstr(loch_error_last(), bad[i].words))
            fprintf(stderr, "  %s -> %d: %s\n", bad[i].uri, rc, loch_error_last());
        CHECK(u.path == NULL);
        storage_uri_free(&u);
    }
}

static void test_open_by_uri(void)
{
    char *dir = temp_dir(), uri[600], path[600];
    storage *st = NULL;
    snprintf(uri, sizeof(uri), "file://%s/a%%20b", dir);
    CHECK(storage_open(&st, uri, 0, NULL) == LOCH_ENOTFOUND && st == NULL); /* not created without create */
    CHECK_OK(storage_open(&st, uri, 1, NULL));
    snprintf(path, sizeof(path), "%s/a b", dir);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
    buf where = BUF_INIT;
    CHECK_OK(st->engine_path(st, "t/_delta_log", &where));
    snprintf(path, sizeof(path), "%s/a b/t/_delta_log", dir);
    CHECK_STR(where.data, path);
    /* nothing leaves the root */
    CHECK(st->engine_path(st, "../x", &where) == LOCH_EINVALID);
    CHECK(st->get(st, "t/../../x", &where) == LOCH_EINVALID);
    CHECK(st->put(st, "..", "x", 1) == LOCH_EINVALID);
    buf_free(&where);
    st->free(st);
    snprintf(path, sizeof(path), "%s/file", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    CHECK(storage_open(&st, path, 0, NULL) == LOCH_EINVALID && st == NULL); /* a file is no lake */
    remove_temp_dir(dir);
    free(dir);
}

/* ---- the local store's links, directories and locks ---------------------------------- */

static void test_links_and_directories(void)
{
    char *dir = temp_dir(), target[600], link_at[600];
    storage *st = NULL;
    storage_entry e;
    CHECK_OK(storage_local_open(&st, dir, 1));
    CHECK_OK(st->mkdirs(st, "t/_delta_log"));
    CHECK_OK(st->head(st, "t", &e));
    CHECK(e.is_dir && !e.is_link);
    snprintf(target, sizeof(target), "%s/t", dir);
    snprintf(link_at, sizeof(link_at), "%s/u", dir);
    CHECK(symlink(target, link_at) == 0);
    CHECK_OK(st->head(st, "u", &e));
    CHECK(e.is_link && e.is_dir);
    snprintf(link_at, sizeof(link_at), "%s/gone", dir);
    CHECK(symlink("/nonexistent/loch", link_at) == 0);
    CHECK_OK(st->head(st, "gone", &e)); /* a link whose target is gone is still seen */
    CHECK(e.is_link && e.size == -1);
    storage_lock *l = NULL;
    CHECK(st->lock(st, "u", STORAGE_LOCK_SHARED, &l) == LOCH_EINVALID && l == NULL); /* never through a link */
    /* remove_dir takes only empty directories, and never fails for a full one */
    CHECK_OK(st->put(st, "t/_delta_log/x", "1", 1));
    CHECK_OK(st->remove_dir(st, "t/_delta_log"));
    CHECK_OK(st->head(st, "t/_delta_log/x", &e));
    CHECK_OK(st->remove(st, "t/_delta_log/x"));
    CHECK_OK(st->remove_dir(st, "t/_delta_log"));
    CHECK(st->head(st, "t/_delta_log", &e) == LOCH_ENOTFOUND);
    CHECK_OK(st->remove_dir(st, "t/_delta_log")); /* gone already */
    st->free(st);
    remove_temp_dir(dir);
    free(dir);
}

static void test_locks(void)
{
    char *dir = temp_dir();
    storage *st = NULL;
    storage_lock *a = NULL, *b = NULL, *c = NULL;
    buf got = BUF_INIT;
    CHECK_OK(storage_local_open(&st, dir, 1));
    /* created held, written through the lock, readable by name */
    CHECK_OK(st->lock(st, "_loch/intents/one", STORAGE_LOCK_CREATE | STORAGE_LOCK_EXCLUSIVE, &a));
    CHECK(st->lock(st, "_loch/intents/one", STORAGE_LOCK_CREATE | STORAGE_LOCK_EXCLUSIVE, &b) == LOCH_EEXISTS);
    CHECK_OK(st->lock_write(st, a, "table t\n", 8, 0));
    CHECK_OK(st->lock_write(st, a, "table t\nfile t/x\n", 17, 1));
    CHECK_OK(st->get(st, "_loch/intents/one", &got));
    CHECK(got.len == 17 && memcmp(got.data, "table t\nfile t/x\n", 17) == 0);
    /* held: another taker that will not wait is told so */
    CHECK(st->lock(st, "_loch/intents/one", STORAGE_LOCK_EXCLUSIVE | STORAGE_LOCK_TRY, &b) == LOCH_ECONFLICT);
    CHECK(b == NULL);
    st->unlock(st, a);
    CHECK_OK(st->lock(st, "_loch/intents/one", STORAGE_LOCK_EXCLUSIVE | STORAGE_LOCK_TRY, &b));
    st->unlock(st, b);
    /* no temp name is left beside it */
    storage_entry *e = NULL;
    size_t n = 0;
    CHECK_OK(st->list_names(st, "_loch/intents", &e, &n));
    CHECK(n == 1 && strcmp(e[0].name, "one") == 0);
    storage_entries_free(e, n);
    /* directories: shared holders share; an exclusive taker waits for them */
    CHECK_OK(st->mkdirs(st, "t/_delta_log"));
    CHECK_OK(st->lock(st, "t/_delta_log", STORAGE_LOCK_SHARED, &a));
    CHECK_OK(st->lock(st, "t/_delta_log", STORAGE_LOCK_SHARED | STORAGE_LOCK_TRY, &b));
    CHECK(st->lock(st, "t/_delta_log", STORAGE_LOCK_EXCLUSIVE | STORAGE_LOCK_TRY, &c) == LOCH_ECONFLICT);
    st->unlock(st, a);
    st->unlock(st, b);
    CHECK_OK(st->lock(st, "t/_delta_log", STORAGE_LOCK_EXCLUSIVE | STORAGE_LOCK_TRY, &c));
    /* a directory moved away under its holder is no longer the one at the name */
    CHECK_OK(st->move(st, "t", ".dropped-t"));
    CHECK(st->lock(st, "t/_delta_log", STORAGE_LOCK_SHARED, &a) == LOCH_ENOTFOUND && a == NULL);
    st->unlock(st, c);
    st->unlock(st, NULL);
    buf_free(&got);
    st->free(st);
    remove_temp_dir(dir);
    free(dir);
}

/* ---- faults -------------------------------------------------------------------------- */

static storage *faulty_over(const char *dir, const char *spec)
{
    storage *inner = NULL, *st = NULL;
    CHECK_OK(storage_local_open(&inner, dir, 1));
    CHECK_OK(storage_faulty_wrap(&st, inner, spec));
    return st;
}

static int exists(storage *st, const char *path)
{
    storage_entry e;
    int rc = st->head(st, path, &e);
    return rc == 0;
}

static void test_fault_steps(void)
{
    char *dir = temp_dir();
    /* before publication: nothing is visible, and the message names the step */
    static const struct {
        const char *spec, *words;
        int exclusive;
    } before[] = {
        {"write:ENOSPC", "No space left", 1}, {"fsync:EIO", "fsync", 1}, {"link:EIO", "link", 1},
        {"write:EIO", "write", 0},           {"rename:EIO", "rename", 0},
    };
    for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
        storage *st = faulty_over(dir, before[i].spec);
        int rc = before[i].exclusive ? st->put_if_absent(st, "a/x.json", "{}", 2) : st->put(st, "a/x.json", "{}", 2);
        CHECK(rc == LOCH_EIO);
        CHECK(strstr(loch_error_last(), before[i].words) != NULL);
        CHECK(!exists(st, "a/x.json"));
        CHECK_OK(st->put(st, "a/x.json", "{}", 2)); /* once */
        CHECK_OK(st->remove(st, "a/x.json"));
        st->free(st);
    }
    /* EEXIST at the link is the commit race lost */
    storage *st = faulty_over(dir, "link:EEXIST");
    CHECK(st->put_if_absent(st, "a/0.json", "{}", 2) == LOCH_EEXISTS);
    CHECK(!exists(st, "a/0.json"));
    st->free(st);
    /* after publication: the object is there, its durability unconfirmed */
    st = faulty_over(dir, "dirsync:EIO");
    CHECK(st->put_if_absent(st, "a/1.json", "{}", 2) == LOCH_EIO);
    CHECK(strstr(loch_error_last(), "fsync of directory a") != NULL);
    CHECK(exists(st, "a/1.json"));
    st->free(st);
    st = faulty_over(dir, "datasync:EIO");
    CHECK(st->sync(st, "a/1.json") == LOCH_EIO && strstr(loch_error_last(), "fsync a/1.json"));
    CHECK_OK(st->sync(st, "a/1.json"));
    st->free(st);
    st = faulty_over(dir, "datadirsync:EIO");
    CHECK(st->sync(st, "a/1.json") == LOCH_EIO && strstr(loch_error_last(), "fsync of directory"));
    st->free(st);
    /* skip: the third write fails, the ones around it do not */
    st = faulty_over(dir, "write:EIO:2");
    CHECK_OK(st->put(st, "b/1", "1", 1));
    CHECK_OK(st->put_if_absent(st, "b/2", "2", 1));
    CHECK(st->put(st, "b/3", "3", 1) == LOCH_EIO);
    CHECK_OK(st->put(st, "b/4", "4", 1));
    st->free(st);
    /* a spec that does not parse arms nothing */
    st = faulty_over(dir, "nonsense");
    CHECK_OK(st->put(st, "b/5", "5", 1));
    st->free(st);
    remove_temp_dir(dir);
    free(dir);
}

/* Two wrappers over stores of one lake: the fault of one never fires in the other. */
static void test_faults_are_per_store(void)
{
    char *dir = temp_dir();
    storage *failing = faulty_over(dir, "write:EIO"), *healthy = faulty_over(dir, "");
    CHECK_OK(healthy->put(healthy, "x", "1", 1));
    CHECK(failing->put(failing, "y", "1", 1) == LOCH_EIO);
    CHECK_OK(healthy->put(healthy, "z", "1", 1));
    CHECK_OK(failing->put(failing, "y", "1", 1));
    failing->free(failing);
    healthy->free(healthy);
    remove_temp_dir(dir);
    free(dir);
}

TEST_MAIN(T(test_uri_forms), T(test_uri_refusals), T(test_open_by_uri), T(test_links_and_directories),
          T(test_locks), T(test_fault_steps), T(test_faults_are_per_store))
