/*
 * util/strmap.c - linear probing with tombstones. A lookup stops at the first empty
 * slot, so keys and tombstones together stay under half the slots: a table that only
 * ever deletes and adds (a snapshot's files as commit after commit replaces them) is
 * rebuilt without its tombstones, growing only when its keys need the room.
 */
#include "util/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static const char tombstone[] = "";

uint64_t hash_bytes(const void *data, size_t len)
{
    /* FNV-1a: short keys (file paths) and no dependency. */
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int rehash(strmap *m, size_t slots)
{
    const char **keys = calloc(slots, sizeof(*keys));
    size_t *values = calloc(slots, sizeof(*values));
    if (!keys || !values) {
        free(keys);
        free(values);
        return error_set(LOCH_ENOMEM, "out of memory growing a map to %zu slots", slots);
    }
    for (size_t i = 0; i < m->slots; i++) {
        const char *k = m->keys[i];
        if (!k || k == tombstone)
            continue;
        size_t j = hash_bytes(k, strlen(k)) & (slots - 1);
        while (keys[j])
            j = (j + 1) & (slots - 1);
        keys[j] = k;
        values[j] = m->values[i];
    }
    free(m->keys);
    free(m->values);
    m->keys = keys;
    m->values = values;
    m->slots = slots;
    m->used = m->count;
    return 0;
}

static size_t *find(const strmap *m, const char *key)
{
    if (!m->slots)
        return NULL;
    size_t j = hash_bytes(key, strlen(key)) & (m->slots - 1);
    while (m->keys[j]) {
        if (m->keys[j] != tombstone && strcmp(m->keys[j], key) == 0)
            return &m->values[j];
        j = (j + 1) & (m->slots - 1);
    }
    return NULL;
}

int strmap_put(strmap *m, const char *key, size_t value)
{
    size_t *v = find(m, key);
    if (v) {
        *v = value;
        return 0;
    }
    if ((m->used + 1) * 2 > m->slots) { /* rebuilt without tombstones; bigger if the keys need it */
        size_t slots = m->slots ? m->slots : 64;
        while ((m->count + 1) * 4 > slots)
            slots *= 2;
        int rc = rehash(m, slots);
        if (rc < 0)
            return rc;
    }
    size_t j = hash_bytes(key, strlen(key)) & (m->slots - 1);
    while (m->keys[j] && m->keys[j] != tombstone)
        j = (j + 1) & (m->slots - 1);
    m->used += !m->keys[j];
    m->keys[j] = key;
    m->values[j] = value;
    m->count++;
    return 0;
}

bool strmap_get(const strmap *m, const char *key, size_t *value)
{
    size_t *v = find(m, key);
    if (v && value)
        *value = *v;
    return v != NULL;
}

bool strmap_del(strmap *m, const char *key)
{
    size_t *v = find(m, key);
    if (!v)
        return false;
    m->keys[v - m->values] = tombstone;
    m->count--;
    return true;
}

void strmap_free(strmap *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof(*m));
}
