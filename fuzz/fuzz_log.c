/*
 * fuzz/fuzz_log.c - libFuzzer target for the Delta log path: the bytes are one commit
 * file (NDJSON). Each line goes through the JSON parser and the action reader, the
 * actions are replayed into a snapshot, and the snapshot is finished (protocol check,
 * schema parse). Writing the parsed actions back out must not fail either.
 *
 *   make fuzz && build-fuzz/fuzz_log -max_total_time=60 <copy of tests/fuzz/corpus/log>
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void log_fuzz_rewrite(const log_action *act)
{
    buf b = BUF_INIT;
    switch (act->kind) {
    case LOG_ADD: log_write_add(&b, &act->u.file); break;
    case LOG_REMOVE: log_write_remove(&b, &act->u.file); break;
    case LOG_PROTOCOL: log_write_protocol(&b, &act->u.protocol); break;
    case LOG_METADATA: log_write_metadata(&b, &act->u.metadata); break;
    case LOG_TXN: log_write_txn(&b, &act->u.txn); break;
    default: break;
    }
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snapshot s;
    snapshot_init(&s);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        log_action act;
        if (log_parse_action(&s.arena, p, (size_t)(e - p), &act) == 0) {
            log_fuzz_rewrite(&act);
            snapshot_apply(&s, &act);
        }
        p = e + 1;
    }
    snapshot_finish(&s, 0);
    snapshot_free(&s);
    return 0;
}
