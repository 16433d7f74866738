#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The broker out of file descriptors: it pauses accepting instead of
# spinning on EMFILE, logs once a second at most, and serves again once
# descriptors come back.
#

import os
import resource
import socket
import subprocess
import sys
import time

import lib as L


def main(t):
    ok = t.ok
    d = L.mkdtemp(prefix="wspipe-broker-emfile-")
    path = os.path.join(d, "b.sock")
    log = open(os.path.join(d, "log"), "w+")
    p = subprocess.Popen([L.WSPIPE, "broker", "--socket=" + path,
                          "--loglevel=error"], stderr=log,
                         preexec_fn=lambda: resource.setrlimit(
                             resource.RLIMIT_NOFILE, (16, 16)))
    socks = []
    try:
        # The socket file appears at bind(2), before listen(2): wait
        # until a client is accepted, not until the file exists.
        def serves():
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(3)
            try:
                s.connect(path)
                s.sendall(b"ping\n")
                return s.recv(16) == b"pong\n"
            except OSError:
                return False
            finally:
                s.close()
        L.wait_until(serves, 10 * L.SLOW)
        # The probe's fd goes when the broker reads its end of file.
        base = L.settle(lambda: L.fd_count(p.pid))
        for _ in range(30):
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            socks.append(s)
        L.wait_until(lambda: L.fd_count(p.pid) >= 16, 5)
        ok(L.fd_count(p.pid) >= 16,
           "30 clients take the broker to its limit of 16 fds")
        c0 = L.proc_cputime(p.pid)
        time.sleep(2.0)		# a measuring window, not a synchronisation
        used = L.proc_cputime(p.pid) - c0
        ok(used < 0.3, "out of fds, the broker does not spin",
           "%.2f s of CPU in 2 s" % used)
        for s in socks:
            s.close()
        socks = []
        L.wait_until(lambda: L.fd_count(p.pid) == base, 5)
        ok(L.fd_count(p.pid) == base,
           "its fds return to the baseline (%d)" % base)
        # Accepting resumes when its pause (a second) is over.
        ok(L.wait_until(serves, 15 * L.SLOW), "a new client is served "
           "again")
        log.seek(0)
        lines = log.read().count("\n")
        ok(lines <= 8, "at most one log line a second while paused",
           "%d lines" % lines)
    finally:
        for s in socks:
            s.close()
        p.terminate()
        p.wait(5)
        L.rmtree(d)
    ok(p.returncode == 0, "SIGTERM: exit 0")


# valgrind keeps fds of its own and lowers the limit we set.
if os.environ.get("WSPIPE_VALGRIND"):
    print("1..0 # SKIP fd limits are not ours under valgrind")
    sys.exit(0)
L.run(main, 40)
