# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A real redis-server for the tests of listen mode on Redis: one per test,
# on a UNIX socket in the test's directory, without persistence; started,
# waited for, killed and restarted by PID.  A small RESP client speaks to
# it, to pause it or look at its channels.

import os
import shutil
import signal
import socket
import subprocess
import time

from .proc import SLOW, dead, wait_until

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def resp(path, *cmds, timeout=3.0):
    """Sends commands (tuples) to the Redis at path on one connection; the
    last one's answer (bytes, int, list, None, or an Exception for an
    error)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout * SLOW)
    s.connect(path)
    s.sendall(b"".join(_encode(c) for c in cmds))
    f = s.makefile("rb")
    try:
        for _ in cmds[1:]:
            _read(f)
        return _read(f)
    finally:
        f.close()
        s.close()


def _read(f):
    line = f.readline()
    if not line:
        raise EOFError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise RuntimeError("bad RESP line %r" % line)


class Redis:
    """redis-server on dir/redis.sock; url is what --redis takes."""

    def __init__(self, dir, password=None):
        self.dir = dir
        self.path = os.path.join(dir, "redis.sock")
        self.url = "unix://" + self.path
        self.password = password
        self.proc = None
        self.start()

    def start(self):
        argv = [REDIS_SERVER, "--port", "0", "--unixsocket", self.path,
                "--unixsocketperm", "700", "--save", "", "--appendonly",
                "no", "--dir", self.dir, "--daemonize", "no",
                "--loglevel", "warning", "--databases", "4"]
        if self.password:
            argv += ["--requirepass", self.password]
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        if not wait_until(lambda: self.proc.poll() is not None or
                          self.answers(), 10.0 * SLOW):
            raise RuntimeError("redis-server does not answer")
        if self.proc.poll() is not None:
            raise RuntimeError("redis-server exited %d" %
                               self.proc.returncode)

    def answers(self):
        try:
            r = self.cmd("PING")
            return r == b"PONG" or (isinstance(r, RuntimeError) and
                                    "NOAUTH" in str(r))
        except OSError:
            return False

    def cmd(self, *args):
        if self.password:
            return resp(self.path, ("AUTH", self.password), args)
        return resp(self.path, args)

    @property
    def pid(self):
        return self.proc.pid

    def kill(self):
        """SIGKILL, and wait for it to be gone (its socket file stays)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()

    def restart(self):
        """Killed and started again, empty."""
        self.kill()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        self.start()

    def numsub(self, channel):
        r = self.cmd("PUBSUB", "NUMSUB", channel)
        return r[1]

    def channels(self):
        return sorted(c.decode() for c in self.cmd("PUBSUB", "CHANNELS"))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        try:
            self.log.close()
        except OSError:
            pass
