build-san/tests/fuzz_replay: tests/unit/fuzz_replay.c \
 tests/unit/../../fuzz/fuzz_dv.c src/core/dv.h \
 tests/unit/../../fuzz/fuzz_log.c src/core/log.h src/util/arena.h \
 src/util/buf.h src/util/error.h include/loch/errors.h src/util/json.h \
 src/core/snapshot.h src/core/schema.h src/util/strmap.h \
 tests/unit/../../fuzz/fuzz_sqlscan.c src/core/sqlscan.h
tests/unit/../../fuzz/fuzz_dv.c:
src/core/dv.h:
tests/unit/../../fuzz/fuzz_log.c:
src/core/log.h:
src/util/arena.h:
src/util/buf.h:
src/util/error.h:
include/loch/errors.h:
src/util/json.h:
src/core/snapshot.h:
src/core/schema.h:
src/util/strmap.h:
tests/unit/../../fuzz/fuzz_sqlscan.c:
src/core/sqlscan.h:
