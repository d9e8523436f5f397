"""loch as a library (issue 9, section 5), seen from its two front ends: one table-name
rule for the HTTP API and every write; one way to render a value as JSON or CSV; one
table of the statements loch carries out itself; warnings that reach the user through
the application's log callback, never printed by the library."""
import json

from test_server import Server, error_of, server  # noqa: F401 (a fixture)

CSV = b"a,b\n1,x\n"


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
