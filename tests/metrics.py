#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --metrics=PATH: Prometheus's text format (version 0.0.4), checked line
# by line with a strict parser (every sample under its HELP and TYPE, one
# family each, label values quoted, numbers); the numbers move as traffic
# moves: connections by role (http, program, listen, cgi), programs
# running, messages and bytes each way, close codes by code (a peer's odd
# codes fold into "other", so the answer cannot grow), listen
# subscriptions, resources followed, cached bytes, publishes, deliveries,
# broker reconnects, HTTP answers by class; gauges come back to 0 when
# everything has gone; HEAD has no body, POST is refused with 405; a
# --metrics that is not a path is refused.

import os
import re
import signal
import struct

import lib as W

LINE = re.compile(r'^([a-z_]+)(\{([a-z]+)="([^"\\]*)"\})? (-?[0-9]+)$')


def scrape(gw, path="/metrics"):
    """{(name, label value or None): value}, after a strict parse."""
    r = W.fetch(gw.port, path, timeout=5 * W.SLOW)
    if r.status != 200:
        raise RuntimeError("status %d" % r.status)
    ctype = r.get("Content-Type") or ""
    if not ctype.startswith("text/plain; version=0.0.4"):
        raise RuntimeError("Content-Type %r" % ctype)
    out, helped, typed, seen_families = {}, set(), {}, []
    for line in r.body.decode().split("\n")[:-1]:
        if line.startswith("# HELP "):
            name = line.split()[2]
            if name in helped:
                raise RuntimeError("family %s twice" % name)
            helped.add(name)
            seen_families.append(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            if kind not in ("counter", "gauge") or name not in helped:
                raise RuntimeError("bad TYPE line %r" % line)
            typed[name] = kind
            continue
        m = LINE.match(line)
        if not m:
            raise RuntimeError("bad sample line %r" % line)
        name = m.group(1)
        if name not in typed or seen_families[-1] != name:
            raise RuntimeError("sample %r outside its family" % line)
        if typed[name] == "counter" and not name.endswith("_total"):
            raise RuntimeError("counter %s without _total" % name)
        key = (name, m.group(4))
        if key in out:
            raise RuntimeError("sample %r twice" % line)
        out[key] = int(m.group(5))
    return out


def close_with(gw, code):
    """A WebSocket to cat that the client closes with code."""
    c = W.Client(gw, timeout=10 * W.SLOW)
    try:
        c.send(b'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'
               b'Connection: Upgrade\r\nSec-WebSocket-Key: '
               b'dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13'
               b'\r\n\r\n')
        r = c.read_head()
        if r is None or r.status != 101:
            raise RuntimeError("no 101")
        c.send_frame(0x8, struct.pack('!H', code))
        c.recv_close()
        c.wait_eof(5 * W.SLOW)
    finally:
        c.close()


def main(t):
    cgidir = W.mkdtemp("wspipe-metrics-cgi")
    script = os.path.join(cgidir, "slow.cgi")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                "read line\necho \"$line\"\n")
    os.chmod(script, 0o755)
    gw = W.Gateway(W.cmd("cat"), ["--metrics=/metrics", "--listen=/live",
                                  "--listen-publish", "--cgidir=" + cgidir])
    m0 = scrape(gw)

    def p_families():
        want = {"wspipe_connections", "wspipe_programs_running",
                "wspipe_listen_subscriptions", "wspipe_listen_resources",
                "wspipe_listen_cached_bytes",
                "wspipe_connections_accepted_total",
                "wspipe_messages_total", "wspipe_message_bytes_total",
                "wspipe_listen_publishes_total",
                "wspipe_listen_deliveries_total",
                "wspipe_broker_reconnects_total",
                "wspipe_http_responses_total", "wspipe_close_codes_total"}
        have = {k[0] for k in m0}
        roles = {k[1] for k in m0 if k[0] == "wspipe_connections"}
        return (have == want and roles == {"http", "program", "listen",
                                           "cgi"} and
                m0[("wspipe_connections", "http")] == 1), \
            (sorted(have ^ want), roles)

    W.point(t, "every family is there, each under its HELP and TYPE; the "
            "scrape's own connection is the one http connection",
            p_families)

    def p_program():
        ws = W.WS(gw.port, "/")
        ws.send("hello")
        echo = ws.recv(5 * W.SLOW)
        during = scrape(gw)
        ws.close()
        W.wait_until(lambda: scrape(gw)[("wspipe_connections", "program")]
                     == 0, 5 * W.SLOW)
        after = scrape(gw)
        d = {k: after[k] - m0.get(k, 0) for k in after}
        ok = (echo == "hello" and
              during[("wspipe_connections", "program")] == 1 and
              during[("wspipe_programs_running", None)] == 1 and
              d[("wspipe_messages_total", "in")] == 1 and
              d[("wspipe_messages_total", "out")] == 1 and
              d[("wspipe_message_bytes_total", "in")] == 5 and
              d[("wspipe_message_bytes_total", "out")] == 5 and
              d[("wspipe_close_codes_total", "1000")] == 1 and
              after[("wspipe_programs_running", None)] == 0 and
              d[("wspipe_connections_accepted_total", None)] >= 2)
        return ok, (during, d)

    W.point(t, "a WebSocket to a program: connections and programs move "
            "up and back, a message and 5 bytes each way, close code 1000",
            p_program)

    def p_codes():
        before = scrape(gw)
        for code in (4321, 3999, 1016, 2999):
            close_with(gw, code)
        W.wait_until(lambda: scrape(gw)[("wspipe_connections", "program")]
                     == 0, 5 * W.SLOW)
        mid = scrape(gw)
        # Past 64 distinct codes, the rest fold into "other".
        for code in range(4400, 4470):
            close_with(gw, code)
        W.wait_until(lambda: scrape(gw)[("wspipe_connections", "program")]
                     == 0, 5 * W.SLOW)
        after = scrape(gw)
        codes = [k[1] for k in after if k[0] == "wspipe_close_codes_total"]
        ok = (mid.get(("wspipe_close_codes_total", "4321"), 0) == 1 and
              mid.get(("wspipe_close_codes_total", "3999"), 0) == 1 and
              mid[("wspipe_close_codes_total", "1002")] -
              before.get(("wspipe_close_codes_total", "1002"), 0) == 2 and
              "1016" not in codes and "2999" not in codes and
              len(codes) == 65 and
              after[("wspipe_close_codes_total", "other")] -
              mid[("wspipe_close_codes_total", "other")] ==
              70 - (64 - (len([k for k in mid if k[0] ==
                                "wspipe_close_codes_total"]) - 1)))
        return ok, (sorted(codes)[:8], len(codes))

    W.point(t, "close codes by code: 1000-1015 and 3000-4999 each their "
            "own line, invalid ones are the 1002 the gateway answers, and "
            "past 64 codes the rest fold into other", p_codes)

    def p_listen():
        a = W.WS(gw.port, "/live")
        b = W.WS(gw.port, "/live")
        a.send("subscribe /m")
        ok1, why = a.expect("ok subscribe /m", 5 * W.SLOW)
        b.send("publish /m 12345")
        ok2, why2 = b.expect("ok publish /m", 5 * W.SLOW)
        ok3, why3 = a.expect("update /m 12345", 5 * W.SLOW)
        during = scrape(gw)
        a.close()
        b.close()
        W.wait_until(lambda: scrape(gw)[("wspipe_connections", "listen")]
                     == 0, 5 * W.SLOW)
        after = scrape(gw)
        d = {k: after[k] - m0.get(k, 0) for k in after}
        ok = (ok1 and ok2 and ok3 and
              during[("wspipe_connections", "listen")] == 2 and
              during[("wspipe_listen_subscriptions", None)] == 1 and
              during[("wspipe_listen_resources", None)] == 1 and
              during[("wspipe_listen_cached_bytes", None)] == 5 and
              d[("wspipe_listen_publishes_total", None)] == 1 and
              d[("wspipe_listen_deliveries_total", None)] == 1 and
              after[("wspipe_listen_subscriptions", None)] == 0)
        return ok, (why, why2, why3, during, d)

    W.point(t, "listen mode: clients, a subscription, a resource followed, "
            "its cached bytes, a publish and a delivery", p_listen)

    def p_reconnect():
        before = scrape(gw)[("wspipe_broker_reconnects_total", None)]
        b = W.broker_children(gw.pid)
        if len(b) != 1:
            return False, "brokers %r" % b
        os.kill(b[0], signal.SIGKILL)
        ok = W.wait_until(lambda: scrape(gw)[
            ("wspipe_broker_reconnects_total", None)] == before + 1,
            15 * W.SLOW)
        return ok, scrape(gw)[("wspipe_broker_reconnects_total", None)]

    W.point(t, "the broker killed: the gateway connects to the new one, "
            "and broker reconnects count 1 more", p_reconnect)

    def p_cgi():
        c = W.Client(gw, timeout=10 * W.SLOW)
        try:
            c.request("POST", "/slow.cgi", ["Content-Length: 6"], b"")
            ok = W.wait_until(lambda: scrape(gw)[("wspipe_connections",
                                                  "cgi")] == 1, 5 * W.SLOW)
            running = scrape(gw)[("wspipe_programs_running", None)]
            c.send(b"hello\n")
            r = c.response("POST", 5 * W.SLOW)
        finally:
            c.close()
        gone = W.wait_until(lambda: scrape(gw)[("wspipe_connections",
                                                "cgi")] == 0, 5 * W.SLOW)
        return ok and running == 1 and r.status == 200 and gone, \
            (ok, running, r.status, gone)

    W.point(t, "a CGI script: one cgi connection and one program while it "
            "runs, none after", p_cgi)

    def p_http_classes():
        before = scrape(gw)
        W.fetch(gw.port, "/no-such.cgi", timeout=5 * W.SLOW)
        head = W.fetch(gw.port, "/metrics", method="HEAD",
                       timeout=5 * W.SLOW)
        post = W.fetch(gw.port, "/metrics", method="POST",
                       timeout=5 * W.SLOW)
        after = scrape(gw)
        d4 = after[("wspipe_http_responses_total", "4xx")] - \
            before[("wspipe_http_responses_total", "4xx")]
        d2 = after[("wspipe_http_responses_total", "2xx")] - \
            before[("wspipe_http_responses_total", "2xx")]
        return (head.status == 200 and head.body == b"" and
                post.status == 405 and d4 == 2 and d2 >= 2), \
            (head.status, len(head.body), post.status, d4, d2)

    W.point(t, "HTTP answers count by class; HEAD has no body; POST is "
            "405", p_http_classes)

    def p_idle():
        ok = W.wait_until(lambda: all(
            v == 0 for k, v in scrape(gw).items()
            if k[0] in ("wspipe_programs_running",
                        "wspipe_listen_subscriptions",
                        "wspipe_listen_resources",
                        "wspipe_listen_cached_bytes") or
            (k[0] == "wspipe_connections" and k[1] != "http")), 5 * W.SLOW)
        return ok and scrape(gw)[("wspipe_connections", "http")] == 1, \
            scrape(gw)

    W.point(t, "once every client has gone the gauges are back to 0 (the "
            "scrape's own connection aside)", p_idle)

    def p_bad_option():
        rc, err = W.start_fail(["--metrics=metrics", "cat"])
        return rc == 1 and "--metrics" in err, (rc, err)

    W.point(t, "--metrics that does not start with / is refused (exit 1)",
            p_bad_option)
    gw.stop()
    W.rmtree(cgidir)


W.run(main, timeout=120, plan=9)
