/*
 * bench/sha256_ref.h - loch's own SHA-256 as it was before OpenSSL's replaced it, the
 * baseline `bench_core sha256` measures (bench/sha256_ref.c).
 */
#ifndef LOCH_BENCH_SHA256_REF_H
#define LOCH_BENCH_SHA256_REF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t len;
    unsigned char block[64];
    size_t used;
} ref_sha256_ctx;

void ref_sha256_init(ref_sha256_ctx *c);
void ref_sha256_update(ref_sha256_ctx *c, const void *data, size_t n);
void ref_sha256_final(ref_sha256_ctx *c, uint8_t out[32]);

#endif
