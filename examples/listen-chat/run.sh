#!/bin/sh
# listen-chat: a chat with no chat server. wspipe serves the page and, in
# listen mode, lets every page listen and publish to the resource /chat.
#   ./run.sh            then open http://localhost:8080/ in two windows
# Environment: PORT (8080), ADDRESS (127.0.0.1; ADDRESS= for all interfaces),
# WSPIPE (the built ../../src/wspipe, else wspipe on PATH).
#
# The broker runs on its own and keeps each resource's last 100 states, so
# pages resume without losing a line when their network drops or when the
# gateway restarts (the gateway alone can be restarted: it reconnects).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${WSPIPE:-}" ]; then
    if [ -x "$here/../../src/wspipe" ]; then WSPIPE=$here/../../src/wspipe; else WSPIPE=wspipe; fi
fi
address=${ADDRESS-127.0.0.1}
dir=$(mktemp -d "${TMPDIR:-/tmp}/listen-chat.XXXXXX") || exit 1
"$WSPIPE" broker --socket="$dir/broker.sock" --history=100 &
broker=$!
gateway=
# Whatever ends this script (Ctrl-C, SIGTERM, the gateway's exit) ends both.
trap 'kill $gateway "$broker" 2>/dev/null; wait; rmdir "$dir" 2>/dev/null' EXIT
trap 'exit 0' INT TERM
# Bare --listen: every WebSocket path is a listen endpoint and no COMMAND is
# needed (--listen=/live would want one for the other paths); plain GETs
# still get the files of --staticdir. Browsers may publish only under /chat.
set -- --port="${PORT:-8080}" --staticdir="$here" --listen --listen-publish=/chat \
    --broker="$dir/broker.sock"
[ -n "$address" ] && set -- "$@" --address="$address"
echo "listen-chat: open http://localhost:${PORT:-8080}/ (Ctrl-C stops)" >&2
"$WSPIPE" "$@" &
gateway=$!
wait "$gateway"
