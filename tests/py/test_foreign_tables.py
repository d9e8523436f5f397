"""Tables as other writers leave them (tests/fixtures/foreign, made by
tests/fixtures/make_foreign_tables.py): nested column mapping by name and by field id,
binary partition values, data files holding their partition column, an old metaData
without schemaString, logs cut down to a checkpoint, in-commit timestamps. Each
fixture carries the rows an independent reader (Spark, delta-rs, or the protocol's
rule worked out in the script) returns; loch must return the same."""
import base64
import json
import os
import shutil
from pathlib import Path

import pytest

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "foreign"


def load(lake, name, file="expected.json"):
    shutil.copytree(FIX / name, lake.table(name), ignore=shutil.ignore_patterns("expected*.json"))
    return json.loads((FIX / name / file).read_text())


def as_rows(lake, sql, **kw):
    return json.loads(lake.sql(sql, "-f", "json", **kw).stdout)


def no_nulls(v):
    """Spark's toJSON leaves out null fields; so does this, at every level."""
    if isinstance(v, dict):
        return {k: no_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [no_nulls(x) for x in v]
    return v


def by_id(rows):
    return sorted((no_nulls(r) for r in rows), key=lambda r: r["id"])


NESTED_SQL = "SELECT id, part, s, arr, m FROM {t} ORDER BY id"


@pytest.mark.parametrize("name", ["cm_name", "cm_id"])
def test_column_mapping_reaches_nested_fields(lake, name):
    """Struct fields, array elements and map values renamed after the data was written
    (and a field added), a mapped partition column and a DELETE kept as a DV: every
    field at every level comes back as Spark reads it. In cm_id the files' own column
    names are not the physical names: only field ids connect them."""
    want = load(lake, name)
    got = as_rows(lake, NESTED_SQL.format(t=name))
    assert by_id(got) == by_id(want)
    assert [r["s"]["a2"] for r in got if r["id"] in (1, 4, 5, 6)] == [10, 40, 50, 60]
    assert got[0]["arr"][1] == {"x2": 2, "y": "y2"} and got[0]["m"] == {"k1": {"v2": 100}}
    assert lake.scalar(f"SELECT count(*) FROM {name}") == "5"
    assert lake.csv(f"SELECT id FROM {name} WHERE s.b.c = 'c4' AND part IS NULL") == [["4"]]
    assert lake.csv(f"SELECT id FROM {name} WHERE m['k6'].v2 = 500") == [["5"]]
    assert lake.csv(f"SELECT sum(a.x2) FROM (SELECT unnest(arr) AS a FROM {name})") == [["12"]]


def test_binary_partition_values_are_the_logs_bytes(lake):
    want = load(lake, "binpart")
    got = as_rows(lake, "SELECT id, to_base64(b) AS b FROM binpart ORDER BY id")
    assert by_id(got) == by_id(want)
    assert base64.b64decode(got[1]["b"]) == b"a\\x41"  # a backslash, not an escape
    assert base64.b64decode(got[2]["b"]) == "é✓".encode()
    assert lake.csv("SELECT id FROM binpart WHERE b = 'plain'::BLOB") == [["1"]]


def test_partition_column_inside_data_files(lake):
    want = load(lake, "partinfile")
    assert by_id(as_rows(lake, "SELECT * FROM partinfile")) == by_id(want)
    assert lake.csv("SELECT id FROM partinfile WHERE part = 'x' ORDER BY id") == [["1"], ["2"]]
    assert lake.scalar("SELECT count(*) FROM partinfile WHERE part = 'file-says-x'") == "0"


def test_old_metadata_without_schema_string(lake):
    want = load(lake, "oldmeta")
    assert by_id(as_rows(lake, "SELECT * FROM oldmeta")) == by_id(want)
    assert lake.scalar('SELECT count(*) FROM "oldmeta@v1"') == "0"
    p = lake.sql('SELECT * FROM "oldmeta@v0"', check=False)
    assert p.returncode != 0 and "version 0" in p.stderr and "schemaString" in p.stderr
    desc = json.loads(lake.run("describe", "oldmeta", "-f", "json").stdout)
    assert [r["column"] for r in desc] == ["id", "s"]


def test_log_with_only_a_checkpoint(lake):
    want = load(lake, "cponly")
    assert by_id(as_rows(lake, "SELECT * FROM cponly")) == by_id(want)
    assert by_id(as_rows(lake, 'SELECT * FROM "cponly@v4"')) == by_id(want)
    assert "cponly" in lake.run("tables").stdout
    p = lake.sql('SELECT * FROM "cponly@v2"', check=False)
    assert p.returncode != 0 and "version 2" in p.stderr
    assert "version 4" in lake.run("describe", "cponly").stdout + lake.run("describe", "cponly").stderr


def test_commits_before_a_checkpoint_gone(lake):
    want = load(lake, "cpgap")
    want_v2 = json.loads((FIX / "cpgap" / "expected_v2.json").read_text())
    assert by_id(as_rows(lake, "SELECT * FROM cpgap")) == by_id(want)
    assert by_id(as_rows(lake, 'SELECT * FROM "cpgap@v2"')) == by_id(want_v2)
    assert lake.scalar('SELECT count(*) FROM "cpgap@v3"') == "3"
    p = lake.sql('SELECT * FROM "cpgap@v1"', check=False)
    assert p.returncode != 0 and "version 1" in p.stderr


def test_time_travel_by_in_commit_timestamps(lake):
    want = load(lake, "ict")
    for name, ms in want["file_times"].items():
        os.utime(lake.table("ict") / "_delta_log" / name, ns=(ms * 1_000_000, ms * 1_000_000))
    for probe in want["probes"]:
        q = f'SELECT id FROM "ict@{probe["at"]}" ORDER BY id'
        if probe["version"] is None:
            p = lake.sql(q, check=False)
            assert p.returncode != 0 and "no version at or before" in p.stderr, probe
        else:
            assert [r["id"] for r in as_rows(lake, q)] == probe["ids"], probe
    hist = json.loads(lake.run("history", "ict", "-f", "json").stdout)
    assert {str(h["version"]): h["timestamp"] for h in hist} == want["times"]


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_timestamp_partition_values_are_utc(lake, tz):
    """Spark writes a timestamp partition value as text without an offset; it names an
    instant in UTC whatever the zone of the machine reading it."""
    from datetime import datetime
    want = load(lake, "tspart")
    got = as_rows(lake, "SELECT id, epoch_ms(ts) AS ms, CAST(d AS VARCHAR) AS d FROM tspart ORDER BY id", env={"TZ": tz})
    ms = lambda s: round(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)
    assert by_id(got) == by_id({"id": r["id"], "ms": ms(r["ts"]) if "ts" in r else None, "d": r.get("d")}
                               for r in want)


@pytest.mark.parametrize("writer, meta, what", [
    (4, {"delta.generationExpression": "id * 10"}, "generated columns"),
    (6, {"delta.identity.start": 1, "delta.identity.step": 1, "delta.identity.highWaterMark": 1}, "identity columns"),
])
def test_generated_and_identity_columns_refuse_writes(lake, tmp_path, writer, meta, what):
    """A table as Spark leaves one with a generated (writer version 4) or identity
    (writer version 6) column: legacy writer versions name no table feature, only the
    schema's field metadata says a writer must compute the column. loch reads the
    table, and refuses every write naming what it lacks."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    t = lake.table("gen")
    (t / "_delta_log").mkdir(parents=True)
    pq.write_table(pa.table({"id": pa.array([1], pa.int64()), "g": pa.array([10], pa.int64())}), t / "part-0.parquet")
    schema = {"type": "struct", "fields": [
        {"name": "id", "type": "long", "nullable": True, "metadata": {}},
        {"name": "g", "type": "long", "nullable": True, "metadata": meta}]}
    actions = [
        {"protocol": {"minReaderVersion": 1, "minWriterVersion": writer}},
        {"metaData": {"id": "gen", "format": {"provider": "parquet", "options": {}}, "schemaString": json.dumps(schema),
                      "partitionColumns": [], "configuration": {}, "createdTime": 0}},
        {"add": {"path": "part-0.parquet", "partitionValues": {}, "size": (t / "part-0.parquet").stat().st_size,
                 "modificationTime": 0, "dataChange": True, "stats": json.dumps({"numRecords": 1})}},
    ]
    (t / "_delta_log" / f"{0:020d}.json").write_text("".join(json.dumps(a) + "\n" for a in actions))
    assert as_rows(lake, "SELECT id, g FROM gen") == [{"id": 1, "g": 10}]
    (tmp_path / "more.csv").write_text("id,g\n2,20\n")
    for args in (["sql", "INSERT INTO gen VALUES (2, 20)"], ["ingest", "gen", str(tmp_path / "more.csv")],
                 ["sql", "INSERT INTO gen (id) VALUES (2)"]):
        p = lake.run(*args, check=False)
        assert p.returncode != 0 and f"writing to tables with {what} is not supported yet" in p.stderr, (args, p.stderr)
    assert sorted(p.name for p in (t / "_delta_log").glob("*.json")) == [f"{0:020d}.json"]
