/*
 * tests/unit/test_s3.c - the S3 client (adapters/s3.h) against a real S3-compatible
 * server: tests/py/test_s3.py starts moto's server (and, for the faults, a proxy in front
 * of it) and runs this binary with LOCH_S3_ENDPOINT, LOCH_S3_BUCKET and, where it
 * applies, LOCH_S3_FAULTS naming what the proxy does. Without LOCH_S3_ENDPOINT (make
 * unit) there is no server to talk to, and it says so.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "adapters/s3.h"
#include "formats/awsconf.h"
#include "util/error.h"
#include "util/sha256.h"

static s3 *client(void)
{
    s3_options o = {.endpoint = getenv("LOCH_S3_ENDPOINT"), .region = "us-east-1", .access_key = "testing",
                    .secret_key = "testing", .path_style = 1, .attempts = 4};
    s3 *c = NULL;
    CHECK_OK(s3_open(&c, &o));
    return c;
}

static const char *bucket(void) { return getenv("LOCH_S3_BUCKET") ? getenv("LOCH_S3_BUCKET") : "loch"; }

/* A file of three and a bit parts (5 MiB each, three in flight), and one smaller than a
 * part (one PUT): read back byte for byte. */
static void put_file_round_trip(s3 *c, const char *key)
{
    char path[] = "/tmp/loch-s3-upload-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    size_t n = 3 * (5u << 20) + 12345;
    unsigned char *data = malloc(n);
    CHECK(data != NULL);
    if (!data) {
        close(fd);
        return;
    }
    uint32_t x = 7;
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
    CHECK(write(fd, data, n) == (ssize_t)n);
    close(fd);
    s3_object m;
    CHECK_OK(s3_put_file(c, bucket(), key, path, 5u << 20, 3, &m));
    buf got = BUF_INIT;
    CHECK_OK(s3_get(c, bucket(), key, 0, -1, &got, NULL));
    CHECK(got.len == n && !memcmp(got.data, data, n));
    buf_clear(&got);
    CHECK_OK(s3_get(c, bucket(), key, (int64_t)(5u << 20) - 3, 6, &got, NULL)); /* across a part's end */
    CHECK(got.len == 6 && !memcmp(got.data, data + (5u << 20) - 3, 6));
    buf_free(&got);
    CHECK(truncate(path, 1000) == 0);
    CHECK_OK(s3_put_file(c, bucket(), key, path, 5u << 20, 3, &m));
    CHECK_OK(s3_head(c, bucket(), key, &m));
    CHECK(m.size == 1000);
    CHECK(s3_put_file(c, bucket(), key, "/nonexistent/file", 5u << 20, 3, &m) < 0);
    error_clear();
    unlink(path);
    free(data);
}

static void test_objects(void)
{
    if (!getenv("LOCH_S3_ENDPOINT") || getenv("LOCH_S3_FAULTS"))
        return;
    s3 *c = client();
    if (!c)
        return;
    static const char *keys[] = {"lake/t/_delta_log/00000000000000000000.json", "lake/odd key +=&?#%\xc3\xa9.txt",
                                 "lake/t/part-0.parquet"};
    for (size_t i = 0; i < 3; i++) {
        buf got = BUF_INIT;
        s3_object m;
        CHECK_OK(s3_put(c, bucket(), keys[i], keys[i], strlen(keys[i]), 0, &m));
        CHECK(m.etag[0] != '\0');
        CHECK_OK(s3_get(c, bucket(), keys[i], 0, -1, &got, &m));
        CHECK(got.len == strlen(keys[i]) && !memcmp(got.data, keys[i], got.len));
        CHECK_OK(s3_head(c, bucket(), keys[i], &m));
        CHECK(m.size == (int64_t)strlen(keys[i]) && m.mtime_ms > 0);
        buf_free(&got);
    }
    /* ranges: the footer of a file, a middle, past the end */
    buf r = BUF_INIT;
    CHECK_OK(s3_get(c, bucket(), keys[2], 5, 4, &r, NULL));
    CHECK(r.len == 4 && !memcmp(r.data, "t/pa", 4));
    buf_clear(&r);
    CHECK_OK(s3_get(c, bucket(), keys[2], 17, -1, &r, NULL));
    CHECK(r.len == 4 && !memcmp(r.data, "quet", 4));
    buf_clear(&r);
    CHECK_OK(s3_get(c, bucket(), keys[2], 1000, -1, &r, NULL));
    CHECK(r.len == 0);
    buf_free(&r);
    /* the commit primitive: the second writer of a version loses */
    const char *v1 = "lake/t/_delta_log/00000000000000000001.json";
    CHECK_OK(s3_put(c, bucket(), v1, "{\"a\":1}\n", 8, 1, NULL));
    CHECK(s3_put(c, bucket(), v1, "{\"b\":2}\n", 8, 1, NULL) == LOCH_EEXISTS);
    error_clear();
    buf v = BUF_INIT;
    CHECK_OK(s3_get(c, bucket(), v1, 0, -1, &v, NULL));
    CHECK(v.len == 8 && !memcmp(v.data, "{\"a\":1}\n", 8));
    buf_free(&v);
    /* missing things */
    buf none = BUF_INIT;
    CHECK(s3_get(c, bucket(), "lake/missing", 0, -1, &none, NULL) == LOCH_ENOTFOUND);
    CHECK(strstr(loch_error_last(), "s3://") && strstr(loch_error_last(), "lake/missing"));
    CHECK(s3_get(c, bucket(), "lake/missing", 0, 8, &none, NULL) == LOCH_ENOTFOUND);
    CHECK(s3_head(c, bucket(), "lake/missing", NULL) == LOCH_ENOTFOUND);
    CHECK_OK(s3_delete(c, bucket(), "lake/missing")); /* idempotent */
    buf_free(&none);
    error_clear();
    /* listing: a directory's children (keys and folded prefixes), and every page of many */
    s3_entry *e = NULL;
    size_t n = 0;
    CHECK_OK(s3_list(c, bucket(), "lake/", "/", &e, &n));
    CHECK(n == 2 && e && e[0].is_prefix == 0 && !strcmp(e[0].key, keys[1]) && e[1].is_prefix &&
          !strcmp(e[1].key, "lake/t/"));
    s3_entries_free(e, n);
    char key[64];
    for (int i = 0; i < 1100; i++) {
        snprintf(key, sizeof(key), "many/%05d", i);
        CHECK_OK(s3_put(c, bucket(), key, "", 0, 0, NULL));
    }
    CHECK_OK(s3_list(c, bucket(), "many/", NULL, &e, &n));
    CHECK(n == 1100);
    for (size_t i = 0; i < n && i < 1100; i++) {
        snprintf(key, sizeof(key), "many/%05zu", i);
        CHECK(!strcmp(e[i].key, key) && e[i].size == 0);
    }
    s3_entries_free(e, n);
    CHECK_OK(s3_delete(c, bucket(), keys[0]));
    CHECK(s3_head(c, bucket(), keys[0], NULL) == LOCH_ENOTFOUND);
    error_clear();
    put_file_round_trip(c, "big/file.parquet");
    s3_free(c);
}

/* Behind the fault proxy (tests/py/test_s3.py says which faults): 503 SlowDown and
 * dropped connections are tried again; a conditional PUT whose answer was lost is ours,
 * not a conflict; when the tries run out, the error says why. */
static void test_faults(void)
{
    const char *f = getenv("LOCH_S3_FAULTS");
    if (!f || !getenv("LOCH_S3_ENDPOINT"))
        return;
    s3 *c = client();
    if (!c)
        return;
    if (!strcmp(f, "flaky")) { /* every other request fails, one way or another */
        for (int i = 0; i < 20; i++) {
            char key[64], body[32];
            snprintf(key, sizeof(key), "flaky/_delta_log/%020d.json", i);
            snprintf(body, sizeof(body), "{\"commit\":%d}\n", i);
            CHECK_OK(s3_put(c, bucket(), key, body, strlen(body), 1, NULL));
            buf got = BUF_INIT;
            CHECK_OK(s3_get(c, bucket(), key, 0, -1, &got, NULL));
            CHECK(got.len == strlen(body) && !memcmp(got.data, body, got.len));
            buf_free(&got);
        }
        put_file_round_trip(c, "flaky/big.parquet"); /* parts and their completion, tried again */
    } else if (!strcmp(f, "complete-lost")) { /* the object is there: the upload succeeded */
        put_file_round_trip(c, "lost/complete.parquet");
    } else if (!strcmp(f, "down")) { /* every request fails: a clear error after the tries */
        CHECK(s3_put(c, bucket(), "down/x", "x", 1, 1, NULL) == LOCH_EIO);
        CHECK(strstr(loch_error_last(), "after 4 attempts") && strstr(loch_error_last(), "s3://"));
        CHECK(!strstr(loch_error_last(), "testing")); /* never a credential */
        error_clear();
        char path[] = "/tmp/loch-s3-down-XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0 && ftruncate(fd, 11u << 20) == 0);
        if (fd >= 0)
            close(fd);
        CHECK(s3_put_file(c, bucket(), "down/big", path, 5u << 20, 2, NULL) == LOCH_EIO);
        CHECK(strstr(loch_error_last(), "down/big") != NULL);
        error_clear();
        unlink(path);
    }
    s3_free(c);
}

static void test_bad_options(void)
{
    s3 *c = NULL;
    s3_options o = {.endpoint = "ftp://x", .access_key = "a", .secret_key = "b"};
    CHECK(s3_open(&c, &o) == LOCH_EINVALID);
    o.endpoint = "http://user:pw@host";
    CHECK(s3_open(&c, &o) == LOCH_EINVALID);
    o.endpoint = "http://host/path";
    CHECK(s3_open(&c, &o) == LOCH_EINVALID);
    o.endpoint = "http://127.0.0.1:9/";
    o.secret_key = NULL;
    CHECK(s3_open(&c, &o) == LOCH_EINVALID && strstr(loch_error_last(), "AWS_ACCESS_KEY_ID"));
    error_clear();
    if (!getenv("LOCH_S3_ENDPOINT"))
        printf("test_s3: no LOCH_S3_ENDPOINT: the store's tests run from tests/py/test_s3.py\n");
}

static void hash8(const char *s, char out[17])
{
    uint8_t d[32];
    out[0] = '\0';
    if (s && sha256(s, strlen(s), d) == 0)
        for (int i = 0; i < 8; i++)
            snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* With LOCH_S3_SETTINGS_PRINT, the resolved settings as one JSON line (secrets as the
 * start of their SHA-256: tests/py/test_s3.py compares them with botocore's). */
static void test_settings(void)
{
    if (!getenv("LOCH_S3_SETTINGS_PRINT"))
        return;
    s3_settings st;
    int rc = s3_settings_resolve(&st);
    char sk[17], tk[17];
    if (rc < 0) {
        printf("{\"error\": %d}\n", rc);
        error_clear();
        return;
    }
    hash8(st.secret_key, sk);
    hash8(st.session_token, tk);
    printf("{\"access_key\": \"%s\", \"secret\": \"%s\", \"token\": \"%s\", \"region\": \"%s\", \"endpoint\": \"%s\", "
           "\"path_style\": %d, \"from\": \"%s\"}\n",
           st.access_key, sk, tk, st.region ? st.region : "", st.endpoint ? st.endpoint : "", st.path_style,
           st.credentials_from);
    s3_settings_free(&st);
}

/* The shared files' reader: sections, sub-keys, comments, the forms configparser takes,
 * and the lines it refuses. */
static void test_ini(void)
{
    const char *t = "# a comment\n[default]\naws_access_key_id = AKIA1\n; another\n[profile  dev]\n"
                    "region: eu-north-1\ns3 =\n  addressing_style = path\n  endpoint_url = http://m:9\n"
                    "Endpoint_URL = http://top\n[dev]\nregion = wrong\n";
    char *v = NULL;
    CHECK_OK(awsconf_ini_get(t, strlen(t), "f", "default", NULL, "aws_access_key_id", &v));
    CHECK_STR(v, "AKIA1");
    free(v);
    CHECK_OK(awsconf_ini_get(t, strlen(t), "f", "profile dev", NULL, "region", &v));
    CHECK_STR(v, "eu-north-1");
    free(v);
    CHECK_OK(awsconf_ini_get(t, strlen(t), "f", "profile dev", "s3", "addressing_style", &v));
    CHECK_STR(v, "path");
    free(v);
    CHECK_OK(awsconf_ini_get(t, strlen(t), "f", "profile dev", NULL, "endpoint_url", &v));
    CHECK_STR(v, "http://top");
    free(v);
    CHECK_OK(awsconf_ini_get(t, strlen(t), "f", "profile dev", "s3", "endpoint_url", &v));
    CHECK_STR(v, "http://m:9");
    free(v);
    CHECK_OK(awsconf_ini_get(t, strlen(t), "f", "dev", NULL, "addressing_style", &v));
    CHECK(v == NULL);
    static const char *bad[] = {"[default\nx = 1\n", "[default]\njust words\n", "[default]\n = v\n"};
    for (size_t i = 0; i < 3; i++) {
        CHECK(awsconf_ini_get(bad[i], strlen(bad[i]), "~/.aws/config", "default", NULL, "x", &v) == LOCH_ECORRUPT);
        CHECK(strstr(loch_error_last(), "~/.aws/config, line 2") || strstr(loch_error_last(), "line 1"));
        error_clear();
    }
}

TEST_MAIN(T(test_bad_options), T(test_objects), T(test_faults), T(test_settings), T(test_ini))
