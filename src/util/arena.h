/*
 * util/arena.h - a bump allocator for data that dies together (one parsed commit,
 * one snapshot, one query). Nothing is freed individually; arena_free() releases all.
 */
#ifndef LOCH_UTIL_ARENA_H
#define LOCH_UTIL_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;
typedef struct {
    arena_block *head; /* owned chain of blocks, newest first */
} arena;

#define ARENA_INIT {NULL}

/* Returns zeroed memory aligned for any type, or NULL (error set) when out of memory. */
void *arena_alloc(arena *a, size_t size);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
void arena_free(arena *a);

#endif
