#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The program exits: everything it wrote is delivered (a last line without
# newline too), then close 1000 for exit status 0, 1011 "exit status N"
# or "killed by signal N" otherwise; the gateway keeps serving.

import lib as w


async def session(gw, send=()):
    async with w.connect(gw) as ws:
        for m in send:
            await ws.send(m)
        return await w.recv_until_closed(ws)


def body(t):
    tc = w.TESTCHILD

    gw = w.Gateway([tc, 'spew', '10'])
    msgs, code, reason = w.arun(session(gw))
    t.eq(msgs, ['x' * 10], 'a last line without newline is delivered')
    t.eq(code, 1000, 'exit 0: close 1000')
    msgs, code, reason = w.arun(session(gw))
    t.eq((msgs, code), (['x' * 10], 1000), 'the gateway keeps serving')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway([tc, 'lines', '3000', '100'])
    msgs, code, reason = w.arun(session(gw))
    t.ok(msgs == ['l' * 100] * 3000, '3000 lines written before exit: all '
         'delivered, in order', 'got %d messages' % len(msgs))
    t.eq(code, 1000, '... then close 1000')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway([tc, 'tick', '20', '5'])
    msgs, code, reason = w.arun(session(gw))
    t.eq(msgs, ['tick %d' % i for i in range(5)], 'output on a timer is '
         'delivered as it comes')
    t.eq(code, 1000, '... then close 1000')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway([tc, 'exit', '3'])
    msgs, code, reason = w.arun(session(gw))
    t.eq((msgs, code, reason), ([], 1011, 'exit status 3'),
         'exit 3: close 1011 "exit status 3"')
    msgs, code, reason = w.arun(session(gw))
    t.eq(code, 1011, 'again: the gateway keeps serving')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway([tc, 'crash'])
    msgs, code, reason = w.arun(session(gw, ['boom']))
    t.eq(msgs, ['boom'], 'crash: its output before the crash is delivered')
    t.eq((code, reason), (1011, 'killed by signal 11'),
         'crash: close 1011 "killed by signal 11"')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    # A client that never answers the close: TCP closed after ~2 s.
    gw = w.Gateway([tc, 'exit', '0'])
    c = w.Client(gw)
    c.upgrade()
    t.eq(c.recv_close(), (1000, ''), 'raw client: exit 0 gives close 1000')
    t.ok(c.wait_eof(4), 'a client that does not answer the close is '
         'disconnected within 2 s (+slack)')
    c.close()
    t.ok(w.wait_until(lambda: not gw.children(), 3) and not gw.zombies(),
         'no children, no zombies')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.need_websockets()
w.run(body, 60, plan=20)