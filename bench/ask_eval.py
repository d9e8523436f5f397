#!/usr/bin/env python3
"""NL->SQL execution accuracy of `loch ask` over the demo lake, per model.

    .venv/bin/python bench/ask_eval.py [--models default,small] [--lake DIR] [--only N,M]

Each question has a reference query. A question counts as answered when the query the
model wrote returns the same rows as the reference: the same number of rows, and for
every column of the reference a column of the answer holding the same values (numbers
compared to 2 decimals, rows in any order). Extra columns are allowed: the model is told
to add readable names beside ids. A question the model routes to search, or whose query
never runs, counts as wrong.

The lake is `loch demo`'s (made in bench/.work/ask-lake when missing). Questions are
asked with --route sql (the search route is measured by bench/run.py --only retrieval).

--examples with,without (default both) runs each model twice: with the lake's verified
queries (the `ask_examples` table `loch demo` makes, from cli/demo_queries.h; `loch ask`
shows the model the three most like each question) and without (the table dropped). The
examples teach the lake's conventions on other questions: none is one of the 44.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCH = os.environ.get("LOCH_BIN", os.path.join(ROOT, "build", "loch"))
MODELS = {
    "default": os.path.join(ROOT, "third_party/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
    "small": os.path.join(ROOT, "third_party/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
}

JAVA = "list_contains(string_split(skills, ';'), 'Java')"
QUESTIONS = [
    ("How many candidates are there?", "SELECT count(*) FROM candidates"),
    ("How many candidates live in Chicago?", "SELECT count(*) FROM candidates WHERE city = 'Chicago'"),
    ("How many clients are in the Healthcare vertical?", "SELECT count(*) FROM clients WHERE vertical = 'Healthcare'"),
    ("How many job orders are open?", "SELECT count(*) FROM job_orders WHERE status = 'open'"),
    ("What is the average desired rate of candidates in Seattle?",
     "SELECT avg(desired_rate) FROM candidates WHERE city = 'Seattle'"),
    ("How many candidates are available immediately?",
     "SELECT count(*) FROM candidates WHERE availability = 'immediate'"),
    ("How many candidates have Python as a skill?",
     "SELECT count(*) FROM candidates WHERE list_contains(string_split(skills, ';'), 'Python')"),
    ("How many Java developers live in Chicago?",
     f"SELECT count(*) FROM candidates WHERE {JAVA} AND city = 'Chicago'"),
    ("How many calls did each recruiter make?",
     "SELECT recruiter_name, count(*) FROM call_log GROUP BY recruiter_name"),
    ("Which recruiter team made the most calls?",
     "SELECT recruiter_team FROM call_log GROUP BY recruiter_team ORDER BY count(*) DESC LIMIT 1"),
    ("What is the average call duration in seconds for each disposition?",
     "SELECT disposition, avg(duration_sec) FROM call_log GROUP BY disposition"),
    ("How many emails were opened?", "SELECT count(*) FROM email_log WHERE opened"),
    ("How many emails were clicked?", "SELECT count(*) FROM email_log WHERE clicked"),
    ("How many job orders does each vertical have?",
     "SELECT vertical, count(*) FROM job_orders GROUP BY vertical"),
    ("What is the average bill rate of open job orders for each title?",
     "SELECT title, avg(bill_rate) FROM job_orders WHERE status = 'open' GROUP BY title"),
    ("Which city has the most candidates?",
     "SELECT city FROM candidates GROUP BY city ORDER BY count(*) DESC LIMIT 1"),
    ("What is the most years of experience any candidate has?", "SELECT max(years_experience) FROM candidates"),
    ("What is the total bill amount of all timesheets?", "SELECT sum(bill_amount) FROM timesheets"),
    ("What is the total margin, bill amount minus pay amount, over all timesheets?",
     "SELECT sum(bill_amount - pay_amount) FROM timesheets"),
    ("How many hours were worked in each vertical?",
     "SELECT j.vertical, sum(t.hours) FROM timesheets t JOIN placements p USING (placement_id) "
     "JOIN job_orders j USING (job_id) GROUP BY j.vertical"),
    ("What is the revenue (timesheet bill amount) by vertical?",
     "SELECT j.vertical, sum(t.bill_amount) FROM timesheets t JOIN placements p USING (placement_id) "
     "JOIN job_orders j USING (job_id) GROUP BY j.vertical"),
    ("How many placements started in 2025?",
     "SELECT count(*) FROM placements WHERE start_date >= DATE '2025-01-01' AND start_date < DATE '2026-01-01'"),
    ("How many placements does each client have? Show the client name.",
     "SELECT c.name, count(*) FROM placements p JOIN job_orders j USING (job_id) "
     "JOIN clients c ON c.client_id = j.client_id GROUP BY c.name"),
    ("Which client brought in the most revenue from timesheets?",
     "SELECT c.name FROM timesheets t JOIN placements p USING (placement_id) JOIN job_orders j USING (job_id) "
     "JOIN clients c ON c.client_id = j.client_id GROUP BY c.name ORDER BY sum(t.bill_amount) DESC LIMIT 1"),
    ("How many candidates have never been placed?",
     "SELECT count(*) FROM candidates WHERE candidate_id NOT IN (SELECT candidate_id FROM placements)"),
    ("How many candidates were called 5 or more times?",
     "SELECT count(*) FROM (SELECT candidate_id FROM call_log GROUP BY candidate_id HAVING count(*) >= 5)"),
    ("How many candidates were called 5 or more times but never placed?",
     "SELECT count(*) FROM (SELECT candidate_id FROM call_log WHERE candidate_id NOT IN "
     "(SELECT candidate_id FROM placements) GROUP BY candidate_id HAVING count(*) >= 5)"),
    ("Which Java developers in Chicago were called 5+ times but never placed? Give their ids.",
     "SELECT c.candidate_id FROM candidates c JOIN call_log l USING (candidate_id) "
     f"WHERE {JAVA} AND c.city = 'Chicago' AND c.candidate_id NOT IN (SELECT candidate_id FROM placements) "
     "GROUP BY c.candidate_id HAVING count(*) >= 5"),
    ("How many distinct candidates were sent an email?", "SELECT count(DISTINCT candidate_id) FROM email_log"),
    ("How many calls were made in January 2026?",
     "SELECT count(*) FROM call_log WHERE called_at >= TIMESTAMP '2026-01-01' AND called_at < TIMESTAMP '2026-02-01'"),
    ("How many job orders were opened in 2025?",
     "SELECT count(*) FROM job_orders WHERE opened_date >= DATE '2025-01-01' AND opened_date < DATE '2026-01-01'"),
    ("What is the average pay rate of Registered Nurse job orders?",
     "SELECT avg(pay_rate) FROM job_orders WHERE title = 'Registered Nurse'"),
    ("How many candidates have more than 10 years of experience?",
     "SELECT count(*) FROM candidates WHERE years_experience > 10"),
    ("What is the highest desired rate among candidates in Boston?",
     "SELECT max(desired_rate) FROM candidates WHERE city = 'Boston'"),
    ("How many job orders are there in each status?", "SELECT status, count(*) FROM job_orders GROUP BY status"),
    ("What is the average number of hours on a timesheet?", "SELECT avg(hours) FROM timesheets"),
    ("How many clients have been clients since before 2020?",
     "SELECT count(*) FROM clients WHERE client_since < DATE '2020-01-01'"),
    ("How many calls ended with the candidate interested?",
     "SELECT count(*) FROM call_log WHERE disposition = 'interested'"),
    ("Which job title has the highest average bill rate?",
     "SELECT title FROM job_orders GROUP BY title ORDER BY avg(bill_rate) DESC LIMIT 1"),
    ("How many placements are for Java Developer job orders?",
     "SELECT count(*) FROM placements p JOIN job_orders j USING (job_id) WHERE j.title = 'Java Developer'"),
    ("What is the total timesheet bill amount for job orders in Chicago?",
     "SELECT sum(t.bill_amount) FROM timesheets t JOIN placements p USING (placement_id) "
     "JOIN job_orders j USING (job_id) WHERE j.city = 'Chicago'"),
    ("How many emails were sent with each subject?", "SELECT subject, count(*) FROM email_log GROUP BY subject"),
    ("How many candidates with AWS as a skill are available in 2 weeks?",
     "SELECT count(*) FROM candidates WHERE list_contains(string_split(skills, ';'), 'AWS') "
     "AND availability = '2 weeks'"),
    ("What is the margin percentage by vertical: total bill amount minus total pay amount, over total bill amount, from timesheets?",
     "SELECT j.vertical, 100 * sum(t.bill_amount - t.pay_amount) / sum(t.bill_amount) FROM timesheets t "
     "JOIN placements p USING (placement_id) JOIN job_orders j USING (job_id) GROUP BY j.vertical"),
]

def set_examples(lake, rows):
    """ask_examples holds rows (the demo's verified queries), or is gone (rows None)."""
    loch(lake, "sql", "DROP TABLE IF EXISTS ask_examples")
    if rows:
        values = ", ".join("(%s, %s)" % tuple("'" + r[k].replace("'", "''") + "'" for k in ("question", "sql"))
                           for r in rows)
        loch(lake, "sql", f"CREATE TABLE ask_examples AS SELECT * FROM (VALUES {values}) t(question, sql)")


def loch(lake, *args, check=True):
    p = subprocess.run([LOCH, "--lake", lake, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(p.stderr.strip())
    return p


def rows_of(lake, sql):
    p = loch(lake, "--sandbox", "sql", sql, "-f", "json", check=False)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout or "[]")


def norm(v):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return round(float(v), 2)
    try:
        return round(float(v), 2)
    except (TypeError, ValueError):
        return str(v)


def same_result(gold, got):
    """Every reference column matches some answer column as a multiset; as many rows."""
    if got is None or len(gold) != len(got):
        return False
    if not gold:
        return True
    gcols = [sorted(map(norm, (r[k] for r in gold)), key=repr) for k in gold[0]]
    acols = [sorted(map(norm, (r[k] for r in got)), key=repr) for k in got[0]]
    used = set()
    for g in gcols:
        hit = next((i for i, a in enumerate(acols) if i not in used and a == g), None)
        if hit is None:
            return False
        used.add(hit)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="default,small")
    ap.add_argument("--lake", default=os.path.join(ROOT, "bench/.work/ask-lake"))
    ap.add_argument("--only", help="question numbers (1-based), comma-separated")
    ap.add_argument("--examples", default="with,without", help="with, without, or both (with,without)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    os.makedirs(os.path.dirname(a.lake), exist_ok=True)
    loch(a.lake, "demo")  # made once; again it only adds what an older demo lake lacks
    examples = rows_of(a.lake, "SELECT question, sql FROM ask_examples")
    assert examples, "the demo lake has no ask_examples"
    for e in examples:
        assert e["question"] not in [q for q, _ in QUESTIONS], e["question"]
        if rows_of(a.lake, e["sql"]) is None:
            sys.exit(f"example query fails: {e['sql']}")
    picked = [int(x) - 1 for x in a.only.split(",")] if a.only else range(len(QUESTIONS))
    gold = {i: rows_of(a.lake, QUESTIONS[i][1]) for i in picked}
    for i, g in gold.items():
        if g is None:
            sys.exit(f"reference query {i + 1} fails: {QUESTIONS[i][1]}")
    print(f"NL->SQL execution accuracy, {len(picked)} questions over the demo lake ({a.lake})")
    for name, ex in ((n, e) for n in a.models.split(",") for e in a.examples.split(",")):
        model = MODELS.get(name, name)
        set_examples(a.lake, examples if ex == "with" else None)
        right, times = 0, []
        for i in picked:
            q = QUESTIONS[i][0]
            t0 = time.monotonic()
            p = loch(a.lake, "ask", q, "--json", "--route", "sql", "--model", model, check=False)
            times.append(time.monotonic() - t0)
            sql, ok = None, False
            if p.returncode == 0:
                sql = json.loads(p.stdout).get("sql")
                ok = sql is not None and same_result(gold[i], rows_of(a.lake, sql))
            right += ok
            if a.verbose or not ok:
                why = p.stderr.strip().splitlines()[0] if p.returncode else sql
                print(f"  {'ok ' if ok else 'BAD'} {i + 1:2d} {q}\n        {why}" if not ok else
                      f"  ok  {i + 1:2d} {q}", flush=True)
        times.sort()
        print(f"{name}, {ex} examples: {right}/{len(picked)} = {100 * right / len(picked):.0f}% "
              f"(p50 {times[len(times) // 2]:.1f} s a question, model {os.path.basename(model)})", flush=True)


if __name__ == "__main__":
    main()
