"""`loch ingest`: messy real files in, Delta tables out, checked against what is in
the files (Python's csv/json modules) and against delta-rs reading the result."""
import csv
import gzip
import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from conftest import LOCH

VEGA = Path(__import__("vega_datasets").__file__).parent / "_data"


@pytest.fixture(autouse=True)
def delta_rs_agrees(lake):
    """After every test: delta-rs reads each table the test produced, with the same
    rows (count, columns, and the non-null count of each column) as loch."""
    yield
    for log in sorted(lake.path.glob("*/_delta_log")):
        name = log.parent.name
        t = DeltaTable(str(log.parent)).to_pyarrow_table()
        cols = [r["column"] for r in json.loads(lake.run("describe", name, "-f", "json").stdout)]
        assert t.column_names == cols, name
        counts = ", ".join(f'count("{c}")' for c in cols)
        ours = [int(v) for v in lake.csv(f'SELECT count(*), {counts} FROM "{name}"')[0]]
        theirs = [t.num_rows] + [t.num_rows - t.column(c).null_count for c in cols]
        assert ours == theirs, name


def ingest(lake, *args, check=True, **kw):
    return lake.run("ingest", *map(str, args), check=check, **kw)


def rows_json(lake, sql):
    return json.loads(lake.sql(sql, "-f", "json").stdout)


def types(lake, table):
    return {r["column"]: r["type"] for r in json.loads(lake.run("describe", table, "-f", "json").stdout)}


def test_conservative_types(lake, tmp_path):
    f = tmp_path / "people.csv"
    f.write_text('id,zip,name,score,active,joined,phone,mixed,when\n'
                 '1,00123,"Smith, Ann",3.5,true,2024-01-02,0049301234,12,2024-01-02 10:00:00\n'
                 '2,45678,Bob,4,false,2024-02-03,0049305678,twelve,2024-01-03T11:30:00\n'
                 '3,,"said ""hi""",,TRUE,2024-03-04,,13,\n')
    out = ingest(lake, "people", f).stdout
    assert "3 rows from 1 file into version 0" in out
    assert types(lake, "people") == {"id": "long", "zip": "string", "name": "string", "score": "double",
                                     "active": "boolean", "joined": "date", "phone": "string", "mixed": "string",
                                     "when": "timestamp_ntz"}
    got = rows_json(lake, "SELECT zip, name, phone, mixed FROM people ORDER BY id")
    assert got == [{"zip": "00123", "name": "Smith, Ann", "phone": "0049301234", "mixed": "12"},
                   {"zip": "45678", "name": "Bob", "phone": "0049305678", "mixed": "twelve"},
                   {"zip": None, "name": 'said "hi"', "phone": None, "mixed": "13"}]
    t = DeltaTable(str(lake.table("people"))).to_pyarrow_table()
    assert t.num_rows == 3 and t.column("zip").to_pylist() == ["00123", "45678", None]


def test_spellings_a_cast_accepts_stay_text(lake, tmp_path):
    f = tmp_path / "odd.csv"
    f.write_text("under,hex,plus,short_date,nan,spaced,exp,big\n"
                 "1_000,0x1F,+5,2024-1-2,nan, 12,1e3,12345678901234567890\n"
                 "12,13,14,2024-01-02,1.5,13,2.5,1\n")
    ingest(lake, "odd", f)
    t = types(lake, "odd")
    assert t.pop("exp") == "double"  # scientific notation is a number
    assert set(t.values()) == {"string"}
    assert lake.csv("SELECT * EXCLUDE (exp) FROM odd WHERE under = '1_000'") == [
        ["1_000", "0x1F", "+5", "2024-1-2", "nan", " 12", "12345678901234567890"]]


def test_idempotent_and_force(lake, tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("x\n1\n2\n")
    ingest(lake, "t", f)
    out = ingest(lake, "t", f).stdout
    assert "already ingested" in out
    assert lake.scalar("SELECT count(*) FROM t") == "2"
    # the record of it is in the log: it survives losing the catalog
    for c in (lake.path / "_loch").glob("catalog.sqlite*"):
        c.unlink()
    assert "already ingested" in ingest(lake, "t", f).stdout
    ingest(lake, "t", f, "--force")
    assert lake.scalar("SELECT count(*) FROM t") == "4"
    # after an overwrite by other bytes, the first file is new again
    g = tmp_path / "b.csv"
    g.write_text("x\n9\n")
    ingest(lake, "t", g, "--mode", "overwrite")
    assert lake.scalar("SELECT count(*) FROM t") == "1"
    ingest(lake, "t", f)
    assert lake.scalar("SELECT sum(x) FROM t") == "12"


def test_many_inputs_one_commit_and_json_summary(lake, tmp_path):
    d = tmp_path / "parts"
    d.mkdir()
    for i in range(3):
        (d / f"p{i}.csv").write_text(f"id,v\n{i},{i * 10}\n")
    (d / ".hidden.csv").write_text("id,v\n99,99\n")
    (tmp_path / "extra.ndjson").write_text('{"id": 7, "v": 70, "w": "new"}\n')
    s = json.loads(ingest(lake, "t", d, tmp_path / "extra.ndjson", "--json").stdout)
    assert (s["version"], s["rows"], s["files"], s["skipped"]) == (0, 4, 4, 0)
    assert [f["name"] for f in s["schema"]["fields"]] == ["id", "v", "w"]
    assert lake.csv("SELECT id, v, w FROM t ORDER BY id") == [["0", "0", ""], ["1", "10", ""], ["2", "20", ""],
                                                             ["7", "70", "new"]]
    assert len(DeltaTable(str(lake.table("t"))).history()) == 1
    # a glob and standard input
    ingest(lake, "g", str(d / "p*.csv"))
    assert lake.scalar("SELECT count(*) FROM g") == "3"
    p = lake.run("ingest", "s", "-", "--format", "csv", input="a,b\n1,x\n")
    assert "1 rows from 1 file" in p.stdout and lake.csv("SELECT a, b FROM s") == [["1", "x"]]


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_a_file_named_with_glob_characters_is_that_file(lake, tmp_path, fmt):
    """`gl[1].csv` that exists is read as named, never as the pattern that also matches
    `gl1.csv`, by loch's input expansion and by the engine's reader; a name that does not
    exist is still a glob."""
    d = tmp_path / "in"
    d.mkdir()
    for name, v in (("gl[1]", 1), ("gl1", 2), ("a*b", 3), ("a?b", 4), ("axb", 5)):
        write_one(d / f"{name}.{fmt}", fmt, v)
    for i, (name, want) in enumerate((("gl[1]", ["1"]), ("a*b", ["3"]), ("a?b", ["4"]), ("gl[1-9]", ["2"]))):
        table = f"t{i}"
        p = lake.run("ingest", table, str(d / f"{name}.{fmt}"))
        assert "1 rows from 1 file" in p.stdout, (name, p.stdout, p.stderr)
        assert [r[0] for r in lake.csv(f"SELECT v FROM {table}")] == want, name


def test_a_file_named_in_other_bytes_than_utf8(lake, tmp_path):
    """The engine takes no name that is not UTF-8: such a file is read through a link,
    alone or in a directory, and recorded with its odd bytes as \\xHH."""
    d = tmp_path / "odd"
    d.mkdir()
    odd = os.path.join(os.fsencode(d), b"caf\xe9.csv")
    with open(odd, "wb") as f:
        f.write(b"a,b\n1,x\n")
    (d / "plain.csv").write_text("a,b\n2,y\n")
    p = subprocess.run([LOCH, "ingest", "one", odd], capture_output=True, env=dict(os.environ, LOCH_LAKE=str(lake.path)))
    assert p.returncode == 0, p.stderr
    lake.run("ingest", "many", str(d))
    assert lake.csv("SELECT a, b FROM many ORDER BY a") == [["1", "x"], ["2", "y"]]
    assert lake.csv("SELECT a, b FROM one") == [["1", "x"]]
    commit = (lake.table("one") / "_delta_log" / "00000000000000000000.json").read_text()
    files = json.loads(json.loads(commit.splitlines()[0])["commitInfo"]["operationParameters"]["files"])
    assert files[0]["name"].endswith("caf\\xe9.csv"), files
    assert not list((lake.path / "_loch" / "tmp").glob("link-*"))  # the link goes with the ingest


def write_one(path, fmt, v):
    if fmt == "csv":
        path.write_text(f"v\n{v}\n")
    elif fmt == "ndjson":
        path.write_text(json.dumps({"v": v}) + "\n")
    else:
        pq.write_table(pa.table({"v": pa.array([v], pa.int64())}), path)


def test_nested_json_and_formats(lake, tmp_path):
    (tmp_path / "n.json").write_text(json.dumps([
        {"id": 1, "user": {"name": "a", "geo": {"lat": 1.5, "lon": 2.5}}, "tags": ["x", "y"]},
        {"id": 2, "user": {"name": "b", "geo": None}, "tags": []}]))
    ingest(lake, "n", tmp_path / "n.json")
    assert types(lake, "n") == {"id": "long", "user_name": "string", "user_geo_lat": "double",
                                "user_geo_lon": "double", "tags": '{"type":"array","elementType":"string","containsNull":true}'}
    assert rows_json(lake, "SELECT * FROM n ORDER BY id") == [
        {"id": 1, "user_name": "a", "user_geo_lat": 1.5, "user_geo_lon": 2.5, "tags": ["x", "y"]},
        {"id": 2, "user_name": "b", "user_geo_lat": None, "user_geo_lon": None, "tags": []}]
    pq.write_table(pa.table({"k": pa.array([1, 2], pa.int32()), "s": ["p", "q"]}), tmp_path / "f.parquet")
    ingest(lake, "pq", tmp_path / "f.parquet")
    assert types(lake, "pq") == {"k": "integer", "s": "string"}
    with gzip.open(tmp_path / "z.csv.gz", "wt") as g:
        g.write("a\tb\n1\tx\n")
    ingest(lake, "gz", tmp_path / "z.csv.gz", "--format", "tsv")
    assert lake.csv("SELECT a, b FROM gz") == [["1", "x"]]
    (tmp_path / "z.ndjson.zst").write_bytes(pa.compress(b'{"a": 1, "b": "x"}\n{"a": 2}\n', codec="zstd", asbytes=True))
    (tmp_path / "y.csv.zst").write_bytes(pa.compress(b"a,b\n3,y\n", codec="zstd", asbytes=True))
    ingest(lake, "zst", tmp_path / "z.ndjson.zst", tmp_path / "y.csv.zst")
    assert lake.csv("SELECT a, b FROM zst ORDER BY a") == [["1", "x"], ["2", ""], ["3", "y"]]


def test_schema_evolution_and_overrides(lake, tmp_path):
    (tmp_path / "1.csv").write_text("id,amount\n1,10\n")
    (tmp_path / "2.csv").write_text("id,amount,note\n2,11,hi\n")
    (tmp_path / "3.csv").write_text("id,amount\n3,ten\n")
    (tmp_path / "4.csv").write_text("id,amount\n4,12.5\n")
    ingest(lake, "t", tmp_path / "1.csv")
    ingest(lake, "t", tmp_path / "2.csv")  # a new column
    assert lake.csv("SELECT id, amount, note FROM t ORDER BY id") == [["1", "10", ""], ["2", "11", "hi"]]
    ingest(lake, "w", tmp_path / "1.csv")
    ingest(lake, "w", tmp_path / "4.csv")  # long -> double: the table's rows are rewritten in the same commit
    assert types(lake, "w")["amount"] == "double"
    assert lake.csv("SELECT id, amount FROM w ORDER BY id") == [["1", "10.0"], ["4", "12.5"]]
    ingest(lake, "w", tmp_path / "3.csv")  # double -> text
    assert types(lake, "w")["amount"] == "string"
    assert lake.csv("SELECT id, amount FROM w ORDER BY id") == [["1", "10.0"], ["3", "ten"], ["4", "12.5"]]
    assert "already ingested" in ingest(lake, "w", tmp_path / "1.csv").stdout  # rewritten rows keep their sources
    assert lake.csv('SELECT count(*) FROM "w@v0"') == [["1"]]  # older versions still read as they were
    assert DeltaTable(str(lake.table("w"))).to_pyarrow_table().num_rows == 3
    (tmp_path / "n.json").write_text('[{"id": 1, "tags": ["a"]}]')
    (tmp_path / "n2.json").write_text('[{"id": 2, "tags": "b"}]')
    ingest(lake, "n", tmp_path / "n.json")
    p = ingest(lake, "n", tmp_path / "n2.json", check=False)
    assert p.returncode == 1 and 'column "tags" is {"type":"array"' in p.stderr and "cannot be widened" in p.stderr
    ingest(lake, "t", tmp_path / "3.csv", "--mode", "overwrite")
    assert types(lake, "t") == {"id": "long", "amount": "string"}
    (tmp_path / "5.csv").write_text("id,price\n5,001.50\n")
    ingest(lake, "o", tmp_path / "5.csv", "--schema", "price DECIMAL(10,2), id INTEGER")
    assert types(lake, "o") == {"id": "integer", "price": "decimal(10,2)"}
    assert lake.csv("SELECT price FROM o") == [["1.50"]]


@pytest.mark.parametrize("name,content,message", [
    ("ragged.csv", "a,b\n1,2\n3,4,5\n6,7\n", "line 3 has 3 fields where line 1 has 2"),
    ("ragged_end.csv", "a,b\n1,2\n3,4\n5,6,7\n8,9\n", "line 4 has 3 fields"),
    ("broken.ndjson", '{"a": 1}\n{"a": \n', "line 2, column 7: malformed JSON: a value was expected"),
    ("broken.json", '[{"a": 1},\n {"a": 2]', "line 2, column 9: malformed JSON: ',' or '}' was expected"),
    ("tab.ndjson", '{"a": "x\ty"}\n', "line 1, column 7: malformed JSON: an unterminated string, or a control"),
    ("empty.csv", "", "the file is empty"),
    ("unclosed.csv", 'a,b\n' + '"q",1\n' * 30000 + '3,"x\n4,5\n', "line 30002: a quote opens and never closes"),
    ("latin1.csv", b"a,b\n1,caf\xe9\n", "line 2, column 6: not valid UTF-8 (byte 0xE9)"),
    ("latin1.ndjson", b'{"a": 1}\n{"a": "caf\xe9"}\n', "line 2, column 11: not valid UTF-8"),
])
def test_bad_input_commits_nothing(lake, tmp_path, name, content, message):
    f = tmp_path / name
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    p = ingest(lake, "bad", f, check=False)
    assert p.returncode == 1 and message in p.stderr and name in p.stderr, p.stderr
    assert not (lake.table("bad") / "_delta_log").exists()
    assert not list(lake.path.glob("bad/*.parquet"))


@pytest.mark.parametrize("name", ["airports.csv", "la-riots.csv", "seattle-weather.csv", "stocks.csv",
                                  "us-employment.csv", "iowa-electricity.csv"])
def test_real_csv_files(lake, name):
    """Public data shipped in the vega_datasets package: quoted commas, empty fields,
    codes with leading zeros, dates in other formats. Every value must come back as the
    file has it."""
    src = VEGA / name
    with open(src, newline="", encoding="utf-8") as fh:
        want = list(csv.DictReader(fh))
    ingest(lake, "t", src)
    got = rows_json(lake, "SELECT * FROM t")
    assert len(got) == len(want)
    cols = types(lake, "t")
    assert set(cols) == set(want[0])
    for col, t in cols.items():
        file_vals = sorted(r[col] for r in want)
        table_vals = [r[col] for r in got]
        if t == "string":
            assert sorted(v if v is not None else "" for v in table_vals) == file_vals, col
        elif t in ("long", "double"):
            assert sorted(float(v) for v in file_vals if v != "") == sorted(float(v) for v in table_vals if v is not None), col
        elif t == "date":
            assert sorted(v for v in file_vals if v) == sorted(v for v in table_vals if v), col
        else:
            raise AssertionError(f"unexpected type {t} for {col}")
    assert DeltaTable(str(lake.table("t"))).to_pyarrow_table().num_rows == len(want)


@pytest.mark.parametrize("name", ["cars.json", "barley.json", "iris.json", "ohlc.json"])
def test_real_json_files(lake, name):
    want = json.loads((VEGA / name).read_text())
    ingest(lake, "t", VEGA / name)
    assert lake.scalar("SELECT count(*) FROM t") == str(len(want))
    got = rows_json(lake, "SELECT * FROM t")
    keys = set().union(*want)
    assert set(got[0]) == keys
    for k in keys:
        a = sorted(json.dumps(r.get(k)) for r in want)
        b = sorted(json.dumps(r.get(k)) for r in got)
        if a != b:  # numbers may come back as floats (1 -> 1.0) in a double column
            assert sorted(float(x) for x in a if x != "null") == sorted(float(x) for x in b if x != "null"), k


def make_pdf(path, pages):
    """A minimal PDF with one line of Helvetica text per page (offsets computed)."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [%s] /Count %d >>" % (" ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages))),
                                                          len(pages)),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET"
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R "
                    f"/Resources << /Font << /F1 3 0 R >> >> >>")
        objs.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    out, offsets = b"%PDF-1.4\n", []
    for n, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{o}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(out)


def test_pdf_one_row_per_page(lake, tmp_path):
    make_pdf(tmp_path / "report.pdf", ["Quarterly revenue grew", "Java developers in Chicago"])
    ingest(lake, "docs", tmp_path / "report.pdf")
    assert types(lake, "docs") == {"file": "string", "page": "long", "text": "string"}
    got = rows_json(lake, "SELECT file, page, trim(text, chr(10) || chr(12) || ' ') AS text FROM docs ORDER BY page")
    assert got == [{"file": "report.pdf", "page": 1, "text": "Quarterly revenue grew"},
                   {"file": "report.pdf", "page": 2, "text": "Java developers in Chicago"}]
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really\n")
    p = ingest(lake, "docs", tmp_path / "broken.pdf", check=False)
    assert p.returncode == 1 and "broken.pdf" in p.stderr and "pdftotext" in p.stderr


def test_rejects_table(lake, tmp_path):
    f = tmp_path / "mixed.csv"
    f.write_text("a,b\n1,x\n2,y,extra\n3\n4,z\n")
    out = ingest(lake, "t", f, "--rejects", "bad").stdout
    assert "2 rows from 1 file" in out and "2 bad rows set aside in table bad" in out
    assert lake.csv("SELECT a, b FROM t ORDER BY a") == [["1", "x"], ["4", "z"]]
    got = rows_json(lake, "SELECT line, reason, raw FROM bad ORDER BY line")
    assert got == [{"line": 3, "reason": "TOO MANY COLUMNS", "raw": "2,y,extra"},
                   {"line": 4, "reason": "MISSING COLUMNS", "raw": "3"}]
    s = json.loads(ingest(lake, "t2", tmp_path / "mixed.csv", "--rejects", "bad", "--json").stdout)
    assert s["rejected"] == 2 and lake.scalar("SELECT count(*) FROM bad") == "4"
    p = ingest(lake, "j", VEGA / "cars.json", "--rejects", "bad", check=False)
    assert p.returncode == 1 and "--rejects works with CSV and TSV" in p.stderr


TRICKY = ("i,neg_zero,big,dbl,huge_exp,tiny_exp,flag,day,bad_day,ts,ts_zero,quoted,crlf_num\r\n"
          '1,-0,9223372036854775807,1.5e3,1e3,1e-5,TRUE,2024-02-29,2024-02-29,2024-01-02T03:04:05.5,'
          '2024-01-02 03:04:05,"12",7\r\n'
          '2,0,-9223372036854775808,-0.25,1e400,1e-400,false,0999-12-31,2023-02-29,2024-01-02 03:04:05,'
          '2024-01-02 03:04:05.500,"a ""b"", c",8\r\n'
          '3,5,1,12345678901234.5,2,3,False,2024-12-31,,2024-01-02 03:04:05.123456,,"x\r\ny",9\r\n')


def test_one_scan_and_sql_inference_agree(lake, tmp_path):
    """Plain files are typed by one C scan, compressed ones by SQL over the text: the
    same file gives the same schema and the same values both ways."""
    plain = tmp_path / "tricky.csv"
    plain.write_bytes(TRICKY.encode())
    packed = tmp_path / "tricky2.csv.gz"
    packed.write_bytes(gzip.compress(TRICKY.encode()))
    ingest(lake, "a", plain)
    ingest(lake, "b", packed)
    ta, tb = types(lake, "a"), types(lake, "b")
    assert ta == tb
    assert ta == {"i": "long", "neg_zero": "double", "big": "long", "dbl": "double", "huge_exp": "string",
                  "tiny_exp": "string", "flag": "boolean", "day": "date", "bad_day": "string",
                  "ts": "timestamp_ntz", "ts_zero": "string", "quoted": "string", "crlf_num": "long"}
    assert lake.csv("SELECT * FROM a ORDER BY i") == lake.csv("SELECT * FROM b ORDER BY i")
    got = rows_json(lake, "SELECT quoted, bad_day, ts_zero, huge_exp FROM a ORDER BY i")
    assert got[1] == {"quoted": 'a "b", c', "bad_day": "2023-02-29", "ts_zero": "2024-01-02 03:04:05.500",
                      "huge_exp": "1e400"}
    assert got[2]["quoted"] == "x\r\ny"


def test_large_csv_scanned_in_parts(lake, tmp_path):
    """A file big enough to be scanned by two threads: a value that makes its column
    text near the end, a ragged line late in the file, and quoted line ends around
    the point where the second scan starts all come out as in one scan."""
    rows = 400_000
    lines = ["id,zip,note,amount"]
    for i in range(rows):
        note = f'"line one\nline {i}"' if i % 7 == 0 else f"note number {i} of the file"
        lines.append(f"{i},{10000 + i % 80000},{note},{i % 1000 / 8}")
    lines[-3] = lines[-3].split(",")[0] + ",00042,late,1.5"  # a leading zero near the end
    f = tmp_path / "big.csv"
    f.write_text("\n".join(lines) + "\n")
    assert f.stat().st_size > 16 << 20
    out = ingest(lake, "big", f).stdout
    assert f"{rows} rows" in out
    assert types(lake, "big") == {"id": "long", "zip": "string", "note": "string", "amount": "double"}
    assert lake.csv("SELECT count(*), count(DISTINCT note), max(zip) FILTER (WHERE zip LIKE '0%') FROM big") == [
        [str(rows), str(rows), "00042"]]
    # the same file with one ragged line three quarters in: its physical line number
    physical = 1 + sum(1 + l.count("\n") for l in lines[1:300_001])
    lines[300_001] += ",extra"
    g = tmp_path / "ragged.csv"
    g.write_text("\n".join(lines) + "\n")
    r = ingest(lake, "ragged", g, check=False)
    assert r.returncode == 1
    assert f"line {physical + 1} has 5 fields where line 1 has 4" in r.stderr
    assert not lake.table("ragged").exists()


def test_json_types_from_every_record(lake, tmp_path):
    """JSON columns are typed from every record, not a sample: a key that first appears
    late, a mix of kinds, integers past int64 and dates that stop being dates."""
    recs = [{"id": i, "n": i, "when": f"2024-01-{i % 28 + 1:02d}", "mix": i, "big": i, "both": i,
             "obj": {"a": i}, "list": [i, i + 1], "nothing": None} for i in range(30_000)]
    recs[25_000].update(late="here", mix="twelve", big=12345678901234567890, both=12345678901234567,
                        when="soon", obj="flat")
    recs[25_001].update(both=1.5, n=2.5)
    f = tmp_path / "r.ndjson"
    f.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    ingest(lake, "r", f)
    assert types(lake, "r") == {"id": "long", "n": "double", "when": "string", "mix": "string", "big": "string",
                                "both": "string", "obj": "string", "list": '{"type":"array","elementType":"long",'
                                '"containsNull":true}', "nothing": "string", "late": "string"}
    got = rows_json(lake, "SELECT * FROM r WHERE id IN (1, 25000, 25001) ORDER BY id")
    assert [g["late"] for g in got] == [None, "here", None]
    assert [g["mix"] for g in got] == ["1", "twelve", "25001"]
    assert [g["big"] for g in got] == ["1", "12345678901234567890", "25001"]
    assert [g["both"] for g in got] == ["1", "12345678901234567", "1.5"]
    assert [g["when"] for g in got] == ["2024-01-02", "soon", "2024-01-26"]
    assert got[0]["obj"] == '{"a":1}' and got[1]["obj"] == "flat"
    assert [g["n"] for g in got] == [1.0, 25000.0, 2.5]
    # an array document, with nested objects flattened
    doc = tmp_path / "d.json"
    doc.write_text(json.dumps([{"k": 1, "o": {"p": "2024-05-06", "q": True}}, {"k": 2, "o": {"q": False}}]))
    ingest(lake, "d", doc)
    assert types(lake, "d") == {"k": "long", "o_p": "date", "o_q": "boolean"}
    assert DeltaTable(str(lake.table("r"))).to_pyarrow_table().num_rows == 30_000


def run_on_terminal(args, env):
    """Runs loch with a pseudo-terminal as stdout and stderr; returns what it wrote."""
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(str(LOCH), [str(LOCH), *args], env)
    out = b""
    while True:
        r, _, _ = select.select([fd], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    return out.decode(errors="replace")


def test_progress_on_a_terminal_only(lake, tmp_path):
    f = tmp_path / "p.csv"
    with open(f, "w") as out:
        out.write("id,name,amount\n")
        for i in range(0, 2_000_000, 1000):
            out.write("".join(f"{j},name {j},{j / 4}\n" for j in range(i, i + 1000)))
    env = dict(os.environ, LOCH_LAKE=str(lake.path), LOCH_PROGRESS_AFTER="0")
    shown = run_on_terminal(["ingest", "p", str(f)], env)
    lines = [l for l in shown.split("\r") if "%" in l and "ETA" in l]
    assert lines, shown
    assert any(" MB / " in l and " rows " in l for l in lines), lines
    assert "\r\x1b[Kp: 2000000 rows from 1 file" in shown  # the bar is erased before the summary
    # not a terminal: no bar at all
    r = lake.run("ingest", "q", str(f), env=env)
    assert "ETA" not in r.stderr and "\r" not in r.stderr and "2000000 rows" in r.stdout


def arrow_table():
    import datetime
    import decimal
    n = 2500
    return pa.table({
        "i8": pa.array([i % 100 - 50 if i % 7 else None for i in range(n)], pa.int8()),
        "u32": pa.array([i * 1_700_000 for i in range(n)], pa.uint32()),
        "i64": pa.array([i * 2**40 if i % 5 else None for i in range(n)], pa.int64()),
        "f32": pa.array([i / 4 for i in range(n)], pa.float32()),
        "f64": [i / 3 if i % 3 else None for i in range(n)],
        "b": [None if i % 11 == 0 else i % 2 == 0 for i in range(n)],
        "s": [None if i % 13 == 0 else f"name {i} ünï" for i in range(n)],
        "ls": pa.array([f"large {i}" for i in range(n)], pa.large_string()),
        "bin": pa.array([bytes([i % 256, 0]) if i % 4 else None for i in range(n)], pa.binary()),
        "d": pa.array([datetime.date(2024, 1, 1) + datetime.timedelta(days=i) for i in range(n)], pa.date32()),
        "ts": pa.array([datetime.datetime(2024, 1, 1, 0, 0, 0, i) for i in range(n)], pa.timestamp("us")),
        "tstz": pa.array([datetime.datetime(2024, 1, 1, i % 24, tzinfo=datetime.timezone.utc) for i in range(n)],
                         pa.timestamp("ms", tz="UTC")),
        "dec": pa.array([decimal.Decimal(i) / 100 for i in range(n)], pa.decimal128(12, 2)),
        "lst": pa.array([[i, i + 1] if i % 6 else ([] if i % 4 else None) for i in range(n)], pa.list_(pa.int64())),
        "st": pa.array([{"x": i, "y": f"y{i}"} if i % 9 else None for i in range(n)]),
    })


@pytest.mark.parametrize("kind", ["file", "stream", "feather", "stdin"])
def test_arrow_ipc_input(lake, tmp_path, kind):
    import pyarrow.feather as feather
    import pyarrow.ipc as ipc
    t = arrow_table()
    path = tmp_path / {"file": "t.arrow", "stream": "t.arrows", "feather": "t.feather", "stdin": "t.bin"}[kind]
    if kind == "file":
        with ipc.new_file(path, t.schema) as w:
            w.write_table(t, max_chunksize=1000)  # three batches
    elif kind == "feather":
        feather.write_feather(t, path, compression="uncompressed")
    else:
        with ipc.new_stream(path, t.schema) as w:
            w.write_table(t, max_chunksize=700)
    if kind == "stdin":
        p = subprocess.run([LOCH, "ingest", "t", "-", "--format", "arrow"], stdin=open(path, "rb"),
                           capture_output=True, env=dict(os.environ, LOCH_LAKE=str(lake.path)))
        assert p.returncode == 0, p.stderr
    else:
        ingest(lake, "t", path)
    got = DeltaTable(str(lake.table("t"))).to_pyarrow_table().sort_by("f32")
    assert got.num_rows == t.num_rows
    want = t.sort_by("f32")
    for name in ["i8", "i64", "f32", "f64", "b", "s", "ls", "bin", "d", "ts", "dec", "lst"]:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name
    assert got.column("u32").to_pylist() == want.column("u32").to_pylist()  # widened to long
    assert got.column("tstz").cast(pa.timestamp("us", tz="UTC")).to_pylist() == \
        want.column("tstz").cast(pa.timestamp("us", tz="UTC")).to_pylist()
    assert got.column("st_x").to_pylist() == [r["x"] if r else None for r in want.column("st").to_pylist()]


def test_arrow_ipc_refusals(lake, tmp_path):
    import pyarrow.feather as feather
    import pyarrow.ipc as ipc
    t = arrow_table()
    feather.write_feather(t, tmp_path / "z.feather", compression="zstd")
    r = ingest(lake, "z", tmp_path / "z.feather", check=False)
    assert r.returncode == 1 and "compressed Arrow IPC bodies (LZ4/ZSTD) are not supported" in r.stderr
    d = pa.table({"k": pa.array(["a", "b", "a"]).dictionary_encode()})
    with ipc.new_file(tmp_path / "d.arrow", d.schema) as w:
        w.write_table(d)
    r = ingest(lake, "d", tmp_path / "d.arrow", check=False)
    assert r.returncode == 1 and 'column "k": dictionary encoding is not supported' in r.stderr
    with ipc.new_file(tmp_path / "ok.arrow", t.schema) as w:
        w.write_table(t)
    whole = (tmp_path / "ok.arrow").read_bytes()
    (tmp_path / "cut.arrow").write_bytes(whole[: len(whole) // 2])
    r = ingest(lake, "cut", tmp_path / "cut.arrow", check=False)
    assert r.returncode == 1 and "not a valid Arrow IPC file" in r.stderr
    # string offsets past their data, or going backwards: refused before the engine sees them
    small = pa.table({"s": ["ab", "cd"]})
    with ipc.new_stream(tmp_path / "s.arrows", small.schema) as w:
        w.write_table(small)
    raw = (tmp_path / "s.arrows").read_bytes()
    offsets = bytes.fromhex("00000000" "02000000" "04000000")
    assert raw.count(offsets) == 1
    for name, patch in (("past", "00000000" "02000000" "ff000000"), ("back", "00000000" "03000000" "02000000")):
        (tmp_path / f"{name}.arrows").write_bytes(raw.replace(offsets, bytes.fromhex(patch)))
        r = ingest(lake, name, tmp_path / f"{name}.arrows", check=False)
        assert r.returncode == 1 and "not a valid Arrow IPC file: offsets" in r.stderr, r.stderr
        assert not (lake.table(name) / "_delta_log").exists() and not list(lake.path.glob(f"{name}/*.parquet"))
    (tmp_path / "u.arrows").write_bytes(raw.replace(b"ab", b"a\xff"))
    r = ingest(lake, "u", tmp_path / "u.arrows", check=False)
    assert r.returncode == 1 and "not valid UTF-8" in r.stderr, r.stderr
    for name in ("z", "d", "cut", "u"):
        assert not (lake.table(name) / "_delta_log").exists() and not list(lake.path.glob(f"{name}/*.parquet"))


def test_encodings(lake, tmp_path):
    text = "id,name\n1,Zoë\n2,Müller\n"
    (tmp_path / "le.csv").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (tmp_path / "latin.csv").write_bytes(text.encode("latin-1"))
    (tmp_path / "be.csv").write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    want = [["1", "Zoë"], ["2", "Müller"]]
    for name in ("le", "bom"):
        ingest(lake, name, tmp_path / f"{name}.csv")
        assert lake.csv(f"SELECT * FROM {name} ORDER BY id") == want, name
        assert types(lake, name) == {"id": "long", "name": "string"}
    r = ingest(lake, "latin", tmp_path / "latin.csv", check=False)
    assert r.returncode == 1 and "line 2, column 5: not valid UTF-8" in r.stderr and "--encoding latin-1" in r.stderr
    ingest(lake, "latin", tmp_path / "latin.csv", "--encoding", "latin-1")
    assert lake.csv("SELECT * FROM latin ORDER BY id") == want
    r = ingest(lake, "be", tmp_path / "be.csv", check=False)
    assert r.returncode == 1 and "UTF-16 big-endian" in r.stderr
    r = ingest(lake, "x", tmp_path / "bom.csv", "--encoding", "ebcdic", check=False)
    assert r.returncode == 1 and 'unknown encoding "ebcdic"' in r.stderr


def test_long_fields(lake, tmp_path):
    """A 3 MB field (past the engine's default line limit) ingests whole. (Records past
    the 64 MiB limit are refused by the scan: tests/unit/test_util.c.)"""
    f = tmp_path / "long.csv"
    f.write_text("id,doc\n1,short\n2,\"" + "word " * 600_000 + "\"\n3,end\n")
    ingest(lake, "long", f)
    assert lake.csv("SELECT id, length(doc) FROM long ORDER BY id") == [["1", "5"], ["2", "3000000"], ["3", "3"]]


def _fields(lake, table):
    """The table's schema fields, from the latest metaData action in its log."""
    meta = None
    for f in sorted((lake.table(table) / "_delta_log").glob("*.json")):
        for line in f.read_text().splitlines():
            meta = json.loads(line).get("metaData", meta)
    return {f["name"]: f for f in json.loads(meta["schemaString"])["fields"]}


def test_ingest_keeps_not_null_and_field_metadata(lake, tmp_path):
    """An ingest that rewrites the schema (a new column, a widened one) keeps what the
    table declares of its existing columns: NOT NULL, and field metadata loch does not
    read itself (here a comment another writer put there)."""
    lake.sql("CREATE TABLE nn (id BIGINT NOT NULL, v VARCHAR)")
    log = lake.table("nn") / "_delta_log"
    v0 = json.loads([l for l in (log / "00000000000000000000.json").read_text().splitlines() if "metaData" in l][0])
    schema = json.loads(v0["metaData"]["schemaString"])
    schema["fields"][1]["metadata"] = {"comment": "the value"}
    v0["metaData"]["schemaString"] = json.dumps(schema)
    (log / "00000000000000000001.json").write_text(json.dumps(v0) + "\n")
    (tmp_path / "a.csv").write_text("id,v,extra\n1,a,x\n")
    lake.run("ingest", "nn", str(tmp_path / "a.csv"))
    f = _fields(lake, "nn")
    assert f["id"]["nullable"] is False and f["v"]["metadata"] == {"comment": "the value"}
    assert f["extra"]["nullable"] is True
    bad = lake.sql("INSERT INTO nn VALUES (NULL, 'b', 'y')", check=False)
    assert bad.returncode != 0 and "NOT NULL" in bad.stderr
    (tmp_path / "w.csv").write_text("id,v\n2,1.5\n")  # no widening of v (string), a plain append
    lake.run("ingest", "nn", str(tmp_path / "w.csv"))
    assert _fields(lake, "nn")["id"]["nullable"] is False


@pytest.mark.parametrize("body", ["id,v\n1,a\n,nullid\n", "v\nno id here\n"])
def test_ingest_refuses_null_in_not_null_column(lake, tmp_path, body):
    """A NULL for a NOT NULL column (an empty field, or a file without the column)
    fails the ingest naming the column, and leaves no file behind."""
    lake.sql("CREATE TABLE nn3 (id BIGINT NOT NULL, v VARCHAR)")
    (tmp_path / "n.csv").write_text(body)
    p = lake.run("ingest", "nn3", str(tmp_path / "n.csv"), check=False)
    assert p.returncode != 0 and 'column "id" is NOT NULL' in p.stderr, p.stderr
    assert lake.scalar("SELECT count(*) FROM nn3") == "0"
    assert not list(lake.table("nn3").glob("*.parquet")) and not list(lake.table("nn3").glob(".tmp-*"))
