/*
 * core/dv.h - reading Delta Lake deletion vectors (DVs) into sorted row lists.
 *
 * A DV names the rows of one data file that are deleted, by 0-based physical row number.
 * Delta stores it as a Roaring bitmap array, either inline in the log (Z85 text, storage
 * type "i") or inside a DV file (types "u" and "p"). These functions turn either form into
 * a plain sorted array; they never touch storage: the caller reads the DV file and passes
 * its bytes. All input is treated as hostile: malformed bytes give LOCH_ECORRUPT and a
 * message naming the byte offset, never a crash, an out-of-bounds read or a huge
 * allocation (at most DV_MAX_ROWS rows are ever produced).
 */
#ifndef LOCH_CORE_DV_H
#define LOCH_CORE_DV_H

#include <stddef.h>
#include <stdint.h>

/* A DV claiming more rows than this is refused as corrupt (2^31 rows = 16 GiB as dv_rows). */
#define DV_MAX_ROWS (UINT64_C(1) << 31)

/* A sorted, de-duplicated set of 64-bit row indexes (0-based physical row numbers). */
typedef struct {
    uint64_t *rows; /* owned, malloc'd; NULL when count is 0 */
    size_t count;
} dv_rows;

/* Frees r->rows and resets *r to empty; safe on an empty or already freed set. */
void dv_rows_free(dv_rows *r);

/*
 * Z85 (ZeroMQ RFC 32) decode of `text` (text_len a multiple of 5) into out, which must
 * hold text_len / 5 * 4 bytes. Returns the bytes written (also stored in *out_len when
 * out_len is not NULL), LOCH_ECORRUPT for bad text, LOCH_EINVALID when out_cap is short.
 */
int dv_z85_decode(const char *text, size_t text_len, uint8_t *out, size_t out_cap,
                  size_t *out_len);

/*
 * Decodes one serialized bitmap array of exactly `size` bytes: a 4-byte magic and the
 * bitmaps (see dv.c for the layouts). Accepts the portable format Delta writes (magic
 * 1681511377 little-endian) and the "native" one (magic 1681511376, either byte order;
 * the Delta protocol's inline example uses it big-endian). On success *out holds the rows
 * and the caller frees them with dv_rows_free(); on failure *out is empty.
 */
int dv_decode_bitmap(const uint8_t *data, size_t size, dv_rows *out);

/*
 * Inline DV (storage type "i"): z85 is the NUL-terminated pathOrInlineDv text, whose
 * decoding is the serialized bitmap array padded to a multiple of 4; size_in_bytes is the
 * descriptor's sizeInBytes, the unpadded length.
 */
int dv_decode_inline(const char *z85, size_t size_in_bytes, dv_rows *out);

/*
 * A DV stored in a file: `file` is the whole DV file (byte 0 = format version 1); offset
 * (the descriptor's offset, >= 1) points at a big-endian u32 size, followed by that many
 * bytes of serialized bitmap array and a big-endian CRC-32 (zlib's) of those bytes. The
 * size must equal size_in_bytes (sizeInBytes). A version other than 1 gives
 * LOCH_EUNSUPPORTED; any other mismatch LOCH_ECORRUPT.
 */
int dv_decode_file(const uint8_t *file, size_t file_len, int64_t offset, size_t size_in_bytes,
                   dv_rows *out);

/*
 * Storage type "u": path_or_inline is <random prefix><20 chars Z85 of the 16 UUID bytes>.
 * Writes "<prefix>/deletion_vector_<uuid>.bin" (just "deletion_vector_<uuid>.bin" when
 * the prefix is empty; uuid lowercase with dashes), relative to the table root, into out
 * (cap bytes, NUL included). Returns 0, LOCH_ECORRUPT for a bad descriptor (including a
 * prefix that could leave the table directory: "/", "\", ".", ".." or control bytes) or
 * LOCH_EINVALID when cap is too small.
 */
int dv_relative_path(const char *path_or_inline, char *out, size_t cap);

#endif
