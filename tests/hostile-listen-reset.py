#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode (--listen): a client sends a frame that ends its session (a
# close frame, a binary frame, a text frame with invalid UTF-8) and resets
# TCP right after it, back to back, 50 times each; then the same with the
# frame in the very segment of the upgrade request.  The gateway must
# survive every one of them (under ASan a use of the freed connection
# aborts it) and serve the next client.

import struct

import lib as W

ROUNDS = 50

ENDERS = [
    ('a close frame', lambda: W.frame(0x8, struct.pack('!H', 1000))),
    ('a binary frame', lambda: W.frame(0x2, b'\x00\x01binary')),
    ('a text frame with invalid UTF-8',
     lambda: W.frame(0x1, b'bad \xc3\x28 utf-8')),
]


def serves(gw, ctx=None):
    """A fresh client subscribes and gets its ok: (ok, diag)."""
    if not gw.running():
        return False, 'gateway exited with %r' % gw.proc.poll()
    try:
        c = W.Client(gw, timeout=5 * W.SLOW, ctx=ctx)
    except OSError as e:
        return False, 'connect: %r' % e
    try:
        r = c.upgrade('/probe')
        if r is None or r.status != 101:
            return False, 'upgrade answered %r' % (r and r.status)
        c.send_text('subscribe /probe')
        m = c.recv_message()
        c.send_close(1000)
        return m == (0x1, b'ok subscribe /probe'), 'got %r' % (m,)
    except OSError as e:
        return False, 'probe: %r' % e
    finally:
        c.close()


def crash_lines(gw, since=0):
    return [l[:200] for l in gw.log()[since:].splitlines()
            if 'ERROR: AddressSanitizer' in l or ' fatal ' in l or
            'SUMMARY' in l][:3]


def after_upgrade(gw, make, ctx=None):
    """Upgrade, wait for the 101, then the frame and a reset at once."""
    c = W.Client(gw, timeout=5 * W.SLOW, ctx=ctx)
    try:
        r = c.upgrade('/r')
        if r is None or r.status != 101:
            return 'upgrade answered %r' % (r and r.status)
        c.send_text('subscribe /r')
        c.send(make())
    finally:
        c.close(rst=True)
    return None


def same_segment(gw, make, ctx=None):
    """The upgrade request, a subscribe and the frame in one write, then a
    reset without reading anything."""
    c = W.Client(gw, timeout=5 * W.SLOW, ctx=ctx)
    try:
        req, _ = W.upgrade_request(c.hostheader(), '/r')
        c.send(req + W.frame(0x1, 'subscribe /r') + make())
    finally:
        c.close(rst=True)
    return None


def rounds(t, gw, how, what, make, ctx=None, label=''):
    err = None
    since = len(gw.log())
    for i in range(ROUNDS):
        if not gw.running():
            break
        try:
            err = how(gw, make, ctx)
        except OSError as e:
            err = 'round %d: %r' % (i + 1, e)
        if err is not None:
            break
    # The last reset may still be in flight: wait for a probe to pass.
    res = W.wait_until(lambda: serves(gw, ctx)[0] or not gw.running(),
                       5 * W.SLOW)
    ok, diag = serves(gw, ctx) if res else (False, 'probe failed')
    errs = W.memory_errors(gw.log()[since:])
    t.ok(err is None and ok and gw.running() and not errs,
         '%s%s then a reset, %d times: the gateway lives, makes no memory '
         'error and serves the next client' % (label, what, ROUNDS), err,
         diag, *(errs[:3] or crash_lines(gw, since)))
    if not gw.running():
        gw.start()


def main(t):
    gw = W.Gateway([], ['--listen'])
    t.ok(serves(gw)[0], 'listen mode answers a subscribe', serves(gw)[1])
    for what, make in ENDERS:
        rounds(t, gw, after_upgrade, what, make)
    for what, make in ENDERS:
        rounds(t, gw, same_segment, what, make,
               label='in the upgrade\'s segment: ')


if __name__ == '__main__':
    W.run(main, 180 * W.SLOW, plan=7)