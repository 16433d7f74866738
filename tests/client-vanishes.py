#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The client vanishes (TCP FIN or RST, no close frame; also right after
# sending the upgrade request): the program is terminated and reaped (kill
# -0 fails, no zombies) and the gateway keeps serving.

import lib as w


def gone(pids):
    return not any(w.alive(p) for p in pids)


def body(t):
    gw = w.Gateway([w.TESTCHILD, 'ignore-term'])
    for rst in (False, True):
        how = 'RST' if rst else 'FIN'
        c = w.Client(gw)
        c.upgrade()
        op, payload = c.recv_message()
        pid = int(payload)
        c.send_text('some data')
        c.close(rst=rst)
        t.ok(w.wait_until(lambda: gone([pid]), 3), 'TCP %s without close: '
             'the program ignoring SIGTERM is killed and reaped in 3 s' % how)
    t.ok(w.wait_until(lambda: gw.zombies() == [], 3), 'no zombies')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway([w.TESTCHILD, 'noread'])
    c = w.Client(gw)
    c.upgrade()
    kids = gw.children()
    t.eq(len(kids), 1, 'noread: one program running')
    c.close()
    t.ok(w.wait_until(lambda: gone(kids), 3), 'client gone: the program '
         'that never reads is terminated and reaped')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway([w.TESTCHILD, 'echo'])
    c = w.Client(gw)
    c.upgrade()
    for i in range(100):
        c.send_text('line %d' % i)
    kids = gw.children()
    c.close(rst=True)
    t.ok(w.wait_until(lambda: gone(kids), 3), 'echo, reset mid-stream: the '
         'program is reaped')

    # Vanish before the 101 is read: the program was already spawned.
    for i in range(5):
        c = w.Client(gw)
        req, key = w.upgrade_request(c.hostheader())
        c.send(req)
        c.close(rst=True)

    # A later client's echo: by then the gateway has taken the five
    # (accepts are in order), so what they spawned can be counted.
    async def echo():
        async with w.connect(gw) as ws:
            await ws.send('still here')
            return await ws.recv()
    t.eq(w.arun(echo()), 'still here', 'the gateway keeps serving')
    t.ok(w.wait_until(lambda: gw.children() == [], 5),
         'clients reset right after the upgrade request: nothing left')
    t.ok(w.wait_until(lambda: gw.zombies() == [], 3), 'no zombies')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.need_websockets()
w.run(body, 60, plan=12)