#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# 10,000 connections that come and go: half close straight after connect,
# half complete the upgrade (a `cat` is spawned) and vanish without a close
# frame, by FIN or by RST.  Afterwards every program has been reaped, the
# gateway holds the fds it held before, its memory has not grown, and it
# still serves.
#

import os
import socket
import struct
import time

from lib.proc import settle as proc_settle

from lib import (Gateway, children_of, echo_ok, fd_count, point,
                 proc_status, run, sanitized,
                 upgrade_request, zombies_of)

# Under valgrind every connection costs far more: fewer, same shape.
VALGRIND = bool(os.environ.get("WSPIPE_VALGRIND"))
TOTAL = 2000 if VALGRIND else 10000
BATCH = 250                     # upgrades held at once (plus as many closes)


def settle(gw, fds, timeout):
    """Poll until gw has no children and (if fds) fds open; returns the
    last (children, zombies, fd count)."""
    deadline = time.monotonic() + timeout
    while True:
        kids, zombies = children_of(gw.pid), zombies_of(gw.pid)
        n = fd_count(gw.pid)
        if (not kids and (fds is None or n == fds)) or \
           time.monotonic() > deadline:
            return kids, zombies, n
        time.sleep(0.05)


def batch(port, key, n):
    """n plain connect-and-close plus n upgrades then vanishing; returns
    the statuses of the upgrades that did not get 101."""
    req = upgrade_request("127.0.0.1:%d" % port, key=key)[0]
    ups, bad = [], []
    try:
        for i in range(n):
            p = socket.create_connection(("127.0.0.1", port), 5)
            p.close()
            s = socket.create_connection(("127.0.0.1", port), 10)
            ups.append(s)
            s.sendall(req)
        for s in ups:
            head = b""
            while b"\r\n\r\n" not in head:
                d = s.recv(4096)
                if not d:
                    break
                head += d
            if not head.startswith(b"HTTP/1.1 101 "):
                bad.append(head.split(b"\r\n", 1)[0])
    except OSError as e:
        bad.append(repr(e))
    finally:
        for i, s in enumerate(ups):
            if i % 2:
                # Vanish with a reset rather than a FIN.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            s.close()
    return bad


def main(t):
    with Gateway(["cat"], []) as gw:
        ok, why = echo_ok(gw.port)
        t.ok(ok, "echo works before the flood", why)
        kids, _, _ = settle(gw, None, 5)
        # The echo's connection may still be closing: a steady count.
        fds0 = proc_settle(lambda: fd_count(gw.pid), 10, still=1.0)
        rss0 = proc_status(gw.pid, "VmRSS")
        start = time.monotonic()
        bad = []
        for i in range(TOTAL // (2 * BATCH)):
            bad += batch(gw.port, "dGhlIHNhbXBsZSBub25jZQ==", BATCH)
        took = time.monotonic() - start
        t.diag("flood of %d connections took %.1f s" % (TOTAL, took))
        t.ok(not bad, "every one of %d upgrades is answered 101" %
             (TOTAL // 2), "%d failed, first: %r" % (len(bad), bad[:5]))
        t.ok(gw.alive(), "gateway survives the flood", gw.logtail())
        kids, zombies, fds = settle(gw, fds0, 20)
        t.ok(not zombies, "no zombie children after the flood",
             "zombies %r" % zombies[:20])
        t.ok(not kids, "no program left running after the flood",
             "children %r" % kids[:20])
        t.ok(fds == fds0, "gateway fd count back to %d" % fds0,
             "now %d" % fds)
        rss = proc_status(gw.pid, "VmRSS")
        if sanitized():
            t.skip("VmRSS growth under 10 MB", "AddressSanitizer build")
        else:
            t.ok(rss - rss0 < 10240, "VmRSS growth under 10 MB",
                 "VmRSS %d kB -> %d kB" % (rss0, rss))
        point(t, "a normal echo works after the flood",
              lambda: echo_ok(gw.port))


run(main, 300 if VALGRIND else 150)
