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

#include "formats/arrow.h"

typedef struct arrow_reader arrow_reader;

/* Reads the schema of data[0..size) (file or stream format). The bytes must stay
 * valid until arrow_read_free and until every array handed out is released. */
int arrow_read_open(arrow_reader **out, const unsigned char *data, size_t size);
/* The number of top-level columns and rows read so far. */
size_t arrow_read_columns(const arrow_reader *r);
int64_t arrow_read_rows(const arrow_reader *r);
/* Fills a schema (a struct of the columns); release it with out->release. */
int arrow_read_schema(arrow_reader *r, struct ArrowSchema *out);
/* The next record batch as a struct array of the columns; 0 with out->release NULL
 * at the end; LOCH_ECORRUPT or LOCH_EUNSUPPORTED (and a message) on bad input. */
int arrow_read_next(arrow_reader *r, struct ArrowArray *out);
void arrow_read_free(arrow_reader *r);

/* An ArrowArrayStream over the reader, which it takes over. When the stream and every
 * array it gave out are released, the reader is freed and done(ctx) is called (the
 * caller unmaps the bytes there). */
int arrow_read_stream(arrow_reader *r, struct ArrowArrayStream *out, void (*done)(void *ctx), void *ctx);

/* One encapsulated message at the start of data[0..size), for a layer that frames
 * messages itself (the write-ahead log checks each against its checksum before the
 * stream reader sees it): its type (1 Schema, 3 RecordBatch; 0 with length 8 for the
 * end-of-stream marker), its whole length with metadata and body, and its
 * custom_metadata entries (the Message's, then for a Schema the Schema's). Values are
 * located by their offset from data, so a caller may check a checksum written there.
 * LOCH_ECORRUPT for bytes that are not a whole message (too short, out of bounds). */
#define ARROW_MESSAGE_KV 8
typedef struct {
    int type;
    size_t length, metadata_len, body_len;
    int64_t rows;             /* a RecordBatch's length */
    size_t nkv, nmessage_kv;  /* kv[0..nmessage_kv): the Message's; the rest: the Schema's */
    struct {
        const char *key;
        size_t key_len;
        size_t value_at, value_len;
    } kv[ARROW_MESSAGE_KV];
} arrow_message;
int arrow_read_message(const unsigned char *data, size_t size, arrow_message *m);
/* The value of key in the Message's metadata (schema 0) or the Schema's (1): 1 and
 * the value and its length (not NUL-terminated) when present, else 0. */
int arrow_message_value(const arrow_message *m, const unsigned char *data, const char *key, int schema,
                        const char **value, size_t *len);

#endif
