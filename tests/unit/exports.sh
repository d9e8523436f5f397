#!/bin/sh
# The shared library exports the public API and nothing else: every defined dynamic
# symbol is named loch_* (include/loch/export.h says why). Usage: exports.sh libloch.so
lib=${1:?usage: exports.sh path/to/libloch.so}
syms=$(nm -D --defined-only "$lib") || { echo "exports: cannot read $lib"; exit 1; }
[ -n "$syms" ] || { echo "exports: $lib exports nothing"; exit 1; }
stray=$(printf '%s\n' "$syms" | awk 'NF >= 3 && $3 !~ /^loch_/ {print $3}')
if [ -n "$stray" ]; then
    echo "exports: $lib exports symbols outside the loch_ API:"
    printf '  %s\n' $stray
    exit 1
fi
echo "exports: $(printf '%s\n' "$syms" | wc -l) symbols, all loch_*"
