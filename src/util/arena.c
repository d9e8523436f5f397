/*
 * util/arena.c - bump allocation in blocks of at least 64 KiB.
 */
#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

struct arena_block {
    arena_block *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

void *arena_alloc(arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t n = size > 65536 ? size : 65536;
        b = malloc(sizeof(*b) + n);
        if (!b) {
            error_set(LOCH_ENOMEM, "out of memory (arena block of %zu bytes)", n);
            return NULL;
        }
        b->used = 0;
        b->size = n;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *arena_strdup(arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

void arena_free(arena *a)
{
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}
