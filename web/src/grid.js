// A result grid over an Arrow table: only the rows and columns in view exist in the page
// (a pool of row elements, refilled as it scrolls; each holds the cells of the columns in
// view, placed in their grid column), so a million rows or twenty thousand columns scroll
// like a hundred. A cell shows at most SHOW characters (a nested value is cut while it is
// formatted); a copy takes the whole value. Columns
// sort (a click on the header: ascending, descending, as it came) and resize (the handle
// at a header's right edge, or the arrow keys on it); a cell is selected with the mouse
// or the arrow keys and copied with Ctrl-C.
//
// The grid element itself scrolls (so the keyboard reaches it, and the header, which
// sticks to its top, scrolls sideways with the rows). Browsers cap an element's height
// (about 33 million pixels in Chromium, less elsewhere), so past MAX_SPACER pixels the
// scroll bar stands for the rows proportionally: scrollTop maps to a row, and the rows'
// block is placed where that row must appear.

import { format, numeric, typeName, valueAt, Exact } from './format.js';

const MAX_SPACER = 8_000_000;
const OVERSCAN = 4, COL_OVERSCAN = 2, SHOW = 2000;

export class Grid {
  constructor(host, { label = 'Result' } = {}) {
    this.el = document.createElement('div');
    this.el.className = 'grid';
    this.el.setAttribute('role', 'grid');
    this.el.setAttribute('aria-label', label);
    this.el.tabIndex = 0;
    this.head = document.createElement('div');
    this.head.className = 'grid-head';
    this.head.setAttribute('role', 'row');
    this.body = this.el; // the scroller
    this.spacer = document.createElement('div');
    this.spacer.className = 'grid-spacer';
    this.rowsEl = document.createElement('div');
    this.rowsEl.className = 'grid-rows';
    this.rowsEl.setAttribute('role', 'rowgroup');
    this.spacer.append(this.rowsEl);
    this.el.append(this.head, this.spacer);
    host.append(this.el);
    this.pool = [];
    this.table = null;
    this.order = null; // row order when sorted: indices into the table
    this.sort = { col: -1, dir: 0 };
    this.sel = { row: 0, col: 0 };
    this.frame = 0;
    this.body.addEventListener('scroll', () => this.schedule(), { passive: true });
    this.rowsEl.addEventListener('mousedown', (e) => this.click(e));
    this.el.addEventListener('keydown', (e) => this.key(e));
    this.el.addEventListener('copy', (e) => this.copy(e));
    new ResizeObserver(() => this.schedule()).observe(this.body);
  }

  get rowCount() {
    return this.table ? this.table.numRows : 0;
  }

  setTable(table) {
    this.table = table;
    this.columns = table ? table.schema.fields.map((f, i) => ({ field: f, vector: table.getChildAt(i) })) : [];
    // widths from the names, types and the first rows' text, in characters of the grid's
    // monospace font (about 0.6 of its size), within bounds a resize can pass
    // (fewer rows when there are many columns: about 20,000 values in all)
    const sample = Math.min(this.rowCount, 200, Math.max(5, Math.floor(20000 / Math.max(1, this.columns.length))));
    this.widths = this.columns.map((c) => {
      let chars = Math.max(c.field.name.length + 2, typeName(c.field.type).length);
      for (let r = 0; r < sample && chars < 46; r++) chars = Math.max(chars, format(valueAt(c.vector, r), c.field.type, 48).length);
      return Math.min(360, Math.max(56, Math.ceil(chars * 7.8) + 20));
    });
    this.cols = [0, 0]; // the columns in view, [from, to): none drawn yet
    this.order = null;
    this.sort = { col: -1, dir: 0 };
    this.sel = { row: 0, col: 0 };
    this.el.setAttribute('aria-rowcount', String(this.rowCount + 1));
    this.el.setAttribute('aria-colcount', String(this.columns.length));
    this.pool.forEach((r) => r.remove());
    this.pool = [];
    this.body.scrollTop = 0;
    this.body.scrollLeft = 0;
    this.template = this.templateColumns();
    this.renderHead();
    this.layout();
    this.render();
  }

  // Rows are measured once the grid is in the page (zoom and fonts change their height).
  rowHeight() {
    if (!this.rh) {
      const probe = this.makeRow();
      this.rowsEl.append(probe);
      this.rh = probe.getBoundingClientRect().height || 24;
      probe.remove();
    }
    return this.rh;
  }

  templateColumns() {
    return this.widths.map((w) => w + 'px').join(' ');
  }

  // The columns in view, with COL_OVERSCAN more on each side: [from, to).
  visibleColumns() {
    const left = this.body.scrollLeft, right = left + Math.max(this.body.clientWidth, 1);
    let from = 0, x = 0;
    while (from < this.columns.length && x + this.widths[from] <= left) x += this.widths[from++];
    let to = from;
    while (to < this.columns.length && x < right) x += this.widths[to++];
    return [Math.max(0, from - COL_OVERSCAN), Math.min(this.columns.length, to + COL_OVERSCAN)];
  }

  renderHead() {
    this.head.replaceChildren();
    this.head.style.gridTemplateColumns = this.template;
    const [from, to] = this.cols;
    this.columns.slice(from, to).forEach((c, k) => {
      const i = from + k;
      const cell = document.createElement('div');
      cell.style.gridColumn = String(i + 1);
      cell.className = 'grid-hcell';
      cell.setAttribute('role', 'columnheader');
      cell.setAttribute('aria-colindex', String(i + 1));
      const dir = this.sort.col === i ? this.sort.dir : 0;
      cell.setAttribute('aria-sort', dir > 0 ? 'ascending' : dir < 0 ? 'descending' : 'none');
      const b = document.createElement('button');
      b.className = 'grid-sort';
      b.title = `${c.field.name} (${typeName(c.field.type)}): sort`;
      b.textContent = c.field.name + (dir > 0 ? ' ▲' : dir < 0 ? ' ▼' : '');
      b.addEventListener('click', () => this.sortBy(i));
      const t = document.createElement('span');
      t.className = 'grid-type';
      t.textContent = typeName(c.field.type);
      const h = document.createElement('span');
      h.className = 'grid-resize';
      h.setAttribute('role', 'separator');
      h.setAttribute('aria-orientation', 'vertical');
      h.setAttribute('aria-label', `width of ${c.field.name}`);
      h.setAttribute('aria-valuenow', String(this.widths[i]));
      h.tabIndex = 0;
      h.addEventListener('pointerdown', (e) => this.resizeStart(e, i));
      h.addEventListener('keydown', (e) => {
        if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
          e.preventDefault();
          e.stopPropagation();
          this.setWidth(i, this.widths[i] + (e.key === 'ArrowLeft' ? -16 : 16));
        }
      });
      cell.append(b, t, h);
      this.head.append(cell);
    });
  }

  setWidth(i, w) {
    this.widths[i] = Math.max(40, Math.min(2000, Math.round(w)));
    const t = (this.template = this.templateColumns());
    this.head.style.gridTemplateColumns = t;
    this.pool.forEach((r) => (r.style.gridTemplateColumns = t));
    this.head.querySelector(`.grid-hcell[aria-colindex="${i + 1}"] .grid-resize`)?.setAttribute('aria-valuenow', String(this.widths[i]));
    this.layout();
  }

  resizeStart(e, i) {
    e.preventDefault();
    const x0 = e.clientX, w0 = this.widths[i], target = e.target;
    target.setPointerCapture(e.pointerId);
    const move = (ev) => this.setWidth(i, w0 + ev.clientX - x0);
    const up = () => {
      target.removeEventListener('pointermove', move);
      target.removeEventListener('pointerup', up);
    };
    target.addEventListener('pointermove', move);
    target.addEventListener('pointerup', up);
  }

  // Sorting reads the column once into plain values, then sorts row numbers by them
  // (nulls last in both directions, as SQL's NULLS LAST).
  sortBy(i) {
    const dir = this.sort.col === i ? (this.sort.dir === 1 ? -1 : this.sort.dir === -1 ? 0 : 1) : 1;
    this.sort = { col: i, dir };
    if (dir === 0) {
      this.order = null;
    } else {
      const v = this.columns[i].vector, n = this.rowCount;
      const vals = new Array(n);
      for (let r = 0; r < n; r++) {
        let x = valueAt(v, r);
        if (x !== null && typeof x === 'object' && !(x instanceof Date)) {
          // decimals (and 128-bit integers) by value, lists and structs by their text
          const type = this.columns[i].field.type, text = format(x, type);
          x = numeric(type) || x instanceof Exact ? Number(text) : text;
        }
        vals[r] = x;
      }
      const order = new Uint32Array(n);
      for (let r = 0; r < n; r++) order[r] = r;
      const cmp = (a, b) => {
        const x = vals[a], y = vals[b];
        if (x === null || x === undefined) return y === null || y === undefined ? a - b : 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : x > y ? 1 : a - b) * dir;
      };
      this.order = order.sort(cmp);
    }
    this.renderHead();
    this.render();
    this.el.dispatchEvent(new CustomEvent('gridsort', { detail: this.sort }));
  }

  layout() {
    const total = this.rowCount * this.rowHeight();
    this.scaled = total > MAX_SPACER;
    this.spacer.style.height = (this.scaled ? MAX_SPACER : total) + 'px';
    const width = this.widths.reduce((a, b) => a + b, 0) + 'px';
    this.spacer.style.width = width;
    this.head.style.width = width;
    this.schedule();
  }

  schedule() {
    if (!this.frame)
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
  }

  makeRow() {
    const r = document.createElement('div');
    r.className = 'grid-row';
    r.setAttribute('role', 'row');
    r.style.gridTemplateColumns = this.template || '';
    return r;
  }

  // The rows' part of the view: the grid's height under its header.
  viewHeight() {
    return Math.max(this.rowHeight(), this.body.clientHeight - this.head.offsetHeight);
  }

  // The row at the top of the view, and the offset of the rows' block from the spacer's top.
  firstRow() {
    const rh = this.rowHeight(), view = this.viewHeight(), top = this.body.scrollTop;
    let virtual = top;
    if (this.scaled) {
      const total = this.rowCount * rh;
      virtual = (top * (total - view)) / Math.max(1, MAX_SPACER - view);
    }
    const first = Math.max(0, Math.floor(virtual / rh) - OVERSCAN);
    return { first, offset: top - (virtual - first * rh) };
  }

  render() {
    if (!this.table) return;
    const rh = this.rowHeight(), n = this.rowCount;
    const { first, offset } = this.firstRow();
    const count = Math.min(n - first, Math.ceil(this.viewHeight() / rh) + 2 * OVERSCAN);
    const cols = this.visibleColumns(), moved = cols[0] !== this.cols[0] || cols[1] !== this.cols[1];
    if (moved) {
      this.cols = cols;
      this.renderHead();
      this.pool.forEach((r) => this.fillCells(r));
    }
    while (this.pool.length < count) {
      const r = this.makeRow();
      this.fillCells(r);
      this.rowsEl.append(r);
      this.pool.push(r);
    }
    this.rowsEl.style.transform = `translateY(${Math.max(0, offset)}px)`;
    for (let k = 0; k < this.pool.length; k++) {
      const r = this.pool[k];
      if (k >= count) {
        r.hidden = true;
        continue;
      }
      r.hidden = false;
      const i = first + k, row = this.order ? this.order[i] : i;
      r.setAttribute('aria-rowindex', String(i + 2));
      r.dataset.row = String(i);
      for (let c = this.cols[0]; c < this.cols[1]; c++) {
        const cell = r.children[c - this.cols[0]], v = valueAt(this.columns[c].vector, row);
        let text = format(v, this.columns[c].field.type, SHOW);
        if (text.length > SHOW) text = text.slice(0, SHOW) + '…';
        if (cell.textContent !== text) cell.textContent = text;
        cell.classList.toggle('null', v === null);
        const selected = i === this.sel.row && c === this.sel.col;
        cell.classList.toggle('selected', selected);
        if (selected) cell.setAttribute('aria-selected', 'true');
        else cell.removeAttribute('aria-selected');
      }
    }
  }

  // A row's cells for the columns in view, each in its own grid column.
  fillCells(r) {
    const cells = [];
    for (let c = this.cols[0]; c < this.cols[1]; c++) {
      const cell = document.createElement('div');
      cell.className = 'grid-cell';
      cell.setAttribute('role', 'gridcell');
      cell.setAttribute('aria-colindex', String(c + 1));
      cell.style.gridColumn = String(c + 1);
      if (numeric(this.columns[c].field.type)) cell.classList.add('num');
      cells.push(cell);
    }
    r.replaceChildren(...cells);
  }

  cellText(i, c) {
    const row = this.order ? this.order[i] : i;
    return format(valueAt(this.columns[c].vector, row), this.columns[c].field.type);
  }

  click(e) {
    const cell = e.target.closest('.grid-cell');
    if (!cell) return;
    const row = Number(cell.parentElement.dataset.row), col = Number(cell.getAttribute('aria-colindex')) - 1;
    this.select(row, col);
    this.el.focus({ preventScroll: true });
  }

  select(row, col) {
    const n = this.rowCount;
    if (!n || !this.columns.length) return;
    this.sel = { row: Math.max(0, Math.min(n - 1, row)), col: Math.max(0, Math.min(this.columns.length - 1, col)) };
    this.scrollToRow(this.sel.row);
    this.scrollToColumn(this.sel.col);
    this.render();
    const text = this.cellText(this.sel.row, this.sel.col);
    this.el.setAttribute('aria-description', `row ${this.sel.row + 1}, ${this.columns[this.sel.col].field.name}: ${text}`);
  }

  scrollToColumn(c) {
    let x = 0;
    for (let k = 0; k < c; k++) x += this.widths[k];
    if (x < this.body.scrollLeft) this.body.scrollLeft = x;
    else if (x + this.widths[c] > this.body.scrollLeft + this.body.clientWidth)
      this.body.scrollLeft = x + this.widths[c] - this.body.clientWidth;
  }

  scrollToRow(i) {
    const rh = this.rowHeight(), view = this.viewHeight();
    if (!this.scaled) {
      if (i * rh < this.body.scrollTop) this.body.scrollTop = i * rh;
      else if ((i + 1) * rh > this.body.scrollTop + view) this.body.scrollTop = (i + 1) * rh - view;
      return;
    }
    const { first } = this.firstRow(), visible = Math.floor(view / rh);
    if (i < first + OVERSCAN || i >= first + OVERSCAN + visible) {
      const total = this.rowCount * rh;
      this.body.scrollTop = (i * rh * (MAX_SPACER - view)) / Math.max(1, total - view);
    }
  }

  key(e) {
    if (e.target !== this.el) return;
    const page = Math.max(1, Math.floor(this.viewHeight() / this.rowHeight()) - 1);
    const { row, col } = this.sel;
    const moves = {
      ArrowDown: [row + 1, col], ArrowUp: [row - 1, col], ArrowLeft: [row, col - 1], ArrowRight: [row, col + 1],
      PageDown: [row + page, col], PageUp: [row - page, col],
      Home: e.ctrlKey ? [0, col] : [row, 0], End: e.ctrlKey ? [this.rowCount - 1, col] : [row, this.columns.length - 1],
    };
    if (moves[e.key]) {
      e.preventDefault();
      this.select(...moves[e.key]);
    }
  }

  copy(e) {
    if (!this.rowCount) return;
    e.preventDefault();
    e.clipboardData.setData('text/plain', this.cellText(this.sel.row, this.sel.col));
  }
}
