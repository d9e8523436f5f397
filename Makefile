# loch - build, test and demo. `make` builds build/loch and build/libloch.so.
#   make test      build everything, run unit tests, fuzz-corpus replay and the peer tests
#   make demo      set up, build, run the demo on ./lake
#   make SAN=1     AddressSanitizer + UBSan build in build-san/
#   make WERROR=1  warnings are errors (CI)
#   make fuzz      libFuzzer targets (clang) in build-fuzz/

CC      ?= cc
SAN     ?= 0
WERROR  ?= 0
BUILD   ?= $(if $(filter 1,$(SAN)),build-san,build)
DUCKDB  := third_party/duckdb
LLAMA   := third_party/llama
MODELS  := $(CURDIR)/third_party/models

WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
           -Wformat=2 -Wimplicit-fallthrough
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -pthread $(WARN) -Iinclude -Isrc -isystem $(DUCKDB)/include \
           -isystem $(LLAMA)/include -DLOCH_MODEL_DIR='"$(MODELS)"' -MMD -MP
ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined,float-cast-overflow
endif
# llama.cpp, static (scripts/setup.sh builds it): C++ inside, hence libstdc++
LLAMA_LIBS := $(LLAMA)/lib/libllama.a $(LLAMA)/lib/libggml.a $(LLAMA)/lib/libggml-cpu.a $(LLAMA)/lib/libggml-base.a
LIBS    := -L$(DUCKDB)/lib -lduckdb -Wl,-rpath,$(CURDIR)/$(DUCKDB)/lib $(LLAMA_LIBS) -lstdc++ -lsqlite3 -lmicrohttpd -lcurl -lcrypto \
           -lpthread -lm

LIB_SRC := $(sort $(wildcard src/util/*.c src/core/*.c src/formats/*.c src/adapters/*.c src/ops/*.c src/ingest/*.c \
                             src/wal/*.c src/vector/*.c src/server/*.c src/*.c))
CLI_SRC := $(sort $(wildcard cli/*.c))
TEST_SRC:= $(sort $(wildcard tests/unit/test_*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/web_assets.o
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS   := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: test-s3 all deps test unit pytest fuzz fuzz-replay demo bench clean
all: $(BUILD)/loch $(BUILD)/libloch.so $(BUILD)/libloch.a

deps: $(DUCKDB)/include/duckdb.h $(LLAMA)/include/llama.h
$(DUCKDB)/include/duckdb.h $(LLAMA)/include/llama.h:
	scripts/setup.sh --no-python
# llama.cpp is built with loch's patches: a changed patch builds it again
$(LLAMA)/include/llama.h: $(wildcard scripts/patches/llama-*.patch)
$(LLAMA_LIBS): | $(LLAMA)/include/llama.h ;

$(BUILD)/obj/%.o: %.c | $(DUCKDB)/include/duckdb.h $(LLAMA)/include/llama.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The OpenAPI document, as a C string literal.
$(BUILD)/gen/openapi.inc: src/server/openapi.json
	@mkdir -p $(dir $@)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@
$(BUILD)/obj/src/server/openapi.o: CFLAGS += -I$(BUILD)/gen -Wno-overlength-strings
$(BUILD)/obj/src/server/openapi.o: $(BUILD)/gen/openapi.inc

# The browser UI (web/): esbuild (web/node_modules, which scripts/setup.sh fills from
# web/package-lock.json, after the other dependencies so that two setups never run at
# once) bundles web/src into build/web: app.js, which loads each tab's code (and its
# chunks: the editor, Arrow JS) as the tab is first shown, and app.css;
# scripts/web_assets.py writes them and the page into C as byte arrays (server/web.h).
WEB_SRC := web/index.html $(sort $(wildcard web/src/*.js web/src/*.css))
ESBUILD := web/node_modules/.bin/esbuild
web/node_modules/.package-lock.json: web/package-lock.json | $(DUCKDB)/include/duckdb.h $(LLAMA)/include/llama.h
	scripts/setup.sh --no-python
$(BUILD)/web/bundled: $(WEB_SRC) web/node_modules/.package-lock.json
	@rm -rf $(BUILD)/web && mkdir -p $(BUILD)/web
	$(ESBUILD) web/src/main.js --bundle --splitting --minify --format=esm --target=es2022 --legal-comments=eof \
	  --entry-names=app --chunk-names=chunk-[hash] --log-level=warning --outdir=$(BUILD)/web
	$(ESBUILD) web/src/style.css --minify --log-level=warning --outfile=$(BUILD)/web/app.css
	@touch $@
$(BUILD)/gen/web_assets.c: scripts/web_assets.py web/index.html $(BUILD)/web/bundled
	@mkdir -p $(dir $@)
	python3 scripts/web_assets.py $@ /=web/index.html \
	  $$(for f in $(BUILD)/web/*.js $(BUILD)/web/*.css; do echo /ui/$${f##*/}=$$f; done)
$(BUILD)/obj/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libloch.a: $(LIB_OBJ)
	@rm -f $@; ar rcs $@ $^
# (--exclude-libs: llama.cpp's symbols stay inside; only loch_* leave the library)
$(BUILD)/libloch.so: $(LIB_OBJ) $(LLAMA_LIBS)
	$(CC) -shared -o $@ $(LIB_OBJ) $(LDFLAGS) $(LIBS) -Wl,--exclude-libs,ALL
$(BUILD)/loch: $(CLI_OBJ) $(BUILD)/libloch.a $(LLAMA_LIBS)
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libloch.a $(LDFLAGS) $(LIBS) -ledit

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libloch.a $(LLAMA_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libloch.a $(LDFLAGS) $(LIBS)

# The public headers compile alone as C99 and as C++.
$(BUILD)/tests/headertest.ok: $(wildcard include/loch/*.h)
	@mkdir -p $(dir $@)
	echo '#include "loch/loch.h"' | $(CC) -std=c99 -Wall -Wextra -Werror -Iinclude -x c -fsyntax-only -
	echo '#include "loch/loch.h"' | c++ -Wall -Wextra -Werror -Iinclude -x c++ -fsyntax-only -
	@touch $@

# Only the public API (loch_*, marked LOCH_EXTERN) leaves libloch.so: tests/unit/exports.sh.
# The embedding model (scripts/setup.sh converts it; test_embed compares it with
# sentence-transformers).
EMBED_MODEL := $(MODELS)/all-minilm-l6-v2.f16.gguf $(MODELS)/all-minilm-l6-v2.bf16.gguf
$(EMBED_MODEL):
	scripts/setup.sh

unit: $(TESTS) $(BUILD)/tests/fuzz_replay $(BUILD)/tests/headertest.ok $(BUILD)/bench_core $(BUILD)/libloch.so \
      $(EMBED_MODEL)
	@p=0; f=0; for t in $(TESTS); do if $$t; then p=$$((p+1)); else f=$$((f+1)); fi; done; \
	 if $(BUILD)/tests/fuzz_replay tests/fuzz/corpus; then p=$$((p+1)); else f=$$((f+1)); fi; \
	 if tests/unit/exports.sh $(BUILD)/libloch.so; then p=$$((p+1)); else f=$$((f+1)); fi; \
	 echo "unit: $$p passed, $$f failed"; [ $$f -eq 0 ]

# Every fuzz target is also linked with a plain driver that replays its corpus.
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
$(BUILD)/tests/fuzz_replay: tests/unit/fuzz_replay.c $(FUZZ_SRC) $(BUILD)/libloch.a $(LLAMA_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ tests/unit/fuzz_replay.c $(BUILD)/libloch.a $(LDFLAGS) $(LIBS)

fuzz: $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
build-fuzz/%: fuzz/%.c $(LIB_SRC) $(BUILD)/gen/openapi.inc $(BUILD)/gen/web_assets.c
	@mkdir -p build-fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -Iinclude -Isrc -I$(BUILD)/gen -I$(LLAMA)/include -DLOCH_MODEL_DIR='"$(MODELS)"' \
	  -I$(DUCKDB)/include -o $@ $< $(LIB_SRC) $(BUILD)/gen/web_assets.c $(LIBS)

# The peer tests run in PYTEST_JOBS processes (pytest-xdist), a file to a process: each
# test has its own lake and loch's own processes, and they wait on subprocesses, fsyncs
# and JVMs often enough that two share two cores well. At most four (each may start Spark).
PYTEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
pytest: all
	scripts/setup.sh
	LOCH_BIN=$(CURDIR)/$(BUILD)/loch .venv/bin/python -m pytest -q -n $(PYTEST_JOBS) --dist loadfile --durations=25 tests/py

test: deps
	$(MAKE) all unit
	$(MAKE) pytest

# The command and HTTP tests again, on lakes in a bucket (moto's S3 server): tests that
# open a lake's files themselves are skipped there (tests/py/conftest.py: LOCH_TEST_LAKE).
S3_TESTS := $(addprefix tests/py/,test_cli.py test_dml.py test_server.py test_ingest.py test_maintain.py \
	test_cdf.py test_catalog_shell.py test_documented.py)
test-s3: all
	scripts/setup.sh
	LOCH_TEST_LAKE=s3 LOCH_BIN=$(CURDIR)/$(BUILD)/loch .venv/bin/python -m pytest -q -n $(PYTEST_JOBS) --dist loadfile $(S3_TESTS)

demo: deps all
	scripts/setup.sh
	scripts/demo.sh

$(BUILD)/bench_core: bench/bench_core.c bench/sha256_ref.c bench/sha256_ref.h $(BUILD)/libloch.a $(LLAMA_LIBS)
	$(CC) $(CFLAGS) -o $@ bench/bench_core.c bench/sha256_ref.c $(BUILD)/libloch.a $(LDFLAGS) $(LIBS)

bench: all $(BUILD)/bench_core
	scripts/setup.sh
	.venv/bin/python bench/run.py

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
