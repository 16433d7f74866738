#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A client that does not read while the program writes 200 MB (spew): the
# gateway stops reading the program (which blocks in write) and its RSS
# stays bounded (grows by less than 6 MB); once the client reads, every
# byte arrives (text mode: one fragmented message; --binary: binary
# messages), then close 1000.

import fcntl
import os
import struct
import termios

import lib as w

SIZE = 200000000
# The gateway holds at most the flow-control window (64 KiB) and a frame
# per connection.  Growth from before the connection, measured: ~2.5 MB
# (3.5 MB with ASan), most of it code and library pages touched for the
# first time; with a window of 8 MiB it is 10-19 MB.  Under valgrind its
# own translation cache grows by 15-28 MB, so the bound there is loose.
RSS_GROWTH = (60 if os.environ.get('WSPIPE_VALGRIND') else 6) * 1024  # KiB


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
        fin, op, payload = f.fin, f.opcode, f.payload
        nframes += 1
        if nframes % 64 == 0:
            peak = max(peak, gw.rss())
        if op == 0x8:
            close = struct.unpack('!H', payload[:2])[0] if payload else None
            break
        if op == 0x9:
            # Answered, as a browser would: a slow machine can make the
            # transfer outlast --ping-interval + --ping-timeout.
            c.send_frame(0xa, payload)
            continue
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
        c = w.Client(gw, timeout=20)
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
             '%d MB while the client does not read' %
             (name, RSS_GROWTH // 1024),
             'base %d KiB, now %d KiB; %d bytes queued at the client' %
             (base, rss, q))
        t.diag('%s: RSS %d KiB at start, %d KiB stalled (+%d)' %
               (name, base, rss, rss - base))
        total, allx, framing, close, peak = drain(c, gw, not mode)
        t.diag('%s: RSS peak %d KiB while draining (+%d)' %
               (name, peak, peak - base))
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


w.run(body, 120, plan=18)