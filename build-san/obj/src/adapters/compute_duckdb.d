build-san/obj/src/adapters/compute_duckdb.o: \
 src/adapters/compute_duckdb.c src/adapters/compute.h src/util/buf.h \
 src/util/error.h include/loch/errors.h src/util/json.h src/util/arena.h
src/adapters/compute.h:
src/util/buf.h:
src/util/error.h:
include/loch/errors.h:
src/util/json.h:
src/util/arena.h:
