#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Command line: --help/--version exit 0 on stdout; usage errors exit 2;
# bad configuration (COMMAND missing or not executable, bad value) exit 1;
# port in use exit 3; -opt and --opt, --opt=v and --opt v; options after
# COMMAND belong to it; --; IPv6 and repeated --address.

import os
import re
import socket
import subprocess

import lib as w


def wspipe(*args, timeout=10 * w.SLOW):
    """Run wspipe to completion (killed after timeout).  Listening, if it
    gets that far by mistake, is on 127.0.0.1 only."""
    if len(args) > 1:
        args = ('--address=127.0.0.1',) + args
    try:
        p = subprocess.run([w.WSPIPE] + list(args), capture_output=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode('utf-8', 'replace'), \
            p.stderr.decode('utf-8', 'replace')
    except subprocess.TimeoutExpired:
        return None, '', 'still running after %d s' % timeout


def exits(t, want, desc, *args, quiet_stdout=False):
    rc, out, err = wspipe(*args)
    ok = rc == want
    if want != 0:
        ok = ok and err.strip() != ''
    t.ok(ok, '%s: exit %d%s' % (desc, want, ' with a message on stderr'
                                if want else ''),
         'exit %s' % rc, 'stderr: %s' % err[-300:])
    return rc, out, err


async def echo(gw, msg='hi'):
    async with w.connect(gw) as ws:
        await ws.send(msg)
        return await ws.recv()


def v6():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(('::1', 0))
        s.close()
        return True
    except OSError:
        return False


def body(t):
    tc = w.TESTCHILD
    port = str(w.free_port())
    rc, out, err = wspipe('--help')
    t.ok(rc == 0 and 'usage' in out.lower(), '--help: usage on stdout, '
         'exit 0', 'exit %s, stdout %r' % (rc, out[:200]))
    rc, out, err = wspipe('--version')
    t.ok(rc == 0 and re.fullmatch(r'wspipe \S+\n', out), '--version: '
         '"wspipe VERSION" on stdout, exit 0', 'exit %s, stdout %r' %
         (rc, out[:200]))
    rc, out2, err = wspipe('-version')
    t.ok(rc == 0 and out2 == out, '-version works like --version')
    exits(t, 2, 'unknown option', '--no-such-option', '--port=' + port,
          tc, 'echo')
    exits(t, 2, 'no COMMAND', '--port=' + port)
    exits(t, 1, 'COMMAND does not exist', '--port=' + port,
          '/nonexistent/wspipe-test-prog')
    exits(t, 1, 'COMMAND not found in PATH', '--port=' + port,
          'wspipe-test-no-such-command')
    noexec = os.path.join(w.tmpdir(), 'noexec')
    with open(noexec, 'w') as f:
        f.write('#!/bin/sh\n')
    os.chmod(noexec, 0o644)
    exits(t, 1, 'COMMAND not executable', '--port=' + port, noexec)
    exits(t, 1, 'bad value --port=abc', '--port=abc', tc, 'echo')
    exits(t, 1, 'bad value --port=70000', '--port=70000', tc, 'echo')
    exits(t, 1, 'bad value --maxforks=-1', '--port=' + port,
          '--maxforks=-1', tc, 'echo')
    exits(t, 1, 'bad value --loglevel=loud', '--port=' + port,
          '--loglevel=loud', tc, 'echo')

    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    s.listen(1)
    busy = str(s.getsockname()[1])
    exits(t, 3, 'port in use', '--port=' + busy, tc, 'echo')
    s.close()

    gw = w.Gateway([tc, 'echo'], port_args=lambda p: ['-port=%d' % p],
                   address_args=['-address=127.0.0.1'])
    t.eq(w.arun(echo(gw)), 'hi', 'single-dash -port=N -address=A works')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway([tc, 'echo'], port_args=lambda p: ['--port', str(p)],
                   address_args=['--address', '127.0.0.1'])
    t.eq(w.arun(echo(gw)), 'hi', '--port N --address A (separate '
         'values) works')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway(['--', tc, 'echo'])
    t.eq(w.arun(echo(gw)), 'hi', '-- before COMMAND works')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway(['/bin/echo', '--binary', '--port=1'])

    async def first():
        async with w.connect(gw) as ws:
            return await ws.recv()
    t.eq(w.arun(first()), '--binary --port=1', 'options after COMMAND are '
         'its arguments')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    if v6():
        gw = w.Gateway([tc, 'echo'], address='::1')
        t.eq(w.arun(echo(gw)), 'hi', '--address=::1 works')
        t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')
        gw = w.Gateway([tc, 'echo'], address='::1',
                       address_args=['--address=[::1]'])
        t.eq(w.arun(echo(gw)), 'hi', '--address=[::1] works')
        t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')
        gw = w.Gateway([tc, 'echo'], address='127.0.0.1', address_args=[
            '--address=127.0.0.1', '--address=::1'])
        r4 = w.arun(echo(gw, 'v4'))
        gw.address = '::1'
        r6 = w.arun(echo(gw, 'v6'))
        t.eq((r4, r6), ('v4', 'v6'), 'two --address options: both listen')
        t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')
    else:
        for d in ('--address=::1 works', 'gateway exits 0',
                  '--address=[::1] works', 'gateway exits 0',
                  'two --address options: both listen', 'gateway exits 0'):
            t.skip(d, 'no IPv6 loopback')


w.need_websockets()
w.run(body, 60, plan=27)