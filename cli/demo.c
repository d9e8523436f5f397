/*
 * cli/demo.c - `loch demo`: the staffing company of the seed documents, generated,
 * ingested with `loch ingest`, and asked its questions.
 *
 * The generator is plain SQL: every "random" choice is a hash of the row number and a
 * salt, so the files are the same bytes on every run and machine (given the same
 * DuckDB version): candidates 15,000; clients 500; job_orders 3,000; placements 8,000;
 * timesheets 120,000 (CSV); call_log 80,000 and email_log 60,000 (NDJSON, the
 * recruiter a nested object). Candidates carry a free-text resume and job orders a
 * description, for the search features to come.
 */
#include "demo.h"
#include "demo_queries.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* $DIR is replaced by the data directory (as a SQL string body). */
static const char *const generator[] = {
    "CREATE OR REPLACE TEMP MACRO pick(list, i, salt) AS list[1 + (hash(salt || ':' || i::VARCHAR) % len(list))::INTEGER];\n",
    "CREATE OR REPLACE TEMP MACRO rnd(i, salt, n) AS (hash(salt || ':' || i::VARCHAR) % n)::BIGINT;\n",
    "CREATE OR REPLACE TEMP TABLE candidates AS (\n",
    "  SELECT 1000 + i AS candidate_id,\n",
    "    pick(['James','Mary','Robert','Patricia','John','Jennifer','Michael','Linda','David','Elizabeth','Wei','Priya','Carlos','Fatima','Olga','Kwame','Sofia','Hiroshi','Aisha','Liam'], i, 'fn') AS first_name,\n",
    "    pick(['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis','Rodriguez','Martinez','Chen','Patel','Nguyen','Kim','Okafor','Kowalski','Rossi','Tanaka','Haddad','Murphy'], i, 'ln') AS last_name,\n",
    "    lower(first_name || '.' || last_name || (i % 97)::VARCHAR) || '@' || pick(['gmail.com','outlook.com','yahoo.com','proton.me'], i, 'em') AS email,\n",
    "    printf('%03d-555-%04d', 200 + rnd(i, 'ph', 700), rnd(i, 'pn', 10000)) AS phone,\n",
    "    pick(['Chicago','New York','Austin','Seattle','Boston','Denver','Atlanta','San Francisco','Dallas','Phoenix','Minneapolis','Charlotte'], i, 'ci') AS city,\n",
    "    pick(['Java;Spring;SQL','Python;Django;PostgreSQL','JavaScript;React;Node.js','C#;.NET;Azure','Java;Kotlin;AWS','Go;Kubernetes;Docker','SQL;Tableau;Excel','Python;Pandas;Spark','Java;Microservices;Kafka','Salesforce;Apex','Accounting;QuickBooks;Excel','Nursing;EMR;Patient Care','Project Management;Agile;Scrum','Welding;Blueprint Reading','Forklift;Warehouse;Inventory'], i, 'sk') AS skills,\n",
    "    1 + rnd(i, 'yx', 25) AS years_experience,\n",
    "    pick(['immediate','2 weeks','1 month','not looking'], i, 'av') AS availability,\n",
    "    DATE '2026-01-05' + rnd(i, 'af', 120)::INTEGER AS available_from,\n",
    "    35 + rnd(i, 'dr', 90) AS desired_rate,\n",
    "    pick(['Senior','Experienced','Versatile','Detail-oriented','Motivated'], i, 'r1') || ' professional with ' || years_experience || ' years of experience in ' || replace(skills, ';', ', ') || '. Based in ' || city || ', ' || pick(['open to contract and contract-to-hire roles','looking for a long-term contract','interested in remote or hybrid work','available for on-site assignments'], i, 'r2') || '. ' || pick(['Led a team of five on a migration project.','Known for clear communication with clients.','Holds an industry certification.','Mentored junior colleagues.','Delivered projects ahead of schedule.'], i, 'r3') AS resume\n",
    "  FROM range(15000) r(i) ORDER BY i);\n",
    "CREATE OR REPLACE TEMP TABLE clients AS (\n",
    "  SELECT 1 + i AS client_id,\n",
    "    pick(['Acme','Globex','Initech','Umbrella','Stark','Wayne','Hooli','Vandelay','Soylent','Tyrell','Cyberdyne','Wonka','Gringotts','Oscorp','Pied Piper'], i, 'cn') || ' ' || pick(['Industries','Health','Logistics','Financial','Systems','Foods','Energy','Labs','Retail','Manufacturing'], i, 'cs') || ' ' || (i + 1)::VARCHAR AS name,\n",
    "    pick(['IT','Healthcare','Finance','Light Industrial','Accounting','Engineering'], i, 'vt') AS vertical,\n",
    "    pick(['Chicago','New York','Austin','Seattle','Boston','Denver','Atlanta','San Francisco','Dallas','Phoenix','Minneapolis','Charlotte'], i, 'cc') AS city,\n",
    "    DATE '2015-01-01' + rnd(i, 'cd', 3650)::INTEGER AS client_since\n",
    "  FROM range(500) r(i) ORDER BY i);\n",
    "CREATE OR REPLACE TEMP TABLE job_orders AS (\n",
    "  SELECT 5000 + i AS job_id, 1 + rnd(i, 'jc', 500) AS client_id,\n",
    "    pick(['Java Developer','Python Engineer','Front-end Developer','.NET Developer','Data Analyst','DevOps Engineer','Staff Accountant','Registered Nurse','Project Manager','Warehouse Associate','Welder','Salesforce Admin'], i, 'jt') AS title,\n",
    "    pick(['IT','Healthcare','Finance','Light Industrial','Accounting','Engineering'], i, 'jv') AS vertical,\n",
    "    pick(['Chicago','New York','Austin','Seattle','Boston','Denver','Atlanta','San Francisco','Dallas','Phoenix','Minneapolis','Charlotte'], i, 'jy') AS city,\n",
    "    round(60 + rnd(i, 'br', 90) + rnd(i, 'bc', 100) / 100.0, 2) AS bill_rate,\n",
    "    round(bill_rate * (0.62 + rnd(i, 'pr', 15) / 100.0), 2) AS pay_rate,\n",
    "    DATE '2025-01-01' + rnd(i, 'jo', 450)::INTEGER AS opened_date,\n",
    "    pick(['open','filled','on hold','closed'], i, 'js') AS status,\n",
    "    'Our client in ' || city || ' is hiring a ' || title || ' for a ' || pick(['6-month contract','12-month contract','contract-to-hire role','permanent position'], i, 'jd') || '. ' || pick(['Must have strong communication skills.','Experience in a regulated industry is a plus.','Team of eight, agile process.','Weekend availability required.','Hybrid schedule, three days on site.'], i, 'je') AS description\n",
    "  FROM range(3000) r(i) ORDER BY i);\n",
    "CREATE OR REPLACE TEMP TABLE placements AS (\n",
    "  SELECT 70000 + i AS placement_id,\n",
    "    1000 + rnd(i, 'pc', 15000) AS candidate_id, 5000 + rnd(i, 'pj', 3000) AS job_id, j.client_id,\n",
    "    DATE '2025-01-06' + rnd(i, 'ps', 400)::INTEGER AS start_date,\n",
    "    start_date + (30 + rnd(i, 'pe', 300))::INTEGER AS end_date, j.bill_rate, j.pay_rate\n",
    "  FROM range(8000) r(i) JOIN job_orders j ON j.job_id = 5000 + rnd(i, 'pj', 3000) ORDER BY i);\n",
    "CREATE OR REPLACE TEMP TABLE timesheets AS (\n",
    "  SELECT 900000 + i AS timesheet_id, p.placement_id,\n",
    "    p.start_date + (7 * (1 + rnd(i, 'tw', 40)))::INTEGER AS week_ending,\n",
    "    pick([40.0, 40.0, 40.0, 37.5, 32.0, 45.0, 24.0, 40.0], i, 'th') AS hours,\n",
    "    round(hours * p.bill_rate, 2) AS bill_amount, round(hours * p.pay_rate, 2) AS pay_amount\n",
    "  FROM range(120000) r(i) JOIN placements p ON p.placement_id = 70000 + rnd(i, 'tp', 8000) ORDER BY i);\n",
    "CREATE OR REPLACE TEMP TABLE call_log AS (\n",
    "  SELECT 3000000 + i AS call_id, 1000 + rnd(i, 'cl', 15000) AS candidate_id,\n",
    "    struct_pack(name := pick(['Dana Reyes','Sam Ortiz','Lee Park','Alex Morgan','Jordan Blake','Casey Quinn'], i, 'rc'),\n",
    "                team := pick(['IT','Healthcare','Industrial'], i, 'rt')) AS recruiter,\n",
    "    TIMESTAMP '2025-01-02 08:00:00' + to_seconds(rnd(i, 'ct', 36000000)) AS called_at,\n",
    "    pick(['no answer','left voicemail','interested','not interested','call back later','wrong number'], i, 'cd') AS disposition,\n",
    "    rnd(i, 'cs', 1800) AS duration_sec\n",
    "  FROM range(80000) r(i) ORDER BY i);\n",
    "CREATE OR REPLACE TEMP TABLE email_log AS (\n",
    "  SELECT 5000000 + i AS email_id, 1000 + rnd(i, 'el', 15000) AS candidate_id,\n",
    "    TIMESTAMP '2025-01-02 08:00:00' + to_seconds(rnd(i, 'et', 36000000)) AS sent_at,\n",
    "    pick(['New contract role in your area','Are you still looking?','Quick question about your availability','Your profile matched a client request','Timesheet reminder','Interview confirmation'], i, 'es') AS subject,\n",
    "    rnd(i, 'eo', 3) > 0 AS opened, rnd(i, 'ek', 5) = 0 AS clicked\n",
    "  FROM range(60000) r(i) ORDER BY i);\n",
    "COPY candidates TO '$DIR/candidates.csv' (HEADER);\n",
    "COPY clients TO '$DIR/clients.csv' (HEADER);\n",
    "COPY job_orders TO '$DIR/job_orders.csv' (HEADER);\n",
    "COPY (SELECT * EXCLUDE (client_id, bill_rate, pay_rate) FROM placements ORDER BY placement_id) TO '$DIR/placements.csv' (HEADER);\n",
    "COPY timesheets TO '$DIR/timesheets.csv' (HEADER);\n",
    "COPY call_log TO '$DIR/call_log.ndjson' (FORMAT json);\n",
    "COPY email_log TO '$DIR/email_log.ndjson' (FORMAT json);\n",
};


static const char *const files[] = {"candidates.csv", "clients.csv", "job_orders.csv", "placements.csv",
                                     "timesheets.csv", "call_log.ndjson", "email_log.ndjson"};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int generate(loch_lake *lake, const char *dir)
{
    size_t n = 64, lines = sizeof(generator) / sizeof(generator[0]);
    for (size_t i = 0; i < lines; i++)
        n += strlen(generator[i]) + 4 * strlen(dir);
    char *text = malloc(n), *sql = malloc(n), *w = sql;
    if (!text || !sql) {
        free(text);
        free(sql);
        return -1;
    }
    text[0] = '\0';
    for (size_t i = 0; i < lines; i++)
        strcat(text, generator[i]);
    for (const char *p = text; *p; p++) {
        if (strncmp(p, "$DIR", 4) == 0) {
            for (const char *d = dir; *d; d++) {
                if (*d == '\'')
                    *w++ = '\'';
                *w++ = *d;
            }
            p += 3;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    loch_result *r = NULL;
    int rc = loch_sql(&r, lake, sql);
    loch_result_free(r);
    free(sql);
    free(text);
    return rc;
}

/* Appends s to out as a SQL string literal; 0, or -1 when it does not fit. */
static int put_literal(char *out, size_t cap, size_t *len, const char *s)
{
    if (*len + 1 >= cap)
        return -1;
    out[(*len)++] = '\'';
    for (; *s; s++) {
        if (*len + 3 >= cap)
            return -1;
        if (*s == '\'')
            out[(*len)++] = '\'';
        out[(*len)++] = *s;
    }
    out[(*len)++] = '\'';
    out[*len] = '\0';
    return 0;
}

/* The table ask_examples, once: the verified queries of demo_queries.h. */
static int add_examples(loch_lake *lake)
{
    static char sql[16384];
    size_t len = (size_t)snprintf(sql, sizeof(sql), "CREATE TABLE ask_examples AS SELECT * FROM (VALUES ");
    loch_result *r = NULL;
    if (loch_sql(&r, lake, "SELECT 1 FROM ask_examples LIMIT 0") == 0) {
        loch_result_free(r);
        printf("$ loch sql \"CREATE TABLE ask_examples ...\": already there\n");
        return 0;
    }
    size_t n = sizeof(ask_examples) / sizeof(ask_examples[0]);
    for (size_t i = 0; i < n; i++) {
        if (len + 4 >= sizeof(sql))
            return -1;
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s(", i ? ", " : "");
        if (put_literal(sql, sizeof(sql), &len, ask_examples[i].question) < 0 || len + 2 >= sizeof(sql))
            return -1;
        sql[len++] = ',', sql[len++] = ' ';
        if (put_literal(sql, sizeof(sql), &len, ask_examples[i].sql) < 0 || len + 1 >= sizeof(sql))
            return -1;
        sql[len++] = ')', sql[len] = '\0';
    }
    if (len + 40 >= sizeof(sql))
        return -1;
    snprintf(sql + len, sizeof(sql) - len, ") t(question, sql)");
    if (loch_sql(&r, lake, sql) < 0)
        return -1;
    loch_result_free(r);
    printf("$ loch sql \"CREATE TABLE ask_examples ...\": %zu verified queries for loch ask\n", n);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int demo_run(loch_lake *lake, const char *dir_arg, output_format format)
{
    char dir[4096], path[4608];
    struct stat sb;
    int missing = 0;
    snprintf(dir, sizeof(dir), "%s", dir_arg ? dir_arg : "");
    if (!dir_arg)
        snprintf(dir, sizeof(dir), "%s/_loch/demo-data", loch_lake_root(lake));
    mkdir(dir, 0755);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        missing = missing || stat(path, &sb) != 0;
    }
    if (missing) {
        printf("generating the staffing data set (seeded, 286,500 rows) in %s ...\n", dir);
        fflush(stdout);
        if (generate(lake, dir) < 0) {
            fprintf(stderr, "Error: generating the demo data: %s\n", loch_error_last());
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char table[64];
        snprintf(table, sizeof(table), "%.*s", (int)strcspn(files[i], "."), files[i]);
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        const char *inputs[] = {path};
        loch_ingest_options o = LOCH_INGEST_OPTIONS_INIT;
        loch_result *r = NULL;
        if (loch_ingest(&r, lake, table, inputs, 1, &o) < 0) {
            fprintf(stderr, "Error: %s\n", loch_error_last());
            return 1;
        }
        char *rows = loch_result_text(r, 0, 2), *version = loch_result_text(r, 0, 1);
        char *secs = loch_result_text(r, 0, 6);
        if (loch_result_message(r))
            printf("$ loch ingest %-12s %s: already ingested\n", table, files[i]);
        else
            printf("$ loch ingest %-12s %s: %s rows, version %s, %s s\n", table, files[i], rows, version, secs);
        loch_free(rows), loch_free(version), loch_free(secs);
        loch_result_free(r);
    }
    if (add_examples(lake) < 0) {
        fprintf(stderr, "Error: %s\n", loch_error_last());
        return 1;
    }
    for (size_t q = 0; q < sizeof(questions) / sizeof(questions[0]); q++) {
        double t[5];
        loch_result *r = NULL;
        for (int k = 0; k < 5; k++) {
            loch_result_free(r);
            r = NULL;
            double t0 = now_ms();
            if (loch_sql(&r, lake, questions[q].sql) < 0) {
                fprintf(stderr, "Error: %s\n", loch_error_last());
                return 1;
            }
            t[k] = now_ms() - t0;
        }
        qsort(t, 5, sizeof(double), cmp_double);
        printf("\n%zu. %s   (median of 5: %.1f ms)\n", q + 1, questions[q].title, t[2]);
        format_result(stdout, r, format, 12);
        loch_result_free(r);
    }
    return 0;
}
