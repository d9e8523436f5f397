// The System tab: the server's health, version, uptime and lake (GET /v1/status), the
// queries running now with a cancel button each (GET /v1/queries, DELETE
// /v1/queries/{id}), request rates and latencies from /metrics (Prometheus text: the
// counters' change between two reads, REFRESH_MS apart), and the errors this page met.
// It refreshes while it is shown.

import { request, getJSON } from './api.js';
import { el } from './dom.js';
import { bytes } from './format.js';

const REFRESH_MS = 2000;
let els, timer = 0, last = null;
export const recentErrors = [];

window.addEventListener('error', (e) => note(e.message));
window.addEventListener('unhandledrejection', (e) => note(String(e.reason?.message || e.reason)));
function note(text) {
  recentErrors.unshift({ at: new Date(), text });
  recentErrors.length = Math.min(recentErrors.length, 20);
}

export function mount(panel) {
  els = {
    status: el('dl', { class: 'facts' }),
    queries: el('table', { class: 'queries', 'aria-label': 'Queries running' }),
    rates: el('table', { class: 'rates', 'aria-label': 'Requests by route' }),
    errors: el('ul', { class: 'errors', 'aria-label': 'Recent errors' }),
    latency: el('p', { class: 'hint' }),
    wal: el('table', { class: 'rates', 'aria-label': 'Write-ahead logs' }),
    serverErrors: el('ul', { class: 'errors', 'aria-label': 'Recent errors of the server' }),
  };
  panel.append(el('div', { class: 'system' },
    el('section', {}, el('h2', {}, 'Server'), els.status),
    el('section', {}, el('h2', {}, 'Queries running'), els.queries),
    el('section', {}, el('h2', {}, 'Requests'), els.latency, els.rates),
    el('section', {}, el('h2', {}, 'Write-ahead logs (LSNs; lag = visible - flushed)'), els.wal),
    el('section', {}, el('h2', {}, 'Recent errors (the server\'s last 20 failed requests)'), els.serverErrors),
    el('section', {}, el('h2', {}, 'Recent errors in this page'), els.errors)));
}

export function show() {
  refresh();
}

function dur(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm ' + (s % 60) + 's';
}

// Prometheus text: {name: [{labels, value}]}
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? ([^ ]+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[3] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    (out[m[1]] ||= []).push({ labels, value: Number(m[4]) });
  }
  return out;
}

// The bucket bound under which half, 90% and 99% of the requests fell.
function latency(buckets) {
  const b = buckets.map(({ labels, value }) => [labels.le === '+Inf' ? Infinity : Number(labels.le), value]).sort((x, y) => x[0] - y[0]);
  const total = b.length ? b[b.length - 1][1] : 0;
  if (!total) return null;
  const at = (p) => {
    const hit = b.find(([, c]) => c >= p * total);
    return hit[0] === Infinity ? 'more than the last bucket' : hit[0] < 1 ? hit[0] * 1000 + ' ms' : hit[0] + ' s';
  };
  return [at(0.5), at(0.9), at(0.99)];
}

async function refresh() {
  clearTimeout(timer);
  const panel = document.getElementById('panel-system');
  if (panel.hidden) return;
  try {
    const s = await getJSON('/v1/status');
    const { tables } = await getJSON('/v1/tables');
    const lakeBytes = tables.reduce((a, t) => a + (t.bytes || 0), 0);
    const facts = [['Health', 'ok'], ['Version', s.version], ['Lake', s.lake], ['Uptime', dur(s.uptime_s)],
      ['Tables', s.tables], ['Lake size (tables\' current files)', bytes(lakeBytes)], ['Workers', s.workers],
      ['Queries running', s.queries_running], ['Memory in use', bytes(s.memory?.rss_bytes)],
      ['Memory limit a worker', s.memory?.limit_per_worker ?? 'none']];
    els.status.replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]));
    const logs = s.wal || [];
    els.wal.replaceChildren(
      el('thead', {}, el('tr', {}, ...['Table', 'Assigned', 'Durable', 'Visible', 'Flushed', 'Lag', 'Log size'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, ...logs.map((w) => el('tr', {}, el('td', {}, w.table), ...[w.assigned, w.durable, w.visible, w.flushed, w.lag].map((v) => el('td', { class: 'num' }, String(v))),
        el('td', { class: 'num' }, bytes(Number(w.log_bytes)))))));
    if (!logs.length) els.wal.append(el('caption', { class: 'hint' }, 'No table has a write-ahead log.'));
    const errs = s.recent_errors || [];
    els.serverErrors.replaceChildren(...(errs.length
      ? errs.map((e) => el('li', {}, el('span', { class: 'hint' }, `${String(e.time).slice(11, 19)} ${e.method} ${e.route} ${e.status} `),
        `${e.code ? e.code + ': ' : ''}${String(e.message).slice(0, 300)}`))
      : [el('li', { class: 'hint' }, 'None since the server started.')]));
  } catch (e) {
    els.status.replaceChildren(el('dt', {}, 'Health'), el('dd', { class: 'error' }, e.message));
  }
  try {
    const q = await getJSON('/v1/queries');
    const list = q.queries || [];
    els.queries.replaceChildren(
      el('thead', {}, el('tr', {}, ...['Query id', 'Running for', ''].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, ...list.map((x) => el('tr', {}, el('td', {}, x.query_id), el('td', { class: 'num' }, Math.round(x.elapsed_ms) + ' ms'),
        el('td', {}, el('button', { 'aria-label': 'Cancel query ' + x.query_id, onclick: () => request('/v1/queries/' + encodeURIComponent(x.query_id), { method: 'DELETE' }).catch(() => {}).then(refresh) }, 'Cancel'))))));
    if (!list.length) els.queries.append(el('caption', { class: 'hint' }, 'None.'));
  } catch (e) {
    els.queries.replaceChildren(el('caption', { class: 'error' }, e.message));
  }
  try {
    const m = parseMetrics(await (await request('/metrics')).text());
    const now = performance.now();
    const counts = {};
    for (const { labels, value } of m.loch_http_requests_total || []) counts[labels.route] = (counts[labels.route] || 0) + value;
    const rows = Object.keys(counts).sort().map((route) => {
      const rate = last ? (counts[route] - (last.counts[route] || 0)) / ((now - last.at) / 1000) : null;
      return el('tr', {}, el('td', {}, route), el('td', { class: 'num' }, String(counts[route])),
        el('td', { class: 'num' }, rate === null ? '' : rate.toFixed(2)));
    });
    const q = latency(m.loch_http_request_duration_seconds_bucket || []);
    els.latency.textContent = q ? `Latency of all requests so far: p50 ≤ ${q[0]}, p90 ≤ ${q[1]}, p99 ≤ ${q[2]} (histogram buckets).` : '';
    last = { at: now, counts };
    els.rates.replaceChildren(el('thead', {}, el('tr', {}, ...['Route', 'Requests', 'Per second now'].map((h) => el('th', { scope: 'col' }, h)))), el('tbody', {}, ...rows));
  } catch (e) {
    els.rates.replaceChildren(el('caption', { class: 'error' }, e.message));
  }
  els.errors.replaceChildren(...(recentErrors.length ? recentErrors.map((x) => el('li', {}, `${x.at.toISOString().slice(11, 19)} ${x.text}`)) : [el('li', { class: 'hint' }, 'None.')]));
  timer = setTimeout(refresh, REFRESH_MS);
}
