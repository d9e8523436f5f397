"""The catalog is an index only, and the interactive shell."""
import sqlite3


def test_catalog_is_rebuilt(lake):
    lake.sql("CREATE TABLE a AS SELECT range AS i FROM range(10); CREATE TABLE b (x VARCHAR)")
    cat = lake.path / "_loch" / "catalog.sqlite"
    before = lake.run("tables", "-f", "csv").stdout
    assert cat.exists()
    for f in lake.path.joinpath("_loch").glob("catalog.sqlite*"):
        f.unlink()
    assert lake.run("tables", "-f", "csv").stdout == before
    assert lake.scalar("SELECT count(*) FROM a") == "10"
    rows = sqlite3.connect(cat).execute("SELECT name, version, rows FROM tables ORDER BY name").fetchall()
    assert rows == [("a", 0, 10), ("b", 0, 0)]
    # a catalog that is behind the log is refreshed, never believed
    lake.sql("INSERT INTO b VALUES ('x')")
    con = sqlite3.connect(cat)
    con.execute("UPDATE tables SET rows = 999, version = 0 WHERE name = 'b'")
    con.commit()
    assert "b,1,1,1," in lake.run("tables", "-f", "csv").stdout
    # a corrupt catalog file does not stop queries
    for f in lake.path.joinpath("_loch").glob("catalog.sqlite*"):
        f.unlink()
    cat.write_bytes(b"not a database" * 100)
    p = lake.sql("SELECT count(*) FROM a", "-f", "csv")
    assert p.stdout.splitlines()[1] == "10"


def test_shell_dot_commands(lake):
    lake.sql("CREATE TABLE t AS SELECT 1 AS x")
    script = ".mode csv\n.tables\nSELECT x + 1\n  AS y FROM t;\n.schema t\n.timer on\nSELECT 42 AS z;\n.help\n.quit\n"
    p = lake.run("shell", input=script)
    out = p.stdout
    assert "y\n2\n" in out
    assert "t,0,1,1," in out
    assert "x,integer,INTEGER,true,false" in out
    assert "Run Time:" in out and "z\n42\n" in out
    assert ".tables" in out  # help text
    p = lake.run("shell", input="SELECT * FROM nope;\nSELECT 1 AS ok;\n")
    assert "Error:" in p.stderr and "ok" in p.stdout


def test_shell_sees_tables_changed_by_other_processes(lake):
    """A long-lived session caches snapshots; a table dropped and re-created by another
    process must not be served from that cache."""
    import subprocess, os
    from conftest import LOCH
    lake.sql("CREATE TABLE t AS SELECT 1 AS x")
    sh = subprocess.Popen([LOCH, "shell"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=dict(os.environ, LOCH_LAKE=str(lake.path)))

    def ask(q):
        sh.stdin.write(q + "\n")
        sh.stdin.flush()
        lines = [sh.stdout.readline() for _ in range(2)]
        return lines[1].strip()

    sh.stdin.write(".mode csv\n")  # prints nothing
    assert ask("SELECT sum(x) AS s FROM t;") == "1"
    lake.sql("INSERT INTO t VALUES (2)")
    assert ask("SELECT sum(x) AS s FROM t;") == "3"
    lake.sql("DROP TABLE t; CREATE TABLE t AS SELECT 40 AS x; INSERT INTO t VALUES (2)")
    assert ask("SELECT sum(x) AS s FROM t;") == "42"
    sh.stdin.close()
    sh.wait(timeout=30)


def test_shell_ctrl_c_on_a_terminal(lake):
    """In a real terminal (tmux): Ctrl-C cancels a running query, and at the prompt drops
    the unfinished statement; the session goes on either way."""
    import ctypes, os, platform, shutil, signal, subprocess, time, uuid
    from conftest import LOCH
    assert platform.machine() == "x86_64", "tgkill's syscall number below is x86-64's"
    assert shutil.which("tmux"), "tmux is installed by scripts/setup.sh"
    s = "loch-" + uuid.uuid4().hex[:8]
    run = lambda *a: subprocess.run(["tmux", *a], check=True, capture_output=True, text=True).stdout
    run("new-session", "-d", "-s", s, "-x", "120", "-y", "50",
        f"bash -c 'env LOCH_LAKE={lake.path} {LOCH} shell; echo SHELL-EXIT $?; sleep 600'")
    screen = lambda: run("capture-pane", "-t", s, "-p")

    def wait_screen(test, limit=120):
        # waits for what the screen shows next; the limit bounds a broken build only
        deadline = time.monotonic() + limit
        while not test(text := screen()):
            assert time.monotonic() < deadline, text
            time.sleep(0.02)
        return text

    try:
        wait_screen(lambda t: t.rstrip().endswith("loch>"))
        run("send-keys", "-t", s, "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3\\;", "Enter")
        wait_screen(lambda t: "% 7 = 3;" in t and not t.rstrip().endswith("loch>"))
        # Ctrl-C until the query says it was interrupted (one that lands before the
        # engine starts the query is lost, as a user's would be)
        deadline = time.monotonic() + 120
        while "Interrupted" not in screen():
            assert time.monotonic() < deadline
            run("send-keys", "-t", s, "C-c")
            time.sleep(0.05)
        wait_screen(lambda t: t.rstrip().endswith("loch>"))
        run("send-keys", "-t", s, "SELECT 1 AS one", "Enter")
        wait_screen(lambda t: t.rstrip().endswith("...>"))
        run("send-keys", "-t", s, "C-c")  # at the prompt: drops the unfinished statement
        wait_screen(lambda t: t.rstrip().endswith("loch>") and "SELECT 1 AS one" in t)
        run("send-keys", "-t", s, "SELECT 42 AS answer\\;", "Enter")
        text = wait_screen(lambda t: "│      42 │" in t and t.rstrip().endswith("loch>"))

        # a line typed but not entered is dropped too, not run later as part of the next one
        run("send-keys", "-t", s, "SELEC")
        wait_screen(lambda t: t.rstrip().endswith("loch> SELEC"))
        run("send-keys", "-t", s, "C-c")
        wait_screen(lambda t: t.rstrip().endswith("loch>") and not t.rstrip().endswith("SELEC"))

        # A terminal's Ctrl-C reaches any one thread of the process. One delivered to an
        # engine worker rather than the thread reading the terminal still ends the prompt
        # (tgkill aims it at a worker; before, the prompt ignored it until the next key,
        # or the shell took it for the end of input and exited).
        run("send-keys", "-t", s, "SELECT 'partial")
        wait_screen(lambda t: t.rstrip().endswith("loch> SELECT 'partial"))
        bash = int(run("display-message", "-p", "-t", s, "#{pane_pid}").strip())
        shell = int(open(f"/proc/{bash}/task/{bash}/children").read().split()[0])
        workers = [int(t) for t in os.listdir(f"/proc/{shell}/task") if int(t) != shell]
        assert workers, "the engine runs worker threads"
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(234, shell, workers[0], signal.SIGINT) == 0  # SYS_tgkill (x86-64)
        wait_screen(lambda t: t.rstrip().endswith("loch>") and not t.rstrip().endswith("'partial"))
        run("send-keys", "-t", s, "SELECT 7 AS seven\\;", "Enter")
        text = wait_screen(lambda t: "seven" in t and t.rstrip().endswith("loch>"))
    finally:
        subprocess.run(["tmux", "kill-session", "-t", s], capture_output=True)
    screen = text
    assert "Interrupted" in screen
    assert "│      42 │" in screen and "one" not in screen.split("answer")[-1]
    assert "SHELL-EXIT" not in screen
    assert "Error" not in screen.split("answer")[-1]  # nothing partial was run
