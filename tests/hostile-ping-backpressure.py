#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A client that never reads floods the gateway with pings (each owed a
# pong), alone or between messages for an echo program, or while a
# program's output already fills the way back.  The gateway must stop
# reading once its output is full rather than queue pongs without bound:
# its RSS stays within a few MB while the client pushes until its socket
# blocks (at most 32 MB); it stays up, serves another client meanwhile,
# and the flooder, once it reads, finds its pongs and echoes in order.

import os
import select

import lib as W

LIMIT = 32 << 20                # most bytes pushed
GROWTH_KIB = 16 * 1024          # most RSS growth allowed
VALGRIND = bool(os.environ.get('WSPIPE_VALGRIND'))


def push(c, chunk):
    """Send chunk over and over until the socket stays blocked for 2 s
    (the gateway stopped reading) or LIMIT bytes went; bytes sent."""
    s = c.sock
    s.setblocking(False)
    sent = 0
    try:
        while sent < LIMIT:
            _, w, _ = select.select([], [s], [], 2.0 * W.SLOW)
            if not w:
                break
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                continue
    finally:
        s.setblocking(True)
        s.settimeout(10 * W.SLOW)
    return sent


def fresh_ok(gw):
    try:
        c = W.Client(gw, timeout=5 * W.SLOW)
        r = c.upgrade('/fresh')
        ok = r is not None and r.status == 101
        c.close()
        return ok
    except OSError:
        return False


def case(t, name, command, chunk, check_back=None):
    gw = W.Gateway(command, [], env=W.rss_env())
    c = W.Client(gw, timeout=10 * W.SLOW, rcvbuf=4096)
    r = c.upgrade('/flood')
    base = W.settle(gw.rss, 3 * W.SLOW)
    sent = push(c, chunk) if r is not None and r.status == 101 else 0
    grown = (gw.rss() - base) if gw.running() else None
    if VALGRIND:
        t.skip('%s: RSS stays bounded' % name, 'RSS is valgrind\'s')
    else:
        t.ok(grown is not None and grown < GROWTH_KIB,
             '%s: RSS grows less than %d MB after %d MB pushed' % (
                 name, GROWTH_KIB // 1024, sent >> 20),
             'grew %r KiB' % grown)
    t.ok(gw.running() and fresh_ok(gw), '%s: the gateway lives and '
         'serves another client' % name)
    if check_back is not None:
        ok, diag = check_back(c)
        t.ok(ok, '%s: the flooder then reads its answers' % name,
             diag)
    c.close(rst=True)
    t.ok(W.wait_until(lambda: gw.running() and not gw.children(),
                      10 * W.SLOW), '%s: after a reset the program is '
         'ended and the gateway runs' % name)
    gw.kill()


def pongs_back(c, n=200):
    """The first n frames back are pongs carrying our payloads."""
    for i in range(n):
        f = c.recv_frame()
        if f is None or f.opcode != 0xA or not f.payload.startswith(b'p'):
            return False, 'frame %d: %s' % (i, W.short(f))
    return True, None


def mixed_back(c, n=100):
    """n pongs and n echoes come back (pongs may overtake echoes, which
    take the way through the program), nothing else."""
    seen = {0xA: 0, 0x1: 0}
    want = {0xA: b'p' * 125, 0x1: b'm' * 100}
    while seen[0xA] < n or seen[0x1] < n:
        f = c.recv_frame()
        if f is None or f.opcode not in want or f.payload != want[f.opcode]:
            return False, 'after %r: %s' % (seen, W.short(f))
        seen[f.opcode] += 1
    return True, None


def main(t):
    ping = W.frame(0x9, b'p' * 125, key=b'\x01\x02\x03\x04')
    text = W.frame(0x1, b'm' * 100, key=b'\x05\x06\x07\x08')
    case(t, 'pings only, echo program', [W.TESTCHILD, 'echo'],
         ping * 64, pongs_back)
    case(t, 'pings between messages, echo program',
         [W.TESTCHILD, 'echo'], (ping + text) * 32, mixed_back)
    case(t, 'pings while the program\'s output fills the way back',
         [W.TESTCHILD, 'spew', '100000000000'], ping * 64)


W.run(main, 240 * W.SLOW, plan=11)