// The Ask tab: a question in plain language to POST /v1/ask, whose answer streams in as
// NDJSON events (docs/http.md): the route taken (a query or a search), the SQL the model
// wrote (editable: "Edit in SQL" opens it in the SQL tab), the rows, the answer's words
// as they come, and the citations, each a link to the row it points at. Whatever the
// server answers is shown as it is: no model, no answer, and the error says why.

import { request, ndjson } from './api.js';
import { el } from './dom.js';

let ctx, els, running = null;

export function mount(panel, c) {
  ctx = c;
  els = {
    q: el('textarea', { id: 'ask-q', rows: '2', placeholder: 'Which Java developers in Chicago were called 5+ times but never placed?', 'aria-label': 'Question' }),
    go: el('button', { class: 'primary', type: 'submit' }, 'Ask'),
    stop: el('button', { type: 'button', disabled: true, onclick: () => running && running.abort() }, 'Stop'),
    route: el('select', { 'aria-label': 'How to answer' }),
    out: el('div', { class: 'answer', 'aria-live': 'polite' }),
  };
  for (const [v, t] of [['', 'the model decides'], ['sql', 'a query'], ['search', 'a search of the texts']]) els.route.append(new Option(t, v));
  const form = el('form', { class: 'ask-form', onsubmit: (e) => (e.preventDefault(), askNow()) },
    el('label', { for: 'ask-q', class: 'visually-hidden' }, 'Question'), els.q,
    el('div', { class: 'row' }, els.go, els.stop, el('label', {}, 'Answer with ', els.route)));
  els.q.addEventListener('keydown', (e) => e.key === 'Enter' && (e.ctrlKey || e.metaKey) && (e.preventDefault(), askNow()));
  panel.append(el('div', { class: 'ask' }, form, els.out));
}

export function show(path, params) {
  if (params.q && params.q !== els.q.value) els.q.value = params.q;
  els.q.focus();
}

function rowsTable(columns, rows) {
  const names = columns.map((c) => (typeof c === 'string' ? c : c.name));
  return el('table', { class: 'rows' },
    el('thead', {}, el('tr', {}, ...names.map((n) => el('th', { scope: 'col' }, n)))),
    el('tbody', {}, ...rows.slice(0, 200).map((r) => el('tr', {}, ...r.map((v) => el('td', {}, v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)))))));
}

async function askNow() {
  const question = els.q.value.trim();
  if (!question || running) return;
  ctx.setRoute('ask', [], { q: question });
  running = new AbortController();
  els.go.disabled = true;
  els.stop.disabled = false;
  const status = el('p', { class: 'status', role: 'status' }, 'Thinking…');
  const words = el('p', { class: 'words' });
  els.out.replaceChildren(status, words);
  try {
    const body = { question, stream: true };
    if (els.route.value) body.route = els.route.value;
    const resp = await request('/v1/ask', { method: 'POST', json: body, signal: running.signal });
    for await (const ev of ndjson(resp)) event(ev, status, words);
  } catch (e) {
    status.textContent = e.name === 'AbortError' ? 'Stopped.' : '';
    if (e.name !== 'AbortError') els.out.append(el('p', { class: 'error', role: 'alert' }, e.message));
  } finally {
    running = null;
    els.go.disabled = false;
    els.stop.disabled = true;
  }
}

function event(ev, status, words) {
  switch (ev.event) {
    case 'progress':
      status.textContent = `Writing the query… (${ev.pieces} pieces)`;
      break;
    case 'route':
      status.textContent = ev.route === 'sql' ? 'Answering with a query…' : 'Answering from a search of the texts…';
      break;
    case 'sql': {
      const pre = el('pre', { class: 'sqltext' }, ev.sql);
      const edit = el('a', { class: 'button', href: ctx.href('sql', [], { q: ev.sql }) }, 'Edit in SQL');
      els.out.insertBefore(el('div', { class: 'ask-sql' }, el('h3', {}, 'The query'), pre, edit), words);
      break;
    }
    case 'rows':
      els.out.insertBefore(el('div', { class: 'ask-rows' }, el('h3', {}, `Rows (${ev.rows.length})`), rowsTable(ev.columns, ev.rows)), words);
      break;
    case 'text':
      words.textContent += ev.text;
      break;
    case 'answer': {
      status.textContent = ev.note || '';
      if (ev.answer) words.textContent = ev.answer;
      const cites = ev.citations || [];
      if (cites.length)
        els.out.append(el('div', { class: 'citations' }, el('h3', {}, 'Sources'), el('ol', {}, ...cites.map((c) => {
          const key = String(c.key), quote = (x) => '"' + String(x).replace(/"/g, '""') + '"';
          // the key travels as text; the engine casts the literal to the column's type
          const q = `SELECT * FROM ${quote(c.table)} WHERE ${quote(c.key_column)} = '${key.replace(/'/g, "''")}'`;
          return el('li', { value: String(c.n ?? '') },
            el('a', { href: ctx.href('sql', [], { q }) }, `${c.table} ${key}` + (c.chunk !== undefined ? ` (passage ${c.chunk})` : '')),
            c.text ? el('blockquote', {}, String(c.text).slice(0, 400)) : '');
        }))));
      if (ev.model) els.out.append(el('p', { class: 'hint' }, 'Model: ' + ev.model));
      break;
    }
    case 'error':
      status.textContent = '';
      els.out.append(el('p', { class: 'error', role: 'alert' }, ev.error?.message || 'the answer failed'));
      break;
  }
}
