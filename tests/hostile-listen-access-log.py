#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A listen-mode session (--listen) writes its closing access line, as a
# program's session does: tagged `#N addr:port`, then the path, `-` for
# the (absent) program, the close code, the duration and counts, and why
# it ended.  Checked for a client that closes with 1000, one that closes
# TCP without a close frame (1006) and one that resets; also with
# --listen=/path beside a COMMAND.

import re
import struct

import lib as W


def session(gw, path, how):
    """A listen session that subscribes, then ends as `how` says; returns
    our port."""
    c = W.Client(gw, timeout=5 * W.SLOW)
    port = c.sock.getsockname()[1]
    r = c.upgrade(path)
    if r is None or r.status != 101:
        c.close()
        raise AssertionError('upgrade to %s answered %r' % (
            path, r and r.status))
    c.send_text('subscribe /res')
    m = c.recv_message()
    if m != (0x1, b'ok subscribe /res'):
        raise AssertionError('subscribe answered %r' % (m,))
    if how == 'close':
        c.send_frame(0x8, struct.pack('!H', 1000))
        c.recv_close()
        c.wait_eof(5 * W.SLOW)
        c.close()
    elif how == 'eof':
        c.close()
    else:
        c.close(rst=True)
    return port


def access_line(gw, port, path, code):
    pat = re.compile(r' access #\d+ 127\.0\.0\.1:%d %s - %d \d+\.\d+s in '
                     r'\d+/\d+B out \d+/\d+B: \S' % (port, re.escape(path),
                                                      code))
    for l in gw.log().splitlines():
        if pat.search(l):
            return l
    return None


def tagged(gw, port):
    return [l[:200] for l in gw.log().splitlines()
            if '127.0.0.1:%d ' % port in l]


def main(t):
    gw = W.Gateway([], ['--listen'])
    for how, code, what in (('close', 1000, 'a close frame (1000)'),
                            ('eof', 1006, 'TCP closed without a close '
                             'frame (1006)'),
                            ('rst', 1006, 'a TCP reset (1006)')):
        port = session(gw, '/room', how)
        line = W.wait_until(lambda: access_line(gw, port, '/room', code),
                            5 * W.SLOW)
        t.ok(line, 'listen session ended by %s writes its access line '
             'with the path and %d' % (what, code),
             'lines of this connection:', *tagged(gw, port))
    try:
        session(gw, '/fresh', 'close')
        fresh = True
    except (OSError, AssertionError):
        fresh = False
    t.ok(gw.running() and fresh, 'the gateway is still running and serves '
         'a fresh listen client')

    gw2 = W.Gateway([W.TESTCHILD, 'echo'], ['--listen=/events'])
    port = session(gw2, '/events', 'close')
    line = W.wait_until(lambda: access_line(gw2, port, '/events', 1000),
                        5 * W.SLOW)
    t.ok(line, '--listen=/events beside a COMMAND: the listen session\'s '
         'access line is written', 'lines of this connection:',
         *tagged(gw2, port))


W.run(main, 60 * W.SLOW, plan=5)