"""Crash safety, injected I/O faults and concurrent writers, tested by doing them:
SIGKILL during commits, a failing step in each part of a commit, four processes
inserting into one table at once."""
import json
import os
import random
import signal
import subprocess
import threading
import time

import pytest
from deltalake import DeltaTable

from conftest import LOCH, Held


def check_whole(lake, name="c", extra=0):
    """Every committed version (past `extra` ones) added exactly one row: values are
    0..n-1, once each."""
    n, distinct, top = lake.csv(f"SELECT count(*), count(DISTINCT i), coalesce(max(i), -1) FROM {name}")[0]
    assert int(n) == int(distinct) == int(top) + 1, (n, distinct, top)
    versions = DeltaTable(str(lake.table(name))).version()
    assert versions == int(n) + extra, f"version {versions} but {n} rows"
    return int(n)


# Every named point of the write path (LOCH_HOLD): the process is stopped there and
# SIGKILLed, so each point is hit on every run, on any machine.
KILL_POINTS = ["write-staged", "write-moving", "commit", "commit-locked", "committed", "checkpoint"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_at_each_point_of_a_commit(lake, tmp_path, point):
    lake.sql("CREATE TABLE c (i BIGINT); ALTER TABLE c SET TBLPROPERTIES ('delta.checkpointInterval' = '1')")
    for k in range(3):
        lake.sql(f"INSERT INTO c VALUES ({check_whole(lake, extra=1)})")
        n = check_whole(lake, extra=1)
        w = Held(lake, tmp_path, point, "sql", f"INSERT INTO c VALUES ({n})")
        w.kill()
        after = check_whole(lake, extra=1)
        # before the commit's file is linked the table is unchanged; from then on it holds the row
        assert after == (n + 1 if point in ("committed", "checkpoint") else n), (point, n, after)
    lake.sql(f"INSERT INTO c VALUES ({check_whole(lake, extra=1)})")  # the next write sweeps
    assert_no_orphans(lake)
    assert not [f for f in os.listdir(lake.table("c") / "_delta_log") if f.startswith(".tmp")]
    assert not [p for p in lake.table("c").iterdir() if p.name.startswith(".tmp-")]
    assert not list((lake.path / "_loch" / "intents").iterdir())


def test_sigkill_at_random_moments(lake):
    """Kills land wherever they land; whatever the count, no reader ever sees a half
    commit and every row is there once (what is asserted does not depend on timing)."""
    lake.sql("CREATE TABLE c (i BIGINT)")
    rng = random.Random(7)
    done, stop = 0, threading.Event()
    bad = []

    def reader():
        # Readers running beside the killed writer must only ever see whole commits.
        while not stop.is_set():
            p = lake.sql("SELECT count(*), count(DISTINCT i), coalesce(max(i), -1) FROM c", "-f", "csv", check=False)
            if p.returncode == 0:
                n, d, m = map(int, p.stdout.splitlines()[1].split(","))
                if not (n == d == m + 1):
                    bad.append((n, d, m))
            else:
                bad.append(p.stderr)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(40):
            sql = ";".join(f"INSERT INTO c VALUES ({k})" for k in range(done, done + 20))
            env = dict(os.environ, LOCH_LAKE=str(lake.path))
            w = subprocess.Popen([LOCH, "sql", sql], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.005, 0.25))
            w.kill()
            w.wait()
            done = check_whole(lake)
    finally:
        stop.set()
        t.join()
    assert not bad, bad[:3]
    # nothing half-written is visible to a Delta reader either
    assert sorted(DeltaTable(str(lake.table("c"))).to_pyarrow_table().column("i").to_pylist()) == list(range(done))


@pytest.mark.parametrize("step,errno_name,outcome", [
    ("datasync", "EIO", "unchanged"),      # fsync of the new data file
    ("datadirsync", "EIO", "unchanged"),   # fsync of the table directory after it
    ("write", "ENOSPC", "unchanged"),      # writing the commit's temp file
    ("write", "EIO", "unchanged"),
    ("fsync", "EIO", "unchanged"),         # fsync of the commit's temp file
    ("link", "EIO", "unchanged"),          # publishing it as NNN.json
    ("dirsync", "EIO", "whole"),           # fsync of _delta_log after the link
])
def test_fault_in_each_commit_step(lake, step, errno_name, outcome):
    lake.sql("CREATE TABLE c (i BIGINT); INSERT INTO c VALUES (0)")
    p = lake.sql("INSERT INTO c VALUES (1)", check=False, env={"LOCH_FAULT": f"{step}:{errno_name}"})
    assert p.returncode == 1, p.stderr
    word = {"datasync": "fsync", "datadirsync": "fsync of directory", "dirsync": "fsync of directory"}.get(step, step)
    assert word in p.stderr, p.stderr
    if errno_name == "ENOSPC":
        assert "No space left on device" in p.stderr
    n = check_whole(lake)
    assert n == (1 if outcome == "unchanged" else 2)
    assert_no_orphans(lake)
    if outcome == "whole":
        assert "visible but may not survive a power loss" in p.stderr
    # no temp file is left where readers list
    assert not [f for f in os.listdir(lake.table("c") / "_delta_log") if f.startswith(".tmp")]
    # the table keeps working after the fault
    lake.sql(f"INSERT INTO c VALUES ({n})")
    assert check_whole(lake) == n + 1


def test_concurrent_writers(lake):
    lake.sql("CREATE TABLE c (i BIGINT)")
    env = dict(os.environ, LOCH_LAKE=str(lake.path))
    procs = [subprocess.Popen([LOCH, "sql", ";".join(f"INSERT INTO c VALUES ({w * 250 + k})" for k in range(250))],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for w in range(4)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    assert check_whole(lake) == 1000
    assert DeltaTable(str(lake.table("c"))).version() == 1000


# Delta's conflict rules (src/core/commit.h), end to end: the slow statement has read
# version 1 and is held at its commit while the fast one commits version 2. "ingest ..."
# runs `loch ingest` of same.csv (the table's own schema) or other.csv (another one).
# Without a conflict, rows lists the table's rows afterwards.
@pytest.mark.parametrize("slow,fast,conflict,rows", [
    ("INSERT INTO c VALUES (1)", "INSERT INTO c VALUES (2)", None, [0, 1, 2]),  # appends never conflict
    # an ALTER reads no data: a concurrent append goes in before it, as in Delta
    ("ALTER TABLE c SET TBLPROPERTIES ('k' = 'v')", "INSERT INTO c VALUES (1)", None, [0, 1]),
    ("INSERT INTO c VALUES (1)", "ALTER TABLE c SET TBLPROPERTIES ('k' = 'v')", "changed the table's schema or properties",
     None),
    ("ALTER TABLE c SET TBLPROPERTIES ('k' = 'v')", "ALTER TABLE c SET TBLPROPERTIES ('k' = 'w')",
     "changed the table's schema or properties", None),
    # a replace read the whole table and changes the schema: even a blind append conflicts
    ("CREATE OR REPLACE TABLE c AS SELECT 9::BIGINT AS i", "INSERT INTO c VALUES (2)",
     "added data this one should have read", None),
    ("INSERT INTO c VALUES (1)", "CREATE OR REPLACE TABLE c AS SELECT 9::BIGINT AS i",
     "changed the table's schema or properties", None),
    # an INSERT that read its own table is no blind append: the same statement racing
    # itself conflicts (no duplicate id), while a blind INSERT passes it under
    # WriteSerializable, as in Delta (adversarial pass of issue 9)
    ("INSERT INTO c SELECT max(i) + 1 FROM c", "INSERT INTO c SELECT max(i) + 1 FROM c",
     "added data this one should have read", None),
    ("INSERT INTO c SELECT max(i) + 1 FROM c", "INSERT INTO c VALUES (2)", None, [0, 1, 2]),
    # an overwrite that keeps the schema writes no metaData: under WriteSerializable a
    # blind append racing it is no conflict either way, and its rows survive the
    # overwrite (which removes only the files it read), as in Delta
    ("ingest c same.csv --mode overwrite", "INSERT INTO c VALUES (2)", None, [2, 9]),
    ("INSERT INTO c VALUES (1)", "ingest c same.csv --mode overwrite", None, [1, 9]),
    # one that changes the schema still conflicts both ways
    ("ingest c other.csv --mode overwrite", "INSERT INTO c VALUES (2)", "added data this one should have read", None),
    ("INSERT INTO c VALUES (1)", "ingest c other.csv --mode overwrite", "changed the table's schema or properties",
     None),
    # two winning commits, the conflicting one first: the second must not clear it (chaos found this)
    ("INSERT INTO c VALUES (1)", "ALTER TABLE c SET TBLPROPERTIES ('k' = 'v'); INSERT INTO c VALUES (2)",
     "changed the table's schema or properties", None),
])
def test_commit_races(lake, tmp_path, slow, fast, conflict, rows):
    lake.sql("CREATE TABLE c (i BIGINT); INSERT INTO c VALUES (0)")
    (tmp_path / "same.csv").write_text("i\n9\n")
    (tmp_path / "other.csv").write_text("i,j\n9,x\n")

    def args(stmt):
        if stmt.startswith("ingest "):
            return [str(tmp_path / a) if a.endswith(".csv") else a for a in stmt.split()]
        return ["sql", stmt]

    before = int(lake.scalar("SELECT count(*) FROM c"))
    p = Held(lake, tmp_path / "held", "commit", *args(slow))  # it has read version 1 and waits to commit
    lake.run(*args(fast))
    after_fast = int(lake.scalar("SELECT count(*) FROM c"))
    code, out, err = p.release()
    if conflict is None:
        assert code == 0, err
        assert sorted(int(r[0]) for r in lake.csv("SELECT i FROM c")) == rows
        assert DeltaTable(str(lake.table("c"))).version() == 3
        assert sorted(DeltaTable(str(lake.table("c"))).to_pyarrow_table().column("i").to_pylist()) == rows
    else:
        assert code == 1 and conflict in err, err
        assert "version 2" in err
        assert before == 1 and int(lake.scalar("SELECT count(*) FROM c")) == after_fast
        assert_no_orphans(lake)


def assert_no_orphans(lake, name="c"):
    """Every data file on disk is named by the log (live, or removed by a later commit
    and kept until VACUUM): a failed commit removed its own."""
    import pyarrow as pa
    live = set(pa.table(DeltaTable(str(lake.table(name))).get_add_actions()).column("path").to_pylist())
    logged = set()
    for f in (lake.table(name) / "_delta_log").glob("*.json"):
        for line in f.read_text().splitlines():
            if line.strip() and "add" in json.loads(line):
                logged.add(json.loads(line)["add"]["path"])
    on_disk = {f for f in os.listdir(lake.table(name)) if f.endswith(".parquet")}
    assert live <= on_disk and on_disk <= logged | live, on_disk - logged - live


@pytest.mark.parametrize("point", KILL_POINTS[:-1])
def test_sigkill_during_ingest(lake, tmp_path, point):
    """An ingest killed at any point leaves the table at the version before or after
    it; what it wrote and did not commit is removed by the next write."""
    rows = 200_000
    f = tmp_path / "in.csv"
    with open(f, "w") as out:
        out.write("id,name,amount\n")
        for i in range(0, rows, 10_000):
            out.write("".join(f"{j},name {j % 977},{j % 1000 / 8}\n" for j in range(i, i + 10_000)))
    lake.run("ingest", "t", str(f))
    held = tmp_path / "held"
    for attempt in range(2):
        w = Held(lake, held, point, "ingest", "t", str(f), "--force")
        w.kill()
        versions = DeltaTable(str(lake.table("t"))).version() + 1
        assert versions == (2 + attempt if point == "committed" else 1), (point, versions)
        assert lake.scalar("SELECT count(*) FROM t") == str(versions * rows)
        assert DeltaTable(str(lake.table("t"))).to_pyarrow_table().num_rows == versions * rows
    lake.run("ingest", "t", str(f), "--force")  # the next write sweeps
    live = {os.path.basename(u) for u in DeltaTable(str(lake.table("t"))).file_uris()}
    on_disk = {p.name for p in lake.table("t").glob("*.parquet")}
    assert on_disk == live, sorted(on_disk - live)
    assert not [p for p in lake.table("t").iterdir() if p.name.startswith(".tmp-")]
    assert not [p for p in (lake.table("t") / "_delta_log").iterdir() if p.name.startswith(".tmp-")]
    assert not list((lake.path / "_loch" / "intents").iterdir())


@pytest.mark.parametrize("retention", ["interval 0 seconds", "interval 200000000000 days"])
def test_slow_writer_never_links_a_cleaned_version(lake, tmp_path, retention):
    """A writer held before its commit while others commit, checkpoint and clean the log
    up to the checkpoint must not re-create a deleted version (readers would skip it:
    an acknowledged, lost write); it commits after the checkpoint or fails by name. An
    overflowing retention must not mean "delete everything" either (adversarial pass of
    issue 9)."""
    lake.sql("CREATE TABLE t (id BIGINT); INSERT INTO t VALUES (1)")
    p = lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.checkpointInterval' = '1', "
                 f"'delta.logRetentionDuration' = '{retention}')", check=False)
    if p.returncode:  # refused as Delta would refuse it: nothing to race
        assert "logRetentionDuration" in p.stderr, p.stderr
        return
    held = Held(lake, tmp_path, "commit", "sql", "INSERT INTO t VALUES (7)")
    lake.sql("INSERT INTO t VALUES (101)")
    lake.sql("INSERT INTO t VALUES (102)")
    code, out, err = held.release()
    ids = sorted(int(r[0]) for r in lake.csv("SELECT id FROM t"))
    theirs = sorted(DeltaTable(str(lake.table("t"))).to_pyarrow_table().column("id").to_pylist())
    assert ids == theirs
    if code == 0:
        assert 7 in ids, (out, err)
    else:
        assert "cleaned from the log" in err and 7 not in ids, err
    assert ids.count(101) == 1 and ids.count(102) == 1
    assert_no_orphans(lake, "t")


def test_serializable_tables_check_blind_appends(lake, tmp_path):
    """delta.isolationLevel = Serializable: a statement that read the table conflicts with
    a concurrent blind INSERT too (under WriteSerializable that one passes)."""
    lake.sql("CREATE TABLE c (i BIGINT); INSERT INTO c VALUES (0)")
    lake.sql("ALTER TABLE c SET TBLPROPERTIES ('delta.isolationLevel' = 'Serializable')")
    p = Held(lake, tmp_path, "commit", "sql", "INSERT INTO c SELECT max(i) + 1 FROM c")
    lake.sql("INSERT INTO c VALUES (5)")
    code, out, err = p.release()
    assert code == 1 and "added data this one should have read" in err, err
    assert sorted(lake.csv("SELECT i FROM c")) == [["0"], ["5"]]
    assert_no_orphans(lake)
