/*
 * loch/loch.h - the whole public API of libloch.
 *
 * Conventions (libgit2's): functions return 0 or a negative LOCH_E* code and leave a
 * message in loch_error_last(); out-parameters come first; each constructor has one
 * _free that accepts NULL; option structs carry a version.
 */
#ifndef LOCH_H
#define LOCH_H

#define LOCH_VERSION "0.1.0"

#include "loch/errors.h"
#include "loch/lake.h"
#include "loch/query.h"
#include "loch/table.h"
#include "loch/write.h"
#include "loch/ingest.h"
#include "loch/server.h"
#include "loch/search.h"
#include "loch/ask.h"
#include "loch/sync.h"

#endif
