"""`loch serve`, end to end: a real server started by each test, a real HTTP client
(http.client), every endpoint and every error status; the OpenAPI document validated
and schemathesis run against it; the security defaults."""
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid

import pytest
from deltalake import DeltaTable

from conftest import LOCH


class Server:
    def __init__(self, lake, *flags, env=None, expect_fail=False):
        e = dict(os.environ, LOCH_LAKE=getattr(lake, "uri", str(lake.path)), **getattr(lake, "env", {}))
        e.update(env or {})
        e = {k: v for k, v in e.items() if v is not None}  # None: unset
        self.proc = subprocess.Popen([LOCH, "serve", "--listen", "127.0.0.1:0", *flags], env=e,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.log, self.err = [], []
        if expect_fail:
            return
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            self.err.append(line)
            m = re.search(r"on http://\[?([0-9a-f.:]+)\]?:(\d+)/", line)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
            if not line and self.proc.poll() is not None:
                raise AssertionError("server did not start: " + "".join(self.err))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.log.append(line)

    def req(self, method, path, body=None, headers=None, timeout=60):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def json(self, method, path, body=None, headers=None, status=200):
        s, h, data = self.req(method, path, body, headers)
        assert s == status, (s, data)
        return json.loads(data)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rest = self.proc.stderr.read()
        self.err.append(rest)
        return self.proc.wait(timeout=60)


@pytest.fixture
def server(lake):
    lake.sql("CREATE TABLE t AS SELECT range AS id, 'n' || range AS name, range % 7 AS k FROM range(1000)")
    # no generation model: schemathesis's questions to /v1/ask are refused at once (a model
    # takes seconds a question); tests/py/test_ask.py asks it with one
    s = Server(lake, env={"LOCH_ASK_MODEL": "/nonexistent/generation-model.gguf"})
    yield s
    assert s.stop() == 0


def wait_for(probe, limit=120):
    """Polls until probe() is truthy and returns it: waiting for an event, with a bound
    for a broken build only (never an assertion about speed)."""
    deadline = time.monotonic() + limit
    while not (got := probe()):
        assert time.monotonic() < deadline, "the event never came"
        time.sleep(0.01)
    return got


def error_of(s, method, path, body=None, headers=None):
    status, _, data = s.req(method, path, body, headers)
    doc = json.loads(data)
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message"}, doc
    return status, doc["error"]["code"]


def test_tables_and_status(server, lake):
    assert server.json("GET", "/health") == {"status": "ok"}
    st = server.json("GET", "/v1/status")
    assert st["tables"] == 1 and st["version"] and st["workers"] >= 1 and st["memory"]["rss_bytes"] > 0
    tables = server.json("GET", "/v1/tables")["tables"]
    assert [(t["name"], t["version"], t["rows"]) for t in tables] == [("t", 0, 1000)]
    t = server.json("GET", "/v1/tables/t")
    assert t["rows"] == 1000 and t["files"] == 1 and [c["column"] for c in t["columns"]] == ["id", "name", "k"]
    h = server.json("GET", "/v1/tables/t/history")
    assert [v["operation"] for v in h["history"]] == ["CREATE TABLE"]
    assert error_of(server, "GET", "/v1/tables/nope") == (404, "not_found")
    assert error_of(server, "GET", "/v1/tables/nope/history") == (404, "not_found")
    assert error_of(server, "GET", "/v2/anything") == (404, "not_found")
    assert error_of(server, "PUT", "/v1/tables") == (405, "method_not_allowed")
    assert server.json("DELETE", "/v1/tables/t") == {"dropped": "t"}
    assert error_of(server, "DELETE", "/v1/tables/t") == (404, "not_found")
    assert not (lake.path / "t").exists()


def test_sql_formats_params_and_errors(server):
    r = server.json("POST", "/v1/sql", {"sql": "SELECT id, name FROM t WHERE k = $1 AND name LIKE $2 ORDER BY id",
                                        "params": [3, "n1%"], "limit": 2})
    assert [c["name"] for c in r["columns"]] == ["id", "name"]
    assert r["rows"] == [[10, "n10"], [17, "n17"]] and r["truncated"] is True and r["row_count"] == 2
    s, h, data = server.req("POST", "/v1/sql", {"sql": "SELECT id, name FROM t ORDER BY id LIMIT 3", "format": "csv"})
    assert s == 200 and h["Content-Type"].startswith("text/csv") and data.decode() == "id,name\n0,n0\n1,n1\n2,n2\n"
    s, h, data = server.req("POST", "/v1/sql", {"sql": "SELECT id, [id, 1] AS l FROM t ORDER BY id LIMIT 2"},
                            headers={"Accept": "application/x-ndjson"})
    assert s == 200 and [json.loads(l) for l in data.decode().splitlines()] == [{"id": 0, "l": [0, 1]},
                                                                                {"id": 1, "l": [1, 1]}]
    assert "X-Query-Id" in h
    made = server.json("POST", "/v1/sql", {"sql": "CREATE TABLE u AS SELECT 1 AS x"})
    assert "created table u" in made["message"]
    assert error_of(server, "POST", "/v1/sql", "not json", {"Content-Type": "application/json"}) == (400, "invalid_json")
    assert error_of(server, "POST", "/v1/sql", {"nosql": 1}) == (400, "invalid")
    assert error_of(server, "POST", "/v1/sql", {"sql": "SELEC 1"}) == (400, "invalid")
    assert error_of(server, "POST", "/v1/sql", {"sql": "SELECT $1", "params": [{"a": 1}]}) == (400, "invalid")
    assert error_of(server, "POST", "/v1/sql", {"sql": "SELECT $1, $2", "params": [1]}) == (400, "invalid")
    assert error_of(server, "POST", "/v1/sql", {"sql": "SELECT 1", "format": "xml"}) == (400, "invalid")
    assert error_of(server, "POST", "/v1/sql", {"sql": "SELECT * FROM missing_table"}) == (404, "not_found")
    assert error_of(server, "POST", "/v1/sql", {"sql": "CREATE TABLE u AS SELECT 2 AS x"}) == (409, "exists")
    big = {"sql": "SELECT 1 -- " + "x" * (2 << 20)}
    assert error_of(server, "POST", "/v1/sql", big) == (413, "too_large")


def test_sandbox_and_names(server):
    """SQL from the API cannot read outside the lake or change its settings; table
    names that reach out of the lake are refused."""
    for sql in ("SELECT * FROM read_csv('/etc/passwd')", "COPY (SELECT 1) TO '/tmp/loch-escape.csv'",
                "SET enable_external_access = true", "SELECT * FROM read_text('/etc/hostname')"):
        assert error_of(server, "POST", "/v1/sql", {"sql": sql}) == (403, "forbidden"), sql
    # a path where a table name goes is no table: the sandbox never reads it
    assert error_of(server, "POST", "/v1/sql", {"sql": "SELECT * FROM '/etc/passwd'"}) == (404, "not_found")
    assert not os.path.exists("/tmp/loch-escape.csv")
    for name in ("..%2F..%2Fetc", "a%00b", "_loch", ".hidden", "a%2Fb", "x" * 200):
        assert error_of(server, "GET", f"/v1/tables/{name}")[0] == 400, name
    assert error_of(server, "POST", "/v1/tables/..%2Fescape/ingest", "a\n1\n")[0] == 400


def test_cancel_and_time_limit(lake):
    lake.sql("CREATE TABLE t AS SELECT 1 AS x")
    s = Server(lake, "--query-timeout-ms", "1500")
    try:
        slow = "SELECT count(*) FROM range(1000000000000) a"
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=s.req("POST", "/v1/sql", {"sql": slow, "query_id": "q-slow"})))
        t.start()
        running = wait_for(lambda: s.json("GET", "/v1/queries")["queries"])
        assert [q["query_id"] for q in running] == ["q-slow"]
        assert s.json("DELETE", "/v1/queries/q-slow", status=202)["cancelling"] is True
        t.join(30)
        status, _, data = result["r"]
        assert status == 499 and json.loads(data)["error"]["code"] == "cancelled"
        assert error_of(s, "DELETE", "/v1/queries/q-slow") == (404, "not_found")
        assert error_of(s, "POST", "/v1/sql", {"sql": slow}) == (499, "timeout")
        assert s.json("POST", "/v1/sql", {"sql": "SELECT 42 AS a"})["rows"] == [[42]]
    finally:
        assert s.stop() == 0


def test_ingest_upload(server, lake, tmp_path):
    csv = b"id,zip,amount\n1,00123,1.5\n2,45678,2.25\n"
    r = server.json("POST", "/v1/tables/up/ingest?format=csv", csv)
    assert r["table"] == "up" and r["version"] == 0 and r["rows"] == 2
    again = server.json("POST", "/v1/tables/up/ingest?format=csv", csv)
    assert again["version"] == -1 and "already ingested" in again["message"]
    (tmp_path / "same.csv").write_bytes(csv)  # hashed as it arrived = hashed by the CLI
    assert "already ingested" in lake.run("ingest", "up", str(tmp_path / "same.csv")).stdout
    # a browser's multipart form: the file's own name says its format
    boundary = uuid.uuid4().hex
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"more.ndjson\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + \
        b'{"id": 3, "zip": "99999", "amount": 4}\n' + f"\r\n--{boundary}--\r\n".encode()
    r = server.json("POST", "/v1/tables/up/ingest", form,
                    {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r["version"] == 1 and r["rows"] == 1
    # the commit records the file as the client named it, not the server's spool path
    commit = (lake.table("up") / "_delta_log" / "00000000000000000001.json").read_text()
    files = json.loads(json.loads(commit.splitlines()[0])["commitInfo"]["operationParameters"]["files"])
    assert [f["name"] for f in files] == ["more.ndjson"], files
    got = server.json("POST", "/v1/sql", {"sql": "SELECT id, zip FROM up ORDER BY id"})["rows"]
    assert got == [[1, "00123"], [2, "45678"], [3, "99999"]]
    assert DeltaTable(str(lake.table("up"))).to_pyarrow_table().num_rows == 3
    assert error_of(server, "POST", "/v1/tables/up/ingest?mode=sideways", csv) == (400, "invalid")
    assert error_of(server, "POST", "/v1/tables/up/ingest?format=csv", b"a,b\n1,2\n3,4,5\n") == (400, "invalid")
    # an upload's error names it as the client did (or "the upload"), never the server's spooled copy
    _, _, data = server.req("POST", "/v1/tables/up2/ingest?format=csv", b"a,b\n1,2\n3,4,5\n")
    msg = json.loads(data)["error"]["message"]
    assert msg.startswith("the upload: line") and "_loch" not in msg, msg
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bad.ndjson\"\r\n\r\n"
            '{"id": 1}\n{"id":\n' f"\r\n--{boundary}--\r\n").encode()
    _, _, data = server.req("POST", "/v1/tables/up2/ingest", form, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    msg = json.loads(data)["error"]["message"]
    assert msg.startswith("bad.ndjson: line 2, column") and "_loch" not in msg, msg
    assert error_of(server, "POST", "/v1/tables/up/ingest?format=csv", b"") == (400, "invalid")
    assert not list((lake.path / "_loch" / "tmp").glob("upload-*"))  # uploads do not stay


def test_upload_limit(lake):
    s = Server(lake, "--max-upload", "1KiB")
    try:
        assert error_of(s, "POST", "/v1/tables/x/ingest?format=csv", b"a\n" + b"1\n" * 2000) == (413, "too_large")
        assert s.json("POST", "/v1/tables/x/ingest?format=csv", b"a\n1\n")["rows"] == 1
    finally:
        assert s.stop() == 0


def test_header_limit(server):
    """Headers up to about 64 KiB in all are read; more is refused with 431, and the
    server goes on serving."""
    assert server.req("GET", "/health", headers={"X-Big": "a" * 30000})[0] == 200
    assert server.req("GET", "/health", headers={"X-Big": "a" * 100000})[0] == 431
    assert server.json("POST", "/v1/sql", {"sql": "SELECT count(*) AS n FROM t"})["rows"] == [[1000]]


def test_tokens(lake, tmp_path):
    """Off loopback a server needs tokens; with tokens, requests without a valid one get
    401, and tokens never reach the log."""
    bad = Server(lake, "--listen", "0.0.0.0:0", expect_fail=True)
    assert bad.proc.wait(timeout=30) == 1
    assert "needs bearer tokens" in bad.proc.stderr.read()
    (tmp_path / "tokens").write_text("s3cret-one\nsecond-token\n")
    s = Server(lake, "--token-file", str(tmp_path / "tokens"))
    try:
        assert s.json("GET", "/health") == {"status": "ok"}  # liveness stays open
        status, headers, _ = s.req("GET", "/v1/tables")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert error_of(s, "GET", "/v1/tables", headers={"Authorization": "Bearer wrong"}) == (401, "unauthorized")
        assert error_of(s, "GET", "/v1/tables", headers={"Authorization": "Bearer s3cret-on"}) == (401, "unauthorized")
        assert s.json("GET", "/v1/tables", headers={"Authorization": "Bearer second-token"}) == {"tables": []}
        assert s.json("POST", "/v1/sql", {"sql": "SELECT 1 AS a"},
                      headers={"Authorization": "Bearer s3cret-one"})["rows"] == [[1]]
    finally:
        assert s.stop() == 0
    text = "".join(s.log) + "".join(s.err)
    assert "s3cret" not in text and "second-token" not in text and "tokens=*** (2)" in text


def test_config_file_env_and_cors(lake, tmp_path):
    cfg = tmp_path / "loch.toml"
    cfg.write_text('# a loch server\n[server]\nworkers = 3\ncors_origins = ["http://ui.example"]\n'
                   'query_timeout_ms = 5_000\nmax_body = "64KiB"\n')
    s = Server(lake, "--config", str(cfg), env={"LOCH_QUERY_TIMEOUT_MS": "7000"})
    try:
        banner = "".join(s.err)
        assert "query_timeout_ms=7000" in banner and "cors_origins=http://ui.example" in banner  # env over file
        assert s.json("GET", "/v1/status")["workers"] == 3
        status, h, _ = s.req("GET", "/v1/tables", headers={"Origin": "http://ui.example"})
        assert status == 200 and h["Access-Control-Allow-Origin"] == "http://ui.example"
        status, h, _ = s.req("GET", "/v1/tables", headers={"Origin": "http://evil.example"})
        assert status == 200 and "Access-Control-Allow-Origin" not in h
        status, h, _ = s.req("OPTIONS", "/v1/sql", headers={"Origin": "http://ui.example",
                                                             "Access-Control-Request-Method": "POST"})
        assert status == 204 and "POST" in h["Access-Control-Allow-Methods"]
        assert error_of(s, "POST", "/v1/sql", {"sql": "SELECT 1 -- " + "x" * 70_000}) == (413, "too_large")
    finally:
        assert s.stop() == 0
    cfg.write_text("[server]\nworkers = lots\n")
    bad = Server(lake, "--config", str(cfg), expect_fail=True)
    assert bad.proc.wait(timeout=30) == 1 and "line 2" in bad.proc.stderr.read()


def test_log_and_metrics(server):
    server.json("POST", "/v1/sql", {"sql": "SELECT 1 AS a", "query_id": "logged-1"})
    error_of(server, "GET", "/v1/tables/nope")
    # a request is counted once its answer went out: wait for the counts, not for a time
    want = ['loch_http_requests_total{route="/v1/sql",status="200"} 1',
            'loch_http_requests_total{route="/v1/tables/{t}",status="404"} 1']
    m = wait_for(lambda: (lambda t: t if all(w in t for w in want) else None)(server.req("GET", "/metrics")[2].decode()))
    assert 'loch_http_requests_total{route="/v1/sql",status="200"} 1' in m
    assert 'loch_http_requests_total{route="/v1/tables/{t}",status="404"} 1' in m
    assert "loch_http_request_duration_seconds_bucket{le=\"+Inf\"}" in m and "loch_queries_running 0" in m
    # the log line is written once the answer went out: wait for it, not for a time
    sql = wait_for(lambda: [json.loads(l) for l in server.log if json.loads(l)["path"] == "/v1/sql"])[0]
    assert sql["status"] == 200 and sql["query_id"] == "logged-1" and sql["method"] == "POST" and sql["ms"] >= 0
    assert {"time", "bytes", "peer"} <= set(sql)


def test_sigterm_grace(lake):
    """SIGTERM: new requests are refused, running ones finish within the grace period
    or are cancelled after it; the process exits 0."""
    lake.sql("CREATE TABLE t AS SELECT 1 AS x")
    s = Server(lake, env={"LOCH_GRACE_MS": "700"})
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=s.req("POST", "/v1/sql", {"sql": "SELECT count(*) FROM range(1000000000000) a"})))
    t.start()
    wait_for(lambda: s.json("GET", "/v1/queries")["queries"])  # running, past its grace
    assert s.stop() == 0
    t.join(60)
    assert result["r"][0] == 499
    assert "stopped" in "".join(s.err)


def test_openapi_true_and_schemathesis(server, tmp_path):
    from openapi_spec_validator import validate
    doc = server.json("GET", "/v1/openapi.json")
    validate(doc)
    # every route the server answers is documented, with the same methods, and nothing else
    src = "".join(open(os.path.join(os.path.dirname(__file__), "..", "..", "src", "server", f)).read()
                  for f in ("server.c", "models_api.c"))
    routes = dict(re.findall(r'\{"(/[^"]*)", "([A-Z ]+)"\}', src))
    documented = {p.replace("{table}", "{t}"): " ".join(sorted(m.upper() for m in ops if m != "parameters"))
                  for p, ops in doc["paths"].items()}
    assert documented == {p: " ".join(sorted(m.split())) for p, m in routes.items()}
    r = subprocess.run(["schemathesis", "run", f"http://{server.host}:{server.port}/v1/openapi.json",
                        "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--max-examples", "25",
                        "-w", "1", "--seed", "1"],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path,
                       env=dict(os.environ, PATH=os.path.dirname(os.sys.executable) + ":" + os.environ["PATH"]))
    assert r.returncode == 0, r.stdout[-4000:]


def test_large_results_stream(server):
    """Results go out as they are made (chunked), in every format; the server does not
    hold them whole (the 10M-row memory figure is in bench/run.py)."""
    import io
    import pyarrow.parquet as pq
    sql = "SELECT range AS i, 'row ' || range AS s, [range, 1] AS l FROM range(2000000)"
    s, h, data = server.req("POST", "/v1/sql", {"sql": sql, "format": "ndjson"}, timeout=300)
    assert s == 200 and h.get("Transfer-Encoding") == "chunked"
    lines = data.decode().splitlines()
    assert len(lines) == 2_000_000 and json.loads(lines[-1]) == {"i": 1999999, "s": "row 1999999", "l": [1999999, 1]}
    s, h, data = server.req("POST", "/v1/sql", {"sql": sql, "format": "csv"}, timeout=300)
    assert s == 200 and data.count(b"\n") == 2_000_001 and data.startswith(b"i,s,l\n0,row 0,")
    r = server.json("POST", "/v1/sql", {"sql": sql, "limit": 5})
    assert r["row_count"] == 5 and r["truncated"] is True and r["rows"][4] == [4, "row 4", [4, 1]]
    r = server.json("POST", "/v1/sql", {"sql": "SELECT * FROM range(3)"})
    assert r["rows"] == [[0], [1], [2]] and r["truncated"] is False
    s, h, data = server.req("POST", "/v1/sql", {"sql": "SELECT id, name FROM t ORDER BY id", "format": "parquet"})
    assert s == 200 and h["Content-Type"] == "application/vnd.apache.parquet"
    tbl = pq.read_table(io.BytesIO(data))
    assert tbl.num_rows == 1000 and tbl.column("name")[999].as_py() == "n999"
    assert not list((server_lake_tmp(server)).glob("result-*"))


def server_lake_tmp(server):
    from pathlib import Path
    st = server.json("GET", "/v1/status")
    return Path(st["lake"]) / "_loch" / "tmp"


def test_stalled_clients_are_dropped(lake):
    import socket
    s = Server(lake, env={"LOCH_IDLE_TIMEOUT_S": "1"})
    try:
        sock = socket.create_connection((s.host, s.port))
        sock.sendall(b"POST /v1/sql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"sql\":")  # and then nothing
        sock.settimeout(120)  # a bound for a broken server, not a measure of this one
        assert sock.recv(100) == b""  # the server hung up
        sock.close()
        assert s.json("GET", "/health") == {"status": "ok"}
    finally:
        assert s.stop() == 0


def test_arrow_stream_results(server, lake, tmp_path):
    """Arrow IPC stream results: pyarrow reads them with the engine's own types, and loch
    ingests them back."""
    import io
    import pyarrow as pa
    import pyarrow.ipc as ipc
    sql = ("SELECT range AS id, CASE WHEN range % 5 = 0 THEN NULL ELSE 'n' || range END AS name, "
           "range / 4 AS f, DATE '2024-01-01' + range::INT AS d, TIMESTAMP '2024-01-01 00:00:00' + "
           "INTERVAL (range) SECOND AS ts, [range, NULL] AS l, {'a': range, 'b': 'x'} AS st, range % 3 = 0 AS b, "
           "CAST(range AS DECIMAL(10, 2)) AS dec, (range % 100)::TINYINT AS small FROM range(100000)")
    s, h, data = server.req("POST", "/v1/sql", {"sql": sql + " ORDER BY id"},
                            headers={"Accept": "application/vnd.apache.arrow.stream"}, timeout=300)
    assert s == 200 and h["Content-Type"] == "application/vnd.apache.arrow.stream", data[:200]
    t = ipc.open_stream(io.BytesIO(data)).read_all()
    assert t.num_rows == 100_000
    assert t.schema.field("id").type == pa.int64() and t.schema.field("d").type == pa.date32()
    assert t.schema.field("f").type == pa.float64() and t.schema.field("b").type == pa.bool_()
    row = t.slice(7, 1).to_pylist()[0]
    assert row["name"] == "n7" and row["l"] == [7, None] and row["st"] == {"a": 7, "b": "x"} and row["f"] == 1.75
    assert t.column("name").null_count == 20_000
    (tmp_path / "back.arrows").write_bytes(data)
    lake.run("ingest", "back", str(tmp_path / "back.arrows"))
    assert lake.scalar("SELECT count(*) FROM back WHERE name IS NULL") == "20000"
    assert error_of(server, "POST", "/v1/sql", {"sql": "SELECT 1 FROM missing_table", "format": "arrow"}) == \
        (404, "not_found")
    # a write asked for in Arrow is refused before it runs, with a limit too (the limit
    # once wrapped it in a query first, and the engine's parse error hid what it was)
    for fmt in ("arrow", "parquet"):
        for body in ({}, {"limit": 10}):
            st, _, data = server.req("POST", "/v1/sql", {"sql": "CREATE TABLE made AS SELECT 1 AS x", "format": fmt, **body})
            assert st == 400 and json.loads(data)["error"]["code"] == "unsupported", (fmt, body, data)
    assert server.json("GET", "/v1/tables/made", status=404)
    # only a query is wrapped to take the limit: other statements get their own answer,
    # not a parse error of the wrapper's
    assert error_of(server, "POST", "/v1/sql", {"sql": "PRAGMA version", "format": "arrow", "limit": 5}) == \
        (403, "forbidden")
    assert error_of(server, "POST", "/v1/sql", {"sql": "EXPLAIN SELECT 1", "format": "arrow", "limit": 5}) == \
        (400, "unsupported")
    st, _, data = server.req("POST", "/v1/sql", {"sql": "(SELECT 1 AS a UNION ALL SELECT 2)", "format": "arrow", "limit": 1})
    assert st == 200 and pa.ipc.open_stream(data).read_all().num_rows == 1


def test_review_regressions(lake, tmp_path):
    """Writes through /v1/sql commit, a trailing ';' or comment is fine, '..' anywhere in a
    table path is refused, a preflight carries one Allow-Origin, an upload without a
    token is refused before its body is stored, and limit holds for Arrow."""
    import io
    import pyarrow.ipc as ipc
    (tmp_path / "tokens").write_text("tok\n")
    s = Server(lake, "--token-file", str(tmp_path / "tokens"), "--cors", "http://ui.example")
    auth = {"Authorization": "Bearer tok"}
    try:
        s.json("POST", "/v1/sql", {"sql": "CREATE TABLE w (i BIGINT)"}, headers=auth)
        r = s.json("POST", "/v1/sql", {"sql": "INSERT INTO w VALUES (1), (2)"}, headers=auth)
        assert "inserted 2 rows" in r["message"]
        assert s.json("POST", "/v1/sql", {"sql": "SELECT count(*) AS n FROM w;"}, headers=auth)["rows"] == [[2]]
        assert s.json("POST", "/v1/sql", {"sql": "SELECT 7 AS n -- the answer"}, headers=auth)["rows"] == [[7]]
        # DELETE and UPDATE are loch's commits; their conditions pass the sandbox's check
        assert "deleted 1 rows" in s.json("POST", "/v1/sql", {"sql": "DELETE FROM w WHERE i = 1"}, headers=auth)["message"]
        for q in ("DELETE FROM w WHERE i IN (SELECT * FROM query('SELECT 2'))",
                  "UPDATE w SET i = (SELECT max(i) FROM query_table('w'))",
                  "DELETE FROM w USING read_csv('/etc/passwd') p WHERE true",
                  "MERGE INTO w USING (SELECT 1 AS i) s ON w.i = s.i WHEN MATCHED THEN UPDATE SET i = "
                  "(SELECT * FROM query('SELECT 5'))",
                  "MERGE INTO w USING read_csv('/etc/passwd') s ON true WHEN MATCHED THEN DELETE"):
            assert error_of(s, "POST", "/v1/sql", {"sql": q}, headers=auth)[0] in (400, 403), q
        s.json("POST", "/v1/sql", {"sql": "INSERT INTO w VALUES (1)"}, headers=auth)
        assert error_of(s, "DELETE", "/v1/tables/w/..", headers=auth)[0] == 400
        assert error_of(s, "GET", "/v1/tables/x/../w", headers=auth)[0] == 400
        assert s.json("GET", "/v1/tables/w", headers=auth)["rows"] == 2
        status, h, _ = s.req("OPTIONS", "/v1/sql", headers={"Origin": "http://ui.example"})
        assert status == 204 and h["Access-Control-Allow-Origin"] == "http://ui.example"
        status, _, data = s.req("POST", "/v1/tables/up/ingest?format=csv", b"a\n" + b"1\n" * 50_000)
        assert status == 401
        assert not list((lake.path / "_loch" / "tmp").glob("upload-*")) and not (lake.path / "up").exists()
        st, _, data = s.req("POST", "/v1/sql", {"sql": "SELECT * FROM range(100000)", "format": "arrow", "limit": 10},
                            headers=auth)
        assert st == 200 and ipc.open_stream(io.BytesIO(data)).read_all().num_rows == 10
        assert error_of(s, "POST", "/v1/sql", {"sql": "SELECT INTERVAL 1 DAY AS iv", "format": "arrow"},
                        headers=auth)[0] == 400
    finally:
        assert s.stop() == 0


def test_preflight_headers_once(lake):
    import socket
    s = Server(lake, "--cors", "http://ui.example")
    try:
        sock = socket.create_connection((s.host, s.port))
        sock.sendall(b"OPTIONS /v1/sql HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://ui.example\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
        sock.close()
        assert raw.lower().count(b"access-control-allow-origin:") == 1, raw
    finally:
        assert s.stop() == 0


def pool_free_searches(s, body, n):
    return [s.json("POST", "/v1/search", body) for _ in range(n)]


def test_search_endpoint(lake):
    """POST /v1/search: loch_search over HTTP, its rows as objects and its note; every
    malformed request a 400 naming the field, a table without embeddings a 404, a
    condition that is more than one condition a 400."""
    lake.sql("CREATE TABLE people AS SELECT * FROM (VALUES (1, 'Kubernetes engineer, led a cloud migration', 'Chicago'),"
             " (2, 'Pastry chef: croissants and sourdough', 'Austin'), (3, 'Nurse on night shifts', 'Chicago'))"
             " t(id, resume, city)")
    lake.run("embed", "people", "resume", "--key", "id")
    s = Server(lake, env={"LOCH_VINDEX_EXACT_BELOW": "0"})  # the graph walked, even for 3 rows
    try:
        doc = s.json("POST", "/v1/search", {"table": "people", "query": "who bakes bread", "k": 2})
        assert [r["id"] for r in doc["rows"]][:1] == [2] and len(doc["rows"]) == 2
        assert set(doc["rows"][0]) == {"id", "chunk", "score", "text"} and "by their index" in doc["note"]
        doc = s.json("POST", "/v1/search", {"table": "people", "query": "night", "mode": "keyword",
                                            "where": "city = 'Chicago'", "column": "resume"})
        assert [r["id"] for r in doc["rows"]] == [3] and "keyword" in doc["note"]
        for body, code in [({"query": "x"}, 400), ({"table": "people"}, 400), ({"table": 1, "query": "x"}, 400),
                           ({"table": "people", "query": "x", "k": 0}, 400), ({"table": "people", "query": "x", "k": 1.5}, 400),
                           ({"table": "people", "query": "x", "mode": "fuzzy"}, 400),
                           ({"table": "people", "query": "x\u0000y"}, 400),
                           ({"table": "people", "query": "x", "where": "true; DROP TABLE people"}, 400),
                           ({"table": "nope", "query": "x"}, 404), ({"table": "people", "query": "x", "column": "city"}, 404)]:
            status, _ = error_of(s, "POST", "/v1/search", body)
            assert status == code, (body, status)
        assert error_of(s, "POST", "/v1/search", "not json")[0] == 400
        # the workers share one model: many searches at once all answer alike
        from concurrent.futures import ThreadPoolExecutor
        body = {"table": "people", "query": "who bakes bread", "k": 3}
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda _: s.json("POST", "/v1/search", body), range(16)))
        assert all(g["rows"] == got[0]["rows"] for g in got) and got[0]["rows"][0]["id"] == 2
        # the index file written over in place, then emptied, under the server that read
        # it: the server keeps answering (it holds what it checked, not a mapping)
        f = next((lake.path / "people" / "_loch_index").glob("*.hnsw"))
        size = f.stat().st_size
        with open(f, "r+b") as fh:
            fh.seek(128)
            fh.write(b"\xff" * (size - 128))
        assert [r["rows"][0]["id"] for r in pool_free_searches(s, body, 4)] == [2] * 4
        os.truncate(f, 0)
        assert [r["rows"][0]["id"] for r in pool_free_searches(s, body, 4)] == [2] * 4
        assert lake.scalar("SELECT count(*) FROM people") == "3"
    finally:
        assert s.stop() == 0


def test_cross_site_requests_and_foreign_hosts_are_refused(server, lake):
    """A server without tokens is safe on loopback only if no web page can use it: a name
    that resolves to 127.0.0.1 (DNS rebinding) is refused by its Host, a form posted from
    another site by its Origin; and a method is matched whole ("T" is no GET, "ETE" no
    DELETE, so no typo drops a table)."""
    assert error_of(server, "GET", "/v1/tables", headers={"Host": f"rebind.example:{server.port}"}) == \
        (403, "forbidden_host")
    assert error_of(server, "POST", "/v1/sql", "{\"sql\": \"DROP TABLE t\"}",
                    {"Host": "rebind.example", "Content-Type": "text/plain"}) == (403, "forbidden_host")
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", "127.0.0.2", f"[::1]:{server.port}"):
        assert server.req("GET", "/health", headers={"Host": host})[0] == 200, host
    for host in ("127.0.0.1.evil.example", "localhost.evil.example", "[::1]x", "127.0.0.1:80x", ""):
        assert server.req("GET", "/v1/tables", headers={"Host": host})[0] in (400, 403), host
    # a form of another site: its Origin
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    assert error_of(server, "POST", "/v1/sql", "{\"sql\": \"DROP TABLE t\"}", evil) == (403, "forbidden_origin")
    assert error_of(server, "DELETE", "/v1/tables/t", headers={"Origin": "null"}) == (403, "forbidden_origin")
    own = {"Origin": f"http://{server.host}:{server.port}"}
    assert server.json("POST", "/v1/sql", {"sql": "SELECT count(*) FROM t"}, own)["rows"] == [[1000]]
    # a GET from another origin reads nothing it can see (no CORS header) and changes nothing
    assert server.req("GET", "/v1/tables", headers={"Origin": "http://evil.example"})[0] == 200
    for method in ("T", "ET", "TE", "ETE", "LETE", "DELET", "GETX"):
        status, _, _ = server.req(method, "/v1/tables/t")
        assert status in (400, 405, 501), (method, status)
    assert server.json("GET", "/v1/tables/t")["rows"] == 1000


def test_the_ui_is_served_from_the_binary_under_a_strict_policy(lake):
    """The browser UI's page and scripts (docs/ui.md): no token needed for them, a policy
    that allows nothing inline, a style nonce new each time, whole ETags, no way around the
    token. (tests/py/test_ui.py drives the page in chromium.)"""
    lake.sql("CREATE TABLE trips AS SELECT 1 AS id")
    s = Server(lake, env={"LOCH_TOKENS": "sekret"})
    try:
        status, h, body = s.req("GET", "/")  # no token needed for the page itself
        assert status == 200 and h["Content-Type"].startswith("text/html") and b'src="/ui/app.js"' in body
        csp = h["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
        assert "frame-ancestors 'none'" in csp and h["X-Content-Type-Options"] == "nosniff"
        assert b"<script>" not in body and b"style=" not in body  # nothing inline
        # styles by a nonce that is new each time, and in the page's meta for the editor
        nonce = re.search(r"'nonce-([0-9a-f-]{36})'", csp).group(1)
        assert f'<meta name="csp-nonce" content="{nonce}">'.encode() in body and h["Cache-Control"] == "no-store"
        assert nonce not in s.req("GET", "/")[1]["Content-Security-Policy"]
        status, h2, js = s.req("GET", "/ui/app.js")
        assert status == 200 and h2["Content-Type"].startswith("text/javascript") and b"import(" in js
        assert s.req("GET", "/ui/app.js", headers={"If-None-Match": h2["ETag"]})[0] == 304
        assert s.req("GET", "/ui/app.js", headers={"If-None-Match": f'"x", W/{h2["ETag"]}'})[0] == 304
        for other in (h2["ETag"][:-1], h2["ETag"][:-1] + 'x"', h2["ETag"] + "x", '"' + h2["ETag"]):
            assert s.req("GET", "/ui/app.js", headers={"If-None-Match": other})[0] == 200, other  # whole tags only
        # every chunk the page preloads is served, and is JavaScript
        chunks = re.findall(rb'<link rel="modulepreload" href="(/ui/chunk-[A-Z0-9]+\.js)">', body)
        assert chunks and all(s.req("GET", c.decode())[0] == 200 for c in chunks)
        assert s.req("GET", "/ui/nope.js")[0] == 404
        assert s.req("GET", "/ui/../v1/tables")[0] in (401, 404)  # never a way around the token
        assert s.req("POST", "/")[0] == 405
        assert s.req("GET", "/v1/tables")[0] == 401  # the API still needs it
    finally:
        assert s.stop() == 0


def test_status_lists_recent_errors_and_every_answer_is_nosniff(server):
    """/v1/status keeps the last 20 failed answers, newest first, with their error's code
    and message (the UI's System tab shows them); HEAD works on the UI's routes."""
    server.req("GET", "/v1/tables/nope")
    server.req("POST", "/v1/sql", {"sql": "SELECT citty FROM t"})
    # an answer is listed once its last byte went out, which the client may see first
    for _ in range(1000):
        errs = server.json("GET", "/v1/status")["recent_errors"]
        if len(errs) >= 2:
            break
        time.sleep(0.01)  # waiting for an event: the server's completion of the answer
    assert [(e["method"], e["route"], e["status"], e["code"]) for e in errs[:2]] == \
        [("POST", "/v1/sql", 400, "invalid"), ("GET", "/v1/tables/{t}", 404, "not_found")]
    # every client reads the list: a statement's error may quote it, so its message is not kept
    assert errs[0]["message"] == "" and errs[0]["time"].endswith("Z")
    assert errs[1]["message"] == 'table "nope" does not exist'
    for i in range(25):
        server.req("GET", f"/v1/tables/missing{i}")
    for _ in range(1000):
        errs = server.json("GET", "/v1/status")["recent_errors"]
        if errs[0]["message"] == 'table "missing24" does not exist':
            break
        time.sleep(0.01)
    assert len(errs) == 20 and errs[0]["message"] == 'table "missing24" does not exist'
    status, h, body = server.req("GET", "/v2/nothing")
    assert status == 404 and h["X-Content-Type-Options"] == "nosniff"
    status, h, body = server.req("HEAD", "/ui/app.js")
    assert status == 200 and body == b"" and h["ETag"]


def raw_request(s, text):
    """Bytes as given, for what http.client will not send (a header twice); the status."""
    import socket
    with socket.create_connection((s.host, s.port), timeout=60) as c:
        c.sendall(text.encode())
        got = b""
        while b"\r\n" not in got:
            part = c.recv(4096)
            if not part:
                break
            got += part
    return int(got.split(b" ")[1])


def test_second_adversarial_pass_on_the_server(lake, tmp_path):
    """cors "*" needs tokens; names around commas are trimmed; a header that names one
    thing, sent twice, is a 400; every GET route answers HEAD, and a HEAD never drops a
    table; only clients' failures are kept in recent_errors."""
    bad = Server(lake, "--cors", "https://a.example, *", expect_fail=True)
    assert bad.proc.wait(timeout=30) == 1 and "without tokens" in bad.proc.stderr.read()
    lake.sql("CREATE TABLE t AS SELECT 1 AS id")
    s = Server(lake, "--cors", "https://a.example , https://b.example")
    try:
        for origin in ("https://a.example", "https://b.example"):
            assert s.req("GET", "/v1/tables", headers={"Origin": origin})[1]["Access-Control-Allow-Origin"] == origin
        assert "Access-Control-Allow-Origin" not in s.req("GET", "/v1/tables", headers={"Origin": "https://c.example"})[1]
        for twice in ("Host: 127.0.0.1\r\nHost: evil.example", "Origin: http://a\r\nOrigin: http://b",
                      "Authorization: Bearer a\r\nAuthorization: Bearer b"):
            assert raw_request(s, f"GET /v1/tables HTTP/1.1\r\n{twice}\r\nConnection: close\r\n\r\n") == 400, twice
        assert raw_request(s, "GET /v1/tables HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n") == 200
        for path in ("/health", "/v1/status", "/v1/tables", "/v1/tables/t", "/v1/tables/t/history", "/metrics"):
            status, h, body = s.req("HEAD", path)
            assert status == 200 and body == b"", path
        assert s.json("GET", "/v1/tables/t")["rows"] == 1  # HEAD never reached DROP
        assert s.req("HEAD", "/v1/sql")[0] == 405
    finally:
        assert s.stop() == 0
    (tmp_path / "tokens").write_text("sekret\n")
    s = Server(lake, "--token-file", str(tmp_path / "tokens"), "--cors", "*")  # with tokens, * is allowed
    try:
        auth = {"Authorization": "Bearer sekret"}
        assert s.req("GET", "/v1/tables/nope", headers=auth)[0] == 404
        for i in range(30):  # strangers: no token, a wrong one, another site's form
            s.req("GET", f"/v1/tables/x{i}")
            s.req("GET", "/v1/nothing", headers={"Authorization": "Bearer guess"})
            s.req("POST", "/ui/app.js")
        errs = s.json("GET", "/v1/status", headers=auth)["recent_errors"]
        assert [(e["route"], e["status"]) for e in errs] == [("/v1/tables/{t}", 404)]
    finally:
        assert s.stop() == 0
    s = Server(lake)
    try:
        evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
        for i in range(25):
            s.req("POST", "/v1/sql", "{\"sql\": \"DROP TABLE t\"}", evil)
            s.req("GET", "/v1/tables", headers={"Host": "rebind.example"})
        assert s.json("GET", "/v1/status")["recent_errors"] == []
    finally:
        assert s.stop() == 0


def test_sql_check_says_what_would_run_and_runs_nothing(server, lake):
    """"check": true answers with the statements as loch splits them and whether each only
    reads, by the engine's parser; nothing runs. The UI shows it before sending a linked
    text. A -- comment ends at a carriage return, as in the engine."""
    def check(sql):
        return [(x["verb"], x["reads"]) for x in server.json("POST", "/v1/sql", {"sql": sql, "check": True})["statements"]]
    assert check("SELECT 1") == [("SELECT", True)]
    assert check("SELECT E'\\''; DROP TABLE t; --'") == [("SELECT", True), ("DROP", False)]
    assert check("SELECT 1 AS a$x$;\n\nDROP TABLE t;\nSELECT 1 AS b$x$") == \
        [("SELECT", True), ("DROP", False), ("SELECT", True)]
    assert check("/* /* */ SELECT */ DROP TABLE t") == [("DROP", False)]
    assert check("SELECT 1 AS w -- c\r; DROP TABLE t") == [("SELECT", True), ("DROP", False)]
    assert check("EXPLAIN SELECT 1; DESCRIBE t; (SELECT 1); WITH a AS (SELECT 1) FROM a; SET threads = 1") == \
        [("EXPLAIN", True), ("DESCRIBE", True), ("(", True), ("WITH", True), ("SET", False)]
    assert check("garbage here") == [("GARBAGE", False)]
    assert error_of(server, "POST", "/v1/sql", {"sql": "SELECT 1", "check": "yes"}) == (400, "invalid")
    assert server.json("GET", "/v1/tables/t")["rows"] == 1000  # nothing ran
    # and what runs is what check said: the DROP after the \r is a statement of its own
    server.json("POST", "/v1/sql", {"sql": "SELECT 1 AS w -- c\r; DROP TABLE t"})
    assert server.req("GET", "/v1/tables/t")[0] == 404
