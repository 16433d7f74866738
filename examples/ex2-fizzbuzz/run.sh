#!/bin/sh
# Example 2: FizzBuzz as a Service. Serves index.html and runs fizzbuzzer.py
# for every WebSocket connection.
#   ./run.sh            then open http://localhost:8080/
# Environment: PORT (8080), ADDRESS (127.0.0.1; ADDRESS= for all interfaces),
# WSPIPE (the built ../../src/wspipe, else wspipe on PATH).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${WSPIPE:-}" ]; then
    if [ -x "$here/../../src/wspipe" ]; then WSPIPE=$here/../../src/wspipe; else WSPIPE=wspipe; fi
fi
address=${ADDRESS-127.0.0.1}
set -- --port="${PORT:-8080}" --staticdir="$here"
[ -n "$address" ] && set -- "$@" --address="$address"
echo "ex2: open http://localhost:${PORT:-8080}/ (Ctrl-C stops)" >&2
# One process: on Ctrl-C wspipe stops itself and every fizzbuzzer it started.
exec "$WSPIPE" "$@" python3 "$here/fizzbuzzer.py"
