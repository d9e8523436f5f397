/*
 * tests/unit/test_sigv4.c - AWS Signature Version 4 (util/sigv4.h) against AWS's
 * published test suite (aws-sig-v4-test-suite: the requests whose path reads the same
 * under S3's rules and the generic service's), the S3 documentation's worked examples,
 * HMAC-SHA256 against RFC 4231, and, when LOCH_SIGV4_CASES names a file, against
 * botocore's signatures of random S3 requests (tests/py/test_s3.py writes that file: one
 * JSON object a line).
 */
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/sha256.h"
#include "util/sigv4.h"

#define SUITE_DATE "20150830T123600Z"
static const sigv4_key suite_key = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service"};

typedef struct {
    const char *name, *method, *path;
    sigv4_pair params[3];
    size_t nparams;
    sigv4_pair headers[4];
    size_t nheaders;
    const char *body, *signed_headers, *signature;
} suite_case;

#define HOST {"Host", "example.amazonaws.com"}
#define DATE {"X-Amz-Date", SUITE_DATE}

static const suite_case suite[] = {
    {"get-vanilla", "GET", "/", {{0}}, 0, {HOST, DATE}, 2, "", "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-query-order-key-case", "GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}}, 2, {HOST, DATE}, 2,
     "", "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-empty-query-key", "GET", "/", {{"Param1", "value1"}}, 1, {HOST, DATE}, 2, "", "host;x-amz-date",
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-query-unreserved", "GET", "/",
     {{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}},
     1, {HOST, DATE}, 2, "", "host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-utf8-query", "GET", "/", {{"\xe1\x88\xb4", "bar"}}, 1, {HOST, DATE}, 2, "", "host;x-amz-date",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", {{0}}, 0,
     {HOST, DATE}, 2, "", "host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-utf8", "GET", "/\xe1\x88\xb4", {{0}}, 0, {HOST, DATE}, 2, "", "host;x-amz-date",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-header-key-duplicate", "GET", "/", {{0}}, 0,
     {HOST, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}, 4, "",
     "host;my-header1", NULL},
    {"get-header-value-trim", "GET", "/", {{0}}, 0,
     {HOST, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}, DATE}, 4, "",
     "host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"get-header-value-order", "GET", "/", {{0}}, 0, {HOST, {"My-Header1", "value4,value1,value3,value2"}, DATE}, 3,
     "", "host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
    {"post-vanilla", "POST", "/", {{0}}, 0, {HOST, DATE}, 2, "", "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-header-value-case", "POST", "/", {{0}}, 0, {HOST, {"My-Header1", "VALUE1"}, DATE}, 3, "",
     "host;my-header1;x-amz-date", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"post-vanilla-query", "POST", "/", {{"Param1", "value1"}}, 1, {HOST, DATE}, 2, "", "host;x-amz-date",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-vanilla-query-nonunreserved", "POST", "/", {{"@#$%^", ""}, {"+", "/,?><`\";:\\|][{}"}}, 2, {HOST, DATE},
     2, "", "host;x-amz-date", "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"},
    {"post-vanilla-query-space", "POST", "/", {{"p", ""}}, 1, {HOST, DATE}, 2, "", "host;x-amz-date",
     "e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b"},
    {"post-x-www-form-urlencoded", "POST", "/", {{0}}, 0,
     {{"Content-Type", "application/x-www-form-urlencoded"}, HOST, DATE}, 3, "Param1=value1",
     "content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    {"post-x-www-form-urlencoded-parameters", "POST", "/", {{0}}, 0,
     {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"}, HOST, DATE}, 3, "Param1=value1",
     "content-type;host;x-amz-date", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"},
};

static void body_hash(const char *body, char out[65])
{
    sha256_ctx c;
    CHECK_OK(sha256_init(&c));
    sha256_update(&c, body, strlen(body));
    CHECK_OK(sha256_hex(&c, out));
}

static void test_aws_suite(void)
{
    for (size_t i = 0; i < sizeof(suite) / sizeof(suite[0]); i++) {
        const suite_case *t = &suite[i];
        if (!t->signature)
            continue;
        char hash[65];
        body_hash(t->body, hash);
        buf auth = BUF_INIT, want = BUF_INIT;
        CHECK_OK(sigv4_authorization(&auth, &suite_key, SUITE_DATE, t->method, t->path, t->params, t->nparams,
                                     t->headers, t->nheaders, hash));
        buf_printf(&want, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                          "SignedHeaders=%s, Signature=%s", t->signed_headers, t->signature);
        if (!auth.data || strcmp(auth.data, want.data) != 0)
            fprintf(stderr, "  %s\n", t->name);
        CHECK_STR(auth.data, want.data);
        buf_free(&auth), buf_free(&want);
    }
}

/* The suite's canonical requests, where they show a rule: duplicate headers joined in
 * order, values trimmed and inner spaces made one, the query sorted and encoded. */
static void test_canonical_requests(void)
{
    buf c = BUF_INIT;
    const suite_case *dup = &suite[7], *trim = &suite[8], *nonunres = &suite[13];
    CHECK_OK(sigv4_canonical_request(&c, dup->method, dup->path, NULL, 0, dup->headers, dup->nheaders, SIGV4_EMPTY_SHA256));
    CHECK_STR(c.data, "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n\nhost;my-header1\n"
                      SIGV4_EMPTY_SHA256);
    buf_clear(&c);
    CHECK_OK(sigv4_canonical_request(&c, trim->method, trim->path, NULL, 0, trim->headers, trim->nheaders,
                                     SIGV4_EMPTY_SHA256));
    CHECK_STR(c.data, "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
                      "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" SIGV4_EMPTY_SHA256);
    buf_clear(&c);
    CHECK_OK(sigv4_query(&c, nonunres->params, nonunres->nparams));
    CHECK_STR(c.data, "%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D&%40%23%24%25%5E=");
    buf_clear(&c);
    /* S3 keys are not normalized, and '/' stays in a path, never in a query value */
    CHECK_OK(sigv4_encode_path(&c, "lake/t/_delta_log/00.json a+b/./x//y"));
    CHECK_STR(c.data, "/lake/t/_delta_log/00.json%20a%2Bb/./x//y");
    buf_clear(&c);
    sigv4_pair bad[] = {{"Bad Name", "x"}};
    CHECK(sigv4_authorization(&c, &suite_key, SUITE_DATE, "GET", "/", NULL, 0, bad, 1, SIGV4_EMPTY_SHA256) ==
          LOCH_EINVALID);
    CHECK(sigv4_authorization(&c, &suite_key, "2015-08-30", "GET", "/", NULL, 0, NULL, 0, SIGV4_EMPTY_SHA256) ==
          LOCH_EINVALID);
    char d[17];
    sigv4_date(1440938160, d);
    CHECK_STR(d, SUITE_DATE);
    buf_free(&c);
}

/* The S3 documentation's examples (Signature Version 4, "Examples: signature
 * calculations"): GET of an object with a range, a PUT, a bucket listing. */
static void test_s3_examples(void)
{
    static const sigv4_key k = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3"};
    const char *date = "20130524T000000Z";
    buf a = BUF_INIT;
    sigv4_pair get[] = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"},
                        {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}, {"x-amz-date", date}};
    CHECK_OK(sigv4_authorization(&a, &k, date, "GET", "/test.txt", NULL, 0, get, 4, SIGV4_EMPTY_SHA256));
    CHECK_STR(a.data, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    buf_clear(&a);
    const char *put_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    sigv4_pair put[] = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"Host", "examplebucket.s3.amazonaws.com"},
                        {"x-amz-content-sha256", put_hash}, {"x-amz-date", date},
                        {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
    CHECK_OK(sigv4_authorization(&a, &k, date, "PUT", "/test$file.text", NULL, 0, put, 5, put_hash));
    CHECK_STR(a.data, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                      "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                      "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    buf_clear(&a);
    sigv4_pair list_q[] = {{"max-keys", "2"}, {"prefix", "J"}};
    sigv4_pair list_h[] = {{"Host", "examplebucket.s3.amazonaws.com"}, {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
                           {"x-amz-date", date}};
    CHECK_OK(sigv4_authorization(&a, &k, date, "GET", "/", list_q, 2, list_h, 3, SIGV4_EMPTY_SHA256));
    CHECK_STR(a.data, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                      "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                      "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    buf_free(&a);
}

/* RFC 4231 test cases 1, 2 and 6 (a key longer than a block is hashed first). */
static void test_hmac(void)
{
    uint8_t out[32], key[131];
    char hex[65];
    memset(key, 0x0b, 20);
    CHECK_OK(hmac_sha256(key, 20, "Hi There", 8, out));
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
    CHECK_STR(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK_OK(hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, out));
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
    CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, 131);
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    CHECK_OK(hmac_sha256(key, 131, msg, strlen(msg), out));
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
    CHECK_STR(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* One JSON object a line: {key, secret, region, date, method, path, params: [[n, v]...],
 * headers: [[n, v]...], payload, authorization}, as botocore signed it. */
static void test_botocore_cases(void)
{
    const char *path = getenv("LOCH_SIGV4_CASES");
    if (!path)
        return;
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int count = 0, wrong = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        arena ar = ARENA_INIT;
        json *doc = NULL;
        CHECK_OK(json_parse(&ar, line, (size_t)n, &doc));
        if (!doc) {
            arena_free(&ar);
            break;
        }
        sigv4_pair params[16], headers[16];
        size_t np = 0, nh = 0;
        for (json *p = json_get(doc, "params") ? json_get(doc, "params")->child : NULL; p && np < 16; p = p->next)
            params[np++] = (sigv4_pair){p->child->str, p->child->next->str};
        for (json *h = json_get(doc, "headers") ? json_get(doc, "headers")->child : NULL; h && nh < 16; h = h->next)
            headers[nh++] = (sigv4_pair){h->child->str, h->child->next->str};
        sigv4_key k = {json_get_str(doc, "key"), json_get_str(doc, "secret"), json_get_str(doc, "region"), "s3"};
        buf a = BUF_INIT;
        CHECK_OK(sigv4_authorization(&a, &k, json_get_str(doc, "date"), json_get_str(doc, "method"),
                                     json_get_str(doc, "path"), params, np, headers, nh, json_get_str(doc, "payload")));
        if (!a.data || strcmp(a.data, json_get_str(doc, "authorization")) != 0) {
            if (wrong++ < 3)
                fprintf(stderr, "  case %d: %s\n  want %s\n", count, a.data ? a.data : "(null)",
                        json_get_str(doc, "authorization"));
        }
        count++;
        buf_free(&a);
        arena_free(&ar);
    }
    free(line);
    fclose(f);
    CHECK(count > 0 && wrong == 0);
    printf("sigv4: %d botocore signatures, %d different\n", count, wrong);
}

TEST_MAIN(T(test_aws_suite), T(test_canonical_requests), T(test_s3_examples), T(test_hmac), T(test_botocore_cases))
