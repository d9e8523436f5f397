/*
 * adapters/sha256_openssl.c - util/sha256.h over OpenSSL's EVP digests and HMAC: the
 * only file that includes OpenSSL's headers. OpenSSL picks the CPU's SHA extensions
 * itself (SHA-NI on x86, the ARMv8 SHA instructions).
 */
#include "util/sha256.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <limits.h>
#include <stdio.h>

#include "util/error.h"

int sha256_init(sha256_ctx *c)
{
    c->failed = 0;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (!m || EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(m);
        c->md = NULL;
        return error_set(LOCH_ENOMEM, "out of memory (SHA-256)");
    }
    c->md = m;
    return 0;
}

void sha256_update(sha256_ctx *c, const void *data, size_t n)
{
    if (!c->md || (n && EVP_DigestUpdate(c->md, data, n) != 1))
        c->failed = 1;
}

int sha256_final(sha256_ctx *c, uint8_t out[32])
{
    unsigned len = 0;
    int ok = c->md && !c->failed && EVP_DigestFinal_ex(c->md, out, &len) == 1 && len == 32;
    sha256_discard(c);
    return ok ? 0 : error_set(LOCH_ENOMEM, "SHA-256 failed (out of memory)");
}

int sha256_hex(sha256_ctx *c, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t d[32];
    int rc = sha256_final(c, d);
    if (rc < 0) {
        out[0] = '\0';
        return rc;
    }
    for (int i = 0; i < 32; i++)
        out[2 * i] = hex[d[i] >> 4], out[2 * i + 1] = hex[d[i] & 15];
    out[64] = '\0';
    return 0;
}

void sha256_discard(sha256_ctx *c)
{
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

int sha256(const void *data, size_t n, uint8_t out[32])
{
    unsigned len = 0;
    if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
        return error_set(LOCH_ENOMEM, "SHA-256 failed (out of memory)");
    return 0;
}

int hmac_sha256(const void *key, size_t klen, const void *msg, size_t n, uint8_t out[32])
{
    unsigned len = 0;
    static const unsigned char none = 0; /* OpenSSL takes no NULL key, even of length 0 */
    if (klen > INT_MAX)
        return error_set(LOCH_EINVALID, "an HMAC key of %zu bytes is too long", klen);
    if (!HMAC(EVP_sha256(), klen ? key : &none, (int)klen, msg, n, out, &len) || len != 32)
        return error_set(LOCH_ENOMEM, "HMAC-SHA256 failed (out of memory)");
    return 0;
}
