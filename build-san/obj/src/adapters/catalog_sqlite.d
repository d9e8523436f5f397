build-san/obj/src/adapters/catalog_sqlite.o: \
 src/adapters/catalog_sqlite.c src/adapters/catalog.h src/util/error.h \
 include/loch/errors.h
src/adapters/catalog.h:
src/util/error.h:
include/loch/errors.h:
