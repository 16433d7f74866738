#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode with a shared broker: `wspipe broker --socket=S` started on
# its own and two gateways with --broker=S.  A browser publish on gateway
# 1 reaches a subscriber on gateway 2; a script's publish to S reaches
# clients of both; each gateway keeps one broker connection whatever its
# number of clients; neither starts a broker of its own; stopping gateway
# 1 leaves the broker, its socket and gateway 2's clients undisturbed.

import os
import signal
import subprocess

import lib as L


def broker_conns(pid):
    """Sockets the broker process holds (listening one included)."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith(
                    "socket:"):
                n += 1
        except OSError:
            pass
    return n


def main(t):
    with L.Fixture() as fx:
        S = fx.path("shared.sock")
        bk = fx.broker(S)
        g1 = fx.gateway(["--listen", "--listen-publish", "--broker=" + S])
        g2 = fx.gateway(["--listen", "--broker=" + S])
        L.sync_gateway(fx, g1.port, S)
        L.sync_gateway(fx, g2.port, S)

        L.point(t, "with --broker neither gateway starts a broker of its own",
                lambda: (L.broker_children(g1.pid) == [] and
                         L.broker_children(g2.pid) == [],
                         "g1 %r g2 %r" % (L.broker_children(g1.pid),
                                          L.broker_children(g2.pid))))

        c1 = fx.ws(g1.port)
        c2 = fx.ws(g2.port)
        for c in (c1, c2):
            c.send("subscribe /both")
            ok, why = c.expect("ok subscribe /both")
            if not ok:
                raise RuntimeError(why)
        c2.send("subscribe /sh")
        ok, why = c2.expect("ok subscribe /sh")
        if not ok:
            raise RuntimeError(why)

        def p_cross():
            c1.send("publish /sh from gateway 1")
            ok, why = c1.expect("ok publish /sh")
            if not ok:
                return False, "publisher: " + why
            return L.expect_only(c2, "update /sh from gateway 1")
        L.point(t, "a client of gateway 1 publishes, a subscriber on "
                "gateway 2 gets it", p_cross)

        def p_script():
            st, _, err = L.wspipe_run(["publish", "--socket=" + S, "/both",
                                       "to everyone"])
            if st != 0:
                return False, err
            for name, c in (("gateway 1", c1), ("gateway 2", c2)):
                ok, why = L.expect_only(c, "update /both to everyone")
                if not ok:
                    return False, "%s: %s" % (name, why)
            # Gateway 2 now holds the state: a late subscriber there is
            # served it once, right after its ok.
            late = fx.ws(g2.port)
            late.send("subscribe /both")
            ok, why = L.expect_seq(late, ["ok subscribe /both",
                                          "update /both to everyone"])
            late.close()
            return ok, "late subscriber on gateway 2: %s" % why
        L.point(t, "a script publishing to S reaches the clients of both "
                "gateways, once each (and a late subscriber)", p_script)

        def p_one_conn():
            ws = [fx.ws(g2.port) for _ in range(20)]
            for i, w in enumerate(ws):
                w.send("subscribe /many/%d" % i)
            for i, w in enumerate(ws):
                ok, why = w.expect("ok subscribe /many/%d" % i)
                if not ok:
                    return False, why
            L.wspipe_run(["publish", "--socket=" + S, "/many/7", "seven"])
            ok, why = L.expect_only(ws[7], "update /many/7 seven")
            if not ok:
                return False, why
            # The listening socket and one per gateway; the script's
            # connection may take a moment to be closed.
            n = L.wait_until(lambda: broker_conns(bk.pid) == 3 and 3,
                             2.0) or broker_conns(bk.pid)
            for w in ws:
                w.close()
            return n == 3, "the broker holds %d sockets, wanted 3 (listening "\
                "+ one per gateway) with 21 clients on gateway 2" % n
        L.point(t, "a gateway keeps one broker connection whatever its "
                "number of clients (21 on gateway 2)", p_one_conn)

        def p_stop_g1():
            g1.proc.send_signal(signal.SIGTERM)
            try:
                st = g1.proc.wait(8)
            except subprocess.TimeoutExpired:
                return False, "gateway 1 still running 8 s after SIGTERM"
            if st != 0:
                return False, "gateway 1 exit %d" % st
            if bk.poll() is not None:
                return False, "broker exited %r" % bk.returncode
            if not os.path.exists(S):
                return False, "gateway 1 removed the shared socket"
            return L.broker_answers(S), "broker does not answer"
        L.point(t, "gateway 1 stops (SIGTERM, exit 0); the shared broker and "
                "its socket stay", p_stop_g1)

        def p_g2_ok():
            st, _, err = L.wspipe_run(["publish", "--socket=" + S, "/both",
                                       "after g1"])
            if st != 0:
                return False, err
            ok, why = L.expect_only(c2, "update /both after g1")
            if not ok:
                return False, why
            L.wspipe_run(["publish", "--socket=" + S, "/sh", "sh again"])
            return L.expect_only(c2, "update /sh sh again")
        L.point(t, "gateway 2's client still gets its updates", p_g2_ok)

        def p_g1_killed():
            g3 = fx.gateway(["--listen", "--broker=" + S])
            L.sync_gateway(fx, g3.port, S)
            c3 = fx.ws(g3.port)
            c3.send("subscribe /both")
            ok, why = c3.expect("ok subscribe /both")
            if not ok:
                return False, why
            g3.proc.kill()
            g3.proc.wait(5)
            L.wspipe_run(["publish", "--socket=" + S, "/both", "after kill"])
            ok, why = L.expect_only(c2, "update /both after kill")
            if not ok:
                return False, why
            return bk.poll() is None, "broker exited"
        L.point(t, "SIGKILL of a third gateway on S does not disturb gateway "
                "2's client or the broker", p_g1_killed)

        L.point(t, "gateway 2 still running",
                lambda: (g2.alive(), g2.logtail()))


if __name__ == "__main__":
    L.run(main, 60)
