#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --trust-proxy=LIST: from a listed peer, REMOTE_ADDR/REMOTE_HOST become
# the right-most X-Forwarded-For entry that is not a trusted proxy and
# X-Forwarded-Proto: https sets HTTPS=on (for WebSocket programs and CGI
# scripts alike); from any other peer, or without the option, those
# headers change nothing and only appear as HTTP_X_FORWARDED_*.

import os

import lib as h

XFF = "X-Forwarded-For: "
XFP = "X-Forwarded-Proto: "


def main(t):
    d = h.mkdtemp()
    gws = []
    try:
        cgi = os.path.join(d, "cgi")
        h.script(os.path.join(cgi, "env.sh"),
                 "printf 'Content-Type: text/plain\\n\\n'\nexec env\n")
        env = h.cmd("env")
        trusted = h.Respawn(["--trust-proxy=127.0.0.1", "--cgidir=" + cgi],
                            env)
        gws.append(trusted)
        trusted_list = h.Respawn(["--trust-proxy=192.0.2.1,127.0.0.1"], env)
        gws.append(trusted_list)
        plain = h.Respawn([], env)
        gws.append(plain)
        other = h.Respawn(["--trust-proxy=192.0.2.1"], env)
        gws.append(other)
        body_trusted(t, trusted, trusted_list)
        body_untrusted(t, plain, "without --trust-proxy")
        body_untrusted(t, other, "with --trust-proxy=192.0.2.1")
        for gw in gws:
            h.still_running(t, gw)
    finally:
        for gw in gws:
            gw.stop()
        h.rmtree(d)


def envcheck(t, gw, name, headers, want, absent=()):
    def fn():
        e = h.ws_env(gw.port, "/", headers)
        bad = {k: e.get(k) for k, v in want.items() if e.get(k) != v}
        bad.update({k: e[k] for k in absent if k in e})
        return not bad, "wrong or unexpected: %r" % bad
    h.point(t, name, fn)


def body_trusted(t, gw, gwl):
    addr = lambda a: {"REMOTE_ADDR": a, "REMOTE_HOST": a}
    envcheck(t, gw, "trusted peer: X-Forwarded-For: 203.0.113.7 sets "
             "REMOTE_ADDR/REMOTE_HOST", [XFF + "203.0.113.7"],
             addr("203.0.113.7"))
    envcheck(t, gw, "trusted peer: X-Forwarded-For: 198.51.100.1, "
             "203.0.113.7 takes the right-most", [XFF + "198.51.100.1, "
                                                  "203.0.113.7"],
             addr("203.0.113.7"))
    envcheck(t, gw, "trusted peer: a trusted proxy at the right is skipped",
             [XFF + "198.51.100.1, 203.0.113.7, 127.0.0.1"],
             addr("203.0.113.7"))
    envcheck(t, gw, "trusted peer: two X-Forwarded-For headers act as one "
             "list", [XFF + "198.51.100.1", XFF + "203.0.113.7"],
             addr("203.0.113.7"))
    envcheck(t, gw, "trusted peer: an IPv6 X-Forwarded-For entry",
             [XFF + "198.51.100.1, 2001:db8::7"], addr("2001:db8::7"))
    envcheck(t, gw, "trusted peer: X-Forwarded-Proto: https sets HTTPS=on",
             [XFF + "203.0.113.7", XFP + "https"],
             dict(addr("203.0.113.7"), HTTPS="on"))
    envcheck(t, gw, "trusted peer: X-Forwarded-Proto: http sets no HTTPS",
             [XFP + "http"], {}, ["HTTPS"])
    envcheck(t, gw, "trusted peer without the headers: REMOTE_ADDR is the "
             "peer, no HTTPS", [], addr("127.0.0.1"), ["HTTPS"])
    envcheck(t, gwl, "--trust-proxy with a list containing the peer works",
             [XFF + "198.51.100.1, 203.0.113.7", XFP + "https"],
             dict(addr("203.0.113.7"), HTTPS="on"))

    def cgi():
        r = h.fetch(gw.port, "/env.sh", headers=[
            XFF + "198.51.100.1, 203.0.113.7", XFP + "https"])
        e = h.env_of(r.body.decode("utf-8", "replace"))
        return (r.status == 200 and e.get("REMOTE_ADDR") == "203.0.113.7"
                and e.get("HTTPS") == "on"), "%r\n%r" % (r.status_line, e)
    h.point(t, "trusted peer: the same for a CGI script", cgi)


def body_untrusted(t, gw, what):
    envcheck(t, gw, "%s: X-Forwarded-For/-Proto change nothing" % what,
             [XFF + "203.0.113.7", XFP + "https"],
             {"REMOTE_ADDR": "127.0.0.1", "REMOTE_HOST": "127.0.0.1"},
             ["HTTPS"])
    envcheck(t, gw, "%s: they appear only as HTTP_X_FORWARDED_*" % what,
             [XFF + "198.51.100.1, 203.0.113.7", XFP + "https"],
             {"HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.7",
              "HTTP_X_FORWARDED_PROTO": "https"})


if __name__ == "__main__":
    h.run(main, 60)
