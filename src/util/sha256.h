/*
 * util/sha256.h - SHA-256 (FIPS 180-4), for content hashes of ingested files: the hash
 * is recorded in the Delta log, so re-ingesting the same bytes is recognized by any
 * process, with or without the catalog. And HMAC-SHA256, which signs requests to an
 * S3-compatible store (util/sigv4.h).
 *
 * OpenSSL computes both (src/adapters/sha256_openssl.c): its SHA-256 takes the CPU's
 * SHA extensions where there are any, as fast as loch's own code that it replaced
 * (`build/bench_core sha256` measures the two side by side).
 *
 * A context holds the library's state from sha256_init until sha256_final or
 * sha256_hex, which free it; a context given up before then is freed by
 * sha256_discard (harmless after final, and on a context never started).
 */
#ifndef LOCH_UTIL_SHA256_H
#define LOCH_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    void *md;   /* the library's context; NULL outside init..final */
    int failed; /* an update failed: final reports it */
} sha256_ctx;

#define SHA256_CTX_INIT {NULL, 0}

/* 0, or LOCH_ENOMEM. */
int sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* The 32-byte digest; 0, or a negative LOCH_E* code when the context failed. */
int sha256_final(sha256_ctx *c, uint8_t out[32]);
/* The digest as 64 lowercase hex digits and a NUL; as sha256_final. */
int sha256_hex(sha256_ctx *c, char out[65]);
void sha256_discard(sha256_ctx *c);
/* The digest of one buffer; 0 or a negative LOCH_E* code. */
int sha256(const void *data, size_t n, uint8_t out[32]);
/* HMAC-SHA256 (RFC 2104) of msg under key; 0 or a negative LOCH_E* code. */
int hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, uint8_t out[32]);

#endif
