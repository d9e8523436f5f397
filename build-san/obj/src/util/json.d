build-san/obj/src/util/json.o: src/util/json.c src/util/json.h \
 src/util/arena.h src/util/buf.h src/util/error.h include/loch/errors.h
src/util/json.h:
src/util/arena.h:
src/util/buf.h:
src/util/error.h:
include/loch/errors.h:
