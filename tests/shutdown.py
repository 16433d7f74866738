#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# SIGTERM (or SIGINT) to the gateway: it stops listening, every client gets
# close 1001, every program is ended (even one ignoring SIGTERM), and the
# gateway exits 0 within 5 s.

import os
import signal
import time

import wstest as w


def body(t):
    for mode, sig in (('echo', signal.SIGTERM), ('ignore-term',
                                                 signal.SIGTERM),
                      ('echo', signal.SIGINT)):
        name = '%s, %s' % (mode, signal.Signals(sig).name)
        gw = w.Gateway([w.TESTCHILD, mode])

        async def main():
            conns = [await w.connect(gw) for _ in range(3)]
            for ws in conns:
                if mode == 'ignore-term':
                    await ws.recv()             # its pid
                await ws.send('hi')
                assert await ws.recv() == 'hi'
            kids = gw.children()
            os.kill(gw.pid, sig)
            start = time.monotonic()
            codes = []
            for ws in conns:
                try:
                    await ws.recv()
                except w.websockets.exceptions.ConnectionClosed:
                    pass
                await ws.wait_closed()
                codes.append(ws.close_code)
            return kids, codes, start
        kids, codes, start = w.arun(main(), 20)
        t.eq(len(kids), 3, '%s: three programs were running' % name)
        t.eq(codes, [1001] * 3, '%s: each client gets close 1001' % name)
        t.ok(w.wait_until(lambda: not w.listening(gw.pid, gw.port), 3),
             '%s: the gateway stops listening' % name)
        try:
            status = gw.proc.wait(max(0.1, 5 - (time.monotonic() - start)))
        except Exception:
            status = None
        took = time.monotonic() - start
        t.eq(status, 0, '%s: the gateway exits 0 within 5 s' % name)
        t.diag('%s: exit after %.2f s' % (name, took))
        t.ok(all(w.dead(p) for p in kids), '%s: every program is gone' %
             name, 'left: %s' % [p for p in kids if not w.dead(p)])
        t.ok(not any(w.alive(p) for p in kids), '%s: ... reaped by the '
             'gateway before it exits' % name)

    gw = w.Gateway([w.TESTCHILD, 'echo'])
    t.eq(gw.stop(sig=signal.SIGINT), 0, 'idle gateway: SIGINT, exit 0')


w.need_websockets()
w.run(19, body, 60)
