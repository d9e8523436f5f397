/*
 * tests/unit/fuzz_replay.c - replays every fuzz target's seed corpus without libFuzzer,
 * so `make test` (and the sanitizer build) runs each parser over known-tricky inputs.
 *
 * Usage: fuzz_replay CORPUS_ROOT; CORPUS_ROOT/<target>/ holds the inputs of fuzz_<target>.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLVMFuzzerTestOneInput fuzz_dv_one
#include "../../fuzz/fuzz_dv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_log_one
#include "../../fuzz/fuzz_log.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_commit_one
#include "../../fuzz/fuzz_commit.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_sqlscan_one
#include "../../fuzz/fuzz_sqlscan.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_csvcheck_one
#include "../../fuzz/fuzz_csvcheck.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_checkpoint_one
#include "../../fuzz/fuzz_checkpoint.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_conf_one
#include "../../fuzz/fuzz_conf.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_embsync_one
#include "../../fuzz/fuzz_embsync.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_arrowipc_one
#include "../../fuzz/fuzz_arrowipc.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_http_one
#include "../../fuzz/fuzz_http.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_prune_one
#include "../../fuzz/fuzz_prune.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_jsonscan_one
#define columns jsonscan_columns
#include "../../fuzz/fuzz_jsonscan.c"
#undef columns
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_wal_one
#include "../../fuzz/fuzz_wal.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_ndjson_one
#include "../../fuzz/fuzz_ndjson.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_parquet_one
#include "../../fuzz/fuzz_parquet.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_hnsw_one
#include "../../fuzz/fuzz_hnsw.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_hnsw_delta_one
#include "../../fuzz/fuzz_hnsw_delta.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_chunk_one
#include "../../fuzz/fuzz_chunk.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_reply_one
#include "../../fuzz/fuzz_reply.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_provider_one
#include "../../fuzz/fuzz_provider.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_s3xml_one
#include "../../fuzz/fuzz_s3xml.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_awsconf_one
#include "../../fuzz/fuzz_awsconf.c"
#undef LLVMFuzzerTestOneInput

static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} targets[] = {{"dv", fuzz_dv_one}, {"log", fuzz_log_one}, {"commit", fuzz_commit_one}, {"sqlscan", fuzz_sqlscan_one},
               {"checkpoint", fuzz_checkpoint_one}, {"csvcheck", fuzz_csvcheck_one},
               {"jsonscan", fuzz_jsonscan_one}, {"arrowipc", fuzz_arrowipc_one},
               {"conf", fuzz_conf_one}, {"embsync", fuzz_embsync_one}, {"http", fuzz_http_one}, {"prune", fuzz_prune_one}, {"wal", fuzz_wal_one}, {"ndjson", fuzz_ndjson_one},
               {"parquet", fuzz_parquet_one}, {"hnsw", fuzz_hnsw_one}, {"hnsw_delta", fuzz_hnsw_delta_one}, {"chunk", fuzz_chunk_one},
               {"reply", fuzz_reply_one}, {"provider", fuzz_provider_one}, {"s3xml", fuzz_s3xml_one}, {"awsconf", fuzz_awsconf_one}};

static int replay_dir(const char *root, const char *name, int (*fn)(const uint8_t *, size_t))
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root, name);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *de;
    if (!d)
        return 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char file[8192];
        snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
        FILE *f = fopen(file, "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *data = malloc((size_t)len + 1);
        if (data && fread(data, 1, (size_t)len, f) == (size_t)len)
            fn(data, (size_t)len);
        free(data);
        fclose(f);
        n++;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    int total = 0, empty = 0;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        int n = replay_dir(root, targets[i].name, targets[i].fn);
        if (n == 0)
            empty++;
        total += n;
    }
    /* Reaching here means no input crashed a parser (sanitizers abort otherwise). */
    printf("fuzz corpus replay: %d inputs over %zu targets\n", total, sizeof(targets) / sizeof(targets[0]));
    return empty ? 1 : 0;
}
