#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --redirport=PORT, websocketd's plain-HTTP port that sends browsers to
# the main one: every request there, an upgrade included, gets a 301 to
# the same path and query on the main port (https:// with --ssl, and the
# port left out when it is the scheme's own); the Host header gives the
# host without its port, and one that is no plain name or address, or
# none, is a 400 (it would go into the Location); a path starting with
# "//" keeps one slash; nothing is spawned there; the main port serves
# as before, over TLS with --ssl.

import os

import lib as h


def redir_gateway(extra):
    """A gateway with --redirport on a second free port: (gw, redirport)."""
    for _ in range(5):
        rp = h.free_port()
        gw = h.Gateway(h.cmd("echo"), ["--redirport=%d" % rp] + extra)
        if gw.port != rp:
            # Bound just after --port, which is what Gateway waits for.
            h.wait_until(lambda: h.listening(gw.pid, rp), 10 * h.SLOW)
            return gw, rp
        gw.stop()
    raise RuntimeError("no two free ports")


def loc(rp, target, host):
    r = h.fetch(rp, target, headers=["Host: " + host] if host else [],
                host=False, version="HTTP/1.1" if host else "HTTP/1.0")
    return r.status, r.get("Location")


def main(t):
    d = h.mkdtemp()
    gws = []
    try:
        gw, rp = redir_gateway([])
        gws.append(gw)
        t.eq(loc(rp, "/a/b?x=1", "example.org:%d" % rp),
             (301, "http://example.org:%d/a/b?x=1" % gw.port),
             "GET /a/b?x=1 on --redirport: 301 to the same path and query "
             "on --port")
        t.eq(loc(rp, "//evil.example/x", "example.org"),
             (301, "http://example.org:%d/evil.example/x" % gw.port),
             "a path starting with // keeps one slash in the Location")
        t.eq(loc(rp, "/", "[::1]:%d" % rp),
             (301, "http://[::1]:%d/" % gw.port),
             "an IPv6 literal Host is kept, in brackets")
        for bad in ('x"y', "a b", "evil.example/x", "a\tb"):
            t.eq(loc(rp, "/", bad)[0], 400,
                 "Host %r cannot go into a Location: 400" % bad)
        t.eq(loc(rp, "/", None)[0], 400, "no Host (HTTP/1.0): 400")

        c = h.Client(rp, timeout=5)
        r = c.upgrade("/ws")
        c.close()
        t.ok(r is not None and r.status == 301 and
             r.get("Location") == "http://127.0.0.1:%d/ws" % gw.port,
             "an upgrade on --redirport is redirected too",
             r and (r.status, r.get("Location")))
        t.eq(gw.children(), [], "nothing was spawned for the redirect port")
        ok, why = h.check_echo(gw, [h.frame(h.TEXT, "main")], b"main")
        t.ok(ok, "the main port serves as before", why)

        cert, key = h.make_cert(d)
        tls = ["--ssl", "--sslcert=" + cert, "--sslkey=" + key]
        gt, rpt = redir_gateway(tls)
        gws.append(gt)
        t.eq(loc(rpt, "/p?q", "host.example"),
             (301, "https://host.example:%d/p?q" % gt.port),
             "with --ssl: plain HTTP on --redirport, 301 to https://")
        r = h.fetch(gt.port, "/", ctx=h.client_ctx())
        t.ok(r.status == 400, "the TLS port still speaks TLS (a plain GET "
             "there is an HTTP answer over TLS)", r.status)
    finally:
        for g in gws:
            g.stop()
        h.rmtree(d)


h.run(main, 60, plan=13)
