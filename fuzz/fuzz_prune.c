/*
 * fuzz/fuzz_prune.c - libFuzzer target for data skipping (core/prune.c): the input is
 * split at its first NUL into a WHERE clause and a file's stats JSON; the clause is
 * judged against a two-file snapshot (one file with those stats, one with none).
 * Besides "no crash, no leak, no overrun" it checks the promise that a file without
 * stats is never skipped. Helper names carry a prune_fuzz_ prefix (replayed together
 * with the other targets by tests/unit/fuzz_replay.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/prune.h"
#include "core/snapshot.h"
#include "util/buf.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char PRUNE_FUZZ_META[] =
    "{\"metaData\":{\"id\":\"t\",\"schemaString\":\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":["
    "{\\\"name\\\":\\\"id\\\",\\\"type\\\":\\\"long\\\",\\\"nullable\\\":true,\\\"metadata\\\":{}},"
    "{\\\"name\\\":\\\"s\\\",\\\"type\\\":\\\"string\\\",\\\"nullable\\\":true,\\\"metadata\\\":{}}]}\","
    "\"partitionColumns\":[],\"configuration\":{}}}";

static int prune_fuzz_apply(snapshot *s, const char *line)
{
    log_action a;
    int rc = log_parse_action(&s->arena, line, strlen(line), &a);
    return rc ? rc : snapshot_apply(s, &a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t wlen = nul ? (size_t)(nul - data) : size;
    buf stats = BUF_INIT, add = BUF_INIT;
    snapshot s;
    bool skip[2] = {false, false};
    snapshot_init(&s);
    if (nul)
        buf_put(&stats, nul + 1, size - wlen - 1);
    int rc = buf_puts(&add, "{\"add\":{\"path\":\"a\",\"partitionValues\":{},\"size\":1,\"modificationTime\":0,"
                            "\"dataChange\":true,\"stats\":");
    rc = rc || buf_put_json_strn(&add, stats.data ? stats.data : "", stats.len) || buf_puts(&add, "}}");
    rc = rc || prune_fuzz_apply(&s, "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}") ||
         prune_fuzz_apply(&s, PRUNE_FUZZ_META) || prune_fuzz_apply(&s, add.data) ||
         prune_fuzz_apply(&s, "{\"add\":{\"path\":\"b\",\"partitionValues\":{},\"size\":1,\"modificationTime\":0,"
                              "\"dataChange\":true}}") ||
         snapshot_finish(&s, 0);
    if (rc == 0 && s.file_count == 2) {
        int n = prune_files(&s, (const char *)data, wlen, "t", wlen % 2 == 0, skip);
        for (size_t i = 0; i < 2; i++)
            if (skip[i] && !s.files[i].stats)
                abort(); /* a file without stats is never judged */
        if (n > 2)
            abort();
    }
    error_clear();
    snapshot_free(&s);
    buf_free(&stats);
    buf_free(&add);
    return 0;
}
