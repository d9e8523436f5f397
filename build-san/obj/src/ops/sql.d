build-san/obj/src/ops/sql.o: src/ops/sql.c src/ops/ops.h \
 src/adapters/catalog.h src/adapters/compute.h src/util/buf.h \
 src/util/error.h include/loch/errors.h src/core/snapshot.h \
 src/core/log.h src/util/arena.h src/util/json.h src/core/schema.h \
 src/util/strmap.h src/core/storage.h include/loch/loch.h \
 include/loch/lake.h include/loch/query.h include/loch/table.h \
 src/core/sqlscan.h
src/ops/ops.h:
src/adapters/catalog.h:
src/adapters/compute.h:
src/util/buf.h:
src/util/error.h:
include/loch/errors.h:
src/core/snapshot.h:
src/core/log.h:
src/util/arena.h:
src/util/json.h:
src/core/schema.h:
src/util/strmap.h:
src/core/storage.h:
include/loch/loch.h:
include/loch/lake.h:
include/loch/query.h:
include/loch/table.h:
src/core/sqlscan.h:
