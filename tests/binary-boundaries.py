#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Binary mode keeps a message whole up to 64 KiB, as websocketd does: the
# program gets nothing of a message until its last fragment has come,
# then all of it in one write.  Checked with cat: 64 KiB less one
# fragment sent in 997-byte fragments brings no echo; the last fragment
# brings the whole message back.  A longer message is streamed once 64
# KiB of it wait (cat echoes before its end) and comes back complete.
# Autobahn's case 1.2.8 (65,536 bytes in 997-byte fragments, echoed as
# one message) is then up to the kernel: a write of 64 KiB may reach cat
# in two reads on a busy machine, so it is reported, not asserted.

import os

import lib as w

FRAG = 997


def fragments(payload):
    out = []
    for i in range(0, len(payload), FRAG):
        op = w.BINARY if i == 0 else w.CONT
        out.append(w.frame(op, payload[i:i + FRAG],
                           fin=i + FRAG >= len(payload)))
    return out


def collect(c, n, timeout):
    """Binary messages until n bytes came (or the time is up)."""
    got, size = [], 0
    try:
        while size < n:
            op, data = c.recv_message(timeout)
            if op != w.BINARY:
                break
            got.append(data)
            size += len(data)
    except w.Timeout:
        pass
    return got


def body(t):
    gw = w.Gateway(['/bin/cat'], ['--binary'])
    for n in (65536, 100000):
        payload = os.urandom(n)
        frames = fragments(payload)
        c = gw.client()
        for f in frames[:-1]:
            c.send(f)
        # cat echoes whatever reaches it at once: a held message brings
        # nothing (a slow gateway can only make this pass, never fail).
        early = collect(c, 1, 0.5 * w.SLOW)
        c.send(frames[-1])
        rest = collect(c, n - sum(len(g) for g in early), 10 * w.SLOW)
        c.close()
        whole = b''.join(early + rest)
        if n == 65536:
            t.ok(early == [], 'a 65,536-byte binary message: nothing reaches '
                 'the program before its last fragment',
                 '%d bytes echoed early' % sum(len(g) for g in early))
            t.ok(whole == payload, 'then all of it comes back',
                 '%d bytes' % len(whole))
            t.diag('Autobahn 1.2.8 style: echoed as %d message(s)' %
                   len(rest))
        else:
            t.ok(early != [], 'a 100,000-byte one is streamed past 64 KiB: '
                 'cat echoes before its last fragment')
            t.ok(whole == payload, 'and it comes back complete',
                 '%d bytes' % len(whole))
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.run(body, 60, plan=5)
