#!/bin/sh
# publishers, on demand: the same page as run.sh, but nothing runs until a
# page follows a resource.  The gateway's broker starts ondemand/stats
# (`vmstat -n 1`), ondemand/clock and ondemand/ticker (ticker.py) for the
# first subscriber of /stats, /clock and /ticker, and ends each 5 s after
# the last one left (--publishers, --publisher-grace); the log says so.
#   ./ondemand.sh       then open http://localhost:8080/, close it, watch ps
# Environment: PORT (8080), ADDRESS (127.0.0.1; ADDRESS= for all interfaces),
# WSPIPE (the built ../../src/wspipe, else wspipe on PATH).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${WSPIPE:-}" ]; then
    if [ -x "$here/../../src/wspipe" ]; then WSPIPE=$here/../../src/wspipe; else WSPIPE=wspipe; fi
fi
address=${ADDRESS-127.0.0.1}
set -- --port="${PORT:-8080}" --staticdir="$here" --listen \
    --publishers="$here/ondemand" --publisher-grace=5
[ -n "$address" ] && set -- "$@" --address="$address"
echo "ondemand: open http://localhost:${PORT:-8080}/ (Ctrl-C stops)" >&2
exec "$WSPIPE" "$@"
