#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# websocketd's spellings (HEAD and 0.4.1) mean what they mean there:
# --license prints the licence (COPYING) and exits 0; --maxframesize is
# --maxmsg (a message at the limit is echoed, one byte more closes with
# 1009); --pingms pings a silent client after that many milliseconds and
# closes it when no frame answers within twice that, while a client that
# answers stays.  Every wait polls a deadline.

import os
import subprocess
import time

import lib as W


def body(t):
    top = os.environ.get('top_srcdir', os.path.join(
        os.path.dirname(__file__), '..'))
    with open(os.path.join(top, 'COPYING'), 'rb') as f:
        copying = f.read()
    p = subprocess.run([W.WSPIPE, '--license'], capture_output=True,
                       timeout=10)
    t.ok(p.returncode == 0 and p.stdout == copying,
         '--license prints COPYING and exits 0')
    p = subprocess.run([W.WSPIPE, '--pingms=x', 'cat'], capture_output=True,
                       timeout=10)
    t.eq(p.returncode, 1, '--pingms=x is a configuration error (exit 1)')

    gw = W.Gateway([W.TESTCHILD, 'echo'], ['--maxframesize=100'])
    ok, why = W.check_echo(gw, [W.frame(W.TEXT, 'a' * 100, mask=True)],
                           b'a' * 100)
    t.ok(ok, '--maxframesize=100: a 100-byte message is echoed', why)
    c = gw.client()
    c.send_text('b' * 101)
    ok, why = c.expect_close(1009, 5 * W.SLOW)
    c.close()
    t.ok(ok, '--maxframesize=100: 101 bytes close the connection with 1009',
         why)
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = W.Gateway([W.TESTCHILD, 'echo'], ['--pingms=300'])
    t0 = time.monotonic()       # before the upgrade: the session's start
    silent = gw.client()
    pinged, closed = None, None
    deadline = t0 + 10 * W.SLOW
    while time.monotonic() < deadline and closed is None:
        try:
            fr = silent.recv_frame(max(0.0, deadline - time.monotonic()))
        except W.Timeout:
            break
        if fr is None or fr.opcode == W.CLOSE:
            closed = time.monotonic() - t0
        elif fr.opcode == W.PING and pinged is None:
            pinged = time.monotonic() - t0
    silent.close()
    t.ok(pinged is not None and pinged >= 0.25,
         '--pingms=300: a silent client is pinged after 0.3 s',
         'pinged after %s s' % pinged)
    t.ok(closed is not None and closed >= 0.8,
         '--pingms=300: and closed once 0.6 s pass without a frame',
         'closed after %s s' % closed)

    # A client that answers (websockets pongs by itself) stays: it is
    # pinged several times over two seconds and still echoes.
    async def answering():
        async with W.connect(gw, ping_interval=None) as ws:
            end = time.monotonic() + 2.0
            while time.monotonic() < end:
                try:
                    await W.asyncio.wait_for(ws.recv(), 0.2)
                except W.asyncio.TimeoutError:
                    pass
            await ws.send('still here')
            return await ws.recv()
    t.eq(W.arun(answering(), 20), 'still here',
         '--pingms=300: a client that answers the pings stays open')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


W.need_websockets()
W.run(body, 60, plan=9)
