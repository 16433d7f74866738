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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

WSPIPE = os.environ.get("WSPIPE", os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", "src", "wspipe"))
n = 0


def ok(cond, name, diag=None):
    global n
    n += 1
    print("%sok %d - %s" % ("" if cond else "not ", n, name))
    if not cond and diag:
        print("#   %s" % diag)
    return cond


def cputime(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    signal.alarm(40)
    # valgrind keeps fds of its own and lowers the limit we set.
    if os.environ.get("WSPIPE_VALGRIND"):
        print("1..0 # SKIP fd limits are not ours under valgrind")
        return
    d = tempfile.mkdtemp(prefix="wspipe-broker-emfile-")
    path = os.path.join(d, "b.sock")
    log = open(os.path.join(d, "log"), "w+")
    p = subprocess.Popen([WSPIPE, "broker", "--socket=" + path,
                          "--loglevel=error"], stderr=log,
                         preexec_fn=lambda: resource.setrlimit(
                             resource.RLIMIT_NOFILE, (16, 16)))
    socks = []
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.01)
        base = len(os.listdir("/proc/%d/fd" % p.pid))
        for _ in range(30):
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            socks.append(s)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if len(os.listdir("/proc/%d/fd" % p.pid)) >= 16:
                break
            time.sleep(0.02)
        ok(len(os.listdir("/proc/%d/fd" % p.pid)) >= 16,
           "30 clients take the broker to its limit of 16 fds")
        c0 = cputime(p.pid)
        time.sleep(2.0)		# a measuring window, not a synchronisation
        used = cputime(p.pid) - c0
        ok(used < 0.3, "out of fds, the broker does not spin",
           "%.2f s of CPU in 2 s" % used)
        for s in socks:
            s.close()
        socks = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if len(os.listdir("/proc/%d/fd" % p.pid)) == base:
                break
            time.sleep(0.05)
        ok(len(os.listdir("/proc/%d/fd" % p.pid)) == base,
           "its fds return to the baseline (%d)" % base)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(3)
        s.connect(path)
        s.sendall(b"ping\n")
        ok(s.recv(16) == b"pong\n", "a new client is served again")
        s.close()
        log.seek(0)
        lines = log.read().count("\n")
        ok(lines <= 8, "at most one log line a second while paused",
           "%d lines" % lines)
    finally:
        for s in socks:
            s.close()
        p.terminate()
        p.wait(5)
        shutil.rmtree(d, ignore_errors=True)
    ok(p.returncode == 0, "SIGTERM: exit 0")
    print("1..%d" % n)


main()
