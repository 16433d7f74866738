#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode's budgets on the gateway, each a refusal that says so and
# frees up again:
#  - --listen-max-clients=3: the 4th listen upgrade gets HTTP 503, and a
#    place freed by a client that leaves is taken again;
#  - --listen-max-per-address=2: the 3rd listen upgrade from 127.0.0.1
#    gets HTTP 429, likewise freed again;
#  - --listen-max-subs=5: the 6th subscription of a client gets `error
#    subscribe R too many subscriptions`, resubscribing one it has is fine,
#    and another client is not limited by the first's;
#  - --listen-cache=65536: two resources with 40000-byte states, both
#    followed by client A; the gateway cannot cache both, yet client B
#    subscribing to either gets `ok subscribe` then its current state
#    (fetched again from the broker), and new states reach both clients.

import lib as L


def upgrade_status(port, path="/"):
    """The HTTP status a listen upgrade gets, and the raw client (open,
    for a 101)."""
    c = L.Client(port, timeout=5.0)
    r = c.upgrade(path)
    if r is None:
        c.close()
        return None, None
    if r.status != 101:
        c.close()
        return r.status, None
    return 101, c


def works(c, name):
    """(ok, diag): raw client c subscribes to name and gets its ok."""
    c.send_text("subscribe " + name)
    m = c.recv_message(5.0)
    return m == (L.TEXT, ("ok subscribe " + name).encode()), "got %r" % (m,)


def refused_then_freed(gw, limit, status):
    """limit upgrades succeed, the next gets status; closing one of them
    lets a new one in (polled: the gateway sees the close a moment
    later); the closed one's place is not counted twice."""
    held = []
    try:
        for i in range(limit):
            st, c = upgrade_status(gw.port)
            if st != 101:
                return False, "upgrade %d of %d answered %r" % (
                    i + 1, limit, st)
            held.append(c)
            ok, why = works(c, "/held/%d" % i)
            if not ok:
                return False, "client %d: %s" % (i + 1, why)
        st, c = upgrade_status(gw.port)
        if c is not None:
            c.close()
        if st != status:
            return False, "upgrade %d answered %r, wanted %d" % (
                limit + 1, st, status)
        # A plain HTTP request is not a listen client.
        r = L.fetch(gw.port, "/")
        if r.status in (429, 503):
            return False, "a plain GET answered %d too" % r.status
        held.pop(0).close()
        got = []

        def again():
            st, c = upgrade_status(gw.port)
            got.append(st)
            if c is not None:
                held.append(c)
            return st == 101
        if not L.wait_until(again, 5.0, 0.05):
            return False, "after a client left: %r" % got[-3:]
        ok, why = works(held[-1], "/held/again")
        if not ok:
            return False, "the new client: " + why
        st, c = upgrade_status(gw.port)
        if c is not None:
            c.close()
        return st == status, "then one more answered %r" % st
    finally:
        for c in held:
            c.close()


def main(t):
    with L.Fixture("wspipe-lbudgets") as fx:
        # --listen-max-clients
        s1 = fx.path("clients.sock")
        g1 = fx.gateway(["--listen", "--broker-socket=" + s1,
                         "--listen-max-clients=3"])
        L.point(t, "--listen-max-clients=3: the 4th listen upgrade -> HTTP "
                "503; after one leaves, a new one is admitted (and the 5th "
                "is refused again)", lambda: refused_then_freed(
                    g1, 3, 503))

        # --listen-max-per-address
        s2 = fx.path("addr.sock")
        g2 = fx.gateway(["--listen", "--broker-socket=" + s2,
                         "--listen-max-per-address=2"])
        L.point(t, "--listen-max-per-address=2: the 3rd listen upgrade from "
                "127.0.0.1 -> HTTP 429; after one leaves, a new one is "
                "admitted", lambda: refused_then_freed(g2, 2, 429))

        s3 = fx.path("subs.sock")
        g3 = fx.gateway(["--listen", "--broker-socket=" + s3,
                         "--listen-max-subs=5"])

        def p_default_many():
            held = []
            try:
                for i in range(20):
                    st, c = upgrade_status(g3.port)
                    if st != 101:
                        return False, "client %d answered %r" % (i + 1, st)
                    held.append(c)
                return True, None
            finally:
                for c in held:
                    c.close()
        L.point(t, "without those options, 20 listen clients from one "
                "address are admitted", p_default_many)

        # --listen-max-subs
        def p_max_subs():
            a = fx.ws(g3.port)
            for i in range(5):
                a.send("subscribe /s/%d" % i)
            ok, why = L.expect_seq(a, ["ok subscribe /s/%d" % i
                                       for i in range(5)], 5.0)
            if not ok:
                return False, "5 subscriptions: " + why
            a.send("subscribe /s/5")
            ok, why = a.expect("error subscribe /s/5 too many "
                               "subscriptions")
            if not ok:
                return False, "6th: " + why
            a.send("subscribe /s/2")
            ok, why = L.expect_only(a, "ok subscribe /s/2")
            if not ok:
                return False, "resubscribing one it has: " + why
            b = fx.ws(g3.port)
            b.send("subscribe /s/5")
            ok, why = b.expect("ok subscribe /s/5")
            if not ok:
                return False, "another client: " + why
            a.send("unsubscribe /s/0")
            a.send("subscribe /s/6")
            ok, why = L.expect_seq(a, ["ok unsubscribe /s/0",
                                       "ok subscribe /s/6"])
            if not ok:
                return False, "after unsubscribing one: " + why
            # The refused subscription really is none: no updates for it.
            c = L.LineConn(s3)
            try:
                c.send("publish /s/5 five")
                c.send("publish /s/6 six")
                c.lines_until_pong()
            finally:
                c.close()
            ok, why = L.expect_only(a, "update /s/6 six")
            if not ok:
                return False, "a's updates: " + why
            return L.expect_only(b, "update /s/5 five")
        L.point(t, "--listen-max-subs=5: the 6th -> `error subscribe R too "
                "many subscriptions` (no updates for it); resubscribing is "
                "fine; other clients are not limited; unsubscribing frees "
                "one", p_max_subs)

        # --listen-cache
        s4 = fx.path("cache.sock")
        g4 = fx.gateway(["--listen", "--broker-socket=" + s4,
                         "--listen-cache=65536"])
        L.sync_gateway(fx, g4.port, s4)
        one, two = "1" * 40000, "2" * 40000

        def p_cache():
            c = L.LineConn(s4)
            try:
                c.send("publish /c/1 " + one)
                c.send("publish /c/2 " + two)
                c.lines_until_pong()
            finally:
                c.close()
            a = fx.ws(g4.port)
            a.send("subscribe /c/1")
            ok, why = L.expect_seq(a, ["ok subscribe /c/1",
                                       "update /c/1 " + one])
            if not ok:
                return False, "A /c/1: " + why
            a.send("subscribe /c/2")
            ok, why = L.expect_seq(a, ["ok subscribe /c/2",
                                       "update /c/2 " + two])
            if not ok:
                return False, "A /c/2: " + why
            # 80000 bytes do not fit in 65536: /c/1's state was let go.
            b = fx.ws(g4.port)
            b.send("subscribe /c/1")
            ok, why = L.expect_seq(b, ["ok subscribe /c/1",
                                       "update /c/1 " + one], 5.0)
            if not ok:
                return False, "B /c/1: " + why
            b.send("subscribe /c/2")
            ok, why = L.expect_seq(b, ["ok subscribe /c/2",
                                       "update /c/2 " + two], 5.0)
            if not ok:
                return False, "B /c/2: " + why
            ok, why = L.no_more(a)
            if not ok:
                return False, "A got more: " + why
            return True, None
        L.point(t, "--listen-cache=65536, two followed 40000-byte states: a "
                "new subscriber of either gets `ok subscribe` then its "
                "current state (fetched again), nobody else gets extras",
                p_cache)

        def p_cache_again():
            # Several times, in turns, and a resubscription by A.
            a = fx.ws(g4.port)
            for name, data in (("/c/1", one), ("/c/2", two)) * 3:
                w = fx.ws(g4.port)
                w.send("subscribe " + name)
                ok, why = L.expect_seq(w, ["ok subscribe " + name,
                                           "update %s %s" % (name, data)],
                                       5.0)
                if not ok:
                    return False, "%s: %s" % (name, why)
                a.send("subscribe " + name)
                ok, why = L.expect_seq(a, ["ok subscribe " + name,
                                           "update %s %s" % (name, data)],
                                       5.0)
                if not ok:
                    return False, "resubscribing %s: %s" % (name, why)
                w.close()
            return True, None
        L.point(t, "--listen-cache=65536: subscribing to each in turns, "
                "three times, always brings the current state once",
                p_cache_again)

        def p_cache_update():
            a = fx.ws(g4.port)
            b = fx.ws(g4.port)
            for w in (a, b):
                w.send("subscribe /c/1")
                w.send("subscribe /c/2")
                got = w.collect(4, 5.0)
                if sorted(got) != sorted(["ok subscribe /c/1",
                                          "update /c/1 " + one,
                                          "ok subscribe /c/2",
                                          "update /c/2 " + two]):
                    return False, "subscribing: %r" % [L.trunc(g, 30)
                                                       for g in got]
            three = "3" * 40000
            c = L.LineConn(s4)
            try:
                c.send("publish /c/1 " + three)
                c.lines_until_pong()
            finally:
                c.close()
            for n, w in (("A", a), ("B", b)):
                ok, why = L.expect_only(w, "update /c/1 " + three)
                if not ok:
                    return False, "%s: %s" % (n, why)
            w = fx.ws(g4.port)
            w.send("subscribe /c/2")
            return L.expect_seq(w, ["ok subscribe /c/2",
                                    "update /c/2 " + two], 5.0)
        L.point(t, "--listen-cache=65536: a new 40000-byte state reaches "
                "both subscribers once; the other resource, let go, is "
                "still served to a newcomer", p_cache_update)

        for n, g in (("max-clients", g1), ("max-per-address", g2),
                     ("max-subs", g3), ("cache", g4)):
            L.point(t, "the %s gateway is still running" % n,
                    lambda g=g: (g.alive(), g.logtail()))


if __name__ == "__main__":
    L.run(main, 120)
