build-san/obj/cli/main.o: cli/main.c cli/format.h include/loch/loch.h \
 include/loch/errors.h include/loch/lake.h include/loch/query.h \
 include/loch/table.h cli/shell.h
cli/format.h:
include/loch/loch.h:
include/loch/errors.h:
include/loch/lake.h:
include/loch/query.h:
include/loch/table.h:
cli/shell.h:
