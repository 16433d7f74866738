#!/bin/sh
# listen-sensors: a dashboard of every resource under /sensors/, however
# many there are and whenever they appear, from one pattern subscription
# (wspipe.listen("/sensors/*")).  The sensors are plain HTTP: each is a
# `curl -X POST` of its reading to /wspipe/live/sensors/NAME (sensors.sh),
# and `curl http://localhost:8080/wspipe/live/sensors/hall` reads one back.
# Starts the gateway, then sensors.sh; Ctrl-C or SIGTERM stops both.
#   ./run.sh            then open http://localhost:8080/
# Environment: PORT (8080), ADDRESS (127.0.0.1; ADDRESS= for all interfaces),
# WSPIPE (the built ../../src/wspipe, else wspipe on PATH), SENSORS (5).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${WSPIPE:-}" ]; then
    if [ -x "$here/../../src/wspipe" ]; then WSPIPE=$here/../../src/wspipe; else WSPIPE=wspipe; fi
fi
port=${PORT:-8080}
address=${ADDRESS-127.0.0.1}
# Anyone may publish under /sensors/: a demo on the loopback interface.
set -- --port="$port" --staticdir="$here" --listen \
    --listen-publish=/sensors/
[ -n "$address" ] && set -- "$@" --address="$address"

pids=
stop() {
    trap - INT TERM HUP
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill $pids 2>/dev/null
    # shellcheck disable=SC2086
    wait $pids 2>/dev/null
    exit "${1:-0}"
}
trap stop INT TERM HUP

"$WSPIPE" "$@" &
gateway=$!
pids=$gateway
echo "listen-sensors: open http://localhost:$port/ (Ctrl-C stops)" >&2
URL="http://${address:-127.0.0.1}:$port/wspipe/live/sensors" SENSORS=${SENSORS:-5} \
    sh "$here/sensors.sh" &
pids="$pids $!"
wait "$gateway"
stop $?
