/*
 * util/strmap.h - an open-addressing hash map from strings to size_t, for replay
 * (path -> file slot). Keys are borrowed: they must outlive the map (they live in the
 * snapshot's arena).
 */
#ifndef LOCH_UTIL_STRMAP_H
#define LOCH_UTIL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char **keys; /* owned array; entries borrowed */
    size_t *values;    /* owned */
    size_t count, slots;
    size_t used;       /* slots holding a key or a tombstone: kept below half, so a probe
                          always reaches an empty slot */
} strmap;

#define STRMAP_INIT {NULL, NULL, 0, 0, 0}

int strmap_put(strmap *m, const char *key, size_t value);
bool strmap_get(const strmap *m, const char *key, size_t *value);
/* Removes key; returns true when it was present. */
bool strmap_del(strmap *m, const char *key);
void strmap_free(strmap *m);
uint64_t hash_bytes(const void *data, size_t len);

#endif
