#!/usr/bin/env bash
# The demo behind `make demo`: a small lake at ./lake (or $LOCH_LAKE), Delta tables made
# with SQL, queried, time-travelled, and read back by delta-rs when the venv is there.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCH=${LOCH:-build/loch}
export LOCH_LAKE=${LOCH_LAKE:-lake}
step() { printf '\n\033[1m$ loch %s\033[0m\n' "$*"; "$LOCH" "$@"; }

rm -rf "$LOCH_LAKE/trips" "$LOCH_LAKE/big"
step init
step sql "CREATE TABLE trips (id BIGINT, city VARCHAR, fare DOUBLE)"
step sql "INSERT INTO trips VALUES (1,'Oslo',12.5),(2,'Lima',7.0),(3,'Oslo',30.25)"
step sql "INSERT INTO trips VALUES (4,'Kyoto',18.0)"
step sql "SELECT city, count(*) AS trips, sum(fare) AS fares FROM trips GROUP BY city ORDER BY fares DESC"
step sql "CREATE TABLE big AS SELECT range AS id, range % 97 AS k FROM range(10000000)"
step sql "SELECT k, count(*) FROM big WHERE k < 3 GROUP BY k ORDER BY k"
step sql "SELECT count(*) AS rows_at_v1 FROM \"trips@v1\""
step tables
step describe trips
step history trips
if [ -x .venv/bin/python ]; then
    printf '\n\033[1m$ python -c "deltalake.DeltaTable(...)"   # the same table, read by delta-rs\033[0m\n'
    .venv/bin/python -c "
import deltalake, sys
t = deltalake.DeltaTable(sys.argv[1])
rows = t.to_pyarrow_table().sort_by('id').to_pylist()
print('delta-rs sees version', t.version(), 'with', len(rows), 'rows:')
for r in rows:
    print('  ', r)
" "$LOCH_LAKE/trips"
fi

printf '\n\033[1m$ loch demo   # the staffing data set: generated, ingested, asked the seed questions\033[0m\n'
"$LOCH" demo
