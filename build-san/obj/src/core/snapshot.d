build-san/obj/src/core/snapshot.o: src/core/snapshot.c \
 src/core/snapshot.h src/core/log.h src/util/arena.h src/util/buf.h \
 src/util/error.h include/loch/errors.h src/util/json.h src/core/schema.h \
 src/util/strmap.h
src/core/snapshot.h:
src/core/log.h:
src/util/arena.h:
src/util/buf.h:
src/util/error.h:
include/loch/errors.h:
src/util/json.h:
src/core/schema.h:
src/util/strmap.h:
