"""OPTIMIZE, VACUUM and RESTORE (src/ops/maintain.c), from SQL and from the commands
`loch optimize`, `loch vacuum`, `loch restore`: the rows never change where they must
not, the log says what happened in Delta's terms, a file a version inside the retention
window needs is never deleted, and peers read the results."""
import json
import os
import time

import pytest
from deltalake import DeltaTable

from conftest import Held

DAY = 24 * 3600


def rows(lake, table="t"):
    return lake.csv(f'SELECT id, k FROM "{table}" ORDER BY id')


def small_files(lake, n=6, dv=False):
    lake.sql("CREATE TABLE t AS SELECT i AS id, i % 10 AS k FROM range(100) r(i)")
    for i in range(1, n):
        lake.sql(f"INSERT INTO t SELECT i + {i * 1000}, i % 7 FROM range(50) r(i)")
    if dv:
        lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.enableDeletionVectors'='true')")
        lake.sql("DELETE FROM t WHERE id % 3 = 0")


def last_commit(lake, table="t"):
    log = sorted((lake.table(table) / "_delta_log").glob("*.json"))[-1]
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.parametrize("dv", [False, True])
def test_optimize_compacts_and_purges(lake, dv):
    small_files(lake, dv=dv)
    before = rows(lake)
    p = lake.run("optimize", "t")
    assert "optimized t: " in p.stderr and "rewritten as 1" in p.stderr
    assert rows(lake) == before
    actions = last_commit(lake)
    info = actions[0]["commitInfo"]
    assert info["operation"] == "OPTIMIZE" and info["operationMetrics"]["numAddedFiles"] == "1"
    assert all(a[k]["dataChange"] is False for a in actions[1:] for k in a if k in ("add", "remove"))
    assert not any("deletionVector" in a.get("add", {}) for a in actions)
    assert "nothing to do" in lake.sql("OPTIMIZE t").stderr
    if not dv:  # delta-rs reads copy-on-write tables
        assert DeltaTable(str(lake.table("t"))).to_pyarrow_table().num_rows == len(before)


def test_optimize_zorder(lake):
    small_files(lake)
    before = rows(lake)
    p = lake.sql("OPTIMIZE t ZORDER BY (k, id) TARGET SIZE '2MB'")
    assert "optimized t" in p.stderr
    assert rows(lake) == before
    assert last_commit(lake)[0]["commitInfo"]["operationParameters"]["zOrderBy"] == '["k","id"]'
    for q, words in (("OPTIMIZE t ZORDER BY (nope)", "does not exist"), ("OPTIMIZE t WHERE k = 1", "partitions"),
                     ("OPTIMIZE t TARGET SIZE '10KB'", "at least 1MB"), ("OPTIMIZE t ZORDER BY a, b, c, d, e",
                                                                        "1 to 4")):
        p = lake.sql(q, check=False)
        assert p.returncode == 1 and words in p.stderr, (q, p.stderr)


def test_optimize_racing_writers(lake, tmp_path):
    """An INSERT committed while OPTIMIZE worked does not stop it; a DELETE that removed
    a file OPTIMIZE rewrote makes it fail by name, and the DELETE's result stands."""
    small_files(lake)
    held = Held(lake, tmp_path / "h1", "optimize-commit", "optimize", "t")
    lake.sql("INSERT INTO t VALUES (99999, 1)")
    rc, out, err = held.release()
    assert rc == 0, err
    assert lake.scalar("SELECT count(*) FROM t") == "351"
    for i in range(3):
        lake.sql(f"INSERT INTO t VALUES ({50000 + i}, 2)")
    held = Held(lake, tmp_path / "h2", "optimize-commit", "optimize", "t")
    lake.sql("DELETE FROM t WHERE id = 50000")
    rc, out, err = held.release()
    assert rc == 1 and "a concurrent commit removed a file this one read" in err and "OPTIMIZE" in err, err
    assert lake.scalar("SELECT count(*) FROM t") == "353"
    assert lake.scalar("SELECT count(*) FROM t WHERE id = 50000") == "0"


@pytest.mark.parametrize("point", ["write-staged", "write-moving", "optimize-commit"])
def test_killed_optimize(lake, tmp_path, point):
    small_files(lake, dv=True)
    before = rows(lake)
    Held(lake, tmp_path / "h", point, "optimize", "t").kill()
    assert rows(lake) == before
    lake.sql("INSERT INTO t VALUES (77777, 1)")  # sweeps what the killed one left
    assert unreferenced(lake.table("t")) == set()


Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def dv_file(z85):
    """The file a deletion vector of storage type u names (Delta protocol)."""
    raw = b""
    for i in range(0, 20, 5):
        v = 0
        for ch in z85[-20:][i:i + 5]:
            v = v * 85 + Z85.index(ch)
        raw += v.to_bytes(4, "big")
    h = raw.hex()
    return f"deletion_vector_{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}.bin"


def unreferenced(table):
    """Files in the table's directory that no commit names."""
    named = set()
    for p in (table / "_delta_log").glob("*.json"):
        for line in p.read_text().splitlines():
            a = json.loads(line)
            f = a.get("add") or a.get("remove")
            if f:
                named.add(f["path"])
                dv = f.get("deletionVector")
                if dv and dv["storageType"] == "u":
                    named.add(dv_file(dv["pathOrInlineDv"]))
    return {f.name for f in table.iterdir() if f.is_file()} - named


def age(paths, seconds):
    t = time.time() - seconds
    for p in paths:
        os.utime(p, (t, t))


def test_vacuum_keeps_what_versions_in_the_window_need(lake):
    lake.sql("CREATE TABLE t AS SELECT i AS id, i % 10 AS k FROM range(10) r(i)")   # v0: file A
    lake.sql("DELETE FROM t WHERE id < 5")                                          # v1: A -> B
    lake.sql("UPDATE t SET k = 0")                                                  # v2: B -> C
    table = lake.table("t")
    data = sorted(table.glob("part-*.parquet"))
    assert len(data) == 3
    age(data, 30 * DAY)  # every data file old; the commits are recent
    p = lake.sql("VACUUM t DRY RUN", "-f", "csv")
    assert p.stdout.split() == ["path,size"]  # v1 and v2 are inside the window: A and B stay
    log = sorted((table / "_delta_log").glob("*.json"))
    age(log[:2], 10 * DAY)  # v0 and v1 left the window; v2 (which removed B) is inside it
    p = lake.run("vacuum", "t", "--dry-run", "-f", "csv")
    doomed = [line.split(",")[0] for line in p.stdout.split()[1:]]
    assert len(doomed) == 1  # A: removed by v1, which is outside the window
    p = lake.run("vacuum", "t")
    assert "1 files" in p.stderr
    assert lake.csv("SELECT id, k FROM \"t@v1\" ORDER BY id")[0] == ["5", "5"]  # B still there
    p = lake.sql('SELECT sum(id) FROM "t@v0"', check=False)
    assert p.returncode == 1  # its file is gone, as the user asked
    assert rows(lake) == [[str(i), "0"] for i in range(5, 10)]


def test_vacuum_refusals_and_force(lake):
    lake.sql("CREATE TABLE t AS SELECT i AS id, i % 10 AS k FROM range(10) r(i)")
    lake.sql("DELETE FROM t WHERE id < 5")
    for q, words in (("VACUUM t RETAIN 1 HOURS", "shorter than the table's delta.deletedFileRetentionDuration"),
                     ("VACUUM t RETAIN x HOURS", "RETAIN <number> HOURS"), ("VACUUM t NOW", "unexpected")):
        p = lake.sql(q, check=False)
        assert p.returncode == 1 and words in p.stderr, (q, p.stderr)
    p = lake.run("vacuum", "t", "--retain", "soon", check=False)
    assert p.returncode == 2 and "--retain" in p.stderr
    age(sorted(lake.table("t").glob("part-*.parquet")), 60)  # written before the VACUUM, whatever the clock
    p = lake.sql("VACUUM t RETAIN 0 HOURS FORCE")
    assert "1 files" in p.stderr
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.deletedFileRetentionDuration' = 'interval 1 hours')")
    assert "0 files" in lake.run("vacuum", "t", "--retain", "1h").stderr
    lake.sql("VACUUM")  # the engine's own VACUUM, for what is not a lake table


def test_restore(lake, spark):
    lake.sql("CREATE TABLE t AS SELECT i AS id, i % 10 AS k FROM range(10) r(i)")
    lake.sql("DELETE FROM t WHERE id < 3")
    lake.sql("INSERT INTO t VALUES (100, 1)")
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('owner' = 'me')")
    v1 = rows(lake, "t@v1")
    p = lake.run("restore", "t", "--to-version", "1")
    assert "restored t to version 1 as version 4" in p.stderr
    assert rows(lake) == v1
    info = last_commit(lake)[0]["commitInfo"]
    assert info["operation"] == "RESTORE" and info["operationParameters"] == {"version": "1"}
    assert DeltaTable(str(lake.table("t"))).metadata().configuration == {}
    got = sorted([r["id"], r["k"]] for r in spark.read.format("delta").load(str(lake.table("t"))).collect())
    assert got == sorted([int(a), int(b)] for a, b in v1)
    assert spark.sql(f"DESCRIBE HISTORY delta.`{lake.table('t')}`").collect()[0]["operation"] == "RESTORE"
    for q, words in (("RESTORE t TO VERSION AS OF 4", "at version 4 already"),
                     ("RESTORE t TO VERSION AS OF 99", "no such version"),
                     ("RESTORE t TO VERSION AS OF 'x'", "version number"),
                     ("RESTORE t TO TIMESTAMP AS OF 'yesterday'", "quoted timestamp")):
        p = lake.sql(q, check=False)
        assert p.returncode == 1 and words in p.stderr, (q, p.stderr)
    p = lake.run("restore", "t", check=False)
    assert p.returncode == 2 and "--to-version" in p.stderr
    lake.sql("VACUUM t RETAIN 0 HOURS FORCE")
    p = lake.sql("RESTORE t TO VERSION AS OF 0", check=False)
    assert p.returncode == 1 and "is gone" in p.stderr
    assert rows(lake) == v1


def test_auto_compaction(lake):
    """delta.autoOptimize.autoCompact (off by default): the write that leaves 50 small
    files behind compacts them in a commit of its own."""
    lake.sql("CREATE TABLE t (id BIGINT, k BIGINT)")
    lake.sql(";".join(f"INSERT INTO t VALUES ({i}, {i % 3})" for i in range(60)))
    assert len(list(lake.table("t").glob("part-*.parquet"))) == 60  # off: nothing happens
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.autoOptimize.autoCompact' = 'true')")
    lake.sql("INSERT INTO t VALUES (100, 1)")
    info = last_commit(lake)[0]["commitInfo"]
    assert info["operation"] == "OPTIMIZE"
    assert lake.scalar("SELECT count(*) FROM t") == "61"
    p = lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.autoOptimize.autoCompact' = 'often')", check=False)
    assert p.returncode == 1 and "true or false" in p.stderr


def test_auto_compaction_by_deleted_rows(lake):
    """With deletion vectors, the threshold is the share of rows they hide (5%), not the
    number of files carrying one: a stray deleted row per file rewrites nothing, a
    DELETE of a tenth of the table purges it."""
    lake.sql("CREATE TABLE t AS SELECT range AS id, range % 7 AS k FROM range(1000)")
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true', "
             "'delta.autoOptimize.autoCompact' = 'true', 'delta.targetFileSize' = '1048576')")
    for i in range(40):
        lake.sql(f"DELETE FROM t WHERE id = {i * 25}")  # 4% of the rows
        assert last_commit(lake)[0]["commitInfo"]["operation"] == "DELETE"
    lake.sql("DELETE FROM t WHERE id % 25 = 1 AND id < 400")  # 16 more: 5.6%
    info = last_commit(lake)[0]["commitInfo"]
    assert info["operation"] == "OPTIMIZE", info
    assert lake.scalar("SELECT count(*) FROM t") == "944"
    assert not any("deletionVector" in a.get("add", {}) for a in last_commit(lake))


def test_rewrites_keep_what_was_ingested(lake, tmp_path):
    """A file ingested once stays known (its bytes are skipped when ingested again)
    after DELETE, UPDATE and OPTIMIZE rewrote the rows it brought."""
    f = tmp_path / "in.csv"
    f.write_text("id,k\n" + "".join(f"{i},{i % 4}\n" for i in range(20)))
    lake.run("ingest", "t", str(f))
    lake.run("ingest", "t", str(tmp_path / "in.csv"), "--force")
    lake.sql("DELETE FROM t WHERE id < 3")
    lake.sql("UPDATE t SET k = 9 WHERE id = 5")
    lake.sql("OPTIMIZE t")
    p = lake.run("ingest", "t", str(f))
    assert "already ingested" in p.stdout, p.stdout
    assert lake.scalar("SELECT count(*) FROM t") == "34"


def test_killed_vacuum_leaves_a_readable_table(lake, tmp_path):
    lake.sql("CREATE TABLE t AS SELECT i AS id, i % 10 AS k FROM range(10) r(i)")
    for i in range(3):
        lake.sql(f"DELETE FROM t WHERE id = {i}")
    age(sorted(lake.table("t").glob("part-*.parquet")), 60)  # candidates, whatever the clock
    held = Held(lake, tmp_path / "h", "vacuum-delete", "vacuum", "t", "--retain", "0h", "--force")
    held.kill()
    assert rows(lake) == [[str(i), str(i % 10)] for i in range(3, 10)]
    p = lake.run("vacuum", "t", "--retain", "0h", "--force")  # finishes the job
    assert "deleted" in p.stderr
    assert rows(lake) == [[str(i), str(i % 10)] for i in range(3, 10)]
    assert unreferenced(lake.table("t")) <= set(p.name for p in lake.table("t").iterdir())


def test_restore_then_checkpoint_keeps_the_restored_files(lake):
    """RESTORE re-adds a file an earlier version removed: the next checkpoint holds its
    add and not the old remove, or readers would see the file removed (third pass of
    issue 10's review)."""
    lake.sql("CREATE TABLE t AS SELECT range AS id, range % 3 AS k FROM range(10)")
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.checkpointInterval' = '4')")
    lake.sql("TRUNCATE t")
    lake.sql("RESTORE t TO VERSION AS OF 1")
    lake.sql("INSERT INTO t VALUES (100, 1)")  # version 4: a checkpoint
    assert (lake.table("t") / "_delta_log" / "00000000000000000004.checkpoint.parquet").exists()
    assert lake.run("sql", "SELECT count(*) FROM t", "-f", "csv",
                    env={"LOCH_NO_METADATA_ANSWERS": "1"}).stdout.split()[-1] == "11"
    assert lake.scalar("SELECT count(*) FROM t") == "11"
    assert DeltaTable(str(lake.table("t"))).to_pyarrow_table().num_rows == 11


@pytest.mark.parametrize("point,writer", [
    ("dml-commit", "DELETE FROM t WHERE id < 3"),
    ("dml-commit", "UPDATE t SET k = 99 WHERE id = 5"),
    ("commit", "INSERT INTO t VALUES (500, 5)"),
    ("optimize-commit", "OPTIMIZE t"),
])
@pytest.mark.parametrize("dv", [False, True])
def test_vacuum_spares_files_a_writer_is_about_to_commit(lake, tmp_path, point, writer, dv):
    """VACUUM with no retention at all, while a writer has its new files in the table
    but has not committed yet: the write intents keep them (third pass of the review)."""
    small_files(lake, n=3, dv=dv)
    if dv:
        lake.sql("DELETE FROM t WHERE id = 1")
    held = Held(lake, tmp_path / "h", point, "sql", writer)
    lake.sql("VACUUM t RETAIN 0 HOURS FORCE")
    rc, out, err = held.release()
    assert rc == 0, err
    p = lake.run("sql", "SELECT count(*), sum(id) FROM t", "-f", "csv", env={"LOCH_NO_METADATA_ANSWERS": "1"})
    assert p.returncode == 0 and len(p.stdout.split()) == 2, p.stderr


def test_vacuum_waits_for_a_restore(lake, tmp_path):
    """RESTORE checks that the old files exist and then commits them; a VACUUM between
    the two waits (the restore holds the table), so what it restored is never deleted."""
    import subprocess
    from conftest import LOCH
    lake.sql("CREATE TABLE t AS SELECT i AS id, i % 10 AS k FROM range(10) r(i)")
    lake.sql("TRUNCATE t")
    table = lake.table("t")
    age(sorted(table.glob("part-*.parquet")), 30 * DAY)
    age(sorted((table / "_delta_log").glob("*.json")), 30 * DAY)
    held = Held(lake, tmp_path / "h", "restore-commit", "restore", "t", "--to-version", "0")
    vac = subprocess.Popen([LOCH, "vacuum", "t"], env=dict(os.environ, LOCH_LAKE=str(lake.path)),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rc, out, err = held.release()
    assert rc == 0, err
    vout, verr = vac.communicate(timeout=300)
    assert vac.returncode == 0, verr
    assert rows(lake) == [[str(i), str(i % 10)] for i in range(10)]


def test_vacuum_refuses_tables_with_absolute_paths(lake):
    lake.sql("CREATE TABLE t AS SELECT 1 AS id, 1 AS k")
    log = lake.table("t") / "_delta_log" / "00000000000000000000.json"
    text = log.read_text()
    name = next(p.name for p in lake.table("t").glob("part-*.parquet"))
    log.write_text(text.replace(f'"path":"{name}"', f'"path":"file://{lake.table("t")}/{name}"'))
    p = lake.sql("VACUUM t RETAIN 0 HOURS FORCE", check=False)
    assert p.returncode == 1 and "absolute path" in p.stderr
    assert (lake.table("t") / name).exists()


def test_optimize_in_a_sandboxed_engine(lake):
    """The server's engine is sandboxed, its settings locked: OPTIMIZE (and automatic
    compaction) through POST /v1/sql and `loch --sandbox` compacts as the CLI does
    (they failed on a setting OPTIMIZE changed; issue 10's third pass)."""
    from test_server import Server
    lake.sql("CREATE TABLE t (id BIGINT); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)")
    s = Server(lake)
    try:
        out = s.json("POST", "/v1/sql", {"sql": "OPTIMIZE t"})
        assert "rewritten as 1" in json.dumps(out), out
        lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.autoOptimize.autoCompact' = 'true')")
        for i in range(50):
            s.json("POST", "/v1/sql", {"sql": f"INSERT INTO t VALUES ({i})"})
    finally:
        s.stop()
    ops = [json.loads(l)["commitInfo"]["operation"] for f in sorted((lake.table("t") / "_delta_log").glob("*.json"))
           for l in f.read_text().splitlines() if "commitInfo" in l]
    assert ops.count("OPTIMIZE") == 2, ops
    lake.sql("INSERT INTO t VALUES (7); INSERT INTO t VALUES (8)")
    p = lake.run("--sandbox", "sql", "OPTIMIZE t")
    assert "rewritten as 1" in p.stderr + p.stdout
    assert lake.scalar("SELECT count(*) FROM t") == "54"


def test_cli_flag_messages(lake):
    """Third pass of issue 10: the messages name the bad value as given."""
    lake.sql("CREATE TABLE t AS SELECT 1 AS id")
    for args, words in ((["optimize", "t", "--target-size", "0"], 'target size "0": give bytes'),
                        (["vacuum", "t", "--retain", "1e9h"], 'at most 10000000 hours, not "1e9h"'),
                        (["restore", "t", "--to-timestamp", "2026-01-01T00:00:00+99:00"], "timestamp")):
        p = lake.run(*args, check=False)
        assert p.returncode != 0 and words in p.stderr, (args, p.stderr)
