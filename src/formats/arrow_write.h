/*
 * formats/arrow_write.h - writing Arrow IPC in the stream format: the Schema message,
 * then one RecordBatch message per batch, then the end-of-stream marker. The HTTP API
 * streams query results this way (ops/sql.c); the batches come from the SQL engine as
 * C Data Interface arrays (formats/arrow.h) and are copied into the message bodies.
 *
 * The writer trusts its input (the engine's arrays), unlike the reader; it refuses only
 * what it cannot express: dictionary-encoded columns, arrays with offsets, nesting
 * deeper than 32 and types without an IPC form here.
 */
#ifndef LOCH_FORMATS_ARROW_WRITE_H
#define LOCH_FORMATS_ARROW_WRITE_H

#include "formats/arrow.h"
#include "util/buf.h"

/* A custom_metadata entry of a message or schema. The writer sets `at` to where the
 * value's bytes landed in the output, so a caller can fill in a value it could only
 * compute once the message was whole (the write-ahead log's checksum). */
typedef struct {
    const char *key, *value;
    size_t at;
} arrow_kv;

/* Appends the encapsulated Schema message for a struct schema of the columns. */
int arrow_write_schema(buf *out, const struct ArrowSchema *schema);
/* Appends one RecordBatch message: a struct array of the columns, laid out as schema
 * says (offsets 0; buffers are copied into the message body). */
int arrow_write_batch(buf *out, const struct ArrowSchema *schema, const struct ArrowArray *batch);
/* The same with custom_metadata: the Schema's own (schema_kv, which readers such as
 * pyarrow show as the schema's metadata) and the Message's (msg_kv). */
int arrow_write_schema_kv(buf *out, const struct ArrowSchema *schema, arrow_kv *schema_kv, size_t nschema,
                          arrow_kv *msg_kv, size_t nmsg);
/* A RecordBatch message with the Message's custom_metadata kv[0..n). */
int arrow_write_batch_kv(buf *out, const struct ArrowSchema *schema, const struct ArrowArray *batch, arrow_kv *kv,
                         size_t n);
/* Appends the end-of-stream marker. */
int arrow_write_eos(buf *out);

#endif
