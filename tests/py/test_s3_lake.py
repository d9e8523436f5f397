"""Lakes in a bucket (issue 14): `loch --lake s3://bucket/prefix ...` against moto's S3
server, read and written by delta-rs beside loch. Two "machines" are two local
directories (LOCH_CACHE_DIR) over one bucket: what one writes, the other reads, whatever
its cached copies say."""
import json
import os
import subprocess
import threading

import pytest

from conftest import LOCH, Held
from test_s3 import moto  # noqa: F401  (the fixture)

pa = pytest.importorskip("pyarrow", reason="scripts/setup.sh installs pyarrow")


def settings(endpoint, cache):
    return dict(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
                AWS_ENDPOINT_URL=endpoint, LOCH_CACHE_DIR=str(cache), AWS_CONFIG_FILE="/nonexistent",
                AWS_SHARED_CREDENTIALS_FILE="/nonexistent")


def env_for(endpoint, cache):
    return dict(os.environ, **settings(endpoint, cache))


class S3Lake:
    """A lake at s3://<bucket>/<prefix> as seen from one machine (its cache directory)."""

    def __init__(self, endpoint, bucket, prefix, cache):
        self.endpoint, self.bucket, self.prefix, self.cache = endpoint, bucket, prefix, cache
        self.uri = f"s3://{bucket}/{prefix}"
        self.path = self.uri  # what LOCH_LAKE names
        self.env = settings(endpoint, cache)  # what conftest's Held adds to the environment

    def run(self, *args, check=True, input=None, env=None):
        e = env_for(self.endpoint, self.cache)
        e.update(env or {})
        p = subprocess.run([LOCH, "--lake", self.uri, *args], capture_output=True, text=True, env=e, input=input,
                           timeout=300)
        if check and p.returncode != 0:
            raise AssertionError(f"loch {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
        return p

    def csv(self, q):
        return [line.split(",") for line in self.run("sql", q, "-f", "csv").stdout.strip().splitlines()[1:]]

    def other_machine(self, cache):
        return S3Lake(self.endpoint, self.bucket, self.prefix, cache)

    def storage_options(self):
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", "conditional_put": "etag"}

    def keys(self, under=""):
        import boto3
        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        out, token = [], None
        while True:
            kw = {"ContinuationToken": token} if token else {}
            page = s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/{under}", **kw)
            out += [o["Key"][len(self.prefix) + 1:] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]


@pytest.fixture
def s3lake(moto, tmp_path, request):  # noqa: F811
    endpoint, bucket = moto
    lk = S3Lake(endpoint, bucket, f"lakes/{request.node.name.replace('[', '-').replace(']', '')}",
                tmp_path / "machine-a")
    lk.run("init")
    return lk


def test_ingest_query_and_history_in_a_bucket(s3lake, tmp_path):
    src = tmp_path / "trips.csv"
    src.write_text("id,city\n" + "".join(f"{i},{['Oslo', 'Rome', 'Lima'][i % 3]}\n" for i in range(300)))
    s3lake.run("ingest", "trips", str(src))
    assert s3lake.csv("SELECT city, count(*) FROM trips GROUP BY city ORDER BY city") == [
        ["Lima", "100"], ["Oslo", "100"], ["Rome", "100"]]
    s3lake.run("sql", "INSERT INTO trips VALUES (1000, 'Oslo')")
    assert s3lake.csv('SELECT count(*) FROM "trips@v0"') == [["300"]]
    assert s3lake.csv("SELECT count(*) FROM trips") == [["301"]]
    assert "trips" in s3lake.run("tables").stdout
    hist = s3lake.run("history", "trips", "-f", "csv").stdout.splitlines()
    assert [h.split(",")[0] for h in hist[1:]] == ["1", "0"]
    # the bucket holds a Delta table, nothing of loch's own: _loch stays on the machine
    keys = s3lake.keys()
    assert "trips/_delta_log/00000000000000000000.json" in keys
    assert "trips/_delta_log/00000000000000000001.json" in keys
    assert sum(k.endswith(".parquet") for k in keys) == 2
    assert not [k for k in keys if k.startswith("_loch") or "/.tmp-" in k], keys
    # another machine (an empty cache) reads the same
    other = s3lake.other_machine(tmp_path / "machine-b")
    assert other.csv("SELECT count(*), sum(id) FROM trips") == [["301", str(sum(range(300)) + 1000)]]


def test_delta_rs_and_loch_share_a_table_in_the_bucket(s3lake):
    from deltalake import DeltaTable, write_deltalake
    so = s3lake.storage_options()
    s3lake.run("sql", "CREATE TABLE t (id BIGINT, name VARCHAR)")
    s3lake.run("sql", "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    uri = f"{s3lake.uri}/t"
    assert sorted(DeltaTable(uri, storage_options=so).to_pyarrow_table().to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    write_deltalake(uri, pa.table({"id": pa.array([3], pa.int64()), "name": ["c"]}), mode="append",
                    storage_options=so)
    s3lake.run("sql", "UPDATE t SET name = 'B' WHERE id = 2")
    s3lake.run("sql", "DELETE FROM t WHERE id = 1")
    assert sorted(DeltaTable(uri, storage_options=so).to_pyarrow_table().to_pylist(), key=lambda r: r["id"]) == [
        {"id": 2, "name": "B"}, {"id": 3, "name": "c"}]
    # a table delta-rs made, read and changed by loch
    write_deltalake(f"{s3lake.uri}/rs", pa.table({"x": pa.array([1, 2, 3], pa.int64())}), storage_options=so)
    s3lake.run("sql", "INSERT INTO rs VALUES (4)")
    assert s3lake.csv("SELECT sum(x) FROM rs") == [["10"]]
    assert DeltaTable(f"{s3lake.uri}/rs", storage_options=so).to_pyarrow_table().column("x").to_pylist() != []
    assert sum(DeltaTable(f"{s3lake.uri}/rs", storage_options=so).to_pyarrow_table().column("x").to_pylist()) == 10


def test_concurrent_writers_on_two_machines_and_delta_rs_lose_no_commit(s3lake, tmp_path):
    """Two machines (each with its own cache) and delta-rs append to one table at once:
    the conditional PUT of each version lets exactly one writer have it, the others read
    again and take the next; every row arrives once."""
    from deltalake import write_deltalake
    s3lake.run("sql", "CREATE TABLE c (w VARCHAR, i BIGINT)")
    machines = [s3lake, s3lake.other_machine(tmp_path / "machine-b")]
    n, errors = 6, []

    def loch_writer(m, name):
        for i in range(n):
            p = m.run("sql", f"INSERT INTO c VALUES ('{name}', {i})", check=False)
            if p.returncode != 0:
                errors.append(p.stderr)

    def rs_writer():
        for i in range(n):
            try:
                write_deltalake(f"{s3lake.uri}/c", pa.table({"w": ["rs"], "i": pa.array([i], pa.int64())}),
                                mode="append", storage_options=s3lake.storage_options())
            except Exception as e:  # delta-rs gives up after its own retries: reported below
                errors.append(repr(e))

    ts = [threading.Thread(target=loch_writer, args=(m, f"m{k}")) for k, m in enumerate(machines)]
    ts.append(threading.Thread(target=rs_writer))
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    assert s3lake.csv("SELECT w, count(*), sum(i) FROM c GROUP BY w ORDER BY w") == [
        [w, str(n), str(sum(range(n)))] for w in ("m0", "m1", "rs")]
    logs = sorted(k for k in s3lake.keys("c/_delta_log/") if k.endswith(".json"))
    assert len(logs) == 1 + 3 * n  # the CREATE and one version per append, none lost or doubled


def test_a_table_dropped_and_made_again_elsewhere_is_read_anew(s3lake, tmp_path):
    """Machine A reads a table (and caches its checkpoint); machine B drops it and makes
    another under the same name, past the same checkpoint version; A reads B's table,
    never its cached copies of the old one."""
    b = s3lake.other_machine(tmp_path / "machine-b")
    every5 = "ALTER TABLE t SET TBLPROPERTIES ('delta.checkpointInterval' = '5')"
    s3lake.run("sql", "CREATE TABLE t (x BIGINT); " + every5)
    for i in range(9):  # a checkpoint at version 10
        s3lake.run("sql", f"INSERT INTO t VALUES ({i})")
    assert "t/_delta_log/00000000000000000010.checkpoint.parquet" in s3lake.keys("t/")
    assert s3lake.csv("SELECT count(*), sum(x) FROM t") == [["9", "36"]]
    b.run("sql", "DROP TABLE t")
    assert s3lake.keys("t/") == []
    b.run("sql", "CREATE TABLE t (x BIGINT); " + every5)
    for i in range(9):
        b.run("sql", f"INSERT INTO t VALUES ({100 + i})")
    assert s3lake.csv("SELECT count(*), sum(x) FROM t") == [["9", str(sum(range(100, 109)))]]


def test_optimize_vacuum_restore_and_drop_in_the_bucket(s3lake):
    s3lake.run("sql", "CREATE TABLE t (x BIGINT)")
    for i in range(4):
        s3lake.run("sql", f"INSERT INTO t VALUES ({i}), ({i + 10})")
    s3lake.run("optimize", "t")
    assert s3lake.csv("SELECT count(*), sum(x) FROM t") == [["8", str(sum(range(4)) + sum(range(10, 14)))]]
    s3lake.run("restore", "t", "--to-version", "2")
    assert s3lake.csv("SELECT count(*) FROM t") == [["4"]]
    before = [k for k in s3lake.keys("t/") if k.endswith(".parquet") and "_delta_log" not in k]
    p = s3lake.run("vacuum", "t", "--retain", "0h", "--force")
    after = [k for k in s3lake.keys("t/") if k.endswith(".parquet") and "_delta_log" not in k]
    assert len(after) < len(before), p.stdout + p.stderr
    assert s3lake.csv("SELECT count(*) FROM t") == [["4"]]
    s3lake.run("sql", "DROP TABLE t")
    assert s3lake.keys("t/") == [] and s3lake.run("tables", "-f", "csv").stdout.splitlines()[1:] == []


def test_clear_errors_for_a_missing_bucket_and_bad_credentials(moto, tmp_path):  # noqa: F811
    endpoint, bucket = moto
    lk = S3Lake(endpoint, "no-such-bucket", "lake", tmp_path / "c")
    p = lk.run("sql", "SELECT 1", check=False)
    assert p.returncode == 1 and 'no bucket "no-such-bucket"' in p.stderr, p.stderr
    p = S3Lake(endpoint, bucket, "lake", tmp_path / "c").run(
        "sql", "SELECT 1", check=False, env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert p.returncode == 1 and "no AWS credentials" in p.stderr, p.stderr
    p = S3Lake(endpoint, bucket, "lake", tmp_path / "c").run("sql", "SELECT 1", check=False,
                                                            env={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
    assert p.returncode == 1 and "127.0.0.1:1" not in p.stderr or "attempts" in p.stderr, p.stderr
    for bad in ["s3://Bad_Bucket/x", "s3://bucket/a/../b"]:
        p = subprocess.run([LOCH, "--lake", bad, "tables"], capture_output=True, text=True,
                           env=env_for(endpoint, tmp_path / "c"))
        assert p.returncode == 1 and "lake " + bad in p.stderr, p.stderr
        assert "testing" not in p.stderr  # never a secret


def test_serve_a_lake_in_a_bucket(s3lake, tmp_path):
    from test_server import Server
    s3lake.run("sql", "CREATE TABLE t AS SELECT range AS x FROM range(10)")
    s = Server(s3lake, env=env_for(s3lake.endpoint, s3lake.cache))
    try:
        assert s.json("POST", "/v1/sql", {"sql": "SELECT sum(x) AS s FROM t"})["rows"] == [[45]]
        s.json("POST", "/v1/sql", {"sql": "INSERT INTO t VALUES (100)"})
    finally:
        s.stop()
    assert s3lake.csv("SELECT count(*), sum(x) FROM t") == [["11", "145"]]
    # named by the config file alone, the lake gets the bucket's settings all the same
    conf = tmp_path / "loch.conf"
    conf.write_text(f'[server]\nlake = "{s3lake.uri}"\n')
    s = Server(s3lake, "--config", str(conf), env={**env_for(s3lake.endpoint, s3lake.cache), "LOCH_LAKE": None})
    try:
        assert s.json("POST", "/v1/sql", {"sql": "SELECT count(*) AS n FROM t"})["rows"] == [[11]]
    finally:
        s.stop()


def test_the_cache_of_a_buckets_files_is_bounded(s3lake, tmp_path):
    """LOCH_CACHE_SIZE bounds the cached copies: past it, the least recently used go
    (never loch's own files), and a query reads them again from the bucket."""
    b = s3lake.other_machine(tmp_path / "machine-b")
    s3lake.run("sql", "CREATE TABLE big AS SELECT range AS x, md5(range::VARCHAR) AS s FROM range(20000)")
    small = {"LOCH_CACHE_SIZE": "300KB"}
    assert b.run("sql", "SELECT count(*) AS n, count(DISTINCT s) AS d FROM big", "-f", "csv",
                 env=small).stdout.split() == ["n,d", "20000,20000"]
    root = next((tmp_path / "machine-b" / "s3").rglob("big")).parent

    def cached(table):
        return [f for f in (root / table).rglob("*.parquet") if "_delta_log" not in str(f)]
    [copy] = cached("big")
    assert copy.stat().st_size > 300_000
    os.utime(copy, (1_000_000_000, copy.stat().st_mtime))  # last used long ago
    s3lake.run("sql", "CREATE TABLE other AS SELECT range AS y FROM range(100000)")
    assert b.run("sql", "SELECT sum(y) FROM other", "-f", "csv", env=small).stdout.split()[1] == str(sum(range(100000)))
    assert cached("big") == [] and cached("other")  # the old copy went, the new one stays
    assert (root / "_loch").is_dir()
    assert b.run("sql", "SELECT count(DISTINCT s) AS d FROM big", "-f", "csv", env=small).stdout.split()[1] == "20000"
    p = b.run("tables", env={"LOCH_CACHE_SIZE": "lots"}, check=False)
    assert p.returncode == 2 and "LOCH_CACHE_SIZE=lots" in p.stderr


def test_spark_reads_a_loch_table_in_the_bucket(s3lake, spark):
    """Scale-out: Spark (delta-spark with hadoop-aws, s3a://) reads the table loch wrote
    in the bucket, a deletion vector included, and its aggregates are loch's."""
    s3lake.run("sql", "CREATE TABLE t AS SELECT range AS id, range % 7 AS k, range / 3.0 AS v FROM range(5000)")
    s3lake.run("sql", "ALTER TABLE t SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    s3lake.run("sql", "DELETE FROM t WHERE id % 10 = 0")
    s3lake.run("sql", "INSERT INTO t VALUES (100000, 3, 1.5)")
    h = spark._jsc.hadoopConfiguration()
    for k, v in {"fs.s3a.endpoint": s3lake.endpoint, "fs.s3a.access.key": "testing", "fs.s3a.secret.key": "testing",
                 "fs.s3a.path.style.access": "true", "fs.s3a.connection.ssl.enabled": "false",
                 "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"}.items():
        h.set(k, v)
    df = spark.read.format("delta").load(f"s3a://{s3lake.bucket}/{s3lake.prefix}/t")
    df.createOrReplaceTempView("t_s3")
    theirs = [[str(r[0]), str(r[1]), f"{r[2]:.4f}"] for r in
              spark.sql("SELECT k, count(*), sum(v) FROM t_s3 GROUP BY k ORDER BY k").collect()]
    ours = [[k, n, f"{float(v):.4f}"] for k, n, v in
            s3lake.csv("SELECT k, count(*), sum(v) FROM t GROUP BY k ORDER BY k")]
    assert theirs == ours and len(ours) == 7


# ---- from the adversarial pass of issue 14 ---------------------------------------------

def boto(endpoint):
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def test_tables_named_like_loch_scratch_files_are_never_swept(s3lake, lake):
    """A write swept the lake's root for loch's scratch names (upload-<pid>-..., spill-...)
    and deleted tables (and a bucket's other folders) named so; on a local lake too."""
    for lk in (s3lake, lake):
        for t in ("upload-2024-11", "spill-31337-archive", "result-7-final"):
            lk.run("sql", f'CREATE TABLE "{t}" AS SELECT 1 AS x')
        lk.run("sql", "CREATE TABLE other (x INT)")
        lk.run("sql", "INSERT INTO other VALUES (1)")
        names = [line.split(",")[0] for line in lk.run("tables", "-f", "csv").stdout.splitlines()[1:]]
        assert {"upload-2024-11", "spill-31337-archive", "result-7-final", "other"} <= set(names), names


def test_a_write_ahead_log_is_refused_in_a_bucket(s3lake, tmp_path):
    """Each machine's log numbers its writes itself, and the flushed mark is the table's:
    two machines lost an acknowledged row. Until the log lives in the bucket, such
    writes are refused, saying what to do instead."""
    s3lake.run("sql", "CREATE TABLE k (id BIGINT PRIMARY KEY, name VARCHAR)")
    p = s3lake.run("write", "k", "-", input='{"id": 1, "name": "a"}\n', check=False)
    assert p.returncode == 1 and "write-ahead log" in p.stderr and "loch sync" in p.stderr, p.stderr
    assert s3lake.csv("SELECT count(*) FROM k") == [["0"]]


def test_planted_keys_never_send_a_drop_elsewhere(s3lake):
    """A key "t/../../x" made DROP copy it to another bucket (curl resolved the "..");
    a key with a control character made DROP fail for good; an object at the table's
    own key made DROP move that object alone and report the table dropped."""
    s3 = boto(s3lake.endpoint)
    s3.create_bucket(Bucket="victim")
    s3lake.run("sql", "CREATE TABLE t AS SELECT 1 AS x")
    pre = s3lake.prefix
    s3.put_object(Bucket=s3lake.bucket, Key=f"{pre}/t/../../../../victim/owned", Body=b"planted")
    s3.put_object(Bucket=s3lake.bucket, Key=f"{pre}/t/ctl\x01char", Body=b"x")
    s3.put_object(Bucket=s3lake.bucket, Key=f"{pre}/t", Body=b"a stray object at the table's key")
    assert s3lake.csv("SELECT x FROM t") == [["1"]]
    s3lake.run("sql", "DROP TABLE t")
    assert "Contents" not in s3.list_objects_v2(Bucket="victim")
    left = [k for k in s3lake.keys() if k.startswith("t/") or k.startswith(".dropped-")]
    assert left == [], left
    assert s3lake.run("tables", "-f", "csv").stdout.splitlines()[1:] == []


def test_a_download_cut_short_is_refused_and_never_cached(s3lake, tmp_path):
    from test_s3 import FaultProxy
    s3lake.run("sql", "CREATE TABLE t AS SELECT range AS id FROM range(1500)")
    b = s3lake.other_machine(tmp_path / "machine-b")
    proxy = FaultProxy(s3lake.endpoint, "cut-get")
    try:
        p = b.run("sql", "SELECT count(*), sum(id) FROM t", check=False, env={"AWS_ENDPOINT_URL": proxy.endpoint})
        assert p.returncode == 1 and "bytes came of the" in p.stderr, (p.stdout, p.stderr)
    finally:
        proxy.close()
    assert b.csv("SELECT count(*), sum(id) FROM t") == [["1500", str(sum(range(1500)))]]


def test_a_warm_query_asks_the_bucket_only_for_the_log_listing(s3lake, tmp_path):
    """Once a machine holds a table's files, a query of it lists the table's log once and
    fetches nothing: the commits are the cached copies the listing's ETags vouch for, the
    data files are immutable. What another machine commits is read at once all the same."""
    from test_s3 import FaultProxy
    s3lake.run("sql", "CREATE TABLE t AS SELECT range AS id FROM range(1000)")
    for i in range(3):
        s3lake.run("sql", f"INSERT INTO t VALUES ({1000 + i})")
    q = "SELECT count(*), sum(id) FROM t WHERE id % 2 = 0"
    want = f"502,{sum(range(0, 1003, 2))}"
    proxy = FaultProxy(s3lake.endpoint, "count")
    try:  # a machine that reaches the store through the counting proxy
        a = S3Lake(proxy.endpoint, s3lake.bucket, s3lake.prefix, tmp_path / "machine-p")
        assert a.run("sql", q, "-f", "csv").stdout.split()[1] == want  # the copies made
        del proxy.forwarded[:]
        assert a.run("sql", q, "-f", "csv").stdout.split()[1] == want
        asked = list(proxy.forwarded)
        assert all(m == "GET" and "list-type=2" in path for m, path, _ in asked), asked
        log = [path for _, path, _ in asked if "_delta_log" in path]
        assert len(log) == 1 and len(asked) == 2, asked  # the bucket at open; the table's snapshot
        # another machine commits: read at once, its commit and its data file fetched once
        s3lake.run("sql", "INSERT INTO t VALUES (2000)")
        del proxy.forwarded[:]
        assert a.run("sql", q, "-f", "csv").stdout.split()[1] == f"503,{sum(range(0, 1003, 2)) + 2000}"
        fetched = [path for m, path, _ in proxy.forwarded if "list-type" not in path]
        assert len(fetched) == 2 and all("00000000000000000004.json" in f or ".parquet" in f for f in fetched), \
            proxy.forwarded
    finally:
        proxy.close()


def test_a_commit_from_another_machine_during_a_drop_goes_with_the_table(s3lake, tmp_path):
    """A DROP copies the table away, then deletes what it copied. Machine B commits in
    between: its commit (acknowledged) goes with the table, and the name is free for a
    new table, not left holding a log that starts at B's version."""
    from test_s3 import FaultProxy
    s3lake.run("sql", "CREATE TABLE t AS SELECT range AS x FROM range(10)")
    s3lake.run("sql", "INSERT INTO t VALUES (10)")
    proxy = FaultProxy(s3lake.endpoint, "hold-delete")
    try:
        a = S3Lake(proxy.endpoint, s3lake.bucket, s3lake.prefix, tmp_path / "machine-p")
        drop = subprocess.Popen([LOCH, "--lake", a.uri, "sql", "DROP TABLE t"], env=env_for(a.endpoint, a.cache),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not proxy.stalled.wait(0.05):  # every object copied; the delete held
            assert drop.poll() is None, drop.communicate()
        b = s3lake.other_machine(tmp_path / "machine-b")
        assert "inserted 1 rows into t (version 2)" in b.run("sql", "INSERT INTO t VALUES (11)").stderr
        proxy.release.set()
        out, err = drop.communicate(timeout=300)
        assert drop.returncode == 0, err
    finally:
        proxy.close()
    # B's data file is left, an orphan no log names; its commit went with the table
    assert [k for k in s3lake.keys("t/") if "_delta_log" in k] == [], s3lake.keys("t/")
    assert not [k for k in s3lake.keys() if "dropped" in k]
    s3lake.run("sql", "CREATE TABLE t (x BIGINT); INSERT INTO t VALUES (7)")
    assert s3lake.csv("SELECT count(*), sum(x) FROM t") == [["1", "7"]]


def test_a_table_made_under_the_name_while_a_drop_ends_is_left_whole(s3lake, tmp_path):
    """A DROP is held after its move, before it looks for commits that landed meanwhile;
    machine B makes a new table under the name. The DROP's sweep leaves the new table
    (its version 0) alone."""
    s3lake.run("sql", "CREATE TABLE t AS SELECT range AS x FROM range(10)")
    drop = Held(s3lake, tmp_path / "hold", "drop-moved", "sql", "DROP TABLE t")
    b = s3lake.other_machine(tmp_path / "machine-b")
    b.run("sql", "CREATE TABLE t AS SELECT range + 100 AS x FROM range(5)")
    b.run("sql", "INSERT INTO t VALUES (1000)")
    rc, out, err = drop.release()
    assert rc == 0, err
    assert b.csv("SELECT count(*), sum(x) FROM t") == [["6", str(sum(range(100, 105)) + 1000)]]
    assert s3lake.csv("SELECT count(*), sum(x) FROM t") == [["6", str(sum(range(100, 105)) + 1000)]]


def test_a_commit_after_another_machine_dropped_the_table_takes_itself_back(s3lake, tmp_path):
    """Machine B has checked that the table is the one it read, and is held before its
    commit's PUT; machine A drops the table. B's PUT then starts a log at version 2: B
    finds version 1 gone, deletes its commit and its files, and says so."""
    s3lake.run("sql", "CREATE TABLE t AS SELECT range AS x FROM range(10)")
    s3lake.run("sql", "INSERT INTO t VALUES (10)")
    b = s3lake.other_machine(tmp_path / "machine-b")
    ins = Held(b, tmp_path / "hold", "commit-locked", "sql", "INSERT INTO t VALUES (11)")
    s3lake.run("sql", "DROP TABLE t")
    rc, out, err = ins.release()
    assert rc == 1 and "was dropped by another writer while this write was committed" in err, (out, err)
    assert s3lake.keys("t/") == []
    s3lake.run("sql", "CREATE TABLE t (x BIGINT); INSERT INTO t VALUES (7)")
    assert s3lake.csv("SELECT count(*), sum(x) FROM t") == [["1", "7"]]


def test_careless_locations_are_refused_without_echoing_secrets(moto, tmp_path):  # noqa: F811
    endpoint, bucket = moto
    for uri, words in [(f"s3://{bucket}/a?b=c", "no query or fragment"), (f"s3://{bucket}/q#f", "no query")]:
        p = subprocess.run([LOCH, "--lake", uri, "tables"], capture_output=True, text=True,
                           env=env_for(endpoint, tmp_path / "c"))
        assert p.returncode == 1 and words in p.stderr, p.stderr
    p = subprocess.run([LOCH, "--lake", f"s3://{bucket}/x", "tables"], capture_output=True, text=True,
                       env={**env_for(endpoint, tmp_path / "c"), "AWS_ENDPOINT_URL": "http://user:SECRETPW@127.0.0.1:9"})
    assert p.returncode == 1 and "names a user" in p.stderr and "SECRETPW" not in p.stderr, p.stderr
    # nested lakes keep their local files apart: dropping table x of the outer lake
    # leaves the inner lake (s3://bucket/nest/x) whole
    outer = S3Lake(endpoint, bucket, "nest", tmp_path / "c")
    inner = S3Lake(endpoint, bucket, "nest/x", tmp_path / "c")
    inner.run("sql", "CREATE TABLE t AS SELECT 1 AS v")
    outer.run("sql", "CREATE TABLE y AS SELECT 2 AS v")
    assert inner.csv("SELECT v FROM t") == [["1"]]
    outer.run("sql", "DROP TABLE IF EXISTS x")
    assert inner.csv("SELECT v FROM t") == [["1"]]
