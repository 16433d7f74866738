#!/bin/sh
# listen-chat: a chat with no chat server. wspipe serves the page and, in
# listen mode, lets every page listen and publish to the resource /chat.
#   ./run.sh            then open http://localhost:8080/ in two windows
# Environment: PORT (8080), ADDRESS (127.0.0.1; ADDRESS= for all interfaces),
# WSPIPE (the built ../../src/wspipe, else wspipe on PATH).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${WSPIPE:-}" ]; then
    if [ -x "$here/../../src/wspipe" ]; then WSPIPE=$here/../../src/wspipe; else WSPIPE=wspipe; fi
fi
address=${ADDRESS-127.0.0.1}
# Bare --listen: every WebSocket path is a listen endpoint and no COMMAND is
# needed (--listen=/live would want one for the other paths); plain GETs
# still get the files of --staticdir. Browsers may publish only under /chat.
set -- --port="${PORT:-8080}" --staticdir="$here" --listen --listen-publish=/chat
[ -n "$address" ] && set -- "$@" --address="$address"
echo "listen-chat: open http://localhost:${PORT:-8080}/ (Ctrl-C stops)" >&2
# One process: on Ctrl-C wspipe stops itself and its broker.
exec "$WSPIPE" "$@"
