/*
 * fuzz/fuzz_arrowipc.c - libFuzzer target for the Arrow IPC reader: any bytes, as a
 * file or a stream, must be refused with an error or read into arrays whose every
 * buffer lies inside the input, without a crash, a leak or an out-of-bounds read. The
 * arrays are walked the way a consumer would (offsets followed into their data).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/arrow_read.h"
#include "formats/arrow_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned char sink;

/* Touches the first and last byte a consumer may read of each buffer. */
static void walk(const struct ArrowSchema *s, const struct ArrowArray *a)
{
    const char *f = s->format;
    if (a->null_count > 0 && a->buffers[0] && a->length > 0)
        sink ^= ((const unsigned char *)a->buffers[0])[(a->length - 1) / 8];
    if ((!strcmp(f, "u") || !strcmp(f, "z")) && a->length > 0) {
        const int32_t *o = a->buffers[1];
        const unsigned char *d = a->buffers[2];
        if (o[a->length] > o[0])
            sink ^= d[o[a->length] - 1];
    }
    if ((!strcmp(f, "l") || !strcmp(f, "g")) && a->length > 0)
        sink ^= ((const unsigned char *)a->buffers[1])[a->length * 8 - 1];
    for (int64_t i = 0; i < a->n_children && i < s->n_children; i++)
        walk(s->children[i], a->children[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy = malloc(size ? size : 1);
    arrow_reader *r = NULL;
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (arrow_read_open(&r, copy, size) == 0) {
        struct ArrowSchema s;
        struct ArrowArrayStream st;
        if (arrow_read_stream(r, &st, NULL, NULL) == 0) {
            if (st.get_schema(&st, &s) == 0) {
                struct ArrowArray a;
                for (int n = 0; n < 64 && st.get_next(&st, &a) == 0 && a.release; n++) {
                    walk(&s, &a);
                    /* what was read, written back, reads again with the same rows */
                    buf w = BUF_INIT;
                    if (arrow_write_schema(&w, &s) == 0 && arrow_write_batch(&w, &s, &a) == 0 &&
                        arrow_write_eos(&w) == 0) {
                        arrow_reader *back = NULL;
                        struct ArrowArray b;
                        if (arrow_read_open(&back, (const unsigned char *)w.data, w.len) != 0)
                            abort();
                        if (arrow_read_next(back, &b) != 0 || !b.release || b.length != a.length)
                            abort();
                        b.release(&b);
                        arrow_read_free(back);
                    }
                    buf_free(&w);
                    a.release(&a);
                }
                s.release(&s);
            }
            st.release(&st);
        } else {
            arrow_read_free(r);
        }
    }
    free(copy);
    return 0;
}
