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

/* Appends the encapsulated Schema message for a struct schema of the columns. */
int arrow_write_schema(buf *out, const struct ArrowSchema *schema);
/* Appends one RecordBatch message: a struct array of the columns, laid out as schema
 * says (offsets 0; buffers are copied into the message body). */
int arrow_write_batch(buf *out, const struct ArrowSchema *schema, const struct ArrowArray *batch);
/* Appends the end-of-stream marker. */
int arrow_write_eos(buf *out);

#endif
