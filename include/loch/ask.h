/*
 * loch/ask.h - questions in plain language, answered from the lake.
 *
 *   loch_ask_options o = LOCH_ASK_OPTIONS_INIT;
 *   loch_answer *a;
 *   loch_ask(&a, lake, "Which Java developers in Chicago were called 5+ times?", &o);
 *   puts(loch_answer_json(a));
 *   loch_answer_free(a);
 *
 * A question is answered one of two ways, and the answer says which (its route):
 *   - "sql": a language model writes one query from the question and the lake's schema
 *     (tables, columns, types, sample values of columns with few of them, list-valued
 *     text noted); the query is checked (one read-only query, planned by the engine) and
 *     rewritten when it fails, run with the lake's limits, and its rows put in words.
 *   - "search": the question's nearest passages are retrieved (hybrid search over every
 *     embedded column, loch/search.h) and the model answers from them, citing them by
 *     number; a citation that names no passage is removed, so every one left points at a
 *     real row (table, key, chunk). Without a generation model the passages are the
 *     answer, and the note says so.
 * The model chooses the route from the question and the schema unless the options fix
 * it; a lake with no embedded column is always asked by SQL.
 *
 * The generated SQL runs only in a sandboxed lake (loch_lake_options.sandbox): queries,
 * no file outside the lake, the lake's time limit. Text in the lake reaches the model as
 * data; nothing the model writes is run but the one checked query.
 *
 * The model is a GGUF instruct model run in-process (llama.cpp): the options' model,
 * else Qwen2.5-Coder-1.5B-Instruct as scripts/setup.sh installs it. It is loaded on first
 * use and shared by the process's lake handles.
 */
#ifndef LOCH_ASK_H
#define LOCH_ASK_H

#include <stddef.h>
#include <stdint.h>

#include "loch/lake.h"
#include "loch/query.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loch_answer loch_answer;

typedef struct {
    unsigned int version;  /* LOCH_ASK_OPTIONS_VERSION */
    const char *model;     /* a GGUF file; NULL: the default */
    const char *route;     /* "sql", "search", or NULL: the model decides */
    size_t max_rows;       /* rows of the query's result kept (0: 100) */
    int k;                 /* passages retrieved (0: 6) */
    /* As the answer is made: each event, one JSON object ({"event":"progress"} now and
     * then while the query is written, "route", "sql", "rows", "text" for each piece of
     * the answer's words, then "answer", the whole of loch_answer_json), on the asking
     * thread. */
    void (*on_event)(void *ctx, const char *json);
    void *ctx;
} loch_ask_options;

#define LOCH_ASK_OPTIONS_VERSION 1
#define LOCH_ASK_OPTIONS_INIT {LOCH_ASK_OPTIONS_VERSION, NULL, NULL, 0, 0, NULL, NULL}

LOCH_EXTERN int loch_ask(loch_answer **out, loch_lake *lake, const char *question, const loch_ask_options *opts);

/* "sql" or "search". */
LOCH_EXTERN const char *loch_answer_route(const loch_answer *a);
/* The query that was run (route "sql"), else NULL. */
LOCH_EXTERN const char *loch_answer_sql(const loch_answer *a);
/* Its rows, at most max_rows (route "sql"), else NULL. */
LOCH_EXTERN const loch_result *loch_answer_rows(const loch_answer *a);
/* The answer in words; NULL when no model made one (the passages are the answer). */
LOCH_EXTERN const char *loch_answer_text(const loch_answer *a);
/* The passages cited (route "search"; all retrieved when no model answered). */
LOCH_EXTERN size_t loch_answer_citations(const loch_answer *a);
/* Citation i: its number in the answer ([n]), table, column, key (as text), chunk, text. */
LOCH_EXTERN int loch_answer_citation(const loch_answer *a, size_t i, int *n, const char **table,
                                     const char **column, const char **key, int64_t *chunk, const char **text);
/* The model's name (NULL when none answered). */
LOCH_EXTERN const char *loch_answer_model(const loch_answer *a);
/* How it was answered, for a person: the route and why, attempts, what is missing. */
LOCH_EXTERN const char *loch_answer_note(const loch_answer *a);
/* The whole answer as one JSON object: {"question", "route", "sql", "columns", "rows",
 * "answer", "citations", "model", "note"}. */
LOCH_EXTERN const char *loch_answer_json(const loch_answer *a);
LOCH_EXTERN void loch_answer_free(loch_answer *a);

#ifdef __cplusplus
}
#endif

#endif
