build-san/obj/src/util/error.o: src/util/error.c src/util/error.h \
 include/loch/errors.h
src/util/error.h:
include/loch/errors.h:
