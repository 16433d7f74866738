#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# SIGTERM (or SIGINT) to the gateway: it stops listening, every client gets
# close 1001, every program is ended (even one ignoring SIGTERM), and the
# gateway exits 0 within 5 s.  While a program that ignores SIGTERM still
# holds the gateway in its shutdown, new connections are already refused.

import os
import signal
import socket
import time

import lib as w


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

    # The listening socket must be closed at the start of the shutdown,
    # not only when the process exits.  A program that ignores SIGTERM
    # (and --closems=1000) keeps the gateway in its shutdown for about
    # 4 s: new connections must be refused within it.
    gw = w.Gateway([w.TESTCHILD, 'ignore-term'], ['--closems=1000'])
    c = w.Client(gw, timeout=5)
    try:
        r = c.upgrade()
        if r is None or r.status != 101:
            raise RuntimeError('upgrade answered %r' % r)
        prog = int(c.recv_message(5)[1])
        t.ok(not refused(gw.port) and prog in gw.children(),
             'shutdown grace: before SIGTERM a new connection is accepted '
             'and the program runs')
        os.kill(gw.pid, signal.SIGTERM)
        t.eq(c.recv_close(5), (1001, 'server shutting down'),
             'shutdown grace: the client gets close 1001')
        gone = w.wait_until(lambda: refused(gw.port), 2.0)
        running, kid = gw.running(), not w.dead(prog)
        t.ok(gone and running and kid,
             'shutdown grace: a new connection is refused while the '
             'gateway still runs and its program is still alive',
             'refused: %s, gateway running: %s, program alive: %s' %
             (gone, running, kid))
        try:
            status = gw.proc.wait(10)
        except Exception:
            status = None
        t.ok(status == 0 and w.dead(prog),
             'shutdown grace: the gateway ends the program and exits 0',
             'status %r, program dead: %s' % (status, w.dead(prog)))
    finally:
        c.close()


def refused(port):
    """True if a TCP connection to 127.0.0.1:port is refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(('127.0.0.1', port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


w.need_websockets()
w.run(body, 60, plan=23)