/*
 * formats/snappy.h - decoding raw Snappy blocks (the compression most Parquet writers
 * use: loch's own files, Spark's and delta-rs's by default), for the Parquet point
 * reader (formats/parquet.h).
 *
 * A block is the uncompressed length (a varint) and then elements: literals (bytes
 * copied from the input) and copies (a length and a distance back into the output
 * already produced). Input is hostile: a copy reaching before the start of the output
 * or past its end, a literal past the input's end, a length that disagrees with the
 * header, all give LOCH_ECORRUPT with the input offset; nothing is written outside out.
 *
 * Decoding may stop early: a reader that needs only the first `want` bytes of a page
 * (a fixed-width value near its start) does not pay for the rest; and it may start
 * late (snappy_decode_at), for one value in the middle of a page.
 */
#ifndef LOCH_FORMATS_SNAPPY_H
#define LOCH_FORMATS_SNAPPY_H

#include <stddef.h>
#include <stdint.h>

struct snappy_mark;

/* The uncompressed length the block at in[0..n) declares; LOCH_ECORRUPT if there is none. */
int snappy_length(const uint8_t *in, size_t n, uint64_t *len);

/* Decodes in[0..n) into out[0..cap), which must hold the declared length, stopping once
 * at least want bytes are out (want >= the declared length: all of it, which must then
 * end exactly at the input's end). *produced says how many bytes are valid. */
int snappy_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t want, size_t *produced);

/* Makes out[from..to) valid without decoding what comes before it: elements wholly
 * before the 64 KiB block holding `from` are only walked over (Snappy compressors work
 * in 64 KiB blocks whose copies stay inside them), then decoding starts at the element
 * that reaches that block, *lo its output offset (<= from). in[0..n) are the bytes at
 * [base, base + n) of a block of block_len bytes declaring `total` bytes out: the whole
 * block (base 0, n = block_len), or, given marks, a part from the mark of `from` on.
 * Returns 1, not an error, when that is not enough after all (a copy reaching before
 * *lo, an element past the bytes given): the caller decodes from the start instead. */
int snappy_decode_at(const uint8_t *in, size_t n, size_t base, size_t block_len, uint8_t *out, size_t total,
                     size_t from, size_t to, const struct snappy_mark *marks, size_t nmarks, size_t *lo);

/* Where decoding may start: marks[k] is the element whose output covers byte
 * k * SNAPPY_MARK_EVERY (its input offset and output offset). A reader that walks a
 * block once keeps them, and snappy_decode_at given them goes straight to the 64 KiB
 * block it needs (walking elements is most of the cost of reaching the middle of a
 * block of small values). At most cap marks are written; *count says how many. */
#define SNAPPY_MARK_EVERY 65536
typedef struct snappy_mark {
    size_t in, out;
} snappy_mark;
int snappy_marks(const uint8_t *in, size_t n, snappy_mark *marks, size_t cap, size_t *count);

#endif
