"""Tables written by Apache Spark + delta-spark 3.2.1 (tests/fixtures/spark, made by
tests/fixtures/make_spark_tables.py): deletion vectors from DELETE and UPDATE, column
mapping after rename/drop/add, a partitioned table with a Spark checkpoint, and every
type. Each fixture carries the rows Spark itself read back."""
import json
import shutil
from pathlib import Path

import pytest

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "spark"


def load(lake, name):
    shutil.copytree(FIX / name, lake.table(name), ignore=shutil.ignore_patterns("expected.json"))
    return json.loads((FIX / name / "expected.json").read_text())


def as_rows(lake, sql):
    return json.loads(lake.sql(sql, "-f", "json").stdout)


@pytest.mark.parametrize("count_sql", ["SELECT count(*) FROM dv", "SELECT count(*) FROM dv WHERE true"])
def test_deletion_vectors_from_delete_and_update(lake, count_sql):
    want = load(lake, "dv")
    got = as_rows(lake, "SELECT id, s FROM dv ORDER BY id")
    assert got == sorted(({"id": r["id"], "s": r["s"]} for r in want), key=lambda r: r["id"])
    assert len(got) == 171 and all(r["id"] % 7 for r in got)
    assert lake.scalar(count_sql) == "171"


def test_column_mapping_after_rename_drop_add(lake):
    want = load(lake, "colmap")
    got = as_rows(lake, "SELECT * FROM colmap ORDER BY id")
    assert [list(r) for r in got] == [["id", "label", "extra"]] * 3
    assert got == [{"id": r["id"], "label": r.get("label"), "extra": r.get("extra")}
                   for r in sorted(want, key=lambda r: r["id"])]


def test_partitioned_with_spark_checkpoint(lake):
    want = load(lake, "partckpt")
    assert (lake.table("partckpt") / "_delta_log" / "00000000000000000010.checkpoint.parquet").exists()
    got = as_rows(lake, "SELECT id, p, CAST(d AS VARCHAR) AS d FROM partckpt ORDER BY id")
    assert got == [{"id": r["id"], "p": r.get("p"), "d": r["d"]} for r in sorted(want, key=lambda r: r["id"])]
    assert lake.scalar("SELECT count(*) FROM partckpt WHERE p IS NULL") == "3"
    assert as_rows(lake, 'SELECT count(*) AS n FROM "partckpt@v5"') == [{"n": 5}]


def test_every_type(lake):
    want = load(lake, "types")[0]
    got = as_rows(lake, """SELECT b, sh, i, l, f, dbl, dec, s, bo, CAST(dt AS VARCHAR) AS dt,
                          strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%g') AS ts,
                          strftime(ntz, '%Y-%m-%dT%H:%M:%S.%g') AS ntz, st.x AS sx, st.y AS sy,
                          arr, m['k'] AS mk, CAST(bin AS VARCHAR) AS bin FROM types""")[0]
    assert (got["b"], got["sh"], got["i"], got["l"]) == (want["b"], want["sh"], want["i"], want["l"])
    assert (got["f"], got["dbl"], got["dec"]) == (want["f"], want["dbl"], want["dec"])
    assert (got["s"], got["bo"], got["dt"]) == (want["s"], want["bo"], want["dt"])
    assert got["ts"] == want["ts"][:23] and got["ntz"] == want["ntz"][:23]
    assert (got["sx"], got["sy"], got["mk"]) == (want["st"]["x"], want["st"]["y"], want["m"]["k"])
    assert got["arr"] == [1, 2, 3] and got["bin"] == "bytes"
    desc = {r["column"]: r["type"] for r in json.loads(lake.run("describe", "types", "-f", "json").stdout)}
    assert desc["ts"] == "timestamp" and desc["ntz"] == "timestamp_ntz" and desc["dec"] == "decimal(10,2)"
