build-san/obj/src/util/strmap.o: src/util/strmap.c src/util/strmap.h \
 src/util/error.h include/loch/errors.h
src/util/strmap.h:
src/util/error.h:
include/loch/errors.h:
