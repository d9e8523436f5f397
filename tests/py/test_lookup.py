"""Point lookups by primary key from the key index (ops/lookup.c).

The oracle is the engine: every lookup is run twice, answered by the index and by the
engine's scan (LOCH_NO_METADATA_ANSWERS turns the index off), and the two outputs must
be the same text in every output format. The `key-lookup` hold point proves the index
answered (a process that reaches it is stopped there until released)."""
import json
import random
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import Held, Lake

ENGINE = {"LOCH_NO_METADATA_ANSWERS": "1"}


def both(lake, q, fmt="json"):
    ours = lake.sql(q, "-f", fmt).stdout
    theirs = lake.sql(q, "-f", fmt, env=ENGINE).stdout
    assert ours == theirs, q
    return ours


def answered_by_index(lake, tmp_path, q):
    h = Held(lake, tmp_path / f"h{abs(hash(q))}", "key-lookup", "sql", q, "-f", "json")
    rc, out, err = h.release()
    assert rc == 0, err
    return out


def test_every_type_reads_as_the_engine_reads_it(lake, tmp_path):
    lake.sql("CREATE TABLE t (id BIGINT PRIMARY KEY, s VARCHAR, b BOOLEAN, d DOUBLE, f FLOAT, dt DATE, "
             "ts TIMESTAMP WITH TIME ZONE, tn TIMESTAMP, dec DECIMAL(10,2), big DECIMAL(18,4), i INTEGER, "
             "si SMALLINT, ti TINYINT, wide DECIMAL(38,6))")
    lake.sql("INSERT INTO t VALUES "
             "(1, 'Ann', true, 0.1, 0.1, DATE '2026-11-28', TIMESTAMPTZ '2026-11-28 10:11:12.345678+00', "
             "TIMESTAMP '1969-12-31 23:59:59.999999', 12.5, -123456789012.3456, -2147483648, -32768, -128, "
             "-12345678901234567890123456789012.123456), "
             "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
             "(-3, 'ünïcødé ✓ \"q\" ''a'', b', false, 'inf'::DOUBLE, '-inf'::FLOAT, DATE '0001-01-01', "
             "TIMESTAMPTZ '1900-01-01 00:00:00+00', TIMESTAMP '9999-12-31 23:59:59', -0.01, 0, 2147483647, "
             "32767, 127, 0.000001), "
             "(4, '', true, 1e300, 3.4e38, DATE '1970-01-01', NULL, NULL, 0, 1, 0, 0, 0, 1), "
             "(5, 'nan', true, 'nan'::DOUBLE, -0.0, DATE '2000-02-29', NULL, NULL, -99999999.99, NULL, 1, 1, 1, "
             "99999999999999999999999999999999.999999)")
    lake.sql("FLUSH t")
    for fmt in ("json", "csv", "box", "ndjson", "markdown"):
        for k in (1, 2, -3, 4, 5, 6, -1):
            both(lake, f"SELECT * FROM t WHERE id = {k}", fmt)
    both(lake, "SELECT s, id, dec FROM t WHERE id = -3")
    both(lake, 'SELECT "s" FROM "t" WHERE "id" = 1')
    assert '"Ann"' in answered_by_index(lake, tmp_path, "SELECT * FROM t WHERE id = 1")
    assert answered_by_index(lake, tmp_path, "SELECT s FROM t WHERE id = 99").strip() == "[]"


def test_text_and_composite_keys(lake, tmp_path):
    lake.sql("CREATE TABLE c (region VARCHAR, n INTEGER, v VARCHAR, PRIMARY KEY (region, n))")
    lake.sql("INSERT INTO c SELECT 'r' || (i % 7), i // 7, 'v' || i FROM range(2000) t(i)")
    lake.sql("FLUSH c")
    lake.sql("CREATE TABLE s (k VARCHAR PRIMARY KEY, v BIGINT)")
    lake.sql("INSERT INTO s SELECT 'key-' || i, i FROM range(3000) t(i)")
    lake.sql("FLUSH s")
    for q in ("SELECT * FROM c WHERE region = 'r3' AND n = 17", "SELECT v FROM c WHERE n = 17 AND region = 'r3'",
              "SELECT * FROM c WHERE region = 'r3' AND n = 100000", "SELECT * FROM s WHERE k = 'key-2999'",
              "SELECT * FROM s WHERE k = 'key-'", "SELECT * FROM s WHERE k = 'KEY-1'"):
        both(lake, q)
    assert "v129" in answered_by_index(lake, tmp_path, "SELECT v FROM c WHERE region = 'r3' AND n = 18")
    assert "2999" in answered_by_index(lake, tmp_path, "SELECT * FROM s WHERE k = 'key-2999'")


def lockstep(lake, tmp_path, setup):
    """Two lakes built alike: one answers lookups from the index, the other by the engine."""
    other = Lake(tmp_path / "engine")
    other.run("init")
    for q in setup:
        lake.sql(q)
        other.sql(q)
    return other


def same(lake, other, script):
    """One process per lake runs script (its last statement a lookup): the index, built by
    the first statement, follows the changes the others make in that same process."""
    ours = lake.sql(script, "-f", "json").stdout
    theirs = other.sql(script, "-f", "json", env=ENGINE).stdout
    assert ours == theirs, script
    return ours


def test_the_log_deletion_vectors_and_new_files_are_seen_in_one_session(lake, tmp_path):
    other = lockstep(lake, tmp_path, ["CREATE TABLE u (id BIGINT PRIMARY KEY, name VARCHAR)",
                                      "INSERT INTO u SELECT i, 'n' || i FROM range(5000) t(i)", "FLUSH u"])
    first = "SELECT * FROM u WHERE id = 10; "
    assert "changed" in same(lake, other, first + "INSERT INTO u VALUES (10, 'changed'); SELECT * FROM u WHERE id = 10")
    assert same(lake, other, first + "DELETE FROM u WHERE id = 11; SELECT * FROM u WHERE id = 11").strip() == "[]"
    assert "new" in same(lake, other, first + "INSERT INTO u VALUES (6000, 'new'); SELECT * FROM u WHERE id = 6000")
    # the flush: deletion vectors on the old file, a new file, the log emptied
    assert "changed" in same(lake, other, first + "FLUSH u; SELECT * FROM u WHERE id = 10")
    assert same(lake, other, first + "FLUSH u; SELECT * FROM u WHERE id = 11").strip() == "[]"
    assert "again" in same(lake, other, first + "INSERT INTO u VALUES (6000, 'again'); FLUSH u; "
                                                "SELECT name FROM u WHERE id = 6000")
    # OPTIMIZE rewrites the files, DELETE by a predicate writes DVs through the engine
    same(lake, other, first + "OPTIMIZE u; SELECT * FROM u WHERE id = 4999")
    same(lake, other, first + "DELETE FROM u WHERE id BETWEEN 4990 AND 4998; FLUSH u; SELECT * FROM u WHERE id = 4995")
    assert "again" in answered_by_index(lake, tmp_path, "SELECT name FROM u WHERE id = 6000")
    # DROP and CREATE again under the same name: another table, other files
    assert same(lake, other, first + "DROP TABLE u; CREATE TABLE u (id BIGINT PRIMARY KEY, name VARCHAR); "
                                     "INSERT INTO u VALUES (10, 'fresh'); FLUSH u; SELECT * FROM u WHERE id = 10"
                ).count("fresh") == 1


@pytest.mark.parametrize("seed", [1, 2])
def test_random_changes_equal_the_engine_at_every_step(lake, tmp_path, seed):
    """Random upserts, deletes and flushes; each step one process that looks up a key,
    changes the table, and looks up another."""
    rnd = random.Random(seed)
    other = lockstep(lake, tmp_path, ["CREATE TABLE r (id BIGINT PRIMARY KEY, v VARCHAR, n DOUBLE)"])
    for step in range(12):
        ops = [f"SELECT * FROM r WHERE id = {rnd.randint(-60, 310)}"]
        for _ in range(rnd.randint(1, 30)):
            k = rnd.randint(-50, 300)
            if rnd.random() < 0.25:
                ops.append(f"DELETE FROM r WHERE id = {k}")
            else:
                ops.append(f"INSERT INTO r VALUES ({k}, 'v{step}-{k}', {rnd.random()})")
            if rnd.random() < 0.05:
                ops.append("FLUSH r")
        ops.append(f"SELECT * FROM r WHERE id = {rnd.choice([k, rnd.randint(-60, 310)])}")
        same(lake, other, "; ".join(ops))


def test_a_file_in_no_key_order_and_with_row_groups_and_pages(lake, tmp_path):
    """Files loch did not write: pyarrow's, keys shuffled, small pages, dictionary and
    plain encodings, v1 and v2 data pages, snappy and uncompressed; ingested as they are,
    then looked up by key."""
    rnd = random.Random(7)
    ids = list(range(20000))
    rnd.shuffle(ids)
    names = [None if i % 13 == 0 else f"name-{i % 50}" for i in ids]
    t = pa.table({"id": pa.array(ids, pa.int64()), "name": pa.array(names, pa.string()),
                  "score": pa.array([None if i % 7 == 0 else i / 3 for i in ids], pa.float64())})
    for n, opts in enumerate([dict(compression="snappy", data_page_size=4096, row_group_size=3000),
                              dict(compression="none", use_dictionary=False, data_page_version="2.0"),
                              dict(compression="snappy", data_page_version="2.0", row_group_size=7000)]):
        name = f"p{n}"
        src = tmp_path / f"{name}.parquet"
        pq.write_table(t, src, **opts)
        lake.sql(f"CREATE TABLE {name} (id BIGINT PRIMARY KEY, name VARCHAR, score DOUBLE)")
        lake.sql(f"INSERT INTO {name} SELECT * FROM read_parquet('{src}')")
        lake.sql(f"FLUSH {name}")
        for k in (0, 1, 13, 14, 19999, 12345, 20000):
            both(lake, f"SELECT * FROM {name} WHERE id = {k}")


def test_shapes_the_index_leaves_to_the_engine(lake, tmp_path):
    """Not the key, not equality, time travel, an engine view of the same name: the engine
    answers, and the answer is right."""
    lake.sql("CREATE TABLE k (id BIGINT PRIMARY KEY, v VARCHAR)")
    lake.sql("INSERT INTO k VALUES (1, 'a'), (2, 'b')")
    lake.sql("FLUSH k")
    lake.sql("INSERT INTO k VALUES (1, 'z')")
    for q in ("SELECT * FROM k WHERE v = 'a'", "SELECT * FROM k WHERE id = 1.0", "SELECT * FROM k WHERE id = '1'",
              'SELECT * FROM "k@v1" WHERE id = 1', "SELECT * FROM k WHERE id = 1 OR id = 2",
              "SELECT * FROM k WHERE id = 1 LIMIT 1", "SELECT V FROM k WHERE id = 1"):
        both(lake, q)
    out = lake.sql("CREATE TEMP VIEW k AS SELECT 42 AS id, 'view' AS v; SELECT * FROM k WHERE id = 42",
                   "-f", "csv").stdout
    assert "view" in out
    out = lake.sql("CREATE TEMP VIEW k AS SELECT 1 AS x; SELECT count(*) FROM k", "-f", "csv").stdout
    assert out.split() == ["count_star()", "1"]
    # EXPLAIN ANALYZE runs what it explains: a view made that way shadows the table too
    out = lake.sql("EXPLAIN ANALYZE CREATE TEMP VIEW k AS SELECT 1::BIGINT AS id, 'view' AS v; "
                   "SELECT * FROM k WHERE id = 1", "-f", "csv").stdout
    assert "view" in out


def test_the_server_streams_the_index_answer(lake, tmp_path):
    """`loch serve` streams query results: a lookup there is the index's answer, in every
    format, the same as the engine's (a second server with the index off), and a
    server worker stops at the key-lookup point when it answers one."""
    from test_server import Server
    lake.sql("CREATE TABLE s (id BIGINT PRIMARY KEY, name VARCHAR, score DOUBLE)")
    lake.sql("INSERT INTO s SELECT i, 'n' || i, i / 4 FROM range(3000) t(i)")
    lake.sql("FLUSH s")
    lake.sql("INSERT INTO s VALUES (7, 'seven', NULL)")
    ours, theirs = Server(lake), Server(lake, env=ENGINE)
    try:
        for q in ("SELECT * FROM s WHERE id = 7", "SELECT name FROM s WHERE id = 2999", "SELECT * FROM s WHERE id = -1"):
            for fmt in ("json", "csv", "arrow"):
                a = ours.req("POST", "/v1/sql", {"sql": q, "format": fmt})
                b = theirs.req("POST", "/v1/sql", {"sql": q, "format": fmt})
                assert a[0] == b[0] == 200, (a, b)
                if fmt == "json":  # elapsed_ms and query_id differ
                    ja, jb = json.loads(a[2]), json.loads(b[2])
                    for k in ("elapsed_ms", "query_id"):
                        ja.pop(k, None), jb.pop(k, None)
                    assert ja == jb, q
                else:
                    assert a[2] == b[2], (q, fmt)
    finally:
        assert ours.stop() == 0 and theirs.stop() == 0
    hold = tmp_path / "held"
    hold.mkdir()
    held = Server(lake, env={"LOCH_HOLD": f"key-lookup:{hold}"})
    try:
        got = {}
        t = threading.Thread(target=lambda: got.update(r=held.req("POST", "/v1/sql", {"sql": "SELECT name FROM s "
                                                                                             "WHERE id = 7"})))
        t.start()
        while not list(hold.glob("key-lookup.*.reached")):
            assert t.is_alive() or got, "the request ended without reaching the point"
            assert t.is_alive(), got
            time.sleep(0.01)  # waiting for an event, bounded by the request itself
        (hold / "key-lookup.go").touch()
        t.join()
        assert got["r"][0] == 200 and b"seven" in got["r"][2]
    finally:
        assert held.stop() == 0


def test_a_large_tables_first_lookup_is_the_engines(lake, tmp_path):
    """Over 1M rows, the index is built at the second lookup of a session: a single
    `loch sql` call answers by the scan and never reaches key-lookup; a session's second
    lookup does."""
    lake.sql("CREATE TABLE big (id BIGINT PRIMARY KEY, v BIGINT)")
    lake.sql("INSERT INTO big SELECT i, i * 2 FROM range(1100000) t(i)")
    lake.sql("FLUSH big")
    hold = tmp_path / "once"
    hold.mkdir()
    out = lake.sql("SELECT v FROM big WHERE id = 1099999", "-f", "csv", env={"LOCH_HOLD": f"key-lookup:{hold}"})
    assert out.stdout.split() == ["v", "2199998"] and not list(hold.glob("*.reached"))
    got = answered_by_index(lake, tmp_path, "SELECT v FROM big WHERE id = 5; SELECT v FROM big WHERE id = 7")
    assert json.loads(got) == [{"v": 14}]
