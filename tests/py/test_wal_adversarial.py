"""Regressions from the adversarial pass over the write-ahead log (issue 11): each test
is one finding, reproduced with hold points (never sleeps) and checked for the fixed
behaviour."""
import json
import os
import subprocess

from conftest import LOCH, Held
from test_wal import make_users, status, table_rows, segments


def test_log_column_names_are_refused_on_primary_key_tables(lake):
    for col in ("__lsn", "__change_type", "__timestamp"):
        p = lake.sql(f"CREATE TABLE a (id BIGINT PRIMARY KEY, {col} BIGINT)", check=False)
        assert p.returncode == 1 and "write-ahead log's own" in p.stderr, p.stderr
    lake.sql("CREATE TABLE b (id BIGINT, __lsn BIGINT)")  # without a key: no log, no clash


def test_a_writer_racing_drop_and_create_writes_nothing_into_the_new_table(lake, tmp_path):
    make_users(lake)
    lake.sql("INSERT INTO users VALUES (1, 'a', NULL)")
    f = tmp_path / "old.ndjson"
    f.write_text('{"id": 2, "name": "old"}\n')
    h = Held(lake, tmp_path / "hold", "wal-append", "write", "users", str(f))
    lake.sql("DROP TABLE users")
    lake.sql("CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR, city VARCHAR, extra INT)")
    lake.run("write", "users", "-", input='{"id": 9, "name": "new"}\n')
    code, _, err = h.release()
    assert code == 1 and "write again" in err, err
    lake.run("flush", "users")
    assert table_rows(lake) == [("9", "new", "")]


def test_a_writer_racing_a_schema_change_is_refused_not_wedging_the_table(lake, tmp_path):
    make_users(lake)
    lake.sql("INSERT INTO users VALUES (1, 'a', NULL)")
    f = tmp_path / "old.ndjson"
    f.write_text('{"id": 2, "name": "old"}\n')
    h = Held(lake, tmp_path / "hold", "wal-append", "write", "users", str(f))
    lake.sql("CREATE OR REPLACE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR)")
    code, _, err = h.release()
    assert code == 1 and "changed" in err, err
    lake.sql("INSERT INTO users VALUES (3, 'c')")
    assert lake.csv("SELECT id, name FROM users ORDER BY id") == [["3", "c"]]
    lake.run("flush", "users")


def test_producer_sequences_out_of_range_are_refused(lake):
    make_users(lake)
    for bad in ("99999999999999999999999", "-1", " 5", "9223372036854775808", "0", "1x"):
        p = lake.run("write", "users", "-", "--producer", "p", "--sequence", bad, input='{"id": 1}\n', check=False)
        assert p.returncode == 2, (bad, p.stderr)
    lake.run("write", "users", "-", "--producer", "p", "--sequence", "9223372036854775807",
             input='{"id": 1, "name": "max"}\n')
    p = lake.run("write", "users", "-", "--producer", "p\tq", "--sequence", "1", input='{"id": 2}\n', check=False)
    assert p.returncode == 1 and "producer id" in p.stderr


def test_insert_into_a_primary_key_table_in_a_transaction_is_refused(lake):
    make_users(lake)
    p = lake.sql("BEGIN; INSERT INTO users VALUES (1, 'a', NULL); ROLLBACK", check=False)
    assert p.returncode == 1 and "COMMIT or ROLLBACK first" in p.stderr
    assert table_rows(lake) == []


def test_dml_keeps_the_primary_key_unique(lake):
    make_users(lake)
    lake.sql("INSERT INTO users VALUES (1, 'a', NULL), (2, 'b', NULL)")
    assert lake.sql("UPDATE users SET id = 2 WHERE id = 1", check=False).returncode == 1
    p = lake.sql("MERGE INTO users USING (SELECT 3 AS id, 'c' AS name UNION ALL SELECT 3, 'd') s ON users.id = s.id "
                 "WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name)", check=False)
    assert p.returncode == 1 and "primary key" in p.stderr, p.stderr
    p = lake.sql("MERGE INTO users USING (SELECT 1 AS id, 'x' AS name) s ON users.name = s.name "
                 "WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name)", check=False)
    assert p.returncode == 1 and "primary key" in p.stderr, p.stderr
    lake.sql("MERGE INTO users USING (SELECT 2 AS id, 'B' AS name UNION ALL SELECT 4, 'd') s ON users.id = s.id "
             "WHEN MATCHED THEN UPDATE SET name = s.name WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name)")
    assert lake.scalar("SELECT count(*) - count(DISTINCT id) FROM users") == "0"
    assert [r[:2] for r in table_rows(lake)] == [("1", "a"), ("2", "B"), ("4", "d")]


def test_write_errors_name_the_line_not_loch_internals(lake, tmp_path):
    make_users(lake)
    p = lake.run("write", "users", "-", input='{"id": 1}\n{"id": \n', check=False)
    assert p.returncode == 1 and "line 2" in p.stderr and "system.main" not in p.stderr, p.stderr
    p = lake.run("write", "users", "-", input='{"id": "x"}\n', check=False)
    assert p.returncode == 1 and "line 1: column id" in p.stderr
    assert "wrote 0 rows" in lake.run("write", "users", "-", input="").stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,a,extra,more\n")
    p = lake.run("write", "users", str(bad), check=False)
    assert p.returncode == 1 and str(bad) not in p.stderr and "LINE" not in p.stderr, p.stderr


def test_a_damaged_frame_in_the_live_segment_is_recovered_not_wedging(lake):
    make_users(lake)
    for k in (1, 2, 3):
        lake.sql(f"INSERT INTO users VALUES ({k}, 'v{k}', NULL)")
    (seg,) = segments(lake)
    data = bytearray(seg.read_bytes())
    data[-100] ^= 0x55  # inside the last frame
    seg.write_bytes(bytes(data))
    p = lake.sql("SELECT count(*) FROM users", check=False)
    assert p.returncode == 1 and "damaged" in p.stderr
    # the next command recovers the log up to the damage; the table works again
    assert [r[0] for r in table_rows(lake)] == ["1", "2"]
    lake.sql("INSERT INTO users VALUES (9, 'n', NULL)")
    lake.run("flush", "users")
    assert [r[0] for r in table_rows(lake)] == ["1", "2", "9"]
