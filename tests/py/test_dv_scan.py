"""Deletion vectors through the scan: the deleted rows reach the engine as a relation
(adapters/compute.h), never as SQL text, and files with and without DVs share one Parquet
scan. Tables are written here the way Spark writes them (DV files with several DVs at
their offsets, inline DVs, a DV replaced by a later commit), so the expected rows are
known exactly: every answer is checked against Python's own count."""
import json
import struct
import sys
import threading
import uuid
import zlib

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import ROOT
from test_server import Server

sys.path.insert(0, str(ROOT / "bench"))
from run import _roaring_array, _z85  # noqa: E402  (the benchmark writes its DV tables with these)

DV_PROTOCOL = {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["deletionVectors"],
               "writerFeatures": ["deletionVectors"]}
ROWS = 100  # per file
SCAN = {"LOCH_NO_METADATA_ANSWERS": "1"}  # count(*) must scan, not read the log


def _schema(fields):
    return json.dumps({"type": "struct", "fields": [{"name": n, "type": t, "nullable": True, "metadata": {}}
                                                    for n, t in fields]})


class DvTable:
    """A table of 4 files of ROWS rows (id = 100 * file + row) whose commits we write."""

    def __init__(self, lake, name, partitioned=False, extra_column=None):
        self.dir = lake.table(name)
        (self.dir / "_delta_log").mkdir(parents=True)
        self.version = -1
        self.deleted = {f: set() for f in range(4)}
        self.dvs = {}  # the DV descriptor in effect per file
        self.history = []  # the live ids after each version
        fields = [("id", "long"), ("v", "string")] + ([extra_column] if extra_column else [])
        self.parts = {f: ("a" if f < 2 else "b") for f in range(4)} if partitioned else {}
        if partitioned:
            fields.append(("p", "string"))
        adds = []
        for f in range(4):
            ids = list(range(100 * f, 100 * f + ROWS))
            cols = {"id": pa.array(ids, pa.int64()), "v": [f"v{i}" for i in ids]}
            if extra_column:
                cols[extra_column[0]] = pa.array([-i for i in ids], pa.int64())
            sub = f"p={self.parts[f]}/" if partitioned else ""
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(cols), self.dir / f"{sub}part-{f}.parquet")
            adds.append({"add": self._add(f)})
        meta = {"metaData": {"id": "dv-test", "format": {"provider": "parquet", "options": {}},
                             "schemaString": _schema(fields), "partitionColumns": ["p"] if partitioned else [],
                             "configuration": {"delta.enableDeletionVectors": "true"}, "createdTime": 0}}
        self._commit([{"protocol": DV_PROTOCOL}, meta] + adds)

    def _path(self, f):
        return (f"p={self.parts[f]}/" if self.parts else "") + f"part-{f}.parquet"

    def _add(self, f, dv=None):
        add = {"path": self._path(f), "partitionValues": {"p": self.parts[f]} if self.parts else {},
               "size": (self.dir / self._path(f)).stat().st_size, "modificationTime": 0, "dataChange": True,
               "stats": json.dumps({"numRecords": ROWS})}
        if dv:
            add["deletionVector"] = dv
        return add

    def _commit(self, actions):
        self.version += 1
        (self.dir / "_delta_log" / f"{self.version:020d}.json").write_text(
            "\n".join(json.dumps(a) for a in actions) + "\n")
        self.history.append(self.live())

    def delete(self, more, inline=()):
        """One commit: each file f in `more` loses the rows more[f] as well (a new DV
        replacing its old one: remove + add). Files in `inline` get an inline DV; the
        others share one new DV file, each DV at its offset."""
        u = uuid.uuid4()
        blob = bytearray(b"\x01")
        actions = []
        for f, rows in more.items():
            old = self.dvs.get(f)
            actions.append({"remove": {"path": self._path(f), "dataChange": True, "deletionTimestamp": 0,
                                       **({"deletionVector": old} if old else {})}})
            self.deleted[f] |= set(rows)
            payload = _roaring_array(sorted(self.deleted[f]))
            if f in inline:
                padded = payload + b"\0" * (-len(payload) % 4)
                dv = {"storageType": "i", "pathOrInlineDv": _z85(padded), "sizeInBytes": len(payload),
                      "cardinality": len(self.deleted[f])}
            else:
                dv = {"storageType": "u", "pathOrInlineDv": "dv" + _z85(u.bytes), "offset": len(blob),
                      "sizeInBytes": len(payload), "cardinality": len(self.deleted[f])}
                blob += struct.pack(">I", len(payload)) + payload + struct.pack(">I", zlib.crc32(payload))
            self.dvs[f] = dv
            actions.append({"add": self._add(f, dv)})
        if len(blob) > 1:
            (self.dir / "dv").mkdir(exist_ok=True)
            (self.dir / "dv" / f"deletion_vector_{u}.bin").write_bytes(bytes(blob))
        self._commit(actions)

    def live(self):
        return sorted(100 * f + r for f in range(4) for r in range(ROWS) if r not in self.deleted[f])


def ints(lake, q, env=SCAN):
    out = lake.sql(q, "-f", "csv", env=env).stdout.strip().splitlines()[1:]
    return [[int(x) if x.lstrip("-").isdigit() else x for x in line.split(",")] for line in out]


def made(lake, name="t", **kw):
    t = DvTable(lake, name, **kw)
    t.delete({1: [0, 5, 99], 2: range(10, 60)})  # v1: two DVs in one DV file
    t.delete({3: [7, 8, 9]}, inline={3})         # v2: an inline DV
    t.delete({1: [1, 2]})                        # v3: file 1's DV replaced
    return t


def test_rows_counts_filters_projection(lake):
    t = made(lake)
    live = t.live()
    assert len(live) == 400 - 5 - 50 - 3
    assert ints(lake, "SELECT id FROM t ORDER BY id") == [[i] for i in live]
    assert ints(lake, "SELECT count(*), sum(id) FROM t") == [[len(live), sum(live)]]
    assert ints(lake, "SELECT count(*) FROM t", env=None) == [[len(live)]]  # the answer from the log agrees
    assert ints(lake, "SELECT count(*) FROM t WHERE id BETWEEN 100 AND 250") == \
        [[sum(1 for i in live if 100 <= i <= 250)]]
    assert ints(lake, "SELECT v FROM t WHERE id IN (100, 101, 103, 205, 210, 300, 307) ORDER BY id") == \
        [["v103"], ["v205"], ["v300"]]
    # projection: the table's columns only (no row number or file index leaks out)
    assert lake.sql("SELECT * FROM t LIMIT 0", "-f", "csv").stdout.strip() == "id,v"
    assert ints(lake, "SELECT count(*) FROM (SELECT DISTINCT v FROM t)") == [[len(live)]]


def test_time_travel_sees_its_own_dvs(lake):
    t = made(lake)
    for v, live in enumerate(t.history):
        assert ints(lake, f'SELECT count(*), sum(id) FROM "t@v{v}"') == [[len(live), sum(live)]], v
    # two versions in one statement: each scan its own relation
    assert ints(lake, 'SELECT (SELECT count(*) FROM "t@v0"), (SELECT count(*) FROM "t@v1"), '
                      '(SELECT count(*) FROM t)') == [[400, len(t.history[1]), len(t.live())]]
    got = ints(lake, 'SELECT a.id FROM "t@v0" a ANTI JOIN t b ON a.id = b.id ORDER BY 1')
    assert got == [[i] for i in sorted(set(t.history[0]) - set(t.live()))]


def test_partitioned_dv_table(lake):
    t = made(lake, partitioned=True)
    live = t.live()
    expect = [["a", sum(1 for i in live if i < 200)], ["b", sum(1 for i in live if i >= 200)]]
    assert ints(lake, "SELECT p, count(*) FROM t GROUP BY p ORDER BY p") == expect
    assert ints(lake, "SELECT count(*) FROM t WHERE p = 'b' AND id < 260") == \
        [[sum(1 for i in live if 200 <= i < 260)]]
    assert ints(lake, 'SELECT count(*) FROM "t@v0" WHERE p = \'a\'') == [[200]]


def test_loch_written_table_with_a_dv(lake):
    """A table loch wrote takes the plain scan; a DV added to it filters that scan."""
    lake.sql("CREATE TABLE w AS SELECT range AS id FROM range(1000)")
    log = lake.table("w") / "_delta_log"
    add = next(json.loads(l)["add"] for l in (log / f"{0:020d}.json").read_text().splitlines() if '"add"' in l)
    gone = list(range(0, 1000, 3))
    payload = _roaring_array(gone)
    padded = payload + b"\0" * (-len(payload) % 4)
    dv = {"storageType": "i", "pathOrInlineDv": _z85(padded), "sizeInBytes": len(payload),
          "cardinality": len(gone)}
    (log / f"{1:020d}.json").write_text("\n".join(json.dumps(a) for a in [
        {"protocol": DV_PROTOCOL},
        {"remove": {"path": add["path"], "dataChange": True, "deletionTimestamp": 0}},
        {"add": {**add, "deletionVector": dv}}]) + "\n")
    keep = [i for i in range(1000) if i % 3]
    assert ints(lake, "SELECT count(*), sum(id) FROM w") == [[len(keep), sum(keep)]]
    assert ints(lake, 'SELECT count(*) FROM "w@v0"') == [[1000]]


def test_relations_do_not_outlive_their_statement(lake):
    made(lake)
    # In one process: the first statement registers relations; the next finds none of them.
    p = lake.sql("SELECT count(*) FROM t; SELECT system.main.loch_keep(1, 0::UBIGINT, 0)", check=False, env=SCAN)
    assert p.returncode == 1 and "none has that id" in p.stderr
    # A sandboxed query may not call loch's filter at all.
    p = lake.run("--sandbox", "sql", "SELECT system.main.loch_keep(1, 0::UBIGINT, 0)", check=False)
    assert p.returncode != 0 and "loch_keep is not allowed" in p.stderr
    # A macro of the same name does not stand in for it.
    p = lake.sql("CREATE TEMP MACRO loch_keep(a, b, c) AS false; SELECT count(*) FROM t", "-f", "csv", env=SCAN)
    assert p.stdout.strip().splitlines()[-1] == str(400 - 58)


def test_column_named_like_the_engine_row_columns(lake):
    DvTable(lake, "c", extra_column=("file_index", "long")).delete({0: [1]})
    p = lake.sql("SELECT count(*) FROM c", check=False, env=SCAN)
    assert p.returncode != 0 and "file_index" in p.stderr and "deletion vectors" in p.stderr
    assert ints(lake, 'SELECT count(*), min(file_index) FROM "c@v0"') == [[400, -399]]  # without DVs it reads


def test_concurrent_clients_each_see_their_snapshot(lake, tmp_path):
    t = made(lake)
    t2 = made(lake, "u", partitioned=True)
    cfg = tmp_path / "loch.toml"
    cfg.write_text("[server]\nworkers = 3\n")
    s = Server(lake, "--config", str(cfg), env=SCAN)
    cases = [(f'SELECT count(*), sum(id) FROM "t@v{v}"', [len(live), sum(live)]) for v, live in enumerate(t.history)]
    cases += [("SELECT count(*), sum(id) FROM u", [len(t2.live()), sum(t2.live())]),
              ('SELECT count(*), sum(id) FROM "u@v1"', [len(t2.history[1]), sum(t2.history[1])])]
    bad = []

    def client(k):
        for i in range(20):
            q, want = cases[(k + i) % len(cases)]
            got = s.json("POST", "/v1/sql", {"sql": q})["rows"]
            if got != [want]:
                bad.append((q, got, want))

    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        assert s.stop() == 0
    assert not bad, bad[:3]


def test_a_dv_whose_cardinality_lies_is_refused(lake):
    """The log says how many rows a DV deletes; the bitmap says which. When they disagree
    the table is corrupt: count(*) and a scan must not give two answers (adversarial pass
    of issue 9: 398 from the log, 347 from the bitmap)."""
    import json as js
    t = DvTable(lake, "cw")
    t.delete({1: [0, 5, 99], 2: range(10, 60)})
    log = sorted((t.dir / "_delta_log").glob("*.json"))[-1]
    lines = [js.loads(x) for x in log.read_text().splitlines()]
    for a in lines:
        if "add" in a and a["add"].get("deletionVector"):
            a["add"]["deletionVector"]["cardinality"] = 1
    log.write_text("\n".join(js.dumps(a) for a in lines) + "\n")
    for q, env in [("SELECT count(*) FROM cw", None), ("SELECT count(*) FROM cw", SCAN),
                   ("SELECT count(*) FROM cw WHERE id >= 0", SCAN)]:
        p = lake.sql(q, env=env, check=False)
        assert p.returncode == 1 and "but the log says 1" in p.stderr, (q, p.stdout, p.stderr)
