#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# wspipe under systemd:
#  - socket activation (systemd-socket-activate): a TCP and a UNIX socket
#    passed as LISTEN_FDS both serve WebSockets; --port is not bound; the
#    program does not see LISTEN_FDS, LISTEN_PID or LISTEN_FDNAMES; a
#    socket named "redirect" answers 301 to https on the first socket's
#    port; a passed fd that is not a listening socket: exit 3, a message;
#  - sd_notify (NOTIFY_SOCKET, a datagram socket of ours): READY=1 once it
#    listens, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM;
#    the broker it runs says nothing there, `wspipe broker` run alone says
#    READY=1;
#  - the units in contrib/ pass `systemd-analyze verify`;
#  - SIGHUP reloads the TLS certificate: new connections get the new one,
#    an open connection goes on; a certificate that does not load is
#    refused and the one in use stays; without TLS, SIGHUP is harmless.

import os
import signal
import socket
import ssl
import subprocess
import time

import lib as W

ACTIVATE = "/usr/bin/systemd-socket-activate"


class Notify:
    """A NOTIFY_SOCKET: collects what the gateway tells systemd."""

    def __init__(self, d):
        self.path = os.path.join(d, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.got = []

    def wait(self, what, timeout=10.0):
        """True once a message holding line `what` has come."""
        deadline = time.monotonic() + timeout * W.SLOW
        while True:
            if any(what in m.split("\n") for m in self.got):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                self.got.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return False


def spawn(argv, env=None, logpath=None):
    e = dict(os.environ)
    e.pop("NOTIFY_SOCKET", None)
    if env:
        e.update(env)
    log = open(logpath, "wb") if logpath else subprocess.DEVNULL
    return subprocess.Popen(argv, env=e, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10 * W.SLOW)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    return p.returncode


def echo(port, ctx=None, keep=False):
    """A WebSocket upgrade and echo on 127.0.0.1:port; the client if keep,
    else None; raises on failure."""
    c = W.Client(port, timeout=10, ctx=ctx, handshake=True)
    c.send_text("ping-echo")
    m = c.recv_message()
    if not m or m[1] != b"ping-echo":
        raise RuntimeError("echo got %r" % (m,))
    if keep:
        return c
    c.close()
    return None


def peer_cn(port):
    ctx = W.client_ctx()
    with socket.create_connection(("127.0.0.1", port), 10 * W.SLOW) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            der = t.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"],
                         input=pem.encode(), capture_output=True,
                         timeout=30).stdout.decode()
    return out.strip().split("CN", 1)[-1].strip(" =")


def main(t):
    if not os.access(ACTIVATE, os.X_OK):
        t.skip("socket activation", "no %s (apt-get install systemd)" %
               ACTIVATE)
        return
    d = W.mkdtemp("wspipe-systemd")
    procs = []
    W.at_cleanup(lambda *_: [stop(p) for p in procs])
    try:
        run(t, d, procs)
    finally:
        for p in procs:
            stop(p)
        W.rmtree(d)


def run(t, d, procs):
    port = W.free_port()
    unused = W.free_port()
    usock = os.path.join(d, "ws.sock")
    log = os.path.join(d, "act.log")
    p = spawn([ACTIVATE, "-l", "127.0.0.1:%d" % port, "-l", usock,
               W.WSPIPE, "--port=%d" % unused, "--loglevel=info",
               W.testchild(), "env"], logpath=log)
    procs.append(p)
    W.wait_until(lambda: W.listening(p.pid, port), 10 * W.SLOW)
    env = {}
    try:
        env = W.ws_env(port, timeout=10 * W.SLOW)
        tcp_ok = bool(env)
    except Exception as e:
        tcp_ok = False
        env = {"error": str(e)}
    t.ok(tcp_ok, "socket activation: a WebSocket on the passed TCP socket "
         "runs the program", repr(env)[:300])
    # systemd-socket-activate runs it at the first connection.
    up = W.wait_until(lambda: "listening on socket 4 from systemd" in
                      open(log, errors="replace").read(), 10 * W.SLOW)
    t.ok(up, "socket activation: the gateway takes the two sockets "
         "passed (log: listening on socket 3 and 4 from systemd)",
         open(log, errors="replace").read()[-600:])
    leaked = [k for k in env if k.startswith("LISTEN_")]
    t.ok(tcp_ok and not leaked, "the program sees no LISTEN_FDS, "
         "LISTEN_PID or LISTEN_FDNAMES", repr(leaked))
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10 * W.SLOW)
        s.connect(usock)
        s.sendall(b"GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBs"
                  b"ZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = s.recv(200)
        s.close()
        unix_ok = head.startswith(b"HTTP/1.1 101")
    except OSError as e:
        unix_ok, head = False, str(e)
    t.ok(unix_ok, "socket activation: the passed UNIX socket serves "
         "WebSockets too", repr(head)[:200])
    t.ok(not W.listening(p.pid, unused), "socket activation: --port is "
         "not bound when sockets are passed")
    stop(p)

    # A socket named "redirect" redirects to https on the other's port.
    cert, key = W.make_cert(d, "a", "first")
    port, rport = W.free_port(), W.free_port()
    log = os.path.join(d, "redir.log")
    p = spawn([ACTIVATE, "-l", "127.0.0.1:%d" % port, "-l",
               "127.0.0.1:%d" % rport, "--fdname=web:redirect", W.WSPIPE,
               "--ssl", "--sslcert=" + cert, "--sslkey=" + key,
               "--loglevel=info", "cat"], logpath=log)
    procs.append(p)
    W.wait_until(lambda: W.listening(p.pid, rport), 10 * W.SLOW)
    try:
        r = W.fetch(rport, "/a/b?c=d", timeout=10 * W.SLOW)
        loc = r.get("location")
        ok = r.status == 301 and loc == "https://127.0.0.1:%d/a/b?c=d" % \
            port
    except Exception as e:
        ok, r, loc = False, e, None
    t.ok(ok, "a passed socket named redirect answers 301 to https on the "
         "first socket's port, path and query kept", "%r %r" % (r, loc))
    stop(p)

    # A passed fd that is not a listening socket.
    with open(os.path.join(d, "plain"), "w") as f:
        f.write("x")
    r = subprocess.run(["/bin/sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec '
                        '"$0" --loglevel=info cat 3<"$1"', W.WSPIPE,
                        os.path.join(d, "plain")], capture_output=True,
                       timeout=20 * W.SLOW, stdin=subprocess.DEVNULL)
    err = r.stderr.decode(errors="replace")
    t.ok(r.returncode == 3 and "not a listening stream socket" in err,
         "a passed fd that is not a listening socket: exit 3 with a "
         "message", "exit %d: %s" % (r.returncode, err.strip()[-300:]))

    # sd_notify and SIGHUP with TLS.
    n = Notify(d)
    cert_b, key_b = W.make_cert(d, "b", "second")
    live, live_key = os.path.join(d, "live.pem"), os.path.join(d,
                                                              "live-key.pem")
    for src, dst in ((cert, live), (key, live_key)):
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
    port = W.free_port()
    log = os.path.join(d, "tls.log")
    p = spawn([W.WSPIPE, "--port=%d" % port, "--address=127.0.0.1",
               "--ssl", "--sslcert=" + live, "--sslkey=" + live_key,
               "--loglevel=info", "cat"],
              env={"NOTIFY_SOCKET": n.path}, logpath=log)
    procs.append(p)
    t.ok(n.wait("READY=1"), "sd_notify: READY=1 once it listens",
         repr(n.got))
    t.ok(W.listening(p.pid, port), "... and it is listening then")
    first = peer_cn(port)
    ctx = W.client_ctx()
    old = echo(port, ctx=ctx, keep=True)
    for src, dst in ((cert_b, live), (key_b, live_key)):
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
    n.got.clear()
    p.send_signal(signal.SIGHUP)
    reloaded = n.wait("RELOADING=1") and n.wait("READY=1")
    t.ok(reloaded, "SIGHUP: RELOADING=1 then READY=1", repr(n.got))
    second = peer_cn(port)
    t.ok(first == "first" and second == "second", "SIGHUP: new "
         "connections get the new certificate (%s, then %s)" % (first,
                                                                second))
    try:
        old.send_text("still")
        m = old.recv_message()
        still = bool(m) and m[1] == b"still"
    except Exception as e:
        still, m = False, e
    t.ok(still, "SIGHUP: a connection opened before goes on", repr(m))
    old.close()
    with open(live, "w") as f:
        f.write("not a certificate\n")
    n.got.clear()
    p.send_signal(signal.SIGHUP)
    n.wait("READY=1")
    kept = W.wait_until(lambda: "keeping the certificate in use" in
                        open(log, errors="replace").read(), 10 * W.SLOW)
    t.ok(kept and peer_cn(port) == "second" and p.poll() is None,
         "SIGHUP with a certificate that does not load: logged, the one "
         "in use stays", open(log, errors="replace").read()[-400:])
    n.got.clear()
    code = stop(p)
    n.wait("STOPPING=1", 2.0)
    t.ok(code == 0 and any("STOPPING=1" in m.split("\n") for m in n.got),
         "SIGTERM: STOPPING=1, exit 0", "exit %r, %r" % (code, n.got))

    # Without TLS, SIGHUP is harmless; the broker it runs stays quiet.
    nd = os.path.join(d, "n2")
    os.mkdir(nd)
    n2 = Notify(nd)
    port = W.free_port()
    bsock = os.path.join(d, "b.sock")
    p = spawn([W.WSPIPE, "--port=%d" % port, "--address=127.0.0.1",
               "--listen=/live", "--broker-socket=" + bsock, "cat"],
              env={"NOTIFY_SOCKET": n2.path})
    procs.append(p)
    n2.wait("READY=1")
    W.wait_until(lambda: W.broker_answers(bsock), 10 * W.SLOW)
    p.send_signal(signal.SIGHUP)
    n2.wait("RELOADING=1")
    first = list(n2.got)
    n2.got.clear()
    n2.wait("READY=1")
    n2.got = first + n2.got
    try:
        echo(port)
        alive = p.poll() is None
    except Exception:
        alive = False
    readies = sum(m.split("\n").count("READY=1") for m in n2.got)
    t.ok(alive and readies == 2, "without TLS, SIGHUP is harmless; only "
         "the gateway notifies (READY=1 twice: start, reload), not its "
         "broker", repr(n2.got))
    stop(p)
    nd = os.path.join(d, "n3")
    os.mkdir(nd)
    n3 = Notify(nd)
    b = spawn([W.WSPIPE, "broker", "--socket=" + os.path.join(d, "c.sock")],
              env={"NOTIFY_SOCKET": n3.path})
    procs.append(b)
    t.ok(n3.wait("READY=1"), "wspipe broker alone: READY=1", repr(n3.got))
    stop(b)

    # The units we ship, pointed at this binary.
    analyze = "/usr/bin/systemd-analyze"
    src = os.path.join(os.environ.get("top_srcdir", W.TESTS_DIR + "/.."),
                       "contrib")
    units = sorted(f for f in os.listdir(src) if f.endswith((".service",
                                                             ".socket")))
    ud = os.path.join(d, "units")
    os.mkdir(ud)
    for f in units:
        with open(os.path.join(src, f)) as a, \
                open(os.path.join(ud, f), "w") as b:
            b.write(a.read().replace("/usr/bin/wspipe", W.WSPIPE))
    if not os.access(analyze, os.X_OK):
        t.skip("systemd-analyze verify", "no " + analyze)
    else:
        r = subprocess.run([analyze, "verify", "--man=no"] +
                           [os.path.join(ud, f) for f in units],
                           capture_output=True, timeout=60 * W.SLOW,
                           stdin=subprocess.DEVNULL)
        out = (r.stdout + r.stderr).decode(errors="replace").strip()
        t.ok(len(units) == 3 and r.returncode == 0 and not out,
             "contrib/%s pass systemd-analyze verify" % ", ".join(units),
             "exit %d: %s" % (r.returncode, out[-500:]))


W.run(main, timeout=180 * W.SLOW)
