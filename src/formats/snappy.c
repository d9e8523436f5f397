/*
 * formats/snappy.c - raw Snappy decoding (see snappy.h). Element tags, by the low two
 * bits of the tag byte: 0 a literal (length in the tag, or in 1-4 bytes after it), 1 a
 * copy of 4-11 bytes at a distance below 2048, 2 and 3 copies of 1-64 bytes at a 16- or
 * 32-bit distance. A copy may overlap what it produces (distance < length: a run).
 */
#include "formats/snappy.h"

#include <string.h>

#include "util/error.h"

int snappy_length(const uint8_t *in, size_t n, uint64_t *len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 5; i++) {
        v |= (uint64_t)(in[i] & 0x7f) << (7 * i);
        if (!(in[i] & 0x80)) {
            if (v > UINT32_MAX)
                break;
            *len = v;
            return (int)(i + 1);
        }
    }
    return error_set(LOCH_ECORRUPT, "snappy: no valid length at the start of the block");
}

/* One element's header at in[ip]: its kind (0 literal, else copy), output length,
 * copy distance, and where its bytes (literal) or the next element start. */
static int element(const uint8_t *in, size_t n, size_t *ip, size_t *len, size_t *dist, int *copy)
{
    uint8_t tag = in[(*ip)++];
    size_t k = 0;
    *copy = (tag & 3) != 0;
    switch (tag & 3) {
    case 0:
        *len = (size_t)(tag >> 2) + 1;
        if (*len > 60) {
            k = *len - 60;
            if (n - *ip < k)
                return error_set(LOCH_ECORRUPT, "snappy: a literal's length runs past the input at byte %zu", *ip);
            *len = 0;
            for (size_t b = 0; b < k; b++)
                *len |= (size_t)in[*ip + b] << (8 * b);
            *len += 1;
            *ip += k;
        }
        *dist = 0;
        return 0;
    case 1:
        k = 1;
        *len = (size_t)((tag >> 2) & 7) + 4;
        break;
    default:
        k = (tag & 3) == 2 ? 2 : 4;
        *len = (size_t)(tag >> 2) + 1;
    }
    if (n - *ip < k)
        return error_set(LOCH_ECORRUPT, "snappy: a copy is cut at byte %zu", *ip);
    if (k == 1)
        *dist = ((size_t)(tag >> 5) << 8) | in[*ip];
    else
        for (size_t b = 0, d = 0; b < k; b++)
            d |= (size_t)in[*ip + b] << (8 * b), *dist = d;
    *ip += k;
    return 0;
}

/* Writes one element's len bytes at out[op]: a literal's from lit, a copy's from dist
 * bytes back (byte by byte when it overlaps what it writes: a run). */
static void emit(uint8_t *out, size_t op, const uint8_t *lit, size_t len, size_t dist, int copy)
{
    if (!copy)
        memcpy(out + op, lit, len);
    else if (dist >= len)
        memcpy(out + op, out + op - dist, len);
    else
        for (size_t b = 0; b < len; b++)
            out[op + b] = out[op - dist + b];
}

int snappy_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t want, size_t *produced)
{
    uint64_t total;
    int head = snappy_length(in, n, &total);
    *produced = 0;
    if (head < 0)
        return head;
    if (total > cap)
        return error_set(LOCH_ECORRUPT, "snappy: the block declares %llu bytes, more than the %zu expected",
                         (unsigned long long)total, cap);
    size_t ip = (size_t)head, op = 0;
    if (want > total)
        want = (size_t)total;
    while (op < want || (want == total && ip < n)) {
        if (ip >= n)
            return error_set(LOCH_ECORRUPT, "snappy: the block ends at byte %zu with %zu of %llu bytes out", ip, op,
                             (unsigned long long)total);
        size_t len, dist = 0;
        int copy, rc = element(in, n, &ip, &len, &dist, &copy);
        if (rc < 0)
            return rc;
        if (len > total - op || (!copy && len > n - ip))
            return error_set(LOCH_ECORRUPT, "snappy: an element of %zu bytes at byte %zu runs past the %s", len, ip,
                             len > total - op ? "declared length" : "input");
        if (copy && (dist == 0 || dist > op))
            return error_set(LOCH_ECORRUPT, "snappy: a copy at byte %zu reaches before the output's start", ip);
        emit(out, op, in + ip, len, dist, copy);
        ip += copy ? 0 : len;
        op += len;
    }
    if (want == total && op != total)
        return error_set(LOCH_ECORRUPT, "snappy: the block holds %zu bytes, not the %llu it declares", op,
                         (unsigned long long)total);
    *produced = op;
    return 0;
}

int snappy_marks(const uint8_t *in, size_t n, snappy_mark *marks, size_t cap, size_t *count)
{
    uint64_t total;
    int head = snappy_length(in, n, &total);
    if (head < 0)
        return head;
    size_t ip = (size_t)head, op = 0, next = 0;
    *count = 0;
    while (op < total) {
        if (ip >= n)
            return error_set(LOCH_ECORRUPT, "snappy: the block ends at byte %zu with %zu of %llu bytes out", ip, op,
                             (unsigned long long)total);
        size_t at = ip, len, dist = 0;
        int copy;
        int rc = element(in, n, &ip, &len, &dist, &copy);
        if (rc < 0)
            return rc;
        if (len > total - op || (!copy && len > n - ip) || (copy && (dist == 0 || dist > op)))
            return error_set(LOCH_ECORRUPT, "snappy: an element at byte %zu does not fit the block", at);
        for (; next < op + len; next += SNAPPY_MARK_EVERY)
            if (*count < cap)
                marks[(*count)++] = (snappy_mark){at, op};
        if (!copy)
            ip += len;
        op += len;
    }
    return 0;
}

int snappy_decode_at(const uint8_t *in, size_t n, size_t base, size_t block_len, uint8_t *out, size_t total,
                     size_t from, size_t to, const snappy_mark *marks, size_t nmarks, size_t *lo)
{
    size_t ip = 0, op = 0, block = from & ~(size_t)(SNAPPY_MARK_EVERY - 1), start = 0;
    size_t m = from / SNAPPY_MARK_EVERY;
    if (to > total || from > to || base > block_len || n > block_len - base)
        return error_set(LOCH_ECORRUPT, "snappy: a range outside the block");
    if (m < nmarks && marks[m].out <= from && marks[m].in >= base && marks[m].in - base < n &&
        (base > 0 || marks[m].in > 0)) {
        ip = marks[m].in - base;
        op = marks[m].out;
        block = op;
    } else if (base > 0) {
        return 1; /* no way in from here: the caller decodes from the start */
    } else {
        uint64_t declared;
        int head = snappy_length(in, n, &declared);
        if (head < 0)
            return head;
        if (declared != total)
            return error_set(LOCH_ECORRUPT, "snappy: the block declares %llu bytes, not the %zu expected",
                             (unsigned long long)declared, total);
        ip = (size_t)head;
    }
    int decoding = 0;
    while (op < to) {
        if (ip >= n) {
            if (base + ip < block_len)
                return 1; /* past the bytes given: the caller decodes from the start */
            return error_set(LOCH_ECORRUPT, "snappy: the block ends at byte %zu with %zu of %zu bytes out", base + ip,
                             op, total);
        }
        size_t len, dist = 0;
        int copy;
        int rc = element(in, n, &ip, &len, &dist, &copy);
        if (rc < 0)
            return base + ip < block_len && ip >= n ? 1 : rc;
        if (len > total - op || (!copy && len > n - ip)) {
            if (!copy && len <= total - op && base + ip + len <= block_len)
                return 1; /* a literal running past the bytes given */
            return error_set(LOCH_ECORRUPT, "snappy: an element at byte %zu runs past the %s", base + ip,
                             len > total - op ? "declared length" : "input");
        }
        if (!decoding && op + len > block)
            decoding = 1, start = op;
        if (decoding) {
            if (copy && (dist == 0 || dist > op - start)) {
                if (dist == 0 || dist > op)
                    return error_set(LOCH_ECORRUPT, "snappy: a copy at byte %zu reaches before the output's start",
                                     base + ip);
                return 1; /* reaches before what was decoded: decode from the start */
            }
            emit(out, op, in + ip, len, dist, copy);
        } else if (copy && (dist == 0 || dist > op)) {
            return error_set(LOCH_ECORRUPT, "snappy: a copy at byte %zu reaches before the output's start", base + ip);
        }
        if (!copy)
            ip += len;
        op += len;
    }
    *lo = start;
    return 0;
}
