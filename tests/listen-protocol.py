#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode, browser protocol (wspipe --listen): subscribe and its ok;
# a script's publish (--socket and $WSPIPE_BROKER) reaches every
# subscriber; retained state for a late subscriber, once (also when the
# gateway already holds it); publish order kept over 200 states; 50
# resources over one socket; unsubscribe; ping/pong; counts are exact
# (a ping after the expected messages must be answered by the next one);
# each kind of malformed message answered with an error while the
# connection stays usable (with the exact limits: 256-byte resource,
# 65536-byte data); binary message -> close 1003; 1024 subscriptions at
# most; subscribing twice is one subscription.

import lib as L


def usable(w):
    """(ok, diag): the connection still answers ping with pong."""
    w.send("ping")
    return w.expect("pong")


def main(t):
    with L.Fixture() as fx:
        sock = fx.path("broker.sock")
        gw = fx.gateway(["--listen", "--listen-publish",
                         "--broker-socket=" + sock])
        L.sync_gateway(fx, gw.port, sock)
        port = gw.port
        ws = lambda: fx.ws(port, "/")

        def publish(res, data, env=False):
            if env:
                return L.wspipe_run(["publish", res, data],
                                    env={"WSPIPE_BROKER": sock})
            return L.wspipe_run(["publish", "--socket=" + sock, res, data])

        a = ws()

        def p_subscribe():
            a.send("subscribe /a")
            return a.expect("ok subscribe /a")
        L.point(t, "subscribe /a -> ok subscribe /a", p_subscribe)

        def p_fanout():
            subs = [a] + [ws() for _ in range(2)]
            for s in subs[1:]:
                s.send("subscribe /a")
                ok, why = s.expect("ok subscribe /a")
                if not ok:
                    return False, why
            st, out, err = publish("/a", "hello  wide world ")
            if st != 0:
                return False, "wspipe publish exit %d: %s" % (st, err)
            for i, s in enumerate(subs):
                ok, why = L.expect_only(s, "update /a hello  wide world ")
                if not ok:
                    return False, "subscriber %d: %s" % (i, why)
            return True, None
        L.point(t, "wspipe publish --socket=S reaches every subscriber "
                "(3) as `update R data`, spaces kept", p_fanout)

        def p_env():
            st, out, err = publish("/a", "via-env", env=True)
            if st != 0:
                return False, "exit %d: %s" % (st, err)
            return L.expect_only(a, "update /a via-env")
        L.point(t, "wspipe publish with $WSPIPE_BROKER reaches the "
                "subscriber", p_env)

        def p_retained():
            st, _, err = publish("/ret", "early state")
            if st != 0:
                return False, "exit %d: %s" % (st, err)
            w = ws()
            w.send("subscribe /ret")
            return L.expect_seq(w, ["ok subscribe /ret",
                                    "update /ret early state"])
        L.point(t, "a state published before anyone subscribed arrives "
                "right after ok subscribe, once", p_retained)

        def p_cached():
            # The gateway now holds /ret's state (the subscriber above
            # keeps it subscribed): a second subscriber is served from
            # there, and must get it exactly once too.
            w = ws()
            w.send("subscribe /ret")
            ok, why = L.expect_seq(w, ["ok subscribe /ret",
                                       "update /ret early state"])
            if not ok:
                return False, "second subscriber: " + why
            w.send("subscribe /ret")
            ok, why = L.expect_seq(w, ["ok subscribe /ret",
                                       "update /ret early state"])
            if not ok:
                return False, "resubscribing: " + why
            return True, None
        L.point(t, "a later subscriber on the same gateway, and a "
                "resubscription, get the held state once", p_cached)

        def p_order():
            w = ws()
            w.send("subscribe /ord")
            ok, why = w.expect("ok subscribe /ord")
            if not ok:
                return False, why
            ok, why = L.subscribed(w, sock, "/ord")
            if not ok:
                return False, why
            c = L.LineConn(sock)
            try:
                for i in range(200):
                    c.send("publish /ord n%03d" % i)
                extra = c.lines_until_pong()
            finally:
                c.close()
            if extra:
                return False, "broker answered %r" % extra[:3]
            return L.expect_seq(w, ["update /ord n%03d" % i
                                    for i in range(200)], 5.0)
        L.point(t, "200 publishes arrive in publish order, none lost",
                p_order)

        def p_many():
            w = ws()
            for i in range(50):
                w.send("subscribe /r/%d" % i)
            ok, why = L.expect_seq(w, ["ok subscribe /r/%d" % i
                                       for i in range(50)])
            if not ok:
                return False, why
            c = L.LineConn(sock)
            try:
                for i in reversed(range(50)):
                    c.send("publish /r/%d value-of-%d" % (i, i))
                c.lines_until_pong()
            finally:
                c.close()
            return L.expect_seq(w, ["update /r/%d value-of-%d" % (i, i)
                                    for i in reversed(range(50))])
        L.point(t, "50 resources over one socket: each update names its "
                "resource", p_many)

        def p_unsub():
            w = ws()
            w.send("subscribe /u")
            w.send("subscribe /u-probe")
            ok, why = L.expect_seq(w, ["ok subscribe /u",
                                       "ok subscribe /u-probe"])
            if not ok:
                return False, why
            publish("/u", "u1")
            ok, why = w.expect("update /u u1")
            if not ok:
                return False, "before unsubscribe: " + why
            w.send("unsubscribe /u")
            ok, why = w.expect("ok unsubscribe /u")
            if not ok:
                return False, why
            publish("/u", "u2")
            publish("/u-probe", "probe")
            return L.expect_only(w, "update /u-probe probe")
        L.point(t, "unsubscribe -> ok unsubscribe, no more updates "
                "for it", p_unsub)

        def p_ping():
            w = ws()
            w.send("ping")
            return w.expect("pong")
        L.point(t, "ping -> pong", p_ping)

        bad = [
            ("unknown verb", "frobnicate /x"),
            ("subscribe with no resource", "subscribe"),
            ("subscribe with an empty resource", "subscribe "),
            ("resource with a space (subscribe a b)", "subscribe a b"),
            ("resource with a control character", "subscribe /a\x01b"),
            ("resource of 257 bytes", "subscribe /" + "r" * 256),
            ("data of 65537 bytes", "publish /big " + "d" * 65537),
            ("newline in data", "publish /nl one\ntwo"),
            ("empty message", ""),
        ]
        shared = ws()
        for name, msg in bad:
            def p_bad(msg=msg):
                shared.send(msg)
                try:
                    got = shared.recv(2.0)
                except L.Timeout:
                    return False, "no answer to %r" % L.trunc(msg)
                except L.Closed as e:
                    return False, "closed %s" % e.args[0]
                if not got.startswith("error ") or len(got) < 10:
                    return False, "sent %r, got %r" % (L.trunc(msg),
                                                       L.trunc(got))
                return usable(shared)
            L.point(t, "%s -> `error ...`, connection stays usable" % name,
                    p_bad)

        def p_limits_ok():
            w = ws()
            r256 = "/" + "r" * 255
            w.send("subscribe " + r256)
            ok, why = w.expect("ok subscribe " + r256)
            if not ok:
                return False, "256-byte resource: " + why
            w.send("subscribe /big")
            ok, why = w.expect("ok subscribe /big")
            if not ok:
                return False, why
            data = "D" * 65536
            w.send("publish /big " + data)
            return L.expect_seq(w, ["ok publish /big",
                                    "update /big " + data])
        L.point(t, "limits are inclusive: a 256-byte resource and "
                "65536 bytes of data are accepted", p_limits_ok)

        def p_empty_data():
            w = ws()
            w.send("subscribe /empty")
            ok, why = w.expect("ok subscribe /empty")
            if not ok:
                return False, why
            w.send("publish /empty ")
            return L.expect_seq(w, ["ok publish /empty", "update /empty "])
        L.point(t, "empty data is a state (`publish R ` -> `update R `)",
                p_empty_data)

        def p_binary():
            c = L.Client(port, handshake=True, timeout=3.0)
            try:
                c.send_text("subscribe /bin")
                op, data = c.recv_message(2.0)
                if data != b"ok subscribe /bin":
                    return False, "subscribe answered %r %r" % (op, data)
                c.send_frame(L.BINARY, b"subscribe /x")
                return c.expect_close(1003)
            finally:
                c.close()
        L.point(t, "binary message -> close 1003", p_binary)

        def p_maxsubs():
            w = ws()
            for i in range(1024):
                w.send("subscribe /m/%d" % i)
            got = w.collect(1024, 10.0)
            want = ["ok subscribe /m/%d" % i for i in range(1024)]
            if got != want:
                bad = [(i, g) for i, g in enumerate(got) if g != want[i]]
                return False, "%d of 1024 answers; first wrong %r" % (
                    len(got), bad[:1])
            w.send("subscribe /m/1024")
            try:
                m = w.recv(2.0)
            except (L.Timeout, L.Closed) as e:
                return False, "no answer to the 1025th: %r" % e
            if not m.startswith("error "):
                return False, "1025th subscription answered %r" % m
            # Still usable, and a resubscription of one it has is fine.
            w.send("subscribe /m/7")
            ok, why = w.expect("ok subscribe /m/7")
            if not ok:
                return False, "resubscribe after the limit: " + why
            return usable(w)
        L.point(t, "1025th subscription -> error (1024 ok), connection "
                "usable", p_maxsubs)

        def p_twice():
            w = ws()
            w.send("subscribe /twice")
            w.send("subscribe /twice")
            w.send("subscribe /twice-probe")
            ok, why = L.expect_seq(w, ["ok subscribe /twice",
                                       "ok subscribe /twice",
                                       "ok subscribe /twice-probe"])
            if not ok:
                return False, why
            publish("/twice", "once")
            publish("/twice-probe", "probe")
            return L.expect_seq(w, ["update /twice once",
                                    "update /twice-probe probe"])
        L.point(t, "subscribing twice -> one update per publish", p_twice)

        def p_twice_unsub():
            w = ws()
            w.send("subscribe /t2")
            w.send("subscribe /t2")
            w.send("unsubscribe /t2")
            w.send("subscribe /t2-probe")
            ok, why = L.expect_seq(w, ["ok subscribe /t2", "ok subscribe /t2",
                                       "ok unsubscribe /t2",
                                       "ok subscribe /t2-probe"])
            if not ok:
                return False, why
            publish("/t2", "x")
            publish("/t2-probe", "probe")
            return L.expect_only(w, "update /t2-probe probe")
        L.point(t, "subscribing twice then unsubscribing once ends the "
                "subscription (it was one)", p_twice_unsub)

        L.point(t, "the gateway is still running", lambda: (
            gw.alive(), gw.logtail()))


if __name__ == "__main__":
    L.run(main, 90)
