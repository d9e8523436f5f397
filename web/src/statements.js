// The statements of a SQL text and the word each starts with, for the warning the SQL tab
// shows over a query that came from a link. A link can put anything in the editor: a
// `SELECT 1` on the first line and, after fifty blank lines, `DROP TABLE orders`. The
// server's sandbox decides what may run; this only tells the user, before they press Run,
// what they would be running.
//
// The scanner knows what hides a semicolon in SQL: quotes ('…', "…"), dollar quotes
// ($$…$$, $tag$…$tag$) and comments (-- … and /* … */, nested as the engine nests them).
// It never throws: text it cannot close (an open quote) ends the last statement.

const READS = new Set(['SELECT', 'WITH', 'FROM', 'VALUES', 'TABLE', 'SHOW', 'DESCRIBE', 'DESC', 'SUMMARIZE', 'EXPLAIN']);

// [{ text, verb }] for each statement that holds more than comments and space; verb is its
// first word in capitals ('(' for a parenthesised query).
export function statements(sql) {
  const out = [];
  let start = 0, i = 0;
  const n = sql.length;
  const end = (at) => {
    const text = sql.slice(start, at);
    const verb = firstWord(text);
    if (verb) out.push({ text: text.trim(), verb });
    start = at + 1;
  };
  while (i < n) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      i++;
      while (i < n && !(sql[i] === c && sql[i + 1] !== c)) i += sql[i] === c ? 2 : 1; // '' is a quote inside
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth) {
        if (sql[i] === '/' && sql[i + 1] === '*') (depth++, (i += 2));
        else if (sql[i] === '*' && sql[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
    } else if (c === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i, i + 64))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i, i + 64))[0];
      const close = sql.indexOf(tag, i + tag.length);
      i = close < 0 ? n : close + tag.length;
    } else if (c === ';') {
      end(i);
      i++;
    } else {
      i++;
    }
  }
  end(n);
  return out;
}

// The first word of a statement past space, comments and opening parentheses.
function firstWord(text) {
  const t = text.replace(/^(\s+|--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/)*/, '');
  if (t.startsWith('(')) return '(';
  const m = /^[A-Za-z_]+/.exec(t);
  return m ? m[0].toUpperCase() : t ? t[0] : '';
}

// Whether a statement only reads: a query, or a description of one. EXPLAIN ANALYZE runs
// what it explains, so it counts as what follows it.
export function readsOnly(stmt) {
  if (stmt.verb === '(') return true;
  if (stmt.verb === 'EXPLAIN') {
    const rest = stmt.text.replace(/^EXPLAIN\s+/i, '');
    if (/^ANALY[SZ]E\b/i.test(rest)) return readsOnly({ text: rest.replace(/^ANALY[SZ]E\s+/i, ''), verb: firstWord(rest.replace(/^ANALY[SZ]E\s*/i, '')) });
    return true;
  }
  return READS.has(stmt.verb);
}
