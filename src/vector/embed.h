/*
 * vector/embed.h - the lake's embedding model: texts to unit vectors, for the SQL
 * function embed(text) and for `loch embed` / `loch search` (ops/embed.c).
 *
 * The model is opened on first use, not with the lake (loading one costs about 0.1 s
 * and 100 MB, and most sessions never embed), then shared by every statement of the
 * lake handle. Which model: the lake options' embed_model, else the all-MiniLM-L6-v2
 * GGUF file scripts/setup.sh made (LOCH_MODEL_DIR, fixed at build time).
 */
#ifndef LOCH_VECTOR_EMBED_H
#define LOCH_VECTOR_EMBED_H

#include <stddef.h>

#include "loch/lake.h"

/* Gives the lake's SQL engine embed(VARCHAR) -> FLOAT[] (NULL for a NULL text). */
int embed_register(loch_lake *lake);
/* Opens the model if it is not open yet; its name and dimension. */
int embed_model(loch_lake *lake, const char **name, int *dim);
/* texts[0..n) into out[n * dim] (out holds n * max_dim floats); n = 0 only sets *dim. */
int embed_texts(loch_lake *lake, const char *const *texts, const size_t *lens, size_t n, float *out,
                size_t max_dim, int *dim);
/* At the lake's end. */
void embed_close(loch_lake *lake);

#endif
