/*
 * vector/models.c - vector/models.h: one list of the models open, under one lock.
 *
 * Opening happens under the lock, so two handles asking for the same model at once
 * load it once; a model that fails to open is not kept, and the next ask tries again.
 */
#include "vector/models.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/llm.h"
#include "util/error.h"

struct shared_model {
    int generates; /* an llm_generator, else an llm_embedder */
    char *path;
    int threads, refs;
    void *model;
    struct shared_model *next;
};
static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shared_model *shared;

static int open_model(int generates, const char *path, int threads, void **out)
{
    if (generates) {
        llm_generator_options o = {path, threads, 0};
        return llm_generator_open((llm_generator **)out, &o);
    }
    llm_embedder_options o = {path, threads, 0};
    int rc = llm_embedder_open((llm_embedder **)out, &o);
    if (rc == 0 && llm_embedder_dim(*out) > MODELS_MAX_DIM) {
        rc = error_set(LOCH_EUNSUPPORTED, "embedding model %s makes vectors of %d numbers; loch takes up to %d", path,
                       llm_embedder_dim(*out), MODELS_MAX_DIM);
        llm_embedder_free(*out);
        *out = NULL;
    }
    return rc;
}

static void free_model(struct shared_model *m)
{
    if (m->generates)
        llm_generator_free(m->model);
    else
        llm_embedder_free(m->model);
    free(m->path);
    free(m);
}

static int shared_open(int generates, const char *path, int threads, void **out)
{
    int rc = 0;
    pthread_mutex_lock(&shared_mu);
    struct shared_model *m = shared;
    while (m && (m->generates != generates || m->threads != threads || strcmp(m->path, path) != 0))
        m = m->next;
    if (!m) {
        void *model = NULL;
        rc = open_model(generates, path, threads, &model);
        if (rc == 0 && (!(m = calloc(1, sizeof(*m))) || !(m->path = strdup(path)))) {
            free(m);
            m = NULL;
            rc = error_set(LOCH_ENOMEM, "out of memory");
        }
        if (rc == 0) {
            m->generates = generates, m->threads = threads, m->model = model, m->next = shared;
            shared = m;
        } else if (generates) {
            llm_generator_free(model);
        } else {
            llm_embedder_free(model);
        }
    }
    if (m)
        m->refs++, *out = m->model;
    pthread_mutex_unlock(&shared_mu);
    return rc;
}

int models_embedder(const char *path, int threads, llm_embedder **out)
{
    return shared_open(0, path ? path : MODELS_EMBED_DEFAULT, threads, (void **)out);
}

int models_generator(const char *path, int threads, llm_generator **out)
{
    return shared_open(1, path ? path : MODELS_GENERATE_DEFAULT, threads, (void **)out);
}

void models_release(const void *model)
{
    if (!model)
        return;
    pthread_mutex_lock(&shared_mu);
    for (struct shared_model **p = &shared; *p; p = &(*p)->next)
        if ((*p)->model == model) {
            struct shared_model *m = *p;
            if (--m->refs == 0) {
                *p = m->next;
                free_model(m);
            }
            break;
        }
    pthread_mutex_unlock(&shared_mu);
}
