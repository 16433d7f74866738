#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --unixsocket=PATH, websocketd's option for a reverse proxy on the same
# machine: alone it listens on that socket only (mode 0660, or
# --unixsocket-mode), echoes through it, and the program sees
# REMOTE_ADDR=unix-socket; a stale socket file is replaced, a live socket
# or another kind of file is not (exit 3, left as it was); SIGTERM removes
# the socket; beside --port both answer.  Every wait polls a deadline.

import asyncio
import os
import signal
import socket
import stat
import subprocess

import lib as L


def start(fx, args, command):
    p = fx.spawn([L.WSPIPE] + args + command, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return p


def answering(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


async def unix_echo(path, msg, first=True):
    """(first message, the echo of msg) over a WebSocket on path."""
    async with L.websockets.unix_connect(path, "ws://localhost/") as ws:
        head = await ws.recv() if first else None
        await ws.send(msg)
        return head, await ws.recv()


def main(t):
    with L.Fixture() as fx:
        path = fx.path("ws.sock")
        p = start(fx, ["--unixsocket=" + path],
                  ["/bin/sh", "-c", 'echo "$REMOTE_ADDR"; exec cat'])
        up = L.wait_until(lambda: answering(path), 10 * L.SLOW)

        def p_mode():
            st = os.lstat(path)
            return (up and stat.S_ISSOCK(st.st_mode) and
                    stat.S_IMODE(st.st_mode) == 0o660,
                    "up %s, mode %o" % (up, st.st_mode))
        L.point(t, "--unixsocket alone: the socket answers, mode 0660",
                p_mode)

        def p_echo():
            first, echo = L.arun(unix_echo(path, "hello"), 20)
            return (first == "unix-socket" and echo == "hello",
                    "got %r, %r" % (first, echo))
        L.point(t, "a WebSocket over it runs the program, which sees "
                "REMOTE_ADDR=unix-socket and echoes", p_echo)

        def p_no_tcp():
            socks = set()
            for fd in os.listdir("/proc/%d/fd" % p.pid):
                try:
                    link = os.readlink("/proc/%d/fd/%s" % (p.pid, fd))
                except OSError:
                    continue
                if link.startswith("socket:["):
                    socks.add(link[8:-1])
            tcp = []
            for f in ("/proc/net/tcp", "/proc/net/tcp6"):
                with open(f, "rb") as fh:
                    for line in fh.read().decode().splitlines()[1:]:
                        cols = line.split()
                        if cols[3] == "0A" and cols[9] in socks:
                            tcp.append(cols[1])
            return tcp == [], "listening on TCP %r" % tcp
        L.point(t, "--unixsocket alone listens on no TCP port", p_no_tcp)

        def p_term():
            p.send_signal(signal.SIGTERM)
            rc = p.wait(10 * L.SLOW)
            return rc == 0 and not os.path.exists(path), \
                "exit %r, socket left: %s" % (rc, os.path.exists(path))
        L.point(t, "SIGTERM: exit 0 and the socket file is removed", p_term)

        def p_stale():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.close()       # a socket file nobody answers on
            q = start(fx, ["--unixsocket=" + path,
                           "--unixsocket-mode=0600"], ["/bin/cat"])
            ok = L.wait_until(lambda: answering(path), 10 * L.SLOW)
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            q.send_signal(signal.SIGTERM)
            rc = q.wait(10 * L.SLOW)
            return ok and mode == 0o600 and rc == 0, \
                "answering %s, mode %o, exit %r" % (ok, mode, rc)
        L.point(t, "a stale socket file is replaced; --unixsocket-mode=0600 "
                "sets the mode", p_stale)

        def p_live():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.listen(1)
            try:
                q = start(fx, ["--unixsocket=" + path], ["/bin/cat"])
                rc = q.wait(10 * L.SLOW)
                err = q.stderr.read().decode("utf-8", "replace")
                still = answering(path)
            finally:
                s.close()
                os.unlink(path)
            return rc == 3 and still and "already listening" in err, \
                "exit %r, still answering %s, %r" % (rc, still, err[-200:])
        L.point(t, "a socket a live server answers on is refused (exit 3) "
                "and left alone", p_live)

        def p_file():
            with open(path, "w") as f:
                f.write("precious\n")
            q = start(fx, ["--unixsocket=" + path], ["/bin/cat"])
            rc = q.wait(10 * L.SLOW)
            with open(path) as f:
                kept = f.read() == "precious\n"
            os.unlink(path)
            return rc == 3 and kept, "exit %r, file kept %s" % (rc, kept)
        L.point(t, "a regular file at the path is refused (exit 3) and "
                "kept", p_file)

        gw = fx.gateway(["--unixsocket=" + path], [L.TESTCHILD, "echo"])

        def p_both():
            L.wait_until(lambda: answering(path), 10 * L.SLOW)
            _, echo = L.arun(unix_echo(path, "over unix", False), 20)
            w = fx.ws(gw.port)
            w.send("over tcp")
            ok, why = w.expect("over tcp")
            return echo == "over unix" and ok, "unix %r; tcp %s" % (echo,
                                                                    why)
        L.point(t, "beside --port both the UNIX socket and TCP answer",
                p_both)


if __name__ == "__main__":
    L.need_websockets()
    L.run(main, 90)
