/*
 * fuzz/fuzz_commit.c - libFuzzer target for commits as data (core/commit.h): the bytes
 * are a commit file. What parses must render, and what renders must parse back to the
 * same actions (a commit loch rewrites after a lost race is the one it built); the
 * conflict check of the commit against itself as a winner must terminate cleanly.
 *
 *   make fuzz && build-fuzz/fuzz_commit -max_total_time=60 <copy of tests/fuzz/corpus/commit>
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/commit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    commit c, back;
    buf text = BUF_INIT;
    commit_init(&c, NULL, 3);
    commit_init(&back, NULL, -1);
    if (commit_parse(&c, (const char *)data, size) == 0) {
        /* read the whole table and every file it names: every rule gets work */
        commit_read_whole_table(&c);
        for (size_t i = 0; i < c.count && i < 8; i++)
            if (c.actions[i].kind == LOG_ADD || c.actions[i].kind == LOG_REMOVE)
                commit_read_file(&c, c.actions[i].u.file.path);
            else if (c.actions[i].kind == LOG_TXN)
                commit_read_app_id(&c, c.actions[i].u.txn.app_id);
        const commit *winners[] = {&c, &c};
        conflict why;
        conflict_check(&c, winners, 2, &why);
        if (commit_render(&c, 1, &text) == 0) {
            if (commit_parse(&back, text.data, text.len) != 0 || back.count != c.count)
                abort();
            for (size_t i = 0; i < c.count; i++)
                if (back.actions[i].kind != c.actions[i].kind)
                    abort();
        }
    }
    commit_free(&c);
    commit_free(&back);
    buf_free(&text);
    return 0;
}
