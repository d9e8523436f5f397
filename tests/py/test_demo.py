"""`loch demo`: the seeded staffing data set, its row counts, determinism, idempotent
re-runs, and the seed questions' answers checked against the files themselves."""
import csv
import hashlib
import json

COUNTS = {"candidates": 15000, "clients": 500, "job_orders": 3000, "placements": 8000, "timesheets": 120000,
          "call_log": 80000, "email_log": 60000}


def digest(d):
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(d.iterdir())}


def answers(out):
    """The demo's printed answers (-f csv): {question number: [rows as lists of text]}."""
    blocks = {}
    for block in out.split("\n\n")[1:]:
        head, *rows = block.strip().splitlines()
        q = int(head.split(".")[0])
        blocks[q] = [r.split(",") for r in rows[1:]]  # after the column names
    return blocks


def same(a, b):
    """Cells equal as text, numbers equal to the cent (the engines print floats alike,
    but a total may differ in its last binary digit)."""
    try:
        return abs(float(a) - float(b)) < 0.005
    except ValueError:
        return a == b


def test_demo(lake, tmp_path):
    import duckdb
    from deltalake import DeltaTable
    from conftest import ROOT
    out = lake.run("-f", "csv", "demo", str(tmp_path / "a")).stdout
    for t, n in COUNTS.items():
        assert f"ingest {t}" in out and f": {n} rows, version 0" in out, t
        # counted by scanning (not from the log's stats), and by delta-rs
        p = lake.run("sql", f"SELECT count(*) FROM {t}", "-f", "csv", env={"LOCH_NO_METADATA_ANSWERS": "1"})
        assert p.stdout.split()[1] == str(n)
        assert DeltaTable(str(lake.table(t))).to_pyarrow_table().num_rows == n
    # every answer against DuckDB reading the generated files itself, no loch in between
    src = tmp_path / "a"
    db = duckdb.connect()
    for f in sorted(src.iterdir()):
        reader = "read_json" if f.suffix == ".ndjson" else "read_csv"
        db.execute(f"CREATE VIEW {f.stem} AS SELECT * FROM {reader}('{f}')")
    import re
    header = (ROOT / "cli" / "demo_queries.h").read_text()
    header = header[:header.index("The lake's verified queries")]  # the seed questions, not ask's examples
    sqls = ["".join(re.findall(r'"((?:[^"\\]|\\.)*)"', q)) for q in
            re.findall(r'\{"[^"]*",\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\}', header)]
    got = answers(out)
    assert sorted(got) == [1, 2, 3, 4, 5] and len(sqls) == 5
    for q, sql in enumerate(sqls, 1):
        want = [[("" if v is None else str(v)) for v in row] for row in db.execute(sql).fetchall()]
        shown = got[q]
        assert len(shown) == len(want) and len(shown) > 0, (q, len(shown), len(want))
        for a, b in zip(shown, want):
            assert len(a) == len(b) and all(same(x, y) for x, y in zip(a, b)), (q, a, b)
    # the generator writes the same bytes every time
    lake.run("demo", str(tmp_path / "b"))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    # a second run changes nothing (same bytes: already ingested)
    again = lake.run("demo", str(tmp_path / "a")).stdout
    assert again.count("already ingested") == 7
    # the verified queries for loch ask: made once, each a query that runs
    assert "10 verified queries for loch ask" in out and "ask_examples ...\": already there" in again
    examples = json.loads(lake.run("sql", "SELECT question, sql FROM ask_examples", "-f", "json").stdout)
    assert len(examples) == 10
    for e in examples:
        lake.run("--sandbox", "sql", e["sql"])
    assert all(lake.scalar(f"SELECT count(*) FROM {t}") == str(n) for t, n in COUNTS.items())
    # the motivating question, answered from the files with Python alone
    with open(tmp_path / "a" / "candidates.csv", newline="") as f:
        java_chicago = {int(r["candidate_id"]) for r in csv.DictReader(f)
                        if "Java" in r["skills"].split(";") and r["city"] == "Chicago"}
    with open(tmp_path / "a" / "placements.csv", newline="") as f:
        placed = {int(r["candidate_id"]) for r in csv.DictReader(f)}
    calls = {}
    for line in open(tmp_path / "a" / "call_log.ndjson"):
        c = json.loads(line)["candidate_id"]
        calls[c] = calls.get(c, 0) + 1
    want = sorted(c for c in java_chicago - placed if calls.get(c, 0) >= 5)
    got = lake.csv("SELECT c.candidate_id FROM candidates c JOIN call_log l USING (candidate_id) "
                   "WHERE list_contains(string_split(c.skills, ';'), 'Java') AND c.city = 'Chicago' "
                   "AND c.candidate_id NOT IN (SELECT candidate_id FROM placements) "
                   "GROUP BY ALL HAVING count(*) >= 5 ORDER BY 1")
    assert [int(r[0]) for r in got] == want and len(want) > 10
    assert lake.scalar("SELECT count(*) FROM call_log WHERE recruiter_name IS NULL") == "0"  # nested, flattened
