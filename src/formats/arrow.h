/*
 * formats/arrow.h - the Arrow C Data Interface and C Stream Interface structs, as the
 * Arrow specification defines them (ABI-stable, so any producer or consumer in the
 * process can hand arrays across without copying). loch's Arrow IPC reader
 * (arrow_read.h) produces them, its writer (arrow_write.h) consumes them, and the SQL
 * engine's adapter passes them to and from DuckDB.
 *
 * The guards are the specification's own: a header from another Arrow library that
 * defines the same structs may be included too.
 */
#ifndef LOCH_FORMATS_ARROW_H
#define LOCH_FORMATS_ARROW_H

#include <stdint.h>

/* The C Data Interface, as the Arrow specification defines it (ABI-stable). */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4
struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};
struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};
#endif
#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE
struct ArrowArrayStream {
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
    const char *(*get_last_error)(struct ArrowArrayStream *);
    void (*release)(struct ArrowArrayStream *);
    void *private_data;
};
#endif

#endif
