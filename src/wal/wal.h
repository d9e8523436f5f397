/*
 * wal/wal.h - a table's write-ahead log: frames appended to segment files under one
 * directory, LSNs handed out densely, group commit, recovery, and truncation once a
 * flush has put the frames into the Delta table. The bytes are wal/frame.h's.
 *
 * Who may write. Any number of threads and processes append to one table's log. Two
 * locks (flock(2) on files in the directory, plus a mutex per wal object) order them:
 *
 *   append lock   held to take LSNs and write one frame at the log's end
 *   sync lock     held to make the log durable (one fdatasync for every frame written
 *                 so far: group commit), to start a segment, and to recover
 *
 * always taken sync before append. The log's positions live in a small shared file,
 * `state`, mapped by every writer: the current segment, the end of its last whole frame
 * and the next LSN (written to a spare slot, then switched to with one atomic store, so
 * a writer killed anywhere leaves the old positions or the new, never half), and the
 * durable LSN. A frame goes at the recorded end, after cutting whatever a killed writer
 * left beyond it, so a torn frame never sits between two whole ones.
 *
 * Durability. wal_sync(lsn) returns once every frame up to lsn is on disk: the first
 * waiter fdatasyncs the segment for all frames written by then; the others in its
 * process sleep on a futex until that round ends and look again (other processes'
 * waiters find their LSN durable when they get the sync lock). A new segment is fsynced, with its directory,
 * before any frame goes into it, and the old one is synced before the switch, so every
 * frame in an older segment is durable. A failed fdatasync is never retried (the
 * kernel may have dropped the pages it could not write): the log is marked failed, for
 * every process, until the next open recovers it from what is on disk.
 *
 * Recovery. When the state is missing, damaged, failed, or from before the machine
 * last started (its boot id differs), the next open reads every segment: the valid
 * prefix of frames stays, the rest is cut (and made durable), and a segment after a cut
 * is set aside as <name>.orphan. Every acknowledged frame was durable, so it is in that
 * prefix; what was never acknowledged may or may not be, but always whole.
 *
 * Exactly once for producers. A write may carry (producer id, sequence); the producers'
 * last sequences and LSNs live in the shared file `producers` (PRODUCERS entries), are
 * rebuilt by recovery from the flushes' records (wal_options.seeds) and the frames, and
 * a sequence at or below a producer's last is acknowledged again, not written.
 *
 * Fences. A change of the table that flushes the log and then commits (DDL, a replace)
 * fences the log between the two (wal_fence_begin): appends wait, so none lands where
 * neither the flush nor the changed table would account for it.
 *
 * LSNs are 1-based. A log opened with floor F (the table's flushed LSN + 1) never hands
 * out an LSN below F, even when its files were lost.
 */
#ifndef LOCH_WAL_WAL_H
#define LOCH_WAL_WAL_H

#include <stdint.h>

#include "formats/arrow.h"
#include "util/buf.h"

typedef struct wal wal;

/* A producer's last write as a flush recorded it (the table's txn actions): what
 * recovery starts from before it reads the log's own frames. */
typedef struct {
    const char *producer;
    uint64_t sequence, lsn;
} wal_seed;

typedef struct {
    const char *dir;                  /* the log's local directory */
    const char *table;                /* named in segment headers */
    const char *schema_tag;           /* the table schema's identity */
    const struct ArrowSchema *schema; /* the log's columns (frame.h); needed to create or rotate */
    uint64_t floor;                   /* lowest LSN to hand out (>= 1) */
    int64_t segment_bytes;            /* start a new segment past this; 0: 64 MiB */
    int create;                       /* 0: ENOTFOUND when the log does not exist */
    const wal_seed *seeds;            /* producers the table recorded (for recovery) */
    size_t nseeds;
    void (*fenced)(void *ctx);        /* test hook: an append found the log fenced, and waits */
    void *fenced_ctx;
} wal_options;

int wal_open(wal **out, const wal_options *o);
void wal_close(wal *w);

/* Fences the log in dir (which must exist) for a change of its table that flushes and
 * then commits: appends in any process wait until wal_fence_end (and then meet the
 * generation the change moved on). One fence at a time: a second waits. A holder that
 * dies releases it. */
typedef struct wal_fence wal_fence;
int wal_fence_begin(const char *dir, wal_fence **out);
void wal_fence_end(wal_fence *f);

/* Writes batches[0..n) (shaped like the schema) as one write: its frames go in
 * together, whole or not at all. Fills their __lsn columns with the LSNs taken,
 * *first..*last. Not durable until wal_sync. */
int wal_append(wal *w, const struct ArrowSchema *schema, struct ArrowArray *const *batches, size_t n,
               uint64_t *first, uint64_t *last);
/* The same for a write a producer numbered: when the producer's writes already reached
 * sequence, nothing is written, *duplicate is set and *first = *last = the LSN its last
 * write ended at. The check and the write are one step under the append lock, and the
 * producer's last (sequence, LSN) is switched in with the log's positions, so a retry
 * after any crash finds the write if and only if the log holds it. */
int wal_append_from(wal *w, const struct ArrowSchema *schema, struct ArrowArray *const *batches, size_t n,
                    const char *producer, uint64_t sequence, uint64_t *first, uint64_t *last, int *duplicate);
/* The same, refused (ECONFLICT, nothing written) unless the log's generation is still
 * generation (from wal_generation; 0: not checked): a writer that prepared its rows
 * for the table as it was does not write them into a log whose table changed. */
int wal_append_at(wal *w, const struct ArrowSchema *schema, struct ArrowArray *const *batches, size_t n,
                  const char *producer, uint64_t sequence, uint64_t generation, uint64_t *first, uint64_t *last,
                  int *duplicate);
/* The log's generation now (never 0). */
uint64_t wal_generation(const wal *w);
/* Moves the generation of the log in dir on (nothing when there is none): after a commit
 * that changed the table's schema or identity, so writers prepared before it write again. */
int wal_bump_dir(const char *dir);
/* Removes the log in dir under both its locks: a writer waiting for them, or arriving
 * later through a handle opened before, finds it removed (ECONFLICT) and writes nothing. */
int wal_remove(const char *dir);
/* When the oldest write after LSN `after` was written (ms since the epoch), or 0 when
 * the log holds none: what an age-based flush goes by. */
int wal_oldest(wal *w, uint64_t after, int64_t *time_ms);
/* Every producer's last (sequence, LSN), for a flush to record in its commit. */
int wal_producers(wal *w, int (*each)(void *ctx, const char *producer, uint64_t sequence, uint64_t lsn), void *ctx);
/* Whether the log is marked failed (a failed fdatasync, or damage a read found): the
 * next wal_open recovers it. */
int wal_failed(const wal *w);
/* The last durable LSN, as all writers know it. */
uint64_t wal_durable(const wal *w);
/* Returns once every LSN up to lsn is durable (group commit). */
int wal_sync(wal *w, uint64_t lsn);

typedef struct {
    uint64_t assigned;      /* last LSN handed out (whole frames) */
    uint64_t durable;       /* last durable LSN: every one up to it */
    uint64_t first;         /* first LSN still in the log's files */
    int64_t bytes;          /* size of its segments */
    size_t segments;
    char schema_tag[64];    /* the current segment's */
} wal_status;
int wal_stat(wal *w, wal_status *st);
/* The current segment's schema tag alone: wal_stat without listing the segments. */
int wal_tag(wal *w, char out[64]);

/* The frames holding LSNs from < lsn <= to, as one Arrow IPC stream (the segment's
 * header, then the frames) appended to out; *rows their rows. Frames are checked as
 * they are read. ECONFLICT when LSN from+1 is no longer in the log (a flush truncated
 * it: read the table again). */
int wal_read(wal *w, uint64_t from, uint64_t to, buf *out, int64_t *rows);
/* Starts a new segment (with the schema and tag given) unless the current one is
 * empty and of that tag; *upto is the last LSN in older segments. */
int wal_rotate(wal *w, const struct ArrowSchema *schema, const char *schema_tag, uint64_t *upto);
/* The flush lock (a third flock, `flush`): one flush of the log at a time, across
 * processes. */
int wal_flush_lock(wal *w);
void wal_flush_unlock(wal *w);
/* Removes the segments (never the current one) whose frames all have LSN <= upto. */
int wal_truncate(wal *w, uint64_t upto);

#endif
