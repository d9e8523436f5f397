// A value of an Arrow column as text, the way loch's CLI prints it: integers of any size
// exactly (64-bit ones are BigInt), decimals at their scale, times in ISO 8601 (UTC),
// lists and structs as JSON. NULL is the empty string; the grid marks it.

// Arrow's type ids (Schema.fbs), so that this file does not load Arrow JS itself: the
// page loads it only when a result arrives.
const T = { Null: 1, Int: 2, Float: 3, Binary: 4, Utf8: 5, Bool: 6, Decimal: 7, Date: 8, Time: 9, Timestamp: 10,
  List: 12, Struct: 13, FixedSizeList: 16, Map: 17, LargeBinary: 19, LargeUtf8: 20, LargeList: 21, BinaryView: 23, Utf8View: 24 };
const UNIT = { SECOND: 0, MILLISECOND: 1, MICROSECOND: 2, NANOSECOND: 3 };
const is = (type, ...ids) => !!type && ids.includes(type.typeId);

// A number of a JSON result as its text, where a double would change it: a DECIMAL(38,8)
// or a HUGEINT past 2^53, or a scale's trailing zeros (1.50). Compares by value.
export class Exact {
  constructor(text) {
    this.text = text;
  }
  valueOf() {
    return Number(this.text);
  }
  toString() {
    return this.text;
  }
}

// JSON.parse, keeping each number whose text a double would not give back as an Exact.
export function parseExact(text) {
  return JSON.parse(text, (key, v, context) =>
    typeof v === 'number' && context && typeof context.source === 'string' && String(v) !== context.source ? new Exact(context.source) : v);
}

function json(v) {
  return JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x));
}

// A list or struct of a JSON result as DuckDB prints one: "[1, 2]", {"k": 1}.
function plain(v) {
  if (Array.isArray(v)) return '[' + v.map(plain).join(', ') + ']';
  if (v && typeof v === 'object' && v.constructor === Object)
    return '{' + Object.entries(v).map(([k, x]) => JSON.stringify(k) + ': ' + plain(x)).join(', ') + '}';
  return v instanceof Exact ? v.text : json(v);
}

// A decimal comes as Arrow JS's big number, whose text is the unscaled integer.
function decimal(v, scale) {
  let n = BigInt(String(v));
  const neg = n < 0n;
  if (neg) n = -n;
  const s = n.toString().padStart(scale + 1, '0');
  const text = scale > 0 ? s.slice(0, s.length - scale) + '.' + s.slice(s.length - scale) : s;
  return neg ? '-' + text : text;
}

// The calendar day of a count of days since 1970-01-01, in the proleptic Gregorian
// calendar, for any day a DuckDB DATE or TIMESTAMP holds (JavaScript's Date stops at
// ±275,760 years; DuckDB's timestamps reach 294,247): [year, month, day], year 0 being
// 1 BC. After H. Hinnant's days_from_civil, inverted.
function civil(z) {
  z += 719468;
  const era = Math.floor(z / 146097), doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153), d = doy - Math.floor((153 * mp + 2) / 5) + 1, m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const two = (x) => String(x).padStart(2, '0');

// A day as DuckDB prints it: "2026-11-29", "10000-01-01", "0044-03-15 (BC)" (the BC
// mark returned apart: a timestamp prints it between the day and the time).
function day(days) {
  const [y, m, d] = civil(days);
  return [`${String(y > 0 ? y : 1 - y).padStart(4, '0')}-${two(m)}-${two(d)}`, y > 0 ? '' : ' (BC)'];
}

const DATE_INF = 2147483647n; // DuckDB's DATE 'infinity' (int32 max); -infinity is its negation

function date(raw) {
  if (raw >= DATE_INF) return 'infinity';
  if (raw <= -DATE_INF) return '-infinity';
  const [text, bc] = day(Number(raw));
  return text + bc;
}

const PER_SECOND = { [UNIT.SECOND]: 1n, [UNIT.MILLISECOND]: 1000n, [UNIT.MICROSECOND]: 1000000n, [UNIT.NANOSECOND]: 1000000000n };
const I64_MAX = 9223372036854775807n;

// A timestamp from its raw count in the column's unit, exactly (Arrow JS's own values
// are milliseconds, rounded): "2026-01-01 10:00:00.123456", fraction without trailing
// zeros; DuckDB's infinities by name.
function timestamp(raw, unit, zoned) {
  if (raw >= I64_MAX) return 'infinity';
  if (raw <= -I64_MAX) return '-infinity';
  const per = PER_SECOND[unit] ?? 1000n;
  let sec = raw / per, frac = raw % per;
  if (frac < 0n) (sec -= 1n), (frac += per); // floor, not toward zero: 1969-12-31 23:59:59.999999
  let days = sec / 86400n, rest = sec % 86400n;
  if (rest < 0n) (days -= 1n), (rest += 86400n);
  const [text, bc] = day(Number(days)), s = Number(rest);
  const digits = per.toString().length - 1;
  // a zoned value is an instant: shown in UTC with its offset, as DuckDB does in UTC
  return `${text}${bc} ${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}` +
    (frac ? '.' + frac.toString().padStart(digits, '0').replace(/0+$/, '') : '') + (zoned ? '+00' : '');
}

// A time of day from its raw count in the column's unit: "13:45:01.25".
function timeOfDay(raw, unit) {
  const per = PER_SECOND[unit] ?? 1000n;
  const sec = raw / per, frac = raw % per;
  const hms = [sec / 3600n, (sec / 60n) % 60n, sec % 60n].map((x) => x.toString().padStart(2, '0')).join(':');
  return frac ? hms + '.' + frac.toString().padStart(per.toString().length - 1, '0').replace(/0+$/, '') : hms;
}

// A nested value (list, struct, map) as JSON whose leaves are formatted by their own types
// (a timestamp inside one to the millisecond: Arrow JS gives no raw count there).
// budget.left counts down the characters still wanted: a list of 100,000 elements is
// cut at what a cell can show, not formatted whole for every cell in view.
function nested(v, type, budget) {
  if (v === null || v === undefined) return 'null';
  if (budget.left <= 0) return '…';
  const part = (text) => ((budget.left -= text.length + 2), text);
  if (is(type, T.List, T.LargeList, T.FixedSizeList)) {
    const c = type.children[0].type, out = [];
    for (let i = 0; i < v.length; i++) {
      if (budget.left <= 0) {
        out.push('…');
        break;
      }
      out.push(part(nested(v.get(i), c, budget)));
    }
    return '[' + out.join(', ') + ']';
  }
  if (is(type, T.Struct)) {
    const out = [];
    for (const f of type.children) {
      if (budget.left <= 0) {
        out.push('…');
        break;
      }
      out.push(part(JSON.stringify(f.name) + ': ' + nested(v[f.name], f.type, budget)));
    }
    return '{' + out.join(', ') + '}';
  }
  if (is(type, T.Map)) {
    const [k, x] = type.children[0].type.children.map((f) => f.type), out = [];
    for (const [key, val] of v) {
      if (budget.left <= 0) {
        out.push('…');
        break;
      }
      out.push(part(JSON.stringify(format(key, k)) + ': ' + nested(val, x, budget)));
    }
    return '{' + out.join(', ') + '}';
  }
  const text = format(v, type);
  return numeric(type) || is(type, T.Bool) ? text : JSON.stringify(text);
}

function formatOne(v, type, max) {
  if (v instanceof Exact) return v.text;
  if (is(type, T.Decimal)) return typeof v === 'object' ? decimal(v, type.scale) : String(v);
  if (is(type, T.Timestamp)) {
    if (typeof v === 'bigint') return timestamp(v, type.unit, !!type.timezone); // the raw count (valueAt), exact
    return timestamp(BigInt(Math.round(v instanceof Date ? v.getTime() : Number(v))), UNIT.MILLISECOND, !!type.timezone);
  }
  if (is(type, T.Time)) return typeof v === 'bigint' ? timeOfDay(v, type.unit) : timeOfDay(BigInt(Math.trunc(Number(v))), type.unit);
  if (is(type, T.Date)) {
    if (typeof v === 'bigint') return date(v); // days (valueAt), infinities included
    return date(BigInt(Math.floor((v instanceof Date ? v.getTime() : Number(v)) / 86400000)));
  }
  if (is(type, T.List, T.LargeList, T.FixedSizeList, T.Struct, T.Map)) return nested(v, type, { left: max });
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return v;
  if (Array.isArray(v) || v.constructor === Object) return plain(v);
  if (v instanceof Uint8Array) return Array.from(v, (b) => b.toString(16).padStart(2, '0')).join('');
  if (typeof v.toJSON === 'function') return json(v.toJSON());
  if (typeof v.toArray === 'function') return json(Array.from(v.toArray()));
  return json(v);
}

// Never throws: a value no rule knows is shown as JavaScript prints it. max bounds the
// work on nested values (lists, structs, maps): past about that many characters they end
// in '…'; without it they are whole (a copy, a download).
export function format(v, type, max = Infinity) {
  if (v === null || v === undefined) return '';
  try {
    return formatOne(v, type, max);
  } catch {
    try {
      return String(v);
    } catch {
      return '?';
    }
  }
}

// The value of row i of an Arrow vector, as the grid shows it: timestamps, times and
// dates as their raw counts (BigInt, in the column's unit), which Arrow JS's own get()
// rounds to milliseconds or turns into a Date that cannot hold DuckDB's range or its
// infinities; everything else as get() gives it.
const starts = new WeakMap();
export function valueAt(vector, i) {
  const type = vector.type;
  if (!is(type, T.Timestamp, T.Time) && !(is(type, T.Date) && type.unit === 0 /* DAY */)) return vector.get(i);
  let s = starts.get(vector);
  if (!s) {
    s = [];
    let at = 0;
    for (const d of vector.data) s.push((at += d.length) - d.length);
    starts.set(vector, s);
  }
  let lo = 0, hi = s.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (s[mid] <= i) lo = mid;
    else hi = mid - 1;
  }
  const d = vector.data[lo], k = i - s[lo];
  if (!d.getValid(k)) return null;
  const raw = d.values[k]; // a slice's values start at its first row (its offset is the bitmap's)
  return typeof raw === 'bigint' ? raw : BigInt(raw);
}

// Whether a column holds numbers (charts, right alignment).
export function numeric(type) {
  return is(type, T.Int) || is(type, T.Float) || is(type, T.Decimal);
}

export function temporal(type) {
  return is(type, T.Date) || is(type, T.Timestamp);
}

// A size in bytes as people read it: 10.3 KB, 1.2 GB.
export function bytes(n) {
  if (n === null || n === undefined) return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  for (; n >= 1024 && i < u.length - 1; i++) n /= 1024;
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

// A column's type as SQL names it (the engine's names), not Arrow's.
export function typeName(type) {
  if (is(type, T.Int)) return (type.isSigned ? '' : 'U') + { 8: 'TINYINT', 16: 'SMALLINT', 32: 'INTEGER', 64: 'BIGINT' }[type.bitWidth];
  if (is(type, T.Float)) return type.precision === 2 ? 'DOUBLE' : type.precision === 1 ? 'FLOAT' : 'HALF';
  if (is(type, T.Decimal)) return `DECIMAL(${type.precision},${type.scale})`;
  if (is(type, T.Date)) return 'DATE';
  if (is(type, T.Timestamp)) return type.timezone ? 'TIMESTAMP WITH TIME ZONE' : 'TIMESTAMP';
  if (is(type, T.Time)) return 'TIME';
  if (is(type, T.Bool)) return 'BOOLEAN';
  if (is(type, T.Utf8, T.LargeUtf8, T.Utf8View)) return 'VARCHAR';
  if (is(type, T.Binary, T.LargeBinary, T.BinaryView)) return 'BLOB';
  if (is(type, T.List, T.LargeList)) return typeName(type.children[0].type) + '[]';
  if (is(type, T.FixedSizeList)) return typeName(type.children[0].type) + `[${type.listSize}]`;
  if (is(type, T.Struct)) return 'STRUCT(' + type.children.map((c) => c.name + ' ' + typeName(c.type)).join(', ') + ')';
  if (is(type, T.Map)) return 'MAP';
  return type.typeId === T.Null ? 'NULL' : String(type);
}
