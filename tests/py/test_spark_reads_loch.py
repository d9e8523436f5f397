"""Apache Spark + delta-spark reads the tables loch writes, in the suite (issue 8, item
27): through a loch checkpoint, after CREATE OR REPLACE, after a DROP and a new table of
the same name; Spark appends and loch reads Spark's commit back. The Spark session is
conftest.py's, shared by the run."""
import pytest
from deltalake import DeltaTable



def test_spark_reads_through_a_loch_checkpoint_and_appends(lake, spark):
    lake.sql("CREATE TABLE t (id BIGINT, s VARCHAR, d DATE, ts TIMESTAMPTZ, n TIMESTAMP, dec DECIMAL(10,2), "
             "l INTEGER[], st STRUCT(a INTEGER, b VARCHAR), m MAP(VARCHAR, BIGINT))")
    lake.sql(";".join(f"INSERT INTO t VALUES ({i}, 's{i}', DATE '2024-01-01' + {i}, TIMESTAMPTZ '2024-01-01 00:00:00+00'"
                      f" + INTERVAL {i} HOUR, TIMESTAMP '2024-01-01' + INTERVAL {i} MINUTE, {i}.25, [{i}, {i + 1}], "
                      f"{{'a': {i}, 'b': 'b{i}'}}, MAP {{'k{i}': {i}}})" for i in range(104)))
    assert (lake.table("t") / "_delta_log" / f"{100:020d}.checkpoint.parquet").exists()
    df = spark.read.format("delta").load(str(lake.table("t")))
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    assert types == {"id": "bigint", "s": "string", "d": "date", "ts": "timestamp", "n": "timestamp_ntz",
                     "dec": "decimal(10,2)", "l": "array<int>", "st": "struct<a:int,b:string>",
                     "m": "map<string,bigint>"}, types
    got = {r["id"]: r for r in df.collect()}
    assert sorted(got) == list(range(104))
    r = got[7]
    assert (r["s"], str(r["d"]), str(r["n"]), str(r["dec"]), r["l"], r["st"]["b"], r["m"]) == \
        ("s7", "2024-01-08", "2024-01-01 00:07:00", "7.25", [7, 8], "b7", {"k7": 7})
    spark.sql(f"INSERT INTO delta.`{lake.table('t')}` SELECT 1000, 'spark', DATE '2025-01-01', current_timestamp(), "
              "TIMESTAMP_NTZ '2025-01-01 00:00:00', 1.5, array(1), named_struct('a', 1, 'b', 'x'), map('k', 1L)")
    assert lake.csv("SELECT count(*), max(id), max(s) FILTER (WHERE id = 1000) FROM t WHERE true") == \
        [["105", "1000", "spark"]]
    lake.sql("INSERT INTO t (id) VALUES (2000)")  # loch commits after Spark's commit
    assert spark.read.format("delta").load(str(lake.table("t"))).count() == 106
    assert DeltaTable(str(lake.table("t"))).to_pyarrow_table().num_rows == 106


def test_spark_reads_replaced_and_recreated_tables(lake, spark):
    lake.sql("CREATE TABLE r AS SELECT range AS id FROM range(5)")
    lake.sql("CREATE OR REPLACE TABLE r AS SELECT 'x' || range AS name FROM range(3)")
    df = spark.read.format("delta").load(str(lake.table("r")))
    assert [f.name for f in df.schema.fields] == ["name"] and sorted(x["name"] for x in df.collect()) == \
        ["x0", "x1", "x2"]
    old = spark.read.format("delta").option("versionAsOf", 0).load(str(lake.table("r")))
    assert sorted(x["id"] for x in old.collect()) == [0, 1, 2, 3, 4]
    lake.sql("DROP TABLE r; CREATE TABLE r (flag BOOLEAN); INSERT INTO r VALUES (true)")
    df = spark.read.format("delta").load(str(lake.table("r")))
    assert [tuple(x) for x in df.collect()] == [(True,)]


def protocol_of(lake, name):
    import json
    p = None
    for f in sorted((lake.table(name) / "_delta_log").glob("*.json")):
        for line in f.read_text().splitlines():
            a = json.loads(line)
            p = a.get("protocol", p)
    return p


def test_spark_reads_and_writes_after_protocol_upgrades(lake, spark, tmp_path):
    """core/protocol.c: an ingest that brings a TIMESTAMP column to a (1,2) table moves it
    to (3,7) listing the features (1,2) implied; a replace keeps the old features; Spark
    and delta-rs read and write the result, and Spark honours the implied appendOnly."""
    lake.sql("CREATE TABLE u (id BIGINT); INSERT INTO u VALUES (1)")
    assert protocol_of(lake, "u") == {"minReaderVersion": 1, "minWriterVersion": 2}
    f = tmp_path / "more.csv"
    f.write_text("id,at\n2,2026-01-02 03:04:05\n")
    lake.run("ingest", "u", str(f))
    p = protocol_of(lake, "u")
    assert (p["minReaderVersion"], p["minWriterVersion"]) == (3, 7), p
    assert p["readerFeatures"] == ["timestampNtz"]
    assert sorted(p["writerFeatures"]) == ["appendOnly", "invariants", "timestampNtz"], p
    df = spark.read.format("delta").load(str(lake.table("u")))
    assert sorted((r["id"], str(r["at"])) for r in df.collect()) == [(1, "None"), (2, "2026-01-02 03:04:05")]
    spark.sql(f"INSERT INTO delta.`{lake.table('u')}` VALUES (3, TIMESTAMP_NTZ '2026-02-01 00:00:00')")
    assert lake.scalar("SELECT count(*) FROM u") == "3"
    # a replace with no TIMESTAMP column keeps (3,7) and its features: no downgrade
    lake.sql("CREATE OR REPLACE TABLE u AS SELECT 9::BIGINT AS id")
    assert protocol_of(lake, "u") == p
    assert [tuple(r) for r in spark.read.format("delta").load(str(lake.table("u"))).collect()] == [(9,)]
    assert DeltaTable(str(lake.table("u"))).to_pyarrow_table().to_pylist() == [{"id": 9}]
    # delta.appendOnly is an implied feature Spark enforces on the upgraded table
    lake.sql("ALTER TABLE u SET TBLPROPERTIES ('delta.appendOnly' = 'true')")
    with pytest.raises(Exception, match="(?i)append"):
        spark.sql(f"DELETE FROM delta.`{lake.table('u')}` WHERE id = 9")


def test_commits_say_their_isolation_level(lake, spark):
    """Every loch commit records isolationLevel and isBlindAppend as delta-spark does;
    delta.isolationLevel = Serializable is accepted, recorded, and Spark reads on."""
    import json
    lake.sql("CREATE TABLE iso (id BIGINT); INSERT INTO iso VALUES (1)")
    lake.sql("ALTER TABLE iso SET TBLPROPERTIES ('delta.isolationLevel' = 'Serializable')")
    lake.sql("INSERT INTO iso VALUES (2)")
    log = lake.table("iso") / "_delta_log"
    infos = [json.loads((log / f"{v:020d}.json").read_text().splitlines()[0])["commitInfo"] for v in range(4)]
    assert [i["isolationLevel"] for i in infos] == ["WriteSerializable"] * 3 + ["Serializable"]
    assert [i["isBlindAppend"] for i in infos] == [True, True, True, True]
    assert "readVersion" not in infos[0] and infos[3]["readVersion"] == 2
    assert spark.read.format("delta").load(str(lake.table("iso"))).count() == 2
    p = lake.run("sql", "ALTER TABLE iso SET TBLPROPERTIES ('delta.isolationLevel' = 'SnapshotIsolation')",
                 check=False)
    assert p.returncode == 1 and "Serializable or WriteSerializable" in p.stderr, p.stderr


def test_spark_reads_loch_history(lake, spark, tmp_path):
    """operationParameters is a map of strings for Delta readers: Spark's DESCRIBE HISTORY
    reads every commit loch writes (ingest lists its files, ALTER its properties, as JSON
    text), and a Spark writer racing loch's ingests retries instead of failing on them."""
    import json
    lake.sql("CREATE TABLE h (id BIGINT); INSERT INTO h VALUES (1)")
    f = tmp_path / "h.csv"
    f.write_text("id\n2\n")
    lake.run("ingest", "h", str(f))
    lake.sql("ALTER TABLE h SET TBLPROPERTIES ('owner' = 'ops')")
    hist = spark.sql(f"DESCRIBE HISTORY delta.`{lake.table('h')}`").collect()
    assert [r["operation"] for r in hist] == ["SET TBLPROPERTIES", "WRITE", "WRITE", "CREATE TABLE"]
    params = {r["operation"] + str(r["version"]): r["operationParameters"] for r in hist}
    assert json.loads(params["SET TBLPROPERTIES3"]["properties"]) == {"owner": "ops"}
    assert json.loads(params["WRITE2"]["files"])[0]["name"].endswith("h.csv")
    spark.sql(f"INSERT INTO delta.`{lake.table('h')}` VALUES (3)")
    assert lake.scalar("SELECT count(*) FROM h") == "3"
