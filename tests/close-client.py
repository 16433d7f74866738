#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The client closes: the gateway echoes the close code (1000 for an empty
# close), closes TCP, then ends the program: stdin EOF, SIGINT, SIGTERM,
# SIGKILL to its process group, --closems added to each wait.

import time

import lib as w


def death_time(pids, start, timeout):
    """Seconds from start until every pid is gone (kill -0 fails for the
    gateway's child; gone or a zombie for others), or None."""
    def gone():
        return all(not w.alive(p) if own else w.dead(p) for p, own in pids)
    if not w.wait_until(gone, timeout, 0.005):
        return None
    return time.monotonic() - start


def body(t):
    gw = w.Gateway([w.TESTCHILD, 'echo'])

    async def lib_close(code, reason=''):
        async with w.connect(gw) as ws:
            await ws.send('hi')
            assert await ws.recv() == 'hi'
            await ws.close(code, reason)
            return ws.close_code

    t.eq(w.arun(lib_close(1000)), 1000, 'client close 1000: answered 1000')
    t.eq(w.arun(lib_close(4000, 'bye')), 4000,
         'client close 4000: answered 4000')
    t.eq(w.arun(lib_close(1001)), 1001, 'client close 1001: answered 1001')

    c = w.Client(gw)
    c.upgrade()
    c.send_close()
    t.eq(c.recv_close(), (1000, ''), 'empty client close: answered 1000')
    t.ok(c.wait_eof(3), '... and the gateway closes TCP')
    c.close()
    t.ok(w.wait_until(lambda: not gw.children(), 3),
         'echo programs exit at stdin EOF, reaped')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    # A program ignoring SIGINT and SIGTERM dies only by SIGKILL.
    for closems, limit, least in ((0, 3, 0.5), (300, 5, 1.6)):
        args = ['--closems=%d' % closems] if closems else []
        gw = w.Gateway([w.TESTCHILD, 'ignore-term'], args)
        c = w.Client(gw)
        c.upgrade()
        op, payload = c.recv_message()
        pid = int(payload)
        t.ok(pid in gw.children(), 'ignore-term (closems=%d) is the '
             'gateway\'s child and told us its pid' % closems)
        c.send_close(1000)
        start = time.monotonic()
        t.eq(c.recv_close(), (1000, ''), 'close 1000 answered')
        took = death_time([(pid, True)], start, limit)
        t.ok(took is not None, 'closems=%d: the program is killed and reaped '
             'within %d s (kill -0 fails)' % (closems, limit))
        t.ok(took is not None and took >= least,
             'closems=%d: not before SIGKILL is due (%.2f s)' %
             (closems, least), 'took %s' % took)
        t.ok(w.wait_until(lambda: gw.zombies() == [], 3), 'no zombies')
        c.close()
        t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    # The grandchild is in the program's process group and goes with it.
    gw = w.Gateway([w.TESTCHILD, 'pgroup'])

    async def pgroup():
        async with w.connect(gw) as ws:
            a = (await ws.recv()).split()
            b = (await ws.recv()).split()
            pids = {a[0]: int(a[1]), b[0]: int(b[1])}
            st = (w.proc_stat(pids['child']), w.proc_stat(pids['grandchild']))
            await ws.close(4000)
            return pids, st, ws.close_code
    start = time.monotonic()
    pids, st, code = w.arun(pgroup())
    child, grand = pids['child'], pids['grandchild']
    t.eq(code, 4000, 'pgroup: close 4000 answered 4000')
    t.ok(st[0] is not None and st[0][2] == child,
         'the program leads its own process group', 'stat %r' % (st[0],))
    t.ok(st[1] is not None and st[1][2] == child,
         'its grandchild is in that group', 'stat %r' % (st[1],))
    took = death_time([(child, True), (grand, False)], start, 3)
    t.ok(took is not None, 'program and grandchild are both gone within 3 s',
         'child alive: %s, grandchild stat: %r' % (w.alive(child),
                                                    w.proc_stat(grand)))
    t.eq(gw.children(), [], 'the gateway has no children left')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.need_websockets()
w.run(body, 60, plan=25)