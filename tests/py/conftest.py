"""Shared fixtures: the loch binary, a fresh lake per test, and a runner.

LOCH_BIN points at the binary under test (the Makefile sets it; the sanitizer build
can be tested by pointing it at build-san/loch).
"""
import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCH = os.environ.get("LOCH_BIN", str(ROOT / "build" / "loch"))


class LocalOnly:
    """The files of a lake in a bucket, which a test cannot open as a directory: a test
    that reaches for them runs on local lakes only (skipped on s3://)."""

    def _skip(self, *a, **kw):
        pytest.skip("reads or writes the lake's files directly: local lakes only")

    __truediv__ = __fspath__ = __str__ = __getattr__ = _skip


class Lake:
    def __init__(self, path: Path, uri=None, env=None):
        self.path = path
        self.uri = uri or str(path)  # what --lake and LOCH_LAKE name
        self.env = env or {}  # what the lake needs (a bucket's settings)

    def run(self, *args, input=None, check=True, env=None, timeout=300):
        e = dict(os.environ, LOCH_LAKE=self.uri, **self.env)
        e.pop("LOCH_FAULT", None)
        if env:
            e.update(env)
        e = {k: v for k, v in e.items() if v is not None}  # None: unset
        p = subprocess.run([LOCH, *args], input=input, capture_output=True, text=True, env=e, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"loch {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
        return p

    def sql(self, q, *args, **kw):
        return self.run("sql", q, *args, **kw)

    def csv(self, q):
        """Rows of a query as lists of strings (header dropped)."""
        out = self.sql(q, "-f", "csv").stdout.strip().splitlines()
        return [line.split(",") for line in out[1:]]

    def scalar(self, q):
        return self.csv(q)[0][0]

    def table(self, name):
        return self.path / name


class Held:
    """A loch process stopped at a named point (LOCH_HOLD) until the test releases it."""

    def __init__(self, lake, tmp, point, *args, env=None):
        self.dir, self.point = tmp, point
        tmp.mkdir(parents=True, exist_ok=True)
        for old in list(tmp.glob(f"{point}.*")):
            old.unlink()
        env = dict(os.environ, LOCH_LAKE=lake.uri, LOCH_HOLD=f"{point}:{tmp}", **lake.env, **(env or {}))
        self.proc = subprocess.Popen([LOCH, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        while not list(tmp.glob(f"{point}.*.reached")):
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.01)  # waiting for an event, bounded by the process itself

    def release(self):
        (self.dir / f"{self.point}.go").touch()
        out, err = self.proc.communicate(timeout=300)
        return self.proc.returncode, out, err

    def kill(self):
        self.proc.kill()
        self.proc.communicate(timeout=300)


# The sanitizer pass (.ci/run: LOCH_SANITIZED=1) is there for loch's own C under ASan
# and UBSan. Tests whose work is a peer's or a model's (Spark, the delta-rs and Polars
# readers, llama's generation, the benchmark harness, the browser) add minutes there and no
# sanitized code, so that pass leaves them to the first one, where every test runs;
# LOCH_SANITIZED=all runs them under the sanitizers too.
SANITIZED_SKIPS = {"test_bench", "test_ask", "test_providers", "test_spark_reads_loch", "test_spark_tables",
                   "test_stats_peers", "test_interop", "test_demo", "test_ui",
                   # every test embeds texts with the model; the index code it drives (vector/
                   # hnsw.c, fts) runs under the sanitizers in the unit tests and fuzz targets
                   "test_embed",
                   # processes killed at random moments: crash consistency is their subject,
                   # and a killed process reports nothing; the recovery they lead to runs
                   # under the sanitizers in the other tests
                   "test_chaos", "test_wal_kill"}


# Single tests left to the first pass: four random DML workloads checked row for row
# against DuckDB (their subject is the engine's answers; the DML code they drive runs
# under the sanitizers in test_dml's kill, concurrency and feed tests).
SANITIZED_SKIP_TESTS = {"test_random_workload_matches_duckdb"}


def pytest_collection_modifyitems(config, items):
    if os.environ.get("LOCH_SANITIZED") != "1":
        return
    keep, drop = [], []
    for it in items:
        module = it.module.__name__.rsplit(".", 1)[-1] if it.module else ""
        skip = module in SANITIZED_SKIPS or getattr(it, "originalname", "") in SANITIZED_SKIP_TESTS
        (drop if skip or "spark" in getattr(it, "fixturenames", ()) else keep).append(it)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# LOCH_TEST_LAKE=s3 runs the tests again on lakes in a bucket (moto's S3 server, one per
# test process): every test that works through loch alone runs on s3://; one that opens
# the lake's files itself is skipped there (LocalOnly).
S3_LAKES = os.environ.get("LOCH_TEST_LAKE") == "s3"


@pytest.fixture(scope="session")
def s3_store():
    from moto.server import ThreadedMotoServer
    import boto3
    import logging
    import socket
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        port = so.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="lakes")
    yield endpoint
    server.stop()


@pytest.fixture
def lake(tmp_path, request):
    if S3_LAKES:
        endpoint = request.getfixturevalue("s3_store")
        env = dict(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
                   AWS_ENDPOINT_URL=endpoint, LOCH_CACHE_DIR=str(tmp_path / "cache"),
                   AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
        name = "".join(c if c.isalnum() else "-" for c in request.node.name)[:200]
        lk = Lake(LocalOnly(), uri=f"s3://lakes/{name}-{os.getpid()}", env=env)
    else:
        lk = Lake(tmp_path / "lake")
    lk.run("init")
    return lk


@pytest.fixture(scope="session")
def spark():
    """One local Spark + delta-spark session for the whole run (its jars were fetched by
    scripts/setup.sh); started only by the tests that ask for it."""
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession
    b = (SparkSession.builder.master("local[1]").appName("loch-tests")
         .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
         .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
         .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "1"))
    # hadoop-aws: Spark reads lakes in a bucket (s3a://) too; scripts/setup.sh fetched it
    s = configure_spark_with_delta_pip(b, extra_packages=["org.apache.hadoop:hadoop-aws:3.3.4"]).getOrCreate()
    # Parquet not written by Spark holds proleptic Gregorian dates; without this Spark
    # refuses a date before 1582 rather than guess the calendar.
    s.conf.set("spark.sql.parquet.datetimeRebaseModeInRead", "CORRECTED")
    yield s
    s.stop()
