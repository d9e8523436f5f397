/*
 * core/dv.h - Delta Lake deletion vectors (DVs): decoding them into sorted row lists,
 * and encoding row lists into them.
 *
 * A DV names the rows of one data file that are deleted, by 0-based physical row number.
 * Delta stores it as a Roaring bitmap array, either inline in the log (Z85 text, storage
 * type "i") or inside a DV file (types "u" and "p"). These functions turn either form into
 * a plain sorted array; they never touch storage: the caller reads the DV file and passes
 * its bytes. All input is treated as hostile: malformed bytes give LOCH_ECORRUPT and a
 * message naming the byte offset, never a crash, an out-of-bounds read or a huge
 * allocation (at most DV_MAX_ROWS rows are ever produced).
 *
 * The encoder writes what Delta writers write: the portable bitmap array (array
 * containers up to 4096 values, bitmap containers above, no run containers), framed in
 * a DV file (version byte, then size | bitmap | CRC-32 per DV) or Z85 text for an
 * inline DV. Whatever it encodes, the decoder above gives back exactly.
 */
#ifndef LOCH_CORE_DV_H
#define LOCH_CORE_DV_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* A DV claiming more rows than this is refused as corrupt (2^31 rows = 16 GiB as dv_rows). */
#define DV_MAX_ROWS (UINT64_C(1) << 31)

/* A sorted, de-duplicated set of 64-bit row indexes (0-based physical row numbers). */
typedef struct dv_rows {
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

/* ---- encoding -------------------------------------------------------------------- */

/* out = a union b (both sorted and unique; out may not alias them). */
int dv_rows_union(const dv_rows *a, const dv_rows *b, dv_rows *out);

/* Appends the portable bitmap array of rows (sorted, unique, fewer than DV_MAX_ROWS) to
 * out; *size gets its length in bytes (the descriptor's sizeInBytes). */
int dv_encode_bitmap(const dv_rows *rows, buf *out, size_t *size);

/* Appends one DV to a DV file being built in file: the version byte first when file is
 * empty, then the framed bitmap of rows. *offset gets the descriptor's offset and *size
 * its sizeInBytes. */
int dv_file_append(buf *file, const dv_rows *rows, int64_t *offset, size_t *size);

/* Z85 text of n bytes (padded with zeros to a multiple of 4), NUL-terminated, to out. */
int dv_z85_encode(const uint8_t *data, size_t n, buf *out);

/* The inline form (storage type "i") of rows: pathOrInlineDv to out, sizeInBytes to *size. */
int dv_encode_inline(const dv_rows *rows, buf *out, size_t *size);

/* The pathOrInlineDv of a DV file (storage type "u", no prefix) named
 * deletion_vector_<uuid>.bin, from the UUID's text form (36 characters with dashes):
 * 20 characters of Z85 plus the NUL into out. EINVALID for a malformed UUID. */
int dv_uuid_path(const char *uuid, char out[21]);

#endif
