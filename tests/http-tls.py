#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --ssl --sslcert --sslkey: TLS 1.2+ on the port, a wss:// handshake and
# echo, https:// static files, HTTPS=on for the program; plain HTTP,
# garbage and a stalled handshake on the TLS port are dropped without
# hurting anyone else; bad certificate/key set-ups exit 1 with a message
# naming the problem, before listening.

import hashlib
import os
import socket
import ssl
import time
import warnings

import lib as h


def main(t):
    d = h.mkdtemp()
    gws = []
    try:
        cert, key = h.make_cert(d)
        www = os.path.join(d, "www")
        h.write(os.path.join(www, "index.html"), b"TLS-INDEX\n")
        big = h.write(os.path.join(www, "big.bin"),
                      os.urandom(5 * 1024 * 1024))
        tls = ["--ssl", "--sslcert=" + cert, "--sslkey=" + key]
        gw = h.Gateway(h.cmd("echo"), tls + ["--staticdir=" + www])
        gws.append(gw)
        body(t, gw, www)
        gw2 = h.Gateway(h.cmd("env"), tls)
        gws.append(gw2)
        env(t, gw2)
        setups(t, d, cert, key)
    finally:
        for gw in gws:
            gw.stop()
        h.rmtree(d)


def tls_echo(port, text="over tls"):
    c = h.Client(port, 5, h.client_ctx())
    try:
        r = c.upgrade("/")
        if r.status != 101:
            return False, "upgrade answered %r" % r
        c.send_text(text)
        op, data = c.recv_message(3)
        c.send_close(1000)
        return (op == h.TEXT and data == text.encode()), (op, data)
    finally:
        c.close()


def client_hello():
    """The bytes of a real TLS ClientHello."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = h.client_ctx().wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def body(t, gw, www):
    port = gw.port

    def handshake():
        c = h.Client(port, 5, h.client_ctx())
        try:
            v = c.sock.version()
        finally:
            c.close()
        return v in ("TLSv1.2", "TLSv1.3"), v
    h.point(t, "a TLS handshake completes with TLS 1.2 or later", handshake)

    h.point(t, "wss://: WebSocket handshake and echo over TLS",
            lambda: tls_echo(port))

    def static():
        r = h.fetch(port, "/index.html", ctx=h.client_ctx())
        return r.status == 200 and r.body == b"TLS-INDEX\n", r
    h.point(t, "https://: a static file over TLS", static)

    def bigfile():
        with open(os.path.join(www, "big.bin"), "rb") as f:
            want = hashlib.sha256(f.read()).digest()
        r = h.fetch(gw.port, "/big.bin", ctx=h.client_ctx(), timeout=30)
        return (r.status == 200 and
                hashlib.sha256(r.body).digest() == want), \
            "status %d, %d bytes" % (r.status, len(r.body))
    h.point(t, "https://: a 5 MB file arrives intact (sha256)", bigfile)

    def bigmsg():
        text = "".join(chr(0x41 + i % 26) for i in range(300000))
        return tls_echo(gw.port, text)
    h.point(t, "wss://: a 300 KB message echoed intact", bigmsg)

    def keepalive():
        c = h.Client(gw.port, 5, h.client_ctx())
        try:
            got = []
            for _ in range(3):
                c.request("GET", "/index.html")
                r = c.response("GET")
                got.append((r.status, r.body))
            u = c.upgrade("/")
            c.send_text("after")
            op, data = c.recv_message(3)
        finally:
            c.close()
        return (got == [(200, b"TLS-INDEX\n")] * 3 and u.status == 101 and
                data == b"after"), "%r; %r; %r" % (got, u, data)
    h.point(t, "https:// keep-alive: three GETs then an upgrade on one TLS "
            "connection", keepalive)

    def old_tls():
        ctx = h.client_ctx()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ValueError, ssl.SSLError) as e:
            return None, str(e)
        try:
            c = h.Client(port, 5, ctx)
        except (ssl.SSLError, OSError) as e:
            return True, str(e)
        v = c.sock.version()
        c.close()
        return False, "negotiated %s" % v
    try:
        res = old_tls()
    except Exception as e:
        res = (None, str(e))
    if res[0] is None:
        t.skip("a TLS 1.1 client is refused", "cannot offer TLS 1.1: %s" %
               res[1])
    else:
        t.ok(res[0], "a TLS 1.1 client is refused", res[1])

    def plain():
        c = h.Client(port)
        try:
            c.send(h.upgrade_request(c.hostheader(), key=c.key)[0])
            closed, data = c.closed_after(5)
        finally:
            c.close()
        return (closed and b" 101 " not in data[:40]), \
            "closed %r, got %r" % (closed, data[:200])
    h.point(t, "a plain-HTTP upgrade on the TLS port: no 101, closed",
            plain)
    h.point(t, "... and the next TLS client is served",
            lambda: tls_echo(port))

    def garbage():
        c = h.Client(port)
        try:
            c.send(b"\x00GARBAGE, NOT A CLIENTHELLO\r\n" * 20)
            closed, data = c.closed_after(5)
        finally:
            c.close()
        return closed, "closed %r, got %r" % (closed, data[:200])
    h.point(t, "garbage instead of a ClientHello: dropped", garbage)
    h.point(t, "... and the next TLS client is served",
            lambda: tls_echo(port))

    stalled = h.Client(port)
    try:
        hello = client_hello()
        stalled.send(hello[:len(hello) // 2])
        t0 = time.monotonic()
        h.point(t, "while a handshake stalls, another TLS client is served",
                lambda: tls_echo(port))

        def dropped():
            closed, _ = stalled.closed_after(14)
            dt = time.monotonic() - t0
            return closed and dt >= 8, "closed %r after %.1f s" % (closed,
                                                                   dt)
        h.point(t, "a handshake stalled half-way is dropped after ~10 s",
                dropped)
    finally:
        stalled.close()

    def idle_tcp():
        # Connected, nothing sent at all: the same timeout.
        c = h.Client(port)
        t0 = time.monotonic()
        try:
            closed, _ = c.closed_after(14)
        finally:
            c.close()
        dt = time.monotonic() - t0
        return closed and dt >= 8, "closed %r after %.1f s" % (closed, dt)
    h.point(t, "a client sending nothing on the TLS port is dropped after "
            "~10 s", idle_tcp)

    h.still_running(t, gw)


def env(t, gw):
    def https_on():
        e = h.ws_env(gw.port, "/", ctx=h.client_ctx())
        return e.get("HTTPS") == "on", e
    h.point(t, "HTTPS=on in the program's environment", https_on)


def setups(t, d, cert, key):
    cert2, key2 = h.make_cert(d, "other")
    junk = h.write(os.path.join(d, "junk.pem"), b"this is not PEM at all\n")
    missing = os.path.join(d, "no-such-cert.pem")
    missing_key = os.path.join(d, "no-such-key.pem")
    c = h.cmd("echo")

    def fails(args, must):
        rc, err = h.start_fail(args + c)
        low = err.lower()
        ok = rc == 1 and all(any(m.lower() in low for m in alts)
                             for alts in must)
        return ok, "exit %r, stderr %r" % (rc, err[:400])

    h.point(t, "--ssl without --sslcert/--sslkey: exit 1, names the option",
            lambda: fails(["--ssl"], [("sslcert", "cert")]))
    h.point(t, "--ssl with --sslcert only: exit 1, names --sslkey",
            lambda: fails(["--ssl", "--sslcert=" + cert], [("sslkey",
                                                            "key")]))
    h.point(t, "a nonexistent certificate file: exit 1, names the file",
            lambda: fails(["--ssl", "--sslcert=" + missing,
                           "--sslkey=" + key], [(missing,)]))
    h.point(t, "a certificate file that is not PEM: exit 1, names the file",
            lambda: fails(["--ssl", "--sslcert=" + junk, "--sslkey=" + key],
                          [(junk,)]))
    h.point(t, "a nonexistent key file: exit 1, names the file",
            lambda: fails(["--ssl", "--sslcert=" + cert,
                           "--sslkey=" + missing_key], [(missing_key,)]))
    h.point(t, "a key file that is not PEM: exit 1, names the file",
            lambda: fails(["--ssl", "--sslcert=" + cert,
                           "--sslkey=" + junk], [(junk,)]))
    h.point(t, "a key that does not match the certificate: exit 1, says so",
            lambda: fails(["--ssl", "--sslcert=" + cert, "--sslkey=" + key2],
                          [(key2, cert, "match")]))

    def without_ssl():
        rc, err = h.start_fail(["--sslcert=" + cert, "--sslkey=" + key] + c)
        return rc in (1, 2) and err.strip() != "", \
            "exit %r, stderr %r" % (rc, err[:400])
    h.point(t, "--sslcert/--sslkey without --ssl: refused with a message",
            without_ssl)


if __name__ == "__main__":
    h.run(main, 120)
