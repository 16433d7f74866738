#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The key hostile cases over TLS (--ssl): resets half-way through the TLS
# handshake, after it, half-way through the upgrade request and right
# after the 101; a listen session ended by a close, binary or invalid
# UTF-8 frame and a reset at once (also in the upgrade's own record); a
# pipelined flood of listen.js from a client that does not read.  The
# gateway must survive all of it and serve a fresh TLS client.

import os
import ssl
import struct

import lib as W

ROUNDS = 10 if os.environ.get('WSPIPE_VALGRIND') else 30
N_JS = 100

ENDERS = [
    ('a close frame', W.frame(0x8, struct.pack('!H', 1000))),
    ('a binary frame', W.frame(0x2, b'\x00\x01')),
    ('invalid UTF-8', W.frame(0x1, b'bad \xc3\x28')),
]


def tls(gw, **kw):
    return W.Client(gw, timeout=10 * W.SLOW, ctx=W.client_ctx(), **kw)


def client_hello():
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = W.client_ctx().wrap_bio(inc, out, server_hostname='localhost')
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def half_hello(gw):
    c = W.Client(gw, timeout=5 * W.SLOW)
    hello = client_hello()
    c.send(hello[:len(hello) // 2])
    c.close(rst=True)


def after_tls(gw):
    tls(gw).close(rst=True)


def half_request(gw):
    c = tls(gw)
    req, _ = W.upgrade_request(c.hostheader(), '/echo')
    c.send(req[:len(req) // 2])
    c.close(rst=True)


def after_101(gw):
    c = tls(gw)
    c.upgrade('/echo')
    c.close(rst=True)


def listen_after_101(ender):
    def fn(gw):
        c = tls(gw)
        c.upgrade('/l')
        c.send(W.frame(0x1, 'subscribe /r') + ender)
        c.close(rst=True)
    return fn


def listen_same_record(ender):
    def fn(gw):
        c = tls(gw)
        req, _ = W.upgrade_request(c.hostheader(), '/l')
        c.send(req + W.frame(0x1, 'subscribe /r') + ender)
        c.close(rst=True)
    return fn


def fresh(gw):
    """A fresh TLS client is echoed, and a listen client subscribes."""
    if not gw.running():
        return False
    try:
        c = tls(gw)
        c.upgrade('/echo')
        c.send_text('fresh')
        ok = c.recv_message() == (0x1, b'fresh')
        c.close()
        c = tls(gw)
        c.upgrade('/l')
        c.send_text('subscribe /p')
        ok = ok and c.recv_message() == (0x1, b'ok subscribe /p')
        c.close()
        return ok
    except (OSError, AssertionError):
        return False


def rounds(t, gw, what, fn):
    since = len(gw.log())
    err = None
    for i in range(ROUNDS):
        if not gw.running():
            break
        try:
            fn(gw)
        except (OSError, AssertionError) as e:
            err = 'round %d: %r' % (i + 1, e)
            break
    ok = W.wait_until(lambda: not gw.running() or fresh(gw), 5 * W.SLOW)
    errs = W.memory_errors(gw.log()[since:])
    t.ok(err is None and ok and gw.running() and not errs, 'TLS: %s, %d '
         'times: the gateway lives, makes no memory error and serves fresh '
         'clients' % (what, ROUNDS), err,
         *(errs[:3] or [l[:200] for l in gw.log()[since:].splitlines()
                        if ' fatal ' in l]))
    if not gw.running():
        gw.start()


def flood(t, gw):
    req = b'GET /wspipe/listen.js HTTP/1.1\r\nHost: x\r\n\r\n'
    c = tls(gw, rcvbuf=4096)
    tag = '127.0.0.1:%d ' % c.sock.getsockname()[1]
    c.send(req * (N_JS - 1) + req.replace(b'\r\n\r\n',
                                          b'\r\nConnection: close\r\n\r\n'))
    W.settle(lambda: (gw.running(), sum(tag in l for l in
                                        gw.log().splitlines())),
             10 * W.SLOW, still=0.5 * W.SLOW)
    t.ok(fresh(gw), 'TLS: another client is served while a client '
         'pipelining %d GETs of listen.js does not read' % N_JS,
         'running: %s' % gw.running())
    n = 0
    try:
        while n < N_JS:
            r = c.read_response()
            if r is None or r.status != 200 or not r.body:
                break
            n += 1
    except OSError:
        pass
    t.ok(n == N_JS, 'TLS: the flooder then reads all %d answers' % N_JS,
         'got %d' % n)
    c.close()
    if not gw.running():
        gw.start()


def main(t):
    d = W.tmpdir()
    cert, key = W.make_cert(d)
    gw = W.Gateway([W.TESTCHILD, 'echo'], [
        '--ssl', '--sslcert=' + cert, '--sslkey=' + key, '--listen=/l'])
    t.ok(fresh(gw), 'TLS: echo and listen work')
    rounds(t, gw, 'reset half-way through the ClientHello', half_hello)
    rounds(t, gw, 'reset right after the TLS handshake', after_tls)
    rounds(t, gw, 'reset half-way through the upgrade request',
           half_request)
    rounds(t, gw, 'reset right after the 101', after_101)
    for what, ender in ENDERS:
        rounds(t, gw, 'listen: %s and a reset after the 101' % what,
               listen_after_101(ender))
        rounds(t, gw, 'listen: %s and a reset in the upgrade\'s record' %
               what, listen_same_record(ender))
    flood(t, gw)
    t.ok(W.wait_until(lambda: fresh(gw), 5 * W.SLOW), 'TLS: the gateway '
         'serves fresh clients at the end')


W.run(main, 300 * W.SLOW, plan=14)