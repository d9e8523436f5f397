/*
 * tests/unit/test_s3xml.c - the store's XML answers (formats/s3xml.h): a list page as S3
 * and moto write one, entities and namespaces, an error document, and the documents
 * that must be refused rather than guessed at.
 */
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "formats/s3xml.h"
#include "util/error.h"

static void test_list_page(void)
{
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>lake/</Prefix>"
        "<KeyCount>3</KeyCount><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>tok/en+=</NextContinuationToken>"
        "<Contents><Key>lake/a&amp;b &#x1F600;&lt;&#65;.json</Key><LastModified>2026-11-29T15:00:00.000Z</LastModified>"
        "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>7</Size><StorageClass>STANDARD</StorageClass>"
        "</Contents><Contents><Size>0</Size><Key>lake/empty</Key></Contents>"
        "<CommonPrefixes><Prefix>lake/t/</Prefix></CommonPrefixes></ListBucketResult>";
    s3xml_list l;
    CHECK_OK(s3xml_parse_list(xml, strlen(xml), &l));
    CHECK(l.count == 3 && l.truncated);
    CHECK_STR(l.next_token, "tok/en+=");
    if (l.count == 3) {
        CHECK_STR(l.entries[0].key, "lake/a&b \xf0\x9f\x98\x80<A.json");
        CHECK(l.entries[0].size == 7 && !l.entries[0].is_prefix);
        CHECK(l.entries[0].mtime_ms == 1795964400000LL);
        CHECK_STR(l.entries[0].etag, "9b2cf535f27731c974343645a3985328");
        CHECK_STR(l.entries[1].key, "lake/empty");
        CHECK(l.entries[1].size == 0 && l.entries[1].mtime_ms == -1);
        CHECK_STR(l.entries[2].key, "lake/t/");
        CHECK(l.entries[2].is_prefix && l.entries[2].size == -1);
    }
    s3xml_list_free(&l);
    const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    CHECK_OK(s3xml_parse_list(last, strlen(last), &l));
    CHECK(l.count == 0 && !l.truncated && !l.next_token);
    s3xml_list_free(&l);
}

static void test_refused(void)
{
    static const char *bad[] = {
        "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",          /* no Size */
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",        /* no Key */
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",            /* no token */
        "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a</Key><Size>1x</Size></Contents></ListBucketResult>",
        "<a><b></a></b>", "<a>", "<a></b>", "</a>", "<a x=\"1></a>", "<!DOCTYPE a><a/>", "<a><![CDATA[x]]></a>",
        "<a>&e;</a>", "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#x110000;</a>", "<a>&#12</a>", "<!-- x", "<?xml",
        "<><Key>a</Key>",
        "<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a></a></a></a></a></a></a></a></a></a></a></a></a></a></a>"
        "</a></a></a>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s3xml_list l;
        int rc = s3xml_parse_list(bad[i], strlen(bad[i]), &l);
        if (rc != LOCH_ECORRUPT)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
        CHECK(rc == LOCH_ECORRUPT && l.count == 0 && !l.entries && !l.next_token);
        error_clear();
    }
    /* never read past len: the document cut inside its last tag */
    const char *cut = "<ListBucketResult></ListBucketResult>";
    s3xml_list l;
    CHECK(s3xml_parse_list(cut, strlen(cut) - 3, &l) == LOCH_ECORRUPT);
    error_clear();
}

static void test_error_document(void)
{
    char code[32], message[16];
    const char *xml = "<?xml version=\"1.0\"?><Error><Code>PreconditionFailed</Code><Message>At least one of the "
                      "pre-conditions did not hold</Message><Condition>If-None-Match</Condition></Error>";
    CHECK(s3xml_parse_error(xml, strlen(xml), code, sizeof(code), message, sizeof(message)) == 1);
    CHECK_STR(code, "PreconditionFailed");
    CHECK_STR(message, "At least one of"); /* cut to fit */
    const char *ns = "<s3:Error xmlns:s3=\"x\"><s3:Code>SlowDown</s3:Code></s3:Error>";
    CHECK(s3xml_parse_error(ns, strlen(ns), code, sizeof(code), message, sizeof(message)) == 1);
    CHECK_STR(code, "SlowDown");
    CHECK_STR(message, "");
    const char *not_error = "<ListBucketResult><Code>x</Code></ListBucketResult>";
    CHECK(s3xml_parse_error(not_error, strlen(not_error), code, sizeof(code), message, sizeof(message)) == 0);
    CHECK_STR(code, "");
    CHECK(s3xml_parse_error("<html>502 Bad Gateway", 21, code, sizeof(code), message, sizeof(message)) == 0);
}

static void test_uploads(void)
{
    const char *xml = "<ListMultipartUploadsResult><Bucket>b</Bucket><Upload><Key>k</Key><UploadId>u1</UploadId>"
                      "</Upload><Upload><UploadId>u2</UploadId><Key>other</Key></Upload><Upload><Key>k</Key>"
                      "<UploadId>u&amp;3</UploadId></Upload></ListMultipartUploadsResult>";
    char ids[4][256], id[8];
    size_t n = 0;
    CHECK_OK(s3xml_upload_ids(xml, strlen(xml), "k", ids, 4, &n));
    CHECK(n == 2 && !strcmp(ids[0], "u1") && !strcmp(ids[1], "u&3"));
    CHECK(s3xml_upload_ids(xml, strlen(xml), "k", ids, 1, &n) == 0 && n == 1); /* no more than room */
    const char *init = "<InitiateMultipartUploadResult><Bucket>b</Bucket><UploadId>abc</UploadId>"
                       "</InitiateMultipartUploadResult>";
    CHECK(s3xml_text(init, strlen(init), "UploadId", id, sizeof(id)) == 1 && !strcmp(id, "abc"));
    CHECK(s3xml_text(init, strlen(init), "Missing", id, sizeof(id)) == 0 && !id[0]);
    CHECK(s3xml_text("<a><UploadId>x", 14, "UploadId", id, sizeof(id)) == 0);
}

TEST_MAIN(T(test_list_page), T(test_refused), T(test_error_document), T(test_uploads))
