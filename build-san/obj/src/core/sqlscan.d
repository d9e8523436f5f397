build-san/obj/src/core/sqlscan.o: src/core/sqlscan.c src/core/sqlscan.h \
 src/util/error.h include/loch/errors.h
src/core/sqlscan.h:
src/util/error.h:
include/loch/errors.h:
