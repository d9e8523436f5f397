"""Lakes in an S3-compatible bucket (issue 14). First, the request signature: loch's own
AWS Signature Version 4 (src/util/sigv4.c) must sign every request exactly as botocore
does, byte for byte, so that AWS, MinIO, R2 and moto accept it. Random S3 requests (keys
with any character, query parameters as S3 uses them, headers with odd spacing, session
tokens) are signed by botocore's S3SigV4Auth and checked by build/tests/test_sigv4."""
import json
import os
import random
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from conftest import LOCH

botocore = pytest.importorskip("botocore", reason="scripts/setup.sh installs boto3")
from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

TEST_SIGV4 = Path(LOCH).resolve().parent / "tests" / "test_sigv4"

KEY_CHARS = "abcXYZ019-_.~/ +=&%?#!$'()*,;:@[]\"<>\\^`{|}é→ሴ😀"


def random_text(rng, chars, lo, hi):
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def botocore_case(rng):
    """One random S3 request signed by botocore: the JSON the C test reads."""
    region = rng.choice(["us-east-1", "eu-north-1", "auto"])
    access, secret = "AKIA" + random_text(rng, "ABCDEFGHIJ0123456789", 16, 16), random_text(rng, KEY_CHARS[:20], 40, 40)
    token = random_text(rng, "abcDEF0123456789+/=", 20, 60) if rng.random() < 0.3 else None
    host = rng.choice(["127.0.0.1:5000", "bucket.s3.eu-north-1.amazonaws.com", "localhost:9000"])
    key = random_text(rng, KEY_CHARS, 0, 30)
    params = []
    for name in rng.sample(["list-type", "prefix", "continuation-token", "delimiter", "uploadId", "partNumber",
                            "max-keys", "start-after", "delete", "versionId"], rng.randint(0, 4)):
        params.append((name, "" if name == "delete" else random_text(rng, KEY_CHARS, 0, 12)))
    path = "/" + urllib.parse.quote(key, safe="/-_.~")
    query = "&".join(urllib.parse.quote(n, safe="-_.~") + "=" + urllib.parse.quote(v, safe="-_.~") for n, v in params)
    headers = {"Host": host}
    if rng.random() < 0.5:
        headers["Range"] = f"bytes={rng.randint(0, 99)}-{rng.randint(100, 999)}"
    if rng.random() < 0.3:
        headers["If-None-Match"] = "*"
    if rng.random() < 0.5:
        headers["Content-Type"] = rng.choice(["application/octet-stream", "application/json", "text/plain;  charset=utf-8"])
    if rng.random() < 0.4:
        headers["x-amz-meta-" + random_text(rng, "abc-", 1, 6)] = "  " + random_text(rng, "ab  c\t", 1, 10) + "  "
    body = random_text(rng, "xyz\n", 0, 100).encode() if rng.random() < 0.5 else b""
    method = rng.choice(["GET", "PUT", "HEAD", "DELETE", "POST"])
    req = AWSRequest(method=method, url=f"http://{host}{path}" + ("?" + query if query else ""), headers=headers,
                     data=body)
    S3SigV4Auth(Credentials(access, secret, token), "s3", region).add_auth(req)
    auth = req.headers["Authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    sent = {k.lower(): v for k, v in req.headers.items()}
    sent.setdefault("host", host)
    return {"key": access, "secret": secret, "region": region, "date": req.headers["X-Amz-Date"], "method": method,
            "path": "/" + key, "params": params, "headers": [[name, sent[name]] for name in signed],
            "payload": req.headers["X-Amz-Content-SHA256"], "authorization": auth}


def test_sigv4_signs_as_botocore_does(tmp_path):
    assert TEST_SIGV4.exists(), "make unit builds build/tests/test_sigv4"
    rng = random.Random(14)
    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(json.dumps(botocore_case(rng)) + "\n" for _ in range(400)))
    p = subprocess.run([str(TEST_SIGV4)], env=dict(os.environ, LOCH_SIGV4_CASES=str(cases)), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and "400 botocore signatures, 0 different" in p.stdout, p.stdout + p.stderr


# ---- the client against moto's server, and through a proxy that injects faults ------

TEST_S3 = Path(LOCH).resolve().parent / "tests" / "test_s3"


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto():
    """moto's S3 server on a loopback port, with a bucket: (endpoint, bucket)."""
    server_mod = pytest.importorskip("moto.server", reason="scripts/setup.sh installs moto[server]")
    import boto3
    port = free_port()
    s = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    s.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="loch")
    yield endpoint, "loch"
    s.stop()


class FaultProxy:
    """An HTTP proxy in front of the store that fails requests as told:
    "flaky": the first time a request is seen (its method, path and body) it fails, in
    turn answered 503 SlowDown without reaching the store, or reaching the store with its
    answer lost (the connection closed unanswered); sent again, it passes. So every
    request meets a fault, and every request that is tried again gets through, however
    many run at once. "down": every request is answered 503. "complete-lost": a multipart
    upload's Complete reaches the store and its answer is lost, and the one sent again is
    told NoSuchUpload, as S3 tells it once the upload is complete. "count": every request
    passes (with stall_after set, PUTs past that many are held unanswered until close).
    "cut-get": an object's GET gets half its body, with no length, and the connection closes.
    "hold-delete": the first batch delete (POST ?delete) waits until release is set, then
    passes, as does everything else. Counts what reached the store."""

    def __init__(self, upstream, mode):
        import http.client
        import http.server
        import threading
        proxy = self
        self.mode, self.n, self.forwarded, self.lock, self.seen = mode, 0, [], threading.Lock(), set()
        self.stall_after, self.puts, self.stalled, self.release = None, 0, threading.Event(), threading.Event()
        up_host, up_port = upstream.split("//")[1].split(":")

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.mode == "complete-lost" and self.command == "POST" and "uploadId=" in self.path:
                    with proxy.lock:
                        proxy.n += 1
                        first = proxy.n == 1
                    if not first:  # as S3 answers once the upload is complete: it is gone
                        msg = b"<Error><Code>NoSuchUpload</Code><Message>The upload does not exist</Message></Error>"
                        self.send_response(404)
                        self.send_header("Content-Length", str(len(msg)))
                        self.end_headers()
                        self.wfile.write(msg)
                        return
                    turn = 2  # the first Complete is done by the store and its answer lost
                elif proxy.mode in ("complete-lost", "count", "cut-get", "hold-delete"):
                    turn = 0
                else:
                    turn = None
                import hashlib
                seen = (self.command, self.path, hashlib.sha256(body).hexdigest())
                with proxy.lock:
                    again = seen in proxy.seen
                    proxy.seen.add(seen)
                    if turn is None:
                        proxy.n += 0 if again else 1
                        turn = 0 if again else 1 + proxy.n % 2  # 1: 503, 2: answer lost
                        turn = 1 if proxy.mode == "down" else turn
                if proxy.mode == "count" and self.command == "PUT" and proxy.stall_after is not None:
                    with proxy.lock:
                        proxy.puts += 1
                        stall = proxy.puts > proxy.stall_after
                    if stall:  # held until the proxy closes: the client is killed meanwhile
                        proxy.stalled.set()
                        proxy.release.wait()
                        self.close_connection = True
                        return
                if proxy.mode == "hold-delete" and self.command == "POST" and "delete" in self.path:
                    with proxy.lock:
                        first = not proxy.stalled.is_set()
                        proxy.stalled.set()
                    if first:
                        proxy.release.wait()
                if proxy.mode == "down" or turn == 1:
                    msg = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                c = http.client.HTTPConnection(up_host, int(up_port), timeout=60)
                c.request(self.command, self.path, body=body or None, headers=dict(self.headers))
                r = c.getresponse()
                data = r.read()
                with proxy.lock:
                    proxy.forwarded.append((self.command, self.path, r.status))
                if proxy.mode == "cut-get" and self.command == "GET" and "list-type" not in self.path and len(data) > 1:
                    self.send_response(r.status)  # half the object, no length, then the connection closes
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data[:len(data) // 2])
                    self.close_connection = True
                    return
                if turn == 2:  # the store did it; the client never hears
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                # a HEAD's length is the object's, which its empty body is not
                self.send_header("Content-Length", r.getheader("Content-Length", "0") if self.command == "HEAD"
                                 else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_one

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def run_client_tests(endpoint, bucket, faults=None):
    env = dict(os.environ, LOCH_S3_ENDPOINT=endpoint, LOCH_S3_BUCKET=bucket)
    if faults:
        env["LOCH_S3_FAULTS"] = faults
    p = subprocess.run([str(TEST_S3)], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_client_against_moto(moto):
    """GET (whole and ranged), PUT, conditional PUT (the second writer of a version gets
    EEXISTS), HEAD, DELETE (idempotent), LIST with a delimiter and over pages, odd keys."""
    assert TEST_S3.exists(), "make unit builds build/tests/test_s3"
    run_client_tests(*moto)


def test_client_through_faults(moto):
    """503 SlowDown and lost answers are tried again; a commit PUT whose answer was lost
    is found to be ours (not reported as a conflict, not written twice); when every try
    fails, the error says so and names the object."""
    import boto3
    endpoint, bucket = moto
    proxy = FaultProxy(endpoint, "flaky")
    try:
        run_client_tests(proxy.endpoint, bucket, "flaky")
        lost = [f for f in proxy.forwarded if f[0] == "PUT"]
        assert len(lost) > 20  # some PUTs reached the store twice: after their lost answers
    finally:
        proxy.close()
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="flaky/_delta_log/")["Contents"]]
    assert keys == [f"flaky/_delta_log/{i:020d}.json" for i in range(20)]
    for i in (0, 7, 19):
        assert s3.get_object(Bucket=bucket, Key=keys[i])["Body"].read() == f'{{"commit":{i}}}\n'.encode()
    # the multipart upload through the faults left no upload open
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    # a Complete done by the store whose answer is lost, then "NoSuchUpload": it succeeded
    proxy = FaultProxy(endpoint, "complete-lost")
    try:
        run_client_tests(proxy.endpoint, bucket, "complete-lost")
        assert proxy.n == 2  # the Complete, and the one sent again
    finally:
        proxy.close()
    proxy = FaultProxy(endpoint, "down")
    try:
        run_client_tests(proxy.endpoint, bucket, "down")
        assert proxy.forwarded == []
    finally:
        proxy.close()


SETTINGS_CASES = [
    # (environment, credentials file, config file)
    ({"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_REGION": "eu-north-1"}, None, None),
    ({}, "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = file-secret\n",
     "[default]\nregion = eu-west-1\n"),
    ({"AWS_PROFILE": "dev"},
     "# team keys\n[default]\naws_access_key_id=AKIADEF\naws_secret_access_key=def\n"
     "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = dev-secret\naws_session_token = tok\n",
     "[profile   dev]\nregion: ap-south-1\ns3 =\n  addressing_style = path\n  endpoint_url = http://127.0.0.1:9000\n"),
    ({"AWS_PROFILE": "cfg"}, None,
     "[profile cfg]\naws_access_key_id = AKIACFG\naws_secret_access_key = cfg-secret\nregion = us-west-2\n"
     "endpoint_url = http://localhost:4566\n"),
    ({"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_DEFAULT_REGION": "sa-east-1",
      "AWS_ENDPOINT_URL": "http://generic:1", "AWS_ENDPOINT_URL_S3": "http://s3only:2"},
     "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = file-secret\n", "[default]\nregion = x\n"),
    ({"AWS_PROFILE": "svc"}, "[svc]\naws_access_key_id = AKIASVC\naws_secret_access_key = svc-secret\n",
     "[profile svc]\nservices = local\nendpoint_url = http://everything:1\n[services local]\ns3 =\n"
     "  endpoint_url = http://127.0.0.1:5000\n"),
    ({"AWS_REGION": "eu-north-1", "AWS_DEFAULT_REGION": "us-east-2"},
     "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = file-secret\n",
     "[default]\ns3 =\n    addressing_style = virtual\n"),
]


def loch_settings(env):
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e.update(env, LOCH_S3_SETTINGS_PRINT="1")
    p = subprocess.run([str(TEST_S3)], env=e, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(next(line for line in p.stdout.splitlines() if line.startswith("{")))


@pytest.mark.parametrize("case", range(len(SETTINGS_CASES)))
def test_settings_resolve_as_botocore_does(case, tmp_path, monkeypatch):
    """Credentials, region, endpoint and addressing from the environment, the credentials
    file and the config file, with profiles, in the AWS CLI's order: loch and botocore
    agree (secrets compared by hash; loch never prints them)."""
    import hashlib
    import botocore.session
    env, creds, conf = SETTINGS_CASES[case]
    env = dict(env, HOME=str(tmp_path), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
               AWS_CONFIG_FILE=str(tmp_path / "config"))
    for name, text in (("credentials", creds), ("config", conf)):
        if text is not None:
            (tmp_path / name).write_text(text)
    got = loch_settings(env)
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = botocore.session.Session()
    c = s.get_credentials()
    h = lambda x: hashlib.sha256(x.encode()).hexdigest()[:16] if x else ""  # noqa: E731
    assert (got["access_key"], got["secret"], got["token"]) == (c.access_key, h(c.secret_key), h(c.token))
    # AWS_REGION first, as the AWS CLI v2 and the other SDKs read it (botocore does not)
    assert got["region"] == env.get("AWS_REGION", s.get_config_variable("region") or "")
    client = s.create_client("s3", region_name=got["region"] or "us-east-1")
    if got["endpoint"]:
        assert client.meta.endpoint_url == got["endpoint"]
    style = (s.get_scoped_config().get("s3") or {}).get("addressing_style")
    if style:
        assert got["path_style"] == (style == "path")
