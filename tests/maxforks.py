#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --maxforks=2: with two programs running a third handshake gets HTTP 429
# (Connection: close, text/plain) and spawns nothing; when one program
# ends, a new connection is accepted again.


import lib as w


def body(t):
    gw = w.Gateway([w.TESTCHILD, 'echo'], ['--maxforks=2'])

    async def main():
        a = await w.connect(gw)
        b = await w.connect(gw)
        for ws in (a, b):
            await ws.send('x')
            assert await ws.recv() == 'x'
        kids = gw.children()
        t.eq(len(kids), 2, 'two connections: two programs')
        try:
            c = await w.connect(gw)
            status = 101
            await c.close()
        except w.websockets.exceptions.InvalidStatusCode as e:
            status = w.handshake_status(e)
        t.eq(status, 429, 'the third concurrent handshake gets HTTP 429')
        r = w.http_exchange(gw.hostport(), w.upgrade_request(
            '127.0.0.1:%d' % gw.port)[0])
        t.ok(r is not None and r.status == 429 and r.closed and
             'close' in (r.get('Connection') or '').lower() and
             (r.get('Content-Type') or '').startswith('text/plain'),
             'raw: 429 with Connection: close and a text/plain reason, '
             'socket closed', 'got %r' % ((r and (r.raw, r.body)),))
        t.eq(gw.children(), kids, 'no program was spawned for them')
        await a.close()
        t.ok(w.wait_until(lambda: len(gw.children()) == 1, 3),
             'first client closed: one program left')
        c = await w.connect(gw)
        await c.send('y')
        t.eq(await c.recv(), 'y', 'a new connection is accepted again')
        await b.close()
        await c.close()
    w.arun(main(), 30)
    t.ok(w.wait_until(lambda: gw.children() == [], 3), 'all programs gone')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    # 'No program was spawned' above compares the children after the 429,
    # when an echo spawned by mistake could already have exited.  Here
    # programs ignore SIGINT and SIGTERM and --closems=1000 keeps them ~4 s
    # after their client: one spawned for the refused connection would
    # still be seen right after the 429.
    gw = w.Gateway([w.TESTCHILD, 'ignore-term'],
                   ['--maxforks=1', '--closems=1000'])
    a = w.Client(gw, timeout=5)
    r = a.upgrade()
    m = a.recv_message(5) if r is not None and r.status == 101 else None
    pid = int(m[1]) if m else None
    t.ok(pid is not None and gw.children() == [pid],
         'the one slot is taken: its program is seen',
         'answer %r, pid %r, children %r' % (r and r.status, pid,
                                             gw.children()))
    b = w.Client(gw, timeout=5)
    r = b.upgrade()
    kids = gw.children()
    b.close()
    t.ok(r is not None and r.status == 429 and kids == [pid],
         'the refused connection: 429, and no second program is seen right '
         'after the answer', 'answer %r, children %r' % (r and r.status,
                                                          kids))
    a.close()
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.need_websockets()
w.run(body, 60, plan=11)