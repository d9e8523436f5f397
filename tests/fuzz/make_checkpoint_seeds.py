"""Writes the seed corpus of fuzz/fuzz_checkpoint.c into tests/fuzz/corpus/checkpoint/.

    LOCH_BIN=build/loch .venv/bin/python tests/fuzz/make_checkpoint_seeds.py

Seeds: a checkpoint written by loch (100 commits, partition-free), one written by
delta-rs (partitioned, with a schema change), the same cut short, a Parquet file whose
`add` column has the wrong shape, and bytes that are not Parquet at all.
"""
import os
import subprocess
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fuzz" / "corpus" / "checkpoint"
LOCH = os.environ.get("LOCH_BIN", str(ROOT / "build" / "loch"))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        lake = Path(tmp) / "lake"
        env = dict(os.environ, LOCH_LAKE=str(lake))
        subprocess.run([LOCH, "sql", "CREATE TABLE t (i INTEGER, s VARCHAR)"], check=True, env=env)
        subprocess.run([LOCH, "sql", ";".join(f"INSERT INTO t VALUES ({i}, 'v{i}')" for i in range(100))],
                       check=True, env=env)
        cp = (lake / "t" / "_delta_log" / "00000000000000000100.checkpoint.parquet").read_bytes()
        (OUT / "loch_100.parquet").write_bytes(cp)
        (OUT / "loch_100_truncated.parquet").write_bytes(cp[: len(cp) // 2])

        rs = Path(tmp) / "rs"
        write_deltalake(str(rs), pa.table({"id": [1, 2], "p": ["a", None]}), partition_by=["p"])
        write_deltalake(str(rs), pa.table({"id": [3], "p": ["b"], "extra": [1.5]}), mode="append",
                        schema_mode="merge")
        DeltaTable(str(rs)).delete("id = 1")
        DeltaTable(str(rs)).create_checkpoint()
        cps = sorted((rs / "_delta_log").glob("*.checkpoint.parquet"))
        (OUT / "deltars.parquet").write_bytes(cps[-1].read_bytes())

        bad = Path(tmp) / "bad.parquet"
        pq.write_table(pa.table({"add": pa.array([1, 2], pa.int32()), "protocol": ["x", None]}), bad)
        (OUT / "wrong_shape.parquet").write_bytes(bad.read_bytes())
    (OUT / "not_parquet.bin").write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")


if __name__ == "__main__":
    main()
