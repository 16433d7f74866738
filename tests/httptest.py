#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Helpers for the plain-HTTP tests (static files, CGI, --dir, the
# development console, TLS, --trust-proxy), on top of rawws.py: a raw
# HTTP/1.x connection that can also carry a WebSocket after an upgrade
# (optionally over TLS), answers parsed with their bodies, fixtures in
# temporary directories, gateway log polling and start-up failures.
# Nothing here sleeps to synchronise: every wait polls a deadline.
#

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import rawws
from rawws import (Gateway, Client, Timeout, ScriptTimeout, run, point,
                   free_port, testchild, WSPIPE, TEXT, BINARY, CLOSE)

__all__ = ["Gateway", "Client", "Timeout", "ScriptTimeout", "run", "point",
           "free_port", "testchild", "WSPIPE", "TEXT", "BINARY", "CLOSE",
           "Response", "Conn", "fetch", "tmpdir", "write", "script",
           "wait_log", "start_fail", "still_running", "Respawn", "ws_lines", "ws_env", "make_cert",
           "client_ctx", "cmd", "socket"]


def cmd(*argv):
    """COMMAND for a gateway: testchild with argv."""
    return [testchild()] + list(argv)


class Response:
    """One HTTP answer: status, reason, version, headers (list of (name,
    value) in order), body (bytes), head (the raw head text)."""

    def __init__(self, head, body):
        self.head = head
        lines = head.split("\r\n")
        self.status_line = lines[0]
        parts = lines[0].split(" ", 2)
        self.version = parts[0]
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        self.headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip(), value.strip()))
        self.body = body

    def get(self, name, default=None):
        """The value of header name (case-insensitive); repeated headers
        joined with ", "."""
        vals = [v for n, v in self.headers if n.lower() == name.lower()]
        return ", ".join(vals) if vals else default

    def has(self, name):
        return any(n.lower() == name.lower() for n, _ in self.headers)

    def __repr__(self):
        b = self.body or b""
        return "%s | %r%s" % (self.head.replace("\r\n", " | "), b[:120],
                              "..." if len(b) > 120 else "")


class Conn(Client):
    """A TCP (or TLS, with ctx) connection to 127.0.0.1:port speaking raw
    HTTP/1.x; after an upgrade, rawws.Client's frame methods work on it."""

    def __init__(self, port, timeout=5.0, ctx=None):
        Client.__init__(self, port, handshake=False, timeout=timeout)
        if ctx is not None:
            try:
                self.sock = ctx.wrap_socket(self.sock,
                                            server_hostname="localhost")
            except BaseException:
                self.close()
                raise

    @staticmethod
    def build(port, method, target, headers=(), body=b"",
              version="HTTP/1.1", host=True):
        lines = ["%s %s %s" % (method, target, version)]
        if host:
            lines.append("Host: 127.0.0.1:%d" % port)
        lines += list(headers)
        if isinstance(body, str):
            body = body.encode()
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def request(self, method, target, headers=(), body=b"",
                version="HTTP/1.1", host=True):
        """Send one request (no Content-Length is added)."""
        self.send(self.build(self.port, method, target, headers, body,
                             version, host))

    def response(self, method="GET", timeout=5.0):
        """Read one complete answer (head and body).  The body is delimited
        by Content-Length, chunked encoding, or the end of the connection;
        there is none for HEAD, 1xx, 204 and 304."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill_some(deadline):
                raise RuntimeError("EOF before the HTTP answer: %r" %
                                   bytes(self.buf[:300]))
        i = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:i]).decode("latin-1")
        del self.buf[:i + 4]
        r = Response(head, b"")
        if method == "HEAD" or r.status < 200 or r.status in (204, 304):
            return r
        te = (r.get("Transfer-Encoding") or "").lower()
        cl = r.get("Content-Length")
        if "chunked" in te:
            r.body = self._chunked(deadline)
        elif cl is not None:
            n = int(cl)
            if not self._need(n, deadline):
                raise RuntimeError("EOF after %d of %d body bytes" %
                                   (len(self.buf), n))
            r.body = bytes(self.buf[:n])
            del self.buf[:n]
        else:
            while self._fill_some(deadline):
                pass
            r.body = bytes(self.buf)
            del self.buf[:]
        return r

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            if not self._fill_some(deadline):
                raise RuntimeError("EOF in a chunked body")
        i = self.buf.index(b"\r\n")
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line

    def _chunked(self, deadline):
        out = bytearray()
        while True:
            n = int(self._line(deadline).split(b";")[0], 16)
            if n == 0:
                while self._line(deadline):
                    pass
                return bytes(out)
            if not self._need(n + 2, deadline):
                raise RuntimeError("EOF in a chunk")
            out += self.buf[:n]
            del self.buf[:n + 2]

    def closed_after(self, timeout=3.0):
        """(True, leftover bytes) if the server closes the connection within
        timeout, else (False, bytes received meanwhile)."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill_some(deadline):
                pass
        except Timeout:
            return False, bytes(self.buf)
        return True, bytes(self.buf)

    def upgrade(self, path="/", headers=(), timeout=5.0):
        """Send a WebSocket upgrade on this connection; the answer."""
        self.send(rawws.request(self.port, self.key, path, headers))
        return self.response("GET", timeout)


def fetch(port, target, method="GET", headers=(), body=b"",
          version="HTTP/1.1", timeout=5.0, close=True, ctx=None, host=True):
    """One request on a fresh connection; the Response.  close adds
    `Connection: close` unless headers name Connection."""
    hs = list(headers)
    if close and not any(h.lower().startswith("connection:") for h in hs):
        hs.append("Connection: close")
    c = Conn(port, timeout, ctx)
    try:
        c.request(method, target, hs, body, version, host)
        return c.response(method, timeout)
    finally:
        c.close()


def fetch_count(port, target, timeout=60.0):
    """GET target on a fresh connection (Connection: close) and count the
    body without keeping it: (Response with an empty body, body bytes,
    whether every body byte was NUL).  Only for close-delimited bodies;
    raises if the answer is chunked or the deadline passes first."""
    c = Conn(port, timeout)
    try:
        c.request("GET", target, ["Connection: close"])
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in c.buf:
            if not c._fill_some(deadline):
                raise RuntimeError("EOF before the HTTP answer: %r" %
                                   bytes(c.buf[:300]))
        i = c.buf.index(b"\r\n\r\n")
        r = Response(bytes(c.buf[:i]).decode("latin-1"), b"")
        if "chunked" in (r.get("Transfer-Encoding") or "").lower():
            raise RuntimeError("chunked answer: %r" % r)
        n = len(c.buf) - i - 4
        zeros = c.buf[i + 4:].count(0) == n
        del c.buf[:]
        while c._fill_some(deadline):
            n += len(c.buf)
            zeros = zeros and c.buf.count(0) == len(c.buf)
            del c.buf[:]
        return r, n, zeros
    finally:
        c.close()


# Fixtures

def tmpdir(prefix="wspipe-http"):
    """A fresh temporary directory (its real path); removed by rmtree."""
    return os.path.realpath(tempfile.mkdtemp(prefix=prefix))


def rmtree(d):
    """Remove a fixture tree, restoring permissions a test took away."""
    if d is None:
        return
    for root, dirs, _ in os.walk(d):
        for x in dirs:
            p = os.path.join(root, x)
            if not os.path.islink(p):
                try:
                    os.chmod(p, 0o755)
                except OSError:
                    pass
    shutil.rmtree(d, True)


def write(path, data, mode=0o644):
    """Create path (and its parent directories) holding data."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def script(path, body, mode=0o755):
    """An executable /bin/sh script at path."""
    return write(path, "#!/bin/sh\n" + body, mode)


# Gateways

def logtext(gw):
    gw.log.seek(0)
    return gw.log.read().decode("utf-8", "replace")


def wait_log(gw, pattern, timeout=3.0):
    """The first log line matching regex pattern, polled until timeout;
    None if there is none."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        for line in logtext(gw).splitlines():
            if rx.search(line):
                return line
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def start_fail(args, timeout=10.0):
    """Run wspipe with args (after --port/--address on a free port) and
    expect it to exit: (exit status or None if still running, stderr)."""
    argv = [WSPIPE, "--port=%d" % free_port(), "--address=127.0.0.1"] + \
        list(args)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, (err + out).decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(5)
        return None, (err + out).decode("utf-8", "replace")


class Respawn:
    """A Gateway that is started again (on a new port) if it has died, so
    that one crash does not fail every later test point; the crashes are
    reported by still_running().  Other attributes are the Gateway's."""

    def __init__(self, args, command):
        self.args, self.command = list(args), list(command)
        self.crashes = []
        self.gw = Gateway(self.args, self.command)

    @property
    def port(self):
        if not self.gw.alive():
            self.crashes.append("exit status %r; log:\n%s" % (
                self.gw.proc.returncode, self.gw.logtail()))
            self.gw.stop()
            self.gw = Gateway(self.args, self.command)
        return self.gw.port

    def __getattr__(self, name):
        return getattr(self.gw, name)

    def stop(self):
        self.gw.stop()


def still_running(t, gw):
    """A test point: the gateway has not exited (else its status and log
    tail)."""
    crashes = list(getattr(gw, "crashes", []))
    if not gw.alive():
        crashes.append("exit status %r; log:\n%s" % (gw.proc.returncode,
                                                       gw.logtail()))
    t.ok(not crashes, "the gateway is still running (never died)",
         "\n".join(crashes))


# WebSocket over a Conn or Client

def ws_lines(c, timeout=5.0):
    """Text messages until the close (or EOF): (list of str, close frame)."""
    deadline = time.monotonic() + timeout
    out = []
    while True:
        op, data = c.recv_message(max(0.0, deadline - time.monotonic()))
        if op is None:
            return out, None
        if op == "close":
            return out, data
        out.append(data.decode("utf-8", "replace"))


def ws_env(port, path="/", headers=(), ctx=None, timeout=5.0):
    """Upgrade to path (program `testchild env` or similar); the variables
    it printed, as a dict."""
    c = Conn(port, timeout, ctx)
    try:
        r = c.upgrade(path, headers, timeout)
        if r.status != 101:
            raise RuntimeError("upgrade answered %r" % r)
        lines, _ = ws_lines(c, timeout)
    finally:
        c.close()
    return dict(l.split("=", 1) for l in lines if "=" in l)


def env_of(text):
    """KEY=VALUE lines of text as a dict."""
    return dict(l.split("=", 1) for l in text.splitlines() if "=" in l)


# TLS

def make_cert(d, name="cert", cn="localhost"):
    """A self-signed certificate and its key (PEM): (cert path, key
    path)."""
    cert = os.path.join(d, name + ".pem")
    key = os.path.join(d, name + "-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=" + cn],
                   check=True, timeout=60, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def make_key(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-out", path],
                   check=True, timeout=60, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def client_ctx():
    """A TLS client context that does not verify the server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
