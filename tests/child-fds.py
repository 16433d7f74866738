#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The program has exactly fds 0, 1, 2 (0 and 1 the same socket, 2 a pipe),
# an empty signal mask and no ignored signal, even when the gateway was
# started with an extra fd, signals blocked and signals ignored.

import os
import signal

import lib as w


def report(gw):
    async def main():
        async with w.connect(gw) as ws:
            msgs, code, _ = await w.recv_until_closed(ws)
        return msgs, code
    msgs, code = w.arun(main(), 10)
    fds = {}
    status = {}
    for m in msgs:
        k, _, v = m.partition(' ' if m[:1].isdigit() else ':')
        if m[:1].isdigit():
            fds[int(k)] = v
        else:
            status[k] = v.strip()
    return fds, status, code


def check(t, gw, how):
    fds, status, code = report(gw)
    t.eq(sorted(fds), [0, 1, 2], '%s: the program has only fds 0, 1, 2' %
         how)
    t.ok(fds.get(0, '').startswith('socket:') and fds.get(0) == fds.get(1),
         '%s: stdin and stdout are the same socket' % how, 'fds: %r' % fds)
    t.ok(fds.get(2, '').startswith('pipe:'), '%s: stderr is a pipe' % how,
         'fds: %r' % fds)
    t.eq(status.get('SigBlk'), '0' * 16, '%s: empty signal mask' % how)
    t.eq(status.get('SigIgn'), '0' * 16, '%s: no signal ignored' % how)
    t.eq(code, 1000, '%s: close 1000' % how)


def hostile():
    """Run in the gateway's process before exec: what a careless parent
    might leave behind."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGUSR2,
                                              signal.SIGINT, signal.SIGTERM})
    for s in (signal.SIGHUP, signal.SIGPIPE, signal.SIGQUIT, signal.SIGUSR2):
        signal.signal(s, signal.SIG_IGN)


def body(t):
    gw = w.Gateway([w.TESTCHILD, 'fds'])
    check(t, gw, 'plain start')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    r, wr = os.pipe()
    leak = os.open('/dev/null', os.O_RDONLY)
    gw = w.Gateway([w.TESTCHILD, 'fds'], preexec_fn=hostile,
                   pass_fds=(r, wr, leak))
    os.close(r)
    os.close(wr)
    os.close(leak)
    check(t, gw, 'inherited fds, masked and ignored signals')
    t.eq(gw.stop(sig=signal.SIGKILL), -9, 'gateway killed')


w.need_websockets()
w.run(body, 60, plan=14)