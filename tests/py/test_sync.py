"""loch sync (issue 14): a local lake pushed to a bucket, pulled back as a read replica,
killed half way and taken up again, followed with --watch. The replica must equal the
source at every version of every table."""
import json
import os
import signal
import subprocess

import pytest

from conftest import LOCH, Lake
from test_s3 import FaultProxy, moto  # noqa: F401  (the fixture)
from test_s3_lake import env_for


def make_source(tmp_path, files=6):
    """A local lake: two tables, several versions, a checkpoint, a deletion vector."""
    lk = Lake(tmp_path / "source")
    lk.run("init")
    lk.sql("CREATE TABLE a (id BIGINT, s VARCHAR)")
    lk.sql("ALTER TABLE a SET TBLPROPERTIES ('delta.checkpointInterval' = '3', 'delta.enableDeletionVectors' = 'true')")
    for i in range(files):
        lk.sql(f"INSERT INTO a SELECT range + {i * 100}, 'v{i}' FROM range(50)")
    lk.sql("DELETE FROM a WHERE id % 7 = 0")
    lk.sql("CREATE TABLE b AS SELECT 'x' AS s")
    return lk


def versions(run, table):
    return [int(line.split(",")[0]) for line in run("history", table, "-f", "csv").stdout.splitlines()[1:]]


def rows(run, q):
    return run("sql", q, "-f", "csv").stdout


def assert_same_at_every_version(src_run, dst_run, tables=("a", "b")):
    for t in tables:
        vs = versions(src_run, t)
        assert versions(dst_run, t) == vs
        for v in vs:
            q = f'SELECT * FROM "{t}@v{v}" ORDER BY ALL'
            assert rows(dst_run, q) == rows(src_run, q), (t, v)


def sync(endpoint, cache, *args, check=True):
    p = subprocess.run([LOCH, "sync", *args, "--json"], capture_output=True, text=True,
                       env=env_for(endpoint, cache), timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.splitlines()[-1]) if p.returncode == 0 else p


def runner(uri, endpoint, cache):
    def run(*args):
        p = subprocess.run([LOCH, "--lake", uri, *args], capture_output=True, text=True, env=env_for(endpoint, cache),
                           timeout=300)
        assert p.returncode == 0, p.stderr
        return p
    return run


def test_push_pull_and_a_second_sync_that_writes_nothing(moto, tmp_path):  # noqa: F811
    endpoint, bucket = moto
    src = make_source(tmp_path)
    uri = f"s3://{bucket}/synced/push-pull"
    proxy = FaultProxy(endpoint, "count")
    try:
        st = sync(proxy.endpoint, tmp_path / "c", str(src.path), uri)
        assert st["copied"] == st["objects"] > 10 and st["present"] == 0
        puts = [f for f in proxy.forwarded if f[0] == "PUT"]
        assert len(puts) == st["objects"]
        # nothing new: one LIST of the bucket, no PUT
        proxy.forwarded.clear()
        st = sync(proxy.endpoint, tmp_path / "c", str(src.path), uri)
        assert st["copied"] == 0 and st["present"] == st["objects"]
        assert len(proxy.forwarded) == 1 and proxy.forwarded[0][0] == "GET" and "list-type=2" in proxy.forwarded[0][1]
    finally:
        proxy.close()
    # the bucket's lake is the source's, read in place and pulled to a replica
    assert_same_at_every_version(src.run, runner(uri, endpoint, tmp_path / "c"))
    replica = tmp_path / "replica"
    st = sync(endpoint, tmp_path / "c2", uri, str(replica))
    assert st["copied"] == st["objects"]
    assert_same_at_every_version(src.run, Lake(replica).run)
    from deltalake import DeltaTable  # a peer reads the replica (b: delta-rs reads no deletion vectors)
    assert DeltaTable(str(replica / "b")).to_pyarrow_table().to_pylist() == [{"s": "x"}]
    # new versions at the source: only they are copied, and the replica follows
    src.sql("INSERT INTO b VALUES ('y')")
    st = sync(endpoint, tmp_path / "c", str(src.path), uri)
    assert 1 <= st["copied"] <= 3  # the data file and the commit (and a checkpoint, if one was due)
    sync(endpoint, tmp_path / "c2", uri, str(replica))
    assert_same_at_every_version(src.run, Lake(replica).run)


def test_a_sync_killed_midway_leaves_a_lake_and_the_next_completes(moto, tmp_path):  # noqa: F811
    endpoint, bucket = moto
    src = make_source(tmp_path, files=8)
    uri = f"s3://{bucket}/synced/killed"
    proxy = FaultProxy(endpoint, "count")
    proxy.stall_after = 5  # the sixth PUT is held: the sync is killed while it waits
    try:
        p = subprocess.Popen([LOCH, "sync", str(src.path), uri, "--threads", "2"], env=env_for(proxy.endpoint, tmp_path / "c"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proxy.stalled.wait(120), "the sync reached no sixth PUT"
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
    finally:
        proxy.close()
    # what reached the bucket is whole: data files only (the logs go last), so no table yet
    run = runner(uri, endpoint, tmp_path / "c")
    assert run("tables", "-f", "csv").stdout.splitlines()[1:] == []
    st = sync(endpoint, tmp_path / "c", str(src.path), uri)
    assert st["present"] >= 5 and st["copied"] + st["present"] == st["objects"]
    assert_same_at_every_version(src.run, run)


def test_a_sync_stopped_in_a_log_leaves_an_older_version(moto, tmp_path):  # noqa: F811
    """Killed while a table's log is copied: the destination reads at an older version."""
    endpoint, bucket = moto
    src = make_source(tmp_path, files=3)
    uri = f"s3://{bucket}/synced/in-log"
    data_files = sum(1 for f in (src.path / "a").rglob("*") if f.is_file() and "_delta_log" not in str(f)
                     and not f.name.startswith("."))
    data_files += sum(1 for f in (src.path / "b").rglob("*") if f.is_file() and "_delta_log" not in str(f))
    proxy = FaultProxy(endpoint, "count")
    proxy.stall_after = data_files + 2  # two commits of the first table's log are through
    try:
        p = subprocess.Popen([LOCH, "sync", str(src.path), uri, "--threads", "1"],
                             env=env_for(proxy.endpoint, tmp_path / "c"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proxy.stalled.wait(120)
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
    finally:
        proxy.close()
    run = runner(uri, endpoint, tmp_path / "c")
    got = versions(run, "a")
    assert got and max(got) < max(versions(src.run, "a"))
    for v in got:  # every version there is whole
        q = f'SELECT * FROM "a@v{v}" ORDER BY ALL'
        assert rows(run, q) == rows(src.run, q)
    sync(endpoint, tmp_path / "c", str(src.path), uri)
    assert_same_at_every_version(src.run, run)


def test_watch_follows_new_versions(moto, tmp_path):  # noqa: F811
    endpoint, bucket = moto
    src = make_source(tmp_path, files=1)
    uri = f"s3://{bucket}/synced/watched"
    replica = tmp_path / "replica"
    sync(endpoint, tmp_path / "c", str(src.path), uri)
    p = subprocess.Popen([LOCH, "sync", uri, str(replica), "--watch", "--interval", "0.2", "--json"],
                         env=env_for(endpoint, tmp_path / "c2"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        first = json.loads(p.stdout.readline())
        assert first["copied"] == first["objects"]
        src.sql("INSERT INTO b VALUES ('watched')")
        sync(endpoint, tmp_path / "c", str(src.path), uri)
        # each round prints a line; a round may meet the push half done (its data file, not
        # yet its commit: the replica stays at the older version), a later one the rest
        for _ in range(1000):  # rounds, not time: each is a line
            line = json.loads(p.stdout.readline())
            if line["copied"] and Lake(replica).csv("SELECT count(*) FROM b WHERE s = 'watched'") == [["1"]]:
                break
        else:
            raise AssertionError("the replica never got the new version")
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err


def test_sync_refuses_clearly(moto, tmp_path):  # noqa: F811
    endpoint, bucket = moto
    p = sync(endpoint, tmp_path / "c", str(tmp_path / "nothing"), f"s3://{bucket}/x", check=False)
    assert p.returncode == 1 and "no lake at" in p.stderr, p.stderr
    p = sync(endpoint, tmp_path / "c", str(make_source(tmp_path, files=1).path), "s3://no-such-bucket/x", check=False)
    assert p.returncode == 1 and 'no bucket "no-such-bucket"' in p.stderr, p.stderr
    p = subprocess.run([LOCH, "sync", "only-one"], capture_output=True, text=True)
    assert p.returncode == 2 and "a source and a destination" in p.stderr
