// The Explore tab: every table of the lake (rows, size, files, version, last change); a
// table's columns with their types and profiles (SUMMARIZE: nulls, distinct, min, max,
// then a column's top values on demand), a preview that time-travels to any version of
// its history ("t@v3"), and upload by drag and drop or a file picker (POST
// /v1/tables/{t}/ingest, with a progress bar and the ingest's summary or its error).

import { request, getJSON, token, ApiError } from './api.js';
import { Grid } from './grid.js';
import { el, ownQuery } from './dom.js';
import { bytes } from './format.js';

const PREVIEW_ROWS = 1000;
let ctx, els, current = null, version = null, tables = [], listError = null;

function when(ms) {
  if (!ms) return '';
  const d = new Date(typeof ms === 'number' ? ms : Date.parse(ms));
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

function ident(name) {
  return '"' + name.replace(/"/g, '""') + '"';
}

export function mount(panel, c) {
  ctx = c;
  els = {
    list: el('table', { class: 'tables', 'aria-label': 'Tables' }),
    detail: el('div', { class: 'detail' }),
    drop: el('div', { class: 'drop', tabindex: '0', role: 'button' }, 'Drop a file here to ingest it (CSV, JSON, Parquet, Arrow, Excel…), or press Enter to choose one'),
    file: el('input', { type: 'file', hidden: true, 'aria-hidden': 'true', tabindex: '-1' }),
    uploadName: el('input', { id: 'upload-table', placeholder: 'table name', 'aria-label': 'Table to ingest into', autocomplete: 'off' }),
    progress: el('progress', { max: '100', value: '0', hidden: true, 'aria-label': 'Upload progress' }),
    uploadOut: el('div', { class: 'upload-out', role: 'status', 'aria-live': 'polite' }),
  };
  const upload = el('div', { class: 'upload' }, el('h2', {}, 'Upload'), el('label', { for: 'upload-table' }, 'Into table '), els.uploadName, els.drop, els.file, els.progress, els.uploadOut);
  panel.append(el('div', { class: 'explore' }, el('div', { class: 'side' }, el('h2', {}, 'Tables'), els.list, upload), els.detail));
  els.drop.addEventListener('click', () => els.file.click());
  els.drop.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), els.file.click()));
  els.file.addEventListener('change', () => {
    const f = els.file.files[0];
    els.file.value = ''; // so that choosing the same file again is a change too
    if (f) ingest(f);
  });
  for (const ev of ['dragenter', 'dragover']) els.drop.addEventListener(ev, (e) => (e.preventDefault(), els.drop.classList.add('over')));
  els.drop.addEventListener('dragleave', () => els.drop.classList.remove('over'));
  els.drop.addEventListener('drop', (e) => {
    e.preventDefault();
    els.drop.classList.remove('over');
    const f = e.dataTransfer.files[0];
    if (f) ingest(f);
  });
}

export function show(path, params) {
  const name = path[0] || null;
  const v = params.v !== undefined && /^\d+$/.test(params.v) ? Number(params.v) : null;
  loadList().then(() => {
    if (name !== current || v !== version || !els.detail.childElementCount) {
      current = name;
      version = v;
      renderList();
      detail();
    }
  });
}

async function loadList() {
  try {
    tables = (await getJSON('/v1/tables')).tables;
    listError = null;
  } catch (e) {
    tables = [];
    listError = e.message;
  }
  renderList();
}

function renderList() {
  const head = el('tr', {}, ...['Table', 'Rows', 'Size', 'Files', 'Version', 'Last change'].map((h) => el('th', { scope: 'col' }, h)));
  const rows = tables.map((t) =>
    el('tr', { class: t.name === current ? 'on' : '' },
      el('td', {}, el('a', { href: ctx.href('explore', [t.name]), 'aria-current': t.name === current ? 'page' : false }, t.name)),
      el('td', { class: 'num' }, (t.rows ?? '').toLocaleString()),
      el('td', { class: 'num' }, bytes(t.bytes)),
      el('td', { class: 'num' }, String(t.files ?? '')),
      el('td', { class: 'num' }, String(t.version ?? '')),
      el('td', {}, when(t.updated))),
  );
  els.list.replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
  if (listError) els.list.append(el('caption', { class: 'error', role: 'alert' }, 'The tables could not be listed: ' + listError));
  else if (!tables.length) els.list.append(el('caption', { class: 'hint' }, 'No tables yet: upload a file below.'));
}

async function sqlJSON(sql) {
  return (await request('/v1/sql', { method: 'POST', json: { sql, format: 'json' } })).json();
}

async function detail() {
  const t = tables.find((x) => x.name === current);
  if (!current) {
    els.detail.replaceChildren(el('p', { class: 'hint' }, 'Pick a table to see its columns, a preview and its history.'));
    return;
  }
  if (!t) {
    els.detail.replaceChildren(el('p', { class: 'error', role: 'alert' }, `No table named ${current}.`));
    return;
  }
  const ref = version === null ? ident(current) : ident(`${current}@v${version}`);
  const picker = el('select', { id: 'version-pick', 'aria-label': 'Version' });
  const head = el('div', { class: 'detail-head' },
    el('h2', {}, current),
    el('span', { class: 'hint' }, `${(t.rows ?? 0).toLocaleString()} rows · ${bytes(t.bytes)} · ${t.files} files · version ${t.version} · ${when(t.updated)}`),
    el('label', { for: 'version-pick' }, 'Version '), picker,
    el('a', { class: 'button', href: ctx.href('sql', [], { q: `SELECT * FROM ${ref} LIMIT 100` }), onclick: () => ownQuery(`SELECT * FROM ${ref} LIMIT 100`) }, 'Query in SQL'));
  const cols = el('div', { class: 'columns' }, el('p', { class: 'hint' }, 'Profiling columns…'));
  const preview = el('div', { class: 'preview' });
  const hist = el('ol', { class: 'versions', 'aria-label': 'History' });
  els.detail.replaceChildren(head,
    el('h3', {}, 'Columns'), cols,
    el('h3', {}, version === null ? 'Preview' : `Preview at version ${version}`), preview,
    el('h3', {}, 'History'), hist);

  getJSON('/v1/tables/' + encodeURIComponent(current) + '/history').then((h) => {
    const versions = h.history || h.versions || [];
    picker.append(new Option(`latest (${t.version})`, ''));
    for (const v of versions) picker.append(new Option(`${v.version} · ${v.operation || ''} · ${when(v.timestamp)}`, String(v.version)));
    picker.value = version === null ? '' : String(version);
    picker.addEventListener('change', () => ctx.navigate('explore', [current], { v: picker.value }));
    hist.replaceChildren(...versions.map((v) =>
      el('li', {}, el('a', { href: ctx.href('explore', [current], { v: v.version }) }, `version ${v.version}`), ` ${v.operation || ''} · ${when(v.timestamp)}`)));
  }).catch((e) => hist.replaceChildren(el('li', { class: 'error' }, e.message)));

  try {
    const r = await request('/v1/sql', { method: 'POST', json: { sql: `SELECT * FROM ${ref}`, format: 'arrow', limit: PREVIEW_ROWS } });
    const { tableFromIPC } = await import('apache-arrow');
    const table = tableFromIPC(new Uint8Array(await r.arrayBuffer()));
    new Grid(preview, { label: `Preview of ${current}` }).setTable(table);
  } catch (e) {
    preview.replaceChildren(el('p', { class: 'error', role: 'alert' }, e.message));
  }

  try {
    const s = await sqlJSON(`SUMMARIZE SELECT * FROM ${ref}`);
    const idx = Object.fromEntries(s.columns.map((c, i) => [c.name ?? c, i]));
    const pick = (row, k) => (idx[k] === undefined ? '' : row[idx[k]] ?? '');
    const head2 = el('tr', {}, ...['Column', 'Type', 'Nulls', 'Distinct (approx.)', 'Min', 'Max', 'Top values'].map((h) => el('th', { scope: 'col' }, h)));
    cols.replaceChildren(el('table', { class: 'profile' }, el('thead', {}, head2), el('tbody', {}, ...s.rows.map((row) => {
      const name = pick(row, 'column_name');
      const top = el('td', {}, el('button', { class: 'link', onclick: () => topValues(ref, name, top) }, 'show'));
      return el('tr', {}, el('th', { scope: 'row' }, name), el('td', {}, pick(row, 'column_type')), el('td', { class: 'num' }, String(pick(row, 'null_percentage')) + '%'),
        el('td', { class: 'num' }, String(pick(row, 'approx_unique'))), el('td', {}, String(pick(row, 'min')).slice(0, 60)), el('td', {}, String(pick(row, 'max')).slice(0, 60)), top);
    }))));
  } catch (e) {
    cols.replaceChildren(el('p', { class: 'error' }, e.message));
  }
}

// The ten most frequent values of a column, as small bars.
async function topValues(ref, name, cell) {
  try {
    const s = await sqlJSON(`SELECT CAST(${ident(name)} AS VARCHAR) AS v, count(*) AS n FROM ${ref} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`);
    const max = Math.max(1, ...s.rows.map((r) => Number(r[1])));
    cell.replaceChildren(el('ul', { class: 'topvals' }, ...s.rows.map((r) => {
      const m = el('meter', { min: '0', max: String(max), value: String(r[1]), 'aria-label': `${r[0] ?? 'NULL'}: ${r[1]}` });
      return el('li', {}, m, ` ${r[0] === null ? 'NULL' : String(r[0]).slice(0, 40)} (${r[1]})`);
    })));
  } catch (e) {
    cell.replaceChildren(el('span', { class: 'error' }, e.message));
  }
}

// Upload with XMLHttpRequest, whose upload events give the progress fetch() does not.
// The table is the one named in the field, else the file's name (never the table on
// view: a file dropped on the wrong page would append to it); an existing table is
// appended to only when the user says so, since appending may widen its columns.
function ingest(file) {
  const name = (els.uploadName.value.trim() || file.name.replace(/\.[^.]*$/, '')).toLowerCase().replace(/[^a-z0-9_-]+/g, '_').replace(/^[_-]+/, '');
  if (!name) {
    els.uploadOut.replaceChildren(el('p', { class: 'error', role: 'alert' }, 'Name the table to ingest into.'));
    return;
  }
  els.uploadName.value = name;
  const existing = tables.find((t) => t.name === name);
  if (existing && !confirm(`Append ${file.name} to the existing table ${name} (${existing.rows} rows)? Its columns may widen to fit the file.`)) {
    els.uploadOut.replaceChildren(el('p', { role: 'status' }, 'Not ingested: name a new table in the field, or drop the file again to append.'));
    return;
  }
  const send = () => new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', '/v1/tables/' + encodeURIComponent(name) + '/ingest');
    if (token()) x.setRequestHeader('Authorization', 'Bearer ' + token());
    x.upload.addEventListener('progress', (e) => e.lengthComputable && (els.progress.value = (100 * e.loaded) / e.total));
    x.addEventListener('load', () => resolve(x));
    x.addEventListener('error', () => reject(new ApiError(0, 'network', 'the upload failed: the connection was lost')));
    // a form, so that the server knows the file's name (its format, and errors that name it)
    const form = new FormData();
    form.append('file', file, file.name);
    x.send(form);
  });
  els.progress.hidden = false;
  els.progress.value = 0;
  els.uploadOut.replaceChildren(el('p', {}, `Uploading ${file.name} (${bytes(file.size)}) into ${name}…`));
  send()
    .then(async (x) => {
      let body = {};
      try {
        body = JSON.parse(x.responseText);
      } catch {
        /* not JSON */
      }
      if (x.status === 401) {
        // the login prompt, through an ordinary request, then once more
        await getJSON('/v1/status').catch(() => {});
        x = await send();
        body = JSON.parse(x.responseText || '{}');
      }
      if (x.status >= 300) throw new ApiError(x.status, body.error?.code, body.error?.message || 'HTTP ' + x.status);
      els.uploadOut.replaceChildren(el('p', {}, `Ingested into ${name}: `), el('pre', { class: 'summary' }, JSON.stringify(body, null, 2)));
      await loadList();
      ctx.navigate('explore', [name]);
    })
    .catch((e) => els.uploadOut.replaceChildren(el('p', { class: 'error', role: 'alert' }, `Not ingested: ${e.message}`)))
    .finally(() => (els.progress.hidden = true));
}
