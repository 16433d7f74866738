#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode over plain HTTP: a GET of a resource's URI with
# `Accept: text/event-stream` is a stream of server-sent events.
#  - `--listen=/live`: /live/x is resource /x; the answer is 200
#    text/event-stream without a length; the current state comes first,
#    as an event whose id is the state's id, then each new one;
#  - Last-Event-ID resumes after that state (the history's rules); an id
#    of another id space gets `event: gap` / `data: reset` first; a
#    malformed one counts as none;
#  - a CR in a state starts a new data line: it cannot forge a field;
#  - heartbeat comments every --ping-interval;
#  - grants: an authorizer's subscribe patterns decide (403 before any
#    event), like for a WebSocket;
#  - bare --listen: /wspipe/live/x; without the Accept, or outside the
#    mount, a GET is what it was;
#  - 50 streams at once each get a publish; when they go, the gateway's
#    listen clients, subscriptions and resources are back to 0.

import os
import socket
import time

import lib as W


class Stream:
    """A raw HTTP client reading one event stream."""

    def __init__(self, port, path, headers=(), timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout * W.SLOW)
        req = "GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n" \
            % path
        for h in headers:
            req += h + "\r\n"
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0] else 0
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def event(self, timeout=5.0):
        """The next block up to a blank line, as a list of its lines."""
        deadline = time.monotonic() + timeout * W.SLOW
        while b"\n\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise W.Timeout()
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                raise W.Timeout()
            if not d:
                raise EOFError()
            self.buf += d
        block, _, self.buf = self.buf.partition(b"\n\n")
        return block.decode().split("\n")

    def events(self, n, timeout=5.0):
        """n events that are not heartbeats."""
        out = []
        while len(out) < n:
            e = self.event(timeout)
            if e != [":"]:
                out.append(e)
        return out

    def close(self):
        self.sock.close()


def publish(sock, *datas):
    c = W.LineConn(sock)
    try:
        got = c.ask(*["publish /x %s" % d if not d.startswith("/") else
                      "publish %s" % d for d in datas])
    finally:
        c.close()
    return got


def main(t):
    with W.Fixture("wspipe-sse") as fx:
        sock = fx.path("b.sock")
        gw = fx.gateway(["--listen=/live", "--listen-history=10",
                         "--broker-socket=" + sock, "--ping-interval=1",
                         "--metrics=/metrics"], W.cmd("cat"))
        W.wait_until(lambda: W.broker_answers(sock), 10 * W.SLOW)
        publish(sock, "one")

        def p_stream():
            s = Stream(gw.port, "/live/x")
            try:
                first = s.events(1)[0]
                publish(sock, "two")
                second = s.events(1)[0]
            finally:
                s.close()
            h = s.headers
            ok = (s.status == 200 and
                  h.get("content-type", "").startswith("text/event-stream")
                  and "content-length" not in h and
                  h.get("cache-control") == "no-cache" and
                  len(first) == 2 and first[0].startswith("id: ") and
                  first[1] == "data: one" and second[1] == "data: two" and
                  int(second[0].split("-")[1]) ==
                  int(first[0].split("-")[1]) + 1)
            return ok, (s.status, h, first, second)

        W.point(t, "GET /live/x as text/event-stream: 200 without a length, "
                "the current state first with its id, then the next",
                p_stream)

        def p_resume():
            s = Stream(gw.port, "/live/x")
            try:
                cur = s.events(1)[0]
            finally:
                s.close()
            publish(sock, "three", "four", "five")
            r = Stream(gw.port, "/live/x", ["Last-Event-ID: " +
                                            cur[0][4:]])
            try:
                got = r.events(3)
            finally:
                r.close()
            datas = [e[-1] for e in got]
            return datas == ["data: three", "data: four", "data: five"], got

        W.point(t, "Last-Event-ID resumes after that state: exactly the "
                "ones published since, in order", p_resume)

        def p_reset():
            r = Stream(gw.port, "/live/x", ["Last-Event-ID: 1234abcd-2"])
            try:
                got = r.events(2)
            finally:
                r.close()
            bad = Stream(gw.port, "/live/x", ["Last-Event-ID: not-an-id"])
            try:
                cur = bad.events(1)
            finally:
                bad.close()
            return (got[0] == ["event: gap", "data: reset"] and
                    got[1][-1] == "data: one" and
                    cur[0][-1] == "data: five"), (got, cur)

        W.point(t, "an id of another id space: `event: gap`, `data: reset`, "
                "then what the history keeps; a malformed one counts as "
                "none (the current state)",
                p_reset)

        def p_pattern():
            publish(sock, "/p/b 2", "/p/a 1", "/q/c 3")
            s = Stream(gw.port, "/live/p/*", ["Last-Event-ID: 1234abcd-1"])
            try:
                snap = s.events(2)
                publish(sock, "/q/x 4", "/p/new 5")
                upd = s.events(1)
            finally:
                s.close()
            plain = W.fetch(gw.port, "/live/p/*", timeout=5 * W.SLOW)
            got = [e[1:] for e in snap + upd]
            return (s.status == 200 and
                    got == [["data: /p/a", "data: 1"],
                            ["data: /p/b", "data: 2"],
                            ["data: /p/new", "data: 5"]] and
                    all(e[0].startswith("id: ") for e in snap + upd) and
                    plain.status == 400), (s.status, snap, upd, plain)

        W.point(t, "a pattern's stream: the snapshot, then each update, "
                "each event's data its resource's line then the state; "
                "Last-Event-ID ignored; a plain GET of it 400", p_pattern)

        def p_cr():
            s = Stream(gw.port, "/live/x")
            try:
                s.events(1)
                c = W.LineConn(sock)
                c.send_raw(b"publish /x a\rid: 99\rretry: 1\n")
                c.ask()
                c.close()
                e = s.events(1)[0]
            finally:
                s.close()
            return (len(e) == 4 and e[0].startswith("id: ") and
                    e[1:] == ["data: a", "data: id: 99", "data: retry: 1"]), e

        W.point(t, "a CR in a state starts a new data line: no field can be "
                "forged", p_cr)

        def p_heartbeat():
            s = Stream(gw.port, "/live/x")
            try:
                s.events(1)
                beats = [s.event(3), s.event(3)]
            finally:
                s.close()
            return beats == [[":"], [":"]], beats

        W.point(t, "a comment every --ping-interval keeps the stream open",
                p_heartbeat)

        def p_other_paths():
            r1 = W.fetch(gw.port, "/live", timeout=5 * W.SLOW)
            r2 = W.fetch(gw.port, "/elsewhere/x", headers=[
                "Accept: text/event-stream"], timeout=5 * W.SLOW)
            r3 = W.fetch(gw.port, "/live", headers=[
                "Accept: text/event-stream"], timeout=5 * W.SLOW)
            ok = all(r.status >= 400 and "event-stream" not in
                     (r.get("Content-Type") or "") for r in (r1, r2, r3))
            return ok, [(r.status, r.get("Content-Type")) for r in
                        (r1, r2, r3)]

        W.point(t, "outside the mount, or naming no resource, a GET is "
                "answered as before", p_other_paths)

        def p_many():
            ss = [Stream(gw.port, "/live/many") for _ in range(50)]
            try:
                publish(sock, "/many hello")
                got = [s.events(1)[0][-1] for s in ss]
            finally:
                for s in ss:
                    s.close()
            return got == ["data: hello"] * 50, set(got)

        W.point(t, "50 streams at once each get a publish", p_many)

        def p_gone():
            return (W.wait_until(lambda: W.listen_idle(gw.port),
                                 10 * W.SLOW), "gauges not back to 0")

        W.point(t, "once the streams have gone, the gateway's listen "
                "clients, subscriptions and resources are back to 0",
                p_gone)

        # Grants: an authorizer lets this client follow /ok/* only.
        auth = fx.path("auth.sh")
        with open(auth, "w") as f:
            f.write("#!/bin/sh\necho 'subscribe /ok/*'\nexit 0\n")
        os.chmod(auth, 0o755)
        sock2 = fx.path("b2.sock")
        g2 = fx.gateway(["--listen", "--authorizer=" + auth,
                         "--broker-socket=" + sock2, "--metrics=/metrics"])
        W.wait_until(lambda: W.broker_answers(sock2), 10 * W.SLOW)

        def p_grants():
            no = Stream(g2.port, "/wspipe/live/no")
            no.close()
            nopat = Stream(g2.port, "/wspipe/live/o*")
            nopat.close()
            pat = Stream(g2.port, "/wspipe/live/ok/*")
            pat.close()
            yes = Stream(g2.port, "/wspipe/live/ok/x")
            try:
                publish(sock2, "/ok/x granted")
                e = yes.events(1)[0]
            finally:
                yes.close()
            return (no.status == 403 and yes.status == 200 and
                    e[-1] == "data: granted" and nopat.status == 403 and
                    pat.status == 200), (no.status, yes.status, e,
                                         nopat.status, pat.status)

        W.point(t, "bare --listen: /wspipe/live/R; an authorizer's grants "
                "decide, 403 before any event (a pattern needs a pattern "
                "grant)", p_grants)


        def p_vanish():
            ss = [Stream(g2.port, "/wspipe/live/ok/v") for _ in range(10)]

            def subscribed():
                r = W.fetch(g2.port, "/metrics", timeout=5 * W.SLOW)
                return "wspipe_listen_subscriptions 10" in \
                    r.body.decode().split("\n")
            if not W.wait_until(subscribed, 10 * W.SLOW):
                return False, "the streams never all subscribed"
            for i, st in enumerate(ss):
                if i % 2:
                    st.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       b"\x01\x00\x00\x00\x00\x00\x00\x00")
                st.close()
            # The heartbeat is 30 s away: only reading sees them go.
            return (W.wait_until(lambda: W.listen_idle(g2.port),
                                 10 * W.SLOW), "streams still counted")

        W.point(t, "streams whose clients leave (closed or reset) are gone "
                "at once, not at the next heartbeat", p_vanish)


W.run(main, timeout=120, plan=11)
