"""Writes the seed corpus of fuzz/fuzz_parquet.c: Parquet files from pyarrow (snappy and
uncompressed, dictionary and plain, v1 and v2 pages, small pages and row groups, nulls)
and DuckDB (what loch writes), damaged copies of each, and raw Snappy blocks.

    .venv/bin/python tests/fuzz/make_parquet_seeds.py
"""
import io
import random
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

out = Path(__file__).parent / "corpus" / "parquet"
out.mkdir(parents=True, exist_ok=True)
rnd = random.Random(3)
n = 300
t = pa.table({"id": pa.array(range(n), pa.int64()),
              "i32": pa.array([None if i % 5 == 0 else i * 7 for i in range(n)], pa.int32()),
              "s": pa.array([None if i % 7 == 0 else f"s{i % 9}" for i in range(n)], pa.string()),
              "b": pa.array([None if i % 11 == 0 else i % 2 == 0 for i in range(n)], pa.bool_()),
              "d": pa.array([i / 3 for i in range(n)], pa.float64()),
              "f": pa.array([i / 7 for i in range(n)], pa.float32()),
              "dt": pa.array(range(n), pa.date32()),
              "ts": pa.array([i * 1000003 for i in range(n)], pa.timestamp("us", tz="UTC")),
              "dec": pa.array([None] * n, pa.decimal128(10, 2)),
              "nested": pa.array([{"x": i} for i in range(n)])})
variants = [dict(compression="snappy"), dict(compression="none", use_dictionary=False),
            dict(compression="snappy", data_page_version="2.0", data_page_size=512, row_group_size=100),
            dict(compression="none", data_page_version="2.0", use_dictionary=["s"])]
files = []
for k, v in enumerate(variants):
    b = io.BytesIO()
    pq.write_table(t, b, **v)
    files.append((f"pyarrow{k}", b.getvalue()))
path = out / "duckdb.parquet"
duckdb.sql(f"COPY (SELECT i AS id, 'v' || (i % 13) AS s, i * 1.5 AS d, (i % 3 = 0) AS b FROM range(5000) t(i)) "
           f"TO '{path}' (FORMAT parquet)")
files.append(("duckdb", path.read_bytes()))
for name, data in files:
    (out / f"{name}.parquet").write_bytes(data)
    (out / f"{name}.cut").write_bytes(data[:len(data) // 2] + data[-8:])
    bad = bytearray(data)
    for _ in range(8):
        bad[rnd.randrange(4, len(bad) - 8)] ^= 0xFF
    (out / f"{name}.flipped").write_bytes(bytes(bad))
raw = b"".join(i.to_bytes(8, "little") for i in range(20000)) + b"abcabcabc" * 1000
(out / "snappy.raw").write_bytes(pa.compress(raw, codec="snappy", asbytes=True))
(out / "snappy.cut").write_bytes(pa.compress(raw, codec="snappy", asbytes=True)[:5000])
