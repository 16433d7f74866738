#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# 200 concurrent connections, each echoing through its own program: all
# correct; afterwards no children, no zombies, and the gateway's fd count
# back to its baseline. Then 200 clients that vanish (reset): same.

import asyncio
import resource

import lib as w

N = 200


def body(t):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * N + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * N + 64),
                                                    hard))
    gw = w.Gateway([w.TESTCHILD, 'echo'])

    async def one(i, msgs=5):
        # 200 upgrades at once, each spawning its program, on a machine
        # that may be busy: the handshake gets the whole test's time.
        async with w.connect(gw, '/c%d' % i,
                             open_timeout=60 * w.SLOW) as ws:
            want = ['client %d message %d' % (i, j) for j in range(msgs)]
            for m in want:
                await ws.send(m)
            got = [await ws.recv() for _ in want]
        return got == want and ws.close_code == 1000

    # Warm up once so lazily opened fds count in the baseline.
    w.arun(one(0), 10)
    w.wait_until(lambda: gw.children() == [], 3)
    base = w.settle(gw.fds)
    t.diag('baseline: %d fds, %d KiB' % (base, gw.rss()))

    async def many():
        return await asyncio.gather(*[one(i) for i in range(N)],
                                    return_exceptions=True)
    res = w.arun(many(), 90 * w.SLOW)
    bad = [(i, r) for i, r in enumerate(res) if r is not True]
    t.ok(not bad, '%d concurrent connections all echo correctly' % N,
         '%d failed, e.g. %s' % (len(bad), bad[:3]))
    t.ok(w.wait_until(lambda: gw.children() == [], 5), 'afterwards no '
         'programs left', 'children: %s' % gw.children()[:10])
    t.ok(w.wait_until(lambda: gw.zombies() == [], 3), 'no zombies')
    t.ok(w.wait_until(lambda: gw.fds() == base, 5),
         'the gateway\'s fd count is back to the baseline',
         'baseline %d, now %d' % (base, gw.fds()))

    # Clients that all vanish at once.
    conns = []
    for i in range(N):
        c = w.Client(gw)
        conns.append(c)
        c.send(w.upgrade_request(c.hostheader())[0])
    heads = [c.read_head() for c in conns]
    ok101 = sum(1 for h in heads if h is not None and h.status == 101)
    t.eq(ok101, N, '%d raw clients upgraded' % N)
    t.ok(w.wait_until(lambda: len(gw.children()) == N, 5),
         '... with %d programs running' % N, 'children: %d' %
         len(gw.children()))
    for c in conns:
        c.close(rst=True)
    t.ok(w.wait_until(lambda: gw.children() == [], 5), 'all reset: every '
         'program reaped', 'children: %s' % gw.children()[:10])
    t.ok(w.wait_until(lambda: gw.zombies() == [], 3), 'no zombies')
    t.ok(w.wait_until(lambda: gw.fds() == base, 5),
         'fd count back to the baseline', 'baseline %d, now %d' %
         (base, gw.fds()))
    t.ok(w.arun(one(1), 10), 'the gateway still serves')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.need_websockets()
w.run(body, 90, plan=11)