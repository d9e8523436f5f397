build-san/obj/src/adapters/storage_local.o: src/adapters/storage_local.c \
 src/core/storage.h src/util/buf.h src/util/error.h include/loch/errors.h \
 src/util/misc.h
src/core/storage.h:
src/util/buf.h:
src/util/error.h:
include/loch/errors.h:
src/util/misc.h:
