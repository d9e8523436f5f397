"""The change data feed (delta.enableChangeDataFeed): DELETE, UPDATE and MERGE write
change data files that Spark and delta-rs read as theirs, and table_changes() reads the
feed of loch's tables and of Spark's as Spark does. (The random workload in test_dml.py
also replays the feed version by version against the states it recorded.)"""
import pyarrow as pa
import pytest
from deltalake import DeltaTable

FEED = "id, v, _change_type, _commit_version"


def write_workload(lake, name, dv):
    lake.sql(f"CREATE TABLE {name} AS SELECT i::BIGINT AS id, 'v' || i AS v FROM range(20) r(i)")
    props = "'delta.enableChangeDataFeed'='true'" + (", 'delta.enableDeletionVectors'='true'" if dv else "")
    lake.sql(f"ALTER TABLE {name} SET TBLPROPERTIES ({props})")
    lake.sql(f"DELETE FROM {name} WHERE id < 3")
    lake.sql(f"UPDATE {name} SET v = 'u' || id WHERE id BETWEEN 5 AND 7")
    lake.sql(f"MERGE INTO {name} USING (VALUES (8, 'm'), (9, NULL), (100, 'n')) s(id, v) ON {name}.id = s.id "
             "WHEN MATCHED AND s.v IS NULL THEN DELETE WHEN MATCHED THEN UPDATE SET v = s.v "
             "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)")
    lake.sql(f"INSERT INTO {name} VALUES (200, 'i')")
    lake.sql(f"OPTIMIZE {name}")  # changes no row: no change rows
    lake.sql(f"DELETE FROM {name} WHERE id = 200")


def loch_feed(lake, name, start=2):
    return sorted(tuple(r) for r in lake.csv(f"SELECT {FEED} FROM table_changes('{name}', {start}) ORDER BY ALL"))


def as_text(rows):
    return sorted(tuple("" if x is None else str(x) for x in r) for r in rows)


@pytest.mark.parametrize("dv", [False, True])
def test_feed_matches_spark_and_delta_rs(lake, spark, dv):
    name = "dvf" if dv else "cf"
    write_workload(lake, name, dv)
    mine = loch_feed(lake, name)
    kinds = {r[2] for r in mine}
    assert kinds == {"delete", "update_preimage", "update_postimage", "insert"}
    assert not [r for r in mine if r[3] == "6"]  # OPTIMIZE (version 6): no change rows
    df = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 2)
          .load(str(lake.table(name))))
    assert as_text(df.select("id", "v", "_change_type", "_commit_version").collect()) == mine
    if not dv:
        cdf = pa.table(DeltaTable(str(lake.table(name))).load_cdf(starting_version=2).read_all())
        got = [(r["id"], r["v"], r["_change_type"], r["_commit_version"]) for r in cdf.to_pylist()]
        assert as_text(got) == mine


def test_feed_of_a_table_spark_changed(lake, spark):
    path = str(lake.table("s"))
    spark.sql(f"CREATE TABLE delta.`{path}` (id BIGINT, v STRING) USING delta "
              "TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
    spark.range(0, 10).selectExpr("id", "concat('v', id) AS v").write.format("delta").mode("append").save(path)
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id < 2")
    spark.sql(f"UPDATE delta.`{path}` SET v = 'u' WHERE id = 5")
    want = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 1).load(path)
            .select("id", "v", "_change_type", "_commit_version").collect())
    assert loch_feed(lake, "s", 1) == as_text(want)


def test_feed_ranges_and_refusals(lake):
    write_workload(lake, "t", False)
    assert {r[3] for r in loch_feed(lake, "t")} == {"2", "3", "4", "5", "7"}
    assert {r[0] for r in lake.csv("SELECT _commit_version FROM table_changes('t', 3, 4)")} == {"3", "4"}
    # a timestamp names one version, also in a bucket, whose file times have whole seconds
    # (commits within one are a millisecond apart: Delta's rule)
    ts = lake.csv("SELECT _commit_timestamp FROM table_changes('t', 3, 3) LIMIT 1")[0][0]
    got = lake.csv(f"SELECT DISTINCT _commit_version FROM table_changes('t', '{ts}', '{ts}')")
    assert got == [["3"]]
    for q, words in (("SELECT * FROM table_changes('t', 0)", "did not record its changes at version 0"),
                     ("SELECT * FROM table_changes('t', 4, 3)", "comes before the start"),
                     ("SELECT * FROM table_changes('t', 99)", "after the latest version"),
                     ("SELECT * FROM table_changes('nope', 2)", "does not exist"),
                     ("SELECT * FROM table_changes('t')", "takes ('table', from[, to])"),
                     ("SELECT * FROM table_changes(t, 2)", "takes ('table', from[, to])"),
                     ("SELECT * FROM table_changes('t', 'soon')", "neither a version nor a timestamp")):
        p = lake.sql(q, check=False)
        assert p.returncode == 1 and words in p.stderr, (q, p.stderr)
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.enableChangeDataFeed'='false')")
    p = lake.sql("SELECT * FROM table_changes('t', 2)", check=False)
    assert p.returncode == 1 and "stopped recording its changes at version 8" in p.stderr
    # the feed works wherever a table name does
    lake.sql("CREATE TABLE copied AS SELECT * FROM table_changes('t', 2, 7)")
    assert lake.scalar("SELECT count(*) FROM copied") == str(len(lake.csv("SELECT * FROM table_changes('t', 2, 7)")))


def test_vacuum_keeps_change_files_the_window_needs(lake):
    import os
    import time
    write_workload(lake, "t", False)
    cdc = sorted((lake.table("t") / "_change_data").iterdir())
    assert len(cdc) == 4
    old = time.time() - 30 * 24 * 3600
    for f in cdc:
        os.utime(f, (old, old))
    assert lake.sql("VACUUM t DRY RUN", "-f", "csv").stdout.split() == ["path,size"]  # their commits are recent
    log = sorted((lake.table("t") / "_delta_log").glob("*.json"))
    for f in log[:3]:  # versions 0-2 leave the window: version 2's change file may go
        os.utime(f, (old, old))
    doomed = [line.split(",")[0] for line in lake.sql("VACUUM t DRY RUN", "-f", "csv").stdout.split()[1:]]
    assert [d for d in doomed if d.startswith("_change_data/")] == ["_change_data/" + cdc_name(lake, 2)]


def cdc_name(lake, version):
    import json
    text = (lake.table("t") / "_delta_log" / f"{version:020d}.json").read_text()
    return [json.loads(line)["cdc"]["path"] for line in text.splitlines() if '"cdc"' in line][0].split("/")[1]


def test_feed_then_deletion_vectors_stays_writable(lake):
    """Turning on the feed (writer version 4) and then deletion vectors (table features)
    lists every feature version 4 implied, generated columns and CHECK constraints among
    them; none is in use, so the table stays writable (third pass of the review)."""
    import json
    lake.sql("CREATE TABLE t AS SELECT range AS id FROM range(10)")
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
    lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    proto = [json.loads(line)["protocol"] for line in
             (lake.table("t") / "_delta_log" / "00000000000000000002.json").read_text().splitlines()
             if '"protocol"' in line][0]
    assert "generatedColumns" in proto["writerFeatures"] and "deletionVectors" in proto["writerFeatures"]
    lake.sql("DELETE FROM t WHERE id < 3")
    lake.sql("INSERT INTO t VALUES (42)")
    lake.sql("OPTIMIZE t")
    assert lake.scalar("SELECT count(*) FROM t") == "8"
    assert {r[0] for r in lake.csv("SELECT _change_type FROM table_changes('t', 3)")} == {"delete", "insert"}


def test_feed_of_spark_deletion_vector_deletes(lake, spark):
    """Spark's DELETE in deletion-vector mode writes no change data: the feed is what the
    two vectors differ in, not the whole file deleted and inserted again."""
    path = str(lake.table("sd"))
    spark.sql(f"CREATE TABLE delta.`{path}` (id BIGINT, v STRING) USING delta TBLPROPERTIES "
              "('delta.enableChangeDataFeed' = 'true', 'delta.enableDeletionVectors' = 'true')")
    spark.range(0, 300).selectExpr("id", "concat('v', id) AS v").coalesce(1).write.format("delta") \
        .mode("append").save(path)
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id % 10 = 0")
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id = 7")
    spark.sql(f"UPDATE delta.`{path}` SET v = 'u' WHERE id = 11")
    want = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 2).load(path)
            .select("id", "v", "_change_type", "_commit_version").collect())
    mine = loch_feed(lake, "sd", 2)
    assert mine == as_text(want)
    assert len([r for r in mine if r[2] == "delete"]) == 31


def test_feed_names(lake):
    write_workload(lake, "t", False)
    assert loch_feed(lake, "T") == loch_feed(lake, "t")  # names are case-insensitive here too
    for q, words in (("SELECT * FROM table_changes('t@v1', 2)", "not a version of it"),
                     ("SELECT * FROM table_changes('t', 99999999999999999999)", "out of range")):
        p = lake.sql(q, check=False)
        assert p.returncode == 1 and words in p.stderr, (q, p.stderr)


def test_errors_read_as_loch_says_them(lake):
    """A table loch cannot read fails with loch's own message, not the engine's wrapping
    of it, and a missing deletion vector file is named as such."""
    write_workload(lake, "t", True)
    p = lake.sql("SELECT * FROM table_changes('t', 99)", check=False)
    assert p.returncode == 1 and p.stderr.startswith("Error: table_changes: start version 99"), p.stderr
    lake.sql("CREATE TABLE d AS SELECT range AS id FROM range(1000)")
    lake.sql("ALTER TABLE d SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    lake.sql("DELETE FROM d WHERE id % 2 = 0")
    for f in lake.table("d").glob("deletion_vector_*.bin"):
        f.unlink()
    p = lake.run("sql", "SELECT count(*) FROM d", check=False, env={"LOCH_NO_METADATA_ANSWERS": "1"})
    assert p.returncode == 1 and "deletion vector file deletion_vector_" in p.stderr and "is missing" in p.stderr


def test_feed_over_spark_update_files_and_restore(lake, spark):
    """Spark's UPDATE on a DV + CDF table writes its data file with a _change_type column
    of its own; a later commit that removes that file (a RESTORE) is read without the
    column clashing, as Spark reads it (second review of issue 10)."""
    path = str(lake.table("c"))
    spark.sql(f"CREATE TABLE delta.`{path}` (id INT, v STRING) USING delta TBLPROPERTIES "
              "('delta.enableChangeDataFeed'='true', 'delta.enableDeletionVectors'='true')")
    spark.sql(f"INSERT INTO delta.`{path}` SELECT id, cast(id AS string) FROM range(0, 20)")
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id % 3 = 0")
    spark.sql(f"UPDATE delta.`{path}` SET v = 'u' WHERE id % 5 = 1")
    spark.sql(f"RESTORE TABLE delta.`{path}` TO VERSION AS OF 2")
    for v in (2, 3, 4):
        want = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", v)
                .option("endingVersion", v).load(path).select("id", "v", "_change_type", "_commit_version").collect())
        got = lake.csv(f"SELECT id, v, _change_type, _commit_version FROM table_changes('c', {v}, {v}) ORDER BY ALL")
        assert sorted(tuple(r) for r in got) == as_text(want), v


def test_reserved_column_names_and_the_feed_exclude_each_other(lake, tmp_path):
    """The feed adds _change_type, _commit_version and _commit_timestamp to its rows: as
    in Delta, a table holding a column of one of those names (any case) cannot turn the
    feed on, and a table with the feed on cannot gain one. Refused before any commit (a
    DELETE on such a table failed later with a misleading message)."""
    lake.sql('CREATE TABLE t (id INT, "_change_type" VARCHAR)')
    lake.sql("INSERT INTO t VALUES (1, 'mine')")
    p = lake.sql("ALTER TABLE t SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')", check=False)
    assert p.returncode == 1 and 'column "_change_type" has a name the change data feed reserves' in p.stderr
    lake.sql("DELETE FROM t WHERE id = 1")  # still an ordinary table
    lake.sql("CREATE TABLE u (id INT)")
    lake.sql("ALTER TABLE u SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
    (tmp_path / "in.csv").write_text("id,_COMMIT_VERSION\n1,2\n")
    p = lake.run("ingest", "u", str(tmp_path / "in.csv"), check=False)
    assert p.returncode == 1 and '"_COMMIT_VERSION" has a name the change data feed reserves' in p.stderr
    assert len(list((lake.table("u") / "_delta_log").glob("*.json"))) == 2
