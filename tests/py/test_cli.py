"""The `loch` command as a user meets it: the core issue's walk-through, output
formats, errors, time travel, the sandbox."""
import json
import subprocess
import time

import pyarrow.parquet as pq

from conftest import LOCH


def test_walkthrough(lake, tmp_path):
    lake.sql("CREATE TABLE trips (id BIGINT, city VARCHAR, fare DOUBLE)")
    lake.sql("INSERT INTO trips VALUES (1,'Oslo',12.5),(2,'Lima',7.0)")
    lake.sql("CREATE TABLE big AS SELECT range AS id, range % 97 AS k FROM range(1000000)")
    assert lake.csv("SELECT city, sum(fare) FROM trips GROUP BY city ORDER BY city") == [["Lima", "7.0"], ["Oslo", "12.5"]]
    out = tmp_path / "k3.parquet"
    lake.sql("SELECT * FROM big WHERE k = 3", "-f", "parquet", "-o", str(out))
    t = pq.read_table(out)
    assert t.num_rows == len([i for i in range(1000000) if i % 97 == 3])
    p = lake.run("sql", "-f", "csv", input="SELECT count(*) FROM big")
    assert p.stdout.splitlines()[1] == "1000000"
    assert lake.scalar('SELECT count(*) FROM "trips@v1"') == "2"
    assert lake.scalar('SELECT count(*) FROM "trips@v0"') == "0"
    tables = lake.run("tables", "-f", "csv").stdout
    assert "trips,1,1,2," in tables and "big,0,1,1000000," in tables
    desc = lake.run("describe", "trips", "-f", "csv").stdout
    assert "id,long,BIGINT,true,false" in desc and "city,string,VARCHAR" in desc
    hist = lake.run("history", "trips", "-f", "json").stdout
    rows = json.loads(hist)
    assert [r["version"] for r in rows] == [1, 0]
    assert rows[0]["operation"] == "WRITE" and rows[1]["operation"] == "CREATE TABLE"
    lake.sql("DROP TABLE trips")
    assert not lake.table("trips").exists()
    p = lake.sql("SELECT * FROM trips", check=False)
    assert p.returncode == 1 and "trips" in p.stderr


def test_output_formats(lake):
    lake.sql("CREATE TABLE t AS SELECT 1 AS a, 'x,y' AS b, NULL::VARCHAR AS c, true AS d")
    assert lake.sql("SELECT * FROM t", "-f", "csv").stdout == 'a,b,c,d\n1,"x,y",,true\n'
    assert json.loads(lake.sql("SELECT * FROM t", "-f", "json").stdout) == [{"a": 1, "b": "x,y", "c": None, "d": True}]
    assert json.loads(lake.sql("SELECT * FROM t", "-f", "ndjson").stdout) == {"a": 1, "b": "x,y", "c": None, "d": True}
    nested = lake.sql("SELECT [1, 2] AS l, {'k': 'v'} AS s, MAP {'a': 1} AS m, 1 AS l", "-f", "json").stdout
    # both columns named l are kept, in order (a JSON parser keeps the last)
    assert nested.strip() == '[{"l":[1,2],"s":{"k":"v"},"m":{"a":1},"l":1}]'
    md = lake.sql("SELECT a, b FROM t", "-f", "markdown").stdout
    assert md.splitlines()[0] == "| a | b |" and md.splitlines()[2] == "| 1 | x,y |"
    box = lake.sql("SELECT a, b FROM t").stdout
    assert "┌" in box and "│ integer │ varchar │" in box


def test_time_travel_by_timestamp(lake):
    import os
    lake.sql("CREATE TABLE t (x INTEGER)")
    lake.sql("INSERT INTO t VALUES (1)")
    # A commit's time is its file's time (no in-commit timestamps): set them, not sleep.
    log = lake.table("t") / "_delta_log"
    t0 = 1_700_000_000
    os.utime(log / f"{0:020d}.json", (t0, t0))
    os.utime(log / f"{1:020d}.json", (t0 + 60, t0 + 60))
    at = lambda s: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))
    assert lake.scalar(f'SELECT count(*) FROM "t@{at(t0 + 30)}"') == "0"
    assert lake.scalar(f'SELECT count(*) FROM "t@{at(t0)}"') == "0"
    assert lake.scalar(f'SELECT count(*) FROM "t@{at(t0 + 60)}"') == "1"
    assert lake.scalar(f'SELECT count(*) FROM "t@{at(t0 + 3600)}"') == "1"
    p = lake.sql('SELECT * FROM "t@2001-01-01T00:00:00Z"', check=False)
    assert p.returncode == 1 and "no version at or before" in p.stderr
    p = lake.sql('SELECT * FROM "t@v9"', check=False)
    assert p.returncode == 1 and "no version 9" in p.stderr


def test_double_dash_ends_the_options(lake, tmp_path):
    """A file whose name starts with '-' is named after "--", as with any getopt tool."""
    (tmp_path / "-lead.csv").write_text("a\n1\n")
    p = subprocess.run([LOCH, "--lake", str(lake.path), "ingest", "t", "-lead.csv"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert p.returncode == 2 and "unknown option" in p.stderr
    p = subprocess.run([LOCH, "--lake", str(lake.path), "ingest", "--", "t", "-lead.csv"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert p.returncode == 0 and "1 rows from 1 file" in p.stdout, p.stderr


def test_errors_are_clear(lake):
    p = lake.sql("SELEC 1", check=False)
    assert p.returncode == 1 and p.stderr.startswith("Error:") and "syntax error" in p.stderr
    lake.sql("CREATE TABLE t (x INTEGER)")
    p = lake.sql("CREATE TABLE t (x INTEGER)", check=False)
    assert p.returncode == 1 and "already exists" in p.stderr
    lake.sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    p = lake.sql("ALTER TABLE t ADD COLUMN y INTEGER", check=False)
    assert p.returncode == 1 and "not supported yet" in p.stderr
    p = lake.sql("INSERT INTO nope VALUES (1)", check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr
    p = lake.run("frobnicate", check=False)
    assert p.returncode == 2 and "unknown command" in p.stderr
    p = lake.sql("CREATE TABLE h AS SELECT 1::UHUGEINT AS u", check=False)
    assert p.returncode == 1 and "cannot be stored" in p.stderr


def test_type_mapping(lake):
    lake.sql("""CREATE TABLE t AS SELECT 1::TINYINT a, 2::SMALLINT b, 3::UINTEGER c, 4::UBIGINT d,
                5::HUGEINT e, 1.5::DECIMAL(10,2) f, DATE '2024-01-02' g, TIMESTAMP '2024-01-02 03:04:05' h,
                TIMESTAMPTZ '2024-01-02 03:04:05+00' i, TIME '01:02:03' j, uuid() k, [1,2] l,
                {'x': 1, 'y': 'z'} m, MAP {'k': 1} n, 'bytes'::BLOB o, INTERVAL 1 DAY p""")
    desc = {r["column"]: r["type"] for r in json.loads(lake.run("describe", "t", "-f", "json").stdout)}
    assert desc == {"a": "byte", "b": "short", "c": "long", "d": "decimal(20,0)", "e": "decimal(38,0)",
                    "f": "decimal(10,2)", "g": "date", "h": "timestamp_ntz", "i": "timestamp", "j": "string",
                    "k": "string", "o": "binary", "p": "string",
                    "l": '{"type":"array","elementType":"integer","containsNull":true}',
                    "m": '{"type":"struct","fields":[{"name":"x","type":"integer","nullable":true,"metadata":{}},'
                         '{"name":"y","type":"string","nullable":true,"metadata":{}}]}',
                    "n": '{"type":"map","keyType":"string","valueType":"integer","valueContainsNull":true}'}
    log = (lake.table("t") / "_delta_log" / "00000000000000000000.json").read_text()
    assert '"readerFeatures":["timestampNtz"]' in log  # TIMESTAMP needs protocol (3,7)
    assert lake.csv("SELECT c, d, e, f, g FROM t") == [["3", "4", "5", "1.50", "2024-01-02"]]


def test_sandbox(lake, tmp_path):
    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n1,2\n")
    assert lake.scalar(f"SELECT count(*) FROM '{csv}'") == "1"
    p = lake.run("--sandbox", "sql", "SELECT * FROM read_csv('/etc/passwd')", check=False)
    assert p.returncode == 1 and "Permission" in p.stderr
    for q in ["SET enable_external_access=true", "SET lock_configuration=false", "RESET lock_configuration"]:
        p = lake.run("--sandbox", "sql", q, check=False)
        assert p.returncode == 1 and "SET statements are not allowed in a sandboxed lake" in p.stderr, p.stderr
    lake.sql("CREATE TABLE t AS SELECT 42 AS x")
    assert lake.run("--sandbox", "sql", "SELECT x FROM t", "-f", "csv").stdout.splitlines()[1] == "42"
    lake.run("--sandbox", "sql", "INSERT INTO t VALUES (43)")
    p = lake.run("--sandbox", "sql", f"COPY t TO '{tmp_path}/out.csv'", check=False)
    assert p.returncode == 1 and "COPY statements are not allowed in a sandboxed lake" in p.stderr
    assert not (tmp_path / "out.csv").exists()


def test_memory_and_threads_settings(lake):
    out = lake.run("--memory-limit", "512MB", "--threads", "1", "sql",
                   "SELECT current_setting('threads'), current_setting('memory_limit')", "-f", "csv").stdout
    threads, mem = out.splitlines()[1].split(",")
    assert threads == "1" and mem.startswith("488")  # 512 MB as DuckDB reports it (MiB)


def test_multi_statement_and_pinning(lake):
    lake.sql("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);")
    assert lake.scalar("SELECT sum(x) FROM t") == "3"
    # both references in one statement see the same snapshot
    assert lake.scalar("SELECT (SELECT count(*) FROM t) + (SELECT count(*) FROM t)") == "4"


def test_pushdown_reaches_parquet(lake):
    lake.sql("CREATE TABLE big AS SELECT range AS id, range % 7 AS k FROM range(100000)")
    plan = lake.sql("EXPLAIN SELECT id FROM big WHERE id > 99990", "-f", "csv").stdout
    assert "READ_PARQUET" in plan
    assert "Filters:" in plan and "id>99990" in plan.replace(" ", "")
    # projection: a query of one column reads one column (k is filtered, not projected)
    plan = lake.sql("EXPLAIN SELECT id FROM big WHERE k = 3", "-f", "csv").stdout
    assert "Projections: id " in plan and "Filters: k=3" in plan
    assert plan.count("READ_PARQUET") == 2  # one scan operator (name and function lines), no union left
    # and the answer matches DuckDB reading the file itself
    f = next(lake.table("big").glob("*.parquet"))
    assert lake.scalar("SELECT sum(id) FROM big WHERE k = 3") == lake.scalar(f"SELECT sum(id) FROM '{f}' WHERE k = 3")


def test_ctrl_c_cancels_a_query(lake):
    import os, signal, subprocess, time
    from conftest import LOCH
    from conftest import Held
    w = Held(lake, lake.path.parent / "hold", "sql", "sql",
             "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3")
    (w.dir / "sql.go").touch()  # its Ctrl-C handler is in place: let the query start
    # An interrupt that lands before the engine starts the query is lost (as a user's
    # first Ctrl-C would be): press again until it stops, as a user would.
    for _ in range(3000):
        w.proc.send_signal(signal.SIGINT)
        try:
            out, err = w.proc.communicate(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            pass
    assert w.proc.returncode == 1 and "Interrupt" in err, err


def test_not_null_and_refused_constraints(lake):
    lake.sql("CREATE TABLE n (a INTEGER NOT NULL, b VARCHAR)")
    p = lake.sql("INSERT INTO n VALUES (NULL, 'x')", check=False)
    assert p.returncode == 1 and "NOT NULL constraint failed: n.a" in p.stderr
    lake.sql("INSERT INTO n VALUES (1, NULL)")
    desc = {r["column"]: r["nullable"] for r in json.loads(lake.run("describe", "n", "-f", "json").stdout)}
    assert desc == {"a": False, "b": True}
    for ddl, what in [("CREATE TABLE p (a INT DEFAULT 1)", "DEFAULT"),
                      ("CREATE TABLE p (a INT CHECK (a > 0))", "CHECK"), ("CREATE TABLE p (a INT UNIQUE)", "UNIQUE")]:
        p = lake.sql(ddl, check=False)
        assert p.returncode == 1 and what in p.stderr and "not supported yet" in p.stderr, ddl
    assert not lake.table("p").exists()


def test_table_properties(lake):
    from deltalake import DeltaTable
    lake.sql("CREATE TABLE t (i INTEGER)")
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.checkpointInterval' = '5', 'owner' = 'it''s me')")
    lake.sql(";".join(f"INSERT INTO t VALUES ({i})" for i in range(4)))
    assert (lake.table("t") / "_delta_log" / "00000000000000000005.checkpoint.parquet").exists()
    # a checkpoint replaces _last_checkpoint: Hadoop's checksum of the old one (Spark
    # writes them) goes too, or Spark calls the new one corrupt
    crc = lake.table("t") / "_delta_log" / "._last_checkpoint.crc"
    crc.write_bytes(b"crc\0stale")
    lake.sql(";".join(f"INSERT INTO t VALUES ({i})" for i in range(5)))
    assert (lake.table("t") / "_delta_log" / "00000000000000000010.checkpoint.parquet").exists()
    assert not crc.exists()
    cfg = DeltaTable(str(lake.table("t"))).metadata().configuration
    assert cfg == {"delta.checkpointInterval": "5", "owner": "it's me"}
    assert json.loads(lake.run("history", "t", "-f", "json").stdout)[-2]["operation"] == "SET TBLPROPERTIES"
    for bad, msg in [("'delta.checkpointInterval' = '0'", "whole number from 1"), ("'delta.columnMapping.mode' = 'name'",
                     "not supported"), ("'delta.enableDeletionVectors' = 'yes'", "true or false"), ("'delta.logRetentionDuration' = '3 days'", "interval 30 days")]:
        p = lake.sql(f"ALTER TABLE t SET TBLPROPERTIES ({bad})", check=False)
        assert p.returncode == 1 and msg in p.stderr, bad
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.appendOnly' = 'true')")
    p = lake.sql("CREATE OR REPLACE TABLE t AS SELECT 1 AS i", check=False)
    assert p.returncode == 1 and "append-only" in p.stderr
    lake.sql("INSERT INTO t VALUES (9)")


def test_large_writes_split_into_target_size_files(lake):
    from deltalake import DeltaTable
    lake.sql("CREATE TABLE t (id BIGINT, h VARCHAR)")
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.targetFileSize' = '1048576')")
    lake.sql("INSERT INTO t SELECT range, md5(range::VARCHAR) FROM range(300000)")
    files = list(lake.table("t").glob("part-*.parquet"))
    assert len(files) >= 2  # the engine splits at row-group boundaries (122,880 rows here)
    assert not list(lake.table("t").glob(".tmp-*"))
    assert lake.csv("SELECT count(*), count(DISTINCT id), sum(id) FROM t WHERE true") == [
        ["300000", "300000", str(sum(range(300000)))]]
    assert DeltaTable(str(lake.table("t"))).to_pyarrow_table().num_rows == 300000


def test_every_type_prints(lake):
    """BIGNUM and BIT once printed as empty cells in the box and in CSV; zoned times
    keep their offset."""
    out = lake.sql("SELECT '123456789012345678901234567890'::BIGNUM AS v, '0101'::BIT AS b, "
                   "TIMETZ '12:00:00+05' AS z", "-f", "csv").stdout.splitlines()
    assert out == ["v,b,z", "123456789012345678901234567890,0101,12:00:00+05"], out
    box = lake.sql("SELECT '0101'::BIT AS b").stdout
    assert "0101" in box and "bit" in box
