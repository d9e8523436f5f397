/*
 * tests/unit/test_lake.c - the lake handle behaves as a library: it prints nothing
 * (warnings reach the caller's log callback), it reads its test hooks from its options
 * and never from the environment, each lake has its own, and every public options
 * struct is checked by version the same way.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loch/loch.h"
#include "test.h"

typedef struct {
    int calls;
    char last[512];
} warnings;

static void collect(void *ctx, loch_log_level level, const char *message)
{
    warnings *w = ctx;
    CHECK(level == LOCH_LOG_WARNING);
    w->calls++;
    snprintf(w->last, sizeof(w->last), "%s", message);
}

/* Runs sql and returns its result code, freeing the result. */
static int run(loch_lake *lake, const char *sql)
{
    loch_result *r = NULL;
    int rc = loch_sql(&r, lake, sql);
    loch_result_free(r);
    return rc;
}

/* A catalog that cannot open is worked around: a warning for the callback, not a
 * line on stderr (checked by pointing stderr at a file while the lake opens). */
static void test_warnings_go_to_the_callback(void)
{
    char *dir = temp_dir(), path[512], err_path[512];
    snprintf(path, sizeof(path), "%s/_loch/catalog.sqlite", dir);
    CHECK(mkdir(path, 0755) < 0); /* _loch does not exist yet */
    snprintf(path, sizeof(path), "%s/_loch", dir);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof(path), "%s/_loch/catalog.sqlite", dir);
    CHECK(mkdir(path, 0755) == 0); /* a directory where the catalog's file would be */

    warnings w = {0};
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    o.log = collect;
    o.log_ctx = &w;
    loch_lake *lake = NULL;
    CHECK_OK(loch_lake_open(&lake, dir, &o));
    CHECK(w.calls == 1);
    CHECK(strstr(w.last, "continuing without the catalog") != NULL);
    CHECK(run(lake, "CREATE TABLE t AS SELECT 1 AS x") == 0); /* works without it */
    loch_lake_free(lake);

    /* Without a callback the warning goes nowhere: stderr stays empty. */
    snprintf(err_path, sizeof(err_path), "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    loch_lake_options quiet = LOCH_LAKE_OPTIONS_INIT;
    int rc = loch_lake_open(&lake, dir, &quiet);
    rc = rc ? rc : run(lake, "SELECT * FROM t");
    loch_lake_free(lake);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    CHECK(rc == 0);
    struct stat st;
    CHECK(stat(err_path, &st) == 0 && st.st_size == 0);
    remove_temp_dir(dir);
    free(dir);
}

/* An injected storage fault belongs to the lake it was given to: another lake in the
 * same process writes normally, and the environment is not read. */
static void test_faults_are_per_lake(void)
{
    char *dir = temp_dir();
    setenv("LOCH_FAULT", "write:EIO", 1); /* ignored: the library reads no environment */
    loch_lake_options healthy = LOCH_LAKE_OPTIONS_INIT, failing = LOCH_LAKE_OPTIONS_INIT;
    failing.test_fault = "write:ENOSPC";
    loch_lake *a = NULL, *b = NULL;
    CHECK_OK(loch_lake_open(&a, dir, &failing));
    CHECK_OK(loch_lake_open(&b, dir, &healthy));
    CHECK(run(b, "CREATE TABLE ok AS SELECT 1 AS x") == 0);
    CHECK(run(a, "CREATE TABLE bad AS SELECT 1 AS x") == LOCH_EIO);
    CHECK(strstr(loch_error_last(), "No space left") != NULL);
    CHECK(run(a, "CREATE TABLE bad AS SELECT 1 AS x") == 0); /* it fails once */
    CHECK(run(b, "INSERT INTO ok VALUES (2)") == 0);
    unsetenv("LOCH_FAULT");
    loch_lake_free(a);
    loch_lake_free(b);
    remove_temp_dir(dir);
    free(dir);
}

/* loch_lake_open takes every form of a lake's location (adapters/storage.h) to the same
 * lake, and refuses what it cannot serve by name without creating anything. */
static void test_lake_uris(void)
{
    char *dir = temp_dir(), uri[700], cwd[600];
    loch_lake *lake = NULL;
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    snprintf(uri, sizeof(uri), "file://%s/a%%20b", dir);
    CHECK_OK(loch_lake_open(&lake, uri, &o));
    CHECK(lake && run(lake, "CREATE TABLE t AS SELECT 1 AS x") == 0);
    loch_lake_free(lake);
    lake = NULL;
    char want[700], *forms[5];
    snprintf(want, sizeof(want), "%s/a b", dir);
    forms[0] = want;
    forms[1] = "a b"; /* relative to the working directory */
    forms[2] = uri;
    char localhost[700], shortform[700];
    snprintf(localhost, sizeof(localhost), "file://localhost%s/a%%20b", dir);
    snprintf(shortform, sizeof(shortform), "file:%s/a%%20b", dir);
    forms[3] = localhost;
    forms[4] = shortform;
    CHECK(chdir(dir) == 0);
    loch_lake_options existing = LOCH_LAKE_OPTIONS_INIT;
    existing.create = 0;
    for (int i = 0; i < 5; i++) {
        CHECK_OK(loch_lake_open(&lake, forms[i], &existing));
        CHECK(lake && strcmp(loch_lake_root(lake), want) == 0);
        CHECK(lake && run(lake, "SELECT * FROM t") == 0);
        loch_lake_free(lake);
        lake = NULL;
    }
    CHECK(chdir(cwd) == 0);
    snprintf(uri, sizeof(uri), "file://%s/none", dir);
    CHECK(loch_lake_open(&lake, uri, &existing) == LOCH_ENOTFOUND && lake == NULL);
    CHECK(strstr(loch_error_last(), "no lake at") != NULL);
    char refused[4][700];
    int codes[4] = {LOCH_EINVALID, LOCH_EINVALID, LOCH_EINVALID /* no credentials given */, LOCH_EUNSUPPORTED};
    snprintf(refused[0], sizeof(refused[0]), "file://elsewhere%s/r", dir);
    snprintf(refused[1], sizeof(refused[1]), "file://%s/r%%00s", dir);
    snprintf(refused[2], sizeof(refused[2]), "s3://bucket%s/r", dir);
    snprintf(refused[3], sizeof(refused[3]), "az://c%s/r", dir);
    CHECK(chdir(dir) == 0);
    for (int i = 0; i < 4; i++) {
        CHECK(loch_lake_open(&lake, refused[i], &o) == codes[i] && lake == NULL);
        CHECK(strstr(loch_error_last(), refused[i]) != NULL); /* the message names it */
    }
    CHECK(chdir(cwd) == 0);
    struct stat st;
    snprintf(uri, sizeof(uri), "%s/r", dir);
    CHECK(stat(uri, &st) != 0); /* nothing was created, under any name */
    snprintf(uri, sizeof(uri), "%s/s3:", dir);
    CHECK(stat(uri, &st) != 0);
    snprintf(uri, sizeof(uri), "%s/file:", dir);
    CHECK(stat(uri, &st) != 0);
    remove_temp_dir(dir);
    free(dir);
}

/* Version 1 of loch_lake_options (before the log callback and test hooks) is still
 * accepted, read only as far as it goes; 0 and future versions are refused. */
static void test_lake_options_versions(void)
{
    char *dir = temp_dir();
    struct {
        unsigned int version;
        int sandbox;
        const char *memory_limit;
        int threads;
        int create;
    } v1 = {1, 1, NULL, 1, 1};
    loch_lake *lake = NULL;
    CHECK_OK(loch_lake_open(&lake, dir, (const loch_lake_options *)(const void *)&v1));
    CHECK(lake && run(lake, "COPY (SELECT 1) TO '/tmp/x.csv'") == LOCH_EPERM); /* v1's sandbox held */
    loch_lake_free(lake);
    loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
    o.version = 0;
    CHECK(loch_lake_open(&lake, dir, &o) == LOCH_EINVALID && lake == NULL);
    o.version = LOCH_LAKE_OPTIONS_VERSION + 1;
    CHECK(loch_lake_open(&lake, dir, &o) == LOCH_EINVALID && lake == NULL);
    CHECK(strstr(loch_error_last(), "loch_lake_options version") != NULL);
    remove_temp_dir(dir);
    free(dir);
}

/* loch_ingest checks its options' version like the others; a version 1 struct (before
 * progress, encoding and sha256) still ingests. */
static void test_ingest_options_versions(void)
{
    char *dir = temp_dir();
    char csv[4096];
    snprintf(csv, sizeof(csv), "%s/in.csv", dir);
    FILE *f = fopen(csv, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("id\n1\n2\n", f);
        fclose(f);
    }
    loch_lake *lake = NULL;
    loch_result *r = NULL;
    const char *files[] = {csv};
    CHECK_OK(loch_lake_open(&lake, dir, NULL));
    loch_ingest_options o = LOCH_INGEST_OPTIONS_INIT;
    o.version = LOCH_INGEST_OPTIONS_VERSION + 1;
    CHECK(lake && loch_ingest(&r, lake, "t", files, 1, &o) == LOCH_EINVALID && r == NULL);
    CHECK(strstr(loch_error_last(), "loch_ingest_options version") != NULL);
    o.version = 0;
    CHECK(lake && loch_ingest(&r, lake, "t", files, 1, &o) == LOCH_EINVALID);
    struct {
        unsigned int version;
        const char *format;
        int overwrite;
        const char *schema;
        int force;
        const char *rejects;
    } v1 = {1, "csv", 0, NULL, 0, NULL};
    CHECK_OK(loch_ingest(&r, lake, "t", files, 1, (const loch_ingest_options *)(const void *)&v1));
    loch_result_free(r);
    loch_lake_free(lake);
    remove_temp_dir(dir);
    free(dir);
}

static void test_server_options_versions(void)
{
    loch_server_options o = LOCH_SERVER_OPTIONS_INIT;
    loch_server *s = NULL;
    o.lake = "/nonexistent";
    o.version = LOCH_SERVER_OPTIONS_VERSION + 1;
    CHECK(loch_server_start(&s, &o) == LOCH_EINVALID && s == NULL);
    CHECK(strstr(loch_error_last(), "loch_server_options version") != NULL);
    o.version = 0;
    CHECK(loch_server_start(&s, &o) == LOCH_EINVALID && s == NULL);
}

TEST_MAIN(T(test_warnings_go_to_the_callback), T(test_ingest_options_versions), T(test_faults_are_per_lake), T(test_lake_uris),
          T(test_lake_options_versions),
          T(test_server_options_versions))
