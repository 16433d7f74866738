#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --devconsole: a plain GET of any path answers the built-in console page
# (text/html, the #wspipe-input, #wspipe-send and #wspipe-log elements,
# a WebSocket to the page's own host, path and query, textContent only and
# nothing from the request inserted); an upgrade to the same path still
# reaches COMMAND; --devconsole with --staticdir or --cgidir is refused.

import os
import re

import lib as h

MARK = "xssmark7f3e"


def has_id(page, ident):
    return re.search(r"""id\s*=\s*["']?%s["'\s>]""" % re.escape(ident),
                     page) is not None


def main(t):
    d = h.mkdtemp()
    gw = None
    try:
        gw = h.Respawn(["--devconsole"], h.cmd("echo"))
        body(t, gw)
        startup(t, d)
    finally:
        if gw is not None:
            gw.stop()
        h.rmtree(d)


def body(t, gw):
    pages = {}

    def page():
        r = h.fetch(gw.port, "/")
        pages["/"] = r
        ct = (r.get("Content-Type") or "").lower()
        return (r.status == 200 and ct.split(";")[0].strip() == "text/html"
                and len(r.body) > 0), r
    h.point(t, "GET /: 200 text/html", page)

    text = pages["/"].body.decode("utf-8", "replace") if "/" in pages \
        else ""

    for ident in ("wspipe-input", "wspipe-send", "wspipe-log"):
        h.point(t, "the page has an element with id %s" % ident,
                lambda ident=ident: has_id(text, ident))

    def connects():
        return ("new WebSocket(" in text and "location.host" in text and
                "location.pathname" in text and "location.search" in text
                and "wss" in text), text[:300]
    h.point(t, "the page opens a WebSocket to location.host + pathname + "
            "search (ws or wss)", connects)

    def classes():
        return all(re.search(r"""["']%s["']""" % c, text)
                   for c in ("in", "out", "event")), text[:300]
    h.point(t, "the page uses the classes in, out and event", classes)

    def safe_dom():
        return ("textContent" in text and "innerHTML" not in text and
                "outerHTML" not in text and "insertAdjacentHTML" not in text
                and "document.write" not in text), text[:300]
    h.point(t, "the page writes messages with textContent, never as HTML",
            safe_dom)

    def no_user_data():
        target = "/%s%%3Cb%%3E/?q=%%3Cscript%%3E%s%%3C/script%%3E" % (
            MARK, MARK)
        r = h.fetch(gw.port, target, headers=[
            "User-Agent: <script>%s</script>" % MARK,
            "X-Test: %s" % MARK, "Referer: http://%s/" % MARK,
            "Cookie: a=%s" % MARK])
        return (r.status == 200 and MARK.encode() not in r.body and
                has_id(r.body.decode("utf-8", "replace"), "wspipe-log")), \
            r
    h.point(t, "nothing from the request (path, query, headers) is in "
            "the page", no_user_data)

    def any_path():
        r = h.fetch(gw.port, "/some/where?x=1")
        return (r.status == 200 and r.body == pages["/"].body), r
    h.point(t, "GET of any path answers the same page", any_path)

    def head():
        c = h.Client(gw.port)
        try:
            c.request("HEAD", "/", ["Connection: close"])
            r = c.response("HEAD")
            closed, rest = c.closed_after(3)
        finally:
            c.close()
        return r.status == 200 and closed and rest == b"", \
            "%r; after: %r" % (r, rest[:100])
    h.point(t, "HEAD: 200 and no body", head)

    def post():
        r = h.fetch(gw.port, "/", "POST", ["Content-Length: 2"], b"hi")
        return (400 <= r.status < 500 and
                b"wspipe-input" not in r.body), r
    h.point(t, "POST does not get the page (4xx)", post)

    for path in ("/", "/some/where?x=1"):
        def upgrade(path=path):
            c = h.Client(gw.port)
            try:
                r = c.upgrade(path)
                if r.status != 101:
                    return False, r
                c.send_text("console echo")
                op, data = c.recv_message(3)
                c.send_close(1000)
            finally:
                c.close()
            return op == h.TEXT and data == b"console echo", (op, data)
        h.point(t, "an upgrade to %s still reaches COMMAND" % path, upgrade)

    h.still_running(t, gw)


def startup(t, d):
    www = os.path.join(d, "www")
    os.makedirs(www)
    for opt in ("--staticdir", "--cgidir"):
        def both(opt=opt):
            rc, err = h.start_fail(["--devconsole", opt + "=" + www] +
                                   h.cmd("echo"))
            return rc == 1 and err.strip() != "", \
                "exit %r, stderr %r" % (rc, err[:300])
        h.point(t, "--devconsole with %s: exit 1 with a message" % opt,
                both)


if __name__ == "__main__":
    h.run(main, 60)
