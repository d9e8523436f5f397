build-san/obj/src/util/misc.o: src/util/misc.c src/util/misc.h \
 src/util/error.h include/loch/errors.h
src/util/misc.h:
src/util/error.h:
include/loch/errors.h:
