"""Crash safety, injected I/O faults and concurrent writers, tested by doing them:
SIGKILL during commits, a failing step in each part of a commit, four processes
inserting into one table at once."""
import os
import random
import signal
import subprocess
import threading
import time

import pytest
from deltalake import DeltaTable

from conftest import LOCH


def check_whole(lake, name="c"):
    """Every committed version added exactly one row: values are 0..n-1, once each."""
    n, distinct, top = lake.csv(f"SELECT count(*), count(DISTINCT i), coalesce(max(i), -1) FROM {name}")[0]
    assert int(n) == int(distinct) == int(top) + 1, (n, distinct, top)
    versions = DeltaTable(str(lake.table(name))).version()
    assert versions == int(n), f"version {versions} but {n} rows"
    return int(n)


def test_sigkill_during_commits(lake):
    lake.sql("CREATE TABLE c (i BIGINT)")
    rng = random.Random(7)
    done, kills, stop = 0, 0, threading.Event()
    bad = []

    def reader():
        # Readers running beside the killed writer must only ever see whole commits.
        while not stop.is_set():
            p = lake.sql("SELECT count(*), count(DISTINCT i), coalesce(max(i), -1) FROM c", "-f", "csv", check=False)
            if p.returncode == 0:
                n, d, m = map(int, p.stdout.splitlines()[1].split(","))
                if not (n == d == m + 1):
                    bad.append((n, d, m))
            else:
                bad.append(p.stderr)

    t = threading.Thread(target=reader)
    t.start()
    try:
        while done < 200:
            sql = ";".join(f"INSERT INTO c VALUES ({k})" for k in range(done, 200))
            env = dict(os.environ, LOCH_LAKE=str(lake.path))
            w = subprocess.Popen([LOCH, "sql", sql], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.005, 0.25))
            if w.poll() is None:
                w.send_signal(signal.SIGKILL)
                kills += 1
            w.wait()
            done = check_whole(lake)
    finally:
        stop.set()
        t.join()
    assert done == 200 and kills >= 5, (done, kills)
    assert not bad, bad[:3]
    # nothing half-written is visible to a Delta reader either
    assert sorted(DeltaTable(str(lake.table("c"))).to_pyarrow_table().column("i").to_pylist()) == list(range(200))


@pytest.mark.parametrize("step,errno_name,outcome", [
    ("datasync", "EIO", "unchanged"),      # fsync of the new data file
    ("datadirsync", "EIO", "unchanged"),   # fsync of the table directory after it
    ("write", "ENOSPC", "unchanged"),      # writing the commit's temp file
    ("write", "EIO", "unchanged"),
    ("fsync", "EIO", "unchanged"),         # fsync of the commit's temp file
    ("link", "EIO", "unchanged"),          # publishing it as NNN.json
    ("dirsync", "EIO", "whole"),           # fsync of _delta_log after the link
])
def test_fault_in_each_commit_step(lake, step, errno_name, outcome):
    lake.sql("CREATE TABLE c (i BIGINT); INSERT INTO c VALUES (0)")
    p = lake.sql("INSERT INTO c VALUES (1)", check=False, env={"LOCH_FAULT": f"{step}:{errno_name}"})
    assert p.returncode == 1, p.stderr
    word = {"datasync": "fsync", "datadirsync": "fsync of directory", "dirsync": "fsync of directory"}.get(step, step)
    assert word in p.stderr, p.stderr
    if errno_name == "ENOSPC":
        assert "No space left on device" in p.stderr
    n = check_whole(lake)
    assert n == (1 if outcome == "unchanged" else 2)
    # no temp file is left where readers list
    assert not [f for f in os.listdir(lake.table("c") / "_delta_log") if f.startswith(".tmp")]
    # the table keeps working after the fault
    lake.sql(f"INSERT INTO c VALUES ({n})")
    assert check_whole(lake) == n + 1


def test_concurrent_writers(lake):
    lake.sql("CREATE TABLE c (i BIGINT)")
    env = dict(os.environ, LOCH_LAKE=str(lake.path))
    procs = [subprocess.Popen([LOCH, "sql", ";".join(f"INSERT INTO c VALUES ({w * 250 + k})" for k in range(250))],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for w in range(4)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    assert check_whole(lake) == 1000
    assert DeltaTable(str(lake.table("c"))).version() == 1000
