/*
 * core/dv.c - Delta Lake deletion vectors: Z85 text, the DV file framing, and a Roaring
 * bitmap decoder. See dv.h.
 *
 * A deletion vector (DV) is a Roaring bitmap of row numbers. Delta serializes it as a
 * "bitmap array" (one 32-bit Roaring bitmap per high 32 bits of the row number) behind a
 * magic number, and either Z85-encodes that inline in the log or stores it in a DV file
 * with a size and a CRC around it. The decoder is written here from the specifications
 * (Delta protocol, "Deletion Vector Format", and the RoaringFormatSpec) instead of
 * linking CRoaring, because every byte of it comes from outside and should be checked by
 * code small enough to read in one sitting.
 *
 * The layouts (LE = little-endian, BE = big-endian, [x] = present only sometimes):
 *
 *   DV file           | u8 version = 1, then at each DV's offset:
 *                     |   u32 BE size | size bytes of bitmap array | u32 BE CRC-32 of them
 *   portable array    | u32 LE magic 1681511377 | u64 LE n | n x (u32 LE key, roaring32)
 *   native array      | u32 magic 1681511376 | u32 n | n x (u32 size, roaring32)
 *                     |   header ints LE, or all BE when the magic is BE; bitmap i: key i
 *   roaring32         | u32 cookie | [u32 count] | [run bitset] | count x (u16 key,
 *                     |   u16 cardinality - 1) | [count x u32 offset] | containers
 *   array container   | cardinality x u16, ascending (cardinality <= 4096, not a run)
 *   bitmap container  | 1024 x u64 LE; bit b of word w is 64 * w + b (cardinality > 4096)
 *   run container     | u16 nruns | nruns x (u16 start, u16 length - 1)
 *
 * Cookie 12346 is followed by the u32 container count and always by offsets; cookie 12347
 * carries count - 1 in its high 16 bits, is followed by a bitset (bit i: container i is a
 * run container) and by offsets only when count >= 4. Offsets count from the cookie. A
 * row number is key << 32 | container key << 16 | the 16-bit value.
 *
 * Delta writes the portable array; the native one is read too because the inline example
 * in the Delta protocol is a native array written big-endian, and other readers accept both.
 *
 * Invariants: a reader never goes past its `end`; keys of bitmaps and containers must be
 * strictly ascending and values within a container strictly ascending (runs must not
 * overlap), so the rows come out sorted and unique without a sort. Every stored
 * cardinality and offset is checked against the data, and trailing bytes are refused, so
 * a corrupt DV is an error rather than a silently wrong row set. Decoding runs twice: a
 * counting pass that validates everything, then one exact allocation and a filling pass;
 * nothing is allocated for input that does not validate, and never more than DV_MAX_ROWS.
 */
#include "core/dv.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define DV_MAGIC_PORTABLE 1681511377u  /* 0x6439D3D1 */
#define DV_MAGIC_NATIVE 1681511376u    /* 0x6439D3D0 */
#define DV_FILE_VERSION 1
#define SERIAL_COOKIE_NO_RUNCONTAINER 12346u
#define SERIAL_COOKIE 12347u
#define NO_OFFSET_THRESHOLD 4u
#define MAX_CONTAINERS 65536u
#define ARRAY_MAX_CARDINALITY 4096u
#define BITMAP_BYTES 8192u
#define Z85_UUID_CHARS 20

enum { KIND_ARRAY, KIND_BITMAP, KIND_RUN };

/* A bounded cursor: pos and end are absolute offsets into data, and pos <= end always. */
typedef struct {
    const uint8_t *data;
    size_t pos;
    size_t end;
} reader;

/* Where rows go: rows is NULL in the counting pass, which only advances count. */
typedef struct {
    uint64_t *rows;
    size_t count;
    size_t cap;
} sink;

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static int corrupt(size_t at, const char *what)
{
    return error_set(LOCH_ECORRUPT, "deletion vector: %s at byte %zu", what, at);
}

/* Fails unless n more bytes can be read; the single place that guards every read. */
static int need(const reader *r, size_t n, const char *what)
{
    if (r->end - r->pos < n)
        return error_set(LOCH_ECORRUPT, "deletion vector: truncated %s at byte %zu (%zu of %zu "
                         "bytes present)", what, r->pos, r->end - r->pos, n);
    return 0;
}

static int read_u32(reader *r, int big_endian, const char *what, uint32_t *v)
{
    int rc = need(r, 4, what);
    if (rc)
        return rc;
    *v = big_endian ? be32(r->data + r->pos) : le32(r->data + r->pos);
    r->pos += 4;
    return 0;
}

static void emit(sink *s, uint64_t row)
{
    /* The cap guard is belt and braces: the filling pass sees the input the counting pass
     * validated, so it can never produce more rows than were counted. */
    if (s->rows && s->count < s->cap)
        s->rows[s->count] = row;
    s->count++;
}

static void emit_range(sink *s, uint64_t first, uint32_t n)
{
    if (!s->rows) {
        s->count += n; /* counting a 65536-row run need not loop over it */
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        emit(s, first + i);
}

static int decode_array(reader *r, uint32_t card, uint64_t base, sink *s)
{
    int rc = need(r, (size_t)card * 2, "array container");
    if (rc)
        return rc;
    const uint8_t *p = r->data + r->pos;
    for (uint32_t i = 0; i < card; i++) {
        uint16_t v = le16(p + 2 * i);
        if (i > 0 && v <= le16(p + 2 * (i - 1)))
            return corrupt(r->pos + 2 * i, "array container values not strictly ascending");
        emit(s, base | v);
    }
    r->pos += (size_t)card * 2;
    return 0;
}

static int decode_bitmap(reader *r, uint32_t card, uint64_t base, sink *s)
{
    int rc = need(r, BITMAP_BYTES, "bitmap container");
    if (rc)
        return rc;
    const uint8_t *p = r->data + r->pos;
    uint32_t seen = 0;
    for (uint32_t w = 0; w < BITMAP_BYTES / 8; w++) {
        uint64_t word = le64(p + 8 * w);
        for (uint32_t b = 0; word; b++, word >>= 1) {
            if (word & 1) {
                emit(s, base | (w * 64 + b));
                seen++;
            }
        }
    }
    /* A wrong stored cardinality means the header and the data disagree: trust neither. */
    if (seen != card)
        return corrupt(r->pos, "bitmap container population differs from its cardinality");
    r->pos += BITMAP_BYTES;
    return 0;
}

static int decode_run(reader *r, uint32_t card, uint64_t base, sink *s)
{
    int rc = need(r, 2, "run container");
    if (rc)
        return rc;
    uint32_t nruns = le16(r->data + r->pos);
    r->pos += 2;
    if ((rc = need(r, (size_t)nruns * 4, "run container")))
        return rc;
    const uint8_t *p = r->data + r->pos;
    uint32_t total = 0, next_free = 0; /* next_free: first value above the previous run */
    for (uint32_t i = 0; i < nruns; i++) {
        uint32_t start = le16(p + 4 * i), len = (uint32_t)le16(p + 4 * i + 2) + 1;
        if (i > 0 && start < next_free)
            return corrupt(r->pos + 4 * i, "run container runs overlap or are not ascending");
        if (start + len > 65536)
            return corrupt(r->pos + 4 * i, "run container run extends past 65535");
        emit_range(s, base | start, len);
        total += len;
        next_free = start + len;
    }
    if (total != card)
        return corrupt(r->pos, "run container length differs from its cardinality");
    r->pos += (size_t)nruns * 4;
    return 0;
}

/* The parsed front of one 32-bit Roaring bitmap; positions are absolute. */
typedef struct {
    size_t start;    /* the cookie: container offsets count from here */
    uint32_t count;  /* containers */
    int has_runs;    /* a run bitset is present, at `runs` */
    int has_offsets; /* count u32 offsets are present, at `offsets` */
    size_t runs, descs, offsets;
} r32_header;

static int read_r32_header(reader *r, r32_header *h)
{
    uint32_t cookie;
    int rc;
    memset(h, 0, sizeof(*h));
    h->start = r->pos;
    if ((rc = read_u32(r, 0, "roaring cookie", &cookie)))
        return rc;
    if ((cookie & 0xFFFF) == SERIAL_COOKIE) {
        h->count = (cookie >> 16) + 1;
        h->has_runs = 1;
        h->runs = r->pos;
        if ((rc = need(r, (h->count + 7) / 8, "run container bitset")))
            return rc;
        r->pos += (h->count + 7) / 8;
    } else if (cookie == SERIAL_COOKIE_NO_RUNCONTAINER) {
        if ((rc = read_u32(r, 0, "container count", &h->count)))
            return rc;
        if (h->count > MAX_CONTAINERS)
            return corrupt(r->pos - 4, "container count above 65536");
    } else {
        return corrupt(h->start, "unknown roaring cookie");
    }
    h->descs = r->pos;
    if ((rc = need(r, (size_t)h->count * 4, "container keys and cardinalities")))
        return rc;
    r->pos += (size_t)h->count * 4;
    h->has_offsets = !h->has_runs || h->count >= NO_OFFSET_THRESHOLD;
    if (h->has_offsets) {
        h->offsets = r->pos;
        if ((rc = need(r, (size_t)h->count * 4, "container offsets")))
            return rc;
        r->pos += (size_t)h->count * 4;
    }
    return 0;
}

/* One 32-bit Roaring bitmap whose rows all have `high` as their upper 32 bits. */
static int decode_roaring32(reader *r, uint32_t high, sink *s)
{
    r32_header h;
    int rc = read_r32_header(r, &h);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < h.count; i++) {
        const uint8_t *d = r->data + h.descs + 4 * (size_t)i;
        uint32_t key = le16(d), card = (uint32_t)le16(d + 2) + 1;
        if (i > 0 && key <= le16(d - 4))
            return corrupt(h.descs + 4 * (size_t)i, "container keys not strictly ascending");
        if (h.has_offsets && le32(r->data + h.offsets + 4 * (size_t)i) != r->pos - h.start)
            return corrupt(h.offsets + 4 * (size_t)i, "container offset does not match its data");
        if (card > DV_MAX_ROWS - s->count)
            return error_set(LOCH_ECORRUPT, "deletion vector: more than %" PRIu64 " rows at "
                             "byte %zu", (uint64_t)DV_MAX_ROWS, r->pos);
        int is_run = h.has_runs && (r->data[h.runs + i / 8] >> (i % 8) & 1);
        int kind = is_run ? KIND_RUN : card <= ARRAY_MAX_CARDINALITY ? KIND_ARRAY : KIND_BITMAP;
        uint64_t base = (uint64_t)high << 32 | (uint64_t)key << 16;
        if (kind == KIND_RUN)
            rc = decode_run(r, card, base, s);
        else if (kind == KIND_ARRAY)
            rc = decode_array(r, card, base, s);
        else
            rc = decode_bitmap(r, card, base, s);
        if (rc)
            return rc;
    }
    return 0;
}

/* The smallest bitmap (cookie 12346, count 0) plus its key or size field: 12 bytes. Used
 * to refuse an absurd bitmap count up front rather than after a long loop. */
#define MIN_BITMAP_ENTRY 12u

static int decode_portable(reader *r, sink *s)
{
    int rc = need(r, 8, "bitmap count");
    if (rc)
        return rc;
    uint64_t n = le64(r->data + r->pos);
    r->pos += 8;
    if (n > (r->end - r->pos) / MIN_BITMAP_ENTRY)
        return corrupt(r->pos - 8, "bitmap count larger than the data can hold");
    uint32_t prev = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t key;
        if ((rc = read_u32(r, 0, "bitmap key", &key)))
            return rc;
        if (i > 0 && key <= prev)
            return corrupt(r->pos - 4, "bitmap keys not strictly ascending");
        prev = key;
        if ((rc = decode_roaring32(r, key, s)))
            return rc;
    }
    return 0;
}

static int decode_native(reader *r, int big_endian, sink *s)
{
    uint32_t n;
    int rc = read_u32(r, big_endian, "bitmap count", &n);
    if (rc)
        return rc;
    if (n > (r->end - r->pos) / MIN_BITMAP_ENTRY)
        return corrupt(r->pos - 4, "bitmap count larger than the data can hold");
    for (uint32_t i = 0; i < n; i++) {
        uint32_t size;
        if ((rc = read_u32(r, big_endian, "bitmap size", &size)))
            return rc;
        if ((rc = need(r, size, "bitmap")))
            return rc;
        /* Confine the bitmap to its stated size, and insist it fills it exactly. */
        size_t outer_end = r->end;
        r->end = r->pos + size;
        rc = decode_roaring32(r, i, s);
        if (!rc && r->pos != r->end)
            rc = corrupt(r->pos, "bitmap shorter than its size field");
        r->end = outer_end;
        if (rc)
            return rc;
    }
    return 0;
}

/* One whole pass over a serialized bitmap array: magic, bitmaps, nothing after them. */
static int decode_array_pass(const uint8_t *data, size_t size, sink *s)
{
    reader r = {data, 0, size};
    int rc = need(&r, 4, "magic number");
    if (rc)
        return rc;
    uint32_t magic_le = le32(data), magic_be = be32(data);
    r.pos = 4;
    if (magic_le == DV_MAGIC_PORTABLE)
        rc = decode_portable(&r, s);
    else if (magic_le == DV_MAGIC_NATIVE)
        rc = decode_native(&r, 0, s);
    else if (magic_be == DV_MAGIC_NATIVE)
        rc = decode_native(&r, 1, s);
    else
        return error_set(LOCH_ECORRUPT, "deletion vector: unknown magic number 0x%08" PRIx32
                         " (expected %u)", magic_le, DV_MAGIC_PORTABLE);
    if (!rc && r.pos != size)
        rc = error_set(LOCH_ECORRUPT, "deletion vector: %zu trailing bytes after the bitmaps at "
                       "byte %zu", size - r.pos, r.pos);
    return rc;
}

void dv_rows_free(dv_rows *r)
{
    if (!r)
        return;
    free(r->rows);
    r->rows = NULL;
    r->count = 0;
}

int dv_decode_bitmap(const uint8_t *data, size_t size, dv_rows *out)
{
    sink s = {NULL, 0, 0};
    int rc;
    if (!out)
        return error_set(LOCH_EINVALID, "dv_decode_bitmap: out is NULL");
    out->rows = NULL;
    out->count = 0;
    if (!data && size)
        return error_set(LOCH_EINVALID, "dv_decode_bitmap: data is NULL");
    if ((rc = decode_array_pass(data, size, &s)))
        goto cleanup;
    if (s.count == 0)
        goto cleanup;
    if (s.count > SIZE_MAX / sizeof(*s.rows)) {
        rc = error_set(LOCH_ENOMEM, "deletion vector: %zu rows do not fit in memory", s.count);
        goto cleanup;
    }
    s.rows = malloc(s.count * sizeof(*s.rows));
    if (!s.rows) {
        rc = error_set(LOCH_ENOMEM, "deletion vector: out of memory for %zu rows", s.count);
        goto cleanup;
    }
    s.cap = s.count;
    s.count = 0;
    if ((rc = decode_array_pass(data, size, &s)))
        goto cleanup;
    if (s.count != s.cap) {
        rc = error_set(LOCH_ERROR, "deletion vector: passes disagree (%zu rows, then %zu)",
                       s.cap, s.count);
        goto cleanup;
    }
    out->rows = s.rows;
    out->count = s.count;
    s.rows = NULL;
cleanup:
    free(s.rows);
    return rc;
}

/* Z85 digit values for characters 32..127; 0xFF marks characters outside the alphabet. */
static const uint8_t Z85_DIGIT[96] = {
    0xFF, 0x44, 0xFF, 0x54, 0x53, 0x52, 0x48, 0xFF, 0x4B, 0x4C, 0x46, 0x41,
    0xFF, 0x3F, 0x3E, 0x45, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x40, 0xFF, 0x49, 0x42, 0x4A, 0x47, 0x51, 0x24, 0x25, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F, 0x30, 0x31, 0x32,
    0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x4D,
    0xFF, 0x4E, 0x43, 0xFF, 0xFF, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10,
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C,
    0x1D, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x4F, 0xFF, 0x50, 0xFF, 0xFF,
};

int dv_z85_decode(const char *text, size_t text_len, uint8_t *out, size_t out_cap,
                  size_t *out_len)
{
    if (out_len)
        *out_len = 0;
    if (text_len % 5)
        return error_set(LOCH_ECORRUPT, "Z85 text of %zu characters is not a multiple of 5",
                         text_len);
    size_t n = text_len / 5 * 4;
    if (n > INT_MAX || n > out_cap || (text_len && (!text || !out)))
        return error_set(LOCH_EINVALID, "Z85: %zu decoded bytes do not fit the %zu-byte output",
                         n, out ? out_cap : 0);
    for (size_t i = 0; i < text_len; i += 5) {
        uint64_t v = 0; /* five digits reach 85^5 - 1 > 2^32: checked below */
        for (size_t j = i; j < i + 5; j++) {
            unsigned char c = (unsigned char)text[j];
            uint8_t d = (c >= 32 && c < 128) ? Z85_DIGIT[c - 32] : 0xFF;
            if (d == 0xFF)
                return error_set(LOCH_ECORRUPT, "Z85: invalid character 0x%02x at %zu", c, j);
            v = v * 85 + d;
        }
        if (v > UINT32_MAX)
            return error_set(LOCH_ECORRUPT, "Z85: block at %zu exceeds 32 bits", i);
        uint8_t *o = out + i / 5 * 4;
        o[0] = (uint8_t)(v >> 24);
        o[1] = (uint8_t)(v >> 16);
        o[2] = (uint8_t)(v >> 8);
        o[3] = (uint8_t)v;
    }
    if (out_len)
        *out_len = n;
    return (int)n;
}

int dv_decode_inline(const char *z85, size_t size_in_bytes, dv_rows *out)
{
    uint8_t *bytes = NULL;
    int rc;
    if (!out)
        return error_set(LOCH_EINVALID, "dv_decode_inline: out is NULL");
    out->rows = NULL;
    out->count = 0;
    if (!z85)
        return error_set(LOCH_EINVALID, "dv_decode_inline: text is NULL");
    size_t len = strlen(z85);
    /* The writer pads to whole 4-byte blocks, so the text length follows from the size;
     * any other length means the descriptor and its text do not belong together. */
    size_t blocks = size_in_bytes / 4 + (size_in_bytes % 4 != 0);
    if (blocks > SIZE_MAX / 5 || len != blocks * 5) {
        rc = error_set(LOCH_ECORRUPT, "inline deletion vector: %zu Z85 characters for "
                       "sizeInBytes %zu", len, size_in_bytes);
        goto cleanup;
    }
    bytes = malloc(blocks ? blocks * 4 : 1);
    if (!bytes) {
        rc = error_set(LOCH_ENOMEM, "inline deletion vector: out of memory");
        goto cleanup;
    }
    rc = dv_z85_decode(z85, len, bytes, blocks * 4, NULL);
    if (rc < 0) {
        error_prefix("inline deletion vector: ");
        goto cleanup;
    }
    rc = dv_decode_bitmap(bytes, size_in_bytes, out);
    if (rc)
        error_prefix("inline ");
cleanup:
    free(bytes);
    return rc < 0 ? rc : 0;
}

/* CRC-32 as zlib computes it (ISO-HDLC: reflected polynomial 0xEDB88320, inverted in and
 * out), a byte at a time from a constant table (no run-time initialization): a scan
 * checks every DV it reads, and a table of a thousand files can have megabytes of them. */
static uint32_t crc32_iso_hdlc(const uint8_t *p, size_t n)
{
    static const uint32_t T[256] = {
        0x00000000, 0x77073096, 0xEE0E612C, 0x990951BA, 0x076DC419, 0x706AF48F,
        0xE963A535, 0x9E6495A3, 0x0EDB8832, 0x79DCB8A4, 0xE0D5E91E, 0x97D2D988,
        0x09B64C2B, 0x7EB17CBD, 0xE7B82D07, 0x90BF1D91, 0x1DB71064, 0x6AB020F2,
        0xF3B97148, 0x84BE41DE, 0x1ADAD47D, 0x6DDDE4EB, 0xF4D4B551, 0x83D385C7,
        0x136C9856, 0x646BA8C0, 0xFD62F97A, 0x8A65C9EC, 0x14015C4F, 0x63066CD9,
        0xFA0F3D63, 0x8D080DF5, 0x3B6E20C8, 0x4C69105E, 0xD56041E4, 0xA2677172,
        0x3C03E4D1, 0x4B04D447, 0xD20D85FD, 0xA50AB56B, 0x35B5A8FA, 0x42B2986C,
        0xDBBBC9D6, 0xACBCF940, 0x32D86CE3, 0x45DF5C75, 0xDCD60DCF, 0xABD13D59,
        0x26D930AC, 0x51DE003A, 0xC8D75180, 0xBFD06116, 0x21B4F4B5, 0x56B3C423,
        0xCFBA9599, 0xB8BDA50F, 0x2802B89E, 0x5F058808, 0xC60CD9B2, 0xB10BE924,
        0x2F6F7C87, 0x58684C11, 0xC1611DAB, 0xB6662D3D, 0x76DC4190, 0x01DB7106,
        0x98D220BC, 0xEFD5102A, 0x71B18589, 0x06B6B51F, 0x9FBFE4A5, 0xE8B8D433,
        0x7807C9A2, 0x0F00F934, 0x9609A88E, 0xE10E9818, 0x7F6A0DBB, 0x086D3D2D,
        0x91646C97, 0xE6635C01, 0x6B6B51F4, 0x1C6C6162, 0x856530D8, 0xF262004E,
        0x6C0695ED, 0x1B01A57B, 0x8208F4C1, 0xF50FC457, 0x65B0D9C6, 0x12B7E950,
        0x8BBEB8EA, 0xFCB9887C, 0x62DD1DDF, 0x15DA2D49, 0x8CD37CF3, 0xFBD44C65,
        0x4DB26158, 0x3AB551CE, 0xA3BC0074, 0xD4BB30E2, 0x4ADFA541, 0x3DD895D7,
        0xA4D1C46D, 0xD3D6F4FB, 0x4369E96A, 0x346ED9FC, 0xAD678846, 0xDA60B8D0,
        0x44042D73, 0x33031DE5, 0xAA0A4C5F, 0xDD0D7CC9, 0x5005713C, 0x270241AA,
        0xBE0B1010, 0xC90C2086, 0x5768B525, 0x206F85B3, 0xB966D409, 0xCE61E49F,
        0x5EDEF90E, 0x29D9C998, 0xB0D09822, 0xC7D7A8B4, 0x59B33D17, 0x2EB40D81,
        0xB7BD5C3B, 0xC0BA6CAD, 0xEDB88320, 0x9ABFB3B6, 0x03B6E20C, 0x74B1D29A,
        0xEAD54739, 0x9DD277AF, 0x04DB2615, 0x73DC1683, 0xE3630B12, 0x94643B84,
        0x0D6D6A3E, 0x7A6A5AA8, 0xE40ECF0B, 0x9309FF9D, 0x0A00AE27, 0x7D079EB1,
        0xF00F9344, 0x8708A3D2, 0x1E01F268, 0x6906C2FE, 0xF762575D, 0x806567CB,
        0x196C3671, 0x6E6B06E7, 0xFED41B76, 0x89D32BE0, 0x10DA7A5A, 0x67DD4ACC,
        0xF9B9DF6F, 0x8EBEEFF9, 0x17B7BE43, 0x60B08ED5, 0xD6D6A3E8, 0xA1D1937E,
        0x38D8C2C4, 0x4FDFF252, 0xD1BB67F1, 0xA6BC5767, 0x3FB506DD, 0x48B2364B,
        0xD80D2BDA, 0xAF0A1B4C, 0x36034AF6, 0x41047A60, 0xDF60EFC3, 0xA867DF55,
        0x316E8EEF, 0x4669BE79, 0xCB61B38C, 0xBC66831A, 0x256FD2A0, 0x5268E236,
        0xCC0C7795, 0xBB0B4703, 0x220216B9, 0x5505262F, 0xC5BA3BBE, 0xB2BD0B28,
        0x2BB45A92, 0x5CB36A04, 0xC2D7FFA7, 0xB5D0CF31, 0x2CD99E8B, 0x5BDEAE1D,
        0x9B64C2B0, 0xEC63F226, 0x756AA39C, 0x026D930A, 0x9C0906A9, 0xEB0E363F,
        0x72076785, 0x05005713, 0x95BF4A82, 0xE2B87A14, 0x7BB12BAE, 0x0CB61B38,
        0x92D28E9B, 0xE5D5BE0D, 0x7CDCEFB7, 0x0BDBDF21, 0x86D3D2D4, 0xF1D4E242,
        0x68DDB3F8, 0x1FDA836E, 0x81BE16CD, 0xF6B9265B, 0x6FB077E1, 0x18B74777,
        0x88085AE6, 0xFF0F6A70, 0x66063BCA, 0x11010B5C, 0x8F659EFF, 0xF862AE69,
        0x616BFFD3, 0x166CCF45, 0xA00AE278, 0xD70DD2EE, 0x4E048354, 0x3903B3C2,
        0xA7672661, 0xD06016F7, 0x4969474D, 0x3E6E77DB, 0xAED16A4A, 0xD9D65ADC,
        0x40DF0B66, 0x37D83BF0, 0xA9BCAE53, 0xDEBB9EC5, 0x47B2CF7F, 0x30B5FFE9,
        0xBDBDF21C, 0xCABAC28A, 0x53B39330, 0x24B4A3A6, 0xBAD03605, 0xCDD70693,
        0x54DE5729, 0x23D967BF, 0xB3667A2E, 0xC4614AB8, 0x5D681B02, 0x2A6F2B94,
        0xB40BBE37, 0xC30C8EA1, 0x5A05DF1B, 0x2D02EF8D,
    };
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = (c >> 8) ^ T[(c ^ p[i]) & 0xFF];
    return ~c;
}

int dv_decode_file(const uint8_t *file, size_t file_len, int64_t offset, size_t size_in_bytes,
                   dv_rows *out)
{
    int rc;
    if (!out)
        return error_set(LOCH_EINVALID, "dv_decode_file: out is NULL");
    out->rows = NULL;
    out->count = 0;
    if (!file && file_len)
        return error_set(LOCH_EINVALID, "dv_decode_file: file is NULL");
    if (file_len < 1)
        return error_set(LOCH_ECORRUPT, "deletion vector file is empty");
    if (file[0] != DV_FILE_VERSION)
        return error_set(LOCH_EUNSUPPORTED, "deletion vector file format version %u (only %d "
                         "is supported)", file[0], DV_FILE_VERSION);
    /* Byte 0 is the version, so no DV can start there. */
    if (offset < 1 || (uint64_t)offset > file_len)
        return error_set(LOCH_ECORRUPT, "deletion vector offset %" PRId64 " outside the "
                         "%zu-byte file", offset, file_len);
    size_t at = (size_t)offset, room = file_len - at;
    if (room < 4)
        return error_set(LOCH_ECORRUPT, "deletion vector at offset %" PRId64 ": size field "
                         "past the end of the %zu-byte file", offset, file_len);
    uint32_t stored = be32(file + at);
    if (stored != size_in_bytes)
        return error_set(LOCH_ECORRUPT, "deletion vector at offset %" PRId64 ": size field "
                         "%" PRIu32 " differs from sizeInBytes %zu", offset, stored,
                         size_in_bytes);
    if (size_in_bytes > room - 4 || room - 4 - size_in_bytes < 4)
        return error_set(LOCH_ECORRUPT, "deletion vector at offset %" PRId64 " of %zu bytes "
                         "overruns the %zu-byte file", offset, size_in_bytes, file_len);
    const uint8_t *body = file + at + 4;
    uint32_t want = be32(body + size_in_bytes), got = crc32_iso_hdlc(body, size_in_bytes);
    if (want != got)
        return error_set(LOCH_ECORRUPT, "deletion vector at offset %" PRId64 ": checksum "
                         "mismatch (stored 0x%08" PRIx32 ", computed 0x%08" PRIx32 ")",
                         offset, want, got);
    rc = dv_decode_bitmap(body, size_in_bytes, out);
    if (rc)
        error_prefix("at file offset %" PRId64 ": ", offset);
    return rc;
}

/* The prefix becomes a directory name: refuse anything that could climb out of the table
 * or be read as a separator or an absolute path. Writers use a few alphanumerics. */
static int check_prefix(const char *p, size_t n)
{
    if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
        return error_set(LOCH_ECORRUPT, "deletion vector path prefix \"%.*s\" is not a plain "
                         "directory name", (int)n, p);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7F || c == '/' || c == '\\')
            return error_set(LOCH_ECORRUPT, "deletion vector path prefix has byte 0x%02x at "
                             "%zu", c, i);
    }
    return 0;
}

int dv_relative_path(const char *path_or_inline, char *out, size_t cap)
{
    static const char HEX[] = "0123456789abcdef";
    static const char NAME[] = "deletion_vector_";
    uint8_t u[16];
    char uuid[36];
    int rc;
    if (!path_or_inline || !out)
        return error_set(LOCH_EINVALID, "dv_relative_path: NULL argument");
    if (cap)
        out[0] = '\0';
    size_t len = strlen(path_or_inline);
    if (len < Z85_UUID_CHARS)
        return error_set(LOCH_ECORRUPT, "deletion vector path of %zu characters is shorter than "
                         "its %d-character UUID", len, Z85_UUID_CHARS);
    size_t plen = len - Z85_UUID_CHARS;
    if ((rc = check_prefix(path_or_inline, plen)))
        return rc;
    if ((rc = dv_z85_decode(path_or_inline + plen, Z85_UUID_CHARS, u, sizeof(u), NULL)) < 0)
        return error_prefix("deletion vector UUID: ");
    for (size_t i = 0, o = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            uuid[o++] = '-';
        uuid[o++] = HEX[u[i] >> 4];
        uuid[o++] = HEX[u[i] & 15];
    }
    size_t slash = plen ? 1 : 0, need_len = plen + slash + strlen(NAME) + sizeof(uuid) + 4;
    if (need_len >= cap)
        return error_set(LOCH_EINVALID, "deletion vector path needs %zu bytes, have %zu",
                         need_len + 1, cap);
    char *o = out;
    memcpy(o, path_or_inline, plen);
    o += plen;
    if (slash)
        *o++ = '/';
    memcpy(o, NAME, strlen(NAME));
    o += strlen(NAME);
    memcpy(o, uuid, sizeof(uuid));
    o += sizeof(uuid);
    memcpy(o, ".bin", 5);
    return 0;
}

/* ---- encoding ---------------------------------------------------------------------- */

int dv_rows_union(const dv_rows *a, const dv_rows *b, dv_rows *out)
{
    out->rows = NULL;
    out->count = 0;
    size_t n = a->count + b->count, i = 0, j = 0, k = 0;
    if (n == 0)
        return 0;
    uint64_t *v = malloc(n * sizeof(*v));
    if (!v)
        return error_set(LOCH_ENOMEM, "out of memory");
    while (i < a->count || j < b->count) {
        uint64_t x = j == b->count || (i < a->count && a->rows[i] <= b->rows[j]) ? a->rows[i] : b->rows[j];
        i += i < a->count && a->rows[i] == x;
        j += j < b->count && b->rows[j] == x;
        v[k++] = x;
    }
    out->rows = v;
    out->count = k;
    return 0;
}

static int put_le16(buf *b, uint16_t v) { return buf_put(b, (uint8_t[]){(uint8_t)v, (uint8_t)(v >> 8)}, 2); }
static int put_le32(buf *b, uint32_t v)
{
    return buf_put(b, (uint8_t[]){(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)}, 4);
}
static int put_be32(buf *b, uint32_t v)
{
    return buf_put(b, (uint8_t[]){(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v}, 4);
}

/* One 32-bit Roaring bitmap (cookie 12346: no run containers, offsets always) of the
 * low halves of rows[0..n), which share their high 32 bits. */
static int encode_roaring32(const uint64_t *rows, size_t n, buf *out)
{
    size_t start = out->len, ncont = 0;
    for (size_t i = 0; i < n; i++)
        ncont += i == 0 || (uint16_t)(rows[i] >> 16) != (uint16_t)(rows[i - 1] >> 16);
    int rc = put_le32(out, SERIAL_COOKIE_NO_RUNCONTAINER) || put_le32(out, (uint32_t)ncont) ? LOCH_ENOMEM : 0;
    /* Header: key and cardinality - 1 per container. */
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t j = i;
        while (j < n && (uint16_t)(rows[j] >> 16) == (uint16_t)(rows[i] >> 16))
            j++;
        rc = put_le16(out, (uint16_t)(rows[i] >> 16)) || put_le16(out, (uint16_t)(j - i - 1)) ? LOCH_ENOMEM : 0;
        i = j;
    }
    /* Offsets from the cookie: the containers follow the offsets back to back. */
    size_t at = out->len - start + 4 * ncont;
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t j = i;
        while (j < n && (uint16_t)(rows[j] >> 16) == (uint16_t)(rows[i] >> 16))
            j++;
        rc = put_le32(out, (uint32_t)at) ? LOCH_ENOMEM : 0;
        at += j - i <= ARRAY_MAX_CARDINALITY ? 2 * (j - i) : BITMAP_BYTES;
        i = j;
    }
    uint8_t *words = NULL;
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t j = i;
        while (j < n && (uint16_t)(rows[j] >> 16) == (uint16_t)(rows[i] >> 16))
            j++;
        if (j - i <= ARRAY_MAX_CARDINALITY) {
            for (size_t k = i; rc == 0 && k < j; k++)
                rc = put_le16(out, (uint16_t)rows[k]) ? LOCH_ENOMEM : 0;
        } else {
            if (!words && !(words = malloc(BITMAP_BYTES)))
                rc = error_set(LOCH_ENOMEM, "out of memory");
            if (rc == 0) {
                memset(words, 0, BITMAP_BYTES);
                /* Little-endian u64 words: bit b of word w is byte 8w + b/8, bit b%8. */
                for (size_t k = i; k < j; k++) {
                    uint16_t v = (uint16_t)rows[k];
                    words[v >> 3] |= (uint8_t)(1u << (v & 7));
                }
                rc = buf_put(out, words, BITMAP_BYTES) ? LOCH_ENOMEM : 0;
            }
        }
        i = j;
    }
    free(words);
    return rc;
}

int dv_encode_bitmap(const dv_rows *rows, buf *out, size_t *size)
{
    size_t start = out->len, nmaps = 0;
    if (rows->count >= DV_MAX_ROWS)
        return error_set(LOCH_EINVALID, "a deletion vector of %zu rows is over the limit", rows->count);
    for (size_t i = 0; i < rows->count; i++) {
        if (i && rows->rows[i] <= rows->rows[i - 1])
            return error_set(LOCH_EINVALID, "deletion vector rows must be ascending and unique");
        nmaps += i == 0 || rows->rows[i] >> 32 != rows->rows[i - 1] >> 32;
    }
    int rc = put_le32(out, DV_MAGIC_PORTABLE) || put_le32(out, (uint32_t)nmaps) || put_le32(out, 0) ? LOCH_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < rows->count;) {
        size_t j = i;
        while (j < rows->count && rows->rows[j] >> 32 == rows->rows[i] >> 32)
            j++;
        rc = put_le32(out, (uint32_t)(rows->rows[i] >> 32)) ? LOCH_ENOMEM : 0;
        rc = rc ? rc : encode_roaring32(rows->rows + i, j - i, out);
        i = j;
    }
    *size = out->len - start;
    return rc;
}

int dv_file_append(buf *file, const dv_rows *rows, int64_t *offset, size_t *size)
{
    int rc = file->len ? 0 : buf_putc(file, DV_FILE_VERSION);
    size_t at = file->len;
    rc = rc ? rc : put_be32(file, 0); /* the size, known once encoded */
    rc = rc ? rc : dv_encode_bitmap(rows, file, size);
    if (rc < 0)
        return rc;
    uint8_t *p = (uint8_t *)file->data + at;
    p[0] = (uint8_t)(*size >> 24);
    p[1] = (uint8_t)(*size >> 16);
    p[2] = (uint8_t)(*size >> 8);
    p[3] = (uint8_t)*size;
    *offset = (int64_t)at;
    return put_be32(file, crc32_iso_hdlc(p + 4, *size)) ? LOCH_ENOMEM : 0;
}

int dv_z85_encode(const uint8_t *data, size_t n, buf *out)
{
    static const char Z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i += 4) {
        uint32_t v = 0;
        for (size_t j = i; j < i + 4; j++)
            v = v << 8 | (j < n ? data[j] : 0);
        char d[5];
        for (int k = 4; k >= 0; k--, v /= 85)
            d[k] = Z85[v % 85];
        rc = buf_put(out, d, 5);
    }
    return rc; /* a buf is always NUL-terminated */
}

int dv_encode_inline(const dv_rows *rows, buf *out, size_t *size)
{
    buf bits = BUF_INIT;
    int rc = dv_encode_bitmap(rows, &bits, size);
    rc = rc ? rc : dv_z85_encode((const uint8_t *)bits.data, bits.len, out);
    buf_free(&bits);
    return rc;
}

int dv_uuid_path(const char *uuid, char out[21])
{
    uint8_t u[16];
    size_t k = 0;
    for (size_t i = 0; uuid && uuid[i] && k < 32; i++) {
        char c = uuid[i];
        if (c == '-' && (i == 8 || i == 13 || i == 18 || i == 23))
            continue;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            break;
        u[k / 2] = (uint8_t)(k % 2 ? u[k / 2] | d : d << 4);
        k++;
    }
    if (k != 32 || strlen(uuid) != 36)
        return error_set(LOCH_EINVALID, "not a UUID: \"%s\"", uuid ? uuid : "");
    buf b = BUF_INIT;
    int rc = dv_z85_encode(u, sizeof(u), &b);
    if (rc == 0)
        memcpy(out, b.data, 21);
    buf_free(&b);
    return rc;
}
