#!/bin/sh
# listen-game: "50% of an Agar.io server". wspipe serves the page and, in
# listen mode, carries each tab's commands up (plain text, published to
# /game/in) and the game state down (JSON, /game/state); server.py, on the
# broker's socket, is the only game-specific code on the server side.
# Starts the gateway (its own broker at a known socket), then server.py;
# Ctrl-C or SIGTERM stops both.
#   ./run.sh            then open http://localhost:8080/ in two windows
# Environment: PORT (8080), ADDRESS (127.0.0.1; ADDRESS= for all interfaces),
# WSPIPE (the built ../../src/wspipe, else wspipe on PATH), PYTHON (python3).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${WSPIPE:-}" ]; then
    if [ -x "$here/../../src/wspipe" ]; then WSPIPE=$here/../../src/wspipe; else WSPIPE=wspipe; fi
fi
rundir=$(mktemp -d "${TMPDIR:-/tmp}/listen-game.XXXXXX") || exit 1
export WSPIPE_BROKER="$rundir/broker.sock"
address=${ADDRESS-127.0.0.1}
# Browsers may publish only under /game/in: /game/state is server.py's.
set -- --port="${PORT:-8080}" --staticdir="$here" --listen --listen-publish=/game/in \
    --broker-socket="$WSPIPE_BROKER"
[ -n "$address" ] && set -- "$@" --address="$address"

pids=
stop() {
    trap - INT TERM HUP
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill $pids 2>/dev/null
    # shellcheck disable=SC2086
    wait $pids 2>/dev/null
    rm -rf "$rundir"
    exit "${1:-0}"
}
trap stop INT TERM HUP

"$WSPIPE" "$@" &
gateway=$!
pids=$gateway
i=0
while [ ! -S "$WSPIPE_BROKER" ] && [ $i -lt 100 ] && kill -0 "$gateway" 2>/dev/null; do
    sleep 0.1; i=$((i + 1))
done
[ -S "$WSPIPE_BROKER" ] || { echo "run.sh: the gateway did not start" >&2; stop 1; }

# server.py finds the broker in WSPIPE_BROKER (and reconnects if it restarts).
"${PYTHON:-python3}" "$here/server.py" &
pids="$pids $!"
echo "listen-game: open http://localhost:${PORT:-8080}/ in two windows (Ctrl-C stops);" \
    "broker socket $WSPIPE_BROKER" >&2
wait "$gateway"
stop $?
