"""Kill cycles (issue 11): writers through a primary-key table's write-ahead log - `loch
write` processes, `loch sql` INSERTs, `loch flush`, and a `loch serve` taking
POST /v1/tables/t/rows - SIGKILLed at every step of a write and of a flush, chosen by a
seeded random sequence, with acknowledged writes and random flushes between them.

The oracle is exact, not "present or absent": a write killed before its frame is
written (hold point wal-append) is absent; one killed after (wal-sync) is in the log but
not durable, so queries (which see up to the durable LSN) see it once the next write's
fsync or a flush covers it, whole and in its place in the order. A flush killed anywhere
changes nothing a query sees. After every cycle the table equals the
model; at the end the log is flushed and the table still equals it, its txn versions
only grew, and no segment is left behind.

Bounded by LOCH_WAL_KILL_CYCLES (default 60, what CI runs); 1000 on demand."""
import json
import os
import random
import signal
import subprocess

from conftest import LOCH, Held
from test_wal import make_users, status, table_rows, model_rows, segments, versions


def expected(model):
    return [(k, n, "") for k, n, c in model_rows(model)]


def test_kill_cycles(lake, tmp_path):
    seed = int(os.environ.get("LOCH_WAL_KILL_CYCLES_SEED", "1127"))
    cycles = int(os.environ.get("LOCH_WAL_KILL_CYCLES", "60"))
    rnd = random.Random(seed)
    make_users(lake)
    lake.sql("ALTER TABLE users SET TBLPROPERTIES ('loch.wal.flushRows' = '25')")  # automatic flushes too
    model = {}
    pending = []  # written, not yet durable

    def change(kind, keys, name):
        for k in keys:
            if kind == "delete":
                model.pop(k, None)
            else:
                model[k] = (name, None)

    def apply_pending():
        for p in pending:
            change(*p)
        pending.clear()

    hold = tmp_path / "hold"
    for cycle in range(cycles):
        kind = rnd.choice(["write", "write", "sql", "flush", "delete"])
        keys = rnd.sample(range(1, 40), rnd.randint(1, 4))
        name = f"c{cycle}"
        if kind == "flush":
            if status(lake)["users"]["assigned"] == status(lake)["users"]["flushed"]:
                lake.run("flush", "users")  # nothing to flush: the later steps are never reached
                apply_pending()
                continue
            point = rnd.choice(["flush-rotate", "dml-commit", "flush-truncate", None])
            args = ["flush", "users"]
            body = None
        elif kind == "sql":
            point = rnd.choice(["wal-append", "wal-sync", None])
            values = ", ".join(f"({k}, '{name}', NULL)" for k in keys)
            args = ["sql", f"INSERT INTO users VALUES {values}"]
            body = None
        else:
            point = rnd.choice(["wal-append", "wal-sync", None])
            op = "delete" if kind == "delete" else "upsert"
            args = ["write", "users", "-", "--op", op]
            body = "".join(json.dumps({"id": k, "name": name}) + "\n" for k in keys)
        if point is None:
            lake.run(*args, input=body)
        else:
            if body is not None:
                f = tmp_path / "in.ndjson"
                f.write_text(body)
                args = args[:2] + [str(f)] + args[3:]
            h = Held(lake, hold, point, *args)
            h.kill()
        if kind == "flush":
            if point != "flush-rotate":  # past the new segment: the old one was fsynced
                apply_pending()
        elif point is None:  # acknowledged: its fsync covered the pending writes before it
            apply_pending()
            change(kind, keys, name)
        elif point == "wal-sync":
            pending.append((kind, keys, name))
        assert table_rows(lake) == expected(model), f"cycle {cycle}: {kind} killed at {point}"
    lake.run("flush", "users")
    apply_pending()
    assert table_rows(lake) == expected(model)
    st = status(lake)["users"]
    assert st["assigned"] == st["durable"] == st["flushed"]
    assert len(segments(lake)) == 1
    txns = []
    for f in versions(lake):
        for line in (lake.table("users") / "_delta_log" / f).read_text().splitlines():
            if '"txn"' in line:
                txns.append(json.loads(line)["txn"]["version"])
    assert txns == sorted(set(txns))


def test_kill_the_server_mid_write(lake, tmp_path):
    """loch serve SIGKILLed while a POST .../rows waits at a step of its write: the same
    exact rule; the restarted server answers from the log."""
    from test_server import Server
    import threading
    make_users(lake)
    model = {}
    rnd = random.Random(11)
    for cycle in range(int(os.environ.get("LOCH_WAL_KILL_SERVER_CYCLES", "6"))):
        point = rnd.choice(["wal-append", "wal-sync"])
        hold = tmp_path / f"hold{cycle}"
        hold.mkdir()
        s = Server(lake, env={"LOCH_HOLD": f"{point}:{hold}"})
        k = cycle + 1
        t = threading.Thread(target=lambda: s.req("POST", "/v1/tables/users/rows", json.dumps({"id": k, "name": "h"}),
                                                  timeout=300), daemon=True)
        try:
            t.start()
            while not list(hold.glob(f"{point}.*.reached")):
                assert s.proc.poll() is None
                t.join(0.01)  # waiting for the event, bounded by the server
        finally:
            s.proc.send_signal(signal.SIGKILL)
            s.proc.wait(timeout=60)
        if point == "wal-sync":  # in the log; durable with the next write
            model[k] = ("h", None)
        # a clean server: writes go on, reads see the log
        s2 = Server(lake)
        try:
            assert s2.json("POST", "/v1/tables/users/rows", json.dumps({"id": 100 + cycle, "name": "ok"}))["rows"] == 1
            model[100 + cycle] = ("ok", None)
            got = s2.json("POST", "/v1/sql", {"sql": "SELECT id, name FROM users ORDER BY id"})["rows"]
            assert got == [[k, v[0]] for k, v in sorted(model.items())], (cycle, point)
        finally:
            assert s2.stop() == 0
    assert table_rows(lake) == expected(model)


def test_kill_cycles_of_an_append_only_table(lake, tmp_path):
    """The same rule for a table without a key (loch.wal.enabled): its writes are
    appends, so the oracle is the multiset of rows; a flush is an append commit."""
    from collections import Counter
    seed = int(os.environ.get("LOCH_WAL_KILL_CYCLES_SEED", "1127"))
    cycles = max(int(os.environ.get("LOCH_WAL_KILL_CYCLES", "60")) // 2, 10)
    rnd = random.Random(seed + 1)
    lake.sql("CREATE TABLE ev (id BIGINT, msg VARCHAR)")
    lake.sql("ALTER TABLE ev SET TBLPROPERTIES ('loch.wal.enabled' = 'true', 'loch.wal.flushRows' = '25')")
    model, pending = Counter(), []

    def bag():
        return Counter(tuple(r) for r in lake.csv("SELECT id, msg FROM ev"))

    def apply_pending():
        for rows in pending:
            model.update(rows)
        pending.clear()

    hold = tmp_path / "hold"
    for cycle in range(cycles):
        kind = rnd.choice(["write", "sql", "flush"])
        rows = [(str(rnd.randint(1, 5)), f"c{cycle}") for _ in range(rnd.randint(1, 4))]
        if kind == "flush":
            st = json.loads(lake.run("status", "-f", "json").stdout)[0]
            if st["assigned"] == st["flushed"]:
                lake.run("flush", "ev")
                apply_pending()
                continue
            point = rnd.choice(["flush-rotate", "flush-commit", "committed", "flush-truncate", None])
            args = ["flush", "ev"]
        elif kind == "sql":
            point = rnd.choice(["wal-append", "wal-sync", None])
            args = ["sql", "INSERT INTO ev VALUES " + ", ".join(f"({i}, '{m}')" for i, m in rows)]
        else:
            point = rnd.choice(["wal-append", "wal-sync", None])
            f = tmp_path / "in.ndjson"
            f.write_text("".join(json.dumps({"id": int(i), "msg": m}) + "\n" for i, m in rows))
            args = ["write", "ev", str(f)]
        if point is None:
            lake.run(*args)
        else:
            Held(lake, hold, point, *args).kill()
        if kind == "flush":
            if point != "flush-rotate":
                apply_pending()
        elif point is None:
            apply_pending()
            model.update(rows)
        elif point == "wal-sync":
            pending.append(rows)
        assert bag() == model, f"cycle {cycle}: {kind} killed at {point}"
    lake.run("flush", "ev")
    apply_pending()
    assert bag() == model
    st = json.loads(lake.run("status", "-f", "json").stdout)[0]
    assert st["assigned"] == st["durable"] == st["flushed"]
