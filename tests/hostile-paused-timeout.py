#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Keepalive cannot be dodged (--ping-interval=1 --ping-timeout=1):
# - a client that upgrades to a program printing without end and never
#   reads keeps the gateway paused; it must still be closed, and its
#   program ended, within about interval + timeout;
# - a client that trickles one byte of a never-ending frame every 0.5 s
#   (so it can never answer a ping) must be closed within 10 s;
# - with --maxforks=1, the slot of such a client is freed: a new
#   connection then gets 101.
# Every wait polls a deadline.

import socket
import struct
import time

import lib as W

PING = ['--ping-interval=1', '--ping-timeout=1']
DEADLINE = 15 * W.SLOW          # interval + timeout + generous slack
TRICKLE_MAX = 10 * W.SLOW


def upgrade(gw, path, rcvbuf=None):
    c = W.Client(gw, timeout=5 * W.SLOW, rcvbuf=rcvbuf)
    r = c.upgrade(path)
    return c, (r.status if r is not None else None)


def program_of(gw, known=()):
    """The gateway's one new child (the program just spawned)."""
    kids = W.wait_until(lambda: [p for p in gw.children()
                                 if p not in known], 5 * W.SLOW)
    return kids[0] if kids else None


def access_closed(gw, c_port, pid):
    """The access line of the connection from c_port, naming pid."""
    tag = '127.0.0.1:%d ' % c_port
    for l in gw.log().splitlines():
        if tag in l and ' access ' in l and 'pid %d ' % pid in l:
            return l
    return None


def paused_spewer(t):
    gw = W.Gateway([W.TESTCHILD, 'spew', '100000000000'], PING)
    c, st = upgrade(gw, '/spew', rcvbuf=4096)
    port = c.sock.getsockname()[1]
    pid = program_of(gw)
    t.ok(st == 101 and pid is not None, 'a client upgrades to a program '
         'that prints without end', 'status %r, program %r' % (st, pid))
    start = time.monotonic()
    gone = pid is not None and W.wait_until(lambda: pid not in
                                            gw.children(), DEADLINE)
    took = time.monotonic() - start
    t.ok(gone, 'a paused client that never reads is dropped and its '
         'program ended within %d s' % DEADLINE,
         'program %r still running after %.1f s' % (pid, took))
    line = W.wait_until(lambda: access_closed(gw, port, pid or -1),
                        5 * W.SLOW)
    t.ok(line is not None, 'the log has the closed connection\'s access '
         'line', 'no access line for port %d pid %r' % (port, pid))
    c.close()
    ok = probe_echo(gw, expect=None)
    t.ok(ok and gw.running(), 'the gateway then serves a fresh client')
    gw.kill()


def probe_echo(gw, expect=b'hello'):
    """A fresh client gets 101 (and, for echo, its message back)."""
    try:
        c, st = upgrade(gw, '/fresh')
    except OSError:
        return False
    try:
        if st != 101:
            return False
        if expect is None:
            return True
        c.send_text(expect.decode())
        return c.recv_message() == (0x1, expect)
    except OSError:
        return False
    finally:
        c.close()


def trickler(t):
    gw = W.Gateway([W.TESTCHILD, 'echo'], PING)
    c, st = upgrade(gw, '/trickle')
    pid = program_of(gw)
    # A masked text frame announcing 1 MB; its payload never ends.
    head = struct.pack('!BBQ', 0x81, 0x80 | 127, 1 << 20) + b'\x01\x02\x03\x04'
    stream = head + b'x' * (1 << 20)
    start = time.monotonic()
    closed, why, i = False, None, 0
    while time.monotonic() - start < TRICKLE_MAX and not closed:
        try:
            c.send(stream[i:i + 1])
            i += 1
        except OSError as e:
            closed, why = True, 'send: %r' % e
            break
        # The peer's pace is one byte per 0.5 s: wait that long for the
        # gateway to close (a close frame or EOF ends the wait early).
        pace_end = time.monotonic() + 0.5
        while time.monotonic() < pace_end:
            try:
                f = c.recv_frame(max(0.01, pace_end - time.monotonic()))
            except socket.timeout:
                break
            except OSError as e:
                closed, why = True, repr(e)
                break
            if f is None:
                closed, why = True, 'EOF'
                break
            if f[1] == 0x8:
                closed, why = True, 'close frame %r' % f[2][:2]
                break
    took = time.monotonic() - start
    t.ok(st == 101 and closed, 'a client trickling one byte per 0.5 s of '
         'an endless frame is closed within %d s' % TRICKLE_MAX,
         'status %r; after %.1f s and %d bytes: %s' % (
             st, took, i, why or 'still open'))
    c.close()
    t.ok(pid is not None and W.wait_until(lambda: pid not in
                                          gw.children(), DEADLINE),
         'the trickler\'s program is ended', 'program %r' % pid)
    t.ok(probe_echo(gw) and gw.running(), 'the gateway then serves a '
         'fresh client')
    gw.kill()


def maxforks(t):
    gw = W.Gateway([W.TESTCHILD, 'spew', '100000000000'],
                   PING + ['--maxforks=1'])
    c, st = upgrade(gw, '/first', rcvbuf=4096)
    pid = program_of(gw)
    try:
        _, st2 = upgrade(gw, '/second')
    except OSError as e:
        st2 = repr(e)
    t.ok(st == 101 and st2 == 429, '--maxforks=1: while a paused client '
         'holds the slot, a second one gets 429', 'got %r then %r' % (
             st, st2))
    got = W.wait_until(lambda: probe_echo(gw, expect=None), DEADLINE,
                       interval=0.25)
    t.ok(got, '--maxforks=1: the paused client\'s slot is freed, a new '
         'connection gets 101 within %d s' % DEADLINE,
         'program %r alive: %s' % (pid, pid in gw.children()))
    c.close()
    gw.kill()


def main(t):
    paused_spewer(t)
    trickler(t)
    maxforks(t)


W.run(main, 120 * W.SLOW, plan=9)