"""Append-only tables through the write-ahead log (loch.wal.enabled = 'true'): a stream
of small INSERTs into a table without a primary key costs an fsync each, not a Delta
commit each; the log's rows are visible at once and flushed as one append, once.

Crash tests stop a flush at a named point (LOCH_HOLD) and kill it; the oracle is the
multiset of acknowledged rows.
"""
import json
from collections import Counter

import pytest

from conftest import Held


def make_events(lake):
    lake.sql("CREATE TABLE ev (id BIGINT, msg VARCHAR)")
    lake.sql("ALTER TABLE ev SET TBLPROPERTIES ('loch.wal.enabled' = 'true')")


def bag(lake):
    return Counter(tuple(r) for r in lake.csv("SELECT id, msg FROM ev"))


def versions(lake):
    return sorted(p.name for p in (lake.table("ev") / "_delta_log").glob("*.json"))


def delta_rs_rows(lake):
    from deltalake import DeltaTable
    t = DeltaTable(str(lake.table("ev"))).to_pyarrow_table()
    return Counter((str(i), m or "") for i, m in zip(t["id"].to_pylist(), t["msg"].to_pylist()))


def test_small_inserts_are_log_writes_then_one_append(lake):
    make_events(lake)
    before = versions(lake)
    want = Counter()
    for i in range(12):
        out = lake.sql(f"INSERT INTO ev VALUES ({i % 4}, 'm{i}')")
        assert "durable" in out.stderr
        want[(str(i % 4), f"m{i}")] += 1
    lake.run("write", "ev", "-", input='{"id": 7, "msg": "w"}\n{"id": 7, "msg": "w"}\n')
    want[("7", "w")] += 2
    # an upsert has no key to match by: rows are appended; a delete is refused
    lake.run("write", "ev", "-", "--op", "upsert", input='{"id": 8, "msg": "u"}\n')
    want[("8", "u")] += 1
    p = lake.run("write", "ev", "-", "--op", "delete", input='{"id": 7}\n', check=False)
    assert p.returncode != 0 and "inserts only" in p.stderr
    assert versions(lake) == before  # no Delta commit yet
    assert bag(lake) == want
    assert lake.csv("SELECT count(*) FROM ev") == [[str(sum(want.values()))]]
    assert lake.csv("SELECT count(*) FROM ev WHERE id = 7") == [["2"]]
    # INSERT ... SELECT from the table itself reads its log's rows
    lake.sql("INSERT INTO ev SELECT id + 100, msg FROM ev WHERE id = 7")
    want[("107", "w")] += 2
    assert bag(lake) == want
    lake.run("flush", "ev")
    after = versions(lake)
    assert len(after) == len(before) + 1
    commit = [json.loads(x) for x in (lake.table("ev") / "_delta_log" / after[-1]).read_text().splitlines()]
    kinds = Counter(next(iter(a)) for a in commit)
    assert kinds["add"] == 1 and kinds["txn"] == 1 and "remove" not in kinds
    assert bag(lake) == want
    assert delta_rs_rows(lake) == want
    st = json.loads(lake.run("status", "-f", "json").stdout)
    assert st[0]["table"] == "ev" and st[0]["lag"] == 0 and st[0]["primary_key"] is None


def test_update_delete_and_turning_the_log_off_flush_first(lake):
    make_events(lake)
    lake.sql("INSERT INTO ev VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    lake.sql("UPDATE ev SET msg = 'B' WHERE id = 2")   # a Delta commit, after the log's rows went in
    lake.sql("DELETE FROM ev WHERE id = 3")
    assert bag(lake) == Counter({("1", "a"): 1, ("2", "B"): 1})
    lake.sql("INSERT INTO ev VALUES (4, 'd')")
    lake.sql("ALTER TABLE ev SET TBLPROPERTIES ('loch.wal.enabled' = 'false')")
    assert delta_rs_rows(lake) == Counter({("1", "a"): 1, ("2", "B"): 1, ("4", "d"): 1})
    before = versions(lake)
    out = lake.sql("INSERT INTO ev VALUES (5, 'e')")
    assert "version" in out.stderr and len(versions(lake)) == len(before) + 1
    assert json.loads(lake.run("status", "-f", "json").stdout or "[]") == []
    p = lake.sql("ALTER TABLE ev SET TBLPROPERTIES ('loch.wal.enabled' = 'yes')", check=False)
    assert p.returncode != 0 and "true or false" in p.stderr
    lake.sql("CREATE TABLE pk (id BIGINT PRIMARY KEY)")
    p = lake.sql("ALTER TABLE pk SET TBLPROPERTIES ('loch.wal.enabled' = 'false')", check=False)
    assert p.returncode != 0 and "primary key" in p.stderr


def test_change_feed_of_an_append_flush(lake):
    make_events(lake)
    lake.sql("ALTER TABLE ev SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
    v = len(versions(lake))
    lake.sql("INSERT INTO ev VALUES (1, 'a')")
    lake.sql("INSERT INTO ev VALUES (1, 'a')")
    lake.run("flush", "ev")
    got = lake.csv(f"SELECT id, msg, _change_type FROM table_changes('ev', {v}) ORDER BY id")
    assert got == [["1", "a", "insert"], ["1", "a", "insert"]]


@pytest.mark.parametrize("point", ["flush-rotate", "flush-commit", "committed", "flush-truncate"])
def test_an_append_flush_killed_anywhere_adds_each_row_once(lake, tmp_path, point):
    make_events(lake)
    want = Counter()
    for i in range(5):
        lake.sql(f"INSERT INTO ev VALUES ({i}, 'first')")
        want[(str(i), "first")] += 1
    lake.run("flush", "ev")
    lake.sql("INSERT INTO ev VALUES (1, 'second'), (1, 'second')")
    lake.run("write", "ev", "-", input='{"id": 9, "msg": "third"}\n')
    want[("1", "second")] += 2
    want[("9", "third")] += 1
    h = Held(lake, tmp_path / "hold", point, "flush", "ev")
    h.kill()
    assert bag(lake) == want
    lake.sql("INSERT INTO ev VALUES (10, 'after')")
    want[("10", "after")] += 1
    assert bag(lake) == want
    lake.run("flush", "ev")
    assert bag(lake) == want
    assert delta_rs_rows(lake) == want
    txns = [json.loads(x)["txn"]["version"] for f in versions(lake)
            for x in (lake.table("ev") / "_delta_log" / f).read_text().splitlines() if '"txn"' in x]
    assert txns == sorted(set(txns))


def test_http_rows_append_to_a_table_without_a_key(lake):
    from test_server import Server
    make_events(lake)
    s = Server(lake)
    try:
        got = s.json("POST", "/v1/tables/ev/rows?op=insert", '{"id": 1, "msg": "a"}\n{"id": 1, "msg": "a"}\n')
        assert got["op"] == "insert" and got["rows"] == 2 and got["lsn"] == 2
        assert s.json("POST", "/v1/tables/ev/rows", '{"id": 2, "msg": "b"}\n')["lsn"] == 3
        code, _, body = s.req("POST", "/v1/tables/ev/rows?op=delete", '{"id": 1}\n')
        assert code == 400 and b"inserts only" in body
        q = s.json("POST", "/v1/sql", {"sql": "SELECT id, msg FROM ev ORDER BY id"})
        assert q["rows"] == [[1, "a"], [1, "a"], [2, "b"]]
    finally:
        s.stop()
    # the server flushes its logs when it stops
    assert delta_rs_rows(lake) == Counter({("1", "a"): 2, ("2", "b"): 1})


@pytest.mark.parametrize("change", ["ALTER TABLE ev SET TBLPROPERTIES ('loch.wal.enabled' = 'false')",
                                    "CREATE OR REPLACE TABLE ev (id BIGINT, msg VARCHAR)",
                                    "RESTORE TABLE ev TO VERSION AS OF 1"])
def test_a_write_racing_a_change_of_the_table_waits_for_it(lake, tmp_path, change):
    """A change that flushes the log and then commits fences the log in between: a write
    arriving then waits (it reaches wal-fenced) until the change committed. One that
    changed the table's metadata (ALTER, CREATE OR REPLACE) refuses it: 'write again'; after
    a RESTORE to the same schema it goes in, after the restore. Nothing is left in the log
    for the changed table to lose, or to read as its own."""
    make_events(lake)
    lake.sql("INSERT INTO ev VALUES (1, 'before')")
    ddl = Held(lake, tmp_path / "ddl", "flush-truncate", "sql", change)
    writer = Held(lake, tmp_path / "w", "wal-fenced", "sql", "INSERT INTO ev VALUES (2, 'during')")
    (tmp_path / "w" / "wal-fenced.go").touch()  # on into the wait: the change still holds the fence
    assert ddl.release()[0] == 0
    out, err = writer.proc.communicate(timeout=300)
    # version 1 is the table before its first flush: a restore to it has no rows
    want = Counter() if not change.startswith("ALTER") else Counter({("1", "before"): 1})
    if change.startswith("RESTORE"):
        assert writer.proc.returncode == 0, err
        want[("2", "during")] += 1
        lake.run("flush", "ev")
    else:
        assert writer.proc.returncode != 0 and "write again" in err, err
    assert bag(lake) == want
    assert delta_rs_rows(lake) == want
    lake.sql("ALTER TABLE ev SET TBLPROPERTIES ('loch.wal.enabled' = 'true')")
    assert bag(lake) == want  # no write stranded in the log comes back
    lake.sql("INSERT INTO ev VALUES (2, 'again')")
    want[("2", "again")] += 1
    assert bag(lake) == want


def test_what_a_log_refuses_or_leaves_alone(lake, tmp_path):
    make_events(lake)
    lake.sql("INSERT INTO ev VALUES (1, 'a')")
    # MERGE on a table without a key: a Delta commit after the flush, no key check
    out = lake.sql("MERGE INTO ev USING (SELECT 1 AS id, 'A' AS msg UNION ALL SELECT 3, 'c') s ON ev.id = s.id "
                   "WHEN MATCHED THEN UPDATE SET msg = s.msg WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.msg)")
    assert "1 inserted, 1 updated" in out.stderr
    # an INSERT that reads its target only through a macro loads the target's log too
    lake.sql("INSERT INTO ev VALUES (4, 'd')")
    lake.sql("CREATE MACRO evs() AS TABLE SELECT * FROM ev; INSERT INTO ev SELECT id + 10, msg FROM evs()")
    assert bag(lake) == Counter({("1", "A"): 1, ("3", "c"): 1, ("4", "d"): 1, ("11", "A"): 1, ("13", "c"): 1,
                                 ("14", "d"): 1})
    # an ingest overwrite replaces the log's rows too; an ingest into a keyed table is refused
    lake.sql("INSERT INTO ev VALUES (5, 'in the log')")
    f = tmp_path / "ev.csv"
    f.write_text("id,msg\n100,file\n")
    lake.run("ingest", "ev", str(f), "--mode", "overwrite")
    assert bag(lake) == Counter({("100", "file"): 1})
    lake.sql("INSERT INTO ev VALUES (6, 'in the log')")
    g = tmp_path / "wide.csv"
    g.write_text("id,msg,extra\n101,file,e\n")
    lake.run("ingest", "ev", str(g))  # a new column: the log is flushed first, not stranded
    assert lake.csv("SELECT id, msg, extra FROM ev ORDER BY id") == [["6", "in the log", ""], ["100", "file", ""],
                                                                     ["101", "file", "e"]]
    lake.sql("CREATE TABLE k (id BIGINT PRIMARY KEY, v VARCHAR)")
    p = lake.run("ingest", "k", str(f), check=False)
    assert p.returncode != 0 and "loch write" in p.stderr
    p = lake.sql("ALTER TABLE ev SET TBLPROPERTIES ('loch.primaryKey' = 'id')", check=False)
    assert p.returncode != 0 and "CREATE TABLE" in p.stderr
    # the log's own column names
    lake.sql("CREATE TABLE odd (id BIGINT, __lsn BIGINT)")
    p = lake.sql("ALTER TABLE odd SET TBLPROPERTIES ('loch.wal.enabled' = 'true')", check=False)
    assert p.returncode != 0 and "__lsn" in p.stderr


def test_replace_from_itself_keeps_a_write_acknowledged_before_its_fence(lake, tmp_path):
    """CREATE OR REPLACE t AS SELECT ... FROM t reads t's log before it fences it: a write
    acknowledged in between is flushed by the replace, and read again, so the new table
    has it."""
    make_events(lake)
    lake.sql("INSERT INTO ev VALUES (1, 'a')")
    h = Held(lake, tmp_path / "hold", "tail-prepared", "sql", "CREATE OR REPLACE TABLE ev AS SELECT * FROM ev")
    lake.sql("INSERT INTO ev VALUES (2, 'acknowledged before the fence')")
    assert h.release()[0] == 0
    want = Counter({("1", "a"): 1, ("2", "acknowledged before the fence"): 1})
    assert bag(lake) == want
    assert delta_rs_rows(lake) == want
