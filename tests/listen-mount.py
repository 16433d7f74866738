#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --listen=/live beside a COMMAND on one port: /live speaks the listen
# protocol while / and other paths run the program (cat echoes); static
# files still served with --staticdir; GET /wspipe/listen.js returns the
# client library with WSPIPE_LISTEN_PATH = "/live" baked in (with and
# without --staticdir); WebSocket programs and CGI scripts see
# WSPIPE_BROKER and a program can `wspipe publish` to it.

import os

import lib as h
import lib as L

PROG = r'''
echo "broker=$WSPIPE_BROKER"
while IFS= read -r line; do
    "$0" publish /fromprog "$line"
    echo "published $?"
done
'''


def main(t):
    with L.Fixture() as fx:
        www = fx.path("www")
        h.write(os.path.join(www, "index.html"), b"STATIC-INDEX-5f1\n")
        s1 = fx.path("b1.sock")
        g1 = fx.gateway(["--listen=/live", "--staticdir=" + www,
                         "--broker-socket=" + s1], ["cat"])
        L.sync_gateway(fx, g1.port, s1, "/live")
        cgi = fx.path("cgi")
        h.script(os.path.join(cgi, "env.sh"),
                 "printf 'Content-Type: text/plain\\n\\n'\n"
                 "echo \"broker=$WSPIPE_BROKER\"\n")
        s2 = fx.path("b2.sock")
        g2 = fx.gateway(["--listen=/live", "--cgidir=" + cgi,
                         "--broker-socket=" + s2],
                        ["sh", "-c", PROG, L.WSPIPE])
        L.sync_gateway(fx, g2.port, s2, "/live")

        def p_live():
            w = fx.ws(g1.port, "/live")
            w.send("subscribe /m")
            ok, why = w.expect("ok subscribe /m")
            if not ok:
                return False, why
            L.wspipe_run(["publish", "--socket=" + s1, "/m", "state"])
            ok, why = L.expect_only(w, "update /m state")
            if not ok:
                return False, why
            w.send("ping")
            return w.expect("pong")
        L.point(t, "/live speaks the listen protocol (subscribe, update, "
                "ping)", p_live)

        def p_root():
            w = fx.ws(g1.port, "/")
            w.send("hello cat")
            ok, why = w.expect("hello cat")
            if not ok:
                return False, why
            w.send("subscribe /m")
            return w.expect("subscribe /m")
        L.point(t, "/ on the same port echoes through cat (listen commands "
                "are just text there)", p_root)

        def p_other():
            w = fx.ws(g1.port, "/live/sub")
            w.send("ping")
            return w.expect("ping")
        L.point(t, "/live/sub is not the listen endpoint (runs cat)",
                p_other)

        def p_static():
            r = h.fetch(g1.port, "/index.html")
            return (r.status == 200 and r.body == b"STATIC-INDEX-5f1\n",
                    repr(r))
        L.point(t, "--staticdir still serves files beside --listen=/live",
                p_static)

        def js_ok(port):
            def fn():
                r = h.fetch(port, "/wspipe/listen.js")
                if r.status != 200:
                    return False, repr(r)
                ct = (r.get("Content-Type") or "").lower()
                if "javascript" not in ct:
                    return False, "Content-Type %r" % ct
                body = r.body.decode("utf-8", "replace")
                if 'WSPIPE_LISTEN_PATH = "/live"' not in body:
                    return False, "no WSPIPE_LISTEN_PATH = \"/live\": %r" % \
                        body[:300]
                if "wspipe" not in body or "listen" not in body:
                    return False, "not the client library: %r" % body[:300]
                return True, None
            return fn
        L.point(t, "GET /wspipe/listen.js (with --staticdir) -> JavaScript "
                "with WSPIPE_LISTEN_PATH = \"/live\"", js_ok(g1.port))
        L.point(t, "GET /wspipe/listen.js without --staticdir -> the same",
                js_ok(g2.port))

        def p_env():
            w = fx.ws(g2.port, "/")
            return w.expect("broker=" + s2)
        L.point(t, "the WebSocket program sees WSPIPE_BROKER=<socket>",
                p_env)

        def p_prog_publish():
            sub = fx.ws(g2.port, "/live")
            sub.send("subscribe /fromprog")
            ok, why = sub.expect("ok subscribe /fromprog")
            if not ok:
                return False, why
            w = fx.ws(g2.port, "/prog")
            ok, why = w.expect("broker=" + s2)
            if not ok:
                return False, why
            w.send("hello from the program")
            ok, why = w.expect("published 0", 5.0)
            if not ok:
                return False, "wspipe publish in the program: " + why
            return L.expect_only(sub,
                                 "update /fromprog hello from the program")
        L.point(t, "the program's `wspipe publish` (via $WSPIPE_BROKER) "
                "reaches a /live subscriber", p_prog_publish)

        def p_cgi():
            r = h.fetch(g2.port, "/env.sh")
            return (r.status == 200 and
                    ("broker=" + s2).encode() in r.body, repr(r))
        L.point(t, "a CGI script sees WSPIPE_BROKER=<socket>", p_cgi)

        for name, g in (("cat", g1), ("sh", g2)):
            L.point(t, "gateway (%s) still running" % name,
                    lambda g=g: (g.alive(), g.logtail()))


if __name__ == "__main__":
    L.run(main, 60)
