#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Binary mode (--binary) through `testchild cat`: bytes go both ways
# unchanged, no newline added, as binary messages; chunking is arbitrary,
# so the received messages are compared concatenated.

import os

import lib as w


async def collect(ws, n):
    """Receive binary messages until n bytes arrived; (data, all binary)."""
    data = bytearray()
    binary = True
    while len(data) < n:
        m = await ws.recv()
        if not isinstance(m, bytes):
            binary = False
            m = m.encode()
        data += m
    return bytes(data), binary


def body(t):
    gw = w.Gateway([w.TESTCHILD, 'cat'], ['--binary'])

    async def main():
        async with w.connect(gw) as ws:
            await ws.send(b'\x00\x01\xff\n\r\x80')
            data, binary = await collect(ws, 6)
            t.eq(data, b'\x00\x01\xff\n\r\x80', 'a short binary message '
                 'round-trips byte for byte')
            t.ok(binary, 'program output arrives as binary messages')

            big = os.urandom(1 << 20)
            await ws.send(big)
            data, binary = await collect(ws, len(big))
            t.ok(data == big, '1 MiB of random bytes round-trips unchanged',
                 'got %d bytes, want %d' % (len(data), len(big)))
            t.ok(binary, 'all of it as binary messages')

            await ws.send('text, no newline')
            data, binary = await collect(ws, 16)
            t.eq(data, b'text, no newline', 'a text message goes to the '
                 'program unchanged, with no newline added')

            parts = [os.urandom(n) for n in (1, 0, 125, 126, 65535, 65536,
                                             70000)]
            for p in parts:
                await ws.send(p)
            want = b''.join(parts)
            data, binary = await collect(ws, len(want))
            t.ok(data == want, 'several messages of edge sizes come back '
                 'concatenated in order')
        t.eq(ws.close_code, 1000, 'client close 1000 is answered with 1000')

    w.arun(main(), 40)
    t.ok(w.wait_until(lambda: not gw.children(), 3),
         'the program is gone after the close')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.need_websockets()
w.run(body, 60, plan=9)