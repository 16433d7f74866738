#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --cgidir (RFC 3875): a script's body and Content-Type, Status:, Location:
# (302), the request body on stdin (100 KB intact), the CGI environment,
# 502 for scripts that fail or print no valid header block, no source of a
# non-executable file, a 2 s script completes, stderr in the gateway log,
# the 64 MiB output cap from both sides (60 MiB whole, 80 MB cut at it),
# 413 over --maxmsg, 411 for chunked bodies, no escape from the directory,
# and 429 over --maxforks.

import os
import time

import lib as h

OUTSIDE = b"CGI-ESCAPED-OUTSIDE-9d2e"
SOURCE = b"NONEXEC-SOURCE-MARKER-51c7"
STDERR = "CGI-STDERR-MARKER-0b6a"
MAXMSG = 200000
CAP = 64 * 2**20                # the gateway's cap on a script's output
UNDER_CAP = 60 * 2**20          # under it: must arrive whole
HUGE = 80000000                 # over it: cut at the cap


def scripts(cgi, d):
    s = lambda name, text, mode=0o755: h.script(os.path.join(cgi, name),
                                                text, mode)
    s("hello.sh", "printf 'Content-Type: text/x-hello\\r\\n"
      "X-Extra: passed through\\r\\n\\r\\nhello cgi\\n'\n")
    s("notfound.sh", "printf 'Status: 404 Not Found\\n"
      "Content-Type: text/plain\\n\\ngone\\n'\n")
    s("status201.sh", "printf 'Status: 201 Created\\n"
      "Content-Type: text/plain\\n\\nmade\\n'\n")
    s("loc.sh", "printf 'Location: /x\\n\\n'\n")
    s("echo.sh", "printf 'Content-Type: application/octet-stream\\n\\n'\n"
      "exec cat\n")
    s("env.sh", "printf 'Content-Type: text/plain\\n\\n'\nexec env\n")
    s("fail.sh", "exit 1\n")
    s("hugeout.sh", "printf 'Content-Type: application/octet-stream\\n\\n'\n"
      "exec head -c %d /dev/zero\n" % HUGE)
    s("undercap.sh", "printf 'Content-Type: application/octet-stream\\n\\n'\n"
      "exec head -c %d /dev/zero\n" % UNDER_CAP)
    onewrite = h.write(os.path.join(d, "onewrite.txt"),
                       b"Content-Type: text/plain\n\n" + b"w" * 100000)
    s("onewrite.sh", "exec cat '%s'\n" % onewrite)
    s("bigout.sh", "printf 'Content-Type: application/octet-stream\\n\\n'\n"
      "exec head -c 3000000 /dev/zero\n")
    s("garbage.sh", "echo 'this is not a header line'\nexit 0\n")
    s("nohdrend.sh", "printf 'Content-Type: text/plain\\n'\n"
      "printf 'X-Foo: bar\\n'\nexit 0\n")
    s("noctype.sh", "printf 'X-Foo: bar\\n\\nbody\\n'\n")
    s("bighdr.sh", "printf 'Content-Type: text/plain\\n'\n"
      "printf 'X-Big: %09000d\\n' 0\nprintf '\\nbig\\n'\n")
    s("slow2.sh", "sleep 2\nprintf 'Content-Type: text/plain\\n\\ndone\\n'\n")
    s("stderr.sh", "echo '%s' >&2\n"
      "printf 'Content-Type: text/plain\\n\\nok\\n'\n" % STDERR)
    s("noexec.sh", "printf 'Content-Type: text/plain\\n\\n%s\\n'\n" %
      SOURCE.decode(), 0o644)
    s("sub/deep.sh", "printf 'Content-Type: text/plain\\n\\n'\n"
      "echo \"deep $SCRIPT_NAME $PATH_INFO\"\n")
    marker = os.path.join(d, "slow-started")
    s("hold.sh", "touch '%s'\nexec sleep 8\n" % marker)
    h.script(os.path.join(d, "outside.sh"),
             "printf 'Content-Type: text/plain\\n\\n%s\\n'\n" %
             OUTSIDE.decode())
    os.symlink(os.path.join(d, "outside.sh"),
               os.path.join(cgi, "link-out.sh"))
    os.symlink("hello.sh", os.path.join(cgi, "link-in.sh"))
    return marker


def main(t):
    d = h.mkdtemp()
    gws = []
    try:
        cgi = os.path.join(d, "cgi")
        marker = scripts(cgi, d)
        os.environ["WSPIPE_TEST_LEAK"] = "leaked-from-gateway"
        gw = h.Respawn(["--cgidir=" + cgi, "--maxmsg=%d" % MAXMSG],
                       h.cmd("echo"))
        gws.append(gw)
        body(t, gw, cgi)
        gw2 = h.Gateway(h.cmd("echo"),
                        ["--cgidir=" + cgi, "--maxforks=1"])
        gws.append(gw2)
        maxforks(t, gw2, marker)
    finally:
        for gw in gws:
            gw.stop()
        h.rmtree(d)


def post(port, target, data, headers=(), timeout=10.0):
    return h.fetch(port, target, "POST",
                   ["Content-Length: %d" % len(data)] + list(headers), data,
                   timeout=timeout)


def body(t, gw, cgi):

    def hello():
        r = h.fetch(gw.port, "/hello.sh")
        return (r.status == 200 and r.body == b"hello cgi\n" and
                r.get("Content-Type") == "text/x-hello" and
                r.get("X-Extra") == "passed through"), r
    h.point(t, "GET runs the script: its body, Content-Type and headers",
            hello)

    def closes():
        c = h.Client(gw.port)
        try:
            c.request("GET", "/hello.sh")
            r = c.response("GET")
            closed, _ = c.closed_after(3)
        finally:
            c.close()
        return r.status == 200 and closed, r
    h.point(t, "the connection closes after a CGI answer", closes)

    def status():
        r = h.fetch(gw.port, "/notfound.sh")
        r2 = h.fetch(gw.port, "/status201.sh")
        return (r.status == 404 and r.body == b"gone\n" and
                r2.status == 201 and r2.body == b"made\n" and
                not r.has("Status")), "%r / %r" % (r, r2)
    h.point(t, "Status: 404 Not Found sets the status", status)

    def location():
        r = h.fetch(gw.port, "/loc.sh")
        return r.status == 302 and r.get("Location") == "/x", r
    h.point(t, "Location: /x without Status: 302 with Location", location)

    def post_small():
        data = b"a=1&b=two\n"
        r = post(gw.port, "/echo.sh", data)
        return r.status == 200 and r.body == data, r
    h.point(t, "a POST body reaches stdin", post_small)

    def post_big():
        data = os.urandom(100 * 1024)
        r = post(gw.port, "/echo.sh", data, timeout=15)
        return (r.status == 200 and r.body == data), \
            "status %d, %d bytes back, equal %r" % (
                r.status, len(r.body), r.body == data)
    h.point(t, "a 100 KB binary POST body reaches stdin intact", post_big)

    memo = []

    def ignores_body():
        data = os.urandom(100 * 1024)
        r = post(gw.port, "/hello.sh", data, timeout=15)
        return r.status == 200 and r.body == b"hello cgi\n", r
    h.point(t, "a script that does not read a 100 KB body still answers",
            ignores_body)

    def onewrite():
        r = h.fetch(gw.port, "/onewrite.sh", timeout=10)
        return (r.status == 200 and r.body == b"w" * 100000), \
            "status %d, %d bytes: %r" % (r.status, len(r.body), r.body[:60])
    h.point(t, "header block and 100 KB of body in one write: 200, intact",
            onewrite)

    def bigout():
        r = h.fetch(gw.port, "/bigout.sh", timeout=20)
        return (r.status == 200 and r.body == bytes(3000000)), \
            "status %d, %d bytes" % (r.status, len(r.body))
    h.point(t, "a 3 MB script output arrives intact", bigout)

    # Both bounds of the cap, counted as the bytes stream in (not held).
    def undercap():
        t0 = time.monotonic()
        r, n, zeros = h.fetch_count(gw.port, "/undercap.sh", 60)
        return (r.status == 200 and n == UNDER_CAP and zeros), \
            "status %d, %d of %d bytes (all NUL: %s) in %.1f s" % (
                r.status, n, UNDER_CAP, zeros, time.monotonic() - t0)
    h.point(t, "an output body of 60 MiB (under the 64 MiB cap) arrives "
            "whole", undercap)

    def hugeout():
        t0 = time.monotonic()
        r, n, zeros = h.fetch_count(gw.port, "/hugeout.sh", 60)
        return (r.status == 200 and UNDER_CAP < n <= CAP and zeros and
                not r.has("Content-Length")), \
            "status %d, %d bytes (cap %d) in %.1f s" % (
                r.status, n, CAP, time.monotonic() - t0)
    h.point(t, "an output body over 64 MiB: the connection is closed at "
            "the cap (more than 60 MiB, at most 64 MiB delivered)", hugeout)

    def cgienv():
        if memo:
            return memo[0]
        p = gw.port
        r = post(p, "/env.sh/extra/path?a=1&b=%41", b"xyz",
                 ["Content-Type: application/x-www-form-urlencoded",
                  "X-Test-Header: yes it is", "Proxy: http://evil:1/",
                  "Cookie: c=d"])
        e = h.env_of(r.body.decode())
        e["_port"] = str(p)
        memo.append((r.status == 200, e, r))
        return memo[0]

    def envpoint(name, check):
        def fn():
            ok, env, r = cgienv()
            return ok and check(env), "%r\nenv: %r" % (r.status_line, env)
        h.point(t, name, fn)

    envpoint("REQUEST_METHOD=POST",
             lambda e: e.get("REQUEST_METHOD") == "POST")
    envpoint("QUERY_STRING raw",
             lambda e: e.get("QUERY_STRING") == "a=1&b=%41")
    envpoint("CONTENT_LENGTH=3", lambda e: e.get("CONTENT_LENGTH") == "3")
    envpoint("CONTENT_TYPE from the request",
             lambda e: e.get("CONTENT_TYPE") ==
             "application/x-www-form-urlencoded")
    envpoint("SCRIPT_NAME=/env.sh",
             lambda e: e.get("SCRIPT_NAME") == "/env.sh")
    envpoint("PATH_INFO=/extra/path",
             lambda e: e.get("PATH_INFO") == "/extra/path")
    envpoint("PATH_TRANSLATED=DIR/extra/path",
             lambda e: e.get("PATH_TRANSLATED") == cgi + "/extra/path")
    envpoint("SCRIPT_FILENAME is the script's absolute path",
             lambda e: e.get("SCRIPT_FILENAME") == cgi + "/env.sh")
    envpoint("DOCUMENT_ROOT=DIR",
             lambda e: e.get("DOCUMENT_ROOT", "").rstrip("/") == cgi)
    envpoint("SERVER_PROTOCOL=HTTP/1.1 and GATEWAY_INTERFACE=CGI/1.1",
             lambda e: e.get("SERVER_PROTOCOL") == "HTTP/1.1" and
             e.get("GATEWAY_INTERFACE") == "CGI/1.1")
    envpoint("REMOTE_ADDR=127.0.0.1, SERVER_PORT, REQUEST_URI",
             lambda e: e.get("REMOTE_ADDR") == "127.0.0.1" and
             e.get("SERVER_PORT") == e["_port"] and
             e.get("REQUEST_URI") == "/env.sh/extra/path?a=1&b=%41")
    envpoint("HTTP_* for request headers (HTTP_X_TEST_HEADER, HTTP_HOST, "
             "HTTP_COOKIE)",
             lambda e: e.get("HTTP_X_TEST_HEADER") == "yes it is" and
             e.get("HTTP_HOST") == "127.0.0.1:" + e["_port"] and
             e.get("HTTP_COOKIE") == "c=d")
    envpoint("no HTTP_PROXY (httpoxy)", lambda e: "HTTP_PROXY" not in e)
    envpoint("nothing from the gateway's environment leaks (only "
             "--passenv)", lambda e: "WSPIPE_TEST_LEAK" not in e)

    def getenv():
        r = h.fetch(gw.port, "/env.sh")
        e = h.env_of(r.body.decode())
        return (r.status == 200 and e.get("REQUEST_METHOD") == "GET" and
                e.get("PATH_INFO", "x") == "" and
                e.get("QUERY_STRING", "x") == "" and
                e.get("CONTENT_LENGTH", "") == ""), e
    h.point(t, "a GET: REQUEST_METHOD=GET, empty PATH_INFO, QUERY_STRING "
            "and CONTENT_LENGTH", getenv)

    def other_method():
        r = h.fetch(gw.port, "/env.sh", "DELETE")
        e = h.env_of(r.body.decode())
        return r.status == 200 and e.get("REQUEST_METHOD") == "DELETE", r
    h.point(t, "any method runs the script (DELETE)", other_method)

    def deep():
        r = h.fetch(gw.port, "/sub/deep.sh/p/q")
        return (r.status == 200 and
                r.body == b"deep /sub/deep.sh /p/q\n"), r
    h.point(t, "a script in a subdirectory, with path info", deep)

    def fail():
        r = h.fetch(gw.port, "/fail.sh")
        return r.status == 502, r
    h.point(t, "a script exiting 1 without output: 502", fail)

    def garbage():
        r = h.fetch(gw.port, "/garbage.sh")
        return (r.status == 502 and b"this is not" not in r.body), r
    h.point(t, "a script printing garbage without a blank line: 502",
            garbage)

    def nohdrend():
        r = h.fetch(gw.port, "/nohdrend.sh")
        return r.status == 502, r
    h.point(t, "headers without the ending blank line, then exit: 502",
            nohdrend)

    def noctype():
        r = h.fetch(gw.port, "/noctype.sh")
        return r.status == 502, r
    h.point(t, "a header block without Content-Type or Location: 502",
            noctype)

    def bighdr():
        r = h.fetch(gw.port, "/bighdr.sh")
        return r.status == 502, r
    h.point(t, "a header block over 8 KiB: 502", bighdr)

    def noexec():
        r = h.fetch(gw.port, "/noexec.sh")
        return r.status in (403, 404) and SOURCE not in r.body, r
    h.point(t, "a non-executable file is not run nor shown (403/404)",
            noexec)

    def missing():
        r = h.fetch(gw.port, "/nope.sh")
        return r.status == 404, r
    h.point(t, "a missing script: 404", missing)

    def slow():
        t0 = time.monotonic()
        r = h.fetch(gw.port, "/slow2.sh", timeout=10)
        return (r.status == 200 and r.body == b"done\n"), \
            "%r after %.1f s" % (r, time.monotonic() - t0)
    h.point(t, "a script taking 2 s completes", slow)

    def stderr():
        r = h.fetch(gw.port, "/stderr.sh")
        line = h.wait_log(gw, STDERR)
        return (r.status == 200 and r.body == b"ok\n" and
                line is not None), gw.logtail()
    h.point(t, "the script's stderr appears in the gateway log", stderr)

    def toobig():
        c = h.Client(gw.port)
        try:
            c.request("POST", "/echo.sh",
                      ["Content-Length: %d" % (MAXMSG + 1000),
                       "Connection: close"])
            try:
                r = c.response("POST", 3)
            except h.Timeout:
                try:
                    c.send(b"x" * (MAXMSG + 1000))
                except OSError:
                    pass
                r = c.response("POST", 10)
        finally:
            c.close()
        return r.status == 413, r
    h.point(t, "a body over --maxmsg: 413", toobig)

    def chunked():
        c = h.Client(gw.port)
        try:
            c.request("POST", "/echo.sh",
                      ["Transfer-Encoding: chunked", "Connection: close"])
            try:
                r = c.response("POST", 3)
            except h.Timeout:
                try:
                    c.send(b"5\r\nhello\r\n0\r\n\r\n")
                except OSError:
                    pass
                r = c.response("POST", 10)
        finally:
            c.close()
        return r.status == 411, r
    h.point(t, "a chunked request body: 411", chunked)

    for target in ("/../outside.sh", "/%2e%2e/outside.sh",
                   "/sub/../../outside.sh", "/%2E%2e%2foutside.sh",
                   "/sub/%2e%2e/%2e%2e/outside.sh", "/link-out.sh",
                   "/link-out.sh/extra"):
        def esc(target=target):
            r = h.fetch(gw.port, target)
            return r.status in (403, 404) and OUTSIDE not in r.body, r
        h.point(t, "%s: 403 or 404, outside script not run" % target, esc)

    def link_in():
        r = h.fetch(gw.port, "/link-in.sh")
        return r.status == 200 and r.body == b"hello cgi\n", r
    h.point(t, "a symlink to a script inside runs it", link_in)

    def upgrade():
        ok, diag = h.echo_ok(gw.port, "ws beside cgi")
        return ok, diag
    h.point(t, "a WebSocket upgrade still runs COMMAND", upgrade)

    def accesslog():
        h.fetch(gw.port, "/notfound.sh?z=1")
        line = h.wait_log(gw, r"GET /notfound\.sh\S* 404 \d+")
        return line is not None, gw.logtail()
    h.point(t, "an access log line for a CGI request", accesslog)

    h.still_running(t, gw)


def maxforks(t, gw, marker):
    port = gw.port
    c = h.Client(port, timeout=15)
    try:
        c.request("GET", "/hold.sh", ["Connection: close"])
        deadline = time.monotonic() + 5
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.02)

        def second():
            if not os.path.exists(marker):
                return False, "the first script did not start"
            r = h.fetch(port, "/hello.sh")
            return r.status == 429, r
        h.point(t, "--maxforks=1 with a CGI running: a second request "
                "gets 429", second)

        def ws429():
            cw = h.Client(port)
            try:
                r = cw.upgrade("/")
            finally:
                cw.close()
            return r.status == 429, r
        h.point(t, "... and so does a WebSocket upgrade", ws429)
    finally:
        c.close()


if __name__ == "__main__":
    h.run(main, 120)
