#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A client resets TCP (SO_LINGER 0) at every stage of a connection, many
# times over: half-way through the upgrade request; with the whole request
# but before reading the 101; right after the 101; right after its close
# frame; after its close frame while the program still prints (drain);
# during a CGI answer; half-way through a CGI request body; during a large
# static file.  After each kind the gateway must still run, serve a fresh
# client, and have ended every program it started.

import os
import socket
import struct

import lib as W

ROUNDS = 10 if os.environ.get('WSPIPE_VALGRIND') else 25


def script(path, body):
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n' + body + '\n')
    os.chmod(path, 0o755)


def client(gw):
    c = W.Client(gw, timeout=10 * W.SLOW)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def upgraded(gw, path):
    c = client(gw)
    r = c.upgrade(path)
    if r is None or r.status != 101:
        c.close()
        raise AssertionError('upgrade to %s: %r' % (path, r and r.status))
    return c


def mid_handshake(gw):
    c = client(gw)
    req, _ = W.upgrade_request(c.hostheader(), '/echo')
    c.send(req[:len(req) // 2])
    c.close(rst=True)


def before_101(gw):
    c = client(gw)
    req, _ = W.upgrade_request(c.hostheader(), '/echo')
    c.send(req + W.frame(0x1, 'hello\n'))
    c.close(rst=True)


def after_101(gw):
    upgraded(gw, '/echo').close(rst=True)


def after_close_frame(gw):
    c = upgraded(gw, '/echo')
    c.send(W.frame(0x1, 'last') + W.frame(0x8, struct.pack('!H', 1000)))
    c.close(rst=True)


def during_drain(gw):
    c = upgraded(gw, '/spew')
    c.recv_frame()                  # it is printing
    c.send_frame(0x8, struct.pack('!H', 1000))
    c.close(rst=True)


def during_cgi_answer(gw):
    c = client(gw)
    c.send(b'GET /big.cgi HTTP/1.1\r\nHost: x\r\n\r\n')
    c.read_head()
    c._fill()
    c.close(rst=True)


def during_cgi_body(gw):
    c = client(gw)
    c.send(b'POST /cat.cgi HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000'
           b'\r\n\r\n' + b'b' * 30000)
    c.close(rst=True)


def during_static(gw):
    c = client(gw)
    c.send(b'GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n')
    c.read_head()
    c._fill()
    c.close(rst=True)


CASES = [
    ('half-way through the upgrade request', mid_handshake),
    ('after the upgrade request (and a frame), before reading the 101',
     before_101),
    ('right after the 101', after_101),
    ('right after a close frame', after_close_frame),
    ('after a close frame while the program still prints', during_drain),
    ('during a CGI answer', during_cgi_answer),
    ('half-way through a CGI request body', during_cgi_body),
    ('during a large static file', during_static),
]


def fresh_echo(gw):
    try:
        c = upgraded(gw, '/echo')
    except (OSError, AssertionError):
        return False
    try:
        c.send_text('fresh')
        ok = c.recv_message() == (0x1, b'fresh')
        c.send_close(1000)
        return ok
    except OSError:
        return False
    finally:
        c.close()


def main(t):
    d = W.tmpdir()
    progs, www, cgi = (os.path.join(d, x) for x in ('progs', 'www', 'cgi'))
    for x in (progs, www, cgi):
        os.makedirs(x)
    script(os.path.join(progs, 'echo'), 'exec %s echo' % W.TESTCHILD)
    script(os.path.join(progs, 'spew'), 'exec %s spew 1000000000' %
           W.TESTCHILD)
    script(os.path.join(cgi, 'big.cgi'),
           'printf "Content-Type: text/plain\\r\\n\\r\\n"\n'
           'exec %s spew 100000000' % W.TESTCHILD)
    script(os.path.join(cgi, 'cat.cgi'),
           'printf "Content-Type: text/plain\\r\\n\\r\\n"\nexec cat')
    with open(os.path.join(www, 'big.bin'), 'wb') as f:
        f.write(os.urandom(4 << 20))
    gw = W.Gateway([], ['--dir=' + progs, '--staticdir=' + www,
                        '--cgidir=' + cgi])
    t.ok(fresh_echo(gw), 'the gateway echoes before the resets')
    for what, fn in CASES:
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
        served = W.wait_until(lambda: not gw.running() or fresh_echo(gw),
                              5 * W.SLOW) and gw.running()
        errs = W.memory_errors(gw.log()[since:])
        t.ok(err is None and served and not errs, 'reset %s, %d times: the '
             'gateway lives, makes no memory error and serves a fresh '
             'client' % (what, ROUNDS), err, 'running: %s' % gw.running(),
             *(errs[:3] or [l[:200] for l in gw.log()[since:].splitlines()
                            if ' fatal ' in l]))
        left = W.wait_until(lambda: not gw.running() or not gw.children(),
                            10 * W.SLOW)
        t.ok(left and gw.running(), 'reset %s: every program is ended' %
             what, 'children %r' % (gw.children() if gw.running() else
                                    'gateway gone'))
        if not gw.running():
            gw.start()


W.run(main, 300 * W.SLOW, plan=1 + 2 * len(CASES))