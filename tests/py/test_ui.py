"""The browser UI (`loch serve`, then http://HOST:PORT/), driven in Debian's chromium by
Playwright: the page loads under its Content-Security-Policy with no error, a token
prompt, the SQL tab (editor, run, errors at their position, cancel, sort, copy, chart,
downloads), Explore (tables, profiles, preview, time travel, upload), Ask without a
model, System, an accessibility check (axe-core) on every tab in light and dark, and
screenshots of every tab in both schemes under build/screenshots/.

Timings (time to interactive, first rows of a 1M-row result, frame times while
scrolling it) are measured and written to build/screenshots/ui-timings.json, never
asserted: a test checks behaviour. Every wait is for an event in the page."""
import csv
import io
import json
import os
import re
import shutil
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import LOCH
from test_server import Server

pw = pytest.importorskip("playwright.sync_api", reason="scripts/setup.sh installs playwright")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(LOCH).resolve().parent / "screenshots"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
TIMINGS = {}


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: scripts/setup.sh installs it"
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"] if os.geteuid() == 0 else [])
        yield b
        b.close()
    if TIMINGS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "ui-timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


def make_lake(lake):
    lake.sql("CREATE TABLE trips AS SELECT range AS id, ['Oslo', 'Lima', 'Pune'][range % 3 + 1] AS city, "
             "(range * 7 % 100)::DOUBLE AS fare, DATE '2026-01-01' + (range % 30)::INT AS day FROM range(500)")
    lake.sql("INSERT INTO trips VALUES (500, 'Oslo', 12.5, DATE '2026-02-01')")  # version 1


@pytest.fixture
def ui(lake, browser):
    make_lake(lake)
    s = Server(lake, env={"LOCH_ASK_MODEL": "/nonexistent/generation-model.gguf"})
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.errors = []
    # a 4xx answer is logged by the browser itself; the tests look at how the page shows it
    page.on("console", lambda m: m.type == "error" and not re.match(r"Failed to load resource: .* status of 4\d\d", m.text)
            and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.base = f"http://{s.host}:{s.port}/"
    page.foreign = []  # anything fetched from elsewhere than the server (must stay empty)
    page.on("request", lambda r: r.url.startswith(page.base) or r.url.startswith(("data:", "blob:"))
            or page.foreign.append(r.url))
    yield page
    assert page.foreign == [], page.foreign
    ctx.close()
    assert s.stop() == 0


def until(page, js, arg=None, limit=60):
    """Waits until the page's js (a function) returns something true, and returns it.
    page.wait_for_function cannot be used: it builds its predicate with eval, which the
    page's policy forbids (as it should). The limit is for a broken build only."""
    deadline = time.monotonic() + limit
    while not (got := page.evaluate(js, arg)):
        assert time.monotonic() < deadline, f"the page never got there: {js}"
        time.sleep(0.02)
    return got


def serious_violations(page):
    """axe-core's serious and critical violations on the page as it is: [{id, nodes}].
    axe is evaluated through the debugger, as the page's policy allows no injected script."""
    page.evaluate(AXE.read_text())
    return page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                         ".filter((v) => ['serious', 'critical'].includes(v.impact))"
                         ".map((v) => ({id: v.id, nodes: v.nodes.map((n) => n.target)}))")


def open_tab(page, tab, fragment=""):
    page.goto(page.base + f"#/{tab}{fragment}")
    page.wait_for_selector(f"#panel-{tab}:not([hidden])")


def editor_type(page, text):
    page.click(".cm-content")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def run_sql(page, text):
    """Runs text and waits for its result: a new result tab that is no longer running."""
    editor_type(page, text)
    page.keyboard.press("Escape")  # the completion list, if open
    n = page.locator(".result-tab").count()
    page.keyboard.press("Control+Enter")
    until(page, """(n) => { const t = document.querySelectorAll('.result-tab');
        return (t.length > n || t.length === 8) && !t[t.length - 1].textContent.includes('…') }""", n)


def test_sql_tab_runs_queries_and_shows_errors_where_they_are(ui):
    open_tab(ui, "sql")
    TIMINGS["interactive_ms"] = until(ui, "() => performance.getEntriesByName('loch-ready')[0]?.startTime")
    run_sql(ui, "SELECT city, count(*) AS n, sum(fare) AS total FROM trips GROUP BY city ORDER BY city")
    assert "3 rows" in ui.inner_text(".result-bar .status")
    cells = ui.locator("#panel-sql .grid-row:not([hidden]) .grid-cell").all_inner_texts()
    assert cells[:2] == ["Lima", "167"] and cells[3:5] == ["Oslo", "168"]
    # sort by n, descending after two clicks: Oslo (168) first
    ui.click(".grid-sort:text('n')")
    ui.click(".grid-sort:text('n')")
    assert ui.locator("#panel-sql .grid-row:not([hidden])").first.locator(".grid-cell").first.inner_text() == "Oslo"
    # the URL keeps the query: a reload shows it again
    ui.reload()
    ui.wait_for_selector("#panel-sql:not([hidden]) .cm-content")
    assert "GROUP BY city" in ui.inner_text(".cm-content")
    # an error is shown, and marked in the editor where it is
    run_sql(ui, "SELECT citty FROM trips")
    assert "citty" in ui.inner_text(".sql .error")
    mark = ui.wait_for_selector(".cm-lintRange-error")
    assert mark.inner_text() == "citty"
    # a write answers with its message
    run_sql(ui, "CREATE TABLE small AS SELECT 1 AS x")
    assert "created table small" in ui.inner_text(".result-bar .status")
    assert ui.errors == [], ui.errors


def test_sql_cancel_stops_the_query_on_the_server(ui):
    open_tab(ui, "sql")
    editor_type(ui, "SELECT count(*) FROM range(100000000000) a")
    ui.keyboard.press("Control+Enter")
    # wait until the server runs it (its /v1/queries lists it), then cancel
    until(ui, """async () => {
        const r = await fetch('/v1/queries'); return (await r.json()).queries.length > 0 }""")
    ui.click("button:text('Cancel')")
    ui.wait_for_selector(".sql .error:text('Cancelled.')")
    until(ui, """async () => {
        const r = await fetch('/v1/queries'); return (await r.json()).queries.length === 0 }""")


def test_a_million_rows_scroll_to_the_end(ui):
    open_tab(ui, "sql")
    run_sql(ui, "SELECT range AS a, range * 2 AS b, 'row ' || range AS c, range / 3.0 AS d, range % 7 AS e "
                "FROM range(1000000)")
    assert "1,000,000 rows" in ui.inner_text(".result-bar .status")
    until(ui, "() => performance.getEntriesByName('loch-first-rows').length > 0")
    TIMINGS["first_rows_1m_ms"] = ui.evaluate("performance.getEntriesByName('loch-first-rows').at(-1).duration")
    # frame times while scrolling from top to bottom in 100 steps, one a frame
    frames = ui.evaluate("""() => new Promise((done) => {
        const body = document.querySelector('.grid'); const times = []; let last = performance.now(), i = 0;
        const step = () => {
            const now = performance.now(); times.push(now - last); last = now;
            if (i++ === 100) return done(times.slice(1));
            body.scrollTop = (body.scrollHeight - body.clientHeight) * i / 100;
            requestAnimationFrame(step);
        };
        requestAnimationFrame(step);
    })""")
    frames.sort()
    TIMINGS["scroll_1m_frame_ms"] = {"p50": frames[len(frames) // 2], "p95": frames[int(len(frames) * 0.95)],
                                     "max": frames[-1]}
    until(ui, """() => [...document.querySelectorAll('#panel-sql .grid-row:not([hidden])')]
        .some((r) => r.children[0].textContent === '999999')""")
    # Ctrl-End from the grid selects the last row's cell
    ui.click("#panel-sql .grid-row:not([hidden]) .grid-cell >> nth=0")
    ui.keyboard.press("Control+Home")
    ui.keyboard.press("Control+End")
    assert ui.inner_text(".grid-cell.selected") == "999999"


def test_chart_and_downloads(ui):
    open_tab(ui, "sql")
    run_sql(ui, "SELECT city, count(*) AS n FROM trips GROUP BY city ORDER BY city")
    ui.click(".segmented button:text('Chart')")
    assert ui.locator(".chart-svg rect.bar").count() == 3
    ui.select_option(".chart-bar select >> nth=0", "histogram")
    ui.select_option(".chart-bar select >> nth=1", "1")
    assert ui.locator(".chart-svg rect.bar").count() == 30
    # decimals and 128-bit sums sort by value and chart by value, not by their text
    run_sql(ui, "SELECT x::DECIMAL(10,2) AS d, sum(x::BIGINT) OVER () AS s FROM (VALUES (9.5), (10.25), (-3)) t(x)")
    ui.click(".grid-sort:text('d')")
    assert ui.locator("#panel-sql .grid-row:not([hidden]) .grid-cell").all_inner_texts()[::2] == ["-3.00", "9.50", "10.25"]
    run_sql(ui, "SELECT city, count(*) AS n FROM trips GROUP BY city ORDER BY city")
    with ui.expect_download() as d:
        ui.click(".downloads button:text('CSV')")
    rows = list(csv.reader(io.StringIO(Path(d.value.path()).read_text())))
    assert rows == [["city", "n"], ["Lima", "167"], ["Oslo", "168"], ["Pune", "166"]]
    with ui.expect_download() as d:
        ui.click(".downloads button:text('PARQUET')")
    import pyarrow.parquet as pq
    assert pq.read_table(d.value.path()).num_rows == 3
    assert ui.errors == [], ui.errors


def test_explore_profiles_time_travel_and_upload(ui, tmp_path):
    open_tab(ui, "explore")
    ui.click("table.tables a:text('trips')")
    ui.wait_for_selector("table.profile")
    assert "city" in ui.inner_text("table.profile")
    ui.wait_for_selector(".preview .grid-row")
    assert "501 rows" in ui.inner_text(".detail-head")
    # version 0: the row inserted at version 1 is not there
    ui.select_option("#version-pick", "0")
    ui.wait_for_selector("h3:text('Preview at version 0')")
    until(ui, "() => document.querySelector('.preview .grid')?.getAttribute('aria-rowcount') === '501'")
    # top values of a column
    ui.click("table.profile tr:has(th:text('city')) button:text('show')")
    ui.wait_for_selector(".topvals li")
    # upload a CSV into a new table
    f = tmp_path / "people.csv"
    f.write_text("name,age\nada,36\ngrace,45\n")
    ui.fill("#upload-table", "people")
    ui.set_input_files(".upload input[type=file]", str(f))
    ui.wait_for_selector("table.tables a:text('people')")
    ui.wait_for_selector(".detail-head h2:text('people')")
    # a file that cannot be read: its error, and nothing made
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2\n3\n\x00\xff")
    ui.fill("#upload-table", "bad")
    ui.set_input_files(".upload input[type=file]", str(bad))
    err = ui.wait_for_selector(".upload-out .error").inner_text()
    assert "bad.csv" in err and "line 3" in err and "_loch" not in err, err  # the user's name for it
    assert ui.errors == [], ui.errors


def test_ask_without_a_model_says_what_is_missing(ui):
    open_tab(ui, "ask")
    ui.fill("#ask-q", "Which city has the most trips?")
    ui.click(".ask-form button[type=submit]")
    err = ui.wait_for_selector(".answer .error", timeout=60_000)
    assert err.inner_text().strip()  # the server's reason, never a made-up answer


def test_system_tab_shows_the_server(ui):
    ui.goto(ui.base)  # the page itself, then a failed request the server keeps
    ui.evaluate("async () => await fetch('/v1/tables/nope')")
    open_tab(ui, "system")
    ui.wait_for_selector(".facts dd")
    text = ui.inner_text(".facts")
    assert "Version" in text and "Uptime" in text
    ui.wait_for_selector("table.rates tbody tr")
    ui.wait_for_selector("ul[aria-label='Recent errors of the server'] li:has-text('does not exist')")


def test_token_login(lake, browser):
    make_lake(lake)
    s = Server(lake, env={"LOCH_TOKENS": "sekret-token"})
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        page.goto(f"http://{s.host}:{s.port}/#/explore")
        page.wait_for_selector("#login[open]")
        page.fill("#login-token", "wrong")
        page.click("#login button[value=ok]")
        page.wait_for_selector("#login[open]")  # asked again, with the server's reason
        assert "not valid" in page.inner_text("#login-why")
        page.fill("#login-token", "s\u00f8kret\u2019")  # pasted from a document: no header can carry it
        page.click("#login button[value=ok]")
        page.wait_for_selector("#login[open]")
        assert "ASCII" in page.inner_text("#login-why")
        page.evaluate("sessionStorage.setItem('loch.token', 's\u00f8kret')")  # one stored before: no token
        page.fill("#login-token", "sekret-token")
        page.click("#login button[value=ok]")
        page.wait_for_selector("table.tables a:text('trips')")
        assert page.evaluate("sessionStorage.getItem('loch.token')") == "sekret-token"
        assert page.evaluate("document.cookie") == ""  # never a cookie: no CSRF
    finally:
        ctx.close()
        assert s.stop() == 0


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_tab_is_accessible_and_photographed(ui, scheme):
    ui.emulate_media(color_scheme=scheme)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for tab, prepare in [
        ("ask", None),
        ("explore", lambda: (ui.click("table.tables a:text('trips')"), ui.wait_for_selector(".preview .grid-row"),
                             ui.wait_for_selector("table.profile"))),
        ("sql", lambda: run_sql(ui, "SELECT * FROM trips ORDER BY id LIMIT 200")),
        ("system", lambda: ui.wait_for_selector("table.rates tbody tr")),
    ]:
        open_tab(ui, tab)
        if prepare:
            prepare()
        ui.screenshot(path=str(SHOTS / f"{tab}-{scheme}.png"))
        serious = serious_violations(ui)
        assert serious == [], (tab, scheme, serious)
    assert ui.errors == [], ui.errors


def test_the_whole_flow_upload_explore_query_chart_time_travel_download(ui, tmp_path):
    """The issue's flow in one go, as a user clicks through it."""
    f = tmp_path / "sales.csv"
    f.write_text("region,amount\nnorth,10\nsouth,20\nnorth,5\n")
    open_tab(ui, "explore")
    ui.fill("#upload-table", "sales")
    ui.set_input_files(".upload input[type=file]", str(f))
    ui.wait_for_selector(".detail-head h2:text('sales')")
    ui.wait_for_selector("table.profile tr:has(th:text('amount'))")
    ui.click("a.button:text('Query in SQL')")
    ui.wait_for_selector("#panel-sql:not([hidden]) .cm-content")
    assert 'FROM "sales"' in ui.inner_text(".cm-content")
    run_sql(ui, "INSERT INTO sales VALUES ('west', 7)")
    run_sql(ui, "SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY region")
    assert ui.locator("#panel-sql .grid-row:not([hidden])").count() == 3
    ui.click(".segmented button:text('Chart')")
    assert ui.locator(".chart-svg rect.bar").count() == 3
    # time travel: version 0 has no west
    open_tab(ui, "explore", "/sales?v=0")
    ui.wait_for_selector("h3:text('Preview at version 0')")
    until(ui, "() => document.querySelector('.preview .grid')?.getAttribute('aria-rowcount') === '4'")
    open_tab(ui, "sql", "?q=" + "SELECT%20*%20FROM%20%22sales%40v0%22%20ORDER%20BY%20amount")
    run_sql(ui, "SELECT * FROM \"sales@v0\" ORDER BY amount")
    with ui.expect_download() as d:
        ui.click(".downloads button:text('ARROW')")
    import pyarrow as pa
    t = pa.ipc.open_stream(Path(d.value.path()).read_bytes()).read_all()
    assert t.column("amount").to_pylist() == [5, 10, 20]
    assert ui.errors == [], ui.errors


def test_readable_at_twice_the_zoom(ui):
    """200% zoom is a viewport half as wide in CSS pixels: nothing needs a sideways scroll
    of the page, and every tab stays accessible."""
    ui.set_viewport_size({"width": 640, "height": 400})
    for tab in ("ask", "explore", "sql", "system"):
        open_tab(ui, tab)
        if tab == "explore":
            ui.wait_for_selector("table.tables a:text('trips')")
        wide = ui.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert wide <= 0, (tab, wide)
        found = serious_violations(ui)
        assert found == [], (tab, found)


def test_a_link_never_runs_a_statement(ui):
    """A page of another site can link to the UI with any query in its address: the link
    fills the editor and nothing more; only the user's Run sends it."""
    ui.goto(ui.base + "#/sql?q=DROP%20TABLE%20trips&run=1")
    ui.wait_for_selector("#panel-sql:not([hidden]) .cm-content")
    assert "DROP TABLE trips" in ui.inner_text(".cm-content")
    open_tab(ui, "system")  # a round trip through the server: anything sent would have arrived
    ui.wait_for_selector("table.rates tbody tr")
    assert ui.evaluate("async () => (await (await fetch('/v1/tables/trips')).json()).rows") == 501
    assert ui.locator(".result-tab").count() == 0


def dialogs(page):
    """Every confirm() the page opens from now on, answered "no"; their messages."""
    asked = []
    page.on("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    return asked


def press_run_and_wait_for_question(page, asked, n):
    page.click(".cm-content")
    page.keyboard.press("Control+Enter")
    deadline = time.monotonic() + 60  # for a broken build only
    while len(asked) < n and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    return asked[n - 1] if len(asked) >= n else None


def test_a_linked_query_is_announced_and_a_linked_change_asks_first(ui):
    """A link can hide a DROP fifty lines below a SELECT: the warning says what the server
    would run (its own split and the engine's parser, never a scanner of the page's), what
    the user had typed goes to History, the focus leaves the editor, and Run asks before
    sending a linked text that does more than read, however it was edited since."""
    asked = dialogs(ui)
    open_tab(ui, "sql")
    editor_type(ui, "SELECT 7 AS mine")
    hidden = "SELECT 1;" + "\n" * 60 + "-- a comment; with a semicolon\nDROP TABLE trips"
    ui.goto(ui.base + "#/sql?q=" + urllib.parse.quote(hidden))
    until(ui, "() => document.querySelector('.warning').textContent.includes('It holds')")
    text = ui.inner_text(".warning")
    assert "came from a link" in text and "(62 lines)" in text and "2 statements, 1 of which does more than read: DROP" \
        in text and "History" in text, text
    assert not ui.evaluate("() => document.activeElement.closest('.cm-editor') !== null")
    assert "DROP" in press_run_and_wait_for_question(ui, asked, 1)
    ui.keyboard.press("End")  # an edit far from the DROP ends nothing
    ui.keyboard.insert_text(" ")
    assert "DROP" in press_run_and_wait_for_question(ui, asked, 2)
    assert ui.locator(".result-tab").count() == 0
    ui.click("button:text('History')")
    assert "SELECT 7 AS mine" in ui.inner_text("#sql-history")
    ui.click("button:text('History')")
    # what scanners of the page's own once missed (the engine's lexer decides now): an
    # escape string, '$' inside names, a nested comment before the first word, a \r
    # ending a -- comment; and a linked text replaced by another link never reaches
    # History as the user's
    for n, text in enumerate(["SELECT E'\\''; DROP TABLE trips; --'", "SELECT 1 AS a$x$;\n\nDROP TABLE trips;\nSELECT 1 AS b$x$",
                              "/* /* */ SELECT */ DROP TABLE trips", "SELECT 1 AS w -- c\r; DROP TABLE trips"], start=3):
        ui.goto(ui.base + "#/sql?q=" + urllib.parse.quote(text))
        until(ui, "() => document.querySelector('.warning').textContent.includes('It holds')")
        assert "DROP" in ui.inner_text(".warning") or "more than read" in ui.inner_text(".warning"), text
        assert press_run_and_wait_for_question(ui, asked, n), text
    ui.click("button:text('History')")
    assert "DROP" not in ui.inner_text("#sql-history")
    ui.click("button:text('History')")
    # a linked query that only reads: no question, and the warning ends with the run
    ui.goto(ui.base + "#/sql?q=" + urllib.parse.quote("/* read */ (SELECT count(*) AS n FROM trips)"))
    until(ui, "() => document.querySelector('.warning').textContent.includes('all of them queries')")
    ui.click(".cm-content")
    ui.keyboard.press("Control+Enter")
    until(ui, "() => document.querySelectorAll('#panel-sql .grid-cell').length > 0")
    assert ui.locator("#panel-sql .grid-row:not([hidden]) .grid-cell").all_inner_texts() == ["501"]
    assert ui.locator(".warning").is_hidden() and len(asked) == 6
    # the user's own text, reloaded from the address, is no link's
    editor_type(ui, "SELECT 2 AS own")
    until(ui, "() => location.hash.includes('own')")  # the editor has taken the keys in
    ui.reload()
    ui.wait_for_selector("#panel-sql:not([hidden]) .cm-content")
    assert "SELECT 2 AS own" in ui.inner_text(".cm-content") and ui.locator(".warning").is_hidden()
    assert ui.evaluate("async () => (await (await fetch('/v1/tables/trips')).json()).rows") == 501
    assert ui.errors == [], ui.errors


def test_one_run_at_a_time_and_uploads_go_where_the_user_said(ui, tmp_path):
    """Ctrl-Enter while a query runs (seen from another result tab) starts nothing; a file
    dropped with the name field empty goes to a table named after it, never into the table
    on view, and appending to an existing table asks first."""
    open_tab(ui, "sql")
    run_sql(ui, "SELECT 1 AS one")
    editor_type(ui, "SELECT count(*) FROM range(4000000000) a")
    ui.keyboard.press("Control+Enter")
    until(ui, "async () => (await (await fetch('/v1/queries')).json()).queries.length === 1")
    ui.click(".result-tab button:text('Result 1')")
    ui.click(".cm-content")
    ui.keyboard.press("Control+Enter")
    assert ui.locator(".result-tab").count() == 2
    ui.click("button:text('Cancel')")
    until(ui, "async () => (await (await fetch('/v1/queries')).json()).queries.length === 0")
    until(ui, "() => !document.querySelector('.result-tab:last-child').textContent.includes('…')")
    asked = dialogs(ui)
    f = tmp_path / "customers.csv"
    f.write_text("name,city\nAda,Oslo\n")
    open_tab(ui, "explore", "/trips")
    ui.wait_for_selector(".detail-head h2:text('trips')")
    ui.set_input_files(".upload input[type=file]", str(f))
    ui.wait_for_selector(".upload-out :text('Ingested into customers')")
    assert ui.evaluate("async () => (await (await fetch('/v1/tables/customers')).json()).rows") == 1
    assert ui.evaluate("async () => (await (await fetch('/v1/tables/trips')).json()).rows") == 501
    ui.set_input_files(".upload input[type=file]", str(f))  # again: it exists now, so it asks
    until(ui, "() => document.querySelector('.upload-out').textContent.includes('Not ingested')")
    assert asked and "customers" in asked[0]
    assert ui.evaluate("async () => (await (await fetch('/v1/tables/customers')).json()).rows") == 1
    assert ui.errors == [], ui.errors


def test_hostile_results_neither_crash_the_chart_nor_freeze_the_grid(ui):
    """Times past JavaScript's Date (infinity, year 294,246), NaN and the widest doubles
    chart without an error; 2,000 columns draw only those in view (End reaches the last);
    a list of 100,000 elements is cut in its cell; BIT and TIME WITH TIME ZONE show as
    DuckDB prints them (as text: Arrow would lose them); fixed-size lists say so."""
    open_tab(ui, "sql")
    for q, kind in [("SELECT 'infinity'::TIMESTAMP AS t, 1 AS y UNION ALL SELECT TIMESTAMP '2020-01-01', 2", "line"),
                    ("SELECT TIMESTAMP '294246-01-01' AS t, 1 AS y UNION ALL SELECT TIMESTAMP '2020-01-01', 2", "line"),
                    ("SELECT 'infinity'::DATE AS d, 1 AS y UNION ALL SELECT DATE '2020-01-01', 2", "line"),
                    ("SELECT 1e308 AS a, -1e308 AS b UNION ALL SELECT -1.7e308, 1.7e308", "scatter"),
                    ("SELECT 'nan'::DOUBLE AS a", "histogram")]:
        run_sql(ui, q)
        ui.click(".segmented button:text('Chart')")
        ui.wait_for_selector(".chart-plot > *")
        for other in ("histogram", "line", "scatter", "bar", kind):
            ui.select_option(".chart-bar select >> nth=0", other)
        assert not ui.locator(".chart-svg [x='NaN'], .chart-svg [y='NaN']").count(), q
    run_sql(ui, "SELECT " + ", ".join(f"{i} AS c{i}" for i in range(2000)) + " FROM range(100)")
    assert ui.locator("#panel-sql .grid-row:not([hidden]) >> nth=0").locator(".grid-cell").count() < 100
    assert ui.locator("#panel-sql .grid-hcell").count() < 100
    ui.click("#panel-sql .grid-cell >> nth=0")
    ui.keyboard.press("End")
    until(ui, "() => document.querySelector('#panel-sql .grid-cell.selected')?.getAttribute('aria-colindex') === '2000'")
    assert ui.inner_text("#panel-sql .grid-cell.selected") == "1999"
    run_sql(ui, "SELECT range(100000) AS l FROM range(200)")
    first = ui.inner_text("#panel-sql .grid-row:not([hidden]) .grid-cell >> nth=0")
    assert first.startswith("[0, 1, 2") and first.endswith("…") and len(first) < 2100
    run_sql(ui, "SELECT '0101'::BIT AS b, TIMETZ '12:00:00+05' AS z, [1, 2, 3]::INTEGER[3] AS f")
    cells = ui.locator("#panel-sql .grid-row:not([hidden]) .grid-cell").all_inner_texts()
    assert cells == ["0101", "12:00:00+05", "[1, 2, 3]"], cells
    run_sql(ui, "SELECT [1, 2, 3]::INTEGER[3] AS f")
    assert ui.inner_text("#panel-sql .grid-type") == "INTEGER[3]"
    assert ui.errors == [], ui.errors


def test_a_result_past_512_mb_is_refused_as_arrow_and_as_text(ui):
    """The page holds at most 512 MB of a result, read as Arrow or as text (JSON, for the
    types Arrow cannot carry): past it, the query is cancelled and the reason shown."""
    open_tab(ui, "sql")
    for extra in ("", "INTERVAL 1 DAY AS iv, "):
        run_sql(ui, f"SELECT {extra}repeat('x', 1048576) AS s FROM range(520)")
        until(ui, "() => !document.querySelector('#panel-sql .error').hidden")
        assert "passed 512 MB" in ui.inner_text("#panel-sql .error"), extra
    run_sql(ui, "SELECT 1 AS still_fine")
    assert ui.locator("#panel-sql .grid-row:not([hidden]) .grid-cell").all_inner_texts() == ["1"]


def test_values_of_every_kind_show_exactly(ui):
    """Timestamps to the microsecond (before 1970 too) and DuckDB's infinities, times of
    day, decimals in lists, structs and maps; a type Arrow cannot carry is shown as text
    with the reason; EXPLAIN shows its plan; a chart of values a float step cannot walk
    draws (once looped forever); a full localStorage never stops a run; odd addresses open
    the SQL tab."""
    open_tab(ui, "sql")
    run_sql(ui, "SELECT TIMESTAMP '1969-12-31 23:59:59.999999' AS a, TIMESTAMP '2026-01-02 03:04:05.25' AS b, "
                "'infinity'::TIMESTAMP AS c, TIME '13:45:01.5' AS d, [1.5::DECIMAL(4,2)] AS e, "
                "{'k': 2.25::DECIMAL(5,2), 't': TIMESTAMP '2026-01-01 00:00:00.5'} AS f, MAP {'x': 1} AS g")
    cells = ui.locator("#panel-sql .grid-row:not([hidden]) .grid-cell").all_inner_texts()
    assert cells == ["1969-12-31 23:59:59.999999", "2026-01-02 03:04:05.25", "infinity", "13:45:01.5", "[1.50]",
                     '{"k": 2.25, "t": "2026-01-01 00:00:00.5"}', '{"x": 1}'], cells
    # past JavaScript's Date, BC, infinite days, a zone (an instant: shown in UTC with its offset)
    run_sql(ui, "SELECT DATE '0044-03-15 (BC)' AS a, TIMESTAMP '0044-03-15 (BC) 10:00:00.5' AS b, "
                "'-infinity'::DATE AS c, 'infinity'::DATE AS d, TIMESTAMP '294246-12-31 23:59:59.999999' AS e, "
                "DATE '10000-01-01' AS f, TIMESTAMPTZ '2026-01-01 10:00:00+02' AS g")
    cells = ui.locator("#panel-sql .grid-row:not([hidden]) .grid-cell").all_inner_texts()
    assert cells == ["0044-03-15 (BC)", "0044-03-15 (BC) 10:00:00.5", "-infinity", "infinity",
                     "294246-12-31 23:59:59.999999", "10000-01-01", "2026-01-01 08:00:00+00"], cells
    run_sql(ui, "SELECT INTERVAL 1 DAY AS iv")
    assert "shown as text" in ui.inner_text(".result-bar .status")
    assert ui.locator("#panel-sql .grid-row:not([hidden]) .grid-cell").all_inner_texts()[0].strip()
    # as text (JSON), every digit kept: no double in between
    run_sql(ui, "SELECT INTERVAL 1 DAY AS iv, 12345678901234567890123456789.12345678::DECIMAL(38,8) AS x, "
                "1.50::DECIMAL(4,2) AS y, 9007199254740993::HUGEINT AS z")
    cells = ui.locator("#panel-sql .grid-row:not([hidden]) .grid-cell").all_inner_texts()
    assert cells[1:] == ["12345678901234567890123456789.12345678", "1.50", "9007199254740993"], cells
    run_sql(ui, "SELECT 340282366920938463463374607431768211455::UHUGEINT AS u")  # no Arrow type: text
    assert ui.locator("#panel-sql .grid-row:not([hidden]) .grid-cell").all_inner_texts() == \
        ["340282366920938463463374607431768211455"]
    assert "UHUGEINT" in ui.inner_text(".result-bar .status")
    run_sql(ui, "EXPLAIN SELECT 1")
    assert ui.locator("#panel-sql .grid-row:not([hidden])").count() >= 1
    run_sql(ui, "SELECT 'a' AS k, 1e16 AS v UNION ALL SELECT 'b', 1e16 + 2")
    ui.click(".segmented button:text('Chart')")
    assert ui.locator(".chart-svg rect.bar").count() == 2
    ui.evaluate("() => { try { for (let i = 0; ; i++) localStorage.setItem('fill' + i, 'x'.repeat(1 << 20)) } catch {} }")
    run_sql(ui, "SELECT 42 AS answer")
    assert ui.locator("#panel-sql .grid-row:not([hidden]) .grid-cell").all_inner_texts() == ["42"]
    ui.evaluate("() => localStorage.clear()")
    for frag in ("#/%E0%A4%A", "#/toString", "#/__proto__", "#/constructor?q=%"):
        ui.goto(ui.base + frag)
        ui.wait_for_selector("#panel-sql:not([hidden]) .cm-content")
    assert ui.errors == [], ui.errors


def test_declining_the_token_prompt_does_not_bring_it_back(lake, browser):
    make_lake(lake)
    s = Server(lake, env={"LOCH_TOKENS": "sekret-token"})
    page = browser.new_context().new_page()
    try:
        page.goto(f"http://{s.host}:{s.port}/#/system")
        page.wait_for_selector("#login[open]")
        page.click("#login button[value=cancel]")
        page.wait_for_selector("#signin:not([hidden])")
        # the System tab keeps polling every 2 s; its 401s must not reopen the prompt:
        # wait for two more polls, seen by the server's request count
        count = lambda: sum(int(line.rsplit(" ", 1)[1]) for line in s.req("GET", "/metrics", headers={
            "Authorization": "Bearer sekret-token"})[2].decode().splitlines()
            if line.startswith('loch_http_requests_total{route="/v1/status",status="401"}'))
        seen = count()
        deadline = time.monotonic() + 60
        while count() < seen + 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert page.locator("#login[open]").count() == 0
        page.click("#signin")
        page.fill("#login-token", "sekret-token")
        page.click("#login button[value=ok]")
        page.wait_for_selector(".facts dd")
        # the explore list says when it cannot list, never "no tables"
        page.click("#logout")  # forgets the token and reloads: nothing stays on screen
        page.goto(f"http://{s.host}:{s.port}/#/explore")
        page.wait_for_selector("#login[open]")
        page.click("#login button[value=cancel]")
        page.wait_for_selector("table.tables caption.error")
        assert "could not be listed" in page.inner_text("table.tables caption")
    finally:
        page.context.close()
        assert s.stop() == 0
