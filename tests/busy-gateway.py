#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A gateway too busy to read is not a slow client: 8 clients send whole
# upgrade requests, then the gateway is stopped (SIGSTOP) past its 10 s
# request timeout and continued; its timers and their bytes are due at
# once, and every client still gets its 101 and its echo (the timeout
# finds their bytes unread in the socket and grants more time).  A client
# that sent half a request in the same time is cut off one period later.

import os
import signal
import time

import lib as W

N = 8


def main(t):
    gw = W.Gateway(W.cmd("echo"), [])
    base = W.settle(gw.fds)
    cs = []
    for _ in range(N):
        c = W.Client(gw, timeout=30 * W.SLOW)
        cs.append(c)
    half = W.Client(gw, timeout=30 * W.SLOW)
    # Accepted (each has its timer) before the gateway stops.
    t.ok(W.wait_until(lambda: gw.fds() >= base + N + 1, 10 * W.SLOW),
         "the gateway has accepted the %d connections" % (N + 1))
    os.kill(gw.pid, signal.SIGSTOP)
    try:
        for c in cs:
            c.send(W.upgrade_request("x", "/")[0])
        half.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        # Time itself is what this test is about: past the timeout.
        time.sleep(10.5)
    finally:
        os.kill(gw.pid, signal.SIGCONT)
    got = []
    for c in cs:
        r = c.read_head()
        ok = r is not None and r.status == 101
        if ok:
            c.send_text("hi")
            m = c.recv_message()
            ok = bool(m) and m[1] == b"hi"
        got.append(ok)
        c.close()
    t.ok(all(got), "%d of %d clients whose whole request waited unread "
         "while the gateway was stopped past its timeout got 101 and an "
         "echo" % (sum(got), N))
    t.ok(half.wait_eof(20 * W.SLOW), "a client with half a request, "
         "sent as the others were, is cut off one period later all the "
         "same")
    half.close()
    W.still_running(t, gw)


W.run(main, timeout=90 * W.SLOW)
