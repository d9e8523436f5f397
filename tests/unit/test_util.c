/*
 * tests/unit/test_util.c - buffers, JSON, time parsing, URI coding, the string map.
 */
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "formats/csvcheck.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/misc.h"
#include "util/sha256.h"
#include "util/utf8.h"
#include "util/strmap.h"

static void test_json_values(void)
{
    arena a = ARENA_INIT;
    json *v = NULL;
    const char *text = "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\\u00e9\\ud83d\\ude00\\n\",\"d\":-2.5e3,"
                       "\"big\":12345678901234567890}";
    CHECK_OK(json_parse(&a, text, strlen(text), &v));
    CHECK(json_get_i64(v, "a", 0) == 1);
    CHECK(json_get(v, "b")->len == 3);
    CHECK_STR(json_get_str(v, "c"), "x\xc3\xa9\xf0\x9f\x98\x80\n");
    CHECK(json_get(v, "d")->num == -2500.0 && !json_get(v, "d")->is_int);
    CHECK(!json_get(v, "big")->is_int);
    buf out = BUF_INIT;
    CHECK_OK(json_write(&out, json_get(v, "b")));
    CHECK_STR(out.data, "[true,false,null]");
    buf_free(&out);
    arena_free(&a);
}

static void test_json_rejects(void)
{
    static const char *bad[] = {"", "{", "{\"a\":}", "[1,]", "01", "\"\\x\"", "\"a", "{\"a\" 1}", "tru",
                                "[1] x", "\"\\ud800\"", "1.", "-", "\"\x01\""};
    arena a = ARENA_INIT;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json *v;
        int rc = json_parse(&a, bad[i], strlen(bad[i]), &v);
        CHECK(rc == LOCH_ECORRUPT);
    }
    /* nesting deeper than the cap is refused, not a stack overflow */
    char deep[1000];
    memset(deep, '[', sizeof(deep));
    json *v;
    CHECK(json_parse(&a, deep, sizeof(deep), &v) == LOCH_ECORRUPT);
    arena_free(&a);
}

static void test_iso8601(void)
{
    int64_t ms = 0;
    CHECK_OK(iso8601_parse_ms("1970-01-01T00:00:00Z", &ms));
    CHECK(ms == 0);
    CHECK_OK(iso8601_parse_ms("2026-11-21T10:00:00Z", &ms));
    CHECK(ms == 1795255200000LL);
    CHECK(iso8601_parse_ms("2026-11-21T12:00:00+99:00", &ms) == LOCH_EINVALID); /* offsets stop at 18:00 */
    CHECK(iso8601_parse_ms("2026-11-21T12:00:00-10:75", &ms) == LOCH_EINVALID);
    CHECK_OK(iso8601_parse_ms("2026-11-21T12:00:00-18:00", &ms));
    CHECK_OK(iso8601_parse_ms("2026-11-21T12:00:00+02:00", &ms));
    CHECK(ms == 1795255200000LL);
    CHECK_OK(iso8601_parse_ms("2026-11-21", &ms));
    CHECK(ms == 1795219200000LL);
    CHECK_OK(iso8601_parse_ms("2026-11-21 10:00:00.250", &ms));
    CHECK(ms == 1795255200250LL);
    CHECK(iso8601_parse_ms("2026-13-01", &ms) == LOCH_EINVALID);
    CHECK(iso8601_parse_ms("yesterday", &ms) == LOCH_EINVALID);
    char s[32];
    iso8601_format_ms(1795255200250LL, s);
    CHECK_STR(s, "2026-11-21T10:00:00.250Z");
}

static void test_uri(void)
{
    char s[] = "a%20b/c%3Dd";
    CHECK_OK(uri_decode(s));
    CHECK_STR(s, "a b/c=d");
    char bad[] = "x%zz";
    CHECK(uri_decode(bad) == LOCH_ECORRUPT);
    char *e = uri_encode_path("p=a b/x%.parquet");
    CHECK_STR(e, "p=a%20b/x%25.parquet");
    free(e);
}

static void test_strmap(void)
{
    strmap m = STRMAP_INIT;
    char keys[1000][16];
    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        CHECK_OK(strmap_put(&m, keys[i], (size_t)i));
    }
    for (int i = 0; i < 1000; i += 2)
        CHECK(strmap_del(&m, keys[i]));
    size_t v = 0;
    CHECK(!strmap_get(&m, "k10", &v));
    CHECK(strmap_get(&m, "k11", &v) && v == 11);
    CHECK(m.count == 500);
    strmap_free(&m);
    /* Churn with few live keys (a table's files as flush after flush removes and adds
     * them): tombstones used to fill every slot, and a lookup of a missing key never
     * found an empty one. */
    static char churn[20000][16];
    strmap c = STRMAP_INIT;
    for (int i = 0; i < 20000; i++) {
        snprintf(churn[i], sizeof(churn[i]), "f%d", i);
        CHECK_OK(strmap_put(&c, churn[i], (size_t)i));
        if (i >= 10)
            CHECK(strmap_del(&c, churn[i - 10]));
        CHECK(!strmap_get(&c, "missing", NULL));
    }
    CHECK(c.count == 10 && c.slots <= 64);
    CHECK(strmap_get(&c, "f19999", &v) && v == 19999);
    strmap_free(&c);
}

static void test_buf_cap(void)
{
    buf b = BUF_INIT;
    b.cap = 8;
    CHECK_OK(buf_puts(&b, "12345678"));
    CHECK(buf_putc(&b, 'x') == LOCH_EINVALID);
    buf_free(&b);
    CHECK_OK(buf_put_sql_str(&b, "it's"));
    CHECK_STR(b.data, "'it''s'");
    buf_free(&b);
}

static void sha256_digests(void)
{
    static const struct { const char *in, *hex; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"}};
    for (size_t i = 0; i < 3; i++) {
        sha256_ctx c;
        char hex[65];
        CHECK_OK(sha256_init(&c));
        sha256_update(&c, v[i].in, strlen(v[i].in));
        CHECK_OK(sha256_hex(&c, hex));
        CHECK_STR(hex, v[i].hex);
    }
    sha256_ctx c; /* a million 'a's, fed in uneven pieces */
    char hex[65], chunk[1000];
    memset(chunk, 'a', sizeof(chunk));
    CHECK_OK(sha256_init(&c));
    for (size_t done = 0, step = 7; done < 1000000; done += step, step = step % 987 + 13)
        sha256_update(&c, chunk, done + step > 1000000 ? 1000000 - done : step);
    CHECK_OK(sha256_hex(&c, hex));
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void sha256_random(char out[65], const unsigned char *data, size_t n, size_t step)
{
    sha256_ctx c;
    CHECK_OK(sha256_init(&c));
    for (size_t done = 0; done < n; done += step)
        sha256_update(&c, data + done, n - done < step ? n - done : step);
    CHECK_OK(sha256_hex(&c, out));
}

/* The known digests; one digest for every length whatever the pieces it is fed in, and
 * the one-shot's the same; a context given up, or used after its digest, is no leak and
 * no crash. */
static void test_sha256(void)
{
    static unsigned char data[5000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
    sha256_digests();
    for (size_t n = 0; n < sizeof(data); n += 97) {
        char a[65], b[65], one[65];
        uint8_t d[32];
        sha256_random(a, data, n, n % 131 + 1);
        sha256_random(b, data, n, n % 61 + 64);
        CHECK_STR(a, b);
        CHECK_OK(sha256(data, n, d));
        for (int i = 0; i < 32; i++)
            snprintf(one + 2 * i, 3, "%02x", d[i]);
        CHECK_STR(a, one);
    }
    sha256_ctx c = SHA256_CTX_INIT;
    sha256_discard(&c); /* never started */
    CHECK_OK(sha256_init(&c));
    sha256_update(&c, "abc", 3);
    sha256_discard(&c); /* given up */
    sha256_discard(&c);
    uint8_t d[32];
    CHECK(sha256_final(&c, d) < 0); /* after its end: an error, not a digest */
}

static int64_t ragged_line(const char *text, char delim, char quote, size_t piece)
{
    csvcheck c;
    csvcheck_init(&c, delim, quote);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i += piece)
        csvcheck_feed(&c, text + i, n - i < piece ? n - i : piece);
    csvcheck_finish(&c);
    return c.bad_line;
}

static void test_csvcheck(void)
{
    for (size_t piece = 1; piece < 8; piece++) {
        CHECK(ragged_line("a,b\n1,2\n3,4\n", ',', '"', piece) == 0);
        CHECK(ragged_line("a,b\n1,2\n3,4,5\n6,7\n", ',', '"', piece) == 3);
        CHECK(ragged_line("a,b\n\"x,\ny\",2\n3,4", ',', '"', piece) == 0);  /* quoted comma and newline */
        CHECK(ragged_line("a,b\n\"x,\ny\",2\n3,4,5", ',', '"', piece) == 4); /* line numbers count physical lines */
        CHECK(ragged_line("a;b\r\n1;\"2;\"\"3\"\"\"\r\n\r\n4;5", ';', '"', piece) == 0);
        CHECK(ragged_line("a,b\n1", ',', '"', piece) == 2);
        CHECK(ragged_line("a,b\n1,\"2,3\"", ',', 0, piece) == 2);           /* no quoting: the comma counts */
    }
    /* a record longer than the limit, and a quote that never closes, name their line */
    static const struct { const char *text; int64_t line; int kind; } bad[] = {
        {"a,b\n1,2\n3,\"xxxxxxxxxxxxxxxxxxxx\"\n4,5\n", 3, CSV_TOO_LONG},
        {"a,b\n1,2\n3,\"x\ny\nz\"\n4,\"5\n6,7\n", 6, CSV_UNCLOSED},
        {"a,b\n1,2\n3,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 3, CSV_TOO_LONG}};
    for (size_t i = 0; i < 3; i++) {
        csvcheck c;
        csvcheck_init(&c, ',', '"');
        c.max_record = 16;
        csvcheck_feed(&c, bad[i].text, strlen(bad[i].text));
        csvcheck_finish(&c);
        CHECK(c.bad_line == bad[i].line);
        CHECK(c.bad_kind == bad[i].kind);
    }
}

static void scan_text(csvcheck *c, const char *text, size_t n, int header)
{
    csvcheck_init(c, ',', '"');
    csvcheck_types(c, header & 1);
    c->max_record = header & 2 ? 7 : 0;
    csvcheck_feed(c, text, n);
}

/* A file read in two parts by two scans and merged gives what one scan gives: random
 * texts from an alphabet of the troublesome bytes, split at every line end. */
static void test_csvcheck_merge(void)
{
    static const char alphabet[] = "1,,\n\n\"-.e2a\r0 ";
    char text[64];
    uint32_t x = 7;
    int splits = 0;
    for (int round = 0; round < 3000; round++) {
        size_t n = 1 + (x = x * 1103515245u + 12345u) % (sizeof(text) - 1);
        for (size_t i = 0; i < n; i++)
            text[i] = alphabet[((x = x * 1103515245u + 12345u) >> 16) % (sizeof(alphabet) - 1)];
        int header = round & 3; /* bit 0: a header; bit 1: records longer than 7 bytes are refused */
        csvcheck whole;
        scan_text(&whole, text, n, header);
        csvcheck_finish(&whole);
        for (size_t cut = 1; cut < n; cut++) {
            if (text[cut - 1] != '\n')
                continue;
            csvcheck a, b;
            scan_text(&a, text, cut, header);
            if (!csvcheck_at_record_start(&a) || a.bad_line) {
                csvcheck_free(&a);
                continue;
            }
            scan_text(&b, text + cut, n - cut, header & 2); /* the limit, not the header */
            csvcheck_finish(&b);
            CHECK_OK(csvcheck_merge(&a, &b));
            splits++;
            CHECK(a.bad_line == whole.bad_line);
            if (!whole.bad_line) {
                CHECK(a.records == whole.records);
                CHECK(a.expect == whole.expect);
                CHECK(a.cur_line == whole.cur_line);
                for (size_t i = 0; i < whole.ncols || i < a.ncols; i++)
                    CHECK(csvcheck_column_kind(&a, i) == csvcheck_column_kind(&whole, i));
            } else {
                CHECK(a.bad_fields == whole.bad_fields);
            }
            csvcheck_free(&a);
            csvcheck_free(&b);
        }
        csvcheck_free(&whole);
    }
    CHECK(splits > 1000);
}

static void test_utf8(void)
{
    static const struct { const char *s; size_t valid; } cases[] = {
        {"abc", 3}, {"a\xc3\xa9", 3}, {"\xc0\xaf", 0}, {"\xed\xa0\x80", 0}, {"\xf4\x90\x80\x80", 0},
        {"ab\xe9" "cd", 2}, {"12345678\xff", 8}, {"\xf0\x9f\x98\x80!", 5}, {"\xe2\x82", 0}, {"", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK(utf8_valid_prefix((const unsigned char *)cases[i].s, strlen(cases[i].s)) == cases[i].valid);
}

static void test_utf8_lower(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"ABC_x1", "abc_x1"}, {"\xc3\x89t\xc3\xa9", "\xc3\xa9t\xc3\xa9"},      /* Été -> été */
        {"\xce\x91\xce\x92", "\xce\xb1\xce\xb2"},                            /* Greek */
        {"\xd0\x96", "\xd0\xb6"},                                              /* Cyrillic Zhe */
        {"\xef\xbc\xa1", "\xef\xbd\x81"},                                      /* fullwidth A */
        {"Stra\xc3\x9f" "e", "stra\xc3\x9f" "e"},                                 /* no folding: ß stays */
        {"\xff\xc3Z", "\xff\xc3z"},                                            /* bad bytes copied */
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},                            /* outside the BMP */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *low = utf8_lower(cases[i].in);
        CHECK_STR(low, cases[i].out);
        free(low);
    }
}

/* JSON output stays UTF-8 whatever bytes a message echoes. */
static void test_json_str_utf8(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a\xff" "b", "\"a\\ufffdb\""}, {"\xc3\xa9", "\"\xc3\xa9\""}, {"x\xc3", "\"x\\ufffd\""},
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""}, /* a surrogate is not UTF-8 */
        {"\xf0\x9f\x98\x80!", "\"\xf0\x9f\x98\x80!\""}, {"\x01", "\"\\u0001\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf b = BUF_INIT;
        CHECK_OK(buf_put_json_str(&b, cases[i].in));
        CHECK_STR(b.data, cases[i].out);
        buf_free(&b);
    }
}

TEST_MAIN(T(test_csvcheck), T(test_utf8), T(test_utf8_lower), T(test_json_str_utf8), T(test_csvcheck_merge), T(test_sha256), T(test_json_values), T(test_json_rejects), T(test_iso8601), T(test_uri), T(test_strmap), T(test_buf_cap))
