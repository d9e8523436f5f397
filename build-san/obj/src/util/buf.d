build-san/obj/src/util/buf.o: src/util/buf.c src/util/buf.h \
 src/util/error.h include/loch/errors.h
src/util/buf.h:
src/util/error.h:
include/loch/errors.h:
