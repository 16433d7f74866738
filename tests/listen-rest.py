#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode over plain HTTP, one request, one answer (the resource's URI
# under the listen mount, as for server-sent events):
#  - GET: 404 `no state`, or 200 with the state as a text/plain body and
#    its id as a strong ETag; HEAD the same without the body;
#    If-None-Match naming it (W/, lists, `*`) gives 304 with the ETag;
#  - a long poll (`Prefer: wait=N`): the state after the one If-None-Match
#    names, as soon as there is one (at once if the client is behind,
#    from the history), else 304 when N seconds have passed; without an
#    ETag the first state, or 404;
#  - POST: the body (one line end stripped) is the new state, 204; the
#    same grants as a browser's publish (403), the same checks (400 for a
#    newline or bad UTF-8, 413 past 65536 bytes); Expect: 100-continue is
#    answered;
#  - an authorizer's grants decide GET as for a WebSocket (403);
#  - the broker gone: 503, never a hang;
#  - --listen-max-per-address counts waiting polls (429);
#  - 200 requests at once leave no listen client, subscription or
#    resource behind, and every answer ends its connection.

import os
import socket
import time

import lib as W


def publish(sock, *lines):
    c = W.LineConn(sock)
    try:
        return c.ask(*lines)
    finally:
        c.close()


def gauge(port, name):
    r = W.fetch(port, "/metrics", timeout=5 * W.SLOW)
    for line in r.body.decode().split("\n"):
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


class Poll:
    """A request left waiting on its own connection."""

    def __init__(self, port, target, headers=(), method="GET", body=b""):
        self.c = W.Client(port, 30 * W.SLOW)
        self.method = method
        self.c.request(method, target, list(headers) +
                       ["Connection: close"], body)

    def answer(self, timeout=10.0):
        try:
            return self.c.response(self.method, timeout * W.SLOW)
        finally:
            self.c.close()


def main(t):
    with W.Fixture("wspipe-rest") as fx:
        sock = fx.path("b.sock")
        gw = fx.gateway(["--listen=/live", "--listen-history=10",
                         "--listen-publish=/pub/", "--broker-socket=" + sock,
                         "--metrics=/metrics",
                         "--listen-max-per-address=51"], W.cmd("cat"))
        W.wait_until(lambda: W.broker_answers(sock), 10 * W.SLOW)
        port = gw.port

        def get(path, headers=(), method="GET"):
            return W.fetch(port, path, method=method, headers=headers,
                           timeout=10 * W.SLOW)

        def post(path, body, headers=()):
            return W.fetch(port, path, method="POST", headers=list(
                headers) + ["Content-Length: %d" % len(body)], body=body,
                timeout=10 * W.SLOW)

        def p_none():
            # The gateway's link to its broker is up: an answer not 503.
            W.wait_until(lambda: get("/live/pub/none").status != 503,
                         10 * W.SLOW)
            r = get("/live/pub/none")
            h = get("/live/pub/none", method="HEAD")
            return (r.status == 404 and r.body == b"no state\n" and
                    h.status == 404), (r, h)

        W.point(t, "GET of a resource with no state: 404 `no state` "
                "(HEAD too)", p_none)

        ws = W.WS(port, "/live")
        fx.wss.append(ws)
        ids = {}

        def p_post():
            ws.send("subscribe /pub/a current")
            ok, why = ws.expect("ok subscribe /pub/a", 5 * W.SLOW)
            if not ok:
                return False, why
            r = post("/live/pub/a", b"hello world\n")
            m = ws.recv(5 * W.SLOW)
            ids["a"] = m.split()[2]
            return (r.status == 204 and r.body == b"" and
                    m == "update /pub/a %s hello world" % ids["a"] and
                    r.get("Connection") == "close"), (r, m)

        W.point(t, "POST publishes its body (one line end stripped): 204, "
                "and a WebSocket subscriber gets the update with its id",
                p_post)

        def p_get():
            r = get("/live/pub/a")
            h = get("/live/pub/a", method="HEAD")
            ok = (r.status == 200 and r.body == b"hello world" and
                  r.get("ETag") == '"%s"' % ids.get("a") and
                  r.get("Content-Type") == "text/plain; charset=utf-8" and
                  r.get("Cache-Control") == "no-cache" and
                  h.status == 200 and h.body in (b"", None) and
                  h.get("Content-Length") == "11" and
                  h.get("ETag") == r.get("ETag"))
            return ok, (r, h)

        W.point(t, "GET: 200, the state as the body, its id as a strong "
                "ETag; HEAD: the same without the body", p_get)

        def p_304():
            et = '"%s"' % ids.get("a")
            rs = [get("/live/pub/a", ["If-None-Match: " + v]) for v in
                  (et, "W/" + et, '"x-1", ' + et, "*")]
            stale = get("/live/pub/a", ["If-None-Match: \"1-1\""])
            ok = (all(r.status == 304 and r.body in (b"", None) and
                      r.get("ETag") == et for r in rs) and
                  stale.status == 200 and stale.body == b"hello world")
            return ok, (rs, stale)

        W.point(t, "If-None-Match naming the state (strong, W/, in a list, "
                "`*`): 304 with the ETag; another: 200", p_304)

        def p_poll_waits():
            et = '"%s"' % ids["a"]
            p = Poll(port, "/live/pub/a", ["If-None-Match: " + et,
                                           "Prefer: wait=30"])
            # The poll is subscribed (the gateway's gauge): publish.
            if not W.wait_until(lambda: gauge(
                    port, "wspipe_listen_subscriptions") == 2, 10 * W.SLOW):
                return False, "the poll never subscribed"
            publish(sock, "publish /pub/a next")
            r = p.answer()
            m = ws.recv(5 * W.SLOW)
            ids["a"] = m.split()[2]
            return (r.status == 200 and r.body == b"next" and
                    r.get("ETag") == '"%s"' % ids["a"]), (r, m)

        W.point(t, "long poll (Prefer: wait=30, If-None-Match current): "
                "waits, then answers the next state with its ETag",
                p_poll_waits)

        def p_poll_timeout():
            et = '"%s"' % ids["a"]
            t0 = time.monotonic()
            r = W.fetch(port, "/live/pub/a", headers=[
                "If-None-Match: " + et, "Prefer: wait=1"],
                timeout=20 * W.SLOW)
            took = time.monotonic() - t0
            r2 = W.fetch(port, "/live/pub/nothing", headers=[
                "Prefer: wait=1"], timeout=20 * W.SLOW)
            return (r.status == 304 and r.get("ETag") == et and
                    took >= 0.9 and r2.status == 404), (r, took, r2)

        W.point(t, "long poll with nothing new: 304 with the same ETag "
                "after the wait (404 for a resource that has none)",
                p_poll_timeout)

        def p_poll_behind():
            old = ids["a"]
            lines = publish(sock, "publish /pub/a s1", "publish /pub/a s2",
                            "publish /pub/a s3")
            got = [ws.recv(5 * W.SLOW) for _ in range(3)]
            ids["a"] = got[-1].split()[2]
            r = get("/live/pub/a", ["If-None-Match: \"%s\"" % old,
                                    "Prefer: wait=30"])
            r2 = get("/live/pub/a", ["If-None-Match: " + r.get("ETag", ""),
                                     "Prefer: wait=30"])
            return (r.status == 200 and r.body == b"s1" and
                    r.get("ETag") == '"%s"' % got[0].split()[2] and
                    r2.status == 200 and r2.body == b"s2"), (lines, r, r2)

        W.point(t, "a long poll that is behind is answered at once with "
                "the state after its ETag, from the history: polling "
                "walks every state", p_poll_behind)

        def p_poll_first():
            p = Poll(port, "/live/pub/first", ["Prefer: wait=30"])
            if not W.wait_until(lambda: gauge(
                    port, "wspipe_listen_subscriptions") == 2, 10 * W.SLOW):
                return False, "the poll never subscribed"
            r0 = post("/live/pub/first", b"born")
            r = p.answer()
            return (r0.status == 204 and r.status == 200 and
                    r.body == b"born"), (r0, r)

        W.point(t, "a long poll without an ETag on a resource with no "
                "state gets its first one", p_poll_first)

        def p_post_refused():
            rs = {
                "grant": post("/live/other/x", b"v"),
                "newline": post("/live/pub/b", b"a\nb"),
                "utf8": post("/live/pub/b", b"\xff\xfe"),
                "big": post("/live/pub/b", b"x" * 70000),
            }
            chunked = W.http_exchange(
                ("127.0.0.1", port),
                b"POST /live/pub/b HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" +
                b"".join(b"8000\r\n" + b"y" * 0x8000 + b"\r\n"
                         for _ in range(3)) + b"0\r\n\r\n")
            none = get("/live/pub/b")
            ok = (rs["grant"].status == 403 and
                  rs["grant"].body == b"not allowed\n" and
                  rs["newline"].status == 400 and rs["utf8"].status == 400
                  and rs["big"].status == 413 and
                  chunked is not None and chunked.status in (400, 413) and
                  none.status == 404)
            return ok, (rs, chunked, none)

        W.point(t, "POST refused: no publish grant 403, a newline or bad "
                "UTF-8 400, past 65536 bytes 413 (chunked too); nothing "
                "is published", p_post_refused)

        def p_expect():
            c = socket.create_connection(("127.0.0.1", port), 5 * W.SLOW)
            c.settimeout(10 * W.SLOW)
            try:
                c.sendall(b"POST /live/pub/e HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 2000\r\n"
                          b"Expect: 100-continue\r\n\r\n")
                first = b""
                while b"\r\n\r\n" not in first:
                    d = c.recv(4096)
                    if not d:
                        break
                    first += d
                c.sendall(b"e" * 2000)
                rest = b""
                while True:
                    d = c.recv(4096)
                    if not d:
                        break
                    rest += d
            finally:
                c.close()
            r = get("/live/pub/e")
            return (first == b"HTTP/1.1 100 Continue\r\n\r\n" and
                    rest.startswith(b"HTTP/1.1 204") and
                    r.body == b"e" * 2000), (first, rest[:40], r)

        W.point(t, "POST with Expect: 100-continue: 100 before the body, "
                "then 204", p_expect)

        def p_many():
            ps = [Poll(port, "/live/pub/many", ["Prefer: wait=30"])
                  for _ in range(50)]
            if not W.wait_until(lambda: gauge(
                    port, "wspipe_listen_subscriptions") == 51,
                    20 * W.SLOW):
                return False, "the polls never all subscribed"
            refused = W.fetch(port, "/live/pub/many", headers=[
                "Prefer: wait=30"], timeout=10 * W.SLOW)
            publish(sock, "publish /pub/many all")
            got = [p.answer().body for p in ps]
            gets = [get("/live/pub/many") for _ in range(150)]
            return (got == [b"all"] * 50 and refused.status == 429 and
                    all(g.status == 200 for g in gets)), (
                        set(got), refused, set(g.status for g in gets))

        W.point(t, "50 long polls wait at once (the next one past "
                "--listen-max-per-address gets 429), each gets the "
                "publish; then 150 GETs", p_many)

        def p_vanish():
            ps = [Poll(port, "/live/pub/v", ["Prefer: wait=60"])
                  for _ in range(20)]
            if not W.wait_until(lambda: gauge(
                    port, "wspipe_listen_subscriptions") == 21,
                    20 * W.SLOW):
                return False, "the polls never all subscribed"
            for p in ps[:10]:
                p.c.close(rst=True)
            for p in ps[10:]:
                p.c.close()
            return (W.wait_until(lambda: gauge(
                port, "wspipe_listen_subscriptions") == 1, 20 * W.SLOW),
                "their subscriptions stayed")

        W.point(t, "20 long polls whose clients vanish (10 reset, 10 "
                "closed) leave no subscription behind", p_vanish)

        def p_gone():
            ws.close()

            return (W.wait_until(lambda: W.listen_idle(port),
                                 10 * W.SLOW), "gauges not back to 0")

        W.point(t, "afterwards no listen client, subscription or resource "
                "is left", p_gone)

        def p_closes():
            c = socket.create_connection(("127.0.0.1", port),
                                         5 * W.SLOW)
            c.settimeout(5 * W.SLOW)
            try:
                c.sendall(b"GET /live/pub/a HTTP/1.1\r\nHost: x\r\n\r\n"
                          b"GET /live/pub/a HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    data += d
            finally:
                c.close()
            return (data.count(b"HTTP/1.1 200") == 1 and
                    b"Connection: close" in data), data[:300]

        W.point(t, "an answer ends its connection (Connection: close); "
                "a pipelined request after it is not answered", p_closes)

        # Grants from an authorizer, as for a WebSocket.
        auth = fx.path("auth.sh")
        with open(auth, "w") as f:
            f.write("#!/bin/sh\necho 'subscribe /ok/*'\n"
                    "echo 'publish /ok/*'\nexit 0\n")
        os.chmod(auth, 0o755)
        sock2 = fx.path("b2.sock")
        g2 = fx.gateway(["--listen", "--authorizer=" + auth,
                         "--broker-socket=" + sock2])
        W.wait_until(lambda: W.broker_answers(sock2), 10 * W.SLOW)

        def p_grants():
            W.wait_until(lambda: W.fetch(
                g2.port, "/wspipe/live/ok/x",
                timeout=10 * W.SLOW).status != 503, 10 * W.SLOW)
            a = W.fetch(g2.port, "/wspipe/live/ok/x", method="POST",
                        headers=["Content-Length: 7"], body=b"granted",
                        timeout=10 * W.SLOW)
            b = W.fetch(g2.port, "/wspipe/live/ok/x", timeout=10 * W.SLOW)
            c = W.fetch(g2.port, "/wspipe/live/no", timeout=10 * W.SLOW)
            d = W.fetch(g2.port, "/wspipe/live/no", method="POST",
                        headers=["Content-Length: 1"], body=b"x",
                        timeout=10 * W.SLOW)
            e = W.fetch(g2.port, "/wspipe/live/no", headers=[
                "Prefer: wait=5"], timeout=10 * W.SLOW)
            return (a.status == 204 and b.status == 200 and
                    b.body == b"granted" and c.status == 403 and
                    d.status == 403 and e.status == 403), (a, b, c, d, e)

        W.point(t, "bare --listen: /wspipe/live/R; an authorizer's grants "
                "decide GET, long poll and POST (403)", p_grants)

        # The broker gone: answers, not hangs.
        sock3 = fx.path("b3.sock")
        br = fx.broker(sock3)
        g3 = fx.gateway(["--listen", "--broker=" + sock3,
                         "--listen-publish=/"])
        publish(sock3, "publish /k v")

        def p_broker_gone():
            if not W.wait_until(lambda: W.fetch(
                    g3.port, "/wspipe/live/k", timeout=10 * W.SLOW).status == 200,
                    10 * W.SLOW):
                return False, "the gateway never reached its broker"
            r0 = W.fetch(g3.port, "/wspipe/live/k", timeout=10 * W.SLOW)
            br.kill()
            br.wait()
            r1 = W.fetch(g3.port, "/wspipe/live/k", timeout=10 * W.SLOW)
            r2 = W.fetch(g3.port, "/wspipe/live/k", method="POST",
                         headers=["Content-Length: 2"], body=b"v2",
                         timeout=10 * W.SLOW)
            return (r0.status == 200 and r1.status == 503 and
                    r2.status == 503), (r0, r1, r2)

        W.point(t, "the broker gone: GET and POST get 503 at once",
                p_broker_gone)


        # The WebSocket's origin policy holds for plain HTTP too.
        g4 = fx.gateway(["--listen", "--sameorigin", "--listen-publish=/",
                         "--broker-socket=" + fx.path("b4.sock")])

        def p_origin():
            W.wait_until(lambda: W.fetch(
                g4.port, "/wspipe/live/o", timeout=10 * W.SLOW).status != 503,
                10 * W.SLOW)
            mine = "Origin: http://127.0.0.1:%d" % g4.port
            rs = [W.fetch(g4.port, "/wspipe/live/o", method="POST",
                          headers=[o, "Content-Length: 1"], body=b"v",
                          timeout=10 * W.SLOW)
                  for o in ("Origin: http://evil.example", mine)]
            ev = W.fetch(g4.port, "/wspipe/live/o", headers=[
                "Origin: http://evil.example", "Accept: text/event-stream"],
                timeout=10 * W.SLOW)
            got = W.fetch(g4.port, "/wspipe/live/o", timeout=10 * W.SLOW)
            return ([r.status for r in rs] == [403, 204] and
                    ev.status == 403 and got.body == b"v"), (rs, ev, got)

        W.point(t, "--sameorigin: a POST or a stream from another origin "
                "is 403, from the gateway's own origin it goes", p_origin)


W.run(main, timeout=240, plan=17)
