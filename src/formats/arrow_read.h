/*
 * formats/arrow_read.h - reading Arrow IPC (the file format, "ARROW1"..."ARROW1", also called
 * Feather v2, and the stream format) into Arrow C Data Interface arrays, without
 * copying: the arrays' buffers point into the bytes the caller holds (a mapped file).
 *
 * All input is hostile. The flatbuffer metadata is read with a bounds check on every
 * access, and every batch is validated before an array is handed out: buffer ranges
 * inside the message body, buffers long enough for the lengths they claim, offsets that
 * start at or above zero, never decrease and stay inside their data, child arrays long
 * enough for their parents, UTF-8 text valid string by string. A consumer (the SQL
 * engine) trusts Arrow arrays completely, so nothing unchecked may reach it.
 *
 * Not read (refused with a message naming the column or the feature): dictionary
 * encoding, compressed bodies (LZ4/ZSTD), big-endian data, unions, intervals, half
 * floats, run-end encoding and the view types.
 */
#ifndef LOCH_FORMATS_ARROW_READ_H
#define LOCH_FORMATS_ARROW_READ_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* The C Data Interface, as the Arrow specification defines it (ABI-stable). */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4
struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};
struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};
#endif
#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE
struct ArrowArrayStream {
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
    const char *(*get_last_error)(struct ArrowArrayStream *);
    void (*release)(struct ArrowArrayStream *);
    void *private_data;
};
#endif

typedef struct arrowipc arrowipc;

/* Reads the schema of data[0..size) (file or stream format). The bytes must stay
 * valid until arrowipc_free and until every array handed out is released. */
int arrowipc_open(arrowipc **out, const unsigned char *data, size_t size);
/* The number of top-level columns and rows read so far. */
size_t arrowipc_columns(const arrowipc *r);
int64_t arrowipc_rows(const arrowipc *r);
/* Fills a schema (a struct of the columns); release it with out->release. */
int arrowipc_schema(arrowipc *r, struct ArrowSchema *out);
/* The next record batch as a struct array of the columns; 0 with out->release NULL
 * at the end; LOCH_ECORRUPT or LOCH_EUNSUPPORTED (and a message) on bad input. */
int arrowipc_next(arrowipc *r, struct ArrowArray *out);
void arrowipc_free(arrowipc *r);

/* An ArrowArrayStream over the reader, which it takes over. When the stream and every
 * array it gave out are released, the reader is freed and done(ctx) is called (the
 * caller unmaps the bytes there). */
int arrowipc_stream(arrowipc *r, struct ArrowArrayStream *out, void (*done)(void *ctx), void *ctx);

/* ---- writing the stream format ---- */
/* Appends the encapsulated Schema message for a struct schema of the columns. */
int arrowipc_write_schema(buf *out, const struct ArrowSchema *schema);
/* Appends one RecordBatch message: a struct array of the columns, laid out as schema
 * says (offsets 0; buffers are copied into the message body). */
int arrowipc_write_batch(buf *out, const struct ArrowSchema *schema, const struct ArrowArray *batch);
/* Appends the end-of-stream marker. */
int arrowipc_write_eos(buf *out);

#endif
