// The SQL tab: an editor (CodeMirror 6, SQL highlighting, completion of the lake's tables
// and columns), Ctrl-Enter to run (the selection, else everything), a cancel button that
// cancels the query on the server (DELETE /v1/queries/{id}, the id chosen here), one result
// tab per run, the history kept in this browser (localStorage), and results as Arrow IPC
// decoded by Apache Arrow JS into the virtualized grid or a chart.
//
// A result holds at most ROW_CAP rows: the query is sent with limit ROW_CAP + 1, so one row
// more says that there were more. Writes (CREATE, INSERT, ...) answer with a message, which
// Arrow cannot carry: the server says so before it runs anything, and the statement is
// sent again asking for JSON.

import { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection } from '@codemirror/view';
import { EditorState, Compartment } from '@codemirror/state';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { sql as sqlLang, PostgreSQL } from '@codemirror/lang-sql';
import { syntaxHighlighting, bracketMatching } from '@codemirror/language';
import { classHighlighter } from '@lezer/highlight';
import { autocompletion, closeBrackets, completionKeymap } from '@codemirror/autocomplete';
import { setDiagnostics, lintGutter } from '@codemirror/lint';
import { request, getJSON, ApiError } from './api.js';
import { Grid } from './grid.js';
import { el, OWN_QUERY_KEY as OWN_KEY } from './dom.js'; // OWN_KEY: the text this tab's user last had, so a reload is not a link
import { Chart } from './chart.js';
import { parseExact } from './format.js';

export const ROW_CAP = 1_000_000;
const MAX_BYTES = 512 << 20;
const HISTORY_KEY = 'loch.sql.history', HISTORY_MAX = 100, RESULTS_MAX = 8;

let view, ctx, els, lang = new Compartment();
let results = [], current = null, seq = 0;
let fromLink = false, checking = false; // the editor's text came from a link, until it is run or replaced


export function mount(panel, c) {
  ctx = c;
  els = {
    run: el('button', { class: 'primary', title: 'Run (Ctrl-Enter)', onclick: () => run() }, 'Run'),
    cancel: el('button', { disabled: true, onclick: () => cancel() }, 'Cancel'),
    historyBtn: el('button', { 'aria-expanded': 'false', 'aria-controls': 'sql-history', onclick: () => toggleHistory() }, 'History'),
    history: el('ul', { id: 'sql-history', class: 'history', hidden: true, 'aria-label': 'Query history' }),
    editor: el('div', { class: 'editor', 'aria-label': 'SQL editor' }),
    error: el('div', { class: 'error', role: 'alert', hidden: true }),
    linked: el('div', { class: 'warning', role: 'alert', tabindex: '-1', hidden: true }),
    tabs: el('div', { class: 'result-tabs', role: 'group', 'aria-label': 'Results' }),
    bar: el('div', { class: 'result-bar' }),
    body: el('div', { class: 'result-body' }),
  };
  panel.append(
    el('div', { class: 'sql' },
      el('div', { class: 'toolbar' }, els.run, els.cancel, els.historyBtn, el('span', { class: 'hint' }, 'Ctrl-Enter runs the selection, else everything')),
      els.history, els.linked, els.editor, els.error,
      el('div', { class: 'results' }, els.tabs, els.bar, els.body)),
  );
  const runKeys = [
    { key: 'Mod-Enter', run: () => (run(), true), preventDefault: true },
    { key: 'Escape', run: () => (results.some((x) => x.state === 'running') ? (cancel(), true) : false) },
  ];
  view = new EditorView({
    parent: els.editor,
    state: EditorState.create({
      doc: '',
      extensions: [
        lineNumbers(), history(), drawSelection(), highlightActiveLine(), bracketMatching(), closeBrackets(),
        syntaxHighlighting(classHighlighter) /* tok-* classes, coloured by style.css for both schemes */, autocompletion(), lintGutter(),
        keymap.of([...runKeys, ...completionKeymap, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        lang.of(sqlLang({ dialect: PostgreSQL, upperCaseKeywords: true })),
        EditorView.contentAttributes.of({ 'aria-label': 'SQL' }),
        // the policy takes the editor's <style> element by the page's nonce only
        EditorView.cspNonce.of(document.querySelector('meta[name=csp-nonce]')?.content || ''),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) {
            if (fromLink && !u.state.doc.length) unlink(); // the link's text is gone
            if (!fromLink) {
              try {
                sessionStorage.setItem(OWN_KEY, u.state.doc.toString());
              } catch {
                /* full or off: a reload then shows the warning, which only asks */
              }
            }
            view.dispatch(setDiagnostics(u.state, []));
            ctx.setRoute('sql', [], { q: u.state.doc.toString() });
          }
        }),
      ],
    }),
  });
  loadSchema();
}

// Completion of tables and their columns, from /v1/tables and /v1/tables/{t}.
async function loadSchema() {
  try {
    const { tables } = await getJSON('/v1/tables');
    const schema = {};
    await Promise.all(
      tables.slice(0, 200).map(async (t) => {
        try {
          const d = await getJSON('/v1/tables/' + encodeURIComponent(t.name));
          schema[t.name] = (d.columns || []).map((c) => c.column ?? c.name);
        } catch {
          schema[t.name] = [];
        }
      }),
    );
    view.dispatch({ effects: lang.reconfigure(sqlLang({ dialect: PostgreSQL, upperCaseKeywords: true, schema })) });
  } catch {
    /* no completion of names: the editor still works */
  }
}

// A link fills the editor and never runs anything: a page of another site could link
// here, and only the user's Run (or Ctrl-Enter) sends a statement. A linked text is
// announced above the editor with what the server would run (its statements as loch
// splits them, and which of them do more than read: POST /v1/sql with "check", the
// engine's parser deciding, never a scanner of the page's own); the text it replaced goes
// to History only if the user wrote it; Run asks before it sends a linked text that does
// more than read, however it was edited since; and the focus goes to the warning, out of
// the editor, where a reflexive Ctrl-Enter would reach Run.
export function show(path, params) {
  const had = view.state.doc.toString();
  let own = null;
  try {
    own = sessionStorage.getItem(OWN_KEY);
  } catch {
    /* no storage: every text in an address is a link's */
  }
  if (params.q === undefined || params.q === had || params.q === own) {
    if (params.q !== undefined && params.q !== had) setQuery(params.q);
    if (!fromLink) view.focus();
    return;
  }
  if (had.trim() && !fromLink) remember(had);
  fromLink = true;
  view.dispatch({ changes: { from: 0, to: had.length, insert: params.q } });
  const lines = view.state.doc.lines;
  const note = el('span', {}, 'Checking what it would run…');
  els.linked.replaceChildren(el('strong', {}, 'This query came from a link. '),
    `Read all of it before you run it (${lines} line${lines === 1 ? '' : 's'}). `, note,
    had.trim() && params.q !== had ? ' What you had in the editor is in History.' : '');
  els.linked.hidden = false;
  els.linked.focus();
  check(view.state.doc.toString()).then((c) => {
    if (!fromLink) return;
    const writes = c.statements.filter((x) => !x.reads);
    note.replaceChildren(`It holds ${c.statements.length} statement${c.statements.length === 1 ? '' : 's'}` +
      (writes.length ? `, ${writes.length} of which do${writes.length === 1 ? 'es' : ''} more than read: ` : ', all of them queries.'),
      ...(writes.length ? [el('code', {}, [...new Set(writes.map((x) => x.verb || '?'))].join(', ')), '.'] : []));
  });
}

// What the server would run for text: {statements: [{verb, reads}]}. A failed check
// reads as "does more than read", so that Run asks.
async function check(text) {
  try {
    return await (await request('/v1/sql', { method: 'POST', json: { sql: text, check: true } })).json();
  } catch (e) {
    return { statements: [{ verb: e.message, reads: false }] };
  }
}

function unlink() {
  fromLink = false;
  els.linked.hidden = true;
}

// The user's own choice (History, Ask's "Edit in SQL"): not a link's.
export function setQuery(text) {
  unlink();
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

// The browser's storage may be full, off or hold anything: history is a convenience and
// never stops a run.
function historyList() {
  try {
    const h = JSON.parse(localStorage.getItem(HISTORY_KEY) || '[]');
    return Array.isArray(h) ? h.filter((q) => typeof q === 'string') : [];
  } catch {
    return [];
  }
}

function remember(text) {
  const h = historyList().filter((q) => q !== text);
  h.unshift(text);
  for (let keep = HISTORY_MAX; keep > 0; keep = Math.floor(keep / 2)) {
    try {
      localStorage.setItem(HISTORY_KEY, JSON.stringify(h.slice(0, keep)));
      return;
    } catch {
      /* full: keep fewer */
    }
  }
}

function toggleHistory() {
  const open = els.history.hidden;
  els.history.hidden = !open;
  els.historyBtn.setAttribute('aria-expanded', String(open));
  if (!open) return;
  els.history.replaceChildren(
    ...historyList().map((q) =>
      el('li', {}, el('button', { class: 'link', title: q, onclick: () => { setQuery(q); toggleHistory(); view.focus(); } }, q.length > 200 ? q.slice(0, 200) + '…' : q)),
    ),
  );
  if (!els.history.children.length) els.history.append(el('li', { class: 'hint' }, 'No queries run in this browser yet.'));
}

// DuckDB's messages point at the error with "LINE n:", the line (or a window of it) and
// a caret under it. The line the engine saw may differ from the editor's (the server
// wraps a query to limit its rows), so the text from the caret on is looked for in the
// editor's text, nearest the line the message names.
export function errorPosition(message, text) {
  const m = /LINE (\d+): (.*)\n( *)\^/.exec(message);
  if (!m) return null;
  const caret = m[3].length - ('LINE ' + m[1] + ': ').length;
  const after = m[2].slice(Math.max(0, caret)).replace(/\.\.\.$/, '').slice(0, 24);
  if (caret < 0 || !after.trim()) return null;
  let best = -1, bestDist = Infinity;
  for (let at = text.indexOf(after); at >= 0; at = text.indexOf(after, at + 1)) {
    const line = text.slice(0, at).split('\n').length;
    const dist = Math.abs(line - Number(m[1]));
    if (dist < bestDist) (best = at), (bestDist = dist);
  }
  if (best < 0) return null;
  const word = /^[\w"']+/.exec(text.slice(best));
  return { from: best, to: Math.min(text.length, best + (word ? word[0].length : 1)) };
}

async function run() {
  if (results.some((x) => x.state === 'running')) return; // one at a time: Cancel reaches it
  const sel = view.state.selection.main;
  const text = (sel.empty ? view.state.doc.toString() : view.state.sliceDoc(sel.from, sel.to)).trim();
  if (!text) return;
  if (fromLink) {
    if (checking) return;
    checking = true;
    const writes = (await check(text)).statements.filter((x) => !x.reads);
    checking = false;
    if (writes.length && !confirm(`This text came from a link and does more than read (${[...new Set(writes.map((x) => x.verb || '?'))].join(', ')}). Run it?`)) return;
    unlink();
    if (results.some((x) => x.state === 'running')) return;
  }
  const offset = sel.empty ? view.state.doc.toString().indexOf(text) : sel.from;
  remember(text);
  const r = { n: ++seq, sql: text, id: crypto.randomUUID(), state: 'running', t0: performance.now(), ctl: new AbortController(), view: 'grid' };
  results.push(r);
  if (results.length > RESULTS_MAX) results.shift();
  select(r);
  setRunning(true);
  try {
    let resp;
    try {
      resp = await request('/v1/sql', { method: 'POST', json: { sql: text, format: 'arrow', query_id: r.id, limit: ROW_CAP + 1 }, signal: r.ctl.signal });
    } catch (e) {
      // a write (a message, no rows), a statement that does not stream (EXPLAIN), or a type
      // Arrow cannot carry (INTERVAL, ENUM): refused before it ran, so asked again as JSON
      if (!(e instanceof ApiError && e.code === 'unsupported')) throw e;
      r.note = /carry a query's rows/.test(e.message) ? '' : 'shown as text: ' + e.message;
      resp = await request('/v1/sql', { method: 'POST', json: { sql: text, format: 'json', query_id: r.id, limit: ROW_CAP }, signal: r.ctl.signal });
    }
    if ((resp.headers.get('Content-Type') || '').includes('arrow')) {
      const bytes = await readCapped(resp, r);
      r.fetched = performance.now();
      const { tableFromIPC } = await import('apache-arrow'); // loaded with the first result
      r.table = tableFromIPC(bytes);
      r.bytes = bytes.length;
      if (r.table.numRows > ROW_CAP) {
        r.table = r.table.slice(0, ROW_CAP);
        r.more = true;
      }
    } else {
      // capped as Arrow is, and parsed keeping the digits of numbers a double would round
      const j = parseExact(new TextDecoder().decode(await readCapped(resp, r)));
      if (j.error) throw new ApiError(resp.status, j.error.code, j.error.message);
      if (!j.message && j.columns && j.rows) {
        r.fetched = performance.now();
        r.table = jsonTable(j);
        r.more = !!j.truncated;
      } else {
        r.message = j.message || 'done';
        ctx.toast(r.message);
        loadSchema(); // a write may have made or dropped a table
      }
    }
    r.state = 'done';
  } catch (e) {
    r.state = e.name === 'AbortError' || (e instanceof ApiError && e.status === 499) ? 'cancelled' : 'error';
    r.error = r.state === 'cancelled' ? 'Cancelled.' : e.message;
    if (r.state === 'error') {
      const pos = errorPosition(e.message, text);
      if (pos) view.dispatch(setDiagnostics(view.state, [{ from: pos.from + offset, to: pos.to + offset, severity: 'error', message: e.message }]));
    }
  }
  r.ms = performance.now() - r.t0;
  setRunning(false);
  if (current === r) select(r);
  else renderTabs();
}

// A result's bytes, refused past MAX_BYTES (the page would run out of memory): the query
// is cancelled on the server and the user told to narrow it or download it.
async function readCapped(resp, r) {
  const reader = resp.body.getReader(), parts = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_BYTES) {
      request('/v1/queries/' + r.id, { method: 'DELETE' }).catch(() => {});
      r.ctl.abort();
      throw new ApiError(413, 'too_large', `The result passed ${MAX_BYTES >> 20} MB, more than this page holds: ` +
        'add a LIMIT or a WHERE, or download it (CSV, Parquet, Arrow) from a smaller query\'s result tab.');
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

// A JSON result ({columns: [{name, type}], rows: [[...]]}) in the shape the grid reads
// from Arrow: each column's values as JSON gave them, its type shown by its SQL name.
function jsonTable(j) {
  const fields = j.columns.map((c) => ({ name: c.name, type: { typeId: 0, toString: () => c.type } }));
  const vectors = fields.map((f, i) => ({ type: f.type, get: (row) => j.rows[row][i] ?? null }));
  return { numRows: j.rows.length, schema: { fields }, getChildAt: (i) => vectors[i] };
}

function setRunning(on) {
  els.run.disabled = on;
  els.cancel.disabled = !on;
}

async function cancel() {
  const r = current && current.state === 'running' ? current : results.find((x) => x.state === 'running');
  if (!r) return;
  try {
    await request('/v1/queries/' + r.id, { method: 'DELETE' });
  } catch {
    /* finished meanwhile, or not started on the server yet: the fetch is stopped below */
  }
  r.ctl.abort();
}

function renderTabs() {
  els.tabs.replaceChildren(
    ...results.map((r) => {
      const on = r === current;
      const label = `Result ${r.n}` + (r.state === 'running' ? ' …' : r.state === 'error' ? ' ⚠' : '');
      const b = el('button', { 'aria-pressed': String(on), title: r.sql, onclick: () => select(r) }, label);
      const x = el('button', { class: 'close', 'aria-label': `Close result ${r.n}`, onclick: () => close(r) }, '×');
      return el('span', { class: 'result-tab' + (on ? ' on' : '') }, b, x);
    }),
  );
}

function close(r) {
  if (r.state === 'running') return;
  const i = results.indexOf(r);
  results.splice(i, 1);
  if (current === r) select(results[Math.min(i, results.length - 1)] || null);
  else renderTabs();
}

function select(r) {
  current = r;
  renderTabs();
  els.error.hidden = true;
  els.bar.replaceChildren();
  els.body.replaceChildren();
  if (!r) return;
  if (r.state === 'running') {
    els.bar.append(el('span', { class: 'status', role: 'status' }, 'Running…'));
    return;
  }
  if (r.error) {
    els.error.hidden = false;
    els.error.textContent = r.error;
    return;
  }
  if (r.message) {
    els.bar.append(el('span', { class: 'status', role: 'status' }, r.message + ` · ${Math.round(r.ms)} ms`));
    return;
  }
  const n = r.table.numRows;
  const status = `${n.toLocaleString()} row${n === 1 ? '' : 's'}` + (r.more ? ` (the first ${ROW_CAP.toLocaleString()}; there are more)` : '') +
    ` · ${Math.round(r.ms)} ms` + (r.note ? ` · ${r.note}` : '');
  const views = el('span', { class: 'segmented', role: 'group', 'aria-label': 'View' },
    el('button', { 'aria-pressed': String(r.view === 'grid'), onclick: () => { r.view = 'grid'; select(r); } }, 'Grid'),
    el('button', { 'aria-pressed': String(r.view === 'chart'), onclick: () => { r.view = 'chart'; select(r); } }, 'Chart'));
  const dl = el('span', { class: 'downloads' }, 'Download ',
    ...['csv', 'parquet', 'arrow'].map((f) => el('button', { class: 'link', onclick: () => download(r, f) }, f.toUpperCase())));
  els.bar.append(el('span', { class: 'status', role: 'status' }, status), views, dl);
  if (r.view === 'chart') {
    new Chart(els.body, r.table);
  } else {
    const g = new Grid(els.body, { label: `Result ${r.n}` });
    g.setTable(r.table);
    r.grid = g;
    // from the last byte of the result to the frame that shows its first rows (the
    // browser test reads it)
    if (r.fetched && !r.measured) {
      r.measured = true;
      requestAnimationFrame(() => performance.measure('loch-first-rows', { start: r.fetched, end: performance.now() }));
    }
  }
}

// A download runs the query again in the format asked, with the token, and saves the
// bytes under a name the browser offers.
async function download(r, format) {
  try {
    const resp = await request('/v1/sql', { method: 'POST', json: { sql: r.sql, format } });
    const blob = await resp.blob();
    const a = el('a', { href: URL.createObjectURL(blob), download: `result-${r.n}.${format === 'arrow' ? 'arrows' : format}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
  } catch (e) {
    ctx.toast('Download failed: ' + e.message);
  }
}
