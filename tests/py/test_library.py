"""loch as a library (issue 9, section 5), seen from its two front ends: one table-name
rule for the HTTP API and every write; one way to render a value as JSON or CSV; one
table of the statements loch carries out itself; warnings that reach the user through
the application's log callback, never printed by the library."""
import json

from test_server import Server, error_of, server  # noqa: F401 (a fixture)

CSV = b"a,b\n1,x\n"


def test_names_with_a_dot_are_refused_over_http(server, lake):
    for method, path, body in [("GET", "/v1/tables/a.b", None), ("GET", "/v1/tables/a.b/history", None),
                               ("DELETE", "/v1/tables/a.b", None),
                               ("POST", "/v1/tables/a.b/ingest?format=csv", CSV),
                               ("POST", "/v1/tables/.hidden/ingest?format=csv", CSV)]:
        assert error_of(server, method, path, body) == (400, "invalid_name"), (method, path)
    status, _, data = server.req("GET", "/v1/tables/a.b")
    assert "lowercase letters, digits" in json.loads(data)["error"]["message"]
    assert not any(p.name.startswith(("a.b", ".hidden")) for p in lake.path.iterdir())


def test_upper_case_names_over_http_are_the_lower_case_table(server, lake):
    r = server.json("POST", "/v1/tables/UpLoad/ingest?format=csv", CSV)
    assert r["table"] == "upload" and r["rows"] == 1
    assert server.json("GET", "/v1/tables/UPLOAD")["name"] == "upload"
    # the rejects table: any case, then the same rule
    bad = b"a,b\n1,x\n2,y,extra\n3\n4,z\n"
    r = server.json("POST", "/v1/tables/upload/ingest?format=csv&rejects=Bad_Rows", bad)
    assert r["rejected"] == 2
    assert lake.scalar("SELECT count(*) FROM bad_rows") == "2"
    for rejects in ("bad.rows", "_rows", "bad/rows"):
        path = f"/v1/tables/upload/ingest?format=csv&rejects={rejects}"
        assert error_of(server, "POST", path, bad) == (400, "invalid_name"), rejects


def test_the_cli_follows_the_same_name_rule(lake, tmp_path):
    f = tmp_path / "in.csv"
    f.write_bytes(CSV)
    p = lake.run("ingest", "a.b", str(f), check=False)
    assert p.returncode == 1 and "lowercase letters, digits" in p.stderr, p.stderr
    p = lake.sql('CREATE TABLE "a.b" AS SELECT 1 AS x', check=False)
    assert p.returncode == 1 and "lowercase letters, digits" in p.stderr, p.stderr
    assert not (lake.path / "a.b").exists()
    lake.run("ingest", "MiXed", str(f))
    assert lake.scalar("SELECT count(*) FROM mixed") == "1"
    assert lake.scalar("SELECT count(*) FROM MIXED") == "1"


VALUES = ("SELECT 'inf'::DOUBLE AS a, '-inf'::DOUBLE AS b, 'nan'::DOUBLE AS c, 1.5::DOUBLE AS d, "
          "12.50::DECIMAL(4,2) AS e, NULL::DOUBLE AS f, 1e300::DOUBLE AS g, 'x,\"y\"' AS h, true AS i, "
          "[1, 2] AS j")


def test_values_render_the_same_in_the_cli_and_over_http(server, lake):
    cli = json.loads(lake.sql(VALUES, "-f", "json").stdout)[0]
    http = server.json("POST", "/v1/sql", {"sql": VALUES})
    row = dict(zip([c["name"] for c in http["columns"]], http["rows"][0]))
    assert cli == row
    assert (row["a"], row["b"], row["c"]) == ("inf", "-inf", "nan")  # JSON has no such numbers
    assert row["d"] == 1.5 and row["f"] is None and row["g"] == 1e300 and row["i"] is True and row["j"] == [1, 2]
    ndjson = json.loads(lake.sql(VALUES, "-f", "ndjson").stdout)
    _, _, data = server.req("POST", "/v1/sql", {"sql": VALUES, "format": "ndjson"})
    assert ndjson == json.loads(data) == cli
    cli_csv = lake.sql(VALUES, "-f", "csv").stdout
    _, _, data = server.req("POST", "/v1/sql", {"sql": VALUES, "format": "csv"})
    assert cli_csv == data.decode()
    assert 'inf,-inf,nan,1.5,12.50,,1e+300,"x,""y""",true' in cli_csv


def test_loch_verbs_take_no_parameters_and_do_not_stream(server):
    for sql in ("insert into t values ($1, 'a', 1)", "Create table p AS SELECT $1 AS x", "DROP TABLE t",
                "ALTER TABLE t SET TBLPROPERTIES ('a' = $1)"):
        status, _, data = server.req("POST", "/v1/sql", {"sql": sql, "params": [1]})
        err = json.loads(data)["error"]
        assert (status, err["code"]) == (400, "unsupported") and "takes literal values" in err["message"], sql
    assert server.json("GET", "/v1/tables/t")["version"] == 0
    # run whole (not streamed), the same statements work without parameters
    assert server.json("POST", "/v1/sql", {"sql": "INSERT INTO t VALUES (1000, 'x', 1)"})["message"]
    assert server.json("GET", "/v1/tables/t")["version"] == 1


def test_warnings_reach_the_user_through_the_application(lake):
    (lake.path / "_loch" / "catalog.sqlite").unlink(missing_ok=True)
    (lake.path / "_loch" / "catalog.sqlite").mkdir()
    p = lake.sql("CREATE TABLE w AS SELECT 1 AS x")
    assert "loch: warning: " in p.stderr and "continuing without the catalog" in p.stderr, p.stderr
    assert p.stderr.count("loch: warning: ") == 1
    s = Server(lake)
    try:
        assert s.json("GET", "/v1/tables/w")["rows"] == 1
    finally:
        assert s.stop() == 0
    assert "loch: warning: " in "".join(s.err) and "continuing without the catalog" in "".join(s.err)


def test_an_unreadable_table_is_a_warning_in_the_listing(lake):
    lake.sql("CREATE TABLE good AS SELECT 1 AS x; CREATE TABLE bad AS SELECT 1 AS x")
    (lake.path / "bad" / "_delta_log" / "00000000000000000000.json").write_text("{not json\n")
    p = lake.run("tables", "-f", "csv")
    assert p.stdout.splitlines()[1].startswith("good,"), p.stdout
    assert "loch: warning: table bad is not listed: " in p.stderr, p.stderr
