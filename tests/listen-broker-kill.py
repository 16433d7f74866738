#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode, the gateway's own broker: it runs as a child of the gateway
# on a private socket (a new 0700 directory under $TMPDIR, socket 0600);
# SIGKILLed, it is replaced within 1 s by exactly one new broker; scripts
# and browsers publish again and the WebSocket clients, never
# resubscribing, get updates for their subscriptions; SIGTERM to the
# gateway leaves no broker process, no socket and no directory behind.

import os
import signal
import stat
import subprocess
import time

import lib as L


def main(t):
    with L.Fixture() as fx:
        tmp = fx.path("tmp")
        os.mkdir(tmp, 0o700)
        gw = fx.gateway(["--listen", "--listen-publish"], tmpdir=tmp)

        found = L.wait_until(lambda: L.broker_children(gw.pid), 5.0)
        if not L.point(t, "the gateway runs its own broker as a child "
                       "(cmdline contains \"broker\")",
                       lambda: (bool(found), "children: %r" % [
                           (k, L.cmdline(k)) for k in
                           L.children_of(gw.pid)])):
            return
        old = found[0]
        fx.pids.append(old)
        sock = L.broker_socket_of(old)
        t.diag("broker pid %d socket %s" % (old, sock))

        def p_private():
            if sock is None:
                return False, "no socket in the broker's cmdline/env"
            d = os.path.dirname(sock)
            if os.path.dirname(d) != tmp:
                return False, "%s is not in a new directory under $TMPDIR " \
                    "(%s)" % (sock, tmp)
            dm = stat.S_IMODE(os.stat(d).st_mode)
            if not L.wait_until(lambda: os.path.exists(sock), 3.0):
                return False, "no socket file %s" % sock
            sm = os.stat(sock).st_mode
            return (dm == 0o700 and stat.S_ISSOCK(sm) and
                    stat.S_IMODE(sm) == 0o600,
                    "directory mode %o, socket mode %o" % (dm, sm))
        L.point(t, "private broker socket: new 0700 directory under "
                "$TMPDIR, socket mode 0600", p_private)

        L.sync_gateway(fx, gw.port, sock)
        a = fx.ws(gw.port)
        b = fx.ws(gw.port)
        a.send("subscribe /k")
        b.send("subscribe /k2")
        ok1, why1 = a.expect("ok subscribe /k")
        ok2, why2 = b.expect("ok subscribe /k2")
        if not (ok1 and ok2):
            raise RuntimeError("subscribe: %s %s" % (why1, why2))

        def p_before():
            st, _, err = L.wspipe_run(["publish", "--socket=" + sock, "/k",
                                       "before"])
            if st != 0:
                return False, err
            return L.expect_only(a, "update /k before")
        L.point(t, "before the kill: a script's publish reaches the "
                "subscriber", p_before)

        # SIGKILL; watch the gateway's broker children for 1.5 s.
        os.kill(old, signal.SIGKILL)
        t0 = time.monotonic()
        seen = {}
        while time.monotonic() - t0 < 1.5:
            for k in L.broker_children(gw.pid):
                if k != old and k not in seen:
                    seen[k] = time.monotonic() - t0
                    fx.pids.append(k)
            time.sleep(0.005)
        new = [k for k in seen if not L.dead(k)]

        def p_restart():
            if not seen:
                return False, "no new broker within 1.5 s"
            first = min(seen.values())
            return first <= 1.0, "new broker after %.2f s" % first
        L.point(t, "a new broker runs within 1 s of the SIGKILL", p_restart)
        L.point(t, "exactly one new broker (no restart storm)",
                lambda: (len(seen) == 1 and len(new) == 1,
                         "new brokers seen: %r, alive: %r" % (seen, new)))
        L.point(t, "the new broker serves the same socket",
                lambda: (bool(new) and L.broker_socket_of(new[0]) == sock
                         and L.wait_until(lambda: L.broker_answers(sock),
                                          2.0),
                         "socket %r" % (new and L.broker_socket_of(new[0]))))

        def p_after():
            st, _, err = L.wspipe_run(["publish", "--socket=" + sock, "/k",
                                       "after"])
            if st != 0:
                return False, "publish: %s" % err
            ok, why = L.expect_only(a, "update /k after", 3.0)
            if not ok:
                return False, "client a: " + why
            st, _, err = L.wspipe_run(["publish", "--socket=" + sock, "/k2",
                                       "after2"])
            return L.expect_only(b, "update /k2 after2", 3.0)
        L.point(t, "after the restart: scripts publish again and the "
                "existing clients get updates without resubscribing",
                p_after)

        def p_browser():
            b.send("publish /k from-b")
            ok, why = b.expect("ok publish /k")
            if not ok:
                return False, why
            return L.expect_only(a, "update /k from-b")
        L.point(t, "after the restart: a browser publish reaches the other "
                "client", p_browser)

        def p_stable():
            now = L.broker_children(gw.pid)
            return now == new, "brokers now %r, after the restart %r" % (
                now, new)
        L.point(t, "still just the one new broker", p_stable)

        def p_term():
            gw.proc.send_signal(signal.SIGTERM)
            try:
                st = gw.proc.wait(8)
            except subprocess.TimeoutExpired:
                return False, "gateway still running 8 s after SIGTERM"
            if st != 0:
                return False, "gateway exit %d" % st
            left = [k for k in [old] + list(seen)
                    if L.wait_until(lambda: L.dead(k), 2.0) is False
                    and any("broker" in x for x in L.cmdline(k))]
            if left:
                return False, "broker processes left: %r" % left
            if os.path.exists(sock):
                return False, "socket file %s left" % sock
            rest = os.listdir(tmp)
            return rest == [], "left in $TMPDIR: %r" % rest
        L.point(t, "SIGTERM to the gateway: exit 0, no broker process, no "
                "socket file or directory left", p_term)


if __name__ == "__main__":
    L.run(main, 60)
