/*
 * wal/frame.h - the bytes of the write-ahead log, with no I/O: a segment is an Arrow IPC
 * stream (pyarrow and any Arrow reader open it as it is), and each of its messages is a
 * frame the log can check on its own.
 *
 *   segment  <first LSN, 20 digits>.arrows: a Schema message, then RecordBatch messages,
 *            never an end-of-stream marker (the log stays open for appends)
 *   header   the Schema message. Its schema metadata names the table
 *            (loch.wal.table), the table schema's identity (loch.wal.schema), the
 *            segment's first LSN (loch.wal.first_lsn) and the format (loch.wal = "1").
 *   frame    one RecordBatch message per write. Columns: the table's, then __lsn
 *            (int64, one LSN per row, dense and increasing), __change_type (utf8:
 *            insert, upsert or delete) and __timestamp (when it was written, UTC).
 *            Message metadata: loch.wal.lsn = "<first>-<last>", loch.wal.crc and
 *            loch.wal.time (when it was written, ms since the epoch).
 *   write    one or more frames, each but the last marked by a '+' after its LSNs
 *            ("<first>-<last>+"): a write of several batches is whole or absent, as
 *            the log is read and recovered only up to the end of a write. A write a
 *            producer numbered carries loch.wal.producer = "<sequence> <producer id>"
 *            on its last frame (wal.h: exactly once for producers).
 *
 * loch.wal.crc is the CRC-32C (8 hex digits) of the whole message (continuation marker
 * to the end of the body) computed with those 8 digits as "00000000". Arrow IPC has no
 * checksum of its own, and a crash can leave a tail that is torn, zero-filled or garbage
 * whose sizes still look plausible; a frame whose checksum, bounds or LSNs do not hold
 * is the end of the log, never data. LSNs continue across frames and segments: a
 * frame's first LSN is the previous frame's last + 1, and a segment's first frame starts
 * at the LSN its name and header give.
 */
#ifndef LOCH_WAL_FRAME_H
#define LOCH_WAL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "formats/arrow.h"
#include "util/buf.h"

/* The log's own columns, after the table's. */
#define WAL_COL_LSN "__lsn"
#define WAL_COL_CHANGE "__change_type"
#define WAL_COL_TIME "__timestamp"

/* Appends a segment header for schema (the log's columns) to out. */
int wal_frame_header(buf *out, const struct ArrowSchema *schema, const char *table, const char *schema_tag,
                     uint64_t first_lsn);
/* Appends one frame of batch, whose rows hold LSNs first..first+length-1 (the caller
 * has put them in its __lsn column). */
int wal_frame_batch(buf *out, const struct ArrowSchema *schema, const struct ArrowArray *batch, uint64_t first,
                    int more, const char *producer, uint64_t sequence);
/* The same, saying when it was written (loch.wal.time, ms since the epoch). */
int wal_frame_batch_at(buf *out, const struct ArrowSchema *schema, const struct ArrowArray *batch, uint64_t first,
                       int more, const char *producer, uint64_t sequence, int64_t time_ms);

/* What a header says. */
typedef struct {
    char table[256];
    char schema_tag[64];
    uint64_t first_lsn;
    size_t length;          /* the header's bytes */
} wal_header;
/* Checks the header at the start of data[0..size): 0, or LOCH_ECORRUPT with the reason. */
int wal_frame_read_header(const unsigned char *data, size_t size, wal_header *out);
/* What a frame says about itself. */
typedef struct {
    size_t length;          /* its bytes */
    uint64_t first, last;   /* its LSNs */
    int more;               /* more frames of its write follow */
    int64_t time_ms;        /* when it was written (loch.wal.time), 0 when it does not say */
    const char *producer;   /* the producer that numbered its write (not NUL-terminated), or NULL */
    size_t producer_len;
    uint64_t sequence;
} wal_frame_info;
/* Checks the frame at the start of data[0..size): 0 and what it says, or LOCH_ECORRUPT
 * (torn, garbage, a bad checksum). */
int wal_frame_read(const unsigned char *data, size_t size, wal_frame_info *out);

/* The valid prefix of a segment's bytes: its header, then the whole writes whose frames
 * continue from its first LSN, each checked. *end is where the prefix stops (the rest is a torn or
 * damaged tail), *last its last LSN (first_lsn - 1 when it has no frame).
 * LOCH_ECORRUPT when the header itself is not valid. */
int wal_frame_scan(const unsigned char *data, size_t size, wal_header *h, size_t *end, uint64_t *last);
/* The longest producer id (bytes). */
#define WAL_PRODUCER_MAX 120

#endif
