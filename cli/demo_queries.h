/*
 * cli/demo_queries.h - the seed's four proven queries and its motivating question, over
 * the staffing tables; shared by `loch demo` and bench/bench_core.c.
 */
#ifndef LOCH_CLI_DEMO_QUERIES_H
#define LOCH_CLI_DEMO_QUERIES_H

static const struct {
    const char *title, *sql;
} questions[] = {
    {"Candidate search: Java, Chicago, available within two weeks",
     "SELECT candidate_id, first_name, last_name, years_experience, availability, desired_rate FROM candidates "
     "WHERE list_contains(string_split(skills, ';'), 'Java') AND city = 'Chicago' "
     "AND availability IN ('immediate', '2 weeks') "
     "ORDER BY years_experience DESC, candidate_id LIMIT 10"},
    {"Revenue by client with margins (timesheets x placements x job orders x clients)",
     "SELECT c.name AS client, round(sum(t.bill_amount), 2) AS revenue, "
     "round(sum(t.bill_amount - t.pay_amount), 2) AS margin, "
     "round(100 * sum(t.bill_amount - t.pay_amount) / sum(t.bill_amount), 1) AS margin_pct "
     "FROM timesheets t JOIN placements p USING (placement_id) JOIN job_orders j USING (job_id) "
     "JOIN clients c ON c.client_id = j.client_id GROUP BY c.name ORDER BY revenue DESC LIMIT 10"},
    {"Cold leads: called 5+ times, never placed",
     "SELECT l.candidate_id, count(*) AS calls, max(l.called_at) AS last_call FROM call_log l "
     "WHERE l.candidate_id NOT IN (SELECT candidate_id FROM placements) "
     "GROUP BY l.candidate_id HAVING count(*) >= 5 ORDER BY calls DESC, l.candidate_id LIMIT 10"},
    {"Margin by vertical",
     "SELECT j.vertical, count(DISTINCT p.placement_id) AS placements, round(sum(t.bill_amount), 2) AS revenue, "
     "round(100 * sum(t.bill_amount - t.pay_amount) / sum(t.bill_amount), 1) AS margin_pct "
     "FROM timesheets t JOIN placements p USING (placement_id) JOIN job_orders j USING (job_id) "
     "GROUP BY j.vertical ORDER BY revenue DESC"},
    {"Every Java developer in Chicago who was called 5+ times but never placed",
     "SELECT c.candidate_id, c.first_name, c.last_name, c.skills, count(*) AS calls "
     "FROM candidates c JOIN call_log l USING (candidate_id) "
     "WHERE list_contains(string_split(c.skills, ';'), 'Java') AND c.city = 'Chicago' "
     "AND c.candidate_id NOT IN (SELECT candidate_id FROM placements) "
     "GROUP BY ALL HAVING count(*) >= 5 ORDER BY calls DESC, c.candidate_id"},
};

/* The lake's verified queries (the table ask_examples, docs/cli.md): how this data set is
 * asked about, which loch ask shows its model. None is one of bench/ask_eval.py's questions,
 * which measures ask with and without them. */
static const struct {
    const char *question, *sql;
} ask_examples[] = {
    {"How many candidates in Denver know Kotlin?",
     "SELECT count(*) FROM candidates WHERE city = 'Denver' AND list_contains(string_split(skills, ';'), 'Kotlin')"},
    {"How many clients have no job orders?",
     "SELECT count(*) FROM clients WHERE client_id NOT IN (SELECT client_id FROM job_orders)"},
    {"Which candidates were emailed 3 or more times? Give their ids.",
     "SELECT candidate_id FROM email_log GROUP BY candidate_id HAVING count(*) >= 3"},
    {"What is the total pay amount from timesheets for each client? Show the client name.",
     "SELECT c.name, sum(t.pay_amount) FROM timesheets t JOIN placements p USING (placement_id) JOIN job_orders j USING (job_id) JOIN clients c ON c.client_id = j.client_id GROUP BY c.name"},
    {"How many emails were sent in March 2026?",
     "SELECT count(*) FROM email_log WHERE sent_at >= TIMESTAMP '2026-03-01' AND sent_at < TIMESTAMP '2026-04-01'"},
    {"What is the average call duration of each recruiter?",
     "SELECT recruiter_name, avg(duration_sec) FROM call_log GROUP BY recruiter_name"},
    {"How many job orders are on hold?",
     "SELECT count(*) FROM job_orders WHERE status = 'on hold'"},
    {"Which vertical has the most clients?",
     "SELECT vertical FROM clients GROUP BY vertical ORDER BY count(*) DESC LIMIT 1"},
    {"How many placements ended in 2025?",
     "SELECT count(*) FROM placements WHERE end_date >= DATE '2025-01-01' AND end_date < DATE '2026-01-01'"},
    {"Which 5 candidates have the most placements?",
     "SELECT candidate_id, count(*) FROM placements GROUP BY candidate_id ORDER BY count(*) DESC LIMIT 5"},
};

#endif
