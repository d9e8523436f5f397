"""Search by meaning: `loch embed` keeps a text column's embeddings as a Delta table
beside it, `loch search` ranks rows by cosine to a question, `embed(text)` in SQL.

The model is the real one (all-MiniLM-L6-v2 run by llama.cpp in-process, as setup
installs it); the checks are about meaning that any sound embedding gets right (a
Kubernetes question finds the Kubernetes engineer), never about exact scores.
"""
import json
import shutil
from pathlib import Path
import math

from conftest import LOCH, Held

PEOPLE = [
    (1, "Senior platform engineer; led the migration of 40 services to Kubernetes on EKS, Helm, Terraform.", "Chicago"),
    (2, "Registered nurse with eight years in intensive care; night shifts.", "Chicago"),
    (3, "Java developer: Spring Boot, Kafka, microservices for a payments company.", "Austin"),
    (4, "Pastry chef who runs a bakery; croissants, sourdough and wedding cakes.", "Austin"),
    (5, "Accountant: month-end close, audits, tax filings for small businesses.", "Denver"),
    (6, "Site reliability engineer: container orchestration, Docker, on-call for cloud clusters.", "Denver"),
    (7, "Truck driver with a CDL-A licence, long-haul routes across the Midwest.", "Chicago"),
    (8, None, "Austin"),
]


def make_people(lake):
    lake.sql("CREATE TABLE people (id BIGINT PRIMARY KEY, resume VARCHAR, city VARCHAR)")
    values = ", ".join(f"({i}, {'NULL' if r is None else repr(r)}, '{c}')" for i, r, c in PEOPLE)
    lake.sql(f"INSERT INTO people VALUES {values}")
    lake.run("flush", "people")


def search(lake, query, *args):
    out = lake.run("search", "people", query, "-f", "json", *args).stdout
    return json.loads(out)


def test_sql_embed_function(lake):
    rows = json.loads(lake.run("sql", "SELECT embed('a question') AS v, embed(NULL) AS n, "
                               "len(embed('')) AS d", "-f", "json").stdout)
    v = rows[0]["v"]
    assert len(v) == 384 and rows[0]["n"] is None and rows[0]["d"] == 384
    assert abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-4
    # the same text, the same vector; another text, another one
    same = json.loads(lake.run("sql", "SELECT list_inner_product(embed('a question'), embed('a question')) AS s, "
                               "list_inner_product(embed('a question'), embed('tax audit')) AS t",
                               "-f", "json").stdout)[0]
    assert same["s"] > 0.9999 and same["t"] < 0.9


def test_embed_and_search(lake, tmp_path):
    make_people(lake)
    p = lake.run("embed", "people", "resume")
    assert "embedded 7 texts" in p.stderr and "kept 0" in p.stderr
    top = search(lake, "someone who could handle our Kubernetes migration", "-k", "3")
    assert [r["id"] for r in top][:1] == [1] and len(top) == 3
    assert top[0]["score"] > top[1]["score"] >= top[2]["score"]
    assert {r["id"] for r in top[:2]} == {1, 6}  # both container people before anyone else
    assert search(lake, "who can bake bread", "-k", "1")[0]["id"] == 4
    # a condition on the table's own columns
    near = search(lake, "Kubernetes migration", "--where", "city = 'Austin'")
    assert {r["id"] for r in near} == {3, 4} and near[0]["id"] == 3
    # the embeddings are a Delta table other readers read
    from deltalake import DeltaTable
    t = DeltaTable(str(lake.path / "people__embeddings")).to_pyarrow_table()
    assert t.num_rows == 7 and set(t.column_names) == {"id", "column", "chunk", "text", "embedding", "model", "dim",
                                                       "source_version"}
    assert set(t.column("model").to_pylist()) == {"all-MiniLM-L6-v2"} and len(t.column("embedding")[0]) == 384
    # again: nothing new; then one changed, one gone, one new
    assert "embedded 0 texts" in lake.run("embed", "people", "resume").stderr
    lake.sql("UPDATE people SET resume = 'Kubernetes operator and cluster administrator' WHERE id = 4")
    lake.sql("DELETE FROM people WHERE id = 5")
    lake.sql("INSERT INTO people VALUES (9, 'Bakery owner: bread, pastry and cakes every morning.', 'Denver')")
    p = lake.run("embed", "people", "resume")
    assert "embedded 2 texts" in p.stderr and "kept 5" in p.stderr and "holds 7" in p.stderr
    assert search(lake, "who can bake bread", "-k", "1")[0]["id"] == 9
    assert 5 not in {r["id"] for r in search(lake, "tax accountant", "-k", "10")}


def test_embed_and_search_refuse_clearly(lake):
    lake.sql("CREATE TABLE notes (n BIGINT, body VARCHAR)")
    lake.sql("INSERT INTO notes VALUES (1, 'hello')")
    p = lake.run("embed", "notes", "body", check=False)
    assert p.returncode == 1 and "--key" in p.stderr
    assert "embedded 1 text " in lake.run("embed", "notes", "body", "--key", "n").stderr
    p = lake.run("embed", "notes", "nosuch", "--key", "n", check=False)
    assert p.returncode == 1 and "nosuch" in p.stderr
    p = lake.run("embed", "nope", "body", check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr
    lake.sql("CREATE TABLE other (n BIGINT, body VARCHAR)")
    p = lake.run("search", "other", "hello", check=False)
    assert p.returncode == 1 and "loch embed" in p.stderr
    p = lake.run("search", "notes", "hello", "-k", "0", check=False)
    assert p.returncode == 2
    p = lake.run("search", "notes", "hello", "--column", "title", check=False)  # a column never embedded
    assert p.returncode == 1 and "notes.title has no embeddings: run loch embed notes title" in p.stderr
    bad = lake.run("--embed-model", "/nonexistent.gguf", "search", "notes", "hello", check=False)
    assert bad.returncode == 1 and "/nonexistent.gguf" in bad.stderr
    # vectors of another model are never compared with this one's
    lake.sql("UPDATE notes__embeddings SET model = 'some-other-model'")
    p = lake.run("search", "notes", "hello", check=False)
    assert p.returncode == 1 and "some-other-model" in p.stderr and "loch embed notes body" in p.stderr
    assert "embedded 1 text " in lake.run("embed", "notes", "body", "--key", "n").stderr
    assert search_notes(lake) == [1]


def test_what_embed_and_search_refuse_or_leave_alone(lake):
    """Found by the adversarial pass: a condition that is more than a condition, a key
    named as one of the embeddings' own columns, rows without a key, a run with nothing
    new, a search of a dropped table, a k past int."""
    lake.sql("CREATE TABLE docs (id BIGINT, body VARCHAR, city VARCHAR)")
    lake.sql("INSERT INTO docs VALUES (1, 'kubernetes', 'a'), (2, 'bread', 'b'), (NULL, 'no key', 'c')")
    p = lake.run("embed", "docs", "body", "--key", "id")
    assert "embedded 2 texts" in p.stderr  # the row without a key is left out
    versions = len(list((lake.path / "docs__embeddings" / "_delta_log").glob("*.json")))
    assert "embedded 0 texts" in lake.run("embed", "docs", "body", "--key", "id").stderr
    assert len(list((lake.path / "docs__embeddings" / "_delta_log").glob("*.json"))) == versions  # no commit
    for cond in ["true)) s ON s.id = e.id; DROP TABLE docs; --", "true; DROP TABLE docs",
                 "true) UNION ALL SELECT 9, 'x', 'y' --", "id = 1 /* x */", "(id = 1"]:
        p = lake.run("search", "docs", "bread", "--where", cond, check=False)
        assert p.returncode == 1 and "--where" in p.stderr, (cond, p.stderr)
        assert lake.scalar("SELECT count(*) FROM docs") == "3"
    assert [r["id"] for r in json.loads(lake.run("search", "docs", "bread", "--where", "city = 'b'",
                                                 "-f", "json").stdout)] == [2]
    p = lake.run("--sandbox", "search", "docs", "bread", "--where", "setseed(0.5) IS NULL", check=False)
    assert p.returncode == 1 and "setseed" in p.stderr
    lake.sql("CREATE TABLE clash (text BIGINT, body VARCHAR)")
    lake.sql("INSERT INTO clash VALUES (1, 'x')")
    p = lake.run("embed", "clash", "body", "--key", "text", check=False)
    assert p.returncode == 1 and "--key" in p.stderr and not (lake.path / "clash__embeddings").exists()
    assert lake.run("search", "docs", "x", "-k", "4294967297", check=False).returncode == 2
    lake.sql("DROP TABLE docs")
    p = lake.run("search", "docs", "bread", check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr


def search_notes(lake):
    return [r["n"] for r in json.loads(lake.run("search", "notes", "hello", "-f", "json").stdout)]


def rows(lake, q):
    return json.loads(lake.sql(q, "-f", "json").stdout)


def assert_in_step(lake, table="docs", key="id", column="body"):
    """The embeddings hold each row's text once, with its own vector, and nothing else
    (its own: a text embedded beside others differs from itself alone by about 1e-5,
    from any other text by far more)."""
    want = sorted((r["k"], r["t"]) for r in rows(lake, f"SELECT {key} AS k, {column} AS t FROM {table} "
                                                       f"WHERE {column} IS NOT NULL"))
    got = sorted((r["k"], r["t"]) for r in rows(lake, f"SELECT {key} AS k, text AS t FROM {table}__embeddings "
                                                      f"WHERE \"column\" = '{column}'"))
    assert got == want
    assert lake.scalar(f"SELECT count(*) FROM {table}__embeddings "
                       "WHERE 1 - list_cosine_similarity(embedding, embed(text)) > 1e-3") == "0"


def embed(lake, how, made=None, table="docs", column="body"):
    """loch embed, which must say how it went: 'whole' (every row compared), 'changed'
    (the rows the table's versions changed) or 'same' (the table has not changed)."""
    err = lake.run("embed", table, column, "--key", "id").stderr
    said = {"whole": "embedded" in err and "since it was embedded" not in err,
            "changed": "looked at the rows changed since it was embedded" in err,
            "same": "the table has not changed since it was embedded" in err}
    assert said[how], (how, err)
    assert made is None or f"embedded {made} text" in err, (made, err)
    return err


def test_embedding_looks_only_at_what_the_tables_versions_changed(lake, tmp_path):
    """A pass leaves a record of the source's version it read whole and the embeddings'
    version it left; the next one, while the embeddings are still at that version, looks
    only at the keys the source's versions since then added or removed: appends,
    copy-on-write and deletion-vector changes, change data files, an OPTIMIZE that
    changes nothing. Anything it cannot vouch for compares every row: the embeddings
    written by someone else, a damaged record, versions whose files were vacuumed, a pass
    killed before its record. After every pass the embeddings are exactly the table's."""
    lake.sql("CREATE TABLE docs (id BIGINT, body VARCHAR)")
    lake.sql("INSERT INTO docs VALUES (1, 'Kubernetes migration lead'), (2, 'night-shift nurse'), "
             "(3, 'sourdough baker'), (4, NULL), (5, 'tax accountant')")
    embed(lake, "whole", 4)
    embed(lake, "same", 0)
    lake.sql("INSERT INTO docs VALUES (6, 'long-haul truck driver'), (7, 'florist')")
    embed(lake, "changed", 2)
    assert_in_step(lake)
    lake.sql("UPDATE docs SET body = 'pastry chef' WHERE id = 3")
    lake.sql("DELETE FROM docs WHERE id = 2")
    lake.sql("UPDATE docs SET body = 'welder' WHERE id = 4")
    embed(lake, "changed", 2)
    assert_in_step(lake)
    lake.sql("ALTER TABLE docs SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true', "
             "'delta.enableChangeDataFeed' = 'true')")
    lake.sql("UPDATE docs SET body = 'cloud architect' WHERE id = 1")
    lake.sql("DELETE FROM docs WHERE id = 7")
    embed(lake, "changed", 1)
    assert_in_step(lake)
    lake.run("optimize", "docs")
    embed(lake, "changed", 0)
    assert_in_step(lake)

    # the embeddings written by another hand: every row compared, the missing one made
    # again, a row without a key (it cannot be found again) removed, a chunk stored twice
    # embedded again once
    lake.sql("DELETE FROM docs__embeddings WHERE id = 5")
    lake.sql("INSERT INTO docs__embeddings SELECT NULL, \"column\", chunk, text, embedding, model, dim, "
             "source_version FROM docs__embeddings WHERE id = 1")
    lake.sql("INSERT INTO docs__embeddings SELECT * FROM docs__embeddings WHERE id = 3")  # a chunk twice
    embed(lake, "whole", 2)
    assert lake.scalar("SELECT count(*) FROM docs__embeddings WHERE id IS NULL") == "0"
    assert_in_step(lake)
    # a damaged record
    sync = next((lake.path / "docs" / "_loch_index").glob("*.sync"))
    for bad in (b"", b"garbage\n", sync.read_bytes()[:-3], sync.read_bytes().replace(b" 384 ", b" 385 "),
                b"x" * 100000):
        sync.write_bytes(bad)
        lake.sql(f"INSERT INTO docs VALUES ({100 + len(bad)}, 'row {len(bad)}')")
        embed(lake, "whole", 1)
        assert_in_step(lake)
    # versions whose files are gone: compared whole, and the next pass is incremental again
    lake.sql("ALTER TABLE docs SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'false', "
             "'delta.enableChangeDataFeed' = 'false')")
    lake.sql("UPDATE docs SET body = 'marine biologist' WHERE id = 6")
    lake.run("vacuum", "docs", "--retain", "0h", "--force")
    embed(lake, "whole", 1)
    assert_in_step(lake)
    lake.sql("INSERT INTO docs VALUES (8, 'pilot')")
    embed(lake, "changed", 1)
    # killed after its commit, before its record: the next pass compares every row
    lake.sql("INSERT INTO docs VALUES (9, 'zookeeper')")
    Held(lake, tmp_path / "h", "embed-sync", "embed", "docs", "body", "--key", "id").kill()
    embed(lake, "whole", 0)
    assert_in_step(lake)
    embed(lake, "same", 0)


def test_changed_rows_are_one_merge_of_what_changed(lake):
    """A pass with rows to remove (a row changed or deleted) is one MERGE of what
    changed: copy-on-write by default (every Delta reader, delta-rs too, reads the
    embeddings), so files without a changed row stay as they are (another column's
    embeddings, say); with deletion vectors turned on for the embeddings table no file
    is written again. As hidden rows and small files pile up the embeddings are
    compacted, and the pass still counts its commits: the next one looks only at what
    changed."""
    import deltalake
    import pyarrow as pa
    emb = str(lake.path / "docs__embeddings")

    def files():
        return set(pa.table(deltalake.DeltaTable(emb).get_add_actions()).column("path").to_pylist())

    def title_files():
        return {f for f in files() if lake.scalar(f"SELECT count(*) FROM read_parquet('{emb}/{f}') "
                                                  "WHERE \"column\" = 'title'") != "0"}
    lake.sql("CREATE TABLE docs (id BIGINT, body VARCHAR, title VARCHAR)")
    lake.sql("INSERT INTO docs SELECT i, 'resume number ' || i, 'title ' || i FROM range(100) t(i)")
    lake.run("embed", "docs", "title", "--key", "id")
    embed(lake, "whole", 100)
    titles = title_files()
    lake.sql("UPDATE docs SET body = 'Kubernetes migration lead' WHERE id = 7")
    embed(lake, "changed", 1)
    assert_in_step(lake)
    assert titles == title_files()  # not written again
    got = deltalake.DeltaTable(emb).to_pyarrow_table(columns=["id", "column", "text"]).to_pylist()
    assert sorted((r["id"], r["text"]) for r in got if r["column"] == "body") == sorted(
        (r["k"], r["t"]) for r in rows(lake, "SELECT id AS k, body AS t FROM docs"))

    lake.sql("ALTER TABLE docs__embeddings SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    before = files()
    lake.sql("DELETE FROM docs WHERE id = 1")
    lake.sql("UPDATE docs SET body = NULL WHERE id = 3")
    lake.sql("UPDATE docs SET body = 'welder' WHERE id = 4")
    embed(lake, "whole", 1)  # the property's commit is another hand's
    assert_in_step(lake)
    assert before <= files()
    # 3 of 201 rows hidden: not yet a twentieth; 8 more, and the rows are compacted
    lake.sql("UPDATE docs SET body = body || '!' WHERE id BETWEEN 10 AND 17")
    embed(lake, "changed", 8)
    assert not before & files()
    assert "OPTIMIZE" in [h.get("operation") for h in deltalake.DeltaTable(emb).history(2)]
    lake.sql("INSERT INTO docs VALUES (500, 'florist', 'x')")
    embed(lake, "changed", 1)
    assert_in_step(lake)
    hits = json.loads(lake.run("search", "docs", "container orchestration", "--column", "body", "-k", "1", "-f", "json").stdout)
    assert hits[0]["id"] == 7


def test_a_pass_that_read_an_older_version_never_has_the_last_word(lake, tmp_path):
    """Two passes over different versions of a row, the one that read the older version
    committing last: its MERGE, run again over the newer embeddings, would put the older
    text back. A pass whose commit did not land straight on the embeddings it read runs
    again from the table's latest version, so the embeddings end with the newest text."""
    lake.sql("CREATE TABLE docs (id BIGINT, body VARCHAR)")
    lake.sql("INSERT INTO docs VALUES (1, 'sourdough baker'), (2, 'tax accountant'), (3, 'florist')")
    embed(lake, "whole", 3)
    lake.sql("UPDATE docs SET body = 'pastry chef' WHERE id = 1")
    held = Held(lake, tmp_path / "h", "commit", "embed", "docs", "body", "--key", "id")  # read 'pastry chef'
    lake.sql("UPDATE docs SET body = 'Kubernetes migration lead' WHERE id = 1")
    embed(lake, "changed", 1)
    rc, _, err = held.release()
    # its MERGE met the other's commit: it ran again from the latest versions, where the
    # other pass had done the work, and says so
    assert rc == 0 and "embedded 0 texts" in err, err
    assert_in_step(lake)
    assert lake.scalar("SELECT text FROM docs__embeddings WHERE id = 1") == "Kubernetes migration lead"


def test_a_model_that_computes_nan_never_stores_a_vector(lake, tmp_path):
    """A model file whose weights hold NaN (half of its layers overwritten) makes vectors
    that are not numbers: embed() fails saying so, and nothing is stored (the passes that
    look only at changed keys rely on every stored vector being sound)."""
    good = Path(__file__).resolve().parents[2] / "third_party/models/all-minilm-l6-v2.f16.gguf"
    b = bytearray(good.read_bytes())
    start = (len(b) * 3 // 4) & ~1
    b[start:len(b) - 64] = b"\x00\x7e" * ((len(b) - 64 - start) // 2)  # f16 NaN
    bad = tmp_path / "nan.gguf"
    bad.write_bytes(bytes(b))
    lake.sql("CREATE TABLE docs (id BIGINT, body VARCHAR)")
    lake.sql("INSERT INTO docs VALUES (1, 'hello world')")
    p = lake.run("--embed-model", str(bad), "embed", "docs", "body", "--key", "id", check=False)
    assert p.returncode == 1 and "not finite" in p.stderr, p.stderr
    assert not (lake.path / "docs__embeddings").exists()
    embed(lake, "whole", 1)
    assert_in_step(lake)


def test_a_pass_run_again_counts_what_its_first_attempt_embedded(lake):
    """Embeddings given a write-ahead log of their own: the pass's MERGE flushes it first
    (a commit of its own), so the pass's commit did not land straight on what it read and
    it runs again; what the first attempt embedded is still counted."""
    lake.sql("CREATE TABLE docs (id BIGINT, body VARCHAR)")
    lake.sql("INSERT INTO docs VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four')")
    embed(lake, "whole", 4)
    lake.sql("ALTER TABLE docs__embeddings SET TBLPROPERTIES ('loch.wal.enabled' = 'true')")
    lake.sql("UPDATE docs SET body = 'THREE' WHERE id = 3")
    err = lake.run("embed", "docs", "body", "--key", "id").stderr
    assert "embedded 1 text " in err and "kept 3" in err, err
    assert_in_step(lake)
    embed(lake, "same", 0)


def test_a_full_text_index_made_to_hang_or_damaged_is_not_read(lake):
    """Full-text index files loch did not write as they are: one whose FTS5 table takes
    its texts from a view that never ends (with loch's own tag), a directory in its place,
    a page written over. Searches never hang: the texts come from the embeddings, the
    next embed or keyword search makes the file again, and keyword search answers."""
    import sqlite3
    make_people(lake)
    lake.run("embed", "people", "resume")
    fts = next((lake.path / "people" / "_loch_index").glob("*.fts"))
    good = fts.read_bytes()
    semantic = search(lake, "Kubernetes migration", "-k", "3")
    keyword = search(lake, "croissants", "--mode", "keyword")
    db = sqlite3.connect(fts)
    tag = db.execute("SELECT v FROM meta").fetchone()[0]
    texts = db.execute("SELECT rowid, key, text FROM docs").fetchall()
    db.close()
    fts.unlink()
    db = sqlite3.connect(fts)
    db.executescript("""
        CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT);
        CREATE TABLE real(id INTEGER PRIMARY KEY, key, text);
        CREATE VIEW slow AS WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r)
          SELECT real.id AS id, real.key AS key, real.text AS text FROM real, (SELECT max(x) AS m FROM r) WHERE m > 0;
        CREATE VIRTUAL TABLE docs USING fts5(key UNINDEXED, text, content='slow', content_rowid='id',
          tokenize = 'porter unicode61 remove_diacritics 2');""")
    db.execute("INSERT INTO meta VALUES ('tag', ?)", (tag,))
    for row in texts:
        db.execute("INSERT INTO real VALUES (?, ?, ?)", row)
        db.execute("INSERT INTO docs(rowid, key, text) VALUES (?, ?, ?)", row)
    db.commit()
    db.close()
    assert search(lake, "Kubernetes migration", "-k", "3") == semantic
    assert search(lake, "croissants", "--mode", "keyword") == keyword  # the file made again
    assert fts.read_bytes()[:16] == b"SQLite format 3\x00"
    assert lake.scalar("SELECT count(*) FROM text_search('people', 'resume', 'croissants')") == "1"
    # a directory in its place: embed puts the index there again
    fts.unlink()
    fts.mkdir()
    (fts / "x").write_text("x")
    lake.run("embed", "people", "resume")
    assert fts.is_file() and search(lake, "croissants", "--mode", "keyword") == keyword
    # a page written over: keyword search makes it again rather than fail
    damaged = bytearray(good)
    damaged[len(good) // 2:len(good) // 2 + 3000] = b"\xff" * 3000
    fts.write_bytes(bytes(damaged))
    assert search(lake, "croissants", "--mode", "keyword") == keyword
    assert search(lake, "Kubernetes migration", "-k", "3") == semantic
    p = lake.run("search", "people", "croissants", "-f", "parquet", "-o", str(lake.path / "x.parquet"), check=False)
    assert p.returncode == 2 and "-f parquet is for loch sql" in p.stderr


def test_a_record_from_a_copy_of_the_lake_is_not_taken(lake, tmp_path):
    """Two copies of a lake that went their own ways: the record of one's last pass,
    copied into the other, does not match its embeddings (their version was committed
    at another time), so that pass compares every row."""
    import shutil
    lake.sql("CREATE TABLE docs (id BIGINT, body VARCHAR)")
    lake.sql("INSERT INTO docs VALUES (1, 'first text'), (2, 'second text'), (3, 'third text')")
    embed(lake, "whole", 3)
    other = type(lake)(tmp_path / "copy")
    shutil.copytree(lake.path, other.path, copy_function=shutil.copy2)
    lake.sql("UPDATE docs SET body = 'A one' WHERE id = 1")
    lake.sql("UPDATE docs SET body = 'A two' WHERE id = 2")
    embed(lake, "changed", 2)
    other.sql("UPDATE docs SET body = 'B one' WHERE id = 1")
    embed(other, "changed", 1)
    other.sql("UPDATE docs SET body = 'B two' WHERE id = 2")
    mine = next((lake.path / "docs" / "_loch_index").glob("*.sync"))
    shutil.copy2(mine, other.path / "docs" / "_loch_index" / mine.name)
    embed(other, "whole", 1)
    assert_in_step(other)


def test_embedding_a_table_with_a_write_ahead_log(lake):
    """A table with a primary key writes through its log: embed flushes it first, so what
    it embeds is a version of the table, and a row inserted and deleted again in the log
    leaves no embedding behind."""
    make_people(lake)
    embed(lake, "whole", 7, table="people", column="resume")
    lake.sql("INSERT INTO people VALUES (12, 'Zeppelin pilot', 'Austin')")  # in the log only
    embed(lake, "changed", 1, table="people", column="resume")
    lake.sql("DELETE FROM people WHERE id = 12")
    lake.sql("INSERT INTO people VALUES (13, 'Glassblower', 'Denver')")
    embed(lake, "changed", 1, table="people", column="resume")
    assert_in_step(lake, "people", "id", "resume")
    assert search(lake, "zeppelin airship", "-k", "1")[0]["id"] != 12


def test_embed_killed_before_or_after_its_commit(lake, tmp_path):
    """loch embed SIGKILLed at its commit (hold points, never a sleep): before it, the
    embeddings stay at their last version and a re-run embeds what was new; after it,
    the new version stands and a re-run has nothing to do."""
    make_people(lake)
    lake.run("embed", "people", "resume")
    lake.sql("INSERT INTO people VALUES (10, 'Welder with pipeline experience', 'Denver')")
    lake.run("flush", "people")  # else the first commit held would be embed's flush of it
    log = lake.path / "people__embeddings" / "_delta_log"
    before = sorted(p.name for p in log.glob("*.json"))
    Held(lake, tmp_path / "h1", "commit", "embed", "people", "resume").kill()
    assert sorted(p.name for p in log.glob("*.json")) == before
    assert lake.scalar("SELECT count(*) FROM people__embeddings") == "7"
    Held(lake, tmp_path / "h2", "committed", "embed", "people", "resume").kill()
    assert len(list(log.glob("*.json"))) == len(before) + 1
    assert lake.scalar("SELECT count(*) FROM people__embeddings") == "8"
    assert "embedded 0 texts" in lake.run("embed", "people", "resume").stderr
    assert search(lake, "welding pipelines", "-k", "1")[0]["id"] == 10
    # a pass with a changed row (a MERGE), killed before and after its commit
    lake.sql("UPDATE people SET resume = 'Florist: weddings and seasonal bouquets.' WHERE id = 10")
    lake.run("flush", "people")
    before = sorted(p.name for p in log.glob("*.json"))
    Held(lake, tmp_path / "h3", "commit", "embed", "people", "resume").kill()
    assert sorted(p.name for p in log.glob("*.json")) == before
    assert lake.scalar("SELECT text FROM people__embeddings WHERE id = 10").startswith("Welder")
    Held(lake, tmp_path / "h4", "committed", "embed", "people", "resume").kill()
    assert lake.scalar("SELECT text FROM people__embeddings WHERE id = 10").startswith("Florist")
    assert "embedded 0 texts" in lake.run("embed", "people", "resume").stderr
    assert search(lake, "wedding flowers", "-k", "1")[0]["id"] == 10



def test_new_rows_are_appended_and_racing_embeds_add_them_once(lake, tmp_path):
    """Embedding what is only new appends it (a commit that adds files and removes none,
    the embedded rows untouched); two embeddings racing to append the same new rows
    conflict, and the loser starts again and finds nothing new: both succeed, no row is
    embedded twice. A change or a deletion is a MERGE of what changed, and a stray row
    of the key (another model's) goes then too."""
    make_people(lake)
    lake.run("embed", "people", "resume")
    emb = lake.path / "people__embeddings"
    files = {p.name for p in emb.glob("*.parquet")}
    lake.sql("INSERT INTO people VALUES (10, 'Welder with pipeline experience', 'Denver')")
    p = lake.run("embed", "people", "resume")
    assert "embedded 1 text " in p.stderr and "kept 7" in p.stderr
    last = json.loads(lake.run("history", "people__embeddings", "-f", "json").stdout)[0]
    assert last["operation"] == "WRITE" and "Append" in json.dumps(last)
    assert files < {p.name for p in emb.glob("*.parquet")}  # the old files stay, one more beside them

    lake.sql("INSERT INTO people VALUES (11, 'Florist: weddings, funerals, seasonal bouquets.', 'Austin')")
    lake.run("flush", "people")  # else the commit held would be the held embed's flush of the log
    held = Held(lake, tmp_path / "h", "commit", "embed", "people", "resume")  # stopped before its commit
    p = lake.run("embed", "people", "resume")  # the other one appends row 11 meanwhile
    assert "embedded 1 text " in p.stderr
    rc, _, err = held.release()
    assert rc == 0 and "embedded 0 texts" in err, err
    assert lake.scalar("SELECT count(*) FROM people__embeddings WHERE id = 11") == "1"
    assert lake.scalar("SELECT count(*) FROM people__embeddings") == "9"
    assert "embedded 0 texts" in lake.run("embed", "people", "resume").stderr

    # a changed text and a stray row of its key: both old rows go
    lake.sql("INSERT INTO people__embeddings SELECT id, \"column\", chunk, text, embedding, 'another-model', dim, "
             "source_version FROM people__embeddings WHERE id = 3")
    lake.sql("UPDATE people SET resume = 'Java developer who now leads a team of twelve.' WHERE id = 3")
    p = lake.run("embed", "people", "resume")
    assert "embedded 1 text " in p.stderr and "kept 8" in p.stderr
    assert lake.scalar("SELECT count(*) FROM people__embeddings WHERE id = 3") == "1"
    assert lake.scalar("SELECT text FROM people__embeddings WHERE id = 3").startswith("Java developer who now")

GRAPH = {"LOCH_VINDEX_EXACT_BELOW": "0"}  # searches go through the HNSW graph even for a few rows
QUERIES = ["someone who could handle our Kubernetes migration", "who can bake bread", "tax audits",
           "long-haul driving", "hospital night shifts"]


def answers(lake, *args, env=None, via=None):
    """Each query's (id, score) rows; via: what the search must say it read."""
    out = []
    for q in QUERIES:
        p = lake.run("search", "people", q, "-f", "json", "-k", "4", *args, env=env)
        assert via is None or via in p.stderr, (via, p.stderr)
        out.append([(r["id"], round(r["score"], 4)) for r in json.loads(p.stdout)])
    return out


def without_index(lake, *args):
    """The same searches answered from the embeddings alone (the index moved away)."""
    d = lake.path / "people" / "_loch_index"
    d.rename(d.with_name("_moved"))
    try:
        return answers(lake, *args, via="no current index")
    finally:
        d.with_name("_moved").rename(d)


def index_file(lake):
    files = list((lake.path / "people" / "_loch_index").glob("*.hnsw"))
    assert len(files) == 1, files
    return files[0]


def delta_file(lake):
    """The index's delta: what changed since its base (index_file), when there is one."""
    f = index_file(lake)
    return f.with_name(f.name + "d")


def index_state(lake):
    d = delta_file(lake)
    return index_file(lake).read_bytes(), d.read_bytes() if d.exists() else None


def test_search_through_the_index_answers_as_the_embeddings_do(lake):
    """loch embed leaves an HNSW index in people/_loch_index/; searches through it (its
    graph forced, and its exact path) give the rows and scores the embeddings give, with
    and without a condition; after changes to the table a re-embed brings the index up to
    date (a changed row's old vector is never found again, a deleted row never)."""
    make_people(lake)
    lake.run("embed", "people", "resume")
    assert index_file(lake).read_bytes()[:8] == b"LOCHHNSW"
    for args in ((), ("--where", "city = 'Chicago'"), ("--where", "city <> 'Chicago' AND id > 2")):
        want = without_index(lake, *args)
        assert answers(lake, *args, env=GRAPH, via="HNSW graph") == want
        assert answers(lake, *args, via="every vector scored") == want
    lake.sql("UPDATE people SET resume = 'Florist: wedding bouquets and funeral wreaths.' WHERE id = 1")
    lake.sql("DELETE FROM people WHERE id = 6")
    lake.sql("INSERT INTO people VALUES (9, 'DevOps lead: moved our monolith to Kubernetes and Argo CD.', 'Austin')")
    lake.run("flush", "people")
    assert "embedded 2 texts" in lake.run("embed", "people", "resume").stderr
    got = answers(lake, env=GRAPH, via="by their index (semantic, HNSW graph)")
    assert got == without_index(lake) and got[0][0][0] == 9
    assert all(i != 6 for rows in got for i, _ in rows) and all(i != 1 for i, _ in got[0][:1])
    assert answers(lake, "--where", "city = 'Austin'", env=GRAPH, via="HNSW graph") == \
        without_index(lake, "--where", "city = 'Austin'")


def test_a_stale_or_damaged_index_is_never_trusted(lake, tmp_path):
    """A pass that changed a row writes a delta beside the graph, not the graph again.
    A delta from before a later change (its fingerprint names the old version), none at
    all (the base alone is older), one with a flipped byte, a truncated one or garbage,
    and the same done to the base: searches give what the embeddings give, and the next
    loch embed writes a sound index again."""
    make_people(lake)
    lake.run("embed", "people", "resume")
    base = index_file(lake).read_bytes()
    lake.sql("UPDATE people SET resume = 'Marine biologist studying coral reefs.' WHERE id = 4")
    lake.run("flush", "people")
    lake.run("embed", "people", "resume")
    old_delta = delta_file(lake).read_bytes()
    assert index_file(lake).read_bytes() == base and old_delta[:8] == b"LOCHHNSD" and len(old_delta) < len(base) // 4
    # (a row added: a second tombstone would pass a fifth of these few rows, and the
    # graph would be built again whole)
    lake.sql("INSERT INTO people VALUES (11, 'Pastry chef: croissants, laminated doughs.', 'Austin')")
    lake.run("flush", "people")
    lake.run("embed", "people", "resume")
    want = without_index(lake)
    good_base, good_delta = index_state(lake)
    assert good_base == base and good_delta != old_delta
    assert answers(lake, env=GRAPH, via="HNSW graph") == want

    def flip(b):
        b = bytearray(b)
        b[len(b) // 2] ^= 0x40
        return bytes(b)

    for which, bad in [("delta", old_delta), ("delta", None), ("delta", flip(good_delta)),
                       ("delta", good_delta[: len(good_delta) // 3]), ("delta", b"LOCHHNSD" + b"\xff" * 200),
                       ("delta", b""), ("base", flip(good_base)), ("base", good_base[: len(good_base) // 3]),
                       ("base", b"LOCHHNSW" + b"\xff" * 200), ("base", b"")]:
        f = delta_file(lake) if which == "delta" else index_file(lake)
        if bad is None:
            f.unlink()
        else:
            f.write_bytes(bad)
        assert answers(lake, env=GRAPH, via="no current index") == want, (which, len(bad or b""))
        assert answers(lake, "--where", "id < 5", env=GRAPH, via="no current index") == \
            without_index(lake, "--where", "id < 5")
        assert "embedded 0 texts" in lake.run("embed", "people", "resume").stderr
        assert index_file(lake).read_bytes()[:8] == b"LOCHHNSW"
        assert answers(lake, env=GRAPH, via="HNSW graph") == want
        index_file(lake).write_bytes(good_base)
        delta_file(lake).write_bytes(good_delta)
    # tombstones past a fifth of the nodes: the graph is built again whole, the delta goes
    lake.sql("UPDATE people SET resume = resume || ' Sings in a choir.' WHERE id IN (1, 2)")
    lake.run("flush", "people")
    assert "embedded 2 texts" in lake.run("embed", "people", "resume").stderr
    assert not delta_file(lake).exists() and index_file(lake).read_bytes() != good_base
    assert answers(lake, env=GRAPH, via="HNSW graph") == without_index(lake)


def _crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def test_review_findings_on_index_deltas(lake):
    """What an adversarial pass found in the deltas and the extended full-text index,
    each a check now: a row whose text changed but whose vector did not (the model reads
    256 tokens) is found by its new words, not its old ones; keyword scores after changes
    equal an index made from scratch (BM25's statistics count no gone rows); a delta with
    valid checksums whose nodes are labelled otherwise is refused, never searched."""
    import struct
    make_people(lake)
    filler = " ".join(str(i % 10) for i in range(380))  # past the model's 256 tokens
    lake.sql(f"INSERT INTO people VALUES (40, '{filler} invoice paid', 'Austin')")
    lake.run("flush", "people")
    lake.run("embed", "people", "resume")

    def keyword(q):
        return [(r["id"], round(r["score"], 4))
                for r in json.loads(lake.run("search", "people", q, "--mode", "keyword", "-f", "json").stdout)]

    assert [i for i, _ in keyword("paid")] == [40]
    lake.sql(f"UPDATE people SET resume = '{filler} invoice overdue' WHERE id = 40")
    lake.sql("UPDATE people SET resume = 'Chicago truck dispatcher and driver trainer.' WHERE id = 2")
    lake.run("flush", "people")
    assert "embedded 2 texts" in lake.run("embed", "people", "resume").stderr
    assert delta_file(lake).exists()  # the graph was reused
    assert keyword("paid") == [] and [i for i, _ in keyword("overdue")] == [40]
    p = lake.run("search", "people", "invoice", "--where", "id = 40", "-f", "json")
    assert json.loads(p.stdout)[0]["text"].endswith("invoice overdue")
    queries = ("truck driver", "Chicago", "nurse shifts", "invoice", "engineer")
    got = [keyword(q) for q in queries]
    shutil.rmtree(lake.path / "people" / "_loch_index")
    lake.run("embed", "people", "resume")
    assert [keyword(q) for q in queries] == got
    # a delta re-signed with a new node labelled past the nodes, or as another node
    lake.sql("INSERT INTO people VALUES (41, 'Beekeeper and honey producer.', 'Denver')")
    lake.run("flush", "people")
    lake.run("embed", "people", "resume")
    want = without_index(lake)
    good = delta_file(lake).read_bytes()
    n0, n = struct.unpack_from("<QQ", good, 16)
    assert n > n0
    for label in (1 << 40, 0):
        d = bytearray(good)
        struct.pack_into("<Q", d, 128 + (n - n0) + 8 * (n - n0 - 1), label)
        struct.pack_into("<I", d, 120, _crc32c(bytes(d[128:])))
        struct.pack_into("<I", d, 124, _crc32c(bytes(d[:124])))
        delta_file(lake).write_bytes(bytes(d))
        assert answers(lake, env=GRAPH, via="no current index") == want, label
        delta_file(lake).write_bytes(good)
        assert answers(lake, env=GRAPH, via="HNSW graph") == want


def test_search_reads_its_texts_from_the_full_text_index(lake, tmp_path):
    """A search through the index reads its hits' texts from the full-text index, by
    node (the hold point proves it), and answers exactly what joining the embeddings
    answers: keys of the same type, chunks, scores, texts. A full-text index whose rows
    are not numbered by node (an older loch's, or one rewritten by hand) is not read for
    texts: the join answers, the same."""
    import sqlite3
    make_people(lake)
    lake.run("embed", "people", "resume")
    fts = next((lake.path / "people" / "_loch_index").glob("*.fts"))
    args = ("search", "people", "someone for our Kubernetes migration", "-k", "5", "-f", "json")
    fts.rename(fts.with_name("moved"))
    p = lake.run(*args)
    fts.with_name("moved").rename(fts)
    joined = json.loads(p.stdout)
    assert len(joined) == 5 and joined[0]["id"] == 1 and joined[0]["text"] == PEOPLE[0][1]
    rc, out, err = Held(lake, tmp_path / "h", "search-texts", *args).release()
    assert rc == 0 and json.loads(out) == joined, err
    # the same file with its rows numbered otherwise (and the same tag)
    good = fts.read_bytes()
    db = sqlite3.connect(fts)
    rows = db.execute("SELECT rowid, key, text FROM docs").fetchall()
    db.execute("DELETE FROM docs")
    db.executemany("INSERT INTO docs(rowid, key, text) VALUES (?, ?, ?)", [(r + 1, k, t) for r, k, t in rows])
    db.commit()
    db.close()
    assert json.loads(lake.run(*args).stdout) == joined
    fts.write_bytes(good)
    assert json.loads(lake.run(*args).stdout) == joined


def test_embed_killed_before_its_index_is_written(lake, tmp_path):
    """SIGKILL after the embeddings' commit and before the index (hold point): the index
    is the old one, searches still answer from the new embeddings, a re-run writes it."""
    make_people(lake)
    lake.run("embed", "people", "resume")
    before = index_state(lake)
    lake.sql("INSERT INTO people VALUES (10, 'Welder with pipeline experience', 'Denver')")
    lake.run("flush", "people")
    Held(lake, tmp_path / "h", "embed-index", "embed", "people", "resume").kill()
    assert index_state(lake) == before
    p = lake.run("search", "people", "welding pipelines", "-k", "1", "-f", "json")
    assert json.loads(p.stdout)[0]["id"] == 10 and "no current index" in p.stderr
    assert "embedded 0 texts" in lake.run("embed", "people", "resume").stderr
    assert index_state(lake) != before
    assert answers(lake, env=GRAPH, via="HNSW graph") == without_index(lake)


def test_the_index_beside_the_table_is_invisible_to_delta_readers(lake):
    """delta-rs reads a table with _loch_index/ in it; VACUUM leaves the index; DROP
    TABLE takes it along."""
    from deltalake import DeltaTable
    lake.sql("CREATE TABLE docs AS SELECT * FROM (VALUES (1, 'bread and cakes'), (2, 'tax audits')) t(id, body)")
    lake.run("embed", "docs", "body", "--key", "id")
    files = list((lake.path / "docs" / "_loch_index").glob("*.hnsw"))
    assert len(files) == 1
    assert DeltaTable(str(lake.path / "docs")).to_pyarrow_table().num_rows == 2
    lake.run("vacuum", "docs", "--retain", "0h", "--force")
    assert files[0].exists()
    assert json.loads(lake.run("search", "docs", "baking", "-f", "json", "-k", "1").stdout)[0]["id"] == 1
    lake.sql("DROP TABLE docs")
    assert not (lake.path / "docs").exists()


def test_keyword_and_hybrid_search(lake):
    """--mode keyword ranks by BM25 over the query's words (stemmed: "croissant" finds
    "croissants"), hybrid fuses it with the semantic ranking; both honour --where; any
    text is a keyword query (quotes, operators and punctuation are words or nothing);
    a damaged or stale full-text index is made again, never read."""
    make_people(lake)
    lake.run("embed", "people", "resume")

    def ids(query, mode, *args):
        p = lake.run("search", "people", query, "--mode", mode, "-f", "json", *args)
        assert f"({mode}" in p.stderr, p.stderr
        return [r["id"] for r in json.loads(p.stdout)]

    assert ids("croissant", "keyword")[:1] == [4]
    assert ids("audits", "keyword") == [5]
    assert ids("zeppelin", "keyword") == []
    assert ids('( ) * : ^ - " + ;', "keyword") == []  # no word at all
    assert ids('Zeppelin" OR NOT (AND :* ^C++', "keyword") == []  # words only, and no common ones ("and")
    assert ids('and', "keyword") == [4]  # unless they are all the question has
    assert ids("Kubernetes migration", "hybrid", "-k", "2")[0] == 1
    assert set(ids("Kubernetes migration", "hybrid", "-k", "3")) <= {1, 6, 3, 2, 7, 4, 5}
    assert ids("Chicago night shifts", "keyword", "--where", "city = 'Austin'") == []
    assert ids("night shifts", "hybrid", "--where", "city = 'Chicago'")[0] == 2
    fts = next((lake.path / "people" / "_loch_index").glob("*.fts"))
    good = fts.read_bytes()
    for bad in (b"garbage" * 100, good[: len(good) // 2], b""):
        fts.write_bytes(bad)
        assert ids("croissant", "keyword")[:1] == [4]
        assert fts.read_bytes()[:16] == b"SQLite format 3\x00"
    import sqlite3

    def fts_rows():
        db = sqlite3.connect(next((lake.path / "people" / "_loch_index").glob("*.fts")))
        try:
            return db.execute("SELECT count(*) FROM docs").fetchone()[0]
        finally:
            db.close()

    before = fts_rows()
    old_words = ids("truck", "keyword")
    assert 7 in old_words, old_words
    lake.sql("UPDATE people SET resume = 'Zeppelin pilot and balloonist' WHERE id = 7")
    lake.run("flush", "people")
    lake.run("embed", "people", "resume")
    assert ids("zeppelin", "keyword") == [7]
    # the changed row's old text is gone from the index (its new one there), and the old
    # words no longer find it
    assert fts_rows() == before
    assert 7 not in ids("truck", "keyword")
    p = lake.run("search", "people", "x", "--mode", "fuzzy", check=False)
    assert p.returncode != 0 and "semantic, keyword or hybrid" in p.stderr


def test_a_killed_index_build_leaves_nothing_behind(lake, tmp_path):
    """SIGKILL while the full-text index is being written (hold point): its side file
    (named by the dead pid) is swept by the next build, and the index is whole."""
    make_people(lake)
    lake.run("embed", "people", "resume")
    d = lake.path / "people" / "_loch_index"
    next(d.glob("*.fts")).unlink()
    Held(lake, tmp_path / "h", "fts-build", "search", "people", "croissant", "--mode", "keyword").kill()
    assert [p.name for p in d.iterdir() if p.name.startswith(".tmp-")]
    p = lake.run("search", "people", "croissant", "--mode", "keyword", "-f", "json")
    assert json.loads(p.stdout)[0]["id"] == 4
    assert not [p.name for p in d.iterdir() if p.name.startswith(".")]


def test_search_table_functions_in_sql(lake):
    """vector_search(table, column, query, k => N) and text_search(...) (FTS5 syntax) are
    table functions: the key (typed as the key column is) and the score, joinable with
    the table; without a current index they say to run loch embed."""
    make_people(lake)
    lake.run("embed", "people", "resume")
    rows = json.loads(lake.sql("SELECT v.id, v.score, p.city FROM vector_search('people', 'resume', 'who bakes bread', "
                               "k => 3) v JOIN people p USING (id) ORDER BY v.score DESC", "-f", "json").stdout)
    assert rows[0]["id"] == 4 and rows[0]["city"] == "Austin" and len(rows) == 3
    assert rows == sorted(rows, key=lambda r: -r["score"])
    top = json.loads(lake.sql("SELECT * FROM text_search('people', 'resume', 'croissant* OR sourdough')",
                              "-f", "json").stdout)
    assert [r["id"] for r in top] == [4] and set(top[0]) == {"id", "chunk", "score"}
    assert lake.scalar("SELECT typeof(id) FROM vector_search('people', 'resume', 'x', k => 1)") == "BIGINT"
    assert lake.scalar("SELECT count(*) FROM vector_search('people', 'resume', 'x', k => 100000)") == "7"
    lake.sql("CREATE TABLE docs AS SELECT * FROM (VALUES ('a-1', 'tax audits'), ('b''2', 'bread')) t(code, body)")
    lake.run("embed", "docs", "body", "--key", "code")
    assert lake.scalar("SELECT code FROM vector_search('docs', 'body', 'baking', k => 1)") == "b'2"
    # a search's condition may itself search another table (its index kept apart: the
    # sanitizer build would see the search's own index freed under it)
    near = search(lake, "Kubernetes", "-k", "2", "--where",
                  "id IN (SELECT CASE WHEN code = 'a-1' THEN 5 ELSE 4 END FROM vector_search('docs', 'body', 'x'))")
    assert {r["id"] for r in near} == {4, 5}
    for q, msg in [("SELECT * FROM vector_search('people', 'city', 'x')", "run loch embed people city"),
                   ("SELECT * FROM vector_search('nope', 'resume', 'x')", "does not exist"),
                   ("SELECT * FROM vector_search('people', 'resume', NULL)", "none of them NULL"),
                   ("SELECT * FROM vector_search('people', 'resume', 'x', k => 0)", "1 to 100000"),
                   ("SELECT * FROM text_search('people', 'resume', 'AND AND (')", "fts5")]:
        p = lake.sql(q, check=False)
        assert p.returncode != 0 and msg in p.stderr, (q, p.stderr)


def test_long_texts_are_embedded_in_chunks(lake):
    """A text past the model's window is embedded as several chunks (each under 800
    bytes, cut at sentences, overlapping): a passage near its end is found, with its
    chunk number; appending to a text re-embeds only the chunks that changed."""
    filler = " ".join(f"Paragraph {i} of the annual report covers routine matters of the office." for i in range(40))
    long_text = filler + " The last section explains how the team migrated every service to Kubernetes."
    lake.sql("CREATE TABLE reports AS SELECT * FROM (VALUES (1, " + repr(long_text) + "), "
             "(2, 'A short note about baking bread.')) t(id, body)")
    p = lake.run("embed", "reports", "body", "--key", "id")
    chunks = int(lake.scalar("SELECT count(*) FROM reports__embeddings WHERE id = 1"))
    assert chunks >= 4 and "kept 0" in p.stderr
    assert lake.scalar("SELECT max(length(text)) <= 800 FROM reports__embeddings") == "true"
    for extra in ([], ["--mode", "keyword"], ["--mode", "hybrid"]):
        top = json.loads(lake.run("search", "reports", "migrating services to Kubernetes", "-k", "1", "-f", "json",
                                  *extra).stdout)[0]
        assert top["id"] == 1 and top["chunk"] == chunks - 1 and "Kubernetes" in top["text"], extra
    lake.sql("UPDATE reports SET body = body || ' An appendix lists the people involved.' WHERE id = 1")
    p = lake.run("embed", "reports", "body", "--key", "id")
    assert "kept" in p.stderr and "kept 1;" not in p.stderr  # the early chunks (and row 2) kept
    kept = int(p.stderr.split("kept ")[1].split(";")[0])
    assert kept >= chunks - 1
    rows = json.loads(lake.sql("SELECT id, chunk FROM vector_search('reports', 'body', 'An appendix lists the people involved.', k => 1)",
                               "-f", "json").stdout)
    assert rows[0]["id"] == 1 and rows[0]["chunk"] >= chunks - 1


def test_chunk_size_is_the_tables_choice(lake):
    """--chunk-size (the table property loch.embed.chunkSize) cuts a table's texts into
    chunks of another size. It is kept: a later embed, or an auto-embed after a write,
    cuts the same way and embeds nothing already embedded; a new size embeds again only
    the chunks that came out different. What is not a size is refused before anything is
    written, whether from the command line, ALTER TABLE or another Delta writer."""
    from deltalake import DeltaTable
    handbook = " ".join(f"Sentence {i} of the handbook says something ordinary about the office." for i in range(30))
    lake.sql("CREATE TABLE notes AS SELECT * FROM (VALUES (1, " + repr(handbook) + "), "
             "(2, 'A short note.')) t(id, body)")

    def chunks_of(i):
        return int(lake.scalar(f"SELECT count(*) FROM notes__embeddings WHERE id = {i}"))

    p = lake.run("embed", "notes", "body", "--key", "id", "--chunk-size", "300")
    assert "kept 0" in p.stderr
    small = chunks_of(1)
    assert small >= len(handbook) // 300 and chunks_of(2) == 1
    assert lake.scalar("SELECT max(length(text)) <= 300 FROM notes__embeddings") == "true"
    assert DeltaTable(str(lake.table("notes"))).metadata().configuration["loch.embed.chunkSize"] == "300"
    versions = len(json.loads(lake.run("history", "notes", "-f", "json").stdout))
    p = lake.run("embed", "notes", "body", "--key", "id", "--chunk-size", "300")  # the same size: no commit
    assert "embedded 0 texts" in p.stderr
    assert len(json.loads(lake.run("history", "notes", "-f", "json").stdout)) == versions
    # a write that auto-embeds cuts its text the table's way too
    lake.run("embed", "notes", "body", "--key", "id", "--auto")
    lake.sql("INSERT INTO notes VALUES (3, " + repr(handbook.replace("handbook", "manual")) + ")")
    assert chunks_of(3) == small
    assert lake.scalar("SELECT max(length(text)) <= 300 FROM notes__embeddings") == "true"
    # back to the default: the long texts are cut anew, the short one is kept
    p = lake.run("embed", "notes", "body", "--key", "id", "--chunk-size", "0")
    assert "kept 1;" in p.stderr
    assert 1 < chunks_of(1) < small and chunks_of(2) == 1
    assert lake.scalar("SELECT max(length(text)) BETWEEN 301 AND 800 FROM notes__embeddings") == "true"
    # a size on its own in SQL, with the same bounds
    assert lake.scalar(f"SELECT len(chunks({handbook!r}, 300)) = {small}") == "true"
    assert lake.scalar("SELECT chunks('a text', NULL) IS NULL") == "true"

    before = lake.scalar("SELECT count(*) FROM notes__embeddings")
    for bad in ["10", "63", "65537", "abc", "-5", "1e3", "300x", ""]:
        p = lake.run("embed", "notes", "body", "--chunk-size", bad, check=False)
        assert p.returncode == 2 and "--chunk-size takes bytes from 64 to 65536" in p.stderr, bad
    for bad in ["12", "abc", "-300", "99999999999999999999"]:
        p = lake.sql(f"ALTER TABLE notes SET TBLPROPERTIES ('loch.embed.chunkSize' = '{bad}')", check=False)
        assert p.returncode == 1 and "loch.embed.chunkSize is a chunk's size in bytes" in p.stderr, bad
        p = lake.sql(f"SELECT chunks('text', {bad if bad[-1].isdigit() else 1})", check=False)
        assert p.returncode == 1, bad
    DeltaTable(str(lake.table("notes"))).alter.set_table_properties({"loch.embed.chunkSize": "tiny"},
                                                                    raise_if_not_exists=False)
    p = lake.run("embed", "notes", "body", "--key", "id", check=False)
    assert p.returncode == 1 and "table notes: loch.embed.chunkSize" in p.stderr and '"tiny"' in p.stderr
    assert lake.scalar("SELECT count(*) FROM notes__embeddings") == before
    lake.run("embed", "notes", "body", "--key", "id", "--chunk-size", "0")  # the way out
    assert lake.scalar("SELECT count(*) FROM notes__embeddings") == before

def test_review_findings_on_search(lake, tmp_path):
    """What an adversarial pass found, each a check now: keys that cannot name a row
    again are refused; index files that are FIFOs, crafted databases or damaged are
    passed over without hanging and made again by embed; a table dropped while its
    index was being written leaves none; hand-broken vectors are embedded again; a huge
    text embeds as its window; an empty table says so."""
    import os
    import stat
    for ddl, key, msg in [("SELECT 1.5::DOUBLE AS k, 'a' AS body", "k", "not stable"),
                          ("SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00' AS k, 'a' AS body", "k", "not stable"),
                          ("SELECT * FROM (VALUES (1, 'a'), (1, 'b')) t(k, body)", "k", "1 is the key of several"),
                          ("SELECT 'a' || chr(0) || 'b' AS k, 'a' AS body", "k", "NUL"),
                          ("SELECT 1 AS score, 'a' AS body", "score", "named score")]:
        lake.sql(f"CREATE OR REPLACE TABLE bad AS {ddl}")
        p = lake.run("embed", "bad", "body", "--key", key, check=False)
        assert p.returncode == 1 and msg in p.stderr, (ddl, p.stderr)
    make_people(lake)
    lake.run("embed", "people", "resume")
    p = lake.run("embed", "people", "city", "--key", "city", check=False)
    assert p.returncode == 1 and "keyed by id: embed with --key id" in p.stderr
    lake.sql("INSERT INTO people VALUES (10, 'Welder with pipeline experience', 'Denver')")
    lake.run("flush", "people")
    lake.run("embed", "people", "resume")  # a delta beside the graph now
    want, want_kw = answers(lake), answers(lake, "--mode", "keyword")
    d = lake.path / "people" / "_loch_index"
    for suffix in ("hnswd", "hnsw", "fts"):
        f = next(d.glob("*.hnsw")).with_suffix("." + suffix)
        f.unlink(missing_ok=True)
        os.mkfifo(f)
        assert answers(lake) == want  # answers, never blocks on the FIFO
        lake.run("embed", "people", "resume")
        assert stat.S_ISREG(f.stat().st_mode)  # made again
        assert answers(lake) == want and answers(lake, "--mode", "keyword") == want_kw
    import sqlite3
    f = next(d.glob("*.fts"))
    f.unlink()
    db = sqlite3.connect(f)
    db.executescript("CREATE VIEW meta AS WITH RECURSIVE c(k, v) AS (SELECT 'tag', 'x' UNION ALL SELECT k, v FROM c) "
                     "SELECT * FROM c; CREATE VIRTUAL TABLE docs USING fts5(key UNINDEXED, text);")
    db.close()
    assert answers(lake, "--mode", "keyword") == want_kw  # not read: made again
    good = f.read_bytes()
    bad = bytearray(good)
    for at in range(4096, len(bad), 997):  # pages damaged throughout
        bad[at] ^= 0x55
    f.write_bytes(bytes(bad))
    lake.run("search", "people", "bread", "--mode", "keyword", check=False)  # may fail; must not hang or crash
    lake.run("embed", "people", "resume")
    assert answers(lake, "--mode", "keyword") == want_kw
    # a vector broken by hand is embedded again
    lake.sql("UPDATE people__embeddings SET embedding = [1, 2, 3]::FLOAT[] WHERE id = 4")
    assert "embedded 1 text" in lake.run("embed", "people", "resume").stderr
    again = answers(lake)  # (a text embedded alone may differ from one in a batch in the 4th digit)
    assert [[i for i, _ in q] for q in again] == [[i for i, _ in q] for q in want]
    assert all(abs(a[1] - b[1]) < 1e-3 for qa, qb in zip(again, want) for a, b in zip(qa, qb))
    # a huge text: its window, quickly (it is never tokenized past that)
    same = lake.scalar("SELECT list_inner_product(embed(repeat('word ', 4000000)), embed(repeat('word ', 300)))")
    assert float(same) > 0.9999
    # dropped while its index was written: none is left
    lake.sql("CREATE TABLE gone AS SELECT * FROM (VALUES (1, 'some text'), (2, 'more')) t(id, body)")
    h = Held(lake, tmp_path / "h", "embed-index", "embed", "gone", "body", "--key", "id")
    lake.sql("DROP TABLE gone")
    h.release()
    assert not (lake.path / "gone").exists()
    lake.sql("CREATE TABLE empty (id BIGINT, body VARCHAR)")
    lake.sql("CREATE TABLE empty__embeddings (id BIGINT, \"column\" VARCHAR, chunk INTEGER, text VARCHAR, "
             "embedding FLOAT[], model VARCHAR, dim INTEGER, source_version BIGINT)")
    p = lake.run("search", "empty", "x", check=False)
    assert p.returncode == 1 and "no embedded rows" in p.stderr
    # comment marks and ';' inside a string are text, not comments
    assert [r["id"] for r in search(lake, "bread", "--where", "city <> 'New--York;/*'")][:1] == [4]
    for cond in ["true -- x", "true /* x */", "true; SELECT 1", "id = 1 /*"]:
        p = lake.run("search", "people", "bread", "--where", cond, check=False)
        assert p.returncode == 1 and "--where" in p.stderr, cond


def embedded_ids(lake):
    return sorted(int(x) for x in lake.run("sql", "SELECT DISTINCT id FROM people__embeddings", "-f", "csv")
                  .stdout.split()[1:])


def test_auto_embed_follows_every_write(lake, tmp_path):
    """embed --auto: each later write of the table (SQL and files through the table's log
    and its flush, UPDATE, DELETE; an ingest, below) embeds what changed before it returns; a write
    whose embedding cannot happen stands, with a warning; a kill between the two leaves
    the embeddings behind, and the next write catches them up."""
    make_people(lake)
    p = lake.run("embed", "people", "resume", "--auto")
    assert "embedded again whenever people is written" in p.stderr
    assert embedded_ids(lake) == [1, 2, 3, 4, 5, 6, 7]
    assert json.loads(lake.run("describe", "people", "-f", "json").stdout) is not None
    lake.sql("INSERT INTO people VALUES (9, 'Welder certified in TIG and MIG welding of stainless steel.', 'Austin')")
    lake.run("flush", "people")  # a table with a primary key writes through its log: the flush commits
    assert 9 in embedded_ids(lake)
    assert search(lake, "someone who welds metal", "-k", "1")[0]["id"] == 9
    csv = tmp_path / "more.csv"
    csv.write_text("id,resume,city\n10,Airline pilot flying long-haul routes on the Boeing 787.,Denver\n")
    lake.run("write", "people", str(csv))
    lake.run("flush", "people")
    assert 10 in embedded_ids(lake)
    lake.sql("UPDATE people SET resume = 'Beekeeper with forty hives; sells honey and beeswax.' WHERE id = 4")
    lake.run("flush", "people")
    assert search(lake, "honey bees", "-k", "1")[0]["id"] == 4
    lake.sql("DELETE FROM people WHERE id = 7")
    lake.run("flush", "people")
    assert 7 not in embedded_ids(lake)
    # no model: the write stands, a warning says how to catch up
    p = lake.run("sql", "INSERT INTO people VALUES (11, 'Florist arranging wedding bouquets.', 'Boston')",
                 env={"LOCH_EMBED_MODEL": "/nonexistent/model.gguf"})
    p = lake.run("flush", "people", env={"LOCH_EMBED_MODEL": "/nonexistent/model.gguf"})
    assert "people.resume was written but not embedded" in p.stderr and "run loch embed people resume" in p.stderr
    assert lake.scalar("SELECT count(*) FROM people WHERE id = 11") == "1" and 11 not in embedded_ids(lake)
    # killed after the write's commit, before its embedding: the next write catches up
    lake.sql("INSERT INTO people VALUES (12, 'Plumber fixing leaks and installing boilers.', 'Boston')")
    h = Held(lake, tmp_path / "hold", "committed", "flush", "people")
    h.kill()
    assert lake.scalar("SELECT count(*) FROM people WHERE id = 12") == "1" and 12 not in embedded_ids(lake)
    lake.sql("INSERT INTO people VALUES (14, 'Electrician wiring new homes.', 'Boston')")
    lake.run("flush", "people")
    assert {11, 12, 14} <= set(embedded_ids(lake))
    # --no-auto stops it; a malformed list of columns is refused
    lake.run("embed", "people", "resume", "--no-auto")
    lake.sql("INSERT INTO people VALUES (13, 'Carpenter.', 'Boston')")
    lake.run("flush", "people")
    assert 13 not in embedded_ids(lake)
    p = lake.run("sql", "ALTER TABLE people SET TBLPROPERTIES ('loch.embed.columns' = 'resume,,city')", check=False)
    assert p.returncode == 1 and "list of column names" in p.stderr
    # a column gone or not text: said plainly, the write stands, the other columns embed
    lake.sql("ALTER TABLE people SET TBLPROPERTIES ('loch.embed.columns' = 'resume,nonexist,id')")
    lake.sql("INSERT INTO people VALUES (15, 'Baker of bagels.', 'Boston')")
    p = lake.run("flush", "people")
    assert "people has no column nonexist to embed" in p.stderr and "people.id is of type" in p.stderr
    assert "Binder Error" not in p.stderr and 15 in embedded_ids(lake)


def test_auto_embed_on_ingest_and_over_http(lake, tmp_path):
    from test_server import Server
    lake.sql("CREATE TABLE notes (id BIGINT, body VARCHAR)")
    lake.sql("INSERT INTO notes VALUES (1, 'Runs Kubernetes clusters in production.')")
    lake.run("embed", "notes", "body", "--key", "id", "--auto")
    csv = tmp_path / "n.csv"
    csv.write_text("id,body\n2,Bakes sourdough bread every morning.\n")
    lake.run("ingest", "notes", str(csv))
    assert lake.scalar("SELECT count(*) FROM notes__embeddings") == "2"
    s = Server(lake)
    try:
        status, _, data = s.req("POST", "/v1/tables/notes/ingest?format=csv", b"id,body\n3,Flies drones for land surveys.\n",
                                headers={"Content-Type": "text/csv"})
        assert status == 200, data
        r = s.json("POST", "/v1/search", {"table": "notes", "query": "aerial surveying", "k": 1})
        assert r["rows"][0]["id"] == 3
    finally:
        assert s.stop() == 0
