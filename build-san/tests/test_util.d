build-san/tests/test_util: tests/unit/test_util.c tests/unit/test.h \
 src/util/buf.h src/util/error.h include/loch/errors.h src/util/json.h \
 src/util/arena.h src/util/misc.h src/util/strmap.h
tests/unit/test.h:
src/util/buf.h:
src/util/error.h:
include/loch/errors.h:
src/util/json.h:
src/util/arena.h:
src/util/misc.h:
src/util/strmap.h:
