# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode (wspipe --listen, wspipe broker, wspipe publish/subscribe):
# a fixture that owns a fresh temporary directory and every process a test
# starts (killed by PID at the end), gateways whose private broker lives
# under that directory, stand-alone brokers, a line client for the
# broker's UNIX socket, checks on what a websockets client (ws.WS) gets,
# and the gateway's broker child found through /proc.

import asyncio
import os
import select
import signal
import socket
import subprocess
import tempfile
import time

from . import proc
from .gateway import Gateway
from .proc import (WSPIPE, children_of, zombies_of, cmdline, dead, rmtree,
                   wait_until)
from .redis import Redis
from .tap import trunc
from .ws import LOOP, WS, Closed, Timeout


def broker_children(gwpid):
    """Live children of the gateway whose command line contains
    "broker"."""
    zombies = zombies_of(gwpid)
    return [k for k in children_of(gwpid) if k not in zombies and
            any("broker" in a for a in cmdline(k))]


def broker_socket_of(pid):
    """The socket a broker process serves: its --socket argument, else
    WSPIPE_BROKER in its environment; None if neither."""
    args = cmdline(pid)
    for i, a in enumerate(args):
        for pre in ("--socket=", "-socket="):
            if a.startswith(pre):
                return a[len(pre):]
        if a in ("--socket", "-socket") and i + 1 < len(args):
            return args[i + 1]
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            for v in f.read().split(b"\0"):
                if v.startswith(b"WSPIPE_BROKER="):
                    return v[14:].decode()
    except OSError:
        pass
    return None


def wspipe_run(args, env=None, stdin=None, timeout=20.0, input=None):
    """Run `wspipe ARGS...` to completion: (exit status, stdout, stderr)
    as str."""
    e = dict(os.environ)
    e.pop("WSPIPE_BROKER", None)
    if env:
        e.update(env)
    p = subprocess.run([WSPIPE] + list(args), env=e, stdin=stdin,
                       input=input, capture_output=True, timeout=timeout)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


# The broker's UNIX socket

class LineConn:
    """A line client of a broker's AF_UNIX socket."""

    def __init__(self, path, timeout=3.0):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = bytearray()
        self.eof = False

    def send(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.sock.sendall(line + b"\n")

    def send_raw(self, data):
        self.sock.sendall(data)

    def readline(self, timeout=2.0):
        """The next line without its newline (str); None at EOF;
        Timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout()
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(1 << 20)
            except socket.timeout:
                raise Timeout()
            except (ConnectionResetError, BrokenPipeError):
                d = b""
            if not d:
                self.eof = True
                if not self.buf:
                    return None
                line = bytes(self.buf)
                del self.buf[:]
                return line.decode("utf-8", "replace")
            self.buf += d
        i = self.buf.index(b"\n")
        line = bytes(self.buf[:i])
        del self.buf[:i + 1]
        return line.decode("utf-8", "replace")

    def lines_until_pong(self, timeout=3.0):
        """Send ping; the lines before its pong (list), or raise Timeout."""
        self.send("ping")
        deadline = time.monotonic() + timeout
        out = []
        while True:
            line = self.readline(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError("EOF before pong; got %r" % out)
            if line == "pong":
                return out
            out.append(line)

    def ask(self, *lines, timeout=5.0):
        """Sends lines; everything the broker answers before the pong that
        follows them (it answers in order)."""
        for line in lines:
            self.send(line)
        return self.lines_until_pong(timeout * proc.SLOW)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def broker_answers(path, timeout=0.5):
    """True if a broker at path answers ping with pong."""
    try:
        c = LineConn(path, timeout)
    except OSError:
        return False
    try:
        c.send("ping")
        return c.readline(timeout) == "pong"
    except (OSError, Timeout):
        return False
    finally:
        c.close()


def listen_idle(port, metrics="/metrics"):
    """True if the gateway on port (with --metrics=metrics) has no listen
    client, subscription or resource left."""
    from .http import fetch
    text = fetch(port, metrics, timeout=5 * proc.SLOW).body.decode()
    return all(("%s 0" % k) in text.split("\n") for k in (
        'wspipe_connections{role="listen"}', "wspipe_listen_subscriptions",
        "wspipe_listen_resources"))


def subscribed(ws, sock, resource, timeout=10.0):
    """Waits until the broker delivers resource's updates to ws.

    "ok subscribe" now means subscribed at the broker (tests/hostile-
    listen-promise.py holds the gateway to it); this stronger check, for
    tests about delivery itself, publishes markers from a script until one
    arrives, then reads up to the last one: an event to synchronise on,
    not a sleep.  Returns (ok, why)."""
    deadline = time.monotonic() + timeout
    c = LineConn(sock)
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            c.send("publish %s marker%d" % (resource, n))
            try:
                m = ws.recv(0.2)
            except Timeout:
                continue
            except Closed as e:
                return False, "closed (%s) while waiting" % e.args[0]
            if not m.startswith("update %s marker" % resource):
                return False, "unexpected %r" % trunc(m)
            if m == "update %s marker%d" % (resource, n):
                return True, None
            out, found = ws.until("update %s marker%d" % (resource, n),
                                  max(0.1, deadline - time.monotonic()))
            if not found:
                return False, "marker%d never came: %r" % (n, out[-3:])
            return True, None
    finally:
        c.close()
    return False, "no marker arrived within %.0f s" % timeout


def no_more(ws, timeout=3.0):
    """(ok, diag): nothing more is queued for ws.  A ping sent now is
    answered after whatever the gateway has already queued, so the very
    next message must be its pong; anything before it is an extra."""
    ws.send("ping")
    deadline = time.monotonic() + timeout
    extra = []
    while True:
        try:
            m = ws.recv(max(0.0, deadline - time.monotonic()))
        except Timeout:
            return False, "no pong within %.1f s; extra messages %r" % (
                timeout, [trunc(x) for x in extra[:3]])
        except Closed as e:
            return False, "connection closed (code %s) before pong; extra " \
                "messages %r" % (e.args[0], [trunc(x) for x in extra[:3]])
        if m == "pong":
            if extra:
                return False, "%d extra message(s) before pong: %r" % (
                    len(extra), [trunc(x) for x in extra[:3]])
            return True, None
        extra.append(m)


def expect_seq(ws, items, timeout=3.0, exact=True):
    """(ok, diag): ws receives exactly the messages items, in order; with
    exact, nothing more is queued behind them (no_more)."""
    got = ws.collect(len(items), timeout)
    if got == list(items):
        return no_more(ws) if exact else (True, None)
    for i, (a, b) in enumerate(zip(got, items)):
        if a != b:
            return False, "message %d: wanted %r, got %r (%d of %d came)" % (
                i, trunc(b), trunc(a), len(got), len(items))
    return False, "only %d of %d messages came; last %r" % (
        len(got), len(items), trunc(got[-1]) if got else None)


def expect_only(ws, want, timeout=2.0):
    """(ok, diag): the next message is want and nothing more is queued
    behind it (no_more)."""
    ok, why = ws.expect(want, timeout)
    if not ok:
        return ok, why
    return no_more(ws)


# Reading a process's stdout with a deadline

class LineReader:
    def __init__(self, f):
        self.fd = f.fileno()
        self.buf = b""
        self.eof = False

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout()
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            d = os.read(self.fd, 65536)
            if not d:
                self.eof = True
            self.buf += d
        i = self.buf.index(b"\n")
        line, self.buf = self.buf[:i], self.buf[i + 1:]
        return line.decode("utf-8", "replace")


# The fixture: a directory and every process started in it

class Fixture:
    """Owns a fresh temp directory and the processes a test starts; stop()
    ends them all by PID and removes the directory."""

    def __init__(self, prefix="wspipe-listen"):
        self.dir = os.path.realpath(tempfile.mkdtemp(prefix=prefix))
        self.gateways = []
        self.procs = []
        self.pids = []          # extra PIDs (brokers seen), checked first
        self.kill_pids = []     # other processes started here
        self.wss = []
        self.redises = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def gateway(self, args, command=(), tmpdir=None, ready=True):
        """A Gateway with TMPDIR=tmpdir (default: the fixture's
        directory) so that its private broker directory lands there.
        ready: wait until a subscriber gets a published state, i.e. the
        gateway is connected to its broker (needs a known socket)."""
        env = dict(os.environ)
        env["TMPDIR"] = tmpdir or self.dir
        gw = Gateway(command, args, env=env)
        self.gateways.append(gw)
        self.track_brokers(gw)
        return gw

    def track_brokers(self, gw):
        for b in broker_children(gw.pid):
            if b not in self.pids:
                self.pids.append(b)

    def broker(self, path, *args, wait=True):
        """`wspipe broker --socket=path ARGS`; waits until it answers."""
        log = tempfile.TemporaryFile(dir=self.dir)
        p = subprocess.Popen([WSPIPE, "broker", "--socket=" + path] +
                             list(args), stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log)
        p.logfile = log
        self.procs.append(p)
        if wait and not wait_until(lambda: p.poll() is not None or
                                   broker_answers(path),
                                   10.0 * proc.SLOW):
            raise RuntimeError("broker at %s does not answer" % path)
        if wait and p.poll() is not None:
            raise RuntimeError("broker exited %d: %s" % (
                p.returncode, proclog(p)))
        return p

    def redis(self, password=None):
        """A redis-server of this test's own, on a UNIX socket here."""
        d = os.path.join(self.dir, "redis%d" % len(self.redises))
        os.mkdir(d, 0o700)
        r = Redis(d, password)
        self.redises.append(r)
        return r

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def ws(self, port, path="/", **kw):
        w = WS(port, path, **kw)
        self.wss.append(w)
        return w

    def stop(self):
        for w in self.wss:
            w.abort()
        try:
            # Let the aborts' connection_lost callbacks close the sockets.
            for _ in range(3):
                LOOP.run_until_complete(asyncio.sleep(0))
        except BaseException:
            pass
        for gw in self.gateways:
            self.track_brokers(gw) if gw.alive() else None
            try:
                gw.stop()
            except Exception:
                pass
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(3)
        for r in self.redises:
            r.stop()
        for pid in self.kill_pids:
            if not dead(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for pid in self.pids:
            if not dead(pid) and any("broker" in a for a in cmdline(pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        rmtree(self.dir)


def proclog(p):
    try:
        p.logfile.seek(0)
        return p.logfile.read().decode("utf-8", "replace")[-2000:]
    except (OSError, ValueError, AttributeError):
        return ""


def sync_gateway(fx, port, sockpath, path="/", timeout=5.0):
    """Wait until the gateway on port relays states from the broker at
    sockpath: a client subscribes to a private resource and a state is
    published there (retained, so one publish suffices once it lands)."""
    w = WS(port, path)
    try:
        name = "/.ready-%d" % os.getpid()
        w.send("subscribe " + name)
        ok, why = w.expect("ok subscribe " + name, timeout)
        if not ok:
            raise RuntimeError("readiness subscribe: %s" % why)
        deadline = time.monotonic() + timeout
        published = False
        while True:
            if not published:
                try:
                    c = LineConn(sockpath, 1.0)
                    c.send("publish %s ready" % name)
                    c.lines_until_pong(2.0)
                    c.close()
                    published = True
                except (OSError, Timeout, RuntimeError):
                    pass
            try:
                m = w.recv(0.05)
                if m == "update %s ready" % name:
                    return
            except Timeout:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gateway on %d never relayed a state from "
                                   "%s" % (port, sockpath))
    finally:
        w.close()
