#!/bin/sh
# listen-calendar: the shared appointments calendar. One wspipe on one port
# serves the page (--staticdir), the CGI script /api/appointments (--cgidir)
# and listen mode (--listen); the script publishes each new calendar.
#   ./run.sh            then open http://localhost:8080/ in two windows
# Environment: PORT (8080), ADDRESS (127.0.0.1; ADDRESS= for all interfaces),
# WSPIPE (the built ../../src/wspipe, else wspipe on PATH),
# CALENDAR_DATA (where appointments.json lives; default ./data).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${WSPIPE:-}" ]; then
    if [ -x "$here/../../src/wspipe" ]; then WSPIPE=$here/../../src/wspipe; else WSPIPE=wspipe; fi
fi
# The CGI script runs elsewhere: give it an absolute path to the binary.
case $WSPIPE in
    /*) ;;
    */*) WSPIPE=$(cd "$(dirname "$WSPIPE")" && pwd)/$(basename "$WSPIPE") ;;
    *) WSPIPE=$(command -v "$WSPIPE") || { echo "run.sh: no wspipe found" >&2; exit 1; } ;;
esac
export WSPIPE_BIN="$WSPIPE"
export CALENDAR_DATA="${CALENDAR_DATA:-$here/data}"
rundir=$(mktemp -d "${TMPDIR:-/tmp}/listen-calendar.XXXXXX") || exit 1
sock=$rundir/broker.sock
address=${ADDRESS-127.0.0.1}
set -- --port="${PORT:-8080}" --staticdir="$here/public" --cgidir="$here/cgi-bin" \
    --listen --broker-socket="$sock" --passenv=PATH,LD_LIBRARY_PATH,WSPIPE_BIN,CALENDAR_DATA
[ -n "$address" ] && set -- "$@" --address="$address"

"$WSPIPE" "$@" &
pid=$!
# shellcheck disable=SC2317  # called from the trap
stop() {
    trap - INT TERM HUP
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -rf "$rundir"
    exit 0
}
trap stop INT TERM HUP

# Publish the stored calendar once the broker is up, so the retained state
# exists before anyone changes it (the page also GETs it for its first paint).
i=0
while [ ! -S "$sock" ] && [ $i -lt 50 ] && kill -0 "$pid" 2>/dev/null; do
    sleep 0.1; i=$((i + 1))
done
if [ -S "$sock" ]; then
    WSPIPE_BROKER=$sock "$here/cgi-bin/api/appointments" --publish ||
        echo "run.sh: could not publish the calendar" >&2
    echo "listen-calendar: open http://localhost:${PORT:-8080}/ (Ctrl-C stops)" >&2
fi
wait "$pid"
status=$?
rm -rf "$rundir"
exit $status
