/*
 * util/sigv4.c - AWS Signature Version 4 (util/sigv4.h).
 *
 * Every buffer here is the caller's or freed before return; a failed allocation is
 * LOCH_ENOMEM with nothing half-appended that matters (the caller discards out). The
 * derived keys live on the stack and are wiped before return.
 */
#include "util/sigv4.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/sha256.h"

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

int sigv4_encode(buf *out, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            if (buf_putc(out, (char)c) < 0)
                return LOCH_ENOMEM;
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            if (buf_put(out, e, 3) < 0)
                return LOCH_ENOMEM;
        }
    }
    return 0;
}

int sigv4_encode_path(buf *out, const char *key)
{
    if (buf_putc(out, '/') < 0)
        return LOCH_ENOMEM;
    if (key && *key == '/')
        key++;
    return key ? sigv4_encode(out, key, strlen(key), 1) : 0;
}

/* One encoded pair or header line, for sorting. */
typedef struct {
    char *name, *value;
} enc_pair;

static int by_name_value(const void *a, const void *b)
{
    const enc_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* By name only, keeping the caller's order of one name's values (qsort is not stable:
 * the index breaks ties). */
typedef struct {
    enc_pair p;
    size_t at;
} enc_header;

static int by_header_name(const void *a, const void *b)
{
    const enc_header *x = a, *y = b;
    int c = strcmp(x->p.name, y->p.name);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

static void pairs_free(enc_pair *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        free(p[i].name), free(p[i].value);
    free(p);
}

int sigv4_query(buf *out, const sigv4_pair *params, size_t n)
{
    enc_pair *p = n ? calloc(n, sizeof(*p)) : NULL;
    int rc = 0;
    if (n && !p)
        return error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        buf a = BUF_INIT, b = BUF_INIT;
        const char *v = params[i].value ? params[i].value : "";
        if (sigv4_encode(&a, params[i].name, strlen(params[i].name), 0) < 0 || sigv4_encode(&b, v, strlen(v), 0) < 0) {
            buf_free(&a), buf_free(&b);
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        p[i].name = buf_detach(&a);
        p[i].value = buf_detach(&b);
        if (!p[i].name || !p[i].value)
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    if (rc == 0 && n)
        qsort(p, n, sizeof(*p), by_name_value);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (buf_printf(out, "%s%s=%s", i ? "&" : "", p[i].name, p[i].value) < 0)
            rc = error_set(LOCH_ENOMEM, "out of memory");
    pairs_free(p, n);
    return rc;
}

static int token_char(unsigned char c)
{
    return c > 32 && c < 127 && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

/* A header value as SigV4 signs it: spaces and tabs trimmed at both ends and each
 * inner run of them made one space. */
static int put_trimmed(buf *out, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < n; i++) {
        if ((v[i] == ' ' || v[i] == '\t') && i && (v[i - 1] == ' ' || v[i - 1] == '\t'))
            continue;
        if (buf_putc(out, v[i] == '\t' ? ' ' : v[i]) < 0)
            return LOCH_ENOMEM;
    }
    return 0;
}

/* The canonical header lines and the signed-header list, from the headers as given. */
static int canonical_headers(buf *lines, buf *names, const sigv4_pair *headers, size_t n)
{
    enc_header *h = n ? calloc(n, sizeof(*h)) : NULL;
    int rc = 0;
    if (n && !h)
        return error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *name = headers[i].name;
        if (!*name)
            rc = error_set(LOCH_EINVALID, "an empty header name cannot be signed");
        for (const char *c = name; *c && rc == 0; c++)
            if (!token_char((unsigned char)*c))
                rc = error_set(LOCH_EINVALID, "header name \"%s\" is not a token", name);
        if (rc < 0)
            break;
        buf a = BUF_INIT, v = BUF_INIT;
        for (const char *c = name; *c && rc == 0; c++)
            if (buf_putc(&a, (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c)) < 0)
                rc = LOCH_ENOMEM;
        if (rc == 0 && put_trimmed(&v, headers[i].value ? headers[i].value : "") < 0)
            rc = LOCH_ENOMEM;
        h[i].p.name = buf_detach(&a);
        h[i].p.value = buf_detach(&v);
        h[i].at = i;
        if (rc == 0 && (!h[i].p.name || !h[i].p.value))
            rc = LOCH_ENOMEM;
        if (rc < 0) {
            rc = rc == LOCH_ENOMEM ? error_set(LOCH_ENOMEM, "out of memory") : rc;
            break;
        }
    }
    if (rc == 0 && n)
        qsort(h, n, sizeof(*h), by_header_name);
    for (size_t i = 0; i < n && rc == 0; i++) {
        int same = i && !strcmp(h[i].p.name, h[i - 1].p.name);
        if (same)
            rc = buf_printf(lines, ",%s", h[i].p.value); /* one name twice: values joined, in order */
        else
            rc = buf_printf(lines, "%s%s:%s", i ? "\n" : "", h[i].p.name, h[i].p.value) < 0 ||
                         buf_printf(names, "%s%s", i ? ";" : "", h[i].p.name) < 0
                     ? -1
                     : 0;
        if (rc < 0)
            rc = error_set(LOCH_ENOMEM, "out of memory");
    }
    if (rc == 0 && buf_putc(lines, '\n') < 0)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    for (size_t i = 0; h && i < n; i++)
        free(h[i].p.name), free(h[i].p.value);
    free(h);
    return rc;
}

static int canonical(buf *out, buf *signed_names, const char *method, const char *path, const sigv4_pair *params,
                     size_t nparams, const sigv4_pair *headers, size_t nheaders, const char *payload_sha256)
{
    buf lines = BUF_INIT;
    int rc = 0;
    if (buf_printf(out, "%s\n", method) < 0 || sigv4_encode_path(out, path) < 0 || buf_putc(out, '\n') < 0)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0)
        rc = sigv4_query(out, params, nparams);
    if (rc == 0)
        rc = canonical_headers(&lines, signed_names, headers, nheaders);
    if (rc == 0 && buf_printf(out, "\n%s\n%s\n%s", lines.data ? lines.data : "\n",
                              signed_names->data ? signed_names->data : "", payload_sha256) < 0)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    buf_free(&lines);
    return rc;
}

int sigv4_canonical_request(buf *out, const char *method, const char *path, const sigv4_pair *params,
                            size_t nparams, const sigv4_pair *headers, size_t nheaders, const char *payload_sha256)
{
    buf names = BUF_INIT;
    int rc = canonical(out, &names, method, path, params, nparams, headers, nheaders, payload_sha256);
    buf_free(&names);
    return rc;
}

static void hex32(const uint8_t d[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++)
        out[2 * i] = hex[d[i] >> 4], out[2 * i + 1] = hex[d[i] & 15];
    out[64] = '\0';
}

static int hmac_str(const uint8_t *key, size_t klen, const char *msg, uint8_t out[32])
{
    return hmac_sha256(key, klen, msg, strlen(msg), out);
}

int sigv4_authorization(buf *out, const sigv4_key *key, const char *amz_date, const char *method, const char *path,
                        const sigv4_pair *params, size_t nparams, const sigv4_pair *headers, size_t nheaders,
                        const char *payload_sha256)
{
    if (!amz_date || strlen(amz_date) != 16 || amz_date[8] != 'T' || amz_date[15] != 'Z' ||
        strspn(amz_date, "0123456789") != 8 || strspn(amz_date + 9, "0123456789") != 6)
        return error_set(LOCH_EINVALID, "the request's date must be YYYYMMDDTHHMMSSZ");
    buf creq = BUF_INIT, names = BUF_INIT, sts = BUF_INIT, secret = BUF_INIT;
    char day[9], hash[65], sig[65];
    uint8_t d[32], k[32];
    memcpy(day, amz_date, 8);
    day[8] = '\0';
    int rc = canonical(&creq, &names, method, path, params, nparams, headers, nheaders, payload_sha256);
    if (rc < 0)
        goto done;
    uint8_t ch[32];
    if ((rc = sha256(creq.data, creq.len, ch)) < 0)
        goto done;
    hex32(ch, hash);
    if (buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, day, key->region, key->service,
                   hash) < 0 ||
        buf_printf(&secret, "AWS4%s", key->secret_key) < 0) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto done;
    }
    /* the signing key: the secret, through the date, region, service and "aws4_request" */
    if ((rc = hmac_str((const uint8_t *)secret.data, secret.len, day, k)) < 0 ||
        (rc = hmac_str(k, 32, key->region, k)) < 0 || (rc = hmac_str(k, 32, key->service, k)) < 0 ||
        (rc = hmac_str(k, 32, "aws4_request", k)) < 0 || (rc = hmac_sha256(k, 32, sts.data, sts.len, d)) < 0)
        goto done;
    hex32(d, sig);
    if (buf_printf(out, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                   key->access_key, day, key->region, key->service, names.data ? names.data : "", sig) < 0)
        rc = error_set(LOCH_ENOMEM, "out of memory");
done:
    if (secret.data)
        memset(secret.data, 0, secret.len);
    memset(k, 0, sizeof(k));
    buf_free(&creq), buf_free(&names), buf_free(&sts), buf_free(&secret);
    return rc;
}

void sigv4_date(long long unix_seconds, char out[17])
{
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}
