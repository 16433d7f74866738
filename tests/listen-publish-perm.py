#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode, who may publish from a browser: nobody by default (error
# line, connection kept, nothing delivered); everybody with
# --listen-publish (the update reaches other subscribers and the publisher
# itself); only names starting with PREFIX with --listen-publish=PREFIX;
# and a browser publish while the broker is unreachable is answered
# `error ... broker unavailable`.

import lib as L


def main(t):
    with L.Fixture() as fx:
        s0, s1, s2 = (fx.path("b%d.sock" % i) for i in range(3))
        g0 = fx.gateway(["--listen", "--broker-socket=" + s0])
        g1 = fx.gateway(["--listen", "--listen-publish",
                         "--broker-socket=" + s1])
        g2 = fx.gateway(["--listen", "--listen-publish=/chat",
                         "--broker-socket=" + s2])
        for g, s in ((g0, s0), (g1, s1), (g2, s2)):
            L.sync_gateway(fx, g.port, s)

        def subscribed(port, *names):
            w = fx.ws(port)
            for n in names:
                w.send("subscribe " + n)
            ok, why = L.expect_seq(w, ["ok subscribe " + n for n in names])
            if not ok:
                raise RuntimeError(why)
            return w

        # Default: refused.
        def p_default():
            sub = subscribed(g0.port, "/a")
            pub = fx.ws(g0.port)
            pub.send("publish /a sneaky")
            ok, why = pub.expect("error publish /a not allowed")
            if not ok:
                return False, why
            pub.send("ping")
            ok, why = pub.expect("pong")
            if not ok:
                return False, "after the refusal: " + why
            st, _, err = L.wspipe_run(["publish", "--socket=" + s0, "/a",
                                       "from-script"])
            if st != 0:
                return False, "script publish: " + err
            return L.expect_only(sub, "update /a from-script")
        L.point(t, "default: browser publish -> `error publish R not "
                "allowed`, connection kept, nothing delivered", p_default)

        # --listen-publish: everything.
        def p_all():
            sub = subscribed(g1.port, "/any/thing")
            pub = subscribed(g1.port, "/any/thing")
            pub.send("publish /any/thing some data")
            ok, why = L.expect_seq(pub, ["ok publish /any/thing",
                                         "update /any/thing some data"])
            if not ok:
                return False, "publisher: " + why
            return L.expect_only(sub, "update /any/thing some data")
        L.point(t, "--listen-publish: ok publish, the update reaches "
                "subscribers and the (subscribed) publisher", p_all)

        def p_all_script():
            c = L.LineConn(s1)
            try:
                c.send("subscribe /other/res")
                c.lines_until_pong()
                pub = fx.ws(g1.port)
                pub.send("publish /other/res x y")
                ok, why = pub.expect("ok publish /other/res")
                if not ok:
                    return False, why
                got = c.readline(2.0)
                return got == "update /other/res x y", got
            finally:
                c.close()
        L.point(t, "--listen-publish: a browser publish reaches a "
                "subscriber on the broker socket", p_all_script)

        # --listen-publish=/chat
        def allowed(name):
            def fn():
                sub = subscribed(g2.port, name)
                pub = fx.ws(g2.port)
                pub.send("publish %s hi %s" % (name, name))
                ok, why = pub.expect("ok publish " + name)
                if not ok:
                    return False, why
                return L.expect_only(sub, "update %s hi %s" % (name, name))
            return fn
        L.point(t, "--listen-publish=/chat: /chat allowed and delivered",
                allowed("/chat"))
        L.point(t, "--listen-publish=/chat: /chat/x allowed and delivered",
                allowed("/chat/x"))

        def refused(name):
            def fn():
                sub = subscribed(g2.port, name)
                pub = fx.ws(g2.port)
                pub.send("publish %s nope" % name)
                ok, why = pub.expect("error publish %s not allowed" % name)
                if not ok:
                    return False, why
                L.wspipe_run(["publish", "--socket=" + s2, name, "script"])
                return L.expect_only(sub, "update %s script" % name)
            return fn
        L.point(t, "--listen-publish=/chat: /other -> error publish /other "
                "not allowed, nothing delivered", refused("/other"))
        L.point(t, "--listen-publish=/chat: /cha (shorter than the prefix) "
                "refused", refused("/cha"))

        # No broker at all.
        def p_unavailable():
            g = fx.gateway(["--listen", "--listen-publish",
                            "--broker=" + fx.path("nobody.sock")])
            w = fx.ws(g.port)
            w.send("publish /p x")
            try:
                m = w.recv(2.0)
            except (L.Timeout, L.Closed) as e:
                return False, "no answer: %r" % e
            if not (m.startswith("error ") and "broker unavailable" in m):
                return False, "got %r" % m
            w.send("ping")
            return w.expect("pong")
        L.point(t, "browser publish with the broker unreachable -> "
                "`error ... broker unavailable`, connection kept",
                p_unavailable)

        for name, g in (("default", g0), ("--listen-publish", g1),
                        ("--listen-publish=/chat", g2)):
            L.point(t, "gateway %s still running" % name,
                    lambda g=g: (g.alive(), g.logtail()))


if __name__ == "__main__":
    L.run(main, 60)
