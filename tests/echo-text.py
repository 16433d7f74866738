#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Text mode echo through `testchild cat`: single, many pipelined, empty,
# UTF-8, 1 MiB and multi-line messages, CR stripping, ping/pong.

import asyncio

import lib as w


def body(t):
    gw = w.Gateway([w.TESTCHILD, 'cat'])

    async def main():
        async with w.connect(gw) as ws:
            await ws.send('hello')
            m = await ws.recv()
            t.eq(m, 'hello', 'a text message is echoed')
            t.ok(isinstance(m, str), 'the echo is a text message')

            msgs = ['message %d' % i for i in range(1000)]
            for m in msgs:
                await ws.send(m)
            got = [await ws.recv() for _ in msgs]
            t.eq(got, msgs, '1000 pipelined messages echoed complete, in '
                 'order')

            await ws.send('')
            t.eq(await ws.recv(), '', 'an empty message is echoed as an '
                 'empty message')

            u = 'h\u00e9llo w\u00f6rld \u2713 \U0001f600 \u65e5\u672c\u8a9e'
            await ws.send(u)
            t.eq(await ws.recv(), u, 'a UTF-8 message is echoed unchanged')

            # Multi-byte characters land on every read/fragment boundary.
            big = ('abc\u2713\U0001f600' * 200000)[:(1 << 20) // 2]
            await ws.send(big)
            got = await ws.recv()
            t.ok(got == big, 'a 1 MiB+ message comes back as one identical '
                 'message', 'got %d chars, want %d' % (len(got), len(big)))
            await ws.send('after big')
            t.eq(await ws.recv(), 'after big', 'the stream continues after '
                 'the big message')

            await ws.send('line one\nline two')
            got = [await ws.recv(), await ws.recv()]
            t.eq(got, ['line one', 'line two'], 'a newline inside a message '
                 'gives the program two lines, echoed as two messages')

            await ws.send('with cr\r')
            t.eq(await ws.recv(), 'with cr', 'a CR before the newline is '
                 'stripped from program output')

            pong = await ws.ping(b'ping data')
            try:
                await asyncio.wait_for(pong, 5)
                t.ok(True, 'a ping gets a pong with the same payload')
            except asyncio.TimeoutError:
                t.ok(False, 'a ping gets a pong with the same payload')

            await ws.send('last')
            t.eq(await ws.recv(), 'last', 'echo still works after the ping')
        t.eq(ws.close_code, 1000, 'client close 1000 is answered with 1000')

    w.arun(main(), 40)
    t.ok(w.wait_until(lambda: not gw.children(), 3),
         'the program is gone after the close')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.need_websockets()
w.run(body, 60, plan=14)