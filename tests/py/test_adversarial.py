"""What adversarial testing broke (issue 8), each as a test that failed before its fix.

A lake is trusted with data first: no client, racing writer or killed process may damage
a table, and no HTTP client may change what another one reads. Each test names the
defect it guards against; orderings and kill points are set by the test (hooks that
block at a named point, pipes it releases), never by sleeping."""
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from conftest import LOCH, Held
from test_server import Server, error_of, server  # noqa: F401 (a fixture)


def parquet_digest(table: Path):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(table.glob("*.parquet"))}


def lake_files(lake):
    return sorted(str(p.relative_to(lake.path)) for p in lake.path.rglob("*") if "_loch" not in p.parts)


# ---- 1. SQL can write inside the lake ---------------------------------------------------

WRITERS = [
    "COPY (SELECT 42 AS id) TO '{part}' (FORMAT parquet)",
    "COPY (SELECT 1) TO '{lake}/t/_delta_log/00000000000000000099.json'",
    "ATTACH '{lake}/x.duckdb' AS x",
    "EXPORT DATABASE '{lake}/exp'",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{lake}/t/y.csv'",
    "EXPLAIN (ANALYZE) COPY (SELECT 1) TO '{lake}/t/y.csv'",
    "CREATE TABLE u AS SELECT 1) TO '{lake}/t/z.parquet' (FORMAT parquet); --",
]


def test_sandboxed_sql_never_writes_in_the_lake(lake):
    lake.sql("CREATE TABLE t AS SELECT range AS id FROM range(1000)")
    part = next(lake.table("t").glob("*.parquet"))
    before, files = parquet_digest(lake.table("t")), lake_files(lake)
    for q in WRITERS:
        p = lake.run("--sandbox", "sql", q.format(part=part, lake=lake.path), check=False)
        assert p.returncode != 0, q
        assert "not allowed in a sandboxed lake" in p.stderr or "syntax error" in p.stderr, (q, p.stderr)
    assert parquet_digest(lake.table("t")) == before
    assert lake_files(lake) == files
    assert lake.run("--sandbox", "sql", "SELECT count(*), sum(id) FROM t", "-f", "csv").stdout.split() == \
        ["count_star(),sum(id)", "1000,499500"]
    assert DeltaTable(str(lake.table("t"))).to_pyarrow_table().num_rows == 1000


def test_sandboxed_lake_still_runs_queries_and_table_commands(lake):
    sb = lambda q: lake.run("--sandbox", "sql", q, "-f", "csv").stdout.strip().splitlines()
    sb("CREATE TABLE t AS SELECT range AS id FROM range(10)")
    sb("INSERT INTO t SELECT 10")
    assert sb("SELECT count(*) FROM t")[1:] == ["11"]
    assert sb("FROM t ORDER BY id DESC LIMIT 1")[1:] == ["10"]
    assert sb("VALUES (1), (2)")[1:] == ["1", "2"]
    assert sb("WITH a AS (SELECT 5 AS x) SELECT x FROM a")[1:] == ["5"]
    assert sb("DESCRIBE t")[1].startswith("id,BIGINT")
    assert sb("EXPLAIN SELECT * FROM t")[0] == "explain_key,explain_value"
    assert sb("EXPLAIN ANALYZE SELECT * FROM t")[1].startswith("analyzed_plan,")
    assert sb('SELECT count(*) FROM "t@v0"')[1:] == ["10"]
    sb("DROP TABLE t")
    assert not lake.table("t").exists()


def test_statements_that_outlive_a_request_are_refused(lake):
    lake.sql("CREATE TABLE trips AS SELECT range AS id FROM range(100)")
    for q in ["CREATE MACRO read_parquet(x) AS TABLE SELECT 42 AS id",
              "CREATE TEMP MACRO read_json(x) AS TABLE SELECT 1 AS a",
              "CREATE VIEW trips AS SELECT 42 AS id", "CREATE TEMP TABLE scratch (a INT)",
              "BEGIN", "SET VARIABLE x = 1", "USE system", "SET threads = 1", "PRAGMA threads = 1",
              "LOAD json", "CALL pragma_version()", "CHECKPOINT", "DETACH memory"]:
        p = lake.run("--sandbox", "sql", q, check=False)
        assert p.returncode != 0 and "not allowed in a sandboxed lake" in p.stderr, (q, p.stderr)


def test_engine_state_does_not_pass_between_http_requests(lake):
    """Item 7: with one worker, nothing a request defines reaches the next one."""
    lake.sql("CREATE TABLE trips AS SELECT range AS id FROM range(1000)")
    s = Server(lake, "--workers", "1")
    try:
        for q in ["CREATE MACRO read_parquet(x) AS TABLE SELECT 42 AS id",
                  "CREATE MACRO read_json(x) AS TABLE SELECT 1 AS a",
                  "CREATE VIEW trips AS SELECT 42 AS id",
                  "BEGIN; SELECT error('x')", "SET VARIABLE x = 1", "USE system",
                  "SELECT 1; COPY (SELECT 1) TO 'x.csv'"]:
            status, code = error_of(s, "POST", "/v1/sql", {"sql": q})
            assert (status, code) == (403, "forbidden"), q
        doc = s.json("POST", "/v1/sql", {"sql": "SELECT count(*) AS n, sum(id) AS s FROM trips"})
        assert doc["rows"] == [[1000, 499500]]
        s.json("POST", "/v1/sql", {"sql": "CREATE TABLE copy AS SELECT * FROM trips"})
        assert s.json("POST", "/v1/sql", {"sql": "SELECT sum(id) AS s FROM copy"})["rows"] == [[499500]]
    finally:
        assert s.stop() == 0
    assert DeltaTable(str(lake.table("copy"))).to_pyarrow_table().num_rows == 1000


def test_generated_sql_ignores_a_users_macros(lake):
    """A trusted session may define macros; loch's own scans call the engine's functions."""
    lake.sql("CREATE TABLE t AS SELECT range AS id FROM range(100)")
    out = lake.sql("CREATE TEMP MACRO read_parquet(x) AS TABLE SELECT 42 AS id; "
                   "SELECT count(*), sum(id) FROM t", "-f", "csv").stdout.split()
    assert out == ["count_star(),sum(id)", "100,4950"]
    # The replacement scan's function cannot be named with its schema: a macro that
    # would shadow it is dropped again, and the statement that made it fails.
    p = lake.sql("CREATE TEMP MACRO query(x) AS TABLE SELECT 42 AS id; SELECT sum(id) FROM t", check=False)
    assert p.returncode == 1 and "a macro may not be named query" in p.stderr
    p = lake.sql("CREATE MACRO query(x) AS TABLE SELECT 42 AS id", check=False)
    assert p.returncode == 1 and "a macro may not be named query" in p.stderr
    assert lake.sql("CREATE TEMP MACRO pick(x) AS x + 1; SELECT pick(sum(id)) FROM t", "-f", "csv").stdout.split() == \
        ["pick(sum(id))", "4951"]


# ---- 2. a writer racing DROP TABLE (and DROP + CREATE) ----------------------------------

def test_insert_racing_drop_and_create_never_commits_into_the_new_table(lake, tmp_path):
    lake.sql("CREATE TABLE t (id BIGINT); INSERT INTO t VALUES (1)")
    held = Held(lake, tmp_path, "commit", "sql", "INSERT INTO t VALUES (2)")
    lake.sql("DROP TABLE t; CREATE TABLE t (name VARCHAR, flag BOOLEAN); INSERT INTO t VALUES ('a', true)")
    code, _, err = held.release()
    assert code == 1 and "was dropped and created again" in err, err
    assert lake.csv("SELECT name, flag FROM t") == [["a", "true"]]
    assert DeltaTable(str(lake.table("t"))).to_pyarrow_table().to_pylist() == [{"name": "a", "flag": True}]
    assert sorted(p.name for p in (lake.table("t") / "_delta_log").glob("*.json")) == \
        [f"{v:020d}.json" for v in (0, 1)]
    assert len(list(lake.table("t").glob("*.parquet"))) == 1  # the held insert's file is gone


def test_insert_racing_drop_never_recreates_the_table(lake, tmp_path):
    lake.sql("CREATE TABLE t (id BIGINT); CREATE TABLE other AS SELECT 1 AS x")
    held = Held(lake, tmp_path, "commit", "sql", "INSERT INTO t VALUES (2)")
    lake.sql("DROP TABLE t")
    code, _, err = held.release()
    assert code == 1 and "does not exist" in err, err
    assert not lake.table("t").exists()  # no directory re-created, no log begun
    names = [line.split(",")[0] for line in lake.run("tables", "-f", "csv").stdout.splitlines()[1:]]
    assert names == ["other"]


def test_drop_waits_for_a_commit_in_flight(lake, tmp_path):
    lake.sql("CREATE TABLE t (id BIGINT)")
    held = Held(lake, tmp_path, "commit-locked", "sql", "INSERT INTO t VALUES (2)")
    drop = subprocess.Popen([LOCH, "sql", "DROP TABLE t"], env=dict(os.environ, LOCH_LAKE=str(lake.path)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, out, err = held.release()
    assert code == 0 and "(version 1)" in out + err, err
    assert drop.wait(timeout=300) == 0
    assert not lake.table("t").exists()
    assert [p.name for p in lake.path.iterdir() if p.name.startswith(".dropped")] == []


def test_one_broken_table_does_not_hide_the_others(lake):
    lake.sql("CREATE TABLE good AS SELECT 1 AS x; CREATE TABLE bad AS SELECT 1 AS x")
    (lake.table("bad") / "_delta_log" / "00000000000000000000.json").write_text("{not json\n")
    p = lake.run("tables", "-f", "csv")
    assert p.returncode == 0 and "good," in p.stdout and "bad" in p.stderr, (p.stdout, p.stderr)


def test_tables_lists_only_what_sql_can_name(lake, tmp_path):
    """A copied-in Delta directory named `Upper` or `sp ace`, or a link to another lake's
    table, is not a table of this lake: `loch tables` says why instead of listing a
    name no statement can use (the adversarial pass of issue 8 found them listed)."""
    import shutil
    from conftest import Lake
    lake.sql("CREATE TABLE ok AS SELECT 1 AS x")
    for odd in ["Upper", "sp ace"]:
        shutil.copytree(lake.table("ok"), lake.path / odd)
    other = Lake(tmp_path / "other")
    other.run("init")
    other.sql("CREATE TABLE far AS SELECT 2 AS x")
    (lake.path / "linked").symlink_to(other.table("far"))
    p = lake.run("tables", "-f", "csv")
    assert [line.split(",")[0] for line in p.stdout.splitlines()[1:]] == ["ok"], p.stdout
    for odd in ["Upper", "sp ace"]:
        assert f"directory {odd} holds a Delta log but is not listed as a table: table name" in p.stderr, p.stderr


def test_columns_that_differ_only_in_unicode_case_are_refused(lake, tmp_path):
    """Spark matches column names without regard to case, Unicode's included, and
    refuses a table with both "É" and "é"; loch refuses to write one (CREATE, CREATE AS
    SELECT, ingest) and leaves no table behind. "Straße" and "STRASSE" stay distinct, as
    in Spark (lowercasing, not case folding)."""
    for q in ['CREATE TABLE u AS SELECT 1 AS "É", 2 AS "é"', 'CREATE TABLE u ("ΑΒ" INT, "αβ" INT)']:
        p = lake.sql(q, check=False)
        assert p.returncode == 1 and "differ only in case" in p.stderr, p.stderr
    f = tmp_path / "dup.csv"
    f.write_text("Ünï,ünÏ\n1,2\n")
    p = lake.run("ingest", "u", str(f), check=False)
    assert p.returncode == 1 and "differ only in case" in p.stderr, p.stderr
    assert not lake.table("u").exists()
    lake.sql('CREATE TABLE s ("Straße" INT, "STRASSE" INT)')


# ---- 4. DROP TABLE on a symlinked table -------------------------------------------------

def test_symlinked_table_is_refused_and_its_target_kept(lake, tmp_path):
    from conftest import Lake
    other = Lake(tmp_path / "other")
    other.run("init")
    other.sql("CREATE TABLE shared AS SELECT range AS id FROM range(10)")
    lake.sql("CREATE TABLE mine AS SELECT 1 AS x")
    (lake.path / "shared").symlink_to(other.table("shared"))
    before = sorted(p.name for p in other.table("shared").rglob("*"))
    for q in ["DROP TABLE shared", "DROP TABLE IF EXISTS shared", "SELECT * FROM shared",
              "INSERT INTO shared VALUES (1)", "CREATE OR REPLACE TABLE shared (id BIGINT)",
              "CREATE TABLE shared AS SELECT 1 AS id"]:
        p = lake.sql(q, check=False)
        assert p.returncode == 1 and "symbolic link" in p.stderr, (q, p.stderr)
    s = Server(lake)
    try:
        status, code = error_of(s, "DELETE", "/v1/tables/shared")
        assert (status, code) == (400, "invalid"), (status, code)
    finally:
        assert s.stop() == 0
    assert sorted(p.name for p in other.table("shared").rglob("*")) == before
    assert other.scalar("SELECT count(*) FROM shared") == "10"
    assert lake.scalar("SELECT x FROM mine") == "1"



def test_table_whose_log_is_a_symlink_is_refused_and_droppable(lake, tmp_path):
    """A directory of the lake whose _delta_log links to another table's log is not a
    table of this lake: `loch tables` (with --sandbox too) skips it with a warning
    saying why, reads and writes are refused by name, and DROP removes the directory
    and the link, never the log it points at (the adversarial pass found it listed
    with the other log's figures, and undroppable: "Not a directory")."""
    from conftest import Lake
    other = Lake(tmp_path / "other")
    other.run("init")
    other.sql("CREATE TABLE far AS SELECT range AS id FROM range(10)")
    lake.sql("CREATE TABLE ok AS SELECT 1 AS x")
    (lake.path / "evil").mkdir()
    (lake.path / "evil" / "_delta_log").symlink_to(other.table("far") / "_delta_log")
    before = sorted(p.name for p in other.table("far").rglob("*"))
    for args in (["tables", "-f", "csv"], ["tables", "--sandbox", "-f", "csv"]):
        p = lake.run(*args)
        assert [line.split(",")[0] for line in p.stdout.splitlines()[1:]] == ["ok"], p.stdout
        assert "directory evil holds a Delta log but is not listed as a table" in p.stderr, p.stderr
        assert "_delta_log that is a symbolic link" in p.stderr, p.stderr
    (tmp_path / "a.csv").write_text("id\n7\n")
    for args in (["sql", "SELECT * FROM evil"], ["sql", "INSERT INTO evil VALUES (1)"],
                 ["sql", "CREATE OR REPLACE TABLE evil (id BIGINT)"], ["describe", "evil"],
                 ["ingest", "evil", str(tmp_path / "a.csv")]):
        p = lake.run(*args, check=False)
        assert p.returncode == 1 and "_delta_log that is a symbolic link" in p.stderr, (args, p.stderr)
    assert sorted(p.name for p in other.table("far").rglob("*")) == before
    lake.sql("DROP TABLE evil")
    assert not (lake.path / "evil").exists() and not list(lake.path.glob(".dropped-*"))
    assert sorted(p.name for p in other.table("far").rglob("*")) == before
    assert other.scalar("SELECT count(*) FROM far") == "10"
    assert lake.scalar("SELECT x FROM ok") == "1"

# ---- 5. "same bytes is a no-op" under concurrency ---------------------------------------

def test_same_bytes_ingested_concurrently_go_in_once(lake, tmp_path):
    f = tmp_path / "big.csv"
    f.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(50_000)))
    lake.run("ingest", "dd4", str(tmp_path / "big.csv"), "--force")  # the table exists; these bytes are in it
    g = tmp_path / "other.csv"
    g.write_text("id,name\n" + "".join(f"{i},m{i}\n" for i in range(50_000, 90_000)))
    held = Held(lake, tmp_path / "h", "commit", "ingest", "dd4", str(g))
    s = Server(lake)
    try:
        doc = s.json("POST", "/v1/tables/dd4/ingest", g.read_bytes(), {"Content-Type": "text/csv"})
        assert doc["version"] == 1, doc
    finally:
        assert s.stop() == 0
    code, out, err = held.release()
    assert code == 0 and "already ingested" in out + err, (out, err)
    assert lake.csv("SELECT count(*), count(DISTINCT id) FROM dd4") == [["90000", "90000"]]
    assert DeltaTable(str(lake.table("dd4"))).to_pyarrow_table().num_rows == 90_000
    assert DeltaTable(str(lake.table("dd4"))).version() == 1
    assert len(list(lake.table("dd4").glob("*.parquet"))) == 2  # the loser's file is gone
    # again with another commit between the winner's and the loser's (the chaos test found
    # that a later commit without the bytes cleared the conflict the earlier one raised)
    h = tmp_path / "third.csv"
    h.write_text("id,name\n" + "".join(f"{i},t{i}\n" for i in range(90_000, 95_000)))
    held = Held(lake, tmp_path / "h2", "commit", "ingest", "dd4", str(h))
    lake.run("ingest", "dd4", str(h))
    lake.sql("INSERT INTO dd4 VALUES (-1, 'between')")
    code, out, err = held.release()
    assert code == 0 and "already ingested" in out + err, (out, err)
    assert lake.csv("SELECT count(*), count(DISTINCT id) FROM dd4") == [["95001", "95001"]]


# ---- 6. what killed processes leave behind ------------------------------------------------

def test_leftovers_of_killed_processes_are_removed_by_the_next_write(lake, tmp_path):
    import socket
    lake.sql("CREATE TABLE t (id BIGINT); CREATE TABLE gone AS SELECT 1 AS x")
    # a DROP killed between moving the table aside and deleting it
    Held(lake, tmp_path / "d", "drop-moved", "sql", "DROP TABLE gone").kill()
    assert [p.name for p in lake.path.iterdir() if p.name.startswith(".dropped-gone-")]
    # a checkpoint killed half-way leaves temp files in the log
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.checkpointInterval' = '1')")
    Held(lake, tmp_path / "c", "checkpoint", "sql", "INSERT INTO t VALUES (1)").kill()
    assert [p for p in (lake.table("t") / "_delta_log").iterdir() if p.name.startswith(".tmp-")]
    # a server killed while receiving an upload leaves its spool file
    s = Server(lake)
    sock = socket.create_connection((s.host, s.port))
    sock.sendall(b"POST /v1/tables/up/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
                 b"Content-Length: 10000000\r\n\r\nid\n" + b"1\n" * 100_000)
    spool = lake.path / "_loch" / "tmp"
    while not [p for p in spool.iterdir() if p.name.startswith("upload-")]:
        assert s.proc.poll() is None
        time.sleep(0.01)  # until the server has spooled what was sent
    s.proc.kill()
    s.proc.wait()
    sock.close()
    lake.sql("INSERT INTO t VALUES (2)")
    assert not [p for p in lake.path.iterdir() if p.name.startswith(".dropped-")]
    assert not [p for p in (lake.table("t") / "_delta_log").iterdir() if p.name.startswith(".tmp-")]
    assert not [p for p in spool.iterdir() if p.name.startswith("upload-")]
    assert lake.csv("SELECT id FROM t ORDER BY id") == [["1"], ["2"]]


# ---- 3. a multipart upload with two file parts ---------------------------------------------

def form(*parts, fields=()):
    boundary = "b0undary42"
    body = b""
    for name, data in parts:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    for k, v in fields:
        body += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
    return body + f"--{boundary}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_multipart_with_two_files_is_refused_not_joined(lake, tmp_path):
    s = Server(lake)
    try:
        body, headers = form(("a.csv", b"id,name\n1,x\n"), ("b.csv", b"id,name\n2,y\n"))
        status, _, data = s.req("POST", "/v1/tables/two/ingest", body, headers)
        err = json.loads(data)["error"]
        assert status == 400 and "one file per upload" in err["message"] and "2 file parts" in err["message"], data
        assert not lake.table("two").exists()
        # a form with no file part says so, and names no server path
        body, headers = form(fields=[("format", "csv")])
        status, _, data = s.req("POST", "/v1/tables/two/ingest", body, headers)
        assert status == 400 and "no file part" in json.loads(data)["error"]["message"], data
        assert "_loch" not in data.decode() and "upload-" not in data.decode()
        # one file part still works
        body, headers = form(("a.csv", b"id,name\n1,x\n"))
        assert s.json("POST", "/v1/tables/two/ingest", body, headers)["rows"] == 1
    finally:
        assert s.stop() == 0
    assert DeltaTable(str(lake.table("two"))).to_pyarrow_table().to_pylist() == [{"id": 1, "name": "x"}]


# ---- 10. an empty token file ----------------------------------------------------------------

@pytest.mark.parametrize("content", ["", "\n\n", "   \n \r\n"])
def test_empty_token_file_refuses_to_start(lake, tmp_path, content):
    f = tmp_path / "tokens"
    f.write_text(content)
    cfg = tmp_path / "loch.toml"
    cfg.write_text('tokens = ""\n')
    for flags in (["--token-file", str(f)], ["--config", str(cfg)]):
        s = Server(lake, *flags, expect_fail=True)
        try:
            out, err = s.proc.communicate(timeout=60)
        finally:
            s.proc.kill()  # a server that did start (the defect) must not outlive the test
            s.proc.wait()
        assert s.proc.returncode != 0 and "holds no token" in err, err


# ---- 11. /v1/status behind a long query -----------------------------------------------------

def test_status_and_tables_do_not_wait_for_a_busy_worker(lake):
    lake.sql("CREATE TABLE t AS SELECT 1 AS x")
    s = Server(lake, "--workers", "1")
    try:
        import threading
        started = threading.Event()
        result = {}

        def long_query():
            started.set()
            result["r"] = s.req("POST", "/v1/sql", {"sql": "SELECT count(*) FROM range(100000000000) a",
                                                    "query_id": "long"})
        t = threading.Thread(target=long_query)
        t.start()
        started.wait()
        while not any(q["query_id"] == "long" for q in s.json("GET", "/v1/queries")["queries"]):
            time.sleep(0.01)  # until the one worker is taken by the long query
        # answered while the only worker is busy (before this fix they waited for it)
        assert s.json("GET", "/v1/status")["queries_running"] == 1
        assert [x["name"] for x in s.json("GET", "/v1/tables")["tables"]] == ["t"]
        assert s.json("GET", "/v1/tables/t")["columns"][0]["column"] == "x"
        assert len(s.json("GET", "/v1/tables/t/history")["history"]) == 1
        assert any(q["query_id"] == "long" for q in s.json("GET", "/v1/queries")["queries"])
        s.req("DELETE", "/v1/queries/long")
        t.join(timeout=120)
        assert result["r"][0] == 499
    finally:
        assert s.stop() == 0


# ---- 12, 13. parameters: types, range, NUL -------------------------------------------------

def test_untyped_parameter_keeps_every_column(server):
    q = {"sql": "SELECT a, b, $1 AS p FROM (VALUES (1,2),(3,4)) t(a,b)", "params": ["z"]}
    doc = server.json("POST", "/v1/sql", q)
    assert [c["name"] for c in doc["columns"]] == ["a", "b", "p"] and doc["rows"] == [[1, 2, "z"], [3, 4, "z"]]
    _, _, nd = server.req("POST", "/v1/sql", {**q, "format": "ndjson"})
    assert [json.loads(l) for l in nd.decode().splitlines()] == [{"a": 1, "b": 2, "p": "z"}, {"a": 3, "b": 4, "p": "z"}]
    _, _, csv = server.req("POST", "/v1/sql", {**q, "format": "csv"})
    assert csv.decode().splitlines() == ["a,b,p", "1,2,z", "3,4,z"]


def test_parameters_are_exact_or_refused(server):
    big = {"sql": "SELECT $1::VARCHAR AS v", "params": [18446744073709551615]}
    assert server.json("POST", "/v1/sql", big)["rows"] == [["18446744073709551615"]]
    neg = {"sql": "SELECT $1 + 0 AS v", "params": [-170141183460469231731687303715884105728]}
    assert server.json("POST", "/v1/sql", neg)["rows"] == [[-170141183460469231731687303715884105728]]
    for p in [1701411834604692317316873037158841057280, -170141183460469231731687303715884105729]:
        status, body = server.req("POST", "/v1/sql", {"sql": "SELECT $1 AS v", "params": [p]})[0::2]
        assert status == 400 and b"out of range" in body, body
    status, _, body = server.req("POST", "/v1/sql", '{"sql": "SELECT $1 AS v", "params": [1e400]}',
                                 {"Content-Type": "application/json"})
    assert status == 400 and b"out of range" in body, body
    for doc in ['{"sql": "SELECT $1 AS v", "params": ["ab\\u0000cd"]}',
                '{"sql": "SELECT 1 AS v\\u0000; DROP TABLE t"}']:
        status, _, body = server.req("POST", "/v1/sql", doc, {"Content-Type": "application/json"})
        assert status == 400 and b"NUL" in body, body
    assert server.json("POST", "/v1/sql", {"sql": "SELECT count(*) AS n FROM t"})["rows"] == [[1000]]
    status, _, body = server.req("POST", "/v1/sql", {"sql": "SELECT $1 AS v, $2 AS w", "params": [1]})
    assert status == 400 and b"2 parameters and 1 value was given" in body, body


# ---- 14. an unsupported URI scheme -------------------------------------------------------

def test_lake_uri_schemes(tmp_path):
    import subprocess as sp
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")  # no credentials
    for uri, words in [("s3://bucket/x", "no AWS credentials"), ("gs://b/x", 'unknown URI scheme "gs"')]:
        p = sp.run([LOCH, "--lake", uri, "tables"], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert p.returncode == 1 and words in p.stderr, p.stderr
        p = sp.run([LOCH, "serve", "--lake", uri, "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                   cwd=tmp_path, timeout=60, env=env)
        assert p.returncode != 0 and words in p.stderr, p.stderr
    assert list(tmp_path.iterdir()) == []  # no directory named "s3:" or "gs:"
    p = sp.run([LOCH, "--lake", f"file://{tmp_path}/fl", "init"], capture_output=True, text=True)
    assert p.returncode == 0 and (tmp_path / "fl" / "_loch").is_dir(), p.stderr


# ---- 15. the minor ones -----------------------------------------------------------------------

def test_one_name_rule_for_every_method(server, lake):
    assert server.json("GET", "/v1/tables/T")["name"] == "t"
    assert server.json("GET", "/v1/tables/T/history")["table"] == "t"
    assert server.json("DELETE", "/v1/tables/T") == {"dropped": "t"}
    assert error_of(server, "GET", "/v1/tables/T") == (404, "not_found")


def test_limit_with_trailing_semicolon_and_bad_field_types(server):
    for fmt in ("arrow", "parquet", "json"):
        status, _, body = server.req("POST", "/v1/sql", {"sql": "SELECT id FROM t ORDER BY id; -- done",
                                                         "format": fmt, "limit": 3})
        assert status == 200, (fmt, body)
    assert server.json("POST", "/v1/sql", {"sql": "SELECT id FROM t ORDER BY id;", "limit": 2})["rows"] == [[0], [1]]
    for bad in [{"limit": "x"}, {"limit": -1}, {"limit": 1.5}, {"format": 3}, {"format": ["csv"]}]:
        status, code = error_of(server, "POST", "/v1/sql", {"sql": "SELECT 1", **bad})
        assert (status, code) == (400, "invalid"), bad


def test_time_travel_version_out_of_range(lake):
    lake.sql("CREATE TABLE t AS SELECT 1 AS x")
    p = lake.sql('SELECT * FROM "t@v99999999999999999999"', check=False)
    assert p.returncode == 1 and "out of range" in p.stderr, p.stderr


def test_two_content_lengths_are_refused(server):
    import socket
    for framing in [b"Content-Length: 20\r\nContent-Length: 2\r\n",
                    b"Content-Length: 20\r\nTransfer-Encoding: chunked\r\n"]:
        sock = socket.create_connection((server.host, server.port))
        sock.sendall(b"POST /v1/sql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + framing +
                     b"\r\n{\"sql\":\"SELECT 1\"}  ")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        sock.close()
        assert data.startswith(b"HTTP/1.1 400"), data[:200]


def test_disk_full_upload_is_answered(lake, tmp_path):
    import subprocess as sp
    tmp = lake.path / "_loch" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    if sp.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(tmp)], capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        s = Server(lake)
        try:
            body = b"id\n" + b"123456789\n" * 300_000  # 3 MB into 1 MB
            status, _, data = s.req("POST", "/v1/tables/full/ingest", body, {"Content-Type": "text/csv"})
            assert status == 507, (status, data)
            assert json.loads(data)["error"]["message"].endswith("No space left on device")
            assert s.json("GET", "/health") == {"status": "ok"}
        finally:
            assert s.stop() == 0
        assert not [p for p in tmp.iterdir() if p.name.startswith("upload-")]
    finally:
        sp.run(["umount", str(tmp)])


def test_disk_full_write_says_so(tmp_path):
    """A write that fails on a full disk says the disk is full: it used to say the table
    had been dropped, since its staging directory was missing (issue 10's third pass)."""
    import subprocess as sp
    m = tmp_path / "m"
    m.mkdir()
    if sp.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(m)], capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        run = lambda *a: sp.run([LOCH, "--lake", str(m / "lake"), *a], capture_output=True, text=True)  # noqa: E731
        assert run("sql", "CREATE TABLE t AS SELECT i AS id FROM range(1000) r(i)").returncode == 0
        free = os.statvfs(m).f_bavail * os.statvfs(m).f_frsize
        (m / "filler").write_bytes(b"\0" * (free - 30 * 1024))
        for q in ("DELETE FROM t WHERE id = 1", "UPDATE t SET id = 0 WHERE id = 2", "INSERT INTO t VALUES (5)"):
            p = run("sql", q)
            assert p.returncode == 1 and "No space left on device" in p.stderr and "dropped" not in p.stderr, p.stderr
        (m / "filler").unlink()
        p = run("sql", "-f", "csv", "SELECT count(*) FROM t")
        assert p.stdout.split() == ["count_star()", "1000"], p.stdout + p.stderr
    finally:
        sp.run(["umount", str(m)])


def test_checkpoint_failures_are_counted(lake):
    lake.sql("CREATE TABLE t (id BIGINT); ALTER TABLE t SET TBLPROPERTIES ('delta.checkpointInterval' = '1')")
    s = Server(lake, env={"LOCH_FAULT": "rename:EIO"})  # the checkpoint's put fails, the commit's link does not
    try:
        s.json("POST", "/v1/sql", {"sql": "INSERT INTO t VALUES (1)"})
        _, _, m = s.req("GET", "/metrics")
        assert "loch_checkpoint_failures_total 1" in m.decode()
    finally:
        assert s.stop() == 0
    assert any("checkpoint of table" in line for line in s.err), "".join(s.err)[-2000:]
    assert lake.scalar("SELECT count(*) FROM t") == "1"


# ---- 8. results of several statements and the memory limit ------------------------------------

def peak_rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024


def test_several_statements_stream_within_the_memory_limit(lake):
    s = Server(lake, "--memory-limit", "256MB", "--workers", "1")
    try:
        big = "SELECT range, repeat(chr(120), 100) AS pad FROM range(6000000)"
        for body in [{"sql": f"SELECT 1; {big}", "format": "ndjson"}, {"sql": f"SELECT 1; {big}", "limit": 1},
                     {"sql": f"{big}; SELECT 42 AS answer"}]:
            c = __import__("http.client").client.HTTPConnection(s.host, s.port, timeout=600)
            c.request("POST", "/v1/sql", json.dumps(body), {"Content-Type": "application/json"})
            r = c.getresponse()
            n, head = 0, b""
            while chunk := r.read(1 << 20):  # read and dropped: the client holds nothing either
                n += len(chunk)
                head = head if len(head) > 4096 else head + chunk[:8192]
            tail = head
            c.close()
            assert r.status == 200, tail
            if "limit" in body:
                assert json.loads(tail)["rows"] == [[0, "x" * 100]]
            if "answer" in body["sql"]:
                assert json.loads(tail)["rows"] == [[42]]
        # before, the first of these held all 6M rows at once (2.7 GB at a 256 MB limit)
        assert peak_rss(s.proc.pid) < 1 << 30, peak_rss(s.proc.pid)
    finally:
        assert s.stop() == 0


# ---- 9. slowloris ------------------------------------------------------------------------------

def test_slow_clients_cannot_take_every_connection(lake):
    import socket
    s = Server(lake, env={"LOCH_HEADER_TIMEOUT_S": "2", "LOCH_MAX_CONNECTIONS_PER_CLIENT": "16"})
    slow = []
    try:
        # 300 connections from one address (127.0.0.2) that send headers a piece at a time
        for _ in range(300):
            c = socket.socket()
            c.bind(("127.0.0.2", 0))
            c.settimeout(120)
            c.connect((s.host, s.port))
            try:
                c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            except OSError:
                pass
            slow.append(c)
        # everyone else is still served, /health and /metrics included
        assert s.json("GET", "/health") == {"status": "ok"}
        assert s.req("GET", "/metrics")[0] == 200
        assert s.json("POST", "/v1/sql", {"sql": "SELECT 1 AS one"})["rows"] == [[1]]
        # the slow ones are cut: past the per-client limit at once, the rest at the header
        # deadline, however long they keep trickling
        for c in slow:
            try:
                c.sendall(b"X-Slow: 1\r\n")
                assert c.recv(1024) == b""
            except (ConnectionResetError, BrokenPipeError):
                pass
    finally:
        for c in slow:
            c.close()
        assert s.stop() == 0


# ---- found by the adversarial pass on the hardened build ----------------------------------

def test_functions_that_change_engine_state_are_refused(lake, tmp_path):
    lake.sql("CREATE TABLE t AS SELECT 1 AS x")
    planted = lake.table("t") / "planted"
    for q in [f"SELECT * FROM enable_logging(storage='file', storage_config={{'path':'{planted}'}})",
              "SELECT * FROM enable_logging(storage='stdout')", "SELECT * FROM disable_logging()",
              "SELECT * FROM truncate_duckdb_logs()", "SELECT write_log('x')", "SELECT setseed(0.5)",
              "SELECT x FROM t ORDER BY setseed(0.1)", "SELECT * FROM checkpoint()",
              # functions that run a string later, out of the parse tree's sight (the
              # adversarial pass of issue 9 crashed the server and read another client's
              # SQL through them)
              "SELECT * FROM query('FROM enable_logging(level=''info'', storage=''memory'')')",
              "SELECT * FROM query('SELECT setseed(0.5)')", "SELECT * FROM system.main.query('SELECT 1')",
              "SELECT * FROM query_table('t')", "SELECT json_execute_serialized_sql('{}')",
              "SELECT * FROM (SELECT * FROM Query('SELECT write_log(''x'')'))"]:
        p = lake.run("--sandbox", "sql", q, check=False)
        assert p.returncode == 1 and "is not allowed here" in p.stderr, (q, p.stderr)
    s = Server(lake, "--workers", "1")
    try:
        assert error_of(s, "POST", "/v1/sql", {"sql": "SELECT setseed(0.5)"}) == (403, "forbidden")
        q = "SELECT * FROM query('FROM enable_logging(level=''info'', storage=''memory'')')"
        assert error_of(s, "POST", "/v1/sql", {"sql": q}) == (403, "forbidden")
        assert s.json("POST", "/v1/sql", {"sql": "SELECT 'secret' AS x"})["rows"] == [["secret"]]
        a = s.json("POST", "/v1/sql", {"sql": "SELECT random() AS r, uuid()::VARCHAR AS u"})["rows"]
        b = s.json("POST", "/v1/sql", {"sql": "SELECT random() AS r, uuid()::VARCHAR AS u"})["rows"]
        assert a != b
        assert s.json("POST", "/v1/sql", {"sql": "SELECT current_setting('enable_logging') AS l"})["rows"] == [[False]]
    finally:
        assert s.stop() == 0
    assert not planted.exists()
    # a trusted session keeps them (its user owns the engine)
    assert lake.sql("SELECT setseed(0.5)").returncode == 0


def test_new_table_racing_create_and_drop_commits_nothing(lake, tmp_path):
    held = Held(lake, tmp_path, "commit", "sql", "CREATE TABLE c AS SELECT range AS a FROM range(1000)")
    lake.sql("CREATE TABLE c AS SELECT 5 AS a; DROP TABLE c")
    code, out, err = held.release()
    assert code == 1 and "created and dropped by another writer" in err, (out, err)
    assert not lake.table("c").exists()
    lake.sql("CREATE TABLE c AS SELECT 7 AS a")
    assert DeltaTable(str(lake.table("c"))).to_pyarrow_table().to_pylist() == [{"a": 7}]


def test_ingests_racing_to_create_a_table_all_go_in(lake, tmp_path):
    f, g = tmp_path / "f.csv", tmp_path / "g.csv"
    f.write_text("i\n" + "".join(f"{i}\n" for i in range(100)))
    g.write_text("i\n" + "".join(f"{i}\n" for i in range(100, 150)))
    for other, rows in ((f, 100), (g, 150)):  # the same bytes, then another file
        held = Held(lake, tmp_path / other.stem, "commit", "ingest", f"d{other.stem}", str(f))
        lake.run("ingest", f"d{other.stem}", str(other))  # creates the table first
        code, out, err = held.release()
        assert code == 0, err
        assert ("already ingested" in out + err) == (other == f), out + err
        assert lake.csv(f"SELECT count(*), count(DISTINCT i) FROM d{other.stem}") == [[str(rows), str(rows)]]


def test_multipart_forms_that_do_not_end_or_nest_are_refused(lake):
    s = Server(lake)
    try:
        cut = (b"--BB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\n\r\na\n" +
               b"".join(b"%d\n" % i for i in range(1, 1001)))
        status, _, body = s.req("POST", "/v1/tables/m/ingest", cut, {"Content-Type": "multipart/form-data; boundary=BB"})
        assert status == 400 and b"incomplete" in body, body
        # a nested form (multipart/mixed inside a part) whose inner parts never end: an
        # answer that says so (it used to be a closed connection)
        nested = (b"--BB\r\nContent-Disposition: form-data; name=\"file\"\r\n"
                  b"Content-Type: multipart/mixed; boundary=CC\r\n\r\n--CC\r\nContent-Disposition: file; "
                  b"filename=\"t.csv\"\r\n\r\na\n1\n\r\n--BB--\r\n")
        status, _, body = s.req("POST", "/v1/tables/m/ingest", nested, {"Content-Type": "multipart/form-data; boundary=BB"})
        assert status == 400, (status, body)
        status, _, body = s.req("POST", "/v1/tables/m/ingest", b"a\n1\n", {"Content-Type": "multipart/form-data"})
        assert status == 400, (status, body)  # no boundary: not read as a raw file
    finally:
        assert s.stop() == 0
    assert not lake.table("m").exists()


def test_header_names_with_a_space_before_the_colon_are_refused(lake):
    import socket
    lake.sql("CREATE TABLE victim AS SELECT 1 AS x")
    s = Server(lake)
    try:
        smuggled = b"DELETE /v1/tables/victim HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for framing in (b"Content-Length : %d\r\n" % len(smuggled), b"Transfer-Encoding : chunked\r\n"):
            sock = socket.create_connection((s.host, s.port))
            sock.settimeout(60)
            sock.sendall(b"POST /v1/sql HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing + b"\r\n" + smuggled)
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            sock.close()
            assert data.startswith(b"HTTP/1.1 400") and b"dropped" not in data, data[:300]
    finally:
        assert s.stop() == 0
    assert lake.scalar("SELECT x FROM victim") == "1"


@pytest.mark.parametrize("content", ["\n   \n\t\n", "\ufeff\n", "good\ttoken\n"])
def test_token_files_of_whitespace_or_control_characters_refuse_to_start(lake, tmp_path, content):
    f = tmp_path / "tokens"
    f.write_text(content)
    s = Server(lake, "--token-file", str(f), expect_fail=True)
    try:
        out, err = s.proc.communicate(timeout=60)
    finally:
        s.proc.kill()
        s.proc.wait()
    assert s.proc.returncode != 0 and ("holds no token" in err or "control characters" in err), err


def test_spills_and_copies_stay_in_the_lake_and_dead_ones_are_swept(lake, tmp_path):
    import subprocess as sp
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    p = sp.run([LOCH, "--memory-limit", "100MB", "sql", "SELECT count(*) FROM (SELECT range % 3000000 AS k, "
                "list(range) AS l FROM range(20000000) GROUP BY k)", "-f", "csv"], cwd=cwd, capture_output=True,
               text=True, env=dict(os.environ, LOCH_LAKE=str(lake.path)))
    assert p.returncode == 0 and p.stdout.split()[1] == "3000000", p.stderr
    assert list(cwd.iterdir()) == []  # no .tmp where the process started
    # what a killed process left, named with its (now gone) pid, goes with the next write
    dead = sp.Popen(["true"])
    dead.wait()
    tmp = lake.path / "_loch" / "tmp"
    for name in (f"spill-{dead.pid}-0", f"stdin-{dead.pid}-x", f"pdf-{dead.pid}-y.ndjson"):
        (tmp / name).mkdir() if name.startswith("spill") else (tmp / name).write_text("left behind")
    lake.sql("CREATE TABLE t (i BIGINT); INSERT INTO t VALUES (1)")
    assert sorted(p.name for p in tmp.iterdir()) == []


def test_failed_writes_to_a_new_table_leave_no_directory(lake, tmp_path):
    p = lake.sql("CREATE TABLE x AS SELECT error('boom')", check=False)
    assert p.returncode == 1 and "boom" in p.stderr
    f = tmp_path / "one.csv"
    f.write_text("a\n1\n")
    p = lake.run("ingest", "y", str(f), "--schema", "a NOTATYPE", check=False)
    assert p.returncode == 1
    assert sorted(p.name for p in lake.path.iterdir()) == ["_loch"]


def test_explain_and_commented_queries_over_http(server):
    assert server.json("POST", "/v1/sql", {"sql": "EXPLAIN SELECT * FROM t"})["columns"][0]["name"] == "explain_key"
    assert server.json("POST", "/v1/sql", {"sql": "SELECT 1 AS a; EXPLAIN ANALYZE SELECT count(*) FROM t"})["rows"]
    for fmt in ("parquet", "arrow", "csv"):
        status, _, body = server.req("POST", "/v1/sql", {"sql": "SELECT 1 AS x -- a note", "format": fmt})
        assert status == 200, (fmt, body)
    assert error_of(server, "POST", "/v1/sql", {"sql": "SELECT 1", "query_id": 123}) == (400, "invalid")


def test_a_corrupt_table_is_a_500_everywhere(lake):
    lake.sql("CREATE TABLE good AS SELECT 1 AS x; CREATE TABLE bad AS SELECT 1 AS x")
    (lake.table("bad") / "_delta_log" / f"{0:020d}.json").write_text("{not json\n")
    s = Server(lake)
    try:
        assert error_of(s, "GET", "/v1/tables/bad") == (500, "corrupt")
        assert error_of(s, "POST", "/v1/sql", {"sql": "SELECT * FROM bad"}) == (500, "corrupt")
        assert error_of(s, "GET", "/v1/tables/nope") == (404, "not_found")
        assert s.json("POST", "/v1/sql", {"sql": "SELECT x FROM good"})["rows"] == [[1]]
    finally:
        assert s.stop() == 0


def test_rejects_into_a_table_of_other_columns_is_refused_before_the_commit(lake, tmp_path):
    lake.sql("CREATE TABLE rj AS SELECT 1 AS x")
    f = tmp_path / "ragged.csv"
    f.write_text("a,b\n1,2\n3\n")
    p = lake.run("ingest", "t", str(f), "--rejects", "rj", check=False)
    assert p.returncode == 1 and "exists with other columns" in p.stderr, p.stderr
    assert not lake.table("t").exists()  # nothing committed, so a retry is not "already ingested"
    p = lake.run("ingest", "t", str(f), "--rejects", "rj2")
    assert lake.csv("SELECT a, b FROM t") == [["1", "2"]] and lake.scalar("SELECT count(*) FROM rj2") == "1"


@pytest.mark.parametrize("key,value", [
    ("delta.checkpointInterval", "2147483648"), ("delta.checkpointInterval", " 1"),
    ("delta.checkpointInterval", "9999999999999999999"), ("delta.isolationLevel", ""),
    ("delta.dataSkippingNumIndexedCols", ""), ("delta.dataSkippingNumIndexedCols", "abc"),
    ("delta.dataSkippingNumIndexedCols", "-2"), ("delta.logRetentionDuration", "interval 1000000000 weeks"),
    ("delta.logRetentionDuration", "interval 99999999999 days"), ("delta.logRetentionDuration", "interval 1 month"),
    ("delta.deletedFileRetentionDuration", "interval 1.5 days"), ("delta.logRetentionDuration", "1 millisecond"),
    ("delta.targetFileSize", "2MB"),
])
def test_table_properties_delta_readers_refuse_are_refused(lake, key, value):
    """A property value Spark or delta-rs cannot parse makes the table unreadable or
    unwritable for them: loch refuses it by name (adversarial pass of issue 9)."""
    lake.sql("CREATE TABLE p (id BIGINT)")
    p = lake.sql(f"ALTER TABLE p SET TBLPROPERTIES ('{key}' = '{value}')", check=False)
    assert p.returncode == 1 and key.split(".")[1] in p.stderr, p.stderr
    assert lake.run("history", "p", "-f", "csv").stdout.count("\n") == 2  # header + version 0 only


def test_alter_of_a_missing_table_says_so(lake):
    p = lake.sql("ALTER TABLE nope SET TBLPROPERTIES ('a' = 'b')", check=False)
    assert p.returncode == 1 and 'table "nope" does not exist' in p.stderr, p.stderr


@pytest.mark.parametrize("point", ["write-staged", "write-moving"])
def test_a_write_racing_drop_says_so(lake, tmp_path, point):
    """A write whose table is dropped while it moves its files reports the DROP, not the
    path that went missing (second adversarial pass of issue 9); nothing lands in a table
    created again under the name."""
    lake.sql("CREATE TABLE t (id BIGINT)")
    held = Held(lake, tmp_path / point, point, "sql", "INSERT INTO t VALUES (1)")
    lake.sql("DROP TABLE t; CREATE TABLE t (id BIGINT)")
    code, out, err = held.release()
    assert code == 1 and 'table "t" was dropped while this write was prepared' in err, err
    assert lake.scalar("SELECT count(*) FROM t") == "0"

