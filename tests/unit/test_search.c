/*
 * tests/unit/test_search.c - loch_search through the public API on lake handles: a
 * search through the column's vector index (made by loch_embed_column) and one in SQL
 * over the embeddings (the index removed) give the same rows in the same order; the
 * handle's second search without an index makes it again; a re-embed after a change
 * is seen at once by the same handle. Each result says which way it went. And the
 * full-text adapter itself: BM25 order, stemming, tags, damaged files, free text made
 * a query.
 */
#include <math.h>
#include <stdint.h>

#include "adapters/fts.h"
#include "vector/chunk.h"
#include "vector/embsync.h"
#include "loch/loch.h"
#include "test.h"

static char *cell(loch_result *r, size_t row, size_t col)
{
    return r && row < loch_result_rows(r) ? loch_result_text(r, row, col) : NULL;
}

static void sql(loch_lake *lake, const char *q)
{
    loch_result *r = NULL;
    CHECK_OK(loch_sql(&r, lake, q));
    loch_result_free(r);
}

/* The keys of a search's rows, "1,6,3". */
static void keys_of(loch_lake *lake, const char *query, char *out, size_t cap, double *top_score, const char *via)
{
    loch_result *r = NULL;
    loch_search_options o = LOCH_SEARCH_OPTIONS_INIT;
    o.k = 3;
    out[0] = '\0';
    CHECK_OK(loch_search(&r, lake, "people", query, &o));
    CHECK(r && loch_result_message(r) && strstr(loch_result_message(r), via));
    if (r && loch_result_message(r) && !strstr(loch_result_message(r), via))
        fprintf(stderr, "  searched: %s (wanted %s)\n", loch_result_message(r), via);
    for (size_t i = 0; r && i < loch_result_rows(r); i++) {
        char *k = cell(r, i, 0);
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", i ? "," : "", k ? k : "?");
        loch_free(k);
    }
    char *s = cell(r, 0, 1);
    *top_score = s ? atof(s) : -1;
    loch_free(s);
    loch_result_free(r);
}

static void test_index_search_equals_sql_search(void)
{
    char *dir = temp_dir(), a[256], b[256], c[256], cmd[600];
    double sa, sb, sc;
    loch_lake *lake = NULL;
    loch_lake_options lo = LOCH_LAKE_OPTIONS_INIT;
    CHECK_OK(loch_lake_open(&lake, dir, &lo));
    if (!lake)
        return;
    sql(lake, "CREATE TABLE people (id BIGINT, resume VARCHAR)");
    sql(lake, "INSERT INTO people VALUES (1, 'Kubernetes platform engineer, led a cluster migration'), "
              "(2, 'Nurse in intensive care'), (3, 'Pastry chef and baker'), (4, 'Accountant, audits and taxes'), "
              "(5, 'Site reliability engineer: containers, Docker, on-call'), (6, 'Truck driver, long haul')");
    loch_result *r = NULL;
    CHECK_OK(loch_embed_column(&r, lake, "people", "resume", "id"));
    loch_result_free(r);
    keys_of(lake, "container orchestration migration", a, sizeof(a), &sa, "by their index");
    loch_lake_free(lake);
    /* without the index: SQL, then (the handle's second search) the index made again */
    snprintf(cmd, sizeof cmd, "rm -r '%s/people/_loch_index'", dir);
    CHECK(system(cmd) == 0);
    CHECK_OK(loch_lake_open(&lake, dir, &lo));
    if (!lake)
        return;
    keys_of(lake, "container orchestration migration", b, sizeof(b), &sb, "no current index");
    keys_of(lake, "container orchestration migration", c, sizeof(c), &sc, "by their index");
    CHECK_STR(a, b);
    CHECK_STR(a, c);
    CHECK(strncmp(a, "1,5", 3) == 0 || strncmp(a, "5,1", 3) == 0);
    CHECK(fabs(sa - sb) < 1e-5 && fabs(sa - sc) < 1e-5);
    /* a change, embedded again: the same handle's next search sees it */
    sql(lake, "UPDATE people SET resume = 'Baker: bread and croissants' WHERE id = 6");
    CHECK_OK(loch_embed_column(&r, lake, "people", "resume", "id"));
    loch_result_free(r);
    keys_of(lake, "who bakes bread", a, sizeof(a), &sa, "by their index");
    CHECK(strncmp(a, "6,3", 3) == 0 || strncmp(a, "3,6", 3) == 0);
    loch_lake_free(lake);
    remove_temp_dir(dir);
    free(dir);
}

static int collect(void *ctx, int64_t id, const char *key, double score)
{
    buf *b = ctx;
    (void)score, (void)id;
    buf_printf(b, "%s%s", b->len ? "," : "", key);
    return 0;
}

static int collect_ids(void *ctx, int64_t id, const char *key, double score)
{
    buf *b = ctx;
    (void)score;
    buf_printf(b, "%s%lld:%s", b->len ? "," : "", (long long)id, key);
    return 0;
}

static int always(void *ctx)
{
    (void)ctx;
    return 1;
}

static void test_full_text_index(void)
{
    char *dir = temp_dir(), path[512];
    fts *f = NULL;
    buf got = BUF_INIT, q = BUF_INIT;
    snprintf(path, sizeof path, "%s/t.fts", dir);
    CHECK_OK(fts_create(&f, path));
    const char *rows[][2] = {{"a", "Kubernetes migrations and Kubernetes upgrades"}, {"b", "a migration of data"},
                             {"c", "bread, croissants"}, {"d", "Crème brûlée"}};
    for (size_t i = 0; f && i < 4; i++)
        CHECK_OK(fts_add(f, (int64_t)(10 * i), rows[i][0], 1, rows[i][1], strlen(rows[i][1])));
    CHECK(fts_add(f, 10, "e", 1, "x", 1) == LOCH_EIO); /* one row an id */
    CHECK_OK(fts_finish(f, "tag-1"));
    f = NULL;
    CHECK(fts_open(&f, path, "tag-2") == LOCH_ECONFLICT && !f);
    CHECK_OK(fts_open(&f, path, "tag-1"));
    if (f) {
        CHECK_OK(fts_search(f, "migration", collect, &got, NULL, NULL)); /* stemmed: both; two mentions first */
        CHECK_STR(got.data, "b,a");
        buf_clear(&got);
        CHECK_OK(fts_search(f, "kubernetes AND upgrade", collect, &got, NULL, NULL));
        CHECK_STR(got.data, "a");
        buf_clear(&got);
        CHECK_OK(fts_search(f, "creme", collect, &got, NULL, NULL)); /* diacritics folded */
        CHECK_STR(got.data, "d");
        CHECK(fts_search(f, "AND AND (", collect, &got, NULL, NULL) == LOCH_EINVALID);
        /* a text again by its id, when the key is the one asked for */
        buf_clear(&got);
        CHECK_OK(fts_text(f, 20, "c", &got));
        CHECK_STR(got.data, "bread, croissants");
        CHECK(fts_text(f, 20, "b", &got) == LOCH_ENOTFOUND);
        CHECK(fts_text(f, 3, "c", &got) == LOCH_ENOTFOUND);
        CHECK(fts_text(f, -1, "c", &got) == LOCH_ENOTFOUND);

        fts_free(f);
    }
    /* extended: a copy that holds the old rows and takes new ones, with a new tag; the
     * old file is untouched; the wrong tag, a missing or damaged file are refused */
    {
        char more[512];
        snprintf(more, sizeof more, "%s/more.fts", dir);
        CHECK(fts_extend(&f, path, "tag-2", more) == LOCH_ECONFLICT && !f);
        CHECK_OK(fts_extend(&f, path, "tag-1", more));
        CHECK_OK(fts_add(f, 40, "e", 1, "Kubernetes migration, done twice", 32));
        CHECK(fts_add(f, 20, "z", 1, "x", 1) == LOCH_EIO); /* ids of the copied rows are taken */
        CHECK_OK(fts_finish(f, "tag-3"));
        f = NULL;
        CHECK(fts_open(&f, more, "tag-1") == LOCH_ECONFLICT);
        CHECK_OK(fts_open(&f, more, "tag-3"));
        buf_clear(&got);
        CHECK_OK(fts_search(f, "migration", collect_ids, &got, NULL, NULL));
        CHECK(strstr(got.data, "40:e") && strstr(got.data, "10:b") && strstr(got.data, "0:a"));
        buf_clear(&got);
        CHECK_OK(fts_text(f, 20, "c", &got));
        CHECK_STR(got.data, "bread, croissants");
        fts_free(f);
        f = NULL;
        CHECK_OK(fts_open(&f, path, "tag-1")); /* the original as it was */
        buf_clear(&got);
        CHECK_OK(fts_search(f, "migration", collect, &got, NULL, NULL));
        CHECK_STR(got.data, "b,a");
        fts_free(f);
        f = NULL;
        char gone[512];
        snprintf(gone, sizeof gone, "%s/none.fts", dir);
        CHECK(fts_extend(&f, gone, "tag-1", more) == LOCH_ENOTFOUND && !f);
        FILE *junk = fopen(gone, "wb");
        if (junk) {
            fputs("SQLite format 3", junk);
            for (int i = 0; i < 5000; i++)
                fputc(i * 7, junk);
            fclose(junk);
        }
        CHECK(fts_extend(&f, gone, "tag-1", more) < 0 && !f);
    }
    /* a stop asked for ends a query (the check comes every thousand steps: 3,000 rows) */
    snprintf(path, sizeof path, "%s/many.fts", dir);
    CHECK_OK(fts_create(&f, path));
    for (int i = 0; f && i < 3000; i++) {
        char key[16], text[64];
        snprintf(key, sizeof key, "%d", i);
        snprintf(text, sizeof text, "row %d of a migration", i);
        CHECK_OK(fts_add(f, i, key, strlen(key), text, strlen(text)));
    }
    CHECK_OK(fts_finish(f, "t"));
    f = NULL;
    CHECK_OK(fts_open(&f, path, "t"));
    if (f) {
        buf_clear(&got);
        CHECK(fts_search(f, "migration", collect, &got, always, NULL) == LOCH_EINTERRUPTED);
        buf_clear(&got);
        CHECK_OK(fts_search(f, "migration", collect, &got, NULL, NULL)); /* and the next runs whole */
        CHECK(got.len > 3000);
        fts_free(f);
    }
    snprintf(path, sizeof path, "%s/t.fts", dir);
    CHECK_OK(fts_words("C++ \"bread\" (AND) -x: brûlée for the Who", &q));
    CHECK_STR(q.data, "\"C\" OR \"bread\" OR \"x\" OR \"brûlée\""); /* no "AND", "for", "the", "Who" */
    CHECK_OK(fts_words("to be or not to be", &q)); /* nothing but common words: they are the question */
    CHECK_STR(q.data, "\"to\" OR \"be\" OR \"or\" OR \"not\""); /* each word once */
    buf many = BUF_INIT;
    for (int i = 0; i < 500; i++)
        buf_printf(&many, "w%d W%d ", i, i);
    CHECK_OK(fts_words(many.data, &q)); /* the first 64 words, each once */
    CHECK(strstr(q.data, "\"w63\"") && !strstr(q.data, "\"w64\"") && !strstr(q.data, "\"W0\""));
    buf_free(&many);
    CHECK_OK(fts_words("()*: ^", &q));
    CHECK(q.len == 0);
    FILE *w = fopen(path, "wb");
    if (w) {
        fputs("not a database at all, not at all, not at all, not at all, not at all, not at all, !", w);
        fclose(w);
    }
    f = NULL;
    CHECK(fts_open(&f, path, "tag-1") == LOCH_ECORRUPT && !f);
    snprintf(path, sizeof path, "%s/missing.fts", dir);
    CHECK(fts_open(&f, path, "tag-1") == LOCH_ENOTFOUND && !f);
    buf_free(&got), buf_free(&q);
    remove_temp_dir(dir);
    free(dir);
}

static void test_chunks(void)
{
    chunk_span c[32];
    char text[4096] = "";
    CHECK(chunk_text("  short text ", 13, CHUNK_MAX, CHUNK_OVERLAP, c, 32) == 1 && c[0].start == 0 && c[0].len == 13);
    for (int i = 0; strlen(text) < 3000; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "Sentence %d says something. ", i);
    size_t len = strlen(text), n = chunk_text(text, len, CHUNK_MAX, CHUNK_OVERLAP, c, 32);
    CHECK(n >= 4 && n <= 6);
    for (size_t i = 0; i < n && i < 32; i++) {
        CHECK(c[i].len <= CHUNK_MAX && c[i].len > CHUNK_MAX / 2 - CHUNK_OVERLAP);
        CHECK(i + 1 == n || text[c[i].start + c[i].len - 1] == '.'); /* cut at a sentence's end */
        CHECK(i == 0 || c[i].start < c[i - 1].start + c[i - 1].len); /* overlapping the one before */
    }
    CHECK(c[n - 1].start + c[n - 1].len == len - 1); /* the last ends the text (its space left out) */
    /* a paragraph break in a chunk's second half is where it ends */
    memset(text, 'a', 1000);
    for (int i = 5; i < 1000; i += 6)
        text[i] = ' ';
    memcpy(text + 600, ".\n\n", 3);
    text[1000] = '\0';
    CHECK(chunk_text(text, 1000, CHUNK_MAX, CHUNK_OVERLAP, c, 32) >= 2 && c[0].len == 601);
}

/* An embedding pass's record: what renders parses back the same; a record about other
 * tables hashes otherwise; a line changed anywhere is not a record. */
static void test_embedding_pass_record(void)
{
    embsync a = {.emb_version = 12, .src_version = 40, .dim = 384, .chunk_size = 300}, b;
    buf text = BUF_INIT;
    embsync_what("emb-id", 1700000000000, "src-id", "resume", "id", "all-MiniLM-L6-v2", a.what);
    CHECK_OK(embsync_render(&a, &text));
    CHECK_OK(embsync_parse(text.data, text.len, &b));
    CHECK(!memcmp(&a, &b, sizeof a));
    embsync_what("emb-id", 1700000000000, "src-id", "resume", "i", "dall-MiniLM-L6-v2", b.what); /* NULs part */
    CHECK(memcmp(a.what, b.what, 32) != 0);
    embsync_what("emb-id", 1700000000000, "src-id2", "resume", "id", "all-MiniLM-L6-v2", b.what);
    CHECK(memcmp(a.what, b.what, 32) != 0);
    embsync_what("emb-id", 1700000000001, "src-id", "resume", "id", "all-MiniLM-L6-v2", b.what); /* a copy's */
    CHECK(memcmp(a.what, b.what, 32) != 0);
    const char *tail = strchr(text.data + 18, ' '); /* " 12 40 384 300\n" */
    const char *bad[] = {" 12 40 384 300", " 012 40 384 300\n", " 12 40 384 300\n\n", " 12  40 384 300\n",
                         " -12 40 384 300\n", " 12 40 9999999 300\n", " 12 99999999999999999999 384 300\n",
                         " 12 40 384\n"};
    CHECK(tail && !strcmp(tail, " 12 40 384 300\n"));
    for (size_t i = 0; tail && i < sizeof bad / sizeof *bad; i++) {
        buf t = BUF_INIT;
        buf_put(&t, text.data, (size_t)(tail - text.data));
        buf_puts(&t, bad[i]);
        CHECK(embsync_parse(t.data, t.len, &b) == LOCH_ECORRUPT);
        buf_free(&t);
    }
    text.data[20] = 'A'; /* hex is lowercase */
    CHECK(embsync_parse(text.data, text.len, &b) == LOCH_ECORRUPT);
    CHECK(embsync_parse("", 0, &b) == LOCH_ECORRUPT);
    buf_free(&text);
}

TEST_MAIN(T(test_index_search_equals_sql_search), T(test_full_text_index), T(test_chunks),
          T(test_embedding_pass_record))
