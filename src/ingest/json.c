/*
 * ingest/json.c - JSON and NDJSON files. The file is mapped and typed by one C scan
 * (formats/jsonscan.c), on two threads for a large NDJSON file; the engine then reads
 * it once with the columns spelled out. A file the scan does not read exactly as the
 * engine would is typed by the engine's own sniff of the whole file
 * (ingest_pin_json_types), which also words its errors. Malformed JSON fails naming
 * its line and column.
 *
 * The mapped pages a scan has passed are given back as it goes (they stay in the page
 * cache), so a file larger than memory does not count against the process.
 */
#include "ingest/ingest.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/jsonscan.h"

/* JSON types come from a sniff of the whole file (every value decides), which is as
 * costly as reading it; done once here, the types are then spelled out so the later
 * binds of the same source (describe, write) do not sniff again. */
int ingest_pin_json_types(loch_lake *lake, const input *x, buf *sql)
{
    buf q = BUF_INIT;
    compute_result *r = NULL;
    int rc = buf_printf(&q, "DESCRIBE %s", sql->data);
    rc = rc ? rc : compute_query(lake->cp, q.data, &r);
    if (rc == 0) {
        buf_clear(sql);
        rc = buf_puts(sql, "SELECT * FROM system.main.read_json(") || compute_put_path(sql, x->path) ||
             buf_printf(sql, ", format='%s', columns={", !strcmp(x->format, "ndjson") ? "newline_delimited" : "auto")
                 ? LOCH_ENOMEM : 0;
        for (size_t i = 0; rc == 0 && i < compute_result_rows(r); i++) {
            char *name = compute_result_text(r, i, 0), *type = compute_result_text(r, i, 1);
            rc = (i ? buf_puts(sql, ", ") : 0) || buf_put_sql_str(sql, name ? name : "") || buf_puts(sql, ": ") ||
                 buf_put_sql_str(sql, type ? type : "VARCHAR") ? LOCH_ENOMEM : 0;
            free(name);
            free(type);
        }
        rc = rc ? rc : buf_puts(sql, "})");
    }
    compute_result_free(r);
    buf_free(&q);
    return rc;
}

typedef struct {
    jsonscan *s;
    const char *text;
    size_t n;
    int ndjson;
    size_t released;   /* bytes of text whose pages were given back (and counted) */
    meter *m;
} json_part;

/* The mapped pages a scan has passed are given back as it goes (they stay in the page
 * cache), so a large file does not count against the process's memory. */
static void json_release(void *ctx, size_t done)
{
    json_part *p = ctx;
    uintptr_t from = ((uintptr_t)p->text + p->released + 4095) & ~(uintptr_t)4095;
    uintptr_t to = ((uintptr_t)p->text + done) & ~(uintptr_t)4095;
    if (to > from)
        madvise((void *)from, to - from, MADV_DONTNEED);
    if (p->m)
        atomic_fetch_add(&p->m->scanned, (int64_t)(done - p->released));
    p->released = done;
}

static void *json_part_run(void *arg)
{
    json_part *p = arg;
    jsonscan_run(p->s, p->text, p->n, p->ndjson);
    return NULL;
}

/* JSON files are typed by one C scan too (formats/jsonscan.c): the file is mapped, this
 * thread hashes it and scans the first quarter, a second thread scans the rest of an
 * NDJSON file from the line end after the cut (a line is a record, so any line end
 * is a clean cut). The engine then reads the file once with the columns spelled out;
 * its own inference would read the whole file a second time, single-threaded. Files
 * the scan does not read exactly as the engine would are left to the engine
 * (ingest_pin_json_types), which also reports their errors. */
int ingest_scan_json(input *x)
{
    struct stat st;
    jsonscan a, b;
    buf src = BUF_INIT;
    pthread_t thread;
    const char *text = MAP_FAILED;
    int fd = -1, rc = 0, threaded = 0, ndjson = !strcmp(x->format, "ndjson");
    size_t size = 0, cut;
    jsonscan_init(&a);
    jsonscan_init(&b);
    if (ingest_is_compressed(x) || (fd = open(x->path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size == 0)
        goto cleanup;
    size = (size_t)st.st_size;
    if ((text = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
        goto cleanup;
    madvise((void *)text, size, MADV_SEQUENTIAL);
    cut = size;
    json_part part = {&b, NULL, 0, 1, 0, x->meter}, first = {&a, text, 0, ndjson, 0, x->meter};
    b.progress = a.progress = json_release;
    b.ctx = &part;
    a.ctx = &first;
    b.every = a.every = 8 << 20;
    if (ndjson && size >= 16 << 20) {
        /* the hash takes about as long as scanning three fifths of the file */
        const char *nl = memchr(text + size / 5, '\n', size - size / 5);
        if (nl) {
            cut = (size_t)(nl + 1 - text);
            part.text = text + cut;
            part.n = size - cut;
            threaded = pthread_create(&thread, NULL, json_part_run, &part) == 0;
            cut = threaded ? cut : size;
        }
    }
    /* The hash reads with pread, not through the mapping: only the scans map pages,
     * and they give them back behind them. */
    if (!x->sha[0] && (rc = ingest_hash_file(x)) < 0)
        goto cleanup;
    first.n = cut;
    jsonscan_run(&a, text, cut, ndjson);
    if (threaded) {
        pthread_join(thread, NULL);
        if (!a.failed && jsonscan_merge(&a, &b) < 0)
            a.failed = 1;
    }
    if (a.invalid || (threaded && !a.failed && b.invalid)) { /* not JSON: say where */
        size_t at = a.invalid ? a.invalid_at : cut + b.invalid_at;
        long long line = 1, col = 1;
        for (size_t i = 0; i < at && i < size; i++) {
            if (text[i] == '\n')
                line++, col = 1;
            else if ((text[i] & 0xC0) != 0x80)
                col++;
        }
        rc = error_set(LOCH_EINVALID, "%s: line %lld, column %lld: malformed JSON: %s", x->shown, line, col,
                       a.invalid ? a.why : b.why);
        goto cleanup;
    }
    if (a.failed || a.records == 0 || !a.root.child)
        goto cleanup; /* the engine decides (and words any error) */
    x->records = a.records;
    rc = buf_puts(&src, "SELECT * FROM system.main.read_json(") || compute_put_path(&src, x->path) ||
         buf_printf(&src, ", format='%s', records=true, auto_detect=false, columns={",
                    ndjson ? "newline_delimited" : a.array_doc ? "array" : "unstructured") ? LOCH_ENOMEM : 0;
    for (const jsonscan_node *m = a.root.child; rc == 0 && m; m = m->next) {
        buf type = BUF_INIT;
        rc = jsonscan_type(m, &type) || (m != a.root.child ? buf_puts(&src, ", ") : 0) ||
             buf_put_sql_str(&src, m->name) || buf_puts(&src, ": ") || buf_put_sql_str(&src, type.data)
                 ? LOCH_ENOMEM : 0;
        buf_free(&type);
    }
    rc = rc || buf_puts(&src, "})") ? LOCH_ENOMEM : 0;
    if (rc == 0)
        x->typed_src = buf_detach(&src);
cleanup:
    if (text != MAP_FAILED)
        munmap((void *)text, size);
    if (fd >= 0)
        close(fd);
    jsonscan_free(&a);
    jsonscan_free(&b);
    buf_free(&src);
    return rc;
}
