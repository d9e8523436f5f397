/*
 * tests/unit/test_embed.c - the embedded embedding model (adapters/llm_llama.c) against
 * sentence-transformers.
 *
 * The oracle is tests/data/minilm_reference.json: the vectors sentence-transformers
 * computed for all-MiniLM-L6-v2 (tests/data/make_minilm_reference.py), over texts that
 * stress the tokenizer (accents, CJK, Greek, Cyrillic, emoji, empty, one letter, a text
 * past the 256-token window) and one text of invalid UTF-8, which must embed as its
 * decode(errors="replace"). Each is embedded alone and all together in one call (the
 * batching must not change a vector), and must reach cosine >= 0.999: both conversions
 * scripts/setup.sh makes, f16 and bf16, and they give the model one name. Batches run
 * side by side on several contexts, calls from several threads share them, and a stop
 * asked between batches ends a call: none of it may change a vector or lose a context.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "adapters/llm.h"
#include "loch/errors.h"
#include "test.h"
#include "util/arena.h"
#include "util/json.h"
#include "vector/embed.h"

const char *loch_error_last(void);

#ifndef LOCH_MODEL_DIR
#define LOCH_MODEL_DIR "third_party/models"
#endif
#define MODEL LOCH_MODEL_DIR "/all-minilm-l6-v2.f16.gguf"
#define MODEL_BF16 LOCH_MODEL_DIR "/all-minilm-l6-v2.bf16.gguf"
#define MAX_ITEMS 64

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        rewind(f);
        if (n >= 0 && (s = malloc((size_t)n + 1)) && fread(s, 1, (size_t)n, f) == (size_t)n) {
            s[n] = '\0';
            *len = (size_t)n;
        } else {
            free(s);
            s = NULL;
        }
    }
    if (f)
        fclose(f);
    return s;
}

static double cosine(const float *a, const double *b, int dim)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < dim; i++) {
        ab += a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

static void matches_sentence_transformers(const char *model)
{
    size_t len = 0;
    char *text = slurp("tests/data/minilm_reference.json", &len);
    CHECK(text != NULL);
    arena a = ARENA_INIT;
    json *doc = NULL;
    CHECK_OK(text ? json_parse(&a, text, len, &doc) : -1);
    llm_embedder *e = NULL;
    llm_embedder_options o = {model, 1, 0};
    CHECK_OK(llm_embedder_open(&e, &o));
    if (!doc || !e) {
        llm_embedder_free(e);
        arena_free(&a);
        free(text);
        return;
    }
    CHECK(llm_embedder_dim(e) == 384);
    CHECK_STR(llm_embedder_name(e), "all-MiniLM-L6-v2");
    const char *texts[MAX_ITEMS];
    size_t lens[MAX_ITEMS];
    char *raw[MAX_ITEMS] = {0};
    double *want[MAX_ITEMS] = {0};
    size_t n = 0;
    for (json *it = json_get(doc, "items")->child; it && n < MAX_ITEMS; it = it->next, n++) {
        json *t = json_get(it, "text"), *b = json_get(it, "bytes");
        if (t) {
            texts[n] = t->str;
            lens[n] = t->len;
        } else { /* latin-1 code points stand for bytes: back to the bytes, invalid UTF-8 and all */
            raw[n] = malloc(b->len + 1);
            size_t k = 0;
            for (size_t i = 0; i < b->len; i++) {
                unsigned char c = (unsigned char)b->str[i];
                if (c == 0xC2 || c == 0xC3) { /* a two-byte UTF-8 form of U+0080..U+00FF */
                    raw[n][k++] = (char)(((c & 0x03) << 6) | ((unsigned char)b->str[++i] & 0x3F));
                } else {
                    raw[n][k++] = (char)c;
                }
            }
            texts[n] = raw[n];
            lens[n] = k;
        }
        json *v = json_get(it, "vector");
        want[n] = malloc(384 * sizeof(double));
        size_t d = 0;
        for (json *x = v ? v->child : NULL; x && d < 384; x = x->next)
            want[n][d++] = x->num;
        CHECK(d == 384);
    }
    CHECK(n >= 13);
    float *one = malloc(384 * sizeof(float)), *all = malloc(n * 384 * sizeof(float));
    double worst = 1;
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(llm_embed(e, &texts[i], &lens[i], 1, one, NULL, NULL));
        double c = cosine(one, want[i], 384);
        worst = c < worst ? c : worst;
        if (c < 0.999)
            fprintf(stderr, "  item %zu: cosine %.6f\n", i, c);
        CHECK(c >= 0.999);
        double norm = 0;
        for (int d = 0; d < 384; d++)
            norm += (double)one[d] * one[d];
        CHECK(fabs(norm - 1) < 1e-4);
    }
    CHECK_OK(llm_embed(e, texts, lens, n, all, NULL, NULL));
    for (size_t i = 0; i < n; i++)
        CHECK(cosine(all + i * 384, want[i], 384) >= 0.999);
    printf("  %s: min cosine to sentence-transformers over %zu texts: %.6f\n", strrchr(model, '/') + 1, n, worst);
    for (size_t i = 0; i < n; i++) {
        free(raw[i]);
        free(want[i]);
    }
    free(one);
    free(all);
    llm_embedder_free(e);
    arena_free(&a);
    free(text);
}

static void test_matches_sentence_transformers(void)
{
    matches_sentence_transformers(MODEL);
    matches_sentence_transformers(MODEL_BF16);
}

static void test_refuses_what_is_not_an_embedding_model(void)
{
    llm_embedder *e = NULL;
    llm_embedder_options o = {"/nonexistent/model.gguf", 1, 0};
    CHECK(llm_embedder_open(&e, &o) == LOCH_ENOTFOUND && e == NULL);
    CHECK(strstr(loch_error_last(), "/nonexistent/model.gguf") != NULL);
    /* a file that is not GGUF at all */
    char *dir = temp_dir(), path[512];
    snprintf(path, sizeof(path), "%s/junk.gguf", dir);
    FILE *f = fopen(path, "wb");
    fputs("GGUF but not really, just some bytes\n", f);
    fclose(f);
    o.model = path;
    CHECK(llm_embedder_open(&e, &o) == LOCH_EINVALID && e == NULL);
    CHECK(strstr(loch_error_last(), "cannot load") != NULL);
    o.model = NULL;
    CHECK(llm_embedder_open(&e, &o) == LOCH_EINVALID);
    remove_temp_dir(dir);
    free(dir);
}

/* Lake handles of one process (a server's workers) share one copy of a model: the same
 * file and threads give the same embedder, which outlives any one of its handles. */
static void test_handles_share_a_model(void)
{
    embed_state a, b, c;
    const char *name = NULL, *text = "shared weights";
    size_t len = strlen(text);
    int dim = 0;
    float v[384], w[384];
    embed_init(&a);
    embed_init(&b);
    embed_init(&c);
    c.spec.threads = 1;
    CHECK_OK(embed_model(&a, &name, &dim));
    CHECK_OK(embed_model(&b, &name, &dim));
    CHECK_OK(embed_model(&c, &name, &dim));
    CHECK(a.model && a.model == b.model && c.model != a.model); /* other threads: its own */
    /* the same model by its provider's name is the same model; another provider is not */
    embed_state d, e;
    embed_init(&d);
    embed_init(&e);
    d.spec.name = "embedded:";
    e.spec.name = "ollama:";
    CHECK_OK(embed_model(&d, &name, &dim));
    CHECK(d.model == a.model);
    CHECK(embed_model(&e, &name, &dim) == LOCH_EINVALID); /* no model's name: said, nothing sent */
    CHECK(strstr(loch_error_last(), "needs a model's name") != NULL);
    e.spec.name = "gemini:x";
    CHECK(embed_model(&e, &name, &dim) < 0); /* "gemini:x" is a file's name, of the embedded provider */
    CHECK(strstr(loch_error_last(), "gemini:x") != NULL);
    e.spec.name = "x";
    e.spec.provider = "gemini";
    CHECK(embed_model(&e, &name, &dim) == LOCH_EINVALID);
    CHECK(strstr(loch_error_last(), "embedded, ollama or openai") != NULL);
    embed_close(&d);
    embed_close(&e);
    CHECK_OK(embed_texts(&a, &text, &len, 1, v, 384, &dim));
    embed_close(&a);
    CHECK_OK(embed_texts(&b, &text, &len, 1, w, 384, &dim)); /* b's model lives on */
    CHECK(dim == 384 && memcmp(v, w, sizeof v) == 0);
    embed_close(&b);
    embed_close(&c);
}

/* Texts of many lengths, in many batches: text i says something about i. */
enum { MANY = 48 }; /* lengths of 1 to 90 words: more than a dozen batches */
static char many_text[MANY][600];
static const char *many_ptr[MANY];
static size_t many_len[MANY];

static void make_many(void)
{
    static const char *words[] = {"kubernetes", "migration", "java", "recruiter", "Chicago", "placed", "résumé",
                                  "cloud", "docker", "payroll", "北京", "led", "a", "team", "of", "twelve"};
    for (int i = 0; i < MANY; i++) {
        size_t n = 0;
        for (int w = 0; w < 1 + (i * 7) % 90 && n + 20 < sizeof(many_text[i]); w++)
            n += (size_t)snprintf(many_text[i] + n, sizeof(many_text[i]) - n, "%s%s", w ? " " : "",
                                  words[(i + w * 3) % 16]);
        many_ptr[i] = many_text[i], many_len[i] = n;
    }
}

typedef struct {
    llm_embedder *e;
    float *out;
    int rc;
} call;

static void *embed_many(void *arg)
{
    call *c = arg;
    c->rc = llm_embed(c->e, many_ptr, many_len, MANY, c->out, NULL, NULL);
    return NULL;
}

static double worst_cosine(const float *a, const float *b, size_t n)
{
    double worst = 1;
    for (size_t i = 0; i < n; i++) {
        double ab = 0;
        for (int d = 0; d < 384; d++)
            ab += (double)a[i * 384 + d] * b[i * 384 + d];
        worst = ab < worst ? ab : worst;
    }
    return worst;
}

static int stop_after(void *ctx) { return atomic_fetch_add((atomic_int *)ctx, 1) >= 3; }

static void test_batches_side_by_side(void)
{
    make_many();
    llm_embedder *one = NULL, *three = NULL;
    llm_embedder_options o1 = {MODEL, 1, 0}, o3 = {MODEL, 3, 0};
    CHECK_OK(llm_embedder_open(&one, &o1));
    CHECK_OK(llm_embedder_open(&three, &o3));
    if (!one || !three) {
        llm_embedder_free(one);
        llm_embedder_free(three);
        return;
    }
    float *want = malloc(MANY * 384 * sizeof(float)), *got = malloc(MANY * 384 * sizeof(float));
    CHECK_OK(llm_embed(one, many_ptr, many_len, MANY, want, NULL, NULL));
    /* three contexts side by side give each text the vector one context gives it */
    CHECK_OK(llm_embed(three, many_ptr, many_len, MANY, got, NULL, NULL));
    CHECK(worst_cosine(want, got, MANY) > 0.99999);
    /* and alone, in a batch of its own, the same again */
    CHECK_OK(llm_embed(three, &many_ptr[37], &many_len[37], 1, got, NULL, NULL));
    CHECK(worst_cosine(want + 37 * 384, got, 1) > 0.99999);

    /* five threads call at once: more runners than contexts, each waits its turn */
    pthread_t th[5];
    call calls[5];
    for (int t = 0; t < 5; t++) {
        calls[t] = (call){three, malloc(MANY * 384 * sizeof(float)), -1};
        CHECK(pthread_create(&th[t], NULL, embed_many, &calls[t]) == 0);
    }
    for (int t = 0; t < 5; t++) {
        pthread_join(th[t], NULL);
        CHECK_OK(calls[t].rc);
        CHECK(worst_cosine(want, calls[t].out, MANY) > 0.99999);
        free(calls[t].out);
    }

    /* a stop asked between batches ends the call, and every context is free again after */
    atomic_int asked = 0;
    CHECK(llm_embed(three, many_ptr, many_len, MANY, got, stop_after, &asked) == LOCH_EINTERRUPTED);
    CHECK(atomic_load(&asked) >= 4 && atomic_load(&asked) < MANY);
    for (int t = 0; t < 3; t++) { /* three calls in a row, each with all the contexts */
        memset(got, 0, MANY * 384 * sizeof(float));
        CHECK_OK(llm_embed(three, many_ptr, many_len, MANY, got, NULL, NULL));
        CHECK(worst_cosine(want, got, MANY) > 0.99999);
    }
    free(want);
    free(got);
    llm_embedder_free(one);
    llm_embedder_free(three);
}

TEST_MAIN(T(test_matches_sentence_transformers), T(test_refuses_what_is_not_an_embedding_model),
          T(test_handles_share_a_model), T(test_batches_side_by_side))
