"""Primary-key tables and their write-ahead log: upserts durable when acknowledged,
visible to the next query, flushed into the Delta table exactly once.

Crash tests kill a process at a named point of a write or a flush (LOCH_HOLD), never
after a sleep; the oracle is a Python dict fed the acknowledged changes.
"""
import json
import os
import random
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import LOCH, Held


def make_users(lake, name="users"):
    lake.sql(f"CREATE TABLE {name} (id BIGINT PRIMARY KEY, name VARCHAR, city VARCHAR)")


def rows(lake, q):
    return [tuple(r) for r in lake.csv(q)]


def table_rows(lake, name="users"):
    return rows(lake, f"SELECT id, name, city FROM {name} ORDER BY id")


def model_rows(model):
    return [(str(k), v[0], v[1]) for k, v in sorted(model.items())]


def status(lake):
    out = json.loads(lake.run("status", "-f", "json").stdout or "[]")
    return {r["table"]: r for r in out}


def versions(lake, name="users"):
    return sorted(p.name for p in (lake.table(name) / "_delta_log").glob("*.json"))


def segments(lake, name="users"):
    return sorted((lake.path / "_loch" / "wal" / name).glob("*.arrows"))


def test_primary_key_table_upserts_through_the_log(lake):
    make_users(lake)
    meta = json.loads((lake.table("users") / "_delta_log" / "00000000000000000000.json").read_text().splitlines()[2])
    assert meta["metaData"]["configuration"]["loch.primaryKey"] == "id"
    assert meta["metaData"]["configuration"]["delta.enableDeletionVectors"] == "true"
    p = lake.sql("INSERT INTO users VALUES (1, 'Ann', 'Oslo'), (2, 'Bo', 'Rome')")
    assert "upserted 2 rows into users (LSN 2, durable)" in p.stderr
    lake.sql("INSERT INTO users VALUES (1, 'Ann', 'Lima')")  # the same key: an upsert
    assert table_rows(lake) == [("1", "Ann", "Lima"), ("2", "Bo", "Rome")]
    assert versions(lake) == ["00000000000000000000.json"]  # nothing in _delta_log yet
    st = status(lake)["users"]
    assert (st["assigned"], st["durable"], st["visible"], st["flushed"], st["lag"]) == (3, 3, 3, 0, 3)
    p = lake.run("flush", "users")
    assert "LSNs 1 to 3" in p.stderr
    commit = [json.loads(l) for l in (lake.table("users") / "_delta_log" / "00000000000000000001.json")
              .read_text().splitlines()]
    txn = [a["txn"] for a in commit if "txn" in a]
    assert txn and txn[0]["version"] == 3 and txn[0]["appId"] == "loch.wal/" + meta["metaData"]["id"]
    assert table_rows(lake) == [("1", "Ann", "Lima"), ("2", "Bo", "Rome")]
    st = status(lake)["users"]
    assert (st["flushed"], st["lag"]) == (3, 0)
    assert len(segments(lake)) == 1  # the flushed segment is gone
    # a delete by key, after the flush: the table's row is hidden until the next flush
    lake.run("write", "users", "-", "--op", "delete", input='{"id": 2}\n')
    assert table_rows(lake) == [("1", "Ann", "Lima")]
    assert rows(lake, "SELECT count(*) FROM users") == [("1",)]
    # time travel reads Delta versions only
    assert rows(lake, 'SELECT count(*) FROM "users@v1"') == [("2",)]
    lake.run("flush", "users")
    assert table_rows(lake) == [("1", "Ann", "Lima")]
    # flushing again with nothing new makes no version
    n = len(versions(lake))
    assert "nothing to flush" in lake.run("flush", "users").stderr
    assert len(versions(lake)) == n


def test_composite_key_and_write_formats(lake, tmp_path):
    lake.sql("CREATE TABLE ev (a INT, b VARCHAR, v DOUBLE, PRIMARY KEY (a, b))")
    (tmp_path / "in.csv").write_text("a,b,v\n1,x,1.5\n1,y,2.5\n2,x,3.5\n")
    lake.run("write", "ev", str(tmp_path / "in.csv"))
    (tmp_path / "up.ndjson").write_text('{"a": 1, "b": "y", "v": 9}\n')
    lake.run("write", "ev", str(tmp_path / "up.ndjson"), "--op", "upsert")
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"a": [2], "b": ["x"]}), tmp_path / "del.parquet")
    lake.run("write", "ev", str(tmp_path / "del.parquet"), "--op", "delete")
    with pa.OSFile(str(tmp_path / "more.arrow"), "wb") as f:
        t = pa.table({"a": pa.array([3], pa.int32()), "b": ["z"], "v": [4.0]})
        with pa.ipc.new_file(f, t.schema) as w:
            w.write_table(t)
    lake.run("write", "ev", str(tmp_path / "more.arrow"))
    want = [("1", "x", "1.5"), ("1", "y", "9.0"), ("3", "z", "4.0")]
    assert rows(lake, "SELECT a, b, v FROM ev ORDER BY a, b") == want
    lake.run("flush", "ev")
    assert rows(lake, "SELECT a, b, v FROM ev ORDER BY a, b") == want


def test_segments_are_arrow_streams_pyarrow_reads(lake):
    import pyarrow as pa
    make_users(lake)
    lake.sql("INSERT INTO users VALUES (1, 'Ann', 'Oslo')")
    lake.run("write", "users", "-", input='{"id": 2, "name": "Bo"}\n{"id": 3, "name": "Cy"}\n')
    lake.run("write", "users", "-", "--op", "delete", input='{"id": 1}\n')
    (seg,) = segments(lake)
    r = pa.ipc.open_stream(seg.read_bytes())
    md = r.schema.metadata
    assert md[b"loch.wal.table"] == b"users" and md[b"loch.wal.first_lsn"] == b"1"
    assert r.schema.names == ["id", "name", "city", "__lsn", "__change_type", "__timestamp"]
    got = []
    while True:
        try:
            batch, meta = r.read_next_batch_with_custom_metadata()
        except StopIteration:
            break
        assert len(meta[b"loch.wal.crc"]) == 8
        got += batch.to_pylist()
    assert [(g["id"], g["__lsn"], g["__change_type"]) for g in got] == [
        (1, 1, "upsert"), (2, 2, "upsert"), (3, 3, "upsert"), (1, 4, "delete")]


def test_reads_equal_a_reference_model_through_writes_and_flushes(lake):
    make_users(lake)
    rnd = random.Random(7)
    model = {}
    cities = ["Oslo", "Lima", "Rome", None]
    for step in range(30):
        what = rnd.random()
        if what < 0.15:
            lake.run("flush", "users")
        elif what < 0.25 and model:
            keys = rnd.sample(sorted(model), min(len(model), 2))
            if rnd.random() < 0.5:
                lake.sql(f"DELETE FROM users WHERE id IN ({', '.join(map(str, keys))})")
                for k in keys:
                    del model[k]
            else:
                lake.sql(f"UPDATE users SET city = 'U{step}' WHERE id IN ({', '.join(map(str, keys))})")
                for k in keys:
                    model[k] = (model[k][0], f"U{step}")
        elif what < 0.35 and model:
            keys = rnd.sample(sorted(model), min(len(model), rnd.randint(1, 3)))
            lake.run("write", "users", "-", "--op", "delete",
                     input="".join(json.dumps({"id": k}) + "\n" for k in keys + [10_000 + step]))
            for k in keys:
                del model[k]
        else:
            batch = {rnd.randint(1, 25): (f"n{step}", rnd.choice(cities)) for _ in range(rnd.randint(1, 4))}
            values = ", ".join(f"({k}, '{v[0]}', {repr(v[1]) if v[1] else 'NULL'})" for k, v in batch.items())
            lake.sql(f"INSERT INTO users VALUES {values}")
            model.update(batch)
        want = [(k, n, c if c else "") for k, n, c in model_rows(model)]
        assert table_rows(lake) == want, f"step {step}"
    lake.run("flush", "users")
    want = [(k, n, c if c else "") for k, n, c in model_rows(model)]
    assert table_rows(lake) == want


def test_racing_writer_processes_share_one_dense_log(lake):
    make_users(lake)
    procs = []
    e = dict(os.environ, LOCH_LAKE=str(lake.path))
    for w in range(4):
        values = ", ".join(f"({w * 100 + i}, 'w{w}', NULL)" for i in range(5))
        script = "".join(f"INSERT INTO users VALUES ({w * 100 + i}, 'w{w}', NULL);\n" for i in range(5))
        procs.append(subprocess.Popen([LOCH, "sql"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=e))
        procs[-1].stdin.write(script)
        procs[-1].stdin.close()
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    st = status(lake)["users"]
    assert st["assigned"] == st["durable"] == 20
    import pyarrow as pa
    lsns = []
    for seg in segments(lake):
        lsns += pa.ipc.open_stream(seg.read_bytes()).read_all().column("__lsn").to_pylist()
    assert sorted(lsns) == list(range(1, 21))
    assert rows(lake, "SELECT count(*) FROM users") == [("20",)]


@pytest.mark.parametrize("point", ["wal-append", "wal-sync"])
def test_a_writer_killed_mid_write_leaves_a_whole_log(lake, tmp_path, point):
    make_users(lake)
    lake.sql("INSERT INTO users VALUES (1, 'Ann', 'Oslo')")
    h = Held(lake, tmp_path / "hold", point, "sql", "INSERT INTO users VALUES (2, 'Bo', NULL), (3, 'Cy', NULL)")
    h.kill()
    # unacknowledged: absent, or (its frame was written before the kill) whole
    got = table_rows(lake)
    assert got in ([("1", "Ann", "Oslo")], [("1", "Ann", "Oslo"), ("2", "Bo", ""), ("3", "Cy", "")])
    lake.sql("INSERT INTO users VALUES (4, 'Di', NULL)")
    assert ("4", "Di", "") in table_rows(lake)
    lake.run("flush", "users")
    assert table_rows(lake)[0] == ("1", "Ann", "Oslo") and table_rows(lake)[-1] == ("4", "Di", "")


@pytest.mark.parametrize("point", ["flush-rotate", "dml-commit", "flush-truncate"])
def test_a_flush_killed_anywhere_applies_each_change_once(lake, tmp_path, point):
    make_users(lake)
    model = {}
    for k in range(1, 6):
        lake.sql(f"INSERT INTO users VALUES ({k}, 'v1', NULL)")
        model[k] = ("v1", None)
    lake.run("flush", "users")
    lake.sql("INSERT INTO users VALUES (2, 'v2', NULL), (6, 'v2', NULL)")
    lake.run("write", "users", "-", "--op", "delete", input='{"id": 3}\n')
    model[2] = ("v2", None)
    model[6] = ("v2", None)
    del model[3]
    h = Held(lake, tmp_path / "hold", point, "flush", "users")
    h.kill()
    want = [(k, n, "") for k, n, c in model_rows(model)]
    assert table_rows(lake) == want
    lake.sql("INSERT INTO users VALUES (7, 'v3', NULL)")
    want.append(("7", "v3", ""))
    assert table_rows(lake) == want
    lake.run("flush", "users")
    assert table_rows(lake) == want
    st = status(lake)["users"]
    assert st["flushed"] == st["assigned"] and st["lag"] == 0
    assert len(segments(lake)) == 1
    # the txn versions in the log never go back, and each flush's LSNs are new
    txns = []
    for f in versions(lake):
        for line in (lake.table("users") / "_delta_log" / f).read_text().splitlines():
            if '"txn"' in line:
                txns.append(json.loads(line)["txn"]["version"])
    assert txns == sorted(set(txns))


def test_flush_and_insert_do_not_load_the_tail_they_do_not_read(lake, tmp_path):
    """Loading a tail finds where its keys are in the table (a scan of the table): a
    FLUSH, an INSERT into the table and DDL never need it; a query does."""
    make_users(lake)
    lake.sql("INSERT INTO users VALUES (1, 'Ann', NULL), (2, 'Bo', NULL)")
    hold = tmp_path / "hold"
    env = dict(os.environ, LOCH_LAKE=str(lake.path), LOCH_HOLD=f"tail-load:{hold}")
    hold.mkdir()
    for args in (["sql", "INSERT INTO users VALUES (3, 'Cy', NULL)"], ["write", "users", "-"],
                 ["sql", "FLUSH users"], ["sql", "INSERT INTO users VALUES (4, 'Di', NULL)"], ["flush", "users"],
                 ["sql", "INSERT INTO users VALUES (5, 'Ed', NULL)"],
                 ["sql", "ALTER TABLE users SET TBLPROPERTIES ('loch.wal.flushRows' = '1000')"]):
        p = subprocess.run([LOCH, *args], env=env, input='{"id": 9, "name": "Zed"}\n', capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, (args, p.stderr)
        assert not list(hold.glob("*.reached")), args
    # the point is real: a query reaches it (and INSERT ... SELECT from the table itself)
    lake.sql("INSERT INTO users VALUES (6, 'Fa', NULL)")
    for q in ("SELECT count(*) FROM users", "INSERT INTO users SELECT id + 100, name, city FROM users"):
        h = Held(lake, tmp_path / f"hold{len(q)}", "tail-load", "sql", q)
        assert h.release()[0] == 0
    assert rows(lake, "SELECT count(*) FROM users") == [("14",)]


def test_recovery_cuts_a_damaged_tail_after_a_restart(lake):
    make_users(lake)
    lake.sql("INSERT INTO users VALUES (1, 'Ann', NULL), (2, 'Bo', NULL)")
    (seg,) = segments(lake)
    whole = seg.stat().st_size
    with open(seg, "ab") as f:
        f.write(b"\xff\xff\xff\xff\x40\x00\x00\x00" + os.urandom(200))
    # the machine restarted: the shared state is from another boot
    state = lake.path / "_loch" / "wal" / "users" / "state"
    b = bytearray(state.read_bytes())
    b[8] ^= 0xFF
    state.write_bytes(bytes(b))
    assert table_rows(lake) == [("1", "Ann", ""), ("2", "Bo", "")]
    lake.sql("INSERT INTO users VALUES (3, 'Cy', NULL)")
    assert seg.stat().st_size > whole
    assert table_rows(lake) == [("1", "Ann", ""), ("2", "Bo", ""), ("3", "Cy", "")]
    assert status(lake)["users"]["assigned"] == 3


def test_ddl_and_dml_flush_first_and_drop_removes_the_log(lake):
    make_users(lake)
    lake.sql("INSERT INTO users VALUES (1, 'Ann', NULL), (2, 'Bo', NULL)")
    # UPDATE and DELETE go through the log too: no Delta commit
    assert "updated 1 rows in users (LSN 3, durable)" in lake.sql("UPDATE users SET city = 'Oslo' WHERE id = 2").stderr
    st = status(lake)["users"]
    assert st["flushed"] == 0 and st["assigned"] == 3
    assert table_rows(lake) == [("1", "Ann", ""), ("2", "Bo", "Oslo")]
    # a key moved and back: two writes of a delete and an upsert each
    lake.sql("UPDATE users SET id = 5 WHERE id = 1")
    assert table_rows(lake) == [("2", "Bo", "Oslo"), ("5", "Ann", "")]
    lake.sql("UPDATE users SET id = 1 WHERE id = 5")
    assert status(lake)["users"]["assigned"] == 7 and status(lake)["users"]["flushed"] == 0
    lake.sql("MERGE INTO users USING (SELECT 1 AS id) s ON users.id = s.id WHEN MATCHED THEN UPDATE SET name = 'A'")
    assert status(lake)["users"]["flushed"] == 7  # MERGE flushed first
    lake.sql("INSERT INTO users VALUES (3, 'Cy', NULL)")
    lake.sql("ALTER TABLE users SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
    assert status(lake)["users"]["flushed"] == 8
    lake.sql("INSERT INTO users VALUES (4, 'Di', NULL)")
    lake.sql("DROP TABLE users")
    assert not (lake.path / "_loch" / "wal" / "users").exists()
    make_users(lake)
    assert table_rows(lake) == []
    lake.sql("INSERT INTO users VALUES (9, 'New', NULL)")
    assert table_rows(lake) == [("9", "New", "")]


def test_what_cannot_read_or_write_the_log_says_so(lake, tmp_path):
    make_users(lake)
    lake.sql("INSERT INTO users VALUES (1, 'Ann', NULL)")
    lake.sql("CREATE TABLE plain (a INT)")
    p = lake.run("write", "plain", "-", input='{"a": 1}\n', check=False)
    assert p.returncode == 1 and "has no write-ahead log" in p.stderr and "loch.wal.enabled" in p.stderr
    p = lake.run("write", "users", "-", input='{"id": null, "name": "x"}\n', check=False)
    assert p.returncode == 1 and "NOT NULL" in p.stderr and "users.id" in p.stderr and "row 1" in p.stderr
    p = lake.run("write", "users", "-", input='{"id": 5, "nope": 1}\n', check=False)
    assert p.returncode == 1 and "nope" in p.stderr
    p = lake.run("write", "users", "-", "--op", "merge", input="", check=False)
    assert p.returncode == 2 and "--op is upsert, insert or delete" in p.stderr
    p = lake.sql("CREATE TABLE bad (\"a,b\" INT PRIMARY KEY)", check=False)
    assert p.returncode == 1 and "comma" in p.stderr
    p = lake.sql("CREATE TABLE bad2 (a INT, b INT UNIQUE)", check=False)
    assert p.returncode == 1 and "UNIQUE" in p.stderr
    p = lake.run("flush", "plain", check=False)
    assert p.returncode == 1 and "no primary key" in p.stderr
    # a view is bound inside the engine, where the tail cannot be loaded: said, not hidden
    p = lake.sql("CREATE VIEW v AS SELECT * FROM users; SELECT * FROM v", check=False)
    assert p.returncode == 1 and "FLUSH users" in p.stderr
    # nothing unflushed: the view reads the table
    lake.run("flush", "users")
    assert "Ann" in lake.sql("CREATE VIEW v AS SELECT * FROM users; SELECT * FROM v").stdout


def test_change_feed_of_a_flush(lake):
    make_users(lake)
    lake.sql("ALTER TABLE users SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
    lake.sql("INSERT INTO users VALUES (1, 'Ann', NULL), (2, 'Bo', NULL)")
    lake.run("flush", "users")
    lake.sql("INSERT INTO users VALUES (1, 'Ann', 'Oslo')")
    lake.run("write", "users", "-", "--op", "delete", input='{"id": 2}\n')
    lake.run("flush", "users")
    got = rows(lake, "SELECT id, city, _change_type FROM table_changes('users', 3) ORDER BY id, _change_type")
    assert got == [("1", "Oslo", "update_postimage"), ("1", "", "update_preimage"), ("2", "", "delete")]


def test_change_feed_of_a_flush_has_every_change_in_order(lake):
    """Each change in the log, against the key's state before it (the table's row, then
    the change before): a key written twice between flushes is an insert and an update,
    a key inserted and deleted is an insert and a delete, a delete of nothing is nothing.
    Checked against a model over random changes and flushes."""
    from collections import Counter
    make_users(lake)
    lake.sql("ALTER TABLE users SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
    rnd = random.Random(7)
    state = {}
    for round_ in range(4):
        want = Counter()
        for step in range(12):
            k = rnd.randint(1, 6)
            if rnd.random() < 0.3:
                lake.run("write", "users", "-", "--op", "delete", input=json.dumps({"id": k}) + "\n")
                if k in state:
                    want[(str(k), state.pop(k), "delete")] += 1
            else:
                name = f"r{round_}s{step}"
                lake.sql(f"INSERT INTO users VALUES ({k}, '{name}', NULL)")
                if k in state:
                    want[(str(k), state[k], "update_preimage")] += 1
                    want[(str(k), name, "update_postimage")] += 1
                else:
                    want[(str(k), name, "insert")] += 1
                state[k] = name
        lake.run("flush", "users")
        v = len(versions(lake)) - 1
        got = Counter(rows(lake, f"SELECT id, name, _change_type FROM table_changes('users', {v}, {v})"))
        assert got == want, round_
        assert table_rows(lake) == [(str(k), n, "") for k, n in sorted(state.items())]


def test_change_file_of_a_flush_is_in_the_log_order(lake):
    """One flush's changes share a commit version; its change data file holds them in
    the log's order (each pre-image before its post-image), for a reader of the file."""
    import pyarrow.parquet as pq
    make_users(lake)
    lake.sql("ALTER TABLE users SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
    for i in range(1, 4):
        lake.sql(f"INSERT INTO users VALUES (1, 'v{i}', NULL), (2, 'w{i}', NULL)")
    lake.run("write", "users", "-", "--op", "delete", input='{"id": 2}\n')
    lake.run("flush", "users")
    (f,) = (lake.table("users") / "_change_data").glob("*.parquet")
    got = [(r["id"], r["name"], r["_change_type"]) for r in pq.read_table(f).to_pylist()]
    assert got == [(1, "v1", "insert"), (2, "w1", "insert"),
                   (1, "v1", "update_preimage"), (1, "v2", "update_postimage"),
                   (2, "w1", "update_preimage"), (2, "w2", "update_postimage"),
                   (1, "v2", "update_preimage"), (1, "v3", "update_postimage"),
                   (2, "w2", "update_preimage"), (2, "w3", "update_postimage"),
                   (2, "w3", "delete")]


def test_update_of_key_columns_moves_rows_through_the_log(lake):
    """UPDATE ... SET id = ...: one write of the old keys' deletes, then the new rows, so
    keys can trade places; a move onto another row's key, or of two rows onto one key,
    is refused and writes nothing."""
    make_users(lake)
    lake.sql("ALTER TABLE users SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
    lake.sql("INSERT INTO users VALUES (1, 'a', NULL), (2, 'b', NULL), (3, 'c', 'Oslo')")
    lake.run("flush", "users")
    lake.sql("INSERT INTO users VALUES (4, 'd', NULL)")  # one row in the log, three in the table
    lake.sql("UPDATE users SET id = id + 10 WHERE id >= 3")
    assert table_rows(lake) == [("1", "a", ""), ("2", "b", ""), ("13", "c", "Oslo"), ("14", "d", "")]
    lake.sql("UPDATE users SET id = 3 - id, city = 'X' WHERE id IN (1, 2)")  # a swap
    assert table_rows(lake) == [("1", "b", "X"), ("2", "a", "X"), ("13", "c", "Oslo"), ("14", "d", "")]
    before = status(lake)["users"]["assigned"]
    for q, why in [("UPDATE users SET id = 1 WHERE id = 13", "duplicate key"),
                   ("UPDATE users SET id = 50 WHERE id > 10", "same primary key"),
                   ("UPDATE users SET id = NULL WHERE id = 1", "NOT NULL")]:
        p = lake.sql(q, check=False)
        assert p.returncode != 0 and why in p.stderr, (q, p.stderr)
    assert status(lake)["users"]["assigned"] == before  # nothing written
    lake.sql("UPDATE users SET id = 14, name = 'd2' WHERE id = 14")  # its own key: an update
    lake.run("flush", "users")
    want = [("1", "b", "X"), ("2", "a", "X"), ("13", "c", "Oslo"), ("14", "d2", "")]
    assert table_rows(lake) == want
    v = len(versions(lake)) - 1
    got = sorted(rows(lake, f"SELECT id, name, _change_type FROM table_changes('users', {v}, {v})"))
    assert ("3", "c", "delete") in got and ("13", "c", "insert") in got
    assert ("14", "d", "update_preimage") in got and ("14", "d2", "update_postimage") in got
    # a composite key moves by any of its columns
    lake.sql("CREATE TABLE pairs (a INT, b VARCHAR, v INT, PRIMARY KEY (a, b))")
    lake.sql("INSERT INTO pairs VALUES (1, 'x', 10), (1, 'y', 20)")
    lake.sql("UPDATE pairs SET b = 'z' WHERE b = 'x'")
    assert rows(lake, "SELECT a, b, v FROM pairs ORDER BY b") == [("1", "y", "20"), ("1", "z", "10")]
    p = lake.sql("UPDATE pairs SET b = 'y' WHERE b = 'z'", check=False)
    assert p.returncode != 0 and "duplicate key" in p.stderr


def test_spark_reads_a_flushed_primary_key_table(lake, spark):
    make_users(lake)
    lake.sql("INSERT INTO users VALUES (1, 'Ann', NULL), (2, 'Bo', NULL), (3, 'Cy', NULL)")
    lake.run("flush", "users")
    lake.sql("INSERT INTO users VALUES (2, 'Bo', 'Rome')")
    lake.run("write", "users", "-", "--op", "delete", input='{"id": 3}\n')
    lake.run("flush", "users")
    got = sorted(tuple(r) for r in spark.read.format("delta").load(str(lake.table("users"))).collect())
    assert got == [(1, "Ann", None), (2, "Bo", "Rome")]


def test_http_rows_endpoint_and_flush_at_shutdown(lake):
    from test_server import Server
    import threading
    make_users(lake)
    s = Server(lake)
    try:
        got = s.json("POST", "/v1/tables/users/rows?op=upsert", '{"id": 1, "name": "Ann"}\n{"id": 2, "name": "Bo"}\n')
        assert got["op"] == "upsert" and got["rows"] == 2 and got["lsn"] == 2
        got = s.json("POST", "/v1/tables/users/rows", "id,name,city\n3,Cy,Oslo\n", {"Content-Type": "text/csv"})
        assert got["lsn"] == 3
        assert s.json("POST", "/v1/tables/users/rows?op=delete", '{"id": 1}')["lsn"] == 4
        # /v1/status shows the log (the UI's System tab draws it): nothing flushed yet
        wal = s.json("GET", "/v1/status")["wal"]
        assert [(w["table"], w["durable"], w["visible"], w["flushed"], w["lag"]) for w in wal] == \
            [("users", 4, 4, 0, 4)], wal
        q = s.json("POST", "/v1/sql", {"sql": "SELECT id, name FROM users ORDER BY id"})
        assert q["rows"] == [[2, "Bo"], [3, "Cy"]]
        assert s.req("POST", "/v1/tables/users/rows?op=merge", "{}")[0] == 400
        assert s.req("POST", "/v1/tables/nope/rows", '{"id": 1}')[0] == 404
        code, _, body = s.req("POST", "/v1/tables/users/rows", '{"id": null}')
        assert code == 400 and b"NOT NULL" in body
        # concurrent writers: each acknowledged LSN once
        lsns, errors = [], []

        def writer(w):
            for i in range(10):
                st, _, data = s.req("POST", "/v1/tables/users/rows", json.dumps({"id": 100 + w * 10 + i}))
                (lsns if st == 200 else errors).append(json.loads(data).get("lsn", data))
        th = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        assert not errors and sorted(lsns) == list(range(5, 45))
        assert s.json("POST", "/v1/sql", {"sql": "SELECT count(*) AS n FROM users"})["rows"] == [[42]]
    finally:
        assert s.stop() == 0
    # the clean shutdown flushed the log into the table
    st = status(lake)["users"]
    assert st["flushed"] == st["assigned"] == 44
    assert rows(lake, 'SELECT count(*) FROM "users@v1"') == [("42",)]


def test_a_write_whose_table_is_dropped_before_it_is_durable_is_answered_write_again(lake, tmp_path):
    """The server answers a write once its LSN is durable. Held between the append and
    the sync while the table is dropped and created again, the write is answered with
    the log's refusal ("write again": the log it went into was removed with its table),
    nothing of it appears in the new table, and the server goes on writing."""
    from test_server import Server
    import threading
    make_users(lake)
    hold = tmp_path / "srv"
    hold.mkdir()
    s = Server(lake, env={"LOCH_HOLD": f"wal-sync:{hold}"})
    try:
        got = {}
        t = threading.Thread(target=lambda: got.update(r=s.req("POST", "/v1/tables/users/rows",
                                                               '{"id": 1, "name": "a"}', timeout=300)))
        t.start()
        while not list(hold.glob("wal-sync.*.reached")):
            assert s.proc.poll() is None and t.is_alive()
            t.join(0.01)
        lake.sql("DROP TABLE users")
        make_users(lake)
        (hold / "wal-sync.go").touch()
        t.join(300)
        code, _, body = got["r"]
        assert code == 409 and b"write again" in body, body
        assert table_rows(lake) == []
        assert s.json("POST", "/v1/tables/users/rows", '{"id": 2, "name": "b"}')["rows"] == 1
        assert s.json("POST", "/v1/sql", {"sql": "SELECT id, name FROM users"})["rows"] == [[2, "b"]]
    finally:
        assert s.stop() == 0
    assert table_rows(lake) == [("2", "b", "")]


def test_automatic_flush_by_rows(lake):
    make_users(lake)
    lake.sql("ALTER TABLE users SET TBLPROPERTIES ('loch.wal.flushRows' = '5')")
    for k in range(4):
        lake.sql(f"INSERT INTO users VALUES ({k}, 'a', NULL)")
    assert status(lake)["users"]["flushed"] == 0
    lake.sql("INSERT INTO users VALUES (4, 'a', NULL), (5, 'b', NULL)")  # past 5 changes: flushed after the ack
    st = status(lake)["users"]
    assert st["flushed"] == st["assigned"] == 6
    assert rows(lake, "SELECT count(*) FROM users") == [("6",)]


@pytest.mark.parametrize("step", ["write", "fsync", "rename", "link", "dirsync", "datasync", "datadirsync"])
def test_a_fault_at_every_storage_step_of_a_flush(lake, step):
    """The flush's storage calls (data file, deletion vector file, commit) each fail in
    turn (LOCH_FAULT step:EIO:skip): the table and its log stay consistent - a query sees
    the same rows before and after, a later flush applies each change once."""
    make_users(lake)
    lake.sql("INSERT INTO users SELECT i, 'a', NULL FROM range(300) r(i)")
    lake.run("flush", "users")
    fired = 0
    for skip in range(4):
        # 100 rows replaced: a deletion vector too big for the log, so a DV file is put
        lake.sql(f"INSERT INTO users SELECT i * 3, 'b{skip}', NULL FROM range(100) r(i)")
        lake.sql(f"INSERT INTO users VALUES ({1000 + skip}, 'n', NULL)")
        want = table_rows(lake)
        p = lake.run("flush", "users", check=False, env={"LOCH_FAULT": f"{step}:EIO:{skip}"})
        fired += p.returncode != 0
        assert p.returncode in (0, 1), p.stderr
        assert table_rows(lake) == want, (step, skip, p.stderr)
        lake.run("flush", "users")
        assert table_rows(lake) == want
        st = status(lake)["users"]
        assert st["flushed"] == st["assigned"]
    assert fired, f"no flush met a fault at {step}"


def test_a_producer_retry_is_written_once(lake, tmp_path):
    """Exactly once for producers: the same (producer, sequence) again - a CLI retry, an
    HTTP retry, after a restart, after a flush - answers with the first write's LSN."""
    from test_server import Server
    make_users(lake)
    first = lake.run("write", "users", "-", "--producer", "app-1", "--sequence", "1", input='{"id": 1, "name": "a"}\n')
    assert "(LSN 1, durable)" in first.stderr
    again = lake.run("write", "users", "-", "--producer", "app-1", "--sequence", "1",
                     input='{"id": 1, "name": "changed"}\n')
    assert "write 1 is in users already (LSN 1): not written again" in again.stderr, again.stderr
    assert table_rows(lake) == [("1", "a", "")]
    # an older sequence is a repeat too; a newer one is written
    lake.run("write", "users", "-", "--producer", "app-1", "--sequence", "2", input='{"id": 2, "name": "b"}\n')
    p = lake.run("write", "users", "-", "--producer", "app-1", "--sequence", "1", input='{"id": 9}\n')
    assert "not written again" in p.stderr and "(LSN 2)" in p.stderr
    lake.run("flush", "users")  # recorded in the table with the flush
    commit = (lake.table("users") / "_delta_log" / versions(lake)[-1]).read_text()
    assert '"appId":"loch.producer/app-1","version":2' in commit
    # the log's own record is gone (flushed); the machine restarts: the table's record answers
    state = lake.path / "_loch" / "wal" / "users" / "state"
    b = bytearray(state.read_bytes())
    b[8] ^= 0xFF
    state.write_bytes(bytes(b))
    s = Server(lake)
    try:
        code, _, body = s.req("POST", "/v1/tables/users/rows", '{"id": 2, "name": "x"}',
                              {"X-Loch-Producer": "app-1", "X-Loch-Sequence": "2"})
        got = json.loads(body)
        assert code == 200 and got["duplicate"] is True and got["lsn"] == 2, got
        got = s.json("POST", "/v1/tables/users/rows?producer=app-1&sequence=3", '{"id": 3, "name": "c"}')
        assert got["duplicate"] is False and got["lsn"] == 3
        assert s.req("POST", "/v1/tables/users/rows?producer=app-1", '{"id": 3}')[0] == 400
    finally:
        assert s.stop() == 0
    assert table_rows(lake) == [("1", "a", ""), ("2", "b", ""), ("3", "c", "")]
    p = lake.run("write", "users", "-", "--producer", "x y", "--sequence", "1", input='{"id": 5}\n', check=False)
    assert p.returncode == 1 and "producer id" in p.stderr


def test_http_rows_of_types_the_fast_reader_leaves_to_the_engine(lake):
    """A table with a DATE column: its NDJSON goes through the engine's reader (spooled),
    with the same answer and the same exactly-once rules."""
    from test_server import Server
    lake.sql("CREATE TABLE ev (id BIGINT PRIMARY KEY, day DATE, n DECIMAL(10,2))")
    s = Server(lake)
    try:
        got = s.json("POST", "/v1/tables/ev/rows", '{"id": 1, "day": "2026-11-27", "n": 1.25}\n',
                     {"X-Loch-Producer": "p", "X-Loch-Sequence": "1"})
        assert got["rows"] == 1 and got["lsn"] == 1 and got["duplicate"] is False
        again = s.json("POST", "/v1/tables/ev/rows", '{"id": 1, "day": "2000-01-01", "n": 9}\n',
                       {"X-Loch-Producer": "p", "X-Loch-Sequence": "1"})
        assert again["duplicate"] is True and again["lsn"] == 1
        code, _, body = s.req("POST", "/v1/tables/ev/rows", '{"id": 2, "day": "not a date"}\n')
        assert code == 400 and b"_loch" not in body and b"system.main" not in body, body
        q = s.json("POST", "/v1/sql", {"sql": "SELECT id, day::VARCHAR AS day, n FROM ev"})
        assert q["rows"] == [[1, "2026-11-27", 1.25]]
    finally:
        assert s.stop() == 0


def test_loch_serve_flushes_a_log_by_age(lake):
    """A stream that stops still reaches the Delta table: loch serve flushes a log whose
    oldest write is older than loch.wal.flushAge (seconds). The test waits for that event
    (bounded for a broken build only), it does not time it."""
    from test_server import Server, wait_for
    make_users(lake)
    lake.sql("ALTER TABLE users SET TBLPROPERTIES ('loch.wal.flushAge' = '1')")
    s = Server(lake)
    try:
        assert s.json("POST", "/v1/tables/users/rows", '{"id": 1, "name": "a"}\n')["lsn"] == 1
        wait_for(lambda: status(lake)["users"]["flushed"] == 1)
        assert len(versions(lake)) == 3  # create, the property, the flush
    finally:
        assert s.stop() == 0
