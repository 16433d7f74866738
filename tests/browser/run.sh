#!/bin/sh
# Runs the browser end-to-end tests (e2e.mjs for the talk's demos, the
# console, TLS and subprotocols; listen-e2e.mjs for listen mode; TAP on
# stdout).
#   tests/browser/run.sh [CASE-NAME-PREFIX...]
# Installs what is missing when run as root on Debian (chromium, nodejs,
# npm, netcat-openbsd, tcl, redis-server; then `npm ci` here). Exits 77
# (skip) when no Chromium, node or playwright-core can be had; otherwise
# with e2e.mjs's status (0 all passed or skipped, 1 a case failed).
# Environment: WSPIPE (default <repo>/src/wspipe), CHROMIUM
# (/usr/bin/chromium), SCREENSHOT_DIR, E2E_DEBUG (see e2e.mjs).
here=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM

skip() {
    echo "1..0 # SKIP $*"
    echo "$0: skipped: $*" >&2
    exit 77
}

# Debian packages that provide what is missing.
pkgs=
[ -x "$CHROMIUM" ] || pkgs="$pkgs chromium"
command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
command -v npm >/dev/null 2>&1 || [ -d "$here/node_modules/playwright-core" ] || pkgs="$pkgs npm"
command -v nc >/dev/null 2>&1 || pkgs="$pkgs netcat-openbsd"
command -v tclsh >/dev/null 2>&1 || pkgs="$pkgs tcl"
command -v redis-server >/dev/null 2>&1 || pkgs="$pkgs redis-server"
if [ -n "$pkgs" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "$0: installing:$pkgs" >&2
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    timeout 900 apt-get install -y -q $pkgs >&2 ||
        { timeout 300 apt-get update -q >&2 &&
          timeout 900 apt-get install -y -q $pkgs >&2; } ||
        echo "$0: apt-get install$pkgs failed" >&2
fi
[ -x "$CHROMIUM" ] || skip "no Chromium at $CHROMIUM (apt-get install chromium)"
command -v node >/dev/null 2>&1 || skip "no node (apt-get install nodejs)"

if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
    command -v npm >/dev/null 2>&1 || skip "no npm to install playwright-core"
    echo "$0: npm ci in $here" >&2
    (cd "$here" && timeout 600 npm ci --no-audit --no-fund >&2) ||
        skip "npm ci failed: cannot install playwright-core"
fi

status=0
node "$here/e2e.mjs" "$@" || status=1
node "$here/listen-e2e.mjs" "$@" || status=1
exit $status
