/*
 * wal/frame.c - segment headers and frames; see frame.h. Fuzzed by fuzz/fuzz_wal.c.
 */
#include "wal/frame.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "formats/arrow_read.h"
#include "formats/arrow_write.h"
#include "util/crc32c.h"
#include "util/error.h"

#define CRC_KEY "loch.wal.crc"
#define PLACEHOLDER "00000000"

/* Fills in the checksum of the message at out[start..), whose placeholder is at `at`. */
static void seal(buf *out, size_t start, size_t at)
{
    uint32_t c = crc32c(0, out->data + start, out->len - start);
    char hex[9];
    snprintf(hex, sizeof(hex), "%08" PRIx32, c);
    memcpy(out->data + at, hex, 8);
}

int wal_frame_header(buf *out, const struct ArrowSchema *schema, const char *table, const char *schema_tag,
                     uint64_t first_lsn)
{
    char first[24];
    snprintf(first, sizeof(first), "%" PRIu64, first_lsn);
    arrow_kv meta[] = {{"loch.wal", "1", 0}, {"loch.wal.table", table, 0}, {"loch.wal.schema", schema_tag, 0},
                       {"loch.wal.first_lsn", first, 0}};
    arrow_kv crc[] = {{CRC_KEY, PLACEHOLDER, 0}};
    size_t start = out->len;
    int rc = arrow_write_schema_kv(out, schema, meta, 4, crc, 1);
    if (rc == 0)
        seal(out, start, crc[0].at);
    return rc;
}

int wal_frame_batch(buf *out, const struct ArrowSchema *schema, const struct ArrowArray *batch, uint64_t first,
                    int more, const char *producer, uint64_t sequence)
{
    return wal_frame_batch_at(out, schema, batch, first, more, producer, sequence, 0);
}

int wal_frame_batch_at(buf *out, const struct ArrowSchema *schema, const struct ArrowArray *batch, uint64_t first,
                       int more, const char *producer, uint64_t sequence, int64_t time_ms)
{
    if (batch->length <= 0)
        return error_set(LOCH_EINVALID, "a write-ahead log frame needs at least one row");
    char lsn[48], prod[WAL_PRODUCER_MAX + 32], when[24];
    snprintf(lsn, sizeof(lsn), "%" PRIu64 "-%" PRIu64 "%s", first, first + (uint64_t)batch->length - 1,
             more ? "+" : "");
    snprintf(when, sizeof(when), "%" PRId64, time_ms);
    arrow_kv kv[] = {{"loch.wal.lsn", lsn, 0}, {CRC_KEY, PLACEHOLDER, 0}, {"loch.wal.time", when, 0},
                     {"loch.wal.producer", prod, 0}};
    size_t nkv = time_ms > 0 ? 3 : 2;
    if (producer && !more) {
        snprintf(prod, sizeof(prod), "%" PRIu64 " %s", sequence, producer);
        if (nkv == 2)
            kv[2] = kv[3];
        nkv++;
    }
    size_t start = out->len;
    int rc = arrow_write_batch_kv(out, schema, batch, kv, nkv);
    if (rc == 0)
        seal(out, start, kv[1].at);
    return rc;
}

static int bad(const char *what) { return error_set(LOCH_ECORRUPT, "write-ahead log: %s", what); }

/* The message at data with its checksum checked. */
static int checked(const unsigned char *data, size_t size, int type, arrow_message *m)
{
    const char *v;
    size_t n;
    if (arrow_read_message(data, size, m) < 0)
        return bad("not a whole Arrow message");
    if (m->type != type)
        return bad(type == 1 ? "no schema message" : "not a record batch");
    if (!arrow_message_value(m, data, CRC_KEY, 0, &v, &n) || n != 8)
        return bad("a message without its checksum");
    size_t at = (size_t)((const unsigned char *)v - data);
    uint32_t c = crc32c(0, data, at);
    c = crc32c(c, PLACEHOLDER, 8);
    c = crc32c(c, data + at + 8, m->length - at - 8);
    char hex[9];
    snprintf(hex, sizeof(hex), "%08" PRIx32, c);
    return memcmp(hex, v, 8) == 0 ? 0 : bad("a checksum that does not match");
}

/* A decimal u64 of n bytes at v; 0 or -1. */
static int u64_of(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 0;
}

int wal_frame_read_header(const unsigned char *data, size_t size, wal_header *out)
{
    arrow_message m;
    const char *v;
    size_t n;
    int rc = checked(data, size, 1, &m);
    if (rc < 0)
        return rc;
    *out = (wal_header){.length = m.length};
    if (!arrow_message_value(&m, data, "loch.wal", 1, &v, &n) || n != 1 || v[0] != '1')
        return bad("a segment of an unknown format");
    if (!arrow_message_value(&m, data, "loch.wal.table", 1, &v, &n) || n >= sizeof(out->table))
        return bad("a segment header without its table");
    memcpy(out->table, v, n);
    if (!arrow_message_value(&m, data, "loch.wal.schema", 1, &v, &n) || n >= sizeof(out->schema_tag))
        return bad("a segment header without its schema");
    memcpy(out->schema_tag, v, n);
    if (!arrow_message_value(&m, data, "loch.wal.first_lsn", 1, &v, &n) || u64_of(v, n, &out->first_lsn) < 0 ||
        out->first_lsn == 0)
        return bad("a segment header without its first LSN");
    return 0;
}

int wal_frame_read(const unsigned char *data, size_t size, wal_frame_info *out)
{
    arrow_message m;
    const char *v;
    size_t n = 0;
    *out = (wal_frame_info){0};
    int rc = checked(data, size, 3, &m);
    if (rc < 0)
        return rc;
    const char *dash = NULL;
    if (arrow_message_value(&m, data, "loch.wal.lsn", 0, &v, &n))
        dash = memchr(v, '-', n);
    out->more = n > 0 && v[n - 1] == '+';
    n -= (size_t)out->more;
    if (!dash || u64_of(v, (size_t)(dash - v), &out->first) < 0 ||
        u64_of(dash + 1, n - (size_t)(dash - v) - 1, &out->last) < 0 || out->first == 0 || out->last < out->first)
        return bad("a frame without its LSNs");
    if (m.rows <= 0 || (uint64_t)m.rows - 1 != out->last - out->first)
        return bad("a frame whose rows are not its LSNs");
    uint64_t t;
    if (arrow_message_value(&m, data, "loch.wal.time", 0, &v, &n) && u64_of(v, n, &t) == 0)
        out->time_ms = (int64_t)t;
    if (arrow_message_value(&m, data, "loch.wal.producer", 0, &v, &n)) {
        const char *sp = memchr(v, ' ', n);
        if (!sp || u64_of(v, (size_t)(sp - v), &out->sequence) < 0 || out->sequence == 0 ||
            n - (size_t)(sp - v) - 1 == 0 || n - (size_t)(sp - v) - 1 > WAL_PRODUCER_MAX)
            return bad("a frame with a malformed producer");
        out->producer = sp + 1;
        out->producer_len = n - (size_t)(sp - v) - 1;
    }
    out->length = m.length;
    return 0;
}

int wal_frame_scan(const unsigned char *data, size_t size, wal_header *h, size_t *end, uint64_t *last)
{
    int rc = wal_frame_read_header(data, size, h);
    if (rc < 0)
        return rc;
    size_t at = h->length, whole = at;
    uint64_t next = h->first_lsn, whole_last = next - 1;
    while (at < size) {
        wal_frame_info fi;
        if (wal_frame_read(data + at, size - at, &fi) < 0 || fi.first != next || fi.last == UINT64_MAX)
            break;
        at += fi.length;
        next = fi.last + 1;
        if (!fi.more) /* a write ends here */
            whole = at, whole_last = fi.last;
    }
    error_clear();
    *end = whole;
    *last = whole_last;
    return 0;
}
