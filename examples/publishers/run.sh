#!/bin/sh
# publishers: scripts in three languages publish to wspipe's broker and one
# page shows it all live. Starts the gateway (--listen, its own broker at a
# known socket), then ticker.py (/ticker), ticker.tcl (/clock) and
# `vmstat 1 | wspipe publish /stats`; Ctrl-C stops them all.
#   ./run.sh            then open http://localhost:8080/
# Environment: PORT (8080), ADDRESS (127.0.0.1; ADDRESS= for all interfaces),
# WSPIPE (the built ../../src/wspipe, else wspipe on PATH).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${WSPIPE:-}" ]; then
    if [ -x "$here/../../src/wspipe" ]; then WSPIPE=$here/../../src/wspipe; else WSPIPE=wspipe; fi
fi
export WSPIPE_BIN="$WSPIPE"          # ticker.tcl's fallback when there is no socat
rundir=$(mktemp -d "${TMPDIR:-/tmp}/publishers.XXXXXX") || exit 1
export WSPIPE_BROKER="$rundir/broker.sock"
address=${ADDRESS-127.0.0.1}
set -- --port="${PORT:-8080}" --staticdir="$here" --listen --broker-socket="$WSPIPE_BROKER"
[ -n "$address" ] && set -- "$@" --address="$address"

pids=
stop() {
    trap - INT TERM HUP
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill $pids 2>/dev/null
    # shellcheck disable=SC2086
    wait $pids 2>/dev/null
    rm -rf "$rundir"
    exit 0
}
trap stop INT TERM HUP

"$WSPIPE" "$@" &
gateway=$!
pids=$gateway
i=0
while [ ! -S "$WSPIPE_BROKER" ] && [ $i -lt 50 ] && kill -0 "$gateway" 2>/dev/null; do
    sleep 0.1; i=$((i + 1))
done
[ -S "$WSPIPE_BROKER" ] || { echo "run.sh: the gateway did not start" >&2; stop; }

python3 "$here/ticker.py" /ticker &
pids="$pids $!"
tclsh "$here/ticker.tcl" /clock &
pids="$pids $!"
# `vmstat 1 | wspipe publish /stats`, through a FIFO so that both PIDs are known.
mkfifo "$rundir/stats"
if command -v vmstat >/dev/null; then
    vmstat -n 1 >"$rundir/stats" &
else                                   # no procps: the load average will do
    while sleep 1; do cat /proc/loadavg; done >"$rundir/stats" &
fi
pids="$pids $!"
"$WSPIPE" publish /stats <"$rundir/stats" &
pids="$pids $!"
echo "publishers: open http://localhost:${PORT:-8080}/ (Ctrl-C stops)" >&2
wait "$gateway"
stop
