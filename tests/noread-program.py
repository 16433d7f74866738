#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A program that never reads stdin: the client pushes 50 MB; the gateway
# stops reading that client instead of buffering (its send stalls, RSS
# grows < 2 MB), stays responsive to others, and when the client resets
# the connection the program is reaped.

import os
import select
import time

import lib as w

TOTAL = 50 * 1000 * 1000
STALL = 2.0                     # s without room in our send buffer
# Measured growth while stalled: ~0.25 MB (0.35 MB with ASan, 0.65 MB
# under valgrind); with a flow-control window of 8 MiB instead of 64 KiB
# it is ~8.4 MB.
RSS_GROWTH = (4 if os.environ.get('WSPIPE_VALGRIND') else 2) * 1024  # KiB


def push(c, gw, data):
    """Send `data` repeatedly until TOTAL bytes or a stall; return (bytes
    accepted by the kernel, stalled, peak gateway RSS)."""
    c.sock.setblocking(False)
    sent = 0
    off = 0
    peak = gw.rss()
    while sent < TOTAL:
        _, wr, _ = select.select([], [c.sock], [], STALL)
        if not wr:
            return sent, True, max(peak, gw.rss())
        try:
            n = c.sock.send(data[off:])
        except BlockingIOError:
            continue
        sent += n
        off = (off + n) % len(data)
        if sent % (1 << 20) < n:
            peak = max(peak, gw.rss())
    return sent, False, max(peak, gw.rss())


def body(t):
    for mode in ([], ['--binary']):
        name = 'binary' if mode else 'text'
        gw = w.Gateway([w.TESTCHILD, 'noread'], mode, env=w.rss_env())
        c = w.Client(gw)
        c.upgrade()
        base = w.settle(gw.rss)
        op = 0x2 if mode else 0x1
        data = w.frame(op, b'x' * 65536, key=b'\x11\x22\x33\x44')
        sent, stalled, peak = push(c, gw, data)
        t.ok(stalled, '%s: sending 50 MB to a program that does not read '
             'stalls' % name, 'sent %d bytes without stalling' % sent)
        t.ok(peak - base < RSS_GROWTH, '%s: gateway RSS grew by less than '
             '%d MB' % (name, RSS_GROWTH // 1024),
             'base %d KiB, peak %d KiB, %d bytes sent' %
             (base, peak, sent))
        t.diag('%s: stalled after %.1f MB; RSS %d -> %d KiB' %
               (name, sent / 1e6, base, peak))

        async def other():
            async with w.connect(gw) as ws:
                return ws.open
        start = time.monotonic()
        t.ok(w.arun(other(), 10) and time.monotonic() - start < 3,
             '%s: meanwhile another client is served at once' % name)

        # Our unsent data holds back a FIN (zero window), so vanish with a
        # reset, which the gateway must notice although it is not reading.
        kids = gw.children()
        c.close(rst=True)
        t.ok(w.wait_until(lambda: gw.children() == [], 3) and
             not any(w.alive(p) for p in kids),
             '%s: after the client resets, the program is reaped' % name)
        t.eq(gw.stop(), 0, '%s: gateway exits 0 on SIGTERM' % name)


w.need_websockets()
w.run(body, 90, plan=10)