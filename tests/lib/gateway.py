# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The gateway under test: one Gateway class (a wspipe started on a free
# port, ready once /proc shows it listening, so probing makes no
# connection; stopped by PID, with whatever it leaves behind), start-up
# failures, a gateway respawned after a crash, and its log.

import os
import re
import signal
import subprocess
import time

from . import proc
from .proc import (SLOW, WSPIPE, children_of, zombies_of, fd_count, rss_kib,
                   free_port, listening, kill_group_and_pid, reap_orphans,
                   testchild)

_gateways = []


class Gateway:
    """A wspipe process: wspipe --port=P --address=A ARGS... COMMAND...
    port_args(port) and address_args replace the first two options (to try
    other spellings); pass_fds and preexec_fn go to Popen.  Every Gateway
    is stopped when the script ends; used as a context manager, it is
    stopped when the block ends."""

    def __init__(self, command, args=(), address='127.0.0.1', env=None,
                 port=None, preexec_fn=None, start=True, port_args=None,
                 address_args=None, pass_fds=(), timeout=10):
        self.command = list(command)
        self.args = list(args)
        self.address = address
        self.env = dict(os.environ) if env is None else env
        self.fixed_port = port
        self.preexec_fn = preexec_fn
        self.port_args = port_args or (lambda p: ['--port=%d' % p])
        self.address_args = (['--address=' + address] if address_args is None
                             else list(address_args))
        self.pass_fds = tuple(pass_fds)
        self.proc = None
        self.status = None
        self.port = None
        n = len(_gateways)
        self.logpath = os.path.join(proc.tmpdir(), 'gateway%d.log' % n)
        _gateways.append(self)
        if start:
            self.start(timeout)

    @property
    def pid(self):
        return self.proc.pid

    def argv(self):
        return ([WSPIPE] + self.port_args(self.port) + self.address_args +
                self.args + self.command)

    def start(self, timeout=10):
        timeout *= SLOW
        for attempt in range(5):
            self.port = self.fixed_port or free_port(self.address)
            self.status = None
            with open(self.logpath, 'ab') as log:
                self.proc = subprocess.Popen(
                    self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                    stderr=log, env=self.env, preexec_fn=self.preexec_fn,
                    pass_fds=self.pass_fds)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if listening(self.proc.pid, self.port):
                    return self
                time.sleep(0.01)
            rc = self.proc.poll()
            if rc == 3 and self.fixed_port is None:
                continue        # lost a race for the port: try another
            if rc is None:
                self.kill()
                raise RuntimeError('gateway not listening after %d s' %
                                   timeout)
            self.status = rc
            raise RuntimeError('gateway exited with %d at start-up: %s' %
                               (rc, self.log()[-500:]))
        raise RuntimeError('gateway exited with 3 (cannot listen) on 5 free '
                           'ports: %s' % self.log()[-500:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        kids = self.children() if self.running() else []
        self.stop()
        reap_orphans(kids)

    def url(self, path='/'):
        host = self.address
        if ':' in host:
            host = '[%s]' % host
        return 'ws://%s:%d%s' % (host, self.port, path)

    def hostport(self):
        return (self.address, self.port)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    alive = running

    def stop(self, timeout=20.0, sig=signal.SIGTERM):
        """Signal the gateway, wait for it; SIGKILL it (and what it started)
        after timeout.  Returns its exit status (negative: killed by that
        signal; None: had to be killed after the timeout).  Its programs
        are left alone if it exits by itself: what it does with them is
        under test."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.status = self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.kill()
                self.status = None
        else:
            self.status = self.proc.returncode
        return self.status

    def kill(self):
        """SIGKILL the gateway and its children (by PID and their process
        groups, never by name)."""
        if self.proc is not None and self.proc.poll() is None:
            kids = children_of(self.proc.pid)
            self.proc.kill()
            self.proc.wait()
            for pid in kids:
                kill_group_and_pid(pid)

    def log(self):
        try:
            with open(self.logpath, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def logtail(self, n=15):
        return '\n'.join(self.log().splitlines()[-n:])

    def client(self, **kw):
        """A raw client connected to this gateway, upgraded unless
        handshake=False; timeouts of 3 s unless told."""
        from .ws import Client
        kw.setdefault('handshake', True)
        kw.setdefault('timeout', 3.0)
        return Client(self, **kw)

    def children(self):
        return children_of(self.pid)

    def zombies(self):
        return zombies_of(self.pid)

    def fds(self):
        return fd_count(self.pid)

    def rss(self):
        return rss_kib(self.pid)


@proc.at_cleanup
def _stop_gateways(t):
    for gw in _gateways:
        if gw.running():
            kids = gw.children()
            if kids:
                t.diag('cleanup: gateway %d still has children %s' %
                       (gw.pid, kids))
            gw.kill()
    if t.failed:
        for gw in _gateways:
            lines = gw.log().splitlines()
            if lines:
                t.diag('--- last lines of %s (%s):' % (gw.logpath,
                       ' '.join(gw.argv())))
                t.diag(*[l[:300] for l in lines[-25:]])


def cmd(*argv):
    """COMMAND for a gateway: testchild with argv."""
    return [testchild()] + list(argv)


def wait_log(gw, pattern, timeout=3.0):
    """The first log line matching regex pattern, polled until timeout;
    None if there is none."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        for line in gw.log().splitlines():
            if rx.search(line):
                return line
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def start_fail(args, timeout=10.0):
    """Run wspipe with args (after --port/--address on a free port) and
    expect it to exit: (exit status or None if still running, stderr)."""
    argv = [WSPIPE, '--port=%d' % free_port(), '--address=127.0.0.1'] + \
        list(args)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout * SLOW)
        return p.returncode, (err + out).decode('utf-8', 'replace')
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(5)
        return None, (err + out).decode('utf-8', 'replace')


class Respawn:
    """A Gateway that is started again (on a new port) if it has died, so
    that one crash does not fail every later test point; the crashes are
    reported by still_running().  Other attributes are the Gateway's."""

    def __init__(self, args, command):
        self.args, self.command = list(args), list(command)
        self.crashes = []
        self.gw = Gateway(self.command, self.args)

    @property
    def port(self):
        if not self.gw.alive():
            self.crashes.append('exit status %r; log:\n%s' % (
                self.gw.proc.returncode, self.gw.logtail()))
            self.gw.stop()
            self.gw = Gateway(self.command, self.args)
        return self.gw.port

    def __getattr__(self, name):
        return getattr(self.gw, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.gw.__exit__(*exc)

    def stop(self):
        self.gw.stop()


def still_running(t, gw):
    """A test point: the gateway has not exited (else its status and log
    tail)."""
    crashes = list(getattr(gw, 'crashes', []))
    if not gw.alive():
        crashes.append('exit status %r; log:\n%s' % (gw.proc.returncode,
                                                       gw.logtail()))
    t.ok(not crashes, 'the gateway is still running (never died)',
         '\n'.join(crashes))
