#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Everything a client sends may arrive one byte per segment: the upgrade
# request itself, frames with 7-, 16- and 64-bit lengths, a message in
# fragments with a ping between them, and the close frame.  Each byte is
# its own send with TCP_NODELAY; the result must be exactly what the same
# bytes sent at once give: the 101, the echoes, the pong, the close.  A
# second client is served meanwhile, and the gateway stays up.

import socket
import struct

import lib as W


def trickle(c, data):
    for i in range(len(data)):
        c.send(data[i:i + 1])


def client(gw):
    c = W.Client(gw, timeout=10 * W.SLOW)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def main(t):
    gw = W.Gateway([W.TESTCHILD, 'echo'], [])
    c = client(gw)
    req, key = W.upgrade_request(c.hostheader(), '/trickle')
    trickle(c, req)
    r = c.read_head()
    t.ok(r is not None and r.status == 101 and
         r.get('Sec-WebSocket-Accept') == W.accept_key(key),
         'an upgrade request sent one byte at a time gets its 101',
         repr(r and r.raw))

    # Each message is a line for the program, echoed as one message.
    def echo(bits, payload):
        trickle(c, W.frame(0x1, payload))
        try:
            m = c.recv_message()
        except OSError as e:
            m = repr(e)
        t.ok(m == (0x1, payload.encode()), 'a text frame with a %d-bit length '
             '(%d bytes), one byte at a time, is echoed' % (
                 bits, len(payload)), 'got %s' % W.short(m))
    echo(7, 'short one')
    echo(16, 'm' * 300)
    # A 64-bit length needs 64 KiB or more: send the head byte by byte,
    # the payload in a few large pieces.
    big = 'B' * 70000
    f = W.frame(0x1, big)
    trickle(c, f[:14])
    for i in range(14, len(f), 16384):
        c.send(f[i:i + 16384])
    m = c.recv_message()
    t.ok(m == (0x1, big.encode()), 'a frame with a 64-bit length, '
         'its head one byte at a time, is echoed',
         'got %s' % W.short(m and (m[0], len(m[1]))))

    other = client(gw)
    other.upgrade('/other')
    # A fragmented message with a ping between its fragments.
    trickle(c, W.frame(0x1, 'frag', fin=False))
    other.send_text('meanwhile')
    om = other.recv_message()
    t.ok(om == (0x1, b'meanwhile'), 'another client is echoed while a '
         'message dribbles in', 'got %r' % (om,))
    trickle(c, W.frame(0x9, 'are you there'))
    pm = c.recv_message(controls=True)
    t.ok(pm == (0xA, b'are you there'), 'a ping trickled between two '
         'fragments gets its pong', 'got %r' % (pm,))
    trickle(c, W.frame(0x0, 'mented', fin=True))
    fm = c.recv_message()
    t.ok(fm == (0x1, b'fragmented'), 'the trickled fragmented message is '
         'echoed whole', 'got %r' % (fm,))

    trickle(c, W.frame(0x8, struct.pack('!H', 1000) + b'bye'))
    cl = c.recv_close()
    t.ok(cl is not None and cl[0] == 1000, 'a trickled close frame is '
         'answered with 1000', 'got %r' % (cl,))
    t.ok(c.wait_eof(5 * W.SLOW), 'then the gateway closes TCP')
    c.close()
    other.send_close(1000)
    other.close()
    t.ok(gw.running() and W.wait_until(lambda: not gw.children(),
                                       5 * W.SLOW),
         'the gateway is running and both programs have ended',
         'children %r' % (gw.children() if gw.running() else None))


W.run(main, 120 * W.SLOW, plan=10)