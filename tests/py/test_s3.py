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
