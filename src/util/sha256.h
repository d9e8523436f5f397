/*
 * util/sha256.h - SHA-256 (FIPS 180-4), for content hashes of ingested files: the hash
 * is recorded in the Delta log, so re-ingesting the same bytes is recognized by any
 * process, with or without the catalog. And HMAC-SHA256, which signs requests to an
 * S3-compatible store.
 */
#ifndef LOCH_UTIL_SHA256_H
#define LOCH_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t len;           /* bytes hashed so far */
    unsigned char block[64];
    size_t used;            /* bytes waiting in block */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* Tests: 1 forces the portable rounds, 0 the CPU's SHA instructions when present. */
void sha256_set_portable(int on);
/* The 32-byte digest. */
void sha256_final(sha256_ctx *c, uint8_t out[32]);
/* The digest as 64 lowercase hex digits and a NUL. */
void sha256_hex(sha256_ctx *c, char out[65]);
/* HMAC-SHA256 (RFC 2104) of msg under key: AWS Signature Version 4 (util/sigv4.h). */
void hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, uint8_t out[32]);

#endif
