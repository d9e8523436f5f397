build-san/obj/src/util/arena.o: src/util/arena.c src/util/arena.h \
 src/util/error.h include/loch/errors.h
src/util/arena.h:
src/util/error.h:
include/loch/errors.h:
