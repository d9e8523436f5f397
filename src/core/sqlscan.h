/*
 * core/sqlscan.h - just enough SQL lexing to split statements and recognize the ones
 * loch runs itself (CREATE TABLE, INSERT, DROP TABLE on lake tables).
 *
 * It knows the lexical rules that decide where a statement ends: 'strings' (with ''),
 * E'strings' (with \'), "identifiers" (with ""), $tag$ dollar quotes $tag$, -- line
 * and nested block comments. Everything else is a word, a number or punctuation. The
 * SQL engine parses the statements for real; this only finds boundaries and names.
 */
#ifndef LOCH_CORE_SQLSCAN_H
#define LOCH_CORE_SQLSCAN_H

#include <stddef.h>

typedef enum { TOK_END, TOK_WORD, TOK_QUOTED, TOK_STRING, TOK_NUMBER, TOK_PUNCT } sql_tok_kind;

typedef struct {
    sql_tok_kind kind;
    size_t start, len; /* byte span in the text, quotes included */
} sql_token;

/* Reads the next token at *pos, skipping space and comments. An unterminated quote or
 * comment gives LOCH_EINVALID. */
int sqlscan_next(const char *sql, size_t len, size_t *pos, sql_token *t);

typedef struct {
    size_t start, end; /* one statement, without its ';' */
} sql_span;

/* Splits text into non-empty statements; *out is malloc'd. */
int sqlscan_split(const char *sql, size_t len, sql_span **out, size_t *count);

/* True when token t is the word w (case-insensitive). */
int sqlscan_is(const char *sql, const sql_token *t, const char *w);

/* Where the statement an EXPLAIN explains starts: *pos past "EXPLAIN" and then
 * "ANALYZE" / "ANALYSE" (which runs it) or a parenthesized option list. *pos 0 when sql
 * is no EXPLAIN. LOCH_EINVALID for options that are not closed. */
int sqlscan_explained(const char *sql, size_t len, size_t *pos);

#endif
