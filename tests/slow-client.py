#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A client that does not read while the program writes 200 MB (spew): the
# gateway stops reading the program (which blocks in write) and its RSS
# stays bounded; once the client reads, every byte arrives (text mode: one
# fragmented message; --binary: binary messages), then close 1000.

import fcntl
import struct
import termios

import wstest as w

SIZE = 200000000
RSS_GROWTH = 30 * 1024          # KiB


def queued(sock):
    return struct.unpack('i', fcntl.ioctl(sock, termios.FIONREAD,
                                          b'\0\0\0\0'))[0]


def drain(c, gw, text):
    """Read to the close frame counting payload; (bytes, all 'x', framing
    ok, close, peak RSS)."""
    total = 0
    allx = True
    framing = True
    started = False
    peak = 0
    close = None
    nframes = 0
    while True:
        f = c.recv_frame(10)
        if f is None:
            break
        fin, op, payload = f
        nframes += 1
        if nframes % 64 == 0:
            peak = max(peak, gw.rss())
        if op == 0x8:
            close = struct.unpack('!H', payload[:2])[0] if payload else None
            break
        if op >= 0x8:
            continue
        if text:
            # One text message: TEXT then CONTINUATIONs, FIN on the last.
            if (op != (0x0 if started else 0x1)) or (started is None):
                framing = False
            started = None if fin else True
        elif op != 0x2:
            framing = False
        total += len(payload)
        if payload.count(b'x') != len(payload):
            allx = False
    return total, allx, framing, close, peak


def body(t):
    for mode in ([], ['--binary']):
        name = 'binary' if mode else 'text'
        gw = w.Gateway([w.TESTCHILD, 'spew', str(SIZE)], mode,
                       env=w.rss_env())
        base = gw.rss()
        c = w.RawWS(gw, timeout=20)
        c.upgrade()
        kids = gw.children()
        # Wait until our receive queue stops growing: everything is full.
        q = w.settle(lambda: queued(c.sock), timeout=20, still=1.0)
        rss = gw.rss()
        t.ok(kids and all(w.alive(p) for p in kids) and
             gw.children() == kids,
             '%s: the program is blocked, not finished' % name,
             'children before %s, now %s' % (kids, gw.children()))
        t.ok(rss - base < RSS_GROWTH, '%s: gateway RSS grew by less than '
             '30 MB while the client does not read' % name,
             'base %d KiB, now %d KiB; %d bytes queued at the client' %
             (base, rss, q))
        total, allx, framing, close, peak = drain(c, gw, not mode)
        t.eq(total, SIZE, '%s: the client then receives all %d bytes' %
             (name, SIZE))
        t.ok(allx, '%s: ... unchanged' % name)
        t.ok(framing, '%s: ... as %s' % (name, 'binary messages' if mode
             else 'one fragmented text message'))
        t.eq(close, 1000, '%s: then close 1000' % name)
        t.ok(peak - base < RSS_GROWTH, '%s: RSS stays bounded while '
             'draining' % name, 'base %d, peak %d KiB' % (base, peak))
        c.close()
        t.ok(w.wait_until(lambda: gw.children() == [], 3),
             '%s: the program is reaped' % name)
        t.eq(gw.stop(), 0, '%s: gateway exits 0 on SIGTERM' % name)


w.run(18, body, 120)
