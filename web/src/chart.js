// A chart of a result, drawn as SVG: bar (a label and a number), line (a time or number
// along x), scatter (two numbers) or histogram (one number). The kind and the columns are
// first chosen from the columns' types and can be changed. Large results are sampled
// evenly for line and scatter (at most MAX_POINTS points) and bars show the first
// MAX_BARS rows; a histogram reads every row.

import { format, numeric, temporal, typeName } from './format.js';

const MAX_POINTS = 5000, MAX_BARS = 60, BINS = 30;
const SVG = 'http://www.w3.org/2000/svg';
const W = 760, H = 340, M = { l: 64, r: 16, t: 16, b: 64 };

function svg(tag, attrs = {}, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  e.append(...kids);
  return e;
}

const DATE_MS = 8.64e15; // JavaScript's Date range, either side of 1970

// Row i of a column as a number to plot, NaN when there is none: decimals (and 128-bit
// integers, which come as decimals) through their text at the column's scale; times as
// milliseconds, NaN past the Date range (DuckDB's infinities, year 294,246), which Arrow
// JS's own reading throws on.
function numAt(column, i, type) {
  let v;
  try {
    v = column.get(i);
  } catch {
    return NaN;
  }
  if (v === null || v === undefined) return NaN;
  let n;
  if (typeof v === 'bigint') n = Number(v);
  else if (v instanceof Date) n = v.getTime();
  else if (typeof v === 'object') n = Number(format(v, type));
  else n = Number(v);
  return temporal(type) && !(Math.abs(n) <= DATE_MS) ? NaN : n;
}

// Where v lies from lo (0) to hi (1), without overflow for the widest doubles
// (-1.7e308 to 1.7e308: hi - lo is Infinity, hi/2 - lo/2 is not).
function frac(v, lo, hi) {
  const span = hi / 2 - lo / 2;
  return span > 0 ? (v / 2 - lo / 2) / span : 0.5;
}

function tickText(v, type) {
  if (!Number.isFinite(v)) return '';
  if (type && temporal(type)) return Math.abs(v) <= DATE_MS ? new Date(v).toISOString().slice(0, 10) : '';
  const a = Math.abs(v);
  return a >= 1e15 ? v.toExponential(1) : a >= 1e9 ? (v / 1e9).toFixed(1) + 'G' : a >= 1e6 ? (v / 1e6).toFixed(1) + 'M' : a >= 1e4 ? (v / 1e3).toFixed(0) + 'k' : String(+v.toPrecision(4));
}

// At most n + 2 round values from lo to hi, as multiples of a step (so that no step is
// lost in rounding: 1e16 + 2 - 1e16 is a range a float step cannot walk).
function ticks(lo, hi, n = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (!(hi > lo) || !Number.isFinite(hi - lo) || (hi - lo) / Math.max(Math.abs(lo), Math.abs(hi)) < 1e-12) return [lo];
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
  const s = [1, 2, 5, 10].map((k) => k * step).find((k) => (hi - lo) / k <= n) || step * 10;
  const out = [];
  for (let k = Math.ceil(lo / s), last = Math.floor(hi / s); k <= last && out.length <= n + 2; k++) out.push(k * s);
  return out.length ? out : [lo];
}

export function defaults(fields) {
  const nums = fields.map((f, i) => (numeric(f.type) ? i : -1)).filter((i) => i >= 0);
  const time = fields.findIndex((f) => temporal(f.type));
  const text = fields.findIndex((f) => !numeric(f.type) && !temporal(f.type));
  if (time >= 0 && nums.length) return { kind: 'line', x: time, y: nums[0] };
  if (text >= 0 && nums.length) return { kind: 'bar', x: text, y: nums[0] };
  if (nums.length >= 2) return { kind: 'scatter', x: nums[0], y: nums[1] };
  if (nums.length === 1) return { kind: 'histogram', x: nums[0], y: nums[0] };
  return { kind: 'bar', x: 0, y: 0 };
}

export class Chart {
  constructor(host, table) {
    this.table = table;
    this.fields = table.schema.fields;
    this.opts = defaults(this.fields);
    this.el = document.createElement('div');
    this.el.className = 'chart';
    const bar = document.createElement('div');
    bar.className = 'chart-bar';
    const pick = (label, key, options) => {
      const l = document.createElement('label');
      l.textContent = label + ' ';
      const s = document.createElement('select');
      for (const [v, t] of options) s.append(new Option(t, v));
      s.value = String(this.opts[key]);
      s.addEventListener('change', () => {
        this.opts[key] = key === 'kind' ? s.value : Number(s.value);
        this.draw();
      });
      l.append(s);
      return l;
    };
    const cols = this.fields.map((f, i) => [i, f.name]);
    bar.append(
      pick('Chart', 'kind', [['bar', 'bar'], ['line', 'line'], ['scatter', 'scatter'], ['histogram', 'histogram']]),
      pick('x', 'x', cols),
      pick('y', 'y', cols),
    );
    this.plot = document.createElement('div');
    this.plot.className = 'chart-plot';
    this.el.append(bar, this.plot);
    host.append(this.el);
    this.draw();
  }

  column(i) {
    return this.table.getChildAt(i);
  }

  draw() {
    const { kind, x, y } = this.opts;
    const n = this.table.numRows;
    const fx = this.fields[x], fy = this.fields[y];
    let s;
    if (!n) s = this.empty('No rows to chart.');
    else if (kind === 'histogram') s = this.histogram(x);
    else if (kind === 'bar') s = numeric(fy.type) ? this.bars(x, y) : this.empty(`y must be a number: ${fy.name} is ${typeName(fy.type)}.`);
    else if (!numeric(fy.type)) s = this.empty(`y must be a number: ${fy.name} is ${typeName(fy.type)}.`);
    else if (!numeric(fx.type) && !temporal(fx.type)) s = this.empty(`x must be a number or a time for a ${kind} chart: ${fx.name} is ${typeName(fx.type)}.`);
    else s = this.points(x, y, kind === 'line');
    this.plot.replaceChildren(s);
  }

  empty(text) {
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = text;
    return p;
  }

  frame(label, xl, yl) {
    const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, class: 'chart-svg' }, svg('title', {}, label));
    s.append(svg('text', { x: M.l + (W - M.l - M.r) / 2, y: H - 8, 'text-anchor': 'middle', class: 'axis-label' }, xl));
    s.append(svg('text', { x: 14, y: M.t + (H - M.t - M.b) / 2, transform: `rotate(-90 14 ${M.t + (H - M.t - M.b) / 2})`, 'text-anchor': 'middle', class: 'axis-label' }, yl));
    return s;
  }

  yAxis(s, lo, hi, type) {
    const sy = (v) => H - M.b - frac(v, lo, hi) * (H - M.t - M.b);
    for (const t of ticks(lo, hi)) {
      s.append(svg('line', { x1: M.l, x2: W - M.r, y1: sy(t), y2: sy(t), class: 'grid-line' }));
      s.append(svg('text', { x: M.l - 6, y: sy(t) + 4, 'text-anchor': 'end', class: 'tick' }, tickText(t, type)));
    }
    return sy;
  }

  bars(x, y) {
    const n = Math.min(this.table.numRows, MAX_BARS), cx = this.column(x), cy = this.column(y);
    const labels = [], vals = [];
    for (let i = 0; i < n; i++) {
      let label;
      try {
        label = format(cx.get(i), this.fields[x].type);
      } catch {
        label = '?';
      }
      labels.push(label);
      vals.push(numAt(cy, i, this.fields[y].type));
    }
    const lo = Math.min(0, ...vals.filter(Number.isFinite)), hi = Math.max(0, ...vals.filter(Number.isFinite));
    const s = this.frame(`Bar chart of ${this.fields[y].name} by ${this.fields[x].name}` + (this.table.numRows > n ? `, the first ${n} rows` : ''), this.fields[x].name, this.fields[y].name);
    const sy = this.yAxis(s, lo, hi, this.fields[y].type);
    const bw = (W - M.l - M.r) / n;
    vals.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const y0 = sy(Math.max(0, v)), y1 = sy(Math.min(0, v));
      const r = svg('rect', { x: M.l + i * bw + bw * 0.1, y: y0, width: bw * 0.8, height: Math.max(1, y1 - y0), class: 'bar' }, svg('title', {}, `${labels[i]}: ${v}`));
      s.append(r);
      if (n <= 24) s.append(svg('text', { x: M.l + i * bw + bw / 2, y: H - M.b + 14, 'text-anchor': 'end', transform: `rotate(-35 ${M.l + i * bw + bw / 2} ${H - M.b + 14})`, class: 'tick' }, labels[i].slice(0, 18)));
    });
    return s;
  }

  points(x, y, line) {
    const n = this.table.numRows, step = Math.max(1, Math.ceil(n / MAX_POINTS)), cx = this.column(x), cy = this.column(y);
    const pts = [];
    for (let i = 0; i < n; i += step) {
      const a = numAt(cx, i, this.fields[x].type), b = numAt(cy, i, this.fields[y].type);
      if (Number.isFinite(a) && Number.isFinite(b)) pts.push([a, b]);
    }
    if (line) pts.sort((p, q) => p[0] - q[0]);
    const fx = this.fields[x], fy = this.fields[y];
    const s = this.frame(`${line ? 'Line' : 'Scatter'} chart of ${fy.name} against ${fx.name}` + (step > 1 ? `, every ${step}th row` : ''), fx.name, fy.name);
    if (!pts.length) return this.empty('No row has a value to plot on both axes.');
    let xlo = Infinity, xhi = -Infinity, ylo = Infinity, yhi = -Infinity;
    for (const [a, b] of pts) {
      xlo = Math.min(xlo, a), xhi = Math.max(xhi, a), ylo = Math.min(ylo, b), yhi = Math.max(yhi, b);
    }
    const sy = this.yAxis(s, ylo, yhi, fy.type);
    const sx = (v) => M.l + frac(v, xlo, xhi) * (W - M.l - M.r);
    for (const t of ticks(xlo, xhi)) s.append(svg('text', { x: sx(t), y: H - M.b + 16, 'text-anchor': 'middle', class: 'tick' }, tickText(t, fx.type)));
    if (line) s.append(svg('polyline', { points: pts.map(([a, b]) => `${sx(a).toFixed(1)},${sy(b).toFixed(1)}`).join(' '), class: 'line' }));
    else for (const [a, b] of pts) s.append(svg('circle', { cx: sx(a).toFixed(1), cy: sy(b).toFixed(1), r: 2.5, class: 'dot' }));
    return s;
  }

  histogram(x) {
    const n = this.table.numRows, c = this.column(x), f = this.fields[x];
    if (!numeric(f.type)) return this.empty(`A histogram needs a number: ${f.name} is ${typeName(f.type)}.`);
    let lo = Infinity, hi = -Infinity;
    const vals = new Float64Array(n);
    let k = 0;
    for (let i = 0; i < n; i++) {
      const v = numAt(c, i, f.type);
      if (Number.isFinite(v)) {
        vals[k++] = v;
        lo = Math.min(lo, v), hi = Math.max(hi, v);
      }
    }
    if (!k) return this.empty(`No finite value of ${f.name} to count.`);
    const counts = new Array(BINS).fill(0), width = hi / BINS - lo / BINS;
    for (let i = 0; i < k; i++) counts[Math.min(BINS - 1, Math.floor(frac(vals[i], lo, hi) * BINS))]++;
    const s = this.frame(`Histogram of ${f.name}, ${k} values in ${BINS} bins`, f.name, 'rows');
    const sy = this.yAxis(s, 0, Math.max(...counts), null);
    const bw = (W - M.l - M.r) / BINS;
    counts.forEach((cnt, i) => {
      s.append(svg('rect', { x: M.l + i * bw + 1, y: sy(cnt), width: Math.max(1, bw - 2), height: H - M.b - sy(cnt), class: 'bar' },
        svg('title', {}, `${tickText(lo + i * width)} to ${tickText(lo + (i + 1) * width)}: ${cnt}`)));
    });
    for (const t of ticks(lo, hi)) s.append(svg('text', { x: M.l + frac(t, lo, hi) * (W - M.l - M.r), y: H - M.b + 16, 'text-anchor': 'middle', class: 'tick' }, tickText(t)));
    return s;
  }
}
