/*
 * vector/chunk.h - cutting a long text into passages an embedding model can take
 * whole: MiniLM reads 256 tokens (about 1,000 characters of English) and ignores the
 * rest, so a text past that is embedded as several chunks, each found on its own.
 *
 * A text of at most max bytes is one chunk, itself. A longer one is cut greedily: each
 * chunk ends at the last paragraph break in its second half, else the last sentence
 * end, else the last space, else at max (never inside a UTF-8 character); the next
 * starts overlap bytes earlier, at a word, so a sentence cut in two is whole in one of
 * them. Chunks are spans of the text (no copy), leading and trailing whitespace left
 * out, never empty (a long text of whitespace only is one empty chunk); together they
 * cover every byte that is not whitespace.
 */
#ifndef LOCH_VECTOR_CHUNK_H
#define LOCH_VECTOR_CHUNK_H

#include <stddef.h>

#define CHUNK_MAX 800     /* bytes: about 200 tokens of English, under MiniLM's 256 */
#define CHUNK_OVERLAP 160 /* a fifth of a chunk, whatever its size */
/* The sizes a table may ask for (loch.embed.chunkSize): past the model's window the
 * rest of a chunk is not read, but a model with a longer window reads more. */
#define CHUNK_SIZE_MIN 64
#define CHUNK_SIZE_MAX 65536

typedef struct {
    size_t start, len;
} chunk_span;

/* The chunks of s[0..len) into out (cap entries); returns how many there are, which may
 * exceed cap (then only cap were written). max >= 16, overlap < max / 2. */
size_t chunk_text(const char *s, size_t len, size_t max, size_t overlap, chunk_span *out, size_t cap);

#endif
