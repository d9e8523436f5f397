// A value of an Arrow column as text, the way loch's CLI prints it: integers of any size
// exactly (64-bit ones are BigInt), decimals at their scale, times in ISO 8601 (UTC),
// lists and structs as JSON. NULL is the empty string; the grid marks it.

// Arrow's type ids (Schema.fbs), so that this file does not load Arrow JS itself: the
// page loads it only when a result arrives.
const T = { Null: 1, Int: 2, Float: 3, Binary: 4, Utf8: 5, Bool: 6, Decimal: 7, Date: 8, Time: 9, Timestamp: 10,
  List: 12, Struct: 13, Map: 17, LargeBinary: 19, LargeUtf8: 20, LargeList: 21, BinaryView: 23, Utf8View: 24 };
const UNIT = { SECOND: 0, MILLISECOND: 1, MICROSECOND: 2, NANOSECOND: 3 };
const is = (type, ...ids) => !!type && ids.includes(type.typeId);

function json(v) {
  return JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x));
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

function iso(ms, withTime) {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  const s = d.toISOString();
  return withTime ? s.replace('T', ' ').replace(/\.000Z$/, '').replace(/Z$/, '') : s.slice(0, 10);
}

export function format(v, type) {
  if (v === null || v === undefined) return '';
  if (is(type, T.Decimal)) return typeof v === 'object' ? decimal(v, type.scale) : String(v);
  if (is(type, T.Timestamp)) {
    if (v instanceof Date) return iso(v.getTime(), true);
    // older Arrow JS gives milliseconds; a BigInt is in the column's own unit
    if (typeof v === 'bigint') {
      const per = { [UNIT.SECOND]: 1000n, [UNIT.MILLISECOND]: 1n }[type.unit];
      const ms = per ? v * per : v / (type.unit === UNIT.MICROSECOND ? 1000n : 1000000n);
      return iso(Number(ms), true);
    }
    return iso(v, true);
  }
  if (is(type, T.Date)) return iso(v instanceof Date ? v.getTime() : Number(v), false);
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Array.from(v, (b) => b.toString(16).padStart(2, '0')).join('');
  if (typeof v.toJSON === 'function') return json(v.toJSON());
  if (typeof v.toArray === 'function') return json(Array.from(v.toArray()));
  return json(v);
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
  if (is(type, T.Struct)) return 'STRUCT(' + type.children.map((c) => c.name + ' ' + typeName(c.type)).join(', ') + ')';
  if (is(type, T.Map)) return 'MAP';
  return type.typeId === T.Null ? 'NULL' : String(type);
}
