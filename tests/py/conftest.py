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


class Lake:
    def __init__(self, path: Path):
        self.path = path

    def run(self, *args, input=None, check=True, env=None, timeout=300):
        e = dict(os.environ, LOCH_LAKE=str(self.path))
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
        env = dict(os.environ, LOCH_LAKE=str(lake.path), LOCH_HOLD=f"{point}:{tmp}", **(env or {}))
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
                   "test_embed"}


def pytest_collection_modifyitems(config, items):
    if os.environ.get("LOCH_SANITIZED") != "1":
        return
    keep, drop = [], []
    for it in items:
        module = it.module.__name__.rsplit(".", 1)[-1] if it.module else ""
        (drop if module in SANITIZED_SKIPS or "spark" in getattr(it, "fixturenames", ()) else keep).append(it)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def lake(tmp_path):
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
