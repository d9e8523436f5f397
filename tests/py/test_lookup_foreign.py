"""Point lookups (ops/lookup.c) on tables other writers made or changed: files written
again under their name, deletion vectors replaced by ones alike, files cut short under a
session, keys that are not unique, columns stored in another case or nested, zstd files.
Each answer is the engine's (LOCH_NO_METADATA_ANSWERS turns the index off), and nothing
crashes. A session is one `loch sql` process stopped at `key-lookup` after its first
lookup (the index built), changed under, then released for its next statement."""
import glob
import json
import os
import struct
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import Held

ENGINE = {"LOCH_NO_METADATA_ANSWERS": "1"}


def engine(lake, q):
    return lake.sql(q, "-f", "json", env=ENGINE).stdout


def commit(table_dir, actions):
    logs = sorted(glob.glob(f"{table_dir}/_delta_log/*.json"))
    version = int(os.path.basename(logs[-1])[:20]) + 1 if logs else 0
    now = int(time.time() * 1000)
    with open(f"{table_dir}/_delta_log/{version:020d}.json", "x") as f:
        f.write(json.dumps({"commitInfo": {"timestamp": now, "operation": "WRITE"}}) + "\n")
        for a in actions:
            f.write(json.dumps(a) + "\n")


def handmade(lake, name, files, pk="id", fields=None):
    """A Delta table of pyarrow-written files with loch.primaryKey in its metadata."""
    d = lake.path / name
    os.makedirs(d / "_delta_log")
    fields = fields or [{"name": "id", "type": "long", "nullable": True, "metadata": {}},
                        {"name": "v", "type": "string", "nullable": True, "metadata": {}}]
    acts = [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
            {"metaData": {"id": str(uuid.uuid4()), "format": {"provider": "parquet", "options": {}},
                          "schemaString": json.dumps({"type": "struct", "fields": fields}), "partitionColumns": [],
                          "configuration": {"loch.primaryKey": pk}, "createdTime": int(time.time() * 1000)}}]
    for i, (t, opts) in enumerate(files):
        path = f"part-{i:05d}-{uuid.uuid4()}.parquet"
        pq.write_table(t, d / path, **opts)
        acts.append({"add": {"path": path, "partitionValues": {}, "size": os.path.getsize(d / path),
                             "modificationTime": int(time.time() * 1000), "dataChange": True}})
    commit(d, acts)
    return d


def session(lake, tmp_path, script, change):
    """Runs script in one process; change() runs while it is stopped after its first lookup."""
    h = Held(lake, tmp_path / f"held-{uuid.uuid4().hex[:8]}", "key-lookup", "sql", script, "-f", "json")
    change()
    return h.release()


def test_a_file_written_again_under_its_name(lake, tmp_path):
    d = lake.path / "t"
    os.makedirs(d / "_delta_log")
    fields = [{"name": "id", "type": "long", "nullable": True, "metadata": {}},
              {"name": "v", "type": "string", "nullable": True, "metadata": {}}]

    def write(rows, first):
        pq.write_table(pa.table({"id": pa.array([r[0] for r in rows], pa.int64()), "v": [r[1] for r in rows]}),
                       d / ".tmp.parquet")
        os.rename(d / ".tmp.parquet", d / "part-0.parquet")
        now = int(time.time() * 1000) + (0 if first else 1)
        acts = [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
                {"metaData": {"id": "0b7e1d8e-0000-4000-8000-000000000001",
                              "format": {"provider": "parquet", "options": {}},
                              "schemaString": json.dumps({"type": "struct", "fields": fields}),
                              "partitionColumns": [], "configuration": {"loch.primaryKey": "id"},
                              "createdTime": now}}] if first else \
            [{"remove": {"path": "part-0.parquet", "deletionTimestamp": now, "dataChange": True}}]
        acts.append({"add": {"path": "part-0.parquet", "partitionValues": {}, "dataChange": True,
                             "size": os.path.getsize(d / "part-0.parquet"), "modificationTime": now}})
        commit(d, acts)

    write([(1, "old"), (2, "old2")], True)
    rc, out, err = session(lake, tmp_path, "SELECT * FROM t WHERE id = 1; SELECT * FROM t WHERE id = 3",
                           lambda: write([(1, "NEW"), (3, "new3 and longer")], False))
    assert rc == 0, err
    assert "new3 and longer" in out and out == engine(lake, "SELECT * FROM t WHERE id = 3")


Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def inline_dv(rows):
    """An inline deletion vector: a portable Roaring bitmap of one array container, Z85."""
    vals = sorted(rows)
    r32 = struct.pack("<II", 12346, 1) + struct.pack("<HH", 0, len(vals) - 1) + struct.pack("<I", 16)
    raw = struct.pack("<IQ", 1681511377, 1) + struct.pack("<I", 0) + r32 + b"".join(struct.pack("<H", v) for v in vals)
    size = len(raw)
    raw += b"\0" * (-len(raw) % 4)
    text = ""
    for i in range(0, len(raw), 4):
        v, digits = int.from_bytes(raw[i:i + 4], "big"), ""
        for _ in range(5):
            digits = Z85[v % 85] + digits
            v //= 85
        text += digits
    return {"storageType": "i", "pathOrInlineDv": text, "sizeInBytes": size, "cardinality": len(vals)}


def test_a_deletion_vector_replaced_by_one_alike(lake, tmp_path):
    """Two inline DVs of one file, of equal size, that differ only near their end (their
    text is over a thousand characters): the second must replace the first."""
    lake.sql("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
    lake.sql("INSERT INTO t SELECT i, 'v' || i FROM range(2000) r(i)")
    lake.sql("FLUSH t")
    d = lake.path / "t"
    last = sorted(glob.glob(f"{d}/_delta_log/*.json"))[-1]
    add = [json.loads(line)["add"] for line in open(last) if '"add"' in line][0]
    evens = set(range(0, 1000, 2))
    state = {}

    def replace(rows):
        now = int(time.time() * 1000)
        rm = {"path": add["path"], "deletionTimestamp": now, "dataChange": True, "size": add["size"]}
        if "dv" in state:
            rm["deletionVector"] = state["dv"]
        state["dv"] = inline_dv(rows)
        commit(d, [{"remove": rm}, {"add": dict(add, dataChange=True, deletionVector=state["dv"])}])

    replace(evens | {1003})
    assert len(state["dv"]["pathOrInlineDv"]) > 1000
    rc, out, err = session(lake, tmp_path, "SELECT * FROM t WHERE id = 1001; SELECT * FROM t WHERE id = 1003",
                           lambda: replace(evens | {1001}))
    assert rc == 0, err
    assert "v1003" in out and out == engine(lake, "SELECT * FROM t WHERE id = 1003")
    rc, out, err = session(lake, tmp_path, "SELECT * FROM t WHERE id = 1003; SELECT * FROM t WHERE id = 1001",
                           lambda: None)
    assert out.strip() == "[]" == engine(lake, "SELECT * FROM t WHERE id = 1001").strip()


def test_a_file_cut_short_under_a_session_is_an_error_not_a_crash(lake, tmp_path):
    lake.sql("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
    lake.sql("INSERT INTO t SELECT i, repeat('x', 200) || i FROM range(200000) r(i)")
    lake.sql("FLUSH t")
    f = glob.glob(f"{lake.path}/t/*.parquet")[0]
    rc, out, err = session(lake, tmp_path, "SELECT id FROM t WHERE id = 199999; SELECT * FROM t WHERE id = 199998",
                           lambda: os.truncate(f, 4096))
    assert rc > 0, (rc, err)  # an error, as the engine's scan gives one; never a signal
    assert lake.sql("SELECT * FROM t WHERE id = 1", check=False, env=ENGINE).returncode != 0


def test_keys_that_another_writer_did_not_keep_unique(lake):
    t = pa.table({"id": pa.array([1, 2], pa.int64()), "v": ["a", "b"]})
    u = pa.table({"id": pa.array([1, 3], pa.int64()), "v": ["a2", "c"]})
    handmade(lake, "dup", [(t, {}), (u, {})])
    ours = lake.sql("SELECT * FROM dup WHERE id = 1", "-f", "json").stdout
    assert ours == engine(lake, "SELECT * FROM dup WHERE id = 1") and ours.count('"id":1') == 2


def test_columns_stored_in_another_case_or_nested(lake):
    t = pa.table({"id": pa.array([1, 2], pa.int64()), "V": ["one", "two"]})
    handmade(lake, "cased", [(t, {})])
    assert lake.sql("SELECT * FROM cased WHERE id = 1", "-f", "json").stdout == \
        engine(lake, "SELECT * FROM cased WHERE id = 1")
    n = pa.table({"id": pa.array([1], pa.int64()), "v": pa.array([{"a": 1}])})
    handmade(lake, "nested", [(n, {})])
    assert lake.sql("SELECT * FROM nested WHERE id = 1", "-f", "json", check=False).stdout == \
        lake.sql("SELECT * FROM nested WHERE id = 1", "-f", "json", check=False, env=ENGINE).stdout


def test_a_table_with_a_file_the_reader_does_not_read(lake):
    """A zstd file among snappy ones: the engine answers every lookup (and the index is
    not built again for each, ops/lookup.c's `refused`)."""
    a = pa.table({"id": pa.array(range(0, 1000), pa.int64()), "v": [f"a{i}" for i in range(1000)]})
    b = pa.table({"id": pa.array(range(1000, 2000), pa.int64()), "v": [f"b{i}" for i in range(1000)]})
    handmade(lake, "mixed", [(a, {"compression": "snappy"}), (b, {"compression": "zstd"})])
    script = "; ".join(f"SELECT * FROM mixed WHERE id = {k}" for k in (5, 1500, 999, 1999))
    assert lake.sql(script, "-f", "json").stdout == lake.sql(script, "-f", "json", env=ENGINE).stdout
    for k in (5, 1500):
        assert lake.sql(f"SELECT v FROM mixed WHERE id = {k}", "-f", "json").stdout == \
            engine(lake, f"SELECT v FROM mixed WHERE id = {k}")


def test_text_that_is_not_utf8_gets_the_engines_error(lake):
    lake.sql("CREATE TABLE s (k VARCHAR PRIMARY KEY, v BIGINT)")
    lake.sql("INSERT INTO s VALUES ('a', 1)")
    lake.sql("FLUSH s")
    import subprocess
    from conftest import LOCH
    q = b"SELECT * FROM s WHERE k = '\xff\xfe'"
    runs = [subprocess.run([LOCH, "--lake", str(lake.path), "sql", q], capture_output=True,
                           env=dict(os.environ, **extra)) for extra in ({}, ENGINE)]
    assert runs[0].returncode == runs[1].returncode != 0
    assert runs[0].stderr == runs[1].stderr
