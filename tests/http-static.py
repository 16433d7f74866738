#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --staticdir: GET and HEAD of files with their Content-Type, length,
# Last-Modified and ETag; directories (index.html, 301 to the slash, no
# listing); 404 and 405; conditional requests (304); keep-alive, pipelining,
# Connection: close, HTTP/1.0, the idle timeout; a WebSocket upgrade after
# static requests on one connection; a 5 MB file intact; --header and
# --header-http on static answers, --header-ws not.

import email.utils
import hashlib
import os
import re
import time

import lib as h

FILES = {
    "index.html": (b"<!doctype html><title>root</title>ROOT-INDEX\n",
                   "text/html; charset=utf-8"),
    "style.css": (b"body { color: red }\n", "text/css; charset=utf-8"),
    "app.js": (b"console.log('js');\n", "text/javascript; charset=utf-8"),
    "data.json": (b'{"a": 1}\n', "application/json"),
    "img.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image/png"),
    "blob.xyz": (b"\x00\x01unknown\xff", "application/octet-stream"),
    "page.htm": (b"<p>htm</p>\n", "text/html; charset=utf-8"),
    "mod.mjs": (b"export default 1;\n", "text/javascript; charset=utf-8"),
    "notes.txt": (b"plain text\n", "text/plain; charset=utf-8"),
    "pic.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>\n",
                "image/svg+xml"),
    "pic.jpg": (b"\xff\xd8\xff\xe0jpeg", "image/jpeg"),
    "pic.jpeg": (b"\xff\xd8\xff\xe0jpeg2", "image/jpeg"),
    "pic.gif": (b"GIF89a", "image/gif"),
    "favicon.ico": (b"\x00\x00\x01\x00", "image/x-icon"),
    "pic.webp": (b"RIFF\x00\x00\x00\x00WEBP", "image/webp"),
    "mod.wasm": (b"\x00asm\x01\x00\x00\x00", "application/wasm"),
    "font.woff": (b"wOFF", "font/woff"),
    "font.woff2": (b"wOF2", "font/woff2"),
    "feed.xml": (b"<?xml version='1.0'?><a/>\n", "application/xml"),
    "doc.pdf": (b"%PDF-1.4\n", "application/pdf"),
    "app.js.map": (b'{"version":3}\n', "application/json"),
    "noext": (b"no extension\n", "application/octet-stream"),
}


def norm_ct(v):
    return re.sub(r"\s*;\s*", ";", (v or "").strip().lower())


def main(t):
    d = h.mkdtemp()
    gw = None
    try:
        www = os.path.join(d, "www")
        for name, (data, _) in FILES.items():
            h.write(os.path.join(www, name), data)
        h.write(os.path.join(www, "sub", "index.html"), b"SUB-INDEX\n")
        h.write(os.path.join(www, "empty", "listed-name.txt"), b"x")
        h.write(os.path.join(www, "mod.txt"), b"version one\n")
        h.write(os.path.join(www, "with space & more.txt"), b"SPACED\n")
        os.mkfifo(os.path.join(www, "fifo"))
        big = os.urandom(5 * 1024 * 1024)
        h.write(os.path.join(www, "big.bin"), big)
        gw = h.Respawn(["--staticdir=" + www,
                        "--header=X-All: all-value",
                        "--header-http=X-Http-Only: http-value",
                        "--header-ws=X-Ws-Only: ws-value"],
                       h.cmd("echo"))
        body(t, gw, www, big)
    finally:
        if gw is not None:
            gw.stop()
        h.rmtree(d)


def body(t, gw, www, big):
    idx = FILES["index.html"][0]

    def get_file():
        r = h.fetch(gw.port, "/index.html")
        return (r.status == 200 and r.body == idx and
                r.get("Content-Length") == str(len(idx))), r
    h.point(t, "GET of a file: 200, its bytes, Content-Length", get_file)

    for name, (data, ctype) in FILES.items():
        def ct(name=name, data=data, ctype=ctype):
            r = h.fetch(gw.port, "/" + name)
            return (r.status == 200 and r.body == data and
                    norm_ct(r.get("Content-Type")) == norm_ct(ctype)), r
        h.point(t, "Content-Type of %s is %s" % (name, ctype), ct)

    def lastmod():
        r = h.fetch(gw.port, "/index.html")
        lm = r.get("Last-Modified")
        mtime = int(os.stat(os.path.join(www, "index.html")).st_mtime)
        if lm is None or not lm.endswith(" GMT"):
            return False, r
        ts = email.utils.parsedate_to_datetime(lm).timestamp()
        ok = re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                      r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                      r"\d{4} \d\d:\d\d:\d\d GMT$", lm)
        return bool(ok) and int(ts) == mtime, "%s (mtime %d)" % (lm, mtime)
    h.point(t, "Last-Modified is the file's mtime as an IMF-fixdate",
            lastmod)

    def etag():
        r = h.fetch(gw.port, "/index.html")
        e = r.get("ETag") or ""
        return re.match(r'^"[\x21\x23-\x7e]+"$', e) is not None, r
    h.point(t, "ETag is strong and quoted", etag)

    def head():
        c = h.Client(gw.port)
        try:
            c.request("HEAD", "/index.html", ["Connection: close"])
            r = c.response("HEAD")
            closed, rest = c.closed_after(3)
        finally:
            c.close()
        return (r.status == 200 and
                r.get("Content-Length") == str(len(idx)) and
                norm_ct(r.get("Content-Type")) == "text/html;charset=utf-8"
                and r.has("ETag") and r.has("Last-Modified") and closed and
                rest == b""), "%r; after the head: %r" % (r, rest[:100])
    h.point(t, "HEAD: the GET headers and no body", head)

    def head_keepalive():
        # The same on a kept-alive connection: the next answer follows the
        # HEAD answer directly.
        c = h.Client(gw.port)
        try:
            c.request("HEAD", "/style.css")
            r1 = c.response("HEAD")
            c.request("GET", "/data.json", ["Connection: close"])
            r2 = c.response("GET")
        finally:
            c.close()
        return (r1.status == 200 and r2.status == 200 and
                r2.body == FILES["data.json"][0]), "%r / %r" % (r1, r2)
    h.point(t, "HEAD on a keep-alive connection leaves no body behind",
            head_keepalive)

    def dir_index():
        r = h.fetch(gw.port, "/sub/")
        r2 = h.fetch(gw.port, "/")
        return (r.status == 200 and r.body == b"SUB-INDEX\n" and
                norm_ct(r.get("Content-Type")) == "text/html;charset=utf-8"
                and r2.status == 200 and r2.body == idx), "%r / %r" % (r, r2)
    h.point(t, "a directory with a trailing slash serves its index.html",
            dir_index)

    def loc_ok(loc, want):
        return loc in (want, "http://127.0.0.1:%d%s" % (gw.port, want))

    def redirect():
        r = h.fetch(gw.port, "/sub")
        return (r.status == 301 and loc_ok(r.get("Location"), "/sub/")), r
    h.point(t, "a directory without a slash: 301, Location: /sub/",
            redirect)

    def redirect_query():
        r = h.fetch(gw.port, "/sub?x=1&y=a%20b")
        return (r.status == 301 and
                loc_ok(r.get("Location"), "/sub/?x=1&y=a%20b")), r
    h.point(t, "the 301 keeps the query string", redirect_query)

    def missing():
        r = h.fetch(gw.port, "/no-such-file.html")
        r2 = h.fetch(gw.port, "/sub/no-such")
        return r.status == 404 and r2.status == 404, "%r / %r" % (r, r2)
    h.point(t, "a missing file: 404", missing)

    def decoded():
        r = h.fetch(gw.port, "/with%20space%20%26%20more.txt")
        return r.status == 200 and r.body == b"SPACED\n", r
    h.point(t, "the URL path is percent-decoded", decoded)

    def query():
        r = h.fetch(gw.port, "/index.html?v=3&x=%2e%2e/y")
        return r.status == 200 and r.body == idx, r
    h.point(t, "the query string does not change the file", query)

    def fifo():
        r = h.fetch(gw.port, "/fifo", timeout=5)
        r2 = h.fetch(gw.port, "/index.html")
        return r.status == 404 and r2.status == 200, "%r / %r" % (r, r2)
    h.point(t, "a FIFO: 404, and the gateway does not block on it", fifo)

    def nolisting():
        r = h.fetch(gw.port, "/empty/")
        return (r.status == 404 and b"listed-name" not in r.body), r
    h.point(t, "a directory without index.html: 404, no listing",
            nolisting)

    for m in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        def method(m=m):
            hs = ["Content-Length: 5"] if m in ("POST", "PUT") else []
            r = h.fetch(gw.port, "/index.html", m, hs,
                        b"hello" if hs else b"")
            allow = [x.strip().upper() for x in
                     (r.get("Allow") or "").split(",")]
            return (r.status == 405 and sorted(allow) == ["GET", "HEAD"] and
                    idx not in r.body), r
        h.point(t, "%s: 405 with Allow: GET, HEAD" % m, method)

    def inm():
        r = h.fetch(gw.port, "/index.html")
        c = h.Client(gw.port)
        try:
            c.request("GET", "/index.html",
                      ["If-None-Match: " + r.get("ETag", ""),
                       "Connection: close"])
            r2 = c.response("GET")
            closed, rest = c.closed_after(3)
        finally:
            c.close()
        return (r2.status == 304 and closed and rest == b"" and
                r2.get("ETag") == r.get("ETag")), \
            "%r; after: %r" % (r2, rest[:100])
    h.point(t, "If-None-Match with the ETag: 304, no body", inm)

    def inm_list():
        r = h.fetch(gw.port, "/index.html")
        r2 = h.fetch(gw.port, "/index.html", headers=[
            'If-None-Match: "nope", ' + r.get("ETag", "")])
        r3 = h.fetch(gw.port, "/index.html", headers=["If-None-Match: *"])
        return r2.status == 304 and r3.status == 304, "%r / %r" % (r2, r3)
    h.point(t, "If-None-Match with a list containing it, or *: 304",
            inm_list)

    def inm_other():
        r = h.fetch(gw.port, "/index.html", headers=['If-None-Match: "other"'])
        return r.status == 200 and r.body == idx, r
    h.point(t, "If-None-Match with another ETag: 200", inm_other)

    def ims():
        r = h.fetch(gw.port, "/index.html")
        lm = r.get("Last-Modified", "")
        c = h.Client(gw.port)
        try:
            c.request("GET", "/index.html",
                      ["If-Modified-Since: " + lm, "Connection: close"])
            r2 = c.response("GET")
            closed, rest = c.closed_after(3)
        finally:
            c.close()
        later = email.utils.formatdate(time.time() + 3600, usegmt=True)
        r3 = h.fetch(gw.port, "/index.html",
                     headers=["If-Modified-Since: " + later])
        return (r2.status == 304 and closed and rest == b"" and
                r3.status == 304), "%r / %r" % (r2, r3)
    h.point(t, "If-Modified-Since not older than the mtime: 304, no body",
            ims)

    def ims_old():
        r = h.fetch(gw.port, "/index.html", headers=[
            "If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT"])
        return r.status == 200 and r.body == idx, r
    h.point(t, "If-Modified-Since older than the mtime: 200", ims_old)

    def changed():
        p = os.path.join(www, "mod.txt")
        r1 = h.fetch(gw.port, "/mod.txt")
        st = os.stat(p)
        h.write(p, b"version two, longer\n")
        os.utime(p, (st.st_atime + 5, st.st_mtime + 5))
        r2 = h.fetch(gw.port, "/mod.txt")
        r3 = h.fetch(gw.port, "/mod.txt",
                     headers=["If-None-Match: " + r1.get("ETag", "")])
        return (r1.body == b"version one\n" and
                r2.body == b"version two, longer\n" and
                r1.get("ETag") != r2.get("ETag") and r3.status == 200 and
                r3.body == r2.body), "%r / %r / %r" % (r1, r2, r3)
    h.point(t, "a changed file gets a new ETag; the old one gives 200",
            changed)

    def keepalive():
        c = h.Client(gw.port)
        try:
            got = []
            for name in ("index.html", "style.css", "app.js"):
                c.request("GET", "/" + name)
                r = c.response("GET")
                got.append((r.status, r.body == FILES[name][0]))
            closed, _ = c.closed_after(0.3)
        finally:
            c.close()
        return (got == [(200, True)] * 3 and not closed), \
            "%r, closed after: %r" % (got, closed)
    h.point(t, "keep-alive: three requests on one HTTP/1.1 connection",
            keepalive)

    def conn_close():
        c = h.Client(gw.port)
        try:
            c.request("GET", "/index.html", ["Connection: close"])
            r = c.response("GET")
            closed, rest = c.closed_after(3)
        finally:
            c.close()
        return r.status == 200 and closed and rest == b"", r
    h.point(t, "Connection: close: closed after the answer", conn_close)

    def http10():
        c = h.Client(gw.port)
        try:
            c.request("GET", "/index.html", version="HTTP/1.0")
            r = c.response("GET")
            closed, rest = c.closed_after(3)
        finally:
            c.close()
        return r.status == 200 and r.body == idx and closed, r
    h.point(t, "HTTP/1.0: closed after the answer by default", http10)

    def http10_ka():
        c = h.Client(gw.port)
        try:
            c.request("GET", "/index.html", ["Connection: keep-alive"],
                      version="HTTP/1.0")
            r1 = c.response("GET")
            c.request("GET", "/style.css", version="HTTP/1.0")
            r2 = c.response("GET")
        finally:
            c.close()
        return (r1.status == 200 and r1.body == idx and r2.status == 200 and
                r2.body == FILES["style.css"][0]), "%r / %r" % (r1, r2)
    h.point(t, "HTTP/1.0 with Connection: keep-alive stays open",
            http10_ka)

    def upgrade_after():
        c = h.Client(gw.port)
        try:
            c.request("GET", "/index.html")
            r1 = c.response("GET")
            c.request("GET", "/style.css")
            r2 = c.response("GET")
            u = c.upgrade("/")
            if u.status != 101:
                return False, "upgrade answered %r" % u
            c.send_text("after static")
            op, data = c.recv_message(3)
            c.send_close(1000)
        finally:
            c.close()
        return (r1.status == 200 and r2.status == 200 and op == h.TEXT and
                data == b"after static" and u.get("X-All") == "all-value"
                and u.get("X-Ws-Only") == "ws-value" and
                not u.has("X-Http-Only")), "%r; echo %r %r" % (u, op, data)
    h.point(t, "a WebSocket upgrade after static requests on one "
            "connection", upgrade_after)

    def pipelined():
        c = h.Client(gw.port)
        try:
            c.send(c.build(gw.port, "GET", "/style.css") +
                   c.build(gw.port, "GET", "/data.json",
                           ["Connection: close"]))
            r1 = c.response("GET")
            r2 = c.response("GET")
        finally:
            c.close()
        return (r1.status == 200 and r1.body == FILES["style.css"][0] and
                r2.status == 200 and r2.body == FILES["data.json"][0]), \
            "%r / %r" % (r1, r2)
    h.point(t, "two pipelined GETs in one write: two answers in order",
            pipelined)

    def get_with_body():
        # A GET with a body on a kept-alive connection: the body is
        # skipped (or the request refused and the connection closed); it
        # is never taken for the next request.
        c = h.Client(gw.port)
        try:
            smuggled = c.build(gw.port, "GET", "/data.json")
            c.send(c.build(gw.port, "GET", "/style.css",
                           ["Content-Length: %d" % len(smuggled)],
                           smuggled) +
                   c.build(gw.port, "GET", "/app.js",
                           ["Connection: close"]))
            r1 = c.response("GET")
            if r1.status >= 400:
                closed, rest = c.closed_after(3)
                return closed and rest == b"", "%r; then %r" % (r1, rest)
            r2 = c.response("GET")
        finally:
            c.close()
        return (r1.status == 200 and r1.body == FILES["style.css"][0] and
                r2.status == 200 and r2.body == FILES["app.js"][0]), \
            "%r / %r" % (r1, r2)
    h.point(t, "a GET body is not read as the next request", get_with_body)

    def pipelined_many():
        names = [n for n in FILES][:20]
        c = h.Client(gw.port)
        try:
            c.send(b"".join(c.build(gw.port, "GET", "/" + n) for n in names)
                   + c.build(gw.port, "GET", "/index.html",
                             ["Connection: close"]))
            got = [c.response("GET") for _ in names]
            last = c.response("GET")
        finally:
            c.close()
        bad = [(n, r.status) for n, r in zip(names, got)
               if r.status != 200 or r.body != FILES[n][0]]
        return not bad and last.body == idx, bad
    h.point(t, "%d pipelined GETs in one write: all answered in order" %
            (min(20, len(FILES)) + 1), pipelined_many)

    def stalled_reader():
        # A client that asks for the 5 MB file and does not read it must
        # not hold up anyone else.
        slow = h.socket.socket(h.socket.AF_INET, h.socket.SOCK_STREAM)
        try:
            slow.setsockopt(h.socket.SOL_SOCKET, h.socket.SO_RCVBUF, 4096)
            slow.settimeout(3)
            slow.connect(("127.0.0.1", gw.port))
            slow.sendall(h.Client.build(gw.port, "GET", "/big.bin"))
            r = h.fetch(gw.port, "/index.html", timeout=3)
            r2 = h.fetch(gw.port, "/data.json", timeout=3)
        finally:
            slow.close()
        return (r.status == 200 and r.body == idx and r2.status == 200), \
            "%r / %r" % (r, r2)
    h.point(t, "a client not reading a 5 MB answer does not block others",
            stalled_reader)

    def bigfile():
        r = h.fetch(gw.port, "/big.bin", timeout=30)
        return (r.status == 200 and
                r.get("Content-Length") == str(len(big)) and
                hashlib.sha256(r.body).digest() ==
                hashlib.sha256(big).digest()), \
            "status %d, %d bytes" % (r.status, len(r.body))
    h.point(t, "a 5 MB file arrives intact (sha256)", bigfile)

    def headers_static():
        r = h.fetch(gw.port, "/index.html")
        return (r.get("X-All") == "all-value" and
                r.get("X-Http-Only") == "http-value" and
                not r.has("X-Ws-Only")), r
    h.point(t, "--header and --header-http on a static answer, not "
            "--header-ws", headers_static)

    def headers_404():
        r = h.fetch(gw.port, "/nope")
        return (r.status == 404 and r.get("X-All") == "all-value" and
                r.get("X-Http-Only") == "http-value" and
                not r.has("X-Ws-Only")), r
    h.point(t, "--header and --header-http on a 404, not --header-ws",
            headers_404)

    def error_closes():
        c = h.Client(gw.port)
        try:
            c.request("GET", "/nope")
            r = c.response("GET")
            closed, _ = c.closed_after(3)
        finally:
            c.close()
        return (r.status == 404 and closed and
                norm_ct(r.get("Content-Type")).startswith("text/plain")), r
    h.point(t, "an error answer is text/plain and closes the connection "
            "(even keep-alive)", error_closes)

    def accesslog():
        h.fetch(gw.port, "/data.json?q=1")
        line = h.wait_log(gw, r"#\d+ 127\.0\.0\.1:\d+ GET /data\.json\S* "
                          r"200 \d+")
        return line is not None, gw.logtail()
    h.point(t, "an access log line: #N addr:port GET /path 200 BYTES",
            accesslog)

    def accesslog404():
        h.fetch(gw.port, "/logged-missing")
        line = h.wait_log(gw, r"#\d+ 127\.0\.0\.1:\d+ GET /logged-missing "
                          r"404 \d+")
        return line is not None, gw.logtail()
    h.point(t, "an access log line for a 404: #N addr:port GET /path 404 "
            "BYTES", accesslog404)

    def idle():
        c = h.Client(gw.port)
        try:
            c.request("GET", "/index.html")
            r = c.response("GET")
            t0 = time.monotonic()
            closed, _ = c.closed_after(14)
            dt = time.monotonic() - t0
        finally:
            c.close()
        return (r.status == 200 and closed and 8 <= dt <= 14), \
            "closed %r after %.1f s" % (closed, dt)
    h.point(t, "an idle keep-alive connection is closed after ~10 s",
            idle)

    h.still_running(t, gw)


if __name__ == "__main__":
    h.run(main, 120)
