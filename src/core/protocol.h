/*
 * core/protocol.h - which protocol a table needs: its versions and table features, from
 * the features the old protocol supports and those its metadata now requires.
 *
 * Delta names each capability a table may use (appendOnly, columnMapping,
 * deletionVectors, timestampNtz, ...). Before table features, a pair of versions implied
 * a fixed set: writer 2 = appendOnly + invariants, 3 adds checkConstraints, 4
 * changeDataFeed + generatedColumns, 5 columnMapping (with reader 2), 6 identityColumns.
 * Features newer than that exist only as names listed under reader version 3 /
 * writer version 7 (the Delta protocol, "Table Features"; core/log.h gives its address).
 *
 * protocol_choose's rules:
 *   - a new table starts at (1,2), the oldest pair every Delta reader accepts, and
 *     lists nothing it does not need;
 *   - a protocol never loses a feature (no downgrade: a replace keeps the old table's);
 *   - the result stays on legacy versions while every feature has one, else moves to
 *     (3,7) - or (1,7)/(2,7) when no reader-writer feature is involved - listing every
 *     feature, including those the old versions implied (dropping them would release
 *     other writers from rules the table relies on);
 *   - names it does not know, listed by another writer, are kept as they are.
 * Which metadata requires which feature (protocol_required): a TIMESTAMP column without
 * time zone -> timestampNtz; a NOT NULL column -> invariants (delta-spark counts a
 * non-nullable field as an invariant and refuses a (3,7) table that does not list it); delta.appendOnly=true -> appendOnly;
 * delta.enableChangeDataFeed=true -> changeDataFeed; delta.columnMapping.mode name|id ->
 * columnMapping; delta.enableDeletionVectors=true -> deletionVectors;
 * delta.checkpointPolicy=v2 -> v2Checkpoint; delta.enableInCommitTimestamps=true ->
 * inCommitTimestamp; delta.enableTypeWidening=true -> typeWidening; delta.constraints.* ->
 * checkConstraints. Whether loch can write such a table is snapshot_check_writable's
 * question, not this file's.
 */
#ifndef LOCH_CORE_PROTOCOL_H
#define LOCH_CORE_PROTOCOL_H

#include <stdbool.h>

#include "core/log.h"
#include "util/arena.h"

#define PROTOCOL_MAX_FEATURES 64

/* What the columns hold, for protocol_required's rules (bits). */
enum { PROTOCOL_NTZ = 1, PROTOCOL_NOT_NULL = 2 };
/* The features metadata requires, by name (static strings), into out[cap]. */
int protocol_required(const log_kv *properties, unsigned columns, const char **out, size_t cap, size_t *n);
/* The features a protocol supports: listed ones, or those its legacy versions imply. */
int protocol_supported(const log_protocol *p, const char **out, size_t cap, size_t *n);
/* The protocol for a table whose protocol is current (NULL for a new table) and whose
 * metadata has these properties and column kinds. Lists point into a (or at static
 * names). *changed is false when current already is that protocol. */
int protocol_choose(arena *a, const log_protocol *current, const log_kv *properties, unsigned columns,
                    log_protocol *out, bool *changed);

#endif
