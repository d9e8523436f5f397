build-san/obj/cli/format.o: cli/format.c cli/format.h include/loch/loch.h \
 include/loch/errors.h include/loch/lake.h include/loch/query.h \
 include/loch/table.h
cli/format.h:
include/loch/loch.h:
include/loch/errors.h:
include/loch/lake.h:
include/loch/query.h:
include/loch/table.h:
