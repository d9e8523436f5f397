"""The benchmarks build and run (issue 8, item 28): `bench/run.py --quick` runs every
benchmark at a tiny size against its peer and fails unless every ratio it prints was
computed. What the figures are is not checked here (a test never asserts on speed)."""
import os
import subprocess
import sys
from pathlib import Path

from conftest import LOCH, ROOT


def test_every_benchmark_computes_its_ratio():
    build = Path(LOCH).parent
    assert (build / "bench_core").exists(), "make unit builds bench_core"
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick"], capture_output=True, text=True,
                       env=dict(os.environ, LOCH_BENCH_BUILD=str(build)), timeout=1800)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    lines = p.stdout.splitlines()
    assert lines[-1].startswith("bench quick: ") and int(lines[-1].split()[2]) >= 20, lines[-5:]
    table = [l for l in lines if "  " in l and l.split()[-1] and not l.startswith(("measure", "("))]
    for name in ("commit: 1-row INSERT, warm handle", "commit: 1-row INSERT, cold handle", "open:", "query scan",
                 "demo q5", "ingest parquet", "ingest peak RSS", "http: small query", "http: upload ingest", "dv scan", "DELETE 1 row", "UPDATE 1 row", "MERGE 1,000 rows", "OPTIMIZE 20 files", "dv group by (50,000 rows, a tenth deleted by DELETE), against",
                 "  the engine's floor", "  copy-on-write's floor"):
        assert any(l.startswith(name) for l in table), name
