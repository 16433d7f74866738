#!/bin/sh
# Example 3: chat. Starts the chat server (chat.py or chat.tcl) on
# 127.0.0.1:7777, waits until it accepts connections, then runs wspipe,
# which serves index.html and client.js and connects every WebSocket to
# the chat server with netcat. Ctrl-C stops both.
#   ./run.sh py|tcl     then open http://localhost:8080/ in two windows
# Environment: PORT (8080), CHAT_PORT (7777), ADDRESS (127.0.0.1;
# ADDRESS= for all interfaces), WSPIPE (the built ../../src/wspipe, else
# wspipe on PATH). Needs nc from netcat-openbsd (for -N).
here=$(cd "$(dirname "$0")" && pwd)
case ${1:-} in
    py)  interp=python3 ;;
    tcl) interp=tclsh ;;
    *)   echo "usage: $0 py|tcl" >&2; exit 2 ;;
esac
if [ -z "${WSPIPE:-}" ]; then
    if [ -x "$here/../../src/wspipe" ]; then WSPIPE=$here/../../src/wspipe; else WSPIPE=wspipe; fi
fi
PORT=${PORT:-8080}
CHAT_PORT=${CHAT_PORT:-7777}
address=${ADDRESS-127.0.0.1}

chat_pid=
ws_pid=
cleanup() {
    trap - INT TERM EXIT
    [ -n "$ws_pid" ] && kill "$ws_pid" 2>/dev/null
    [ -n "$chat_pid" ] && kill "$chat_pid" 2>/dev/null
    [ -n "$ws_pid" ] && wait "$ws_pid" 2>/dev/null
    [ -n "$chat_pid" ] && wait "$chat_pid" 2>/dev/null
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup' EXIT

echo "Starting chat.$1 on 127.0.0.1:$CHAT_PORT" >&2
"$interp" "$here/chat.$1" "$CHAT_PORT" &
chat_pid=$!

# Wait (at most 10 s) until the chat server accepts connections.
tries=0
until nc -z 127.0.0.1 "$CHAT_PORT" 2>/dev/null; do
    if ! kill -0 "$chat_pid" 2>/dev/null; then
        echo "$0: chat server exited" >&2; wait "$chat_pid"; chat_pid=; exit 1
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 100 ]; then
        echo "$0: chat server not listening on 127.0.0.1:$CHAT_PORT" >&2; exit 1
    fi
    sleep 0.1
done

# Connect each WebSocket connection to the chat server. nc -N shuts the
# socket down when its stdin (the WebSocket) ends, so the server sees the
# client leave and nc exits.
set -- --port="$PORT" --staticdir="$here"
[ -n "$address" ] && set -- "$@" --address="$address"
echo "ex3: open http://localhost:$PORT/ in two windows (Ctrl-C stops)" >&2
"$WSPIPE" "$@" nc -N 127.0.0.1 "$CHAT_PORT" &
ws_pid=$!
# `wait` returns early when a trapped signal arrives; then the trap runs.
wait "$ws_pid"
status=$?
ws_pid=
exit "$status"
