/*
 * adapters/llm_llama.c - adapters/llm.h over llama.cpp's C API (the only file that
 * includes llama.h). llama.cpp is built by scripts/setup.sh from the source a pinned
 * PyPI sdist vendors, and linked statically.
 *
 * An embedder is one model and one context. A call tokenizes its texts (WordPiece for
 * BERT models: the model's [CLS] ... [SEP] added), packs as many whole texts as fit into
 * one batch, one sequence each, and runs the encoder once per batch; llama.cpp pools
 * each sequence (mean, as the model file says) and the vectors are then scaled to unit
 * length. Batches of many short texts are what makes embedding a column fast.
 *
 * Hostile input: llama.cpp's tokenizer throws a C++ exception on invalid UTF-8, which
 * would end the process here, so texts are checked first and an invalid byte becomes
 * U+FFFD, as Python's decode(errors="replace") would make it. Its log goes to loch's
 * error text only (the last error line), never to stderr.
 */
#include "adapters/llm.h"

#include <llama.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/utf8.h"

/* A batch of at most 512 tokens: the encoder attends over the whole batch and masks out
 * what crosses sequences, so bigger batches waste work (measured on the demo's resumes:
 * 2,048 tokens took 35% longer than 512; 256 was no faster). A text's window must fit. */
enum { BATCH_TOKENS = 512, BATCH_SEQS = 64 };

struct llm_embedder {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    struct llama_batch batch;
    int dim, max_tokens;
    int threads_given, threads_now; /* the caller's (0: idle cores); what the context uses */
    struct timespec last_batch;     /* when the last batch ended: our own share of the load */
    char name[128];
    pthread_mutex_t mu;
};

static pthread_once_t backend_once = PTHREAD_ONCE_INIT;
static __thread char last_log[512];

/* llama.cpp's log: errors kept for the message loch reports, the rest dropped. */
static void on_log(enum ggml_log_level level, const char *text, void *ctx)
{
    (void)ctx;
    if (level != GGML_LOG_LEVEL_ERROR || !text)
        return;
    snprintf(last_log, sizeof(last_log), "%s", text);
    size_t n = strlen(last_log);
    while (n && (last_log[n - 1] == '\n' || last_log[n - 1] == ' '))
        last_log[--n] = '\0';
}

static void backend_init(void)
{
    /* ggml's last words on a model file it cannot run (it aborts the process) are its
     * message, not a debugger attached to print our stack to the user's terminal */
    setenv("GGML_NO_BACKTRACE", "1", 0);
    llama_log_set(on_log, NULL);
    llama_backend_init();
}

int llm_embedder_open(llm_embedder **out, const llm_embedder_options *o)
{
    *out = NULL;
    if (!o || !o->model || !*o->model)
        return error_set(LOCH_EINVALID, "no embedding model given (a GGUF file)");
    if (access(o->model, R_OK) != 0)
        return error_set(LOCH_ENOTFOUND, "embedding model %s: no such file (scripts/setup.sh installs the default)",
                         o->model);
    pthread_once(&backend_once, backend_init);
    llm_embedder *e = calloc(1, sizeof(*e));
    if (!e)
        return error_set(LOCH_ENOMEM, "out of memory");
    pthread_mutex_init(&e->mu, NULL);
    last_log[0] = '\0';
    int rc = 0;
    struct llama_model_params mp = llama_model_default_params();
    if (!(e->model = llama_model_load_from_file(o->model, mp))) {
        rc = error_set(LOCH_EINVALID, "cannot load embedding model %s%s%s", o->model, last_log[0] ? ": " : "",
                       last_log);
        goto fail;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = BATCH_TOKENS;
    cp.n_seq_max = BATCH_SEQS;
    cp.embeddings = true;
    cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    cp.n_threads = cp.n_threads_batch = e->threads_now = o->threads > 0 ? o->threads : (int)(cpus > 0 ? cpus : 1);
    e->threads_given = o->threads > 0 ? o->threads : 0;
    if (!(e->ctx = llama_init_from_model(e->model, cp))) {
        rc = error_set(LOCH_EINVALID, "embedding model %s: cannot make a context%s%s", o->model,
                       last_log[0] ? ": " : "", last_log);
        goto fail;
    }
    e->vocab = llama_model_get_vocab(e->model);
    e->dim = llama_model_n_embd(e->model);
    e->max_tokens = o->max_tokens > 0 ? o->max_tokens : 256;
    if (e->max_tokens > llama_model_n_ctx_train(e->model))
        e->max_tokens = llama_model_n_ctx_train(e->model);
    if (e->max_tokens > BATCH_TOKENS)
        e->max_tokens = BATCH_TOKENS;
    if (e->dim <= 0 || e->max_tokens < 2 || llama_vocab_sep(e->vocab) == LLAMA_TOKEN_NULL) {
        rc = error_set(LOCH_EINVALID, "%s is not an encoder model for embeddings (such as all-MiniLM-L6-v2)",
                       o->model);
        goto fail;
    }
    if (llama_model_meta_val_str(e->model, "general.name", e->name, sizeof(e->name)) <= 0) {
        const char *slash = strrchr(o->model, '/');
        snprintf(e->name, sizeof(e->name), "%s", slash ? slash + 1 : o->model);
    }
    e->name[utf8_valid_prefix((const unsigned char *)e->name, strlen(e->name))] = '\0'; /* cut whole */
    e->batch = llama_batch_init(BATCH_TOKENS, 0, 1);
    *out = e;
    return 0;
fail:
    llm_embedder_free(e);
    return rc;
}

void llm_embedder_free(llm_embedder *e)
{
    if (!e)
        return;
    if (e->batch.token)
        llama_batch_free(e->batch);
    if (e->ctx)
        llama_free(e->ctx);
    if (e->model)
        llama_model_free(e->model);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

int llm_embedder_dim(const llm_embedder *e) { return e->dim; }
const char *llm_embedder_name(const llm_embedder *e) { return e->name; }

/* The text as valid UTF-8: each byte that starts no valid sequence becomes U+FFFD. */
static int valid_text(const char *s, size_t n, buf *out)
{
    buf_clear(out);
    while (n) {
        size_t ok = utf8_valid_prefix((const unsigned char *)s, n);
        if (buf_put(out, s, ok) < 0)
            return -1;
        s += ok, n -= ok;
        if (n) {
            if (buf_put(out, "\xEF\xBF\xBD", 3) < 0)
                return -1;
            s++, n--;
        }
    }
    return buf_putc(out, '\0');
}

/* The threads for a batch: one for a few tokens (a question: more threads only wait
 * for each other), else the caller's number, else the cores not busy now. ggml's
 * threads spin at every step for each other, so a thread on a core that something
 * else holds stalls them all (measured: a search's question took 1 s instead of 3 ms
 * with both cores busy): never more threads than idle cores. */
static int threads_for(const llm_embedder *e, int tokens)
{
    if (tokens < 128)
        return 1;
    if (e->threads_given > 0)
        return e->threads_given;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double load[1] = {0};
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int idle = (int)(cpus > 0 ? cpus : 1);
    if (getloadavg(load, 1) == 1) {
        /* the load average counts our own threads while we embed: not someone else's */
        double ours = now.tv_sec - e->last_batch.tv_sec < 2 ? e->threads_now : 0;
        double others = load[0] - ours;
        idle = (int)((double)idle - (others > 0 ? others : 0) + 0.5);
    }
    return idle < 1 ? 1 : idle > cpus ? (int)cpus : idle;
}

/* Runs the batch's sequences [0, nseq) and writes their unit vectors from out. */
static int run_batch(llm_embedder *e, int nseq, float *out)
{
    int threads = threads_for(e, e->batch.n_tokens);
    if (threads != e->threads_now) {
        llama_set_n_threads(e->ctx, threads, threads);
        e->threads_now = threads;
    }
    last_log[0] = '\0';
    if (llama_encode(e->ctx, e->batch) != 0)
        return error_set(LOCH_ERROR, "the embedding model failed%s%s", last_log[0] ? ": " : "", last_log);
    for (int s = 0; s < nseq; s++) {
        const float *v = llama_get_embeddings_seq(e->ctx, s);
        if (!v)
            return error_set(LOCH_ERROR, "the embedding model gave no vector for a text");
        double norm = 0;
        for (int i = 0; i < e->dim; i++)
            norm += (double)v[i] * v[i];
        float scale = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
        for (int i = 0; i < e->dim; i++)
            out[(size_t)s * (size_t)e->dim + (size_t)i] = v[i] * scale;
    }
    e->batch.n_tokens = 0;
    clock_gettime(CLOCK_MONOTONIC, &e->last_batch);
    return 0;
}

int llm_embed(llm_embedder *e, const char *const *texts, const size_t *lens, size_t n, float *out)
{
    buf text = BUF_INIT;
    llama_token *tok = malloc((size_t)e->max_tokens * sizeof(*tok));
    int rc = tok ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    size_t first = 0; /* the text the batch's sequence 0 is */
    int nseq = 0;
    pthread_mutex_lock(&e->mu);
    e->batch.n_tokens = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        /* Only the window's tokens count, and no token is longer than a word of 100
         * characters, so past MAX_TEXT bytes nothing more can be read: the rest is not
         * tokenized at all (a 100 MB text took minutes and gigabytes). Cut at a character. */
        size_t len_in = texts[i] ? lens[i] : 0;
        if (len_in > (size_t)e->max_tokens * 256) {
            len_in = (size_t)e->max_tokens * 256;
            while (len_in > 0 && ((unsigned char)texts[i][len_in] & 0xC0) == 0x80)
                len_in--;
        }
        if (valid_text(texts[i] ? texts[i] : "", len_in, &text) < 0) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        int32_t len = text.len - 1 > INT32_MAX ? INT32_MAX : (int32_t)(text.len - 1);
        int32_t k = llama_tokenize(e->vocab, text.data, len, tok, e->max_tokens, true, false);
        if (k < 0) { /* longer than the window: the whole, then its first max_tokens - 1 and [SEP] */
            llama_token *all = malloc((size_t)-k * sizeof(*all));
            int32_t got = all ? llama_tokenize(e->vocab, text.data, len, all, -k, true, false) : -1;
            if (got < e->max_tokens) {
                free(all);
                rc = error_set(all ? LOCH_ERROR : LOCH_ENOMEM, "cannot tokenize a text to embed");
                break;
            }
            memcpy(tok, all, (size_t)(e->max_tokens - 1) * sizeof(*tok));
            tok[e->max_tokens - 1] = llama_vocab_sep(e->vocab);
            k = e->max_tokens;
            free(all);
        }
        if (nseq == BATCH_SEQS || e->batch.n_tokens + k > BATCH_TOKENS) {
            rc = run_batch(e, nseq, out + first * (size_t)e->dim);
            first = i;
            nseq = 0;
        }
        for (int32_t j = 0; rc == 0 && j < k; j++) {
            int32_t at = e->batch.n_tokens++;
            e->batch.token[at] = tok[j];
            e->batch.pos[at] = j;
            e->batch.n_seq_id[at] = 1;
            e->batch.seq_id[at][0] = nseq;
            e->batch.logits[at] = 1;
        }
        nseq++;
    }
    if (rc == 0 && nseq)
        rc = run_batch(e, nseq, out + first * (size_t)e->dim);
    pthread_mutex_unlock(&e->mu);
    free(tok);
    buf_free(&text);
    return rc;
}
