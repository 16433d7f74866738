#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --staticdir never serves a file outside its directory: `..` segments,
# plain or percent-encoded (any case, mixed, with encoded slashes or
# backslashes), empty segments, absolute-form request targets, NUL bytes
# (400), symlinks to files and directories outside (403); a symlink to a
# file inside is served, and so is a --staticdir that is itself a symlink.

import os

import lib as h

SECRET = b"TOP-SECRET-wspipe-4f1c\n"
SECRET2 = b"OUTSIDE-DIR-SECRET-77a0\n"
SECRET3 = b"PREFIX-SIBLING-SECRET-e3b9\n"

TARGETS = [
    "/../secret", "/%2e%2e/secret", "/%2E%2E/secret", "/%2e%2E/secret",
    "/.%2e/secret", "/%2e./secret", "/a/../../secret",
    "/a/%2e%2e/%2e%2e/secret", "//../secret", "/..%2fsecret",
    "/..%2Fsecret", "/%2e%2e%2fsecret", "/..\\secret", "/..%5csecret",
    "/a/..%2f..%2fsecret", "/./../secret", "/a/./../../secret",
    "/../www/../secret", "/%252e%252e/secret", "/..;/secret",
    "/a/../../../../../../../../../../secret",
]


def leaked(r):
    return SECRET in r.body or SECRET2 in r.body or SECRET3 in r.body


def main(t):
    d = h.mkdtemp()
    gws = []
    try:
        www = os.path.join(d, "www")
        h.write(os.path.join(d, "secret"), SECRET)
        h.write(os.path.join(d, "outside", "secret2"), SECRET2)
        h.write(os.path.join(d, "www2", "secret3"), SECRET3)
        h.write(os.path.join(www, "index.html"), b"INDEX\n")
        h.write(os.path.join(www, "a", "file.txt"), b"A-FILE\n")
        h.write(os.path.join(www, "index.html.txt"), b"NOT-THIS\n")
        h.write(os.path.join(www, "noread.txt"), b"NOREAD\n", 0o000)
        os.symlink(os.path.join(d, "secret"),
                   os.path.join(www, "link-secret"))
        os.symlink("../../secret", os.path.join(www, "a", "rel-secret"))
        os.symlink(os.path.join(d, "outside"),
                   os.path.join(www, "link-outdir"))
        os.symlink("../www2/secret3", os.path.join(www, "link-prefix"))
        os.symlink("index.html", os.path.join(www, "link-inside"))
        os.symlink("../index.html", os.path.join(www, "a", "up-inside"))
        os.symlink("a", os.path.join(www, "link-adir"))
        os.symlink("www", os.path.join(d, "wwwlink"))
        gw = h.Respawn(["--staticdir=" + www], h.cmd("echo"))
        gws.append(gw)
        body(t, gw, www)
        gw2 = h.Gateway(h.cmd("echo"),
                        ["--staticdir=" + os.path.join(d, "wwwlink")])
        gws.append(gw2)
        body_link(t, gw2)
    finally:
        for gw in gws:
            gw.stop()
        h.rmtree(d)


def raw(port, target, version="HTTP/1.1"):
    """Send target as is; the answer (or a synthetic 0 on a bare close)."""
    c = h.Client(port)
    try:
        c.send(("GET %s %s\r\nHost: 127.0.0.1:%d\r\nConnection: close"
                "\r\n\r\n" % (target, version, port)).encode("latin-1"))
        try:
            return c.response("GET")
        except RuntimeError:
            return h.Response("HTTP/1.1 000 closed", bytes(c.buf))
    finally:
        c.close()


def body(t, gw, www):

    for target in TARGETS:
        def esc(target=target):
            r = raw(gw.port, target)
            return r.status in (403, 404) and not leaked(r), r
        h.point(t, "%s: 403 or 404, no secret" % target, esc)

    secret = os.path.join(os.path.dirname(www), "secret")
    for target in ("/" + secret, "/" + secret.replace("/", "%2f"),
                   secret.replace("/", "%2F"), "/." + secret,
                   "/%2e" + secret.replace("/", "%2f")):
        def absolute(target=target):
            r = raw(gw.port, target)
            return r.status in (400, 403, 404) and not leaked(r), r
        h.point(t, "%s (absolute path of the secret): refused" % target,
                absolute)

    for target in ("/%zz", "/%", "/%2", "/index%2"):
        def badpct(target=target):
            r = raw(gw.port, target)
            return r.status in (400, 404), r
        h.point(t, "%s (malformed percent-encoding): 400 or 404" % target,
                badpct)

    def longpath():
        r = raw(gw.port, "/" + "a" * 5000)
        r2 = raw(gw.port, "/a" * 3000)
        return (r.status in (404, 414) and r2.status in (404, 414, 431)), \
            "%r / %r" % (r, r2)
    h.point(t, "a very long path (5000 bytes): 404 or 414, no crash",
            longpath)

    def dotdot_inside():
        r = raw(gw.port, "/a/../index.html")
        r2 = raw(gw.port, "/a/%2e%2e/index.html")
        return (r.status == 403 and r2.status == 403), "%r / %r" % (r, r2)
    h.point(t, "a .. segment is refused (403) even if it stays inside",
            dotdot_inside)

    for target in ("/%00", "/index.html%00.txt", "/a/%00/../../secret"):
        def nul(target=target):
            r = raw(gw.port, target)
            return (r.status == 400 and not leaked(r) and
                    b"NOT-THIS" not in r.body and b"INDEX" not in r.body), r
        h.point(t, "%s: 400 for a NUL byte" % target, nul)

    def link_secret():
        r = raw(gw.port, "/link-secret")
        r2 = raw(gw.port, "/a/rel-secret")
        return (r.status == 403 and r2.status == 403 and not leaked(r) and
                not leaked(r2)), "%r / %r" % (r, r2)
    h.point(t, "a symlink to a file outside: 403", link_secret)

    def link_outdir():
        r = raw(gw.port, "/link-outdir/secret2")
        r2 = raw(gw.port, "/link-outdir/")
        return (r.status == 403 and r2.status == 403 and not leaked(r) and
                not leaked(r2)), "%r / %r" % (r, r2)
    h.point(t, "a symlink to a directory outside: 403", link_outdir)

    def link_prefix():
        r = raw(gw.port, "/link-prefix")
        return r.status == 403 and not leaked(r), r
    h.point(t, "a symlink into a sibling sharing DIR's name prefix "
            "(www2): 403", link_prefix)

    def link_inside():
        r = raw(gw.port, "/link-inside")
        r2 = raw(gw.port, "/a/up-inside")
        r3 = raw(gw.port, "/link-adir/file.txt")
        return (r.status == 200 and r.body == b"INDEX\n" and
                r2.status == 200 and r2.body == b"INDEX\n" and
                r3.status == 200 and r3.body == b"A-FILE\n"), \
            "%r / %r / %r" % (r, r2, r3)
    h.point(t, "symlinks to a file or directory inside are served",
            link_inside)

    def unreadable():
        if os.geteuid() == 0:
            return True
        r = raw(gw.port, "/noread.txt")
        return r.status == 403 and b"NOREAD" not in r.body, r
    if os.geteuid() == 0:
        t.skip("an unreadable file: 403", "running as root")
    else:
        h.point(t, "an unreadable file: 403", unreadable)

    for target in ("http://127.0.0.1:%d/../secret" % gw.port,
                   "http://127.0.0.1:%d/%%2e%%2e/secret" % gw.port,
                   "http://127.0.0.1:%d/..%%2fsecret" % gw.port,
                   "http://127.0.0.1:%d/link-secret" % gw.port,
                   "http://127.0.0.1:%d../secret" % gw.port,
                   "http://..:%d/secret" % gw.port,
                   "../secret", "..%2fsecret", "secret", "*"):
        def absform(target=target):
            r = raw(gw.port, target)
            return r.status != 200 and not leaked(r), r
        h.point(t, "request target %s: not served, no secret" % target,
                absform)

    def absform_ok():
        # Not required to be supported, but if it is, it must be the file.
        r = raw(gw.port, "http://127.0.0.1:%d/a/file.txt" % gw.port)
        return (r.status != 200 or r.body == b"A-FILE\n"), r
    h.point(t, "an absolute-form target is served as its path or refused",
            absform_ok)

    h.still_running(t, gw)


def body_link(t, gw):
    port = gw.port

    def served():
        r = raw(port, "/index.html")
        r2 = raw(port, "/link-inside")
        r3 = raw(port, "/link-secret")
        return (r.status == 200 and r.body == b"INDEX\n" and
                r2.status == 200 and r2.body == b"INDEX\n" and
                r3.status == 403 and not leaked(r3)), \
            "%r / %r / %r" % (r, r2, r3)
    h.point(t, "a --staticdir that is a symlink: files served, links "
            "outside still 403", served)


if __name__ == "__main__":
    h.run(main, 90)
