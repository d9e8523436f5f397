build-san/obj/src/core/log.o: src/core/log.c src/core/log.h \
 src/util/arena.h src/util/buf.h src/util/error.h include/loch/errors.h \
 src/util/json.h src/util/misc.h
src/core/log.h:
src/util/arena.h:
src/util/buf.h:
src/util/error.h:
include/loch/errors.h:
src/util/json.h:
src/util/misc.h:
