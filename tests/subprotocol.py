#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Subprotocol negotiation: the first offered protocol that is accepted is
# chosen (any without --subprotocol), none offered → none answered, offers
# but none acceptable → HTTP 400; the program sees the choice in
# WEBSOCKET_PROTOCOL.

import lib as w


async def env_of(gw, **kw):
    """Connect, read testchild env's output; (chosen subprotocol, env)."""
    async with w.connect(gw, **kw) as ws:
        chosen = ws.subprotocol
        msgs, code, _ = await w.recv_until_closed(ws)
    env = dict(m.split('=', 1) for m in msgs if '=' in m)
    return chosen, env


async def refused(gw, **kw):
    try:
        async with w.connect(gw, **kw):
            return None
    except w.websockets.exceptions.InvalidStatusCode as e:
        return w.handshake_status(e)


def body(t):
    envchild = [w.TESTCHILD, 'env']
    gw = w.Gateway(envchild)

    chosen, env = w.arun(env_of(gw, subprotocols=['ex1']))
    t.eq(chosen, 'ex1', 'offer [ex1] without --subprotocol: ex1 chosen')
    t.eq(env.get('WEBSOCKET_PROTOCOL'), 'ex1',
         'the program sees WEBSOCKET_PROTOCOL=ex1')

    chosen, env = w.arun(env_of(gw, subprotocols=['a', 'b']))
    t.eq(chosen, 'a', 'offer [a, b] without --subprotocol: the first, a')

    chosen, env = w.arun(env_of(gw))
    t.eq(chosen, None, 'no offer: no Sec-WebSocket-Protocol in the answer')
    t.eq(env.get('WEBSOCKET_PROTOCOL'), '',
         'no offer: WEBSOCKET_PROTOCOL is set and empty')

    # The raw answer: no Sec-WebSocket-Protocol header at all.
    c = w.Client(gw)
    r = c.upgrade()
    t.ok(r is not None and r.status == 101 and
         r.get('Sec-WebSocket-Protocol') is None,
         'raw request without offer: 101 without Sec-WebSocket-Protocol',
         'got %r' % (r and r.raw))
    c.close()
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway(envchild, ['--subprotocol=b'])
    chosen, env = w.arun(env_of(gw, subprotocols=['a', 'b']))
    t.eq(chosen, 'b', 'offer [a, b] with --subprotocol=b: b chosen')
    t.eq(env.get('WEBSOCKET_PROTOCOL'), 'b',
         'the program sees WEBSOCKET_PROTOCOL=b')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway(envchild, ['--subprotocol=b,c'])
    chosen, env = w.arun(env_of(gw, subprotocols=['c', 'b']))
    t.eq(chosen, 'c', '--subprotocol=b,c and offer [c, b]: the client\'s '
         'order decides, c chosen')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway(envchild, ['--subprotocol=x'])
    t.eq(w.arun(refused(gw, subprotocols=['a'])), 400,
         '--subprotocol=x and offer [a]: HTTP 400')
    t.eq(gw.children(), [], 'no program was spawned for the refusal')
    chosen, env = w.arun(env_of(gw))
    t.eq(chosen, None, '--subprotocol=x and no offer: accepted, no '
         'subprotocol')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    # The check above could pass even if a program had been spawned and
    # had already exited.  Here the program ignores SIGINT and SIGTERM and
    # --closems=1000 keeps it ~4 s after its client goes: one spawned for
    # the refusal would be seen right after the answer, as the control's
    # is seen right after its client closes.
    gw = w.Gateway([w.TESTCHILD, 'ignore-term'],
                   ['--subprotocol=x', '--closems=1000'])
    c = w.Client(gw, timeout=5)
    r = c.upgrade(extra=['Sec-WebSocket-Protocol: x'])
    m = c.recv_message(5) if r is not None and r.status == 101 else None
    c.close()
    kids = gw.children()
    pid = int(m[1]) if m else None
    t.ok(pid is not None and kids == [pid],
         'control: a program is seen right after its client closes',
         'answer %r, pid %r, children %r' % (r and r.status, pid, kids))
    w.wait_until(lambda: gw.children() == [], 10)
    c = w.Client(gw, timeout=5)
    r = c.upgrade(extra=['Sec-WebSocket-Protocol: a'])
    kids = gw.children()
    c.close()
    t.ok(r is not None and r.status == 400 and kids == [],
         '--subprotocol=x and offer [a]: 400, and no program is seen right '
         'after the answer', 'answer %r, children %r' % (r and r.status,
                                                          kids))
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.need_websockets()
w.run(body, 60, plan=19)