"""A lake is named by a path or a URI (src/adapters/storage.h): every form reaches the
same lake from the command (--lake, $LOCH_LAKE) and from the server (--lake,
$LOCH_LAKE, the config file), and a location loch cannot serve is refused by name,
creating nothing."""
import os
import subprocess
import types
from urllib.parse import quote

import pytest

from conftest import LOCH
from test_server import Server


def loch(*args, env=None, cwd=None):
    e = {k: v for k, v in os.environ.items() if k not in ("LOCH_LAKE", "LOCH_FAULT") and not k.startswith("AWS_")}
    e.update(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")  # no credentials
    e.update(env or {})
    return subprocess.run([LOCH, *args], capture_output=True, text=True, env=e, cwd=cwd, timeout=300)


def forms(root):
    """Every way to name the directory root (whose name has a space) from its parent."""
    enc = quote(str(root))
    assert "%20" in enc
    return {"path": str(root), "relative": root.name, "file": f"file://{enc}",
            "localhost": f"file://localhost{enc}", "short": f"file:{enc}"}


@pytest.mark.parametrize("form", ["path", "relative", "file", "localhost", "short"])
def test_every_form_opens_the_same_lake(tmp_path, form):
    root = tmp_path / "a b"
    uri = forms(root)[form]
    p = loch("--lake", uri, "sql", "CREATE TABLE t AS SELECT 1 AS x", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (root / "t" / "_delta_log").is_dir()
    for other in forms(root).values():  # written by one form, read by every other
        p = loch("tables", env={"LOCH_LAKE": other}, cwd=tmp_path)
        assert p.returncode == 0 and "t" in p.stdout.split(), (other, p.stderr)
        p = loch("--lake", other, "sql", "SELECT x FROM t", "-f", "csv", cwd=tmp_path)
        assert p.stdout.split() == ["x", "1"], (other, p.stderr)
    assert sorted(os.listdir(tmp_path)) == ["a b"]  # no directory named "file:" or "a%20b"


def test_init_reports_the_directory(tmp_path):
    p = loch("--lake", f"file://{quote(str(tmp_path))}/new%20lake", "init")
    assert p.returncode == 0 and f"lake ready at {tmp_path}/new lake" in p.stderr, p.stderr
    p = loch("--lake", f"file://{tmp_path}/missing", "tables")
    assert p.returncode == 1 and f"no lake at file://{tmp_path}/missing" in p.stderr, p.stderr


@pytest.mark.parametrize("uri,words", [
    ("file://otherhost{d}/lake", 'file URI names host "otherhost"'),
    ("file://{d}/a%00b", "%00 (NUL) cannot be part of a path"),
    ("file://{d}/a%zz", "must start an escape"),
    ("file://{d}/a?b", "no query or fragment"),
    ("s3://bucket{d}/lake", "no AWS credentials"),
    ("s3://Bucket{d}/lake", "no AWS credentials"),  # credentials are looked for first
    ("gs://bucket{d}/lake", 'unknown URI scheme "gs"'),
    # found by the adversarial pass of issue 9: a directory was created, or named "file:"
    ("file://{d}/w/%C3", "not valid UTF-8"),
    ("file:relative", "a file URI needs an absolute path"),
    ("file:", "a file URI needs an absolute path"),
])
def test_refused_locations(tmp_path, uri, words):
    uri = uri.format(d=tmp_path)
    for how in ("flag", "env"):
        args, env = (["--lake", uri], None) if how == "flag" else ([], {"LOCH_LAKE": uri})
        p = loch(*args, "init", env=env, cwd=tmp_path)
        assert p.returncode == 1 and words in p.stderr and uri in p.stderr, (how, p.stderr)
        p = loch(*args, "serve", "--listen", "127.0.0.1:0", env=env, cwd=tmp_path)
        assert p.returncode != 0 and words in p.stderr, (how, p.stderr)
    assert list(tmp_path.iterdir()) == []  # nothing created, under any name


def test_server_takes_uris(tmp_path):
    root = tmp_path / "a b"
    uri = forms(root)["file"]
    assert loch("--lake", uri, "init").returncode == 0
    # from the config file (no --lake, no $LOCH_LAKE)
    cfg = tmp_path / "loch.toml"
    cfg.write_text(f'[server]\nlake = "{uri}"\n')
    s = Server(types.SimpleNamespace(path=""), "--config", str(cfg), env={"LOCH_LAKE": None})
    try:
        assert s.json("GET", "/v1/status")["lake"] == uri
        s.json("POST", "/v1/sql", {"sql": "CREATE TABLE t AS SELECT 1 AS x"})
    finally:
        assert s.stop() == 0
    assert (root / "t" / "_delta_log").is_dir()
    # from the environment, another form of the same lake
    s = Server(types.SimpleNamespace(path=forms(root)["localhost"]))
    try:
        assert s.json("POST", "/v1/sql", {"sql": "SELECT x FROM t"})["rows"] == [[1]]
        status, _, _ = s.req("POST", "/v1/tables/u/ingest?format=csv", body=b"a\n1\n")
        assert status == 200  # an upload goes through the lake's scratch directory
    finally:
        assert s.stop() == 0
    assert (root / "u" / "_delta_log").is_dir()
    assert sorted(os.listdir(tmp_path)) == ["a b", "loch.toml"]


def test_glob_characters_in_the_lake_path_are_literal(tmp_path):
    """The engine's readers glob a name with '*', '?' or '['; a lake at `l[1]` beside a
    lake at `l1` holding the same table must read its own data files and checkpoint."""
    for name, value in (("l1", 1), ("l[1]", 2), ("l*", 3)):
        for q in (f"CREATE TABLE t AS SELECT {value} AS x",
                  "ALTER TABLE t SET TBLPROPERTIES ('delta.checkpointInterval'='2')"):
            p = loch("--lake", str(tmp_path / name), "sql", q)
            assert p.returncode == 0, p.stderr
        for _ in range(2):  # a checkpoint at version 2 under the same name in each lake
            p = loch("--lake", str(tmp_path / name), "sql", f"INSERT INTO t VALUES ({value})")
            assert p.returncode == 0, p.stderr
        assert (tmp_path / name / "t" / "_delta_log" / "00000000000000000002.checkpoint.parquet").exists()
    for name, value in (("l[1]", 2), ("l*", 3), ("l1", 1)):
        p = loch("--lake", str(tmp_path / name), "sql", "SELECT count(*), min(x), max(x) FROM t", "-f", "csv")
        assert p.returncode == 0, p.stderr
        assert p.stdout.split()[1:] == [f"3,{value},{value}"], (name, p.stdout)
