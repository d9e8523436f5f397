/*
 * util/sigv4.h - AWS Signature Version 4, as S3 and every S3-compatible store (MinIO,
 * R2, moto) check it. A pure function of the request and the key: no clock, no I/O, no
 * network, so that AWS's published test vectors and botocore's own signatures check it
 * byte for byte (tests/unit/test_sigv4.c, tests/py/test_s3.py).
 *
 * The signature covers a canonical form of the request:
 *
 *   METHOD \n /canonical/uri \n sorted=query&params \n
 *   lowercased-header:trimmed value \n ... \n (one line each, sorted) \n
 *   signed;header;names \n payload-sha256-hex
 *
 * hashed into a string to sign with the date and the scope (day/region/service/
 * aws4_request), and signed with a key derived from the secret by HMAC over the same
 * scope. The secret never leaves this file's functions; the Authorization value holds
 * only the access key id, the scope, the header names and the signature.
 *
 * S3's rules, not the generic service's: the path is percent-encoded once (S3 keys are
 * not normalized: "a/./b" and "a//b" are keys of their own), and the caller's path is
 * the key as it is, unencoded. The same encoded forms go on the wire:
 * sigv4_encode_path and sigv4_query give the request line the signature covers.
 */
#ifndef LOCH_UTIL_SIGV4_H
#define LOCH_UTIL_SIGV4_H

#include <stddef.h>

#include "util/buf.h"

typedef struct {
    const char *name, *value;
} sigv4_pair;

typedef struct {
    const char *access_key;    /* AKIA... */
    const char *secret_key;
    const char *region;        /* "us-east-1" */
    const char *service;       /* "s3" */
} sigv4_key;

/* The SHA-256 of an empty payload, and the value S3 takes for a payload not signed. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* Appends s (n bytes) percent-encoded: A-Z a-z 0-9 - . _ ~ as they are, every other byte
 * as %XX (upper-case hex); '/' kept when keep_slash (a path), encoded otherwise. */
int sigv4_encode(buf *out, const char *s, size_t n, int keep_slash);

/* Appends the path "/" + key, encoded (keep_slash): the request line's and the canonical
 * request's URI. An empty or NULL key is "/". */
int sigv4_encode_path(buf *out, const char *key);

/* Appends the canonical query: each name and value encoded, sorted by name then value,
 * "name=value" joined by '&' ("name=" for a NULL value). Also the wire's query. */
int sigv4_query(buf *out, const sigv4_pair *params, size_t n);

/* Appends the canonical request (the block above) for the path (unencoded key, with its
 * leading '/'), the query parameters and the headers to sign (any case; values trimmed
 * and inner runs of spaces made one; one name twice is joined with ','). */
int sigv4_canonical_request(buf *out, const char *method, const char *path, const sigv4_pair *params,
                            size_t nparams, const sigv4_pair *headers, size_t nheaders, const char *payload_sha256);

/* Appends the Authorization header's value for the request, signed at amz_date
 * ("YYYYMMDDTHHMMSSZ", which must also be the x-amz-date header among headers). Every
 * header given is signed; S3 wants host, x-amz-date and x-amz-content-sha256 at least,
 * and x-amz-security-token with temporary credentials. LOCH_EINVALID for a malformed
 * date or a header name that is not a token. */
int sigv4_authorization(buf *out, const sigv4_key *key, const char *amz_date, const char *method, const char *path,
                        const sigv4_pair *params, size_t nparams, const sigv4_pair *headers, size_t nheaders,
                        const char *payload_sha256);

/* "YYYYMMDDTHHMMSSZ" for a time in Unix seconds. */
void sigv4_date(long long unix_seconds, char out[17]);

#endif
