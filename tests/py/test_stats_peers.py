"""Readers skip files by the statistics loch writes (core/stats.h), so a wrong or
half-written bound loses rows in a peer while loch, which scans, still sees them. Each
table below puts the doubtful values in files of their own (one INSERT, one file) next to
ordinary files, and every filter must count the same in loch, in delta-rs (its dataset
filter and its DNF filters, which prune by the log's bounds), in DuckDB over the same
Parquet files, and in Spark + delta-spark (data skipping by the log's bounds):
  - a string with a NUL (a C string would end there: max 'a' for 'a\\0b');
  - dates before year 1 and after 9999 (DuckDB writes '0044-03-15 (BC)', '12345-01-01');
  - doubles and floats with +/-inf (not a JSON number, so no bound at all);
  - strings over 32 bytes (a max that is a prefix plus U+10FFFF, never a min alone).
A column with values but no bounds leaves its file with none: delta-rs reads a missing
bound as null and skips the file."""
import datetime

import duckdb
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

NUL_AB = "'a' || chr(0) || 'b'"
Z40 = "repeat('z', 40)"

# name, columns, one INSERT per file, filters as (SQL predicate, column, op, value for delta-rs)
TABLES = [
    ("nul", "s VARCHAR", [f"({NUL_AB})", "('a'), ('b'), ('c'), ('d')", f"({NUL_AB} || 'x'), ('a')",
                          "(chr(0)), ('a' || chr(0))"],
     [("s > 'a'", "s", ">", "a"), (f"s = {NUL_AB}", "s", "=", "a\0b"), ("s < 'a'", "s", "<", "a"),
      ("s >= 'b'", "s", ">=", "b")]),
    ("dates", "dt DATE", ["(DATE '0044-03-15 (BC)')", "(DATE '12345-01-01')", "(DATE '2020-06-01'), (NULL)",
                          "(DATE '0044-03-15 (BC)'), (DATE '12345-01-01')"],
     [("dt < DATE '2000-01-01'", "dt", "<", datetime.date(2000, 1, 1)),
      ("dt > DATE '2025-01-01'", "dt", ">", datetime.date(2025, 1, 1))]),
    ("infs", "d DOUBLE, f REAL", ["(1.0, 1.0), ('inf', 'inf')", "('-inf', '-inf'), (2.0, 2.0)",
                                  "(0.5, 0.5), (1.0, 1.0)"],
     [("d > 1.5", "d", ">", 1.5), ("d < 0", "d", "<", 0.0), ("f > 1.5", "f", ">", 1.5), ("f < 0", "f", "<", 0.0)]),
    ("long", "s VARCHAR", [f"({Z40})", "('a'), ('b')", f"({Z40} || 'é'), ('y')",
                           "(repeat('é', 20)), (repeat('é', 15) || 'x')"],
     [(f"s >= {Z40}", "s", ">=", "z" * 40), ("s > 'z'", "s", ">", "z"), ("s < 'b'", "s", "<", "b"),
      (f"s > {Z40}", "s", ">", "z" * 40), ("s > repeat('é', 16)", "s", ">", "é" * 16)]),
    # timestamps get millisecond bounds (min rounded down, max up: a max of .000001 must
    # not read as .000); booleans get none, so a file with one holds no bounds at all
    ("times", "t TIMESTAMP, z TIMESTAMPTZ, n BIGINT",
     ["(TIMESTAMP '2020-01-01 00:00:00', TIMESTAMPTZ '2020-01-01 00:00:00+00', 1)",
      "(TIMESTAMP '2021-01-01 00:00:00.000001', TIMESTAMPTZ '2021-01-01 05:00:00.0005+02', 2)",
      "(TIMESTAMP '1969-12-31 23:59:59.9995', TIMESTAMPTZ '1969-12-31 23:59:59.9995+00', 3)"],
     [("t > TIMESTAMP '2020-06-01'", "t", ">", datetime.datetime(2020, 6, 1)),
      ("t > TIMESTAMP '2021-01-01 00:00:00'", "t", ">", datetime.datetime(2021, 1, 1)),
      ("t < TIMESTAMP '1970-01-01'", "t", "<", datetime.datetime(1970, 1, 1)),
      ("z > TIMESTAMP '2021-01-01 03:00:00'", "z", ">",
       datetime.datetime(2021, 1, 1, 3, tzinfo=datetime.timezone.utc)),
      ("n > 1", "n", ">", 1)]),
    ("booleans", "b BOOLEAN, n BIGINT", ["(false, 1)", "(true, 2)"],
     [("b = true", "b", "=", True), ("n > 1", "n", ">", 1)]),
]



def make(lake, name, columns, inserts):
    lake.sql(f"CREATE TABLE {name} ({columns})")
    for values in inserts:
        lake.sql(f"INSERT INTO {name} VALUES {values}")
    return DeltaTable(str(lake.table(name)))


@pytest.mark.parametrize("name,columns,inserts,filters", TABLES, ids=[t[0] for t in TABLES])
def test_peers_count_as_loch_does(lake, spark, name, columns, inserts, filters):
    dt = make(lake, name, columns, inserts)
    assert len(dt.file_uris()) == len(inserts)
    files = ", ".join(f"'{f}'" for f in dt.file_uris())
    sdf = spark.read.format("delta").load(str(lake.table(name)))
    sdf.createOrReplaceTempView(name)
    for pred, col, op, value in filters:
        want = int(lake.scalar(f"SELECT count(*) FROM {name} WHERE {pred}"))
        expr = {">": ds.field(col) > value, "<": ds.field(col) < value, ">=": ds.field(col) >= value,
                "=": ds.field(col) == value}[op]
        got = {
            "delta-rs dataset": dt.to_pyarrow_dataset().to_table(filter=expr).num_rows,
            "delta-rs filters": dt.to_pyarrow_table(filters=[(col, op, value)]).num_rows,
            "duckdb": duckdb.sql(f"SELECT count(*) FROM read_parquet([{files}]) WHERE {pred}").fetchone()[0],
            "spark": spark.sql(f"SELECT count(*) FROM {name} WHERE {pred}").first()[0],
        }
        assert got == {k: want for k in got}, (pred, want, got)
