"""`loch demo`: the seeded staffing data set, its row counts, determinism, idempotent
re-runs, and the seed questions' answers checked against the files themselves."""
import csv
import hashlib
import json

COUNTS = {"candidates": 15000, "clients": 500, "job_orders": 3000, "placements": 8000, "timesheets": 120000,
          "call_log": 80000, "email_log": 60000}


def digest(d):
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(d.iterdir())}


def test_demo(lake, tmp_path):
    out = lake.run("demo", str(tmp_path / "a")).stdout
    for t, n in COUNTS.items():
        assert f"ingest {t}" in out and f": {n} rows, version 0" in out, t
        assert lake.scalar(f"SELECT count(*) FROM {t}") == str(n)
    for q in range(1, 6):
        assert f"\n{q}. " in out and "median of 5" in out
    # the generator writes the same bytes every time
    lake.run("demo", str(tmp_path / "b"))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    # a second run changes nothing (same bytes: already ingested)
    again = lake.run("demo", str(tmp_path / "a")).stdout
    assert again.count("already ingested") == 7
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
