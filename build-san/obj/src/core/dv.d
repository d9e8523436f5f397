build-san/obj/src/core/dv.o: src/core/dv.c src/core/dv.h src/util/error.h \
 include/loch/errors.h
src/core/dv.h:
src/util/error.h:
include/loch/errors.h:
