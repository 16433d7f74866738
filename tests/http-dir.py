#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --dir=DIR: a WebSocket to /a.sh runs DIR/a.sh, /sub/b.sh runs
# DIR/sub/b.sh, /a.sh/extra runs a.sh with PATH_INFO=/extra and
# SCRIPT_NAME=/a.sh; a missing or non-executable script, a directory, and
# every way out of DIR (.., encoded dots, symlinks) get 404; COMMAND
# together with --dir is a start-up error.

import os

import lib as h

OUTSIDE = "DIR-ESCAPED-OUTSIDE-2c81"

ECHO = """\
while IFS= read -r l; do
  if [ "$l" = env ]; then env; echo END; else echo "%s:$l"; fi
done
"""


def main(t):
    d = h.mkdtemp()
    gw = None
    try:
        ws = os.path.join(d, "ws")
        h.script(os.path.join(ws, "a.sh"), ECHO % "a")
        h.script(os.path.join(ws, "sub", "b.sh"), ECHO % "b")
        h.script(os.path.join(ws, "plain.sh"), ECHO % "plain", 0o644)
        h.script(os.path.join(d, "x"), "echo %s\n" % OUTSIDE)
        h.script(os.path.join(d, "ws2", "y"), "echo %s\n" % OUTSIDE)
        os.symlink(os.path.join(d, "x"), os.path.join(ws, "link-out"))
        os.symlink("../ws2", os.path.join(ws, "linkdir-out"))
        os.symlink("a.sh", os.path.join(ws, "link-in"))
        gw = h.Respawn(["--dir=" + ws], [])
        body(t, gw, ws)
        cmdline(t, ws)
    finally:
        if gw is not None:
            gw.stop()
        h.rmtree(d)


def talk(port, path, msg="hi", timeout=5.0):
    """(upgrade answer, reply lines) for one message sent to path."""
    c = h.Client(port, timeout)
    try:
        r = c.upgrade(path)
        if r.status != 101:
            return r, []
        c.send_text(msg)
        lines = []
        while True:
            op, data = c.recv_message(timeout)
            if op != h.TEXT:
                break
            lines.append(data.decode("utf-8", "replace"))
            if msg != "env" or lines[-1] == "END":
                break
        try:
            c.send_close(1000)
        except OSError:
            pass
        return r, lines
    finally:
        c.close()


def body(t, gw, ws):

    def a():
        r, lines = talk(gw.port, "/a.sh")
        return r.status == 101 and lines == ["a:hi"], "%r %r" % (r, lines)
    h.point(t, "a WebSocket to /a.sh runs DIR/a.sh (echo through it)", a)

    def b():
        r, lines = talk(gw.port, "/sub/b.sh")
        return r.status == 101 and lines == ["b:hi"], "%r %r" % (r, lines)
    h.point(t, "/sub/b.sh runs DIR/sub/b.sh", b)

    def query():
        r, lines = talk(gw.port, "/a.sh?x=1", "env")
        e = h.env_of("\n".join(lines))
        return (r.status == 101 and e.get("QUERY_STRING") == "x=1" and
                e.get("SCRIPT_NAME") == "/a.sh" and
                e.get("PATH_INFO", "x") == ""), "%r %r" % (r, e)
    h.point(t, "/a.sh?x=1: SCRIPT_NAME=/a.sh, empty PATH_INFO, "
            "QUERY_STRING=x=1", query)

    def missing():
        r, _ = talk(gw.port, "/missing")
        return r.status == 404, r
    h.point(t, "/missing: 404 on the upgrade", missing)

    def pathinfo():
        r, lines = talk(gw.port, "/a.sh/extra", "env")
        e = h.env_of("\n".join(lines))
        return (r.status == 101 and e.get("PATH_INFO") == "/extra" and
                e.get("SCRIPT_NAME") == "/a.sh"), "%r %r" % (r, e)
    h.point(t, "/a.sh/extra runs a.sh with PATH_INFO=/extra, "
            "SCRIPT_NAME=/a.sh", pathinfo)

    def pathinfo2():
        r, lines = talk(gw.port, "/sub/b.sh/p/q", "env")
        e = h.env_of("\n".join(lines))
        return (r.status == 101 and e.get("PATH_INFO") == "/p/q" and
                e.get("SCRIPT_NAME") == "/sub/b.sh"), "%r %r" % (r, e)
    h.point(t, "/sub/b.sh/p/q: PATH_INFO=/p/q, SCRIPT_NAME=/sub/b.sh",
            pathinfo2)

    def noexec():
        r, lines = talk(gw.port, "/plain.sh")
        return r.status == 404 and lines == [], r
    h.point(t, "a non-executable file: 404", noexec)

    def directory():
        r, _ = talk(gw.port, "/sub")
        r2, _ = talk(gw.port, "/sub/")
        r3, _ = talk(gw.port, "/")
        return (r.status == 404 and r2.status == 404 and
                r3.status == 404), "%r / %r / %r" % (r, r2, r3)
    h.point(t, "a directory (/sub, /sub/, /): 404", directory)

    for path in ("/../x", "/%2e%2e/x", "/%2E%2e/x", "/sub/../../x",
                 "/sub/%2e%2e/%2e%2e/x", "/..%2fx", "//../x",
                 "/../ws2/y", "/link-out", "/link-out/extra",
                 "/linkdir-out/y"):
        def esc(path=path):
            r, lines = talk(gw.port, path)
            return (r.status == 404 and
                    not any(OUTSIDE in l for l in lines)), \
                "%r %r" % (r, lines)
        h.point(t, "%s: 404, nothing outside DIR runs" % path, esc)

    def link_in():
        r, lines = talk(gw.port, "/link-in")
        return r.status == 101 and lines == ["a:hi"], "%r %r" % (r, lines)
    h.point(t, "a symlink to a script inside DIR runs it", link_in)

    h.still_running(t, gw)


def cmdline(t, ws):
    def both():
        rc, err = h.start_fail(["--dir=" + ws, "cat"])
        return rc in (1, 2) and err.strip() != "", \
            "exit %r, stderr %r" % (rc, err[:300])
    h.point(t, "--dir with a COMMAND: exit 1 or 2 with a message", both)

    def nodir():
        rc, err = h.start_fail(["--dir=" + os.path.join(ws, "nope")])
        return rc in (1, 2) and err.strip() != "", \
            "exit %r, stderr %r" % (rc, err[:300])
    h.point(t, "--dir naming no directory: exit 1 or 2 with a message",
            nodir)


if __name__ == "__main__":
    h.run(main, 90)
