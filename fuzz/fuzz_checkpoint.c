/*
 * fuzz/fuzz_checkpoint.c - libFuzzer target for checkpoint reading: the bytes become a
 * table's only checkpoint (_delta_log/<0>.checkpoint.parquet, named by _last_checkpoint),
 * and the table is loaded the way every query loads it (ops/txlog.c: the SQL engine
 * reads the Parquet file, loch turns its rows into actions and replays them), then
 * its scan is planned. Any outcome but a crash, a leak or a sanitizer report is fine.
 *
 *   make fuzz && build-fuzz/fuzz_checkpoint -max_total_time=60 <copy of tests/fuzz/corpus/checkpoint>
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static loch_lake *checkpoint_fuzz_lake;
static char checkpoint_fuzz_dir[64];

static int remove_one(const char *path, const struct stat *st, int kind, struct FTW *ftw)
{
    (void)st, (void)kind, (void)ftw;
    remove(path); /* best effort: what cannot go stays */
    return 0;
}

/* the whole lake goes at exit (its catalog too), so replays leave nothing in /tmp */
static void checkpoint_fuzz_done(void)
{
    loch_lake_free(checkpoint_fuzz_lake);
    checkpoint_fuzz_lake = NULL;
    nftw(checkpoint_fuzz_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!checkpoint_fuzz_lake) {
        loch_lake_options o = LOCH_LAKE_OPTIONS_INIT;
        snprintf(checkpoint_fuzz_dir, sizeof(checkpoint_fuzz_dir), "/tmp/loch-fuzz-checkpoint-%d", (int)getpid());
        if (loch_lake_open(&checkpoint_fuzz_lake, checkpoint_fuzz_dir, &o) < 0)
            abort();
        atexit(checkpoint_fuzz_done);
        static const char last[] = "{\"version\":0,\"size\":1}";
        checkpoint_fuzz_lake->st->put(checkpoint_fuzz_lake->st, "t/_delta_log/_last_checkpoint", last,
                                      sizeof(last) - 1);
    }
    loch_lake *lake = checkpoint_fuzz_lake;
    lake->st->put(lake->st, "t/_delta_log/00000000000000000000.checkpoint.parquet", data, size);
    txlog_forget(lake, NULL);
    snapshot *s = NULL;
    txlog_at at = {-1, 0, 0};
    if (txlog_load(lake, "t", &at, &s) == 0) {
        buf sql = BUF_INIT;
        scan_sql(lake, "t", s, &sql);
        buf_free(&sql);
        txlog_snapshot_free(s);
    }
    return 0;
}
