"""What the docs promise and nothing tested before (issue 8, item 27): CREATE OR REPLACE,
DROP TABLE IF EXISTS, INSERT with a column list and BY NAME, describe of a past version,
time travel with a UTC offset, every LOCH_* server setting and flag, the 409 and 503
answers. Expected values come from the statements themselves or from delta-rs, never
from loch's own earlier output."""
import json
import os
import time

from deltalake import DeltaTable

from conftest import Held
from test_server import Server, error_of


def rows(lake, name):
    return sorted(DeltaTable(str(lake.table(name))).to_pyarrow_table().to_pylist(), key=lambda r: json.dumps(r))


def test_create_or_replace_succeeds(lake):
    lake.sql("CREATE TABLE t AS SELECT range AS id FROM range(3)")
    out = lake.sql("CREATE OR REPLACE TABLE t AS SELECT 'x' || range AS name, range * 2 AS twice FROM range(2)")
    assert "replaced table t at version 1 with 2 rows" in out.stdout + out.stderr
    assert rows(lake, "t") == [{"name": "x0", "twice": 0}, {"name": "x1", "twice": 2}]
    assert lake.csv("SELECT id FROM \"t@v0\" ORDER BY id") == [["0"], ["1"], ["2"]]  # the old version stays
    lake.sql("CREATE OR REPLACE TABLE t (k BIGINT NOT NULL)")
    assert DeltaTable(str(lake.table("t"))).to_pyarrow_table().num_rows == 0
    assert [f.name for f in DeltaTable(str(lake.table("t"))).schema().fields] == ["k"]


def test_drop_table_if_exists(lake):
    p = lake.sql("DROP TABLE IF EXISTS nothing_here")
    assert p.returncode == 0
    p = lake.sql("DROP TABLE nothing_here", check=False)
    assert p.returncode == 1 and 'table "nothing_here" does not exist' in p.stderr
    lake.sql("CREATE TABLE t AS SELECT 1 AS x")
    lake.sql("DROP TABLE IF EXISTS t")
    assert not lake.table("t").exists()


def test_insert_with_columns_and_by_name(lake):
    lake.sql("CREATE TABLE t (a BIGINT, b VARCHAR, c DOUBLE)")
    lake.sql("INSERT INTO t (c, a) VALUES (1.5, 1)")
    lake.sql("INSERT INTO t BY NAME SELECT 'two' AS b, 2 AS a")
    lake.sql("INSERT INTO t (b) SELECT 'three'")
    assert rows(lake, "t") == sorted([{"a": 1, "b": None, "c": 1.5}, {"a": 2, "b": "two", "c": None},
                                      {"a": None, "b": "three", "c": None}], key=lambda r: json.dumps(r))
    p = lake.sql("INSERT INTO t (nope) VALUES (1)", check=False)
    assert p.returncode == 1 and "nope" in p.stderr


def test_describe_a_past_version_and_time_travel_with_an_offset(lake):
    lake.sql("CREATE TABLE t (a BIGINT)")
    lake.sql("INSERT INTO t VALUES (1)")
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('k' = 'v')")
    lake.run("ingest", "t", "-", "--format", "csv", input="a,extra\n2,x\n")  # widens the schema: version 3
    v0 = json.loads(lake.run("describe", "t@v0", "-f", "json").stdout)
    v3 = json.loads(lake.run("describe", "t@v3", "-f", "json").stdout)
    assert [r["column"] for r in v0] == ["a"] and [r["column"] for r in v3] == ["a", "extra"]
    # commit times are file times here: set them, then name instants with offsets
    log = lake.table("t") / "_delta_log"
    t0 = 1_750_000_000  # 2025-06-15T15:06:40Z
    for v in range(4):
        os.utime(log / f"{v:020d}.json", (t0 + 3600 * v, t0 + 3600 * v))
    local = lambda s, off_h: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s + off_h * 3600)) + f"{off_h:+03d}:00"
    # one instant, written in UTC and at +02:00 and -05:00, is the same version (1)
    for off in (0, 2, -5):
        at = local(t0 + 3600 + 60, off)
        assert lake.scalar(f'SELECT count(*) FROM "t@{at}"') == "1", at
    assert lake.scalar(f'SELECT count(*) FROM "t@{local(t0 + 60, 2)}"') == "0"


def started(s):
    return "".join(s.err)


def test_every_server_setting_from_the_environment_and_flags(lake, tmp_path):
    lake.sql("CREATE TABLE t AS SELECT 1 AS x")
    tokens = tmp_path / "tokens"
    tokens.write_text("file-token\n")
    env = {"LOCH_WORKERS": "3", "LOCH_THREADS": "1", "LOCH_MEMORY_LIMIT": "300MB", "LOCH_QUERY_TIMEOUT_MS": "4321",
           "LOCH_IDLE_TIMEOUT_S": "7", "LOCH_HEADER_TIMEOUT_S": "6", "LOCH_MAX_CONNECTIONS_PER_CLIENT": "9",
           "LOCH_MAX_BODY": "2KiB", "LOCH_MAX_UPLOAD": "3KiB", "LOCH_CORS_ORIGINS": "https://a.example",
           "LOCH_TOKENS": "env-token", "LOCH_GRACE_MS": "1234"}
    s = Server(lake, env=env)
    try:
        conf = started(s)
        for want in ["workers=3", "threads=1", "memory_limit=300MB", "query_timeout_ms=4321", "idle_timeout_s=7",
                     "header_timeout_s=6", "max_connections_per_client=9", "max_body=2048", "max_upload=3072",
                     "grace_ms=1234", "cors_origins=https://a.example", "tokens=*** (1)"]:
            assert want in conf, (want, conf)
        assert "env-token" not in conf
        auth = {"Authorization": "Bearer env-token"}
        assert s.req("GET", "/v1/tables")[0] == 401
        assert s.json("GET", "/v1/status", headers=auth)["workers"] == 3
        assert error_of(s, "POST", "/v1/sql", {"sql": "SELECT 1 -- " + "x" * 3000}, auth) == (413, "too_large")
        status, _, _ = s.req("POST", "/v1/tables/u/ingest", b"a\n" + b"1\n" * 2000, {**auth, "Content-Type": "text/csv"})
        assert status == 413
        _, h, _ = s.req("OPTIONS", "/v1/sql", headers={"Origin": "https://a.example",
                                                        "Access-Control-Request-Method": "POST"})
        assert h.get("Access-Control-Allow-Origin") == "https://a.example"
        cur = s.json("POST", "/v1/sql", {"sql": "SELECT current_setting('threads') AS t, "
                                                "current_setting('memory_limit') AS m"}, auth)["rows"][0]
        assert cur[0] == 1 and cur[1].startswith("286")  # 300 MB as the engine shows it (MiB)
    finally:
        assert s.stop() == 0
    # flags win over the environment
    s = Server(lake, "--workers", "2", "--max-body", "4KiB", "--token-file", str(tokens), "--query-timeout-ms", "999",
               "--cors", "https://b.example", "--memory-limit", "400MB", "--threads", "2", env=env)
    try:
        conf = started(s)
        for want in ["workers=2", "max_body=4096", "query_timeout_ms=999", "cors_origins=https://b.example",
                     "memory_limit=400MB", "threads=2"]:
            assert want in conf, (want, conf)
        assert s.json("GET", "/v1/status", headers={"Authorization": "Bearer file-token"})["workers"] == 2
    finally:
        assert s.stop() == 0


def test_409_conflict_and_503_answers(lake, tmp_path):
    lake.sql("CREATE TABLE t (id BIGINT); INSERT INTO t VALUES (1)")
    # 409 conflict: the server's ALTER is held before its commit while another writer
    # changes the properties too (a concurrent metaData conflicts with everything; a
    # concurrent INSERT would not, as in Delta: the ALTER read no data)
    s = Server(lake, env={"LOCH_HOLD": f"commit:{tmp_path}"})
    try:
        import threading
        result = {}
        th = threading.Thread(target=lambda: result.update(
            r=s.req("POST", "/v1/sql", {"sql": "ALTER TABLE t SET TBLPROPERTIES ('k' = 'v')"})))
        th.start()
        while not list(tmp_path.glob("commit.*.reached")):
            time.sleep(0.01)
        lake.sql("ALTER TABLE t SET TBLPROPERTIES ('k' = 'w')")
        (tmp_path / "commit.go").touch()
        th.join(120)
        status, _, body = result["r"]
        assert status == 409 and json.loads(body)["error"]["code"] == "conflict", body
    finally:
        assert s.stop() == 0
    # 503 io_error: the disk fails under a commit
    s = Server(lake, env={"LOCH_FAULT": "write:EIO"})
    try:
        assert error_of(s, "POST", "/v1/sql", {"sql": "INSERT INTO t VALUES (3)"}) == (503, "io_error")
    finally:
        assert s.stop() == 0
    # 503 out_of_memory: a query past the engine's memory limit
    s = Server(lake, "--memory-limit", "100MB", "--workers", "1")
    try:
        q = {"sql": "SELECT len(list(range)) FROM range(50000000)"}  # one list of 400 MB: nothing to spill
        assert error_of(s, "POST", "/v1/sql", q) == (503, "out_of_memory")
        assert s.json("POST", "/v1/sql", {"sql": "SELECT count(*) AS n FROM t"})["rows"] == [[1]]
    finally:
        assert s.stop() == 0
    assert sorted(r["id"] for r in rows(lake, "t")) == [1]
