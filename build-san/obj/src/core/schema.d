build-san/obj/src/core/schema.o: src/core/schema.c src/core/schema.h \
 src/util/arena.h src/util/buf.h src/util/error.h include/loch/errors.h \
 src/util/json.h
src/core/schema.h:
src/util/arena.h:
src/util/buf.h:
src/util/error.h:
include/loch/errors.h:
src/util/json.h:
