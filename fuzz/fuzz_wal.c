/*
 * fuzz/fuzz_wal.c - libFuzzer target for the write-ahead log's reader (wal/frame.c): the
 * bytes are a segment as recovery finds it after a crash. The valid prefix the scan
 * accepts must then read as an Arrow stream whose rows match the LSNs its frames claim
 * (aborts otherwise), so a frame that passes its checksum but lies is found too.
 *
 *   make fuzz && build-fuzz/fuzz_wal -max_total_time=60 <copy of tests/fuzz/corpus/wal>
 */
#include <stdint.h>
#include <stdlib.h>

#include "formats/arrow_read.h"
#include "util/error.h"
#include "wal/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wal_header h;
    size_t end;
    uint64_t last;
    if (wal_frame_scan(data, size, &h, &end, &last) < 0) {
        error_clear();
        return 0;
    }
    if (end > size || end < h.length || last + 1 < h.first_lsn)
        abort();
    arrow_reader *r = NULL;
    error_clear();
    if (arrow_read_open(&r, data, end) == 0) {
        struct ArrowArray a;
        int64_t rows = 0;
        while (arrow_read_next(r, &a) == 0 && a.release) {
            rows += a.length;
            a.release(&a);
        }
        /* every frame's rows are its LSNs (checked per frame), so a stream read whole
         * holds exactly the prefix's LSNs */
        if (loch_error_last_code() == 0 && rows != (int64_t)(last + 1 - h.first_lsn))
            abort();
        arrow_read_free(r);
    }
    error_clear();
    return 0;
}
