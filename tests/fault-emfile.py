#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# File descriptor exhaustion: under RLIMIT_NOFILE 64 the gateway takes
# connections until it runs out of fds, then refuses (503) or backs off
# accepting - without spinning on the CPU - keeps serving the connections
# it has, and serves new ones again once fds are freed.
#

import resource
import socket
import time

from lib import (TEXT, Gateway, echo_ok, fd_count, frame, point, sanitized,
                 proc_cputime, run, upgrade_request)


def lowfd():
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def attempt(port):
    """('101', sock) / ('503', None) / ('none', sock) / ('error', None)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), 2)
    except OSError as e:
        return "connect " + type(e).__name__, None
    try:
        s.sendall(upgrade_request("127.0.0.1:%d" % port,
                                  key="dGhlIHNhbXBsZSBub25jZQ==")[0])
        s.settimeout(1.0)
        head = b""
        while b"\r\n\r\n" not in head:
            d = s.recv(4096)
            if not d:
                break
            head += d
    except socket.timeout:
        return "none", s
    except OSError as e:
        s.close()
        return "error " + type(e).__name__, None
    status = head.split(b" ", 2)[1].decode() if head.count(b" ") >= 2 \
        else "eof"
    if status == "101":
        return status, s
    s.close()
    return status, None


def main(t):
    with Gateway(["cat"], [], preexec_fn=lowfd) as gw:
        held, upgraded, outcomes = [], [], {}
        try:
            failures = 0
            for i in range(80):
                what, s = attempt(gw.port)
                outcomes[what] = outcomes.get(what, 0) + 1
                if s is not None:
                    held.append(s)
                # A socket with no answer yet may still get its 101.
                if what == "101":
                    upgraded.append(s)
                if what != "101":
                    failures += 1
                    if failures >= 6:
                        break
            t.diag("outcomes: %r" % outcomes)
            t.ok(outcomes.get("101", 0) >= 5 and failures >= 6,
                 "connections are served until fds run out, then refused "
                 "or delayed", "outcomes %r" % outcomes)
            t.ok(set(outcomes) <= {"101", "503", "none"},
                 "refusals are HTTP 503 or a delayed accept, nothing else",
                 "outcomes %r" % outcomes)
            # Idle connections cost the gateway an fd each until the
            # handshake timeout: with them, accept() itself fails.
            for i in range(70):
                try:
                    held.append(socket.create_connection(
                        ("127.0.0.1", gw.port), 2))
                except OSError:
                    break
            deadline = time.monotonic() + 2.0
            while fd_count(gw.pid) < 63 and time.monotonic() < deadline:
                time.sleep(0.05)
            if sanitized():
                t.skip("idle connections take the gateway to its fd limit",
                       "valgrind or ASan keep fds of their own")
            else:
                t.ok(fd_count(gw.pid) >= 63,
                     "idle connections take the gateway to its fd limit",
                     "gateway holds %d fds" % fd_count(gw.pid))
            t.ok(gw.alive(), "gateway alive while out of fds", gw.logtail())
            cpu0 = proc_cputime(gw.pid)
            # A measuring window, not a synchronisation.
            time.sleep(2.0)
            used = proc_cputime(gw.pid) - cpu0
            t.ok(used < 0.5, "gateway does not spin while saturated "
                 "(CPU < 0.5 s over 2 s)", "used %.2f s" % used)
            point(t, "an upgraded connection still echoes while saturated",
                  lambda: held_echo(upgraded))
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 3.0
        ok, why = False, "no attempt"
        while not ok and time.monotonic() < deadline:
            ok, why = echo_ok(gw.port, timeout=max(0.1, deadline -
                                                   time.monotonic()))
        t.ok(ok, "a new connection is served within 3 s once fds are "
             "freed", "%s\n%s" % (why, gw.logtail()))
        t.ok(gw.alive(), "gateway alive after fd exhaustion")


def held_echo(held):
    """Echo a text message on the first held upgraded socket."""
    for s in held:
        s.settimeout(2)
        s.sendall(frame(TEXT, "still"))
        d = b""
        while len(d) < 7:
            chunk = s.recv(64)
            if not chunk:
                break
            d += chunk
        return d == b"\x81\x05still", "got %r" % d
    return False, "no held connection"


run(main, 90)
