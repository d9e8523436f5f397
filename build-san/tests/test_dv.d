build-san/tests/test_dv: tests/unit/test_dv.c src/core/dv.h \
 tests/unit/test.h src/util/error.h include/loch/errors.h
src/core/dv.h:
tests/unit/test.h:
src/util/error.h:
include/loch/errors.h:
