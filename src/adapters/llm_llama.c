/*
 * adapters/llm_llama.c - adapters/llm.h over llama.cpp's C API (the only file that
 * includes llama.h). llama.cpp is built by scripts/setup.sh from the source a pinned
 * PyPI sdist vendors, and linked statically.
 *
 * An embedder is one model and up to one context a core, made as they are needed. A call
 * tokenizes its texts (WordPiece for BERT models: the model's [CLS] ... [SEP] added),
 * packs as many whole texts as fit into one batch, one sequence each, and runs the
 * encoder once per batch; llama.cpp pools each sequence (mean, as the model file says)
 * and the vectors are then scaled to unit length. Batches of many short texts are what
 * makes embedding a column fast; batches run side by side, one thread and one context
 * each, which is faster than all threads on each batch in turn.
 *
 * Hostile input: llama.cpp's tokenizer throws a C++ exception on invalid UTF-8, which
 * would end the process here, so texts are checked first and an invalid byte becomes
 * U+FFFD, as Python's decode(errors="replace") would make it. Its log goes to loch's
 * error text only (the last error line), never to stderr.
 */
#include "adapters/llm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <ggml-cpu.h>
#include <llama.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/sha256.h"
#include "util/error.h"
#include "util/utf8.h"

/* A batch of at most 256 tokens (a text's window must fit): the encoder attends over the
 * whole batch, masking what crosses sequences, and ggml skips only whole masked tiles, so
 * bigger batches waste work (measured on the demo's resumes: 2,048 tokens took 35% longer
 * than 512; 512 and 256 alike; one text a batch, twice as long). */
enum { BATCH_TOKENS = 256, BATCH_SEQS = 64, MAX_SLOTS = 16 };

/* A context and its batch: one batch runs on it at a time. */
typedef struct {
    struct llama_context *ctx;
    struct llama_batch batch;
    int threads; /* what the context is set to run on */
    bool busy;
} slot;

struct llm_embedder {
    struct llama_model *model;
    const struct llama_vocab *vocab;
    struct llama_context_params cp;
    int dim, max_tokens;
    int threads_given;          /* the caller's (0: idle cores) */
    int threads_last;           /* how many ran the last call: our own share of the load */
    struct timespec last_batch; /* when the last call ended */
    slot slots[MAX_SLOTS];
    int nslots, cap; /* made so far; at most (one a core) */
    char name[128];
    pthread_mutex_t mu;
    pthread_cond_t freed;
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

/* Loads a model file (kind: "embedding" or "generation", for messages), after checking
 * it is there and a regular file (a FIFO would hang the load); its name into name[cap]:
 * the file's own, else the file's name, cut at a whole character. */
static int load_model(const char *kind, const char *path, struct llama_model **out, char *name, size_t cap)
{
    *out = NULL;
    if (!path || !*path)
        return error_set(LOCH_EINVALID, "no %s model given (a GGUF file)", kind);
    if (access(path, R_OK) != 0)
        return error_set(LOCH_ENOTFOUND, "%s model %s: no such file (scripts/setup.sh installs the default)", kind,
                         path);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return error_set(LOCH_EINVALID, "%s model %s: not a regular file", kind, path);
    pthread_once(&backend_once, backend_init);
    last_log[0] = '\0';
    struct llama_model_params mp = llama_model_default_params();
    if (!(*out = llama_model_load_from_file(path, mp)))
        return error_set(LOCH_EINVALID, "cannot load %s model %s%s%s", kind, path, last_log[0] ? ": " : "", last_log);
    if (llama_model_meta_val_str(*out, "general.name", name, cap) <= 0) {
        const char *slash = strrchr(path, '/');
        snprintf(name, cap, "%s", slash ? slash + 1 : path);
    }
    name[utf8_valid_prefix((const unsigned char *)name, strlen(name))] = '\0';
    return 0;
}
/* A context with its batch into s, set to run on threads. */
static int slot_make(llm_embedder *e, slot *s)
{
    last_log[0] = '\0';
    if (!(s->ctx = llama_init_from_model(e->model, e->cp)))
        return error_set(LOCH_EINVALID, "embedding model %s: cannot make a context%s%s", e->name,
                         last_log[0] ? ": " : "", last_log);
    s->batch = llama_batch_init(BATCH_TOKENS, 0, 1);
    s->threads = e->cp.n_threads;
    return 0;
}

int llm_embedder_open(llm_embedder **out, const llm_embedder_options *o)
{
    *out = NULL;
    llm_embedder *e = calloc(1, sizeof(*e));
    if (!e)
        return error_set(LOCH_ENOMEM, "out of memory");
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->freed, NULL);
    int rc = load_model("embedding", o ? o->model : NULL, &e->model, e->name, sizeof(e->name));
    if (rc < 0)
        goto fail;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    e->threads_given = o->threads > 0 ? o->threads : 0;
    e->cap = e->threads_given ? e->threads_given : (int)(cpus > 0 ? cpus : 1);
    e->cap = e->cap > MAX_SLOTS ? MAX_SLOTS : e->cap;
    e->cp = llama_context_default_params();
    e->cp.n_ctx = e->cp.n_batch = e->cp.n_ubatch = BATCH_TOKENS;
    e->cp.n_seq_max = BATCH_SEQS;
    e->cp.embeddings = true;
    e->cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    e->cp.n_threads = e->cp.n_threads_batch = 1;
    if ((rc = slot_make(e, &e->slots[0])) < 0) /* the first now: a model it cannot run fails here */
        goto fail;
    e->nslots = 1;
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
    for (int i = 0; i < e->nslots; i++) {
        if (e->slots[i].batch.token)
            llama_batch_free(e->slots[i].batch);
        if (e->slots[i].ctx)
            llama_free(e->slots[i].ctx);
    }
    if (e->model)
        llama_model_free(e->model);
    pthread_cond_destroy(&e->freed);
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

/* The threads for a call: the caller's number, else the cores not busy now. ggml's
 * threads spin at every step for each other, so a thread on a core that something
 * else holds stalls them all (measured: a search's question took 1 s instead of 3 ms
 * with both cores busy): never more threads than idle cores. */
static int idle_threads(int given, int ours_now, struct timespec last)
{
    if (given > 0)
        return given;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double load[1] = {0};
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int idle = (int)(cpus > 0 ? cpus : 1);
    if (getloadavg(load, 1) == 1) {
        /* the load average counts our own threads while we run: not someone else's */
        double ours = now.tv_sec - last.tv_sec < 2 ? ours_now : 0;
        double others = load[0] - ours;
        idle = (int)((double)idle - (others > 0 ? others : 0) + 0.5);
    }
    return idle < 1 ? 1 : idle > cpus ? (int)cpus : idle;
}

/* A free slot (made if there are fewer than one a core), set to run on threads. */
static int slot_take(llm_embedder *e, int threads, slot **out)
{
    int rc = 0;
    slot *s = NULL;
    pthread_mutex_lock(&e->mu);
    while (!s) {
        for (int i = 0; i < e->nslots && !s; i++)
            if (!e->slots[i].busy)
                s = &e->slots[i];
        if (!s && e->nslots < e->cap) {
            if ((rc = slot_make(e, &e->slots[e->nslots])) < 0)
                break;
            s = &e->slots[e->nslots++];
        }
        if (!s)
            pthread_cond_wait(&e->freed, &e->mu);
    }
    if (s)
        s->busy = true;
    pthread_mutex_unlock(&e->mu);
    if (s && s->threads != threads) {
        llama_set_n_threads(s->ctx, threads, threads);
        s->threads = threads;
    }
    *out = s;
    return rc;
}

static void slot_give(llm_embedder *e, slot *s)
{
    pthread_mutex_lock(&e->mu);
    s->busy = false;
    pthread_cond_signal(&e->freed);
    pthread_mutex_unlock(&e->mu);
}

/* A call's texts, tokenized, and its batches: batch b is texts [first[b], first[b+1]).
 * Runners take batches in turn (next) until none is left or one has failed. */
typedef struct {
    llm_embedder *e;
    const llama_token *tok;
    const size_t *at; /* text i is tok[at[i]..at[i+1]) */
    const size_t *first;
    size_t nbatches;
    float *out;
    int threads; /* each runner's */
    int (*stop)(void *);
    void *stop_ctx;
    atomic_size_t next;
    atomic_int failed;
    int code; /* the first failure, kept for the caller's thread */
    char why[640];
    pthread_mutex_t mu;
} job;

static void job_fail(job *j, int code, const char *why)
{
    pthread_mutex_lock(&j->mu);
    if (!j->code) {
        j->code = code;
        snprintf(j->why, sizeof(j->why), "%s", why);
    }
    pthread_mutex_unlock(&j->mu);
    atomic_store(&j->failed, 1);
}

/* Runs batch b on s and writes its unit vectors. */
static void run_batch(job *j, slot *s, size_t b)
{
    llm_embedder *e = j->e;
    struct llama_batch *batch = &s->batch;
    batch->n_tokens = 0;
    for (size_t i = j->first[b]; i < j->first[b + 1]; i++)
        for (size_t t = j->at[i]; t < j->at[i + 1]; t++) {
            int32_t k = batch->n_tokens++;
            batch->token[k] = j->tok[t];
            batch->pos[k] = (llama_pos)(t - j->at[i]);
            batch->n_seq_id[k] = 1;
            batch->seq_id[k][0] = (llama_seq_id)(i - j->first[b]);
            batch->logits[k] = 1;
        }
    last_log[0] = '\0';
    if (llama_encode(s->ctx, *batch) != 0) {
        char why[600];
        snprintf(why, sizeof(why), "the embedding model failed%s%s", last_log[0] ? ": " : "", last_log);
        job_fail(j, LOCH_ERROR, why);
        return;
    }
    for (size_t i = j->first[b]; i < j->first[b + 1]; i++) {
        const float *v = llama_get_embeddings_seq(s->ctx, (llama_seq_id)(i - j->first[b]));
        if (!v) {
            job_fail(j, LOCH_ERROR, "the embedding model gave no vector for a text");
            return;
        }
        double norm = 0;
        for (int d = 0; d < e->dim; d++)
            norm += (double)v[d] * v[d];
        if (!isfinite(norm)) { /* a model file that computes NaN or infinity: never stored */
            job_fail(j, LOCH_ERROR, "the embedding model gave a vector that is not finite");
            return;
        }
        float scale = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
        float *o = j->out + i * (size_t)e->dim;
        for (int d = 0; d < e->dim; d++)
            o[d] = v[d] * scale;
    }
}

/* One runner: a slot of its own, then batches until there are none. */
static void *runner(void *arg)
{
    job *j = arg;
    slot *s;
    if (slot_take(j->e, j->threads, &s) < 0) {
        job_fail(j, loch_error_last_code(), loch_error_last());
        return NULL;
    }
    for (size_t b; !atomic_load(&j->failed) && (b = atomic_fetch_add(&j->next, 1)) < j->nbatches;) {
        if (j->stop && j->stop(j->stop_ctx)) {
            job_fail(j, LOCH_EINTERRUPTED, "interrupted");
            break;
        }
        run_batch(j, s, b);
    }
    slot_give(j->e, s);
    return NULL;
}

int llm_prefers_bf16(void)
{
    /* what ggml was compiled for (GGML_NATIVE: the building machine), which is what
     * decides whether its matrix kernels have a bf16 path */
    return ggml_cpu_has_avx512_bf16();
}

/* Texts into tokens: text i is (*tok)[at[i]..at[i+1]), cut at the window. */
static int tokenize_all(const llm_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                        llama_token **tok, size_t *at)
{
    buf text = BUF_INIT;
    size_t cap = 0;
    int rc = 0;
    at[0] = 0;
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
        if (at[i] + (size_t)e->max_tokens > cap) {
            size_t want = cap ? cap * 2 : (size_t)e->max_tokens * 16;
            want = want < at[i] + (size_t)e->max_tokens ? at[i] + (size_t)e->max_tokens : want;
            llama_token *t = realloc(*tok, want * sizeof(*t));
            if (!t) {
                rc = error_set(LOCH_ENOMEM, "out of memory");
                break;
            }
            *tok = t, cap = want;
        }
        if (valid_text(texts[i] ? texts[i] : "", len_in, &text) < 0) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        llama_token *dst = *tok + at[i];
        int32_t len = text.len - 1 > INT32_MAX ? INT32_MAX : (int32_t)(text.len - 1);
        int32_t k = llama_tokenize(e->vocab, text.data, len, dst, e->max_tokens, true, false);
        if (k < 0) { /* longer than the window: the whole, then its first max_tokens - 1 and [SEP] */
            llama_token *all = malloc((size_t)-k * sizeof(*all));
            int32_t got = all ? llama_tokenize(e->vocab, text.data, len, all, -k, true, false) : -1;
            if (got < e->max_tokens) {
                free(all);
                rc = error_set(all ? LOCH_ERROR : LOCH_ENOMEM, "cannot tokenize a text to embed");
                break;
            }
            memcpy(dst, all, (size_t)(e->max_tokens - 1) * sizeof(*dst));
            dst[e->max_tokens - 1] = llama_vocab_sep(e->vocab);
            k = e->max_tokens;
            free(all);
        }
        at[i + 1] = at[i] + (size_t)k;
    }
    buf_free(&text);
    return rc;
}

/* Whole batches: as many texts as fit in BATCH_TOKENS (and BATCH_SEQS) each.
 * first[0..nb] gets the batches' first texts, first[nb] = n; returns nb. */
static size_t plan_batches(const size_t *at, size_t n, size_t *first)
{
    size_t nb = 0;
    for (size_t i = 0; i < n; i++)
        if (nb == 0 || i - first[nb - 1] == BATCH_SEQS || at[i + 1] - at[first[nb - 1]] > BATCH_TOKENS)
            first[nb++] = i;
    first[nb] = n;
    return nb;
}

/* The texts are cut into batches first; then, when there are more batches than one and
 * more than one thread to use, each thread runs whole batches on a context of its own
 * (measured on the demo's resumes, two cores: 1.4x the speed of both threads on each
 * batch, which wait for each other at every step of the graph). One batch, such as a
 * question, takes one context and all the threads it is worth. */
int llm_embed(llm_embedder *e, const char *const *texts, const size_t *lens, size_t n, float *out,
              int (*stop)(void *), void *ctx)
{
    llama_token *tok = NULL;
    size_t *at = malloc((n + 1) * sizeof(*at)), *first = malloc((n + 1) * sizeof(*first));
    pthread_t *tids = NULL;
    int rc = at && first ? 0 : error_set(LOCH_ENOMEM, "out of memory");
    job j = {.e = e, .out = out, .stop = stop, .stop_ctx = ctx};
    pthread_mutex_init(&j.mu, NULL);
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    if (rc < 0 || n == 0 || (rc = tokenize_all(e, texts, lens, n, &tok, at)) < 0)
        goto done;
    j.tok = tok, j.at = at, j.first = first;
    j.nbatches = plan_batches(at, n, first);

    /* Runners each run one thread on a context of their own, and take batches from one
     * queue: a runner on a core that something else holds takes fewer batches and stalls
     * no one, so there is one a core (or the caller's number). Only one batch run by
     * several threads, which spin for each other at every step, asks how many cores are
     * idle. (Asking for runners too cost half a pass: the load average is a minute's past,
     * so after any busy minute, such as the previous pass, a pass of 3,000 resumes ran
     * its first 6 s on one core; measured with the process's CPU ticks every 0.5 s.) */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = e->threads_given > 0 ? e->threads_given : cpus > 0 ? (int)cpus : 1;
    threads = threads < e->cap ? threads : e->cap; /* no more runners than contexts */
    int runners = (size_t)threads < j.nbatches ? threads : (int)j.nbatches;
    if (runners > 1 || at[n] < 128) {
        /* a batch of a few tokens (a question) takes one thread: more only wait for each other */
        j.threads = 1;
    } else {
        pthread_mutex_lock(&e->mu);
        j.threads = idle_threads(e->threads_given, e->threads_last, e->last_batch);
        pthread_mutex_unlock(&e->mu);
    }
    tids = runners > 1 ? calloc((size_t)runners - 1, sizeof(*tids)) : NULL;
    int started = 0;
    while (tids && started < runners - 1 && pthread_create(&tids[started], NULL, runner, &j) == 0)
        started++;
    runner(&j); /* this thread is a runner too (the only one if no thread could start) */
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);

    pthread_mutex_lock(&e->mu);
    e->threads_last = (started + 1) * j.threads;
    clock_gettime(CLOCK_MONOTONIC, &e->last_batch);
    pthread_mutex_unlock(&e->mu);
    if (j.code)
        rc = error_set(j.code, "%s", j.why);
done:
    pthread_mutex_destroy(&j.mu);
    free(tids);
    free(tok);
    free(first);
    free(at);
    return rc;
}

/* ---- generation ---- */

/* The context: the longest schema ask shows (12,000 bytes), a question of 4,096 bytes of
 * symbols (one token a byte) and a reply fit in 8,192 tokens (its cache is allocated
 * whole: about 230 MB for the 1.5B model). */
enum { GEN_BATCH = 512, GEN_CONTEXT = 8192, GEN_MAX_REPLY = 512 };

struct llm_generator {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    const char *template;  /* the model's chat template; NULL: ChatML */
    char **control;        /* the text of the model's control tokens ("<|im_end|>"), which
                              must never come from a message's content */
    int ncontrol;
    unsigned char control_first[256]; /* which bytes start one */
    llama_token *kv;       /* the tokens the context holds, in order (sequence 0) */
    int n_kv, n_ctx;
    long reads;            /* tokens read, ever: what a reply cost */
    int threads_given, threads_now;
    char name[128];
    pthread_mutex_t mu;
};

/* The cores idle now: the kernel's idle time over 20 ms, as whole cores. The load
 * average is no guide here: it lags by a minute, and counted the last command's own
 * threads against this one (a question read with 1 thread took 23 s, with 2 12 s). */
static int idle_cores_now(int given)
{
    if (given > 0)
        return given;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 2)
        return 1;
    unsigned long long v[2][8] = {{0}};
    for (int pass = 0; pass < 2; pass++) {
        FILE *f = fopen("/proc/stat", "r");
        int got = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[pass][0], &v[pass][1], &v[pass][2],
                             &v[pass][3], &v[pass][4], &v[pass][5], &v[pass][6], &v[pass][7])
                    : 0;
        if (f)
            fclose(f);
        if (got != 8)
            return (int)cpus;
        if (pass == 0)
            nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    unsigned long long total = 0, idle = (v[1][3] - v[0][3]) + (v[1][4] - v[0][4]);
    for (int i = 0; i < 8; i++)
        total += v[1][i] - v[0][i];
    if (total == 0)
        return (int)cpus;
    int n = (int)((double)idle / (double)total * (double)cpus + 0.5);
    return n < 1 ? 1 : n > cpus ? (int)cpus : n;
}

int llm_generator_open(llm_generator **out, const llm_generator_options *o)
{
    *out = NULL;
    llm_generator *g = calloc(1, sizeof(*g));
    if (!g)
        return error_set(LOCH_ENOMEM, "out of memory");
    pthread_mutex_init(&g->mu, NULL);
    int rc = load_model("generation", o ? o->model : NULL, &g->model, g->name, sizeof(g->name));
    if (rc < 0)
        goto fail;
    /* an embedding model (BERT and the like) says how it pools, or that it is not causal */
    char arch[64] = "", key[128], val[16];
    llama_model_meta_val_str(g->model, "general.architecture", arch, sizeof(arch));
    snprintf(key, sizeof(key), "%s.pooling_type", arch);
    int pools = llama_model_meta_val_str(g->model, key, val, sizeof(val)) > 0;
    snprintf(key, sizeof(key), "%s.attention.causal", arch);
    int noncausal = llama_model_meta_val_str(g->model, key, val, sizeof(val)) > 0 && strcmp(val, "false") == 0;
    if (!llama_model_has_decoder(g->model) || llama_model_has_encoder(g->model) || pools || noncausal) {
        rc = error_set(LOCH_EINVALID, "%s is not a model that writes text (an instruct model, such as Qwen2.5)",
                       o->model);
        goto fail;
    }
    g->n_ctx = o->context > 0 ? o->context : GEN_CONTEXT;
    if (g->n_ctx > llama_model_n_ctx_train(g->model))
        g->n_ctx = llama_model_n_ctx_train(g->model);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)g->n_ctx;
    cp.n_batch = cp.n_ubatch = GEN_BATCH;
    cp.n_seq_max = 1;
    g->threads_given = o->threads > 0 ? o->threads : 0;
    cp.n_threads = cp.n_threads_batch = g->threads_now = idle_cores_now(g->threads_given);
    if (!(g->ctx = llama_init_from_model(g->model, cp))) {
        rc = error_set(LOCH_EINVALID, "generation model %s: cannot make a context of %d tokens%s%s", o->model,
                       g->n_ctx, last_log[0] ? ": " : "", last_log);
        goto fail;
    }
    g->n_ctx = (int)llama_n_ctx(g->ctx);
    g->vocab = llama_model_get_vocab(g->model);
    g->template = llama_model_chat_template(g->model, NULL);
    for (llama_token t = 0; t < llama_vocab_n_tokens(g->vocab) && g->ncontrol < 4096; t++) {
        const char *text = (llama_vocab_get_attr(g->vocab, t) & (LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_USER_DEFINED))
                               ? llama_vocab_get_text(g->vocab, t) : NULL;
        if (!text || strlen(text) < 2)
            continue;
        char **more = realloc(g->control, (size_t)(g->ncontrol + 1) * sizeof(*more));
        if (!more || !(more[g->ncontrol] = strdup(text))) {
            g->control = more ? more : g->control;
            rc = error_set(LOCH_ENOMEM, "out of memory");
            goto fail;
        }
        g->control = more;
        g->control_first[(unsigned char)text[0]] = 1;
        g->ncontrol++;
    }
    if (!(g->kv = malloc((size_t)g->n_ctx * sizeof(*g->kv)))) {
        rc = error_set(LOCH_ENOMEM, "out of memory");
        goto fail;
    }
    *out = g;
    return 0;
fail:
    llm_generator_free(g);
    return rc;
}

void llm_generator_free(llm_generator *g)
{
    if (!g)
        return;
    if (g->ctx)
        llama_free(g->ctx);
    if (g->model)
        llama_model_free(g->model);
    free(g->kv);
    for (int i = 0; i < g->ncontrol; i++)
        free(g->control[i]);
    free(g->control);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

const char *llm_generator_name(const llm_generator *g) { return g->name; }

/* The prompt is tokenized with its control tokens parsed (the template's turn markers
 * must become them), so a message's content must hold none: "<|im_end|>" in a row of
 * the lake or in a question would end its turn and open one of its own. Each control
 * token's text in b gets a word joiner (U+2060) after its first character, and is then
 * read as the plain text it is. */
static int defuse_control(const llm_generator *g, buf *b)
{
    buf out = BUF_INIT;
    int changed = 0;
    for (size_t i = 0; i < b->len; i++) {
        const char *hit = NULL;
        for (int k = 0; g->control_first[(unsigned char)b->data[i]] && !hit && k < g->ncontrol; k++)
            if (strncmp(b->data + i, g->control[k], strlen(g->control[k])) == 0)
                hit = g->control[k];
        if (hit) {
            size_t first = 1;
            while (first < strlen(hit) && ((unsigned char)hit[first] & 0xC0) == 0x80)
                first++;
            if (!changed && buf_put(&out, b->data, i) < 0)
                return -1;
            changed = 1;
            if (buf_put(&out, b->data + i, first) < 0 || buf_puts(&out, "\xE2\x81\xA0") < 0)
                return -1;
            i += first - 1;
        } else if (changed && buf_putc(&out, b->data[i]) < 0) {
            return -1;
        }
    }
    if (changed) {
        if (buf_putc(&out, '\0') < 0)
            return -1;
        out.len--;
        buf_free(b);
        *b = out;
    }
    return 0;
}

/* The chat laid out by the model's template, as text (NUL-terminated in out). */
static int chat_prompt(const llm_generator *g, const llm_message *msgs, size_t n, bool add_ass, buf *out)
{
    struct llama_chat_message *chat = calloc(n ? n : 1, sizeof(*chat));
    buf clean[8];
    int rc = 0;
    if (!chat || n > 8)
        return error_set(chat ? LOCH_EINVALID : LOCH_ENOMEM, chat ? "a chat of at most 8 messages" : "out of memory");
    for (size_t i = 0; i < n; i++)
        clean[i] = (buf)BUF_INIT;
    size_t total = 64;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *c = msgs[i].content ? msgs[i].content : "";
        if (valid_text(c, strlen(c), &clean[i]) < 0 || defuse_control(g, &clean[i]) < 0)
            rc = error_set(LOCH_ENOMEM, "out of memory");
        chat[i].role = msgs[i].role;
        chat[i].content = clean[i].data;
        total += clean[i].len + 64;
    }
    if (rc == 0 && total > INT32_MAX / 2)
        rc = error_set(LOCH_EINVALID, "a chat of %zu bytes is too long for a model", total);
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        buf_clear(out);
        if (buf_grow(out, total) < 0) {
            rc = error_set(LOCH_ENOMEM, "out of memory");
            break;
        }
        int32_t k = llama_chat_apply_template(g->template ? g->template : "chatml", chat, n, add_ass, out->data,
                                              (int32_t)total);
        if (k < 0) {
            rc = error_set(LOCH_EUNSUPPORTED, "generation model %s: its chat template is not one llama.cpp knows",
                           g->name);
        } else if ((size_t)k < total) {
            out->len = (size_t)k;
            out->data[k] = '\0';
            break;
        } else {
            total = (size_t)k + 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        buf_free(&clean[i]);
    free(chat);
    return rc;
}

static bool abort_step(void *ctx)
{
    const llm_generate_options *o = ctx;
    return o->stop && o->stop(o->ctx);
}

/* Reads tok[from..n) into the context after what it holds, which is tok[0..from). */
static int read_tokens(llm_generator *g, const llama_token *tok, int from, int n, const llm_generate_options *o)
{
    llama_set_abort_callback(g->ctx, abort_step, (void *)o);
    for (int at = from; at < n;) {
        int k = n - at < GEN_BATCH ? n - at : GEN_BATCH;
        struct llama_batch b = llama_batch_get_one((llama_token *)tok + at, k);
        last_log[0] = '\0';
        int32_t r = llama_decode(g->ctx, b);
        if (r != 0) {
            /* what the context holds past the tokens read whole is unknown now */
            llama_memory_seq_rm(llama_get_memory(g->ctx), 0, at, -1);
            g->n_kv = at;
            if (r == 2 || abort_step((void *)o))
                return error_set(LOCH_EINTERRUPTED, "cancelled");
            return error_set(LOCH_ERROR, "the generation model failed%s%s", last_log[0] ? ": " : "", last_log);
        }
        if (tok != g->kv)
            memcpy(g->kv + at, tok + at, (size_t)k * sizeof(*tok));
        at += k;
        g->n_kv = at;
        g->reads += k;
    }
    return 0;
}

/* text's tokens, malloc'd into *out. */
static int tokenize(const llm_generator *g, const buf *text, llama_token **out, int32_t *n)
{
    int32_t len = (int32_t)text->len;
    *out = NULL;
    *n = -llama_tokenize(g->vocab, text->data, len, NULL, 0, true, true);
    if (*n <= 0 || !(*out = malloc((size_t)*n * sizeof(**out))) ||
        llama_tokenize(g->vocab, text->data, len, *out, *n, true, true) != *n)
        return error_set(*n <= 0 ? LOCH_ERROR : LOCH_ENOMEM, "cannot tokenize a prompt");
    return 0;
}

/* The file that keeps the context after reading tok[0..n): named by the model and
 * the tokens, so a file is only ever loaded for the very prompt it was made from. */
static int prefix_path(const llm_generator *g, const char *dir, const llama_token *tok, int n, char *out,
                       size_t cap)
{
    sha256_ctx h;
    char desc[256], hex[65];
    uint64_t size = llama_model_size(g->model);
    llama_model_desc(g->model, desc, sizeof(desc));
    if (sha256_init(&h) < 0)
        return LOCH_ENOMEM;
    sha256_update(&h, "loch model prefix 1", 20);
    sha256_update(&h, desc, strlen(desc) + 1);
    sha256_update(&h, g->name, strlen(g->name) + 1);
    sha256_update(&h, &size, sizeof(size));
    sha256_update(&h, &g->n_ctx, sizeof(g->n_ctx));
    sha256_update(&h, tok, (size_t)n * sizeof(*tok));
    if (sha256_hex(&h, hex) < 0)
        return LOCH_ENOMEM;
    snprintf(out, cap, "%s/prefix-%.32s.kv", dir, hex);
    return 0;
}

/* Keeps the newest PREFIX_FILES prefix files of dir: each is tens of megabytes, and a
 * lake's schema changes with its data. */
enum { PREFIX_FILES = 4 };
static void prune_prefixes(const char *dir)
{
    DIR *d = opendir(dir);
    struct { time_t mtime; char name[64]; } keep[PREFIX_FILES + 1];
    int n = 0;
    struct dirent *e;
    char path[4200];
    while (d && (e = readdir(d))) {
        struct stat st;
        size_t len = strlen(e->d_name);
        const char *t = strstr(e->d_name, ".kv.tmp-");
        if (strncmp(e->d_name, "prefix-", 7) == 0 && t && kill((pid_t)atol(t + 8), 0) != 0 && errno == ESRCH) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name); /* its writer died before its rename */
            unlink(path);
            continue;
        }
        if (strncmp(e->d_name, "prefix-", 7) != 0 || len < 4 || len >= 64 || strcmp(e->d_name + len - 3, ".kv") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        /* insert by mtime, newest first; the one pushed past the end goes */
        int at = n;
        while (at > 0 && keep[at - 1].mtime < st.st_mtime)
            at--;
        if (at == PREFIX_FILES) {
            unlink(path);
            continue;
        }
        if (n == PREFIX_FILES) {
            snprintf(path, sizeof(path), "%s/%s", dir, keep[n - 1].name);
            unlink(path);
            n--;
        }
        memmove(&keep[at + 1], &keep[at], (size_t)(n - at) * sizeof(keep[0]));
        keep[at].mtime = st.st_mtime;
        snprintf(keep[at].name, sizeof(keep[at].name), "%s", e->d_name);
        n++;
    }
    if (d)
        closedir(d);
}

/* Reads the first o->keep messages' tokens pre[0..npre) from o->prefix_dir's file when
 * it is there, else reads them and writes the file; tok must start with them. Returns
 * how many tokens the context holds now (0 when nothing came of it: a cache). */
/* A prefix file, loch's own wrapping of llama.cpp's state: llama.cpp asserts (ends the
 * process) on some damaged states, so a file is only handed to it whole and as it was
 * written: magic, the tokens, the state's length, the state, and a SHA-256 of all that
 * before it. Only a regular file is opened, without following a link, and never waits
 * (a FIFO there hung every question). */
static const char PREFIX_MAGIC[8] = "LOCHKV1";
enum { PREFIX_MAX = 1 << 30 };

static int load_prefix(llm_generator *g, const char *path, const llama_token *pre, int npre)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    uint8_t *data = NULL;
    int ok = 0;
    size_t head = sizeof(PREFIX_MAGIC) + sizeof(int32_t) + (size_t)npre * sizeof(*pre) + sizeof(uint64_t);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)(head + 32) &&
        st.st_size < PREFIX_MAX && (data = malloc((size_t)st.st_size))) {
        size_t n = (size_t)st.st_size, got = 0;
        ssize_t r;
        while (got < n && (r = read(fd, data + got, n - got)) > 0)
            got += (size_t)r;
        int32_t ntok;
        uint64_t len;
        memcpy(&ntok, data + sizeof(PREFIX_MAGIC), sizeof(ntok));
        memcpy(&len, data + head - sizeof(len), sizeof(len));
        uint8_t sum[32];
        sha256_ctx h;
        if (got == n && memcmp(data, PREFIX_MAGIC, sizeof(PREFIX_MAGIC)) == 0 && ntok == npre &&
            memcmp(data + sizeof(PREFIX_MAGIC) + sizeof(ntok), pre, (size_t)npre * sizeof(*pre)) == 0 &&
            len == n - head - 32) {
            if (sha256_init(&h) == 0) {
                sha256_update(&h, data, n - 32);
                ok = sha256_final(&h, sum) == 0 && memcmp(sum, data + n - 32, 32) == 0;
            }
        }
        llama_memory_t mem = llama_get_memory(g->ctx);
        llama_memory_clear(mem, true);
        ok = ok && llama_state_seq_set_data(g->ctx, data + head, (size_t)len, 0) > 0 &&
             llama_memory_seq_pos_max(mem, 0) == npre - 1 && llama_memory_seq_pos_min(mem, 0) == 0;
        if (!ok)
            llama_memory_clear(mem, true);
    }
    if (fd >= 0)
        close(fd);
    free(data);
    return ok;
}

static void save_prefix(llm_generator *g, const char *dir, const char *path, const llama_token *pre, int npre)
{
    size_t len = llama_state_seq_get_size(g->ctx, 0);
    size_t head = sizeof(PREFIX_MAGIC) + sizeof(int32_t) + (size_t)npre * sizeof(*pre) + sizeof(uint64_t);
    uint8_t *data = len && len < PREFIX_MAX ? malloc(head + len + 32) : NULL;
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
    int fd = -1;
    if (data && llama_state_seq_get_data(g->ctx, data + head, len, 0) == len) {
        int32_t ntok = npre;
        uint64_t len64 = len;
        memcpy(data, PREFIX_MAGIC, sizeof(PREFIX_MAGIC));
        memcpy(data + sizeof(PREFIX_MAGIC), &ntok, sizeof(ntok));
        memcpy(data + sizeof(PREFIX_MAGIC) + sizeof(ntok), pre, (size_t)npre * sizeof(*pre));
        memcpy(data + head - sizeof(len64), &len64, sizeof(len64));
        sha256_ctx h;
        int hashed = sha256_init(&h) == 0;
        if (hashed) {
            sha256_update(&h, data, head + len);
            hashed = sha256_final(&h, data + head + len) == 0;
        }
        fd = !hashed ? -1 : open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    }
    size_t n = head + len + 32, put = 0;
    ssize_t w = 0;
    while (fd >= 0 && put < n && (w = write(fd, data + put, n - put)) > 0)
        put += (size_t)w;
    if (fd >= 0 && (close(fd) != 0 || put != n || rename(tmp, path) != 0))
        unlink(tmp);
    else if (fd >= 0)
        prune_prefixes(dir);
    free(data);
}

/* Reads the first o->keep messages' tokens pre[0..npre) from o->prefix_dir's file when
 * it is there and whole, else reads them and writes the file; tok must start with them.
 * *held: how many tokens the context holds now. The file is a cache: any failure of it
 * costs only the reading. */
static int keep_prefix(llm_generator *g, const llama_token *pre, int npre, int same, const llm_generate_options *o,
                       int *held)
{
    *held = same;
    char path[4096];
    int cached = prefix_path(g, o->prefix_dir, pre, npre, path, sizeof(path)) == 0; /* else read, not kept */
    error_clear();
    if (same < npre) {
        if (cached && load_prefix(g, path, pre, npre)) {
            memcpy(g->kv, pre, (size_t)npre * sizeof(*pre));
            g->n_kv = *held = npre;
            return 0;
        }
        g->n_kv = same = *held = 0; /* the context was cleared: read it all */
    }
    if (same >= npre)
        return 0;
    int rc = read_tokens(g, pre, same, npre, o);
    if (rc < 0)
        return rc;
    *held = npre;
    if (cached)
        save_prefix(g, o->prefix_dir, path, pre, npre);
    return 0;
}

int llm_generate(llm_generator *g, const llm_message *msgs, size_t n, const llm_generate_options *opts,
                 char **reply, int tokens[2])
{
    static const llm_generate_options none;
    const llm_generate_options *o = opts ? opts : &none;
    buf prompt = BUF_INIT, text = BUF_INIT;
    llama_token *tok = NULL;
    struct llama_sampler *smpl = NULL;
    *reply = NULL;
    if (tokens)
        tokens[0] = tokens[1] = 0;
    int max_reply = o->max_tokens > 0 ? o->max_tokens : GEN_MAX_REPLY;
    pthread_mutex_lock(&g->mu);
    int rc = chat_prompt(g, msgs, n, true, &prompt);
    int32_t np = 0, npre = 0;
    llama_token *pre = NULL;
    rc = rc ? rc : tokenize(g, &prompt, &tok, &np);
    if (rc == 0 && o->prefix_dir && o->keep > 0 && (size_t)o->keep < n) {
        /* the kept messages' tokens, when they are where the whole prompt starts */
        buf kept = BUF_INIT;
        if (chat_prompt(g, msgs, (size_t)o->keep, false, &kept) < 0 || tokenize(g, &kept, &pre, &npre) < 0 ||
            npre >= np || memcmp(pre, tok, (size_t)npre * sizeof(*tok)) != 0)
            npre = 0;
        buf_free(&kept);
        error_clear();
    }
    if (rc == 0 && np + max_reply > g->n_ctx)
        rc = error_set(LOCH_EINVALID,
                       "the prompt is %d tokens and the reply may take %d; the model's context holds %d", (int)np,
                       max_reply, g->n_ctx);
    if (rc == 0) { /* the threads for this reply, from the cores idle as it starts */
        int threads = idle_cores_now(g->threads_given);
        if (threads != g->threads_now) {
            llama_set_n_threads(g->ctx, threads, threads);
            g->threads_now = threads;
        }
    }
    if (rc == 0) {
        /* What the context holds already: the longest common start, less one token at
         * least, whose logits the first step needs. */
        int same = 0;
        while (same < g->n_kv && same < np - 1 && g->kv[same] == tok[same])
            same++;
        if (!llama_memory_seq_rm(llama_get_memory(g->ctx), 0, same, -1)) {
            llama_memory_clear(llama_get_memory(g->ctx), true);
            same = 0;
        }
        g->n_kv = same;
        memcpy(g->kv, tok, (size_t)same * sizeof(*tok));
        long reads = g->reads;
        if (npre > 0)
            rc = keep_prefix(g, pre, npre, same, o, &same);
        rc = rc ? rc : read_tokens(g, tok, same, np, o);
        if (tokens)
            tokens[0] = (int)(g->reads - reads);
    }
    if (rc == 0) {
        struct llama_sampler_chain_params sp = llama_sampler_chain_default_params();
        smpl = llama_sampler_chain_init(sp);
        if (o->temperature > 0) {
            llama_sampler_chain_add(smpl, llama_sampler_init_top_k(40));
            llama_sampler_chain_add(smpl, llama_sampler_init_top_p(0.95f, 1));
            llama_sampler_chain_add(smpl, llama_sampler_init_temp(o->temperature));
            llama_sampler_chain_add(smpl, llama_sampler_init_dist(o->seed));
        } else {
            llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
        }
    }
    size_t told = 0; /* bytes of text handed to on_text */
    for (int step = 0; rc == 0 && step < max_reply; step++) {
        if (abort_step((void *)o)) {
            rc = error_set(LOCH_EINTERRUPTED, "cancelled");
            break;
        }
        llama_token t = llama_sampler_sample(smpl, g->ctx, -1);
        if (llama_vocab_is_eog(g->vocab, t))
            break;
        char piece[256];
        int32_t k = llama_token_to_piece(g->vocab, t, piece, sizeof(piece), 0, false);
        if (k < 0 || buf_put(&text, piece, (size_t)k) < 0) {
            rc = error_set(k < 0 ? LOCH_ERROR : LOCH_ENOMEM, k < 0 ? "a token too long to show" : "out of memory");
            break;
        }
        if (tokens)
            tokens[1]++;
        /* hand on whole characters only: a token may end inside one */
        size_t whole = told + utf8_valid_prefix((const unsigned char *)text.data + told, text.len - told);
        int enough = 0;
        if (whole > told && o->on_text) {
            enough = o->on_text(o->ctx, text.data + told, whole - told);
            told = whole;
        }
        if (enough || step + 1 == max_reply)
            break;
        if (g->n_kv + 1 > g->n_ctx)
            break;
        g->kv[g->n_kv] = t;
        rc = read_tokens(g, g->kv, g->n_kv, g->n_kv + 1, o);
    }
    if (rc == 0 && valid_text(text.data ? text.data : "", text.len, &prompt) == 0)
        *reply = buf_detach(&prompt);
    else if (rc == 0)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    llama_set_abort_callback(g->ctx, NULL, NULL);
    pthread_mutex_unlock(&g->mu);
    if (smpl)
        llama_sampler_free(smpl);
    free(tok);
    free(pre);
    buf_free(&prompt);
    buf_free(&text);
    return rc;
}
