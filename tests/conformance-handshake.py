#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Opening handshake conformance (RFC 6455 4.2) and its limits: the 101
# answer and its Sec-WebSocket-Accept, frames pipelined behind the request,
# oversized requests (431), and the 10 s handshake timeout against clients
# that stop or dribble.
#

import select
import socket
import time

from lib import (PING, PONG, TEXT, Client, Gateway, accept_key, describe,
                 echo_ok, frame, point, run, upgrade_request)


def accept_header(gw, key=None, want=None):
    c = Client(gw.port, handshake=False)
    try:
        key = key or c.key
        c.send(upgrade_request(c.hostheader(), key=key)[0])
        r = c.read_head(3)
        if r is None:
            return False, "EOF before the HTTP answer: %r" % bytes(c.buf)
        want = want or accept_key(key)
        got = r.get("sec-websocket-accept")
        ok = (r.status_line.startswith("HTTP/1.1 101 ") and
              r.get("upgrade", "").lower() == "websocket" and
              "upgrade" in r.get("connection", "").lower() and
              got == want)
        return ok, "status %r, headers %r, want accept %r" % (
            r.status_line, r.headers, want)
    finally:
        c.close()


def pipelined(gw):
    data = frame(TEXT, "first") + frame(PING, "pp") + frame(TEXT, "second")
    c = Client(gw.port, handshake=True, extra=data)
    try:
        seen = []
        op1, d1 = c.recv_message(3, seen)
        op2, d2 = c.recv_message(3, seen)
        pongs = [f for f in seen if f.opcode == PONG and f.payload == b"pp"]
        return (d1 == b"first" and d2 == b"second" and len(pongs) == 1,
                "got: %s" % "; ".join(map(describe, seen)))
    finally:
        c.close()


def http_status(gw, raw):
    c = Client(gw.port, handshake=False)
    try:
        try:
            c.send(raw)
        except OSError:
            pass
        try:
            r = c.read_head(3)
        except Exception as e:
            return "no answer: %s" % e
        return r.status if r else "no answer: EOF before the HTTP answer"
    finally:
        c.close()


def big_request(gw, size):
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    pad = "X-Pad: " + "p" * size
    return http_status(gw, upgrade_request("127.0.0.1:%d" % gw.port, key=key,
                                           extra=[pad])[0])


def many_headers(gw, n):
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    return http_status(gw, upgrade_request(
        "127.0.0.1:%d" % gw.port, key=key,
        extra=["X-H%d: v" % i for i in range(n)])[0])


def timeouts(gw):
    """A client that stops mid-request and one that dribbles a byte every
    0.5 s: both must be disconnected, unanswered, within 12 s."""
    req = upgrade_request("127.0.0.1:%d" % gw.port,
                          key="dGhlIHNhbXBsZSBub25jZQ==")[0]
    stop = socket.create_connection(("127.0.0.1", gw.port), 2)
    drib = socket.create_connection(("127.0.0.1", gw.port), 2)
    res = {}
    try:
        stop.sendall(req[:30])
        start = time.monotonic()
        nxt, pos = start, 0
        got = {stop: b"", drib: b""}
        names = {stop: "stopped", drib: "dribbling"}
        while len(res) < 2 and time.monotonic() - start < 13:
            now = time.monotonic()
            if "dribbling" not in res and now >= nxt and \
               pos < len(req) - 4:
                try:
                    drib.send(req[pos:pos + 1])
                except OSError:
                    pass
                pos += 1
                nxt = now + 0.5
            live = [s for s in (stop, drib) if names[s] not in res]
            r, _, _ = select.select(live, [], [], max(0.0, nxt - now))
            for s in r:
                try:
                    d = s.recv(4096)
                except OSError:
                    d = b""
                if d:
                    got[s] += d
                else:
                    res[names[s]] = (time.monotonic() - start, got[s])
        return res
    finally:
        stop.close()
        drib.close()


def main(t):
    with Gateway(["cat"], []) as gw:
        point(t, "101 answer with Upgrade, Connection and the right "
              "Sec-WebSocket-Accept (RFC 6455 4.2.2)",
              lambda: accept_header(gw))
        point(t, "RFC 6455 1.3 sample key gets s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
              lambda: accept_header(gw, "dGhlIHNhbXBsZSBub25jZQ==",
                                    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        point(t, "frames in the same write as the upgrade request are not "
              "lost", lambda: pipelined(gw))
        st = big_request(gw, 8 * 1024 + 100)
        t.ok(st == 431, "request line + headers over 8 KiB -> 431",
             "got %r" % st)
        st = big_request(gw, 7 * 1024)
        t.ok(st == 101, "request of 7 KiB is accepted", "got %r" % st)
        st = many_headers(gw, 101)
        t.ok(st == 431, "more than 100 headers -> 431", "got %r" % st)

        res = timeouts(gw)
        for name in ("stopped", "dribbling"):
            r = res.get(name)
            t.ok(r is not None and r[0] < 12 and r[1] == b"",
                 "handshake timeout: a %s partial request is disconnected "
                 "without an answer within 12 s" % name,
                 "result %r" % (r,))
        point(t, "gateway still serves after the handshake timeouts",
              lambda: echo_ok(gw.port))


run(main, 60)
