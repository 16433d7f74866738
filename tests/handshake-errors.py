#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Handshakes that must fail get a plain HTTP answer (400, 403, 405, 426,
# 431) with Connection: close, Content-Type: text/plain and a one-line
# reason, then the socket closes, and no program is spawned (also checked
# right after each answer, with a program that outlives its connection
# and a control showing such a program is seen); --origin, --sameorigin,
# --header*, and the 10 s handshake timeout.

import base64
import os
import time

import lib as w


def req(lines, body=b''):
    return ('\r\n'.join(lines) + '\r\n\r\n').encode() + body


def ws_lines(host, method='GET', path='/', proto='HTTP/1.1', key=None,
             version='13', extra=()):
    if key is None:
        key = base64.b64encode(os.urandom(16)).decode()
    lines = ['%s %s %s' % (method, path, proto)]
    if host is not None:
        lines.append('Host: ' + host)
    lines += ['Upgrade: websocket', 'Connection: Upgrade']
    if key is not False:
        lines.append('Sec-WebSocket-Key: ' + key)
    if version is not None:
        lines.append('Sec-WebSocket-Version: ' + version)
    return lines + list(extra)


def well_formed(r):
    """Problems with an error answer, as a list of strings."""
    bad = []
    conn = [x.strip().lower() for x in (r.get('Connection') or '').split(',')]
    if 'close' not in conn:
        bad.append('no Connection: close')
    if not (r.get('Content-Type') or '').lower().startswith('text/plain'):
        bad.append('Content-Type is %r' % r.get('Content-Type'))
    body = r.body.rstrip(b'\r\n')
    if not body or b'\n' in body:
        bad.append('body is not one line: %r' % r.body[:200])
    cl = r.get('Content-Length')
    if cl is not None and cl.isdigit() and int(cl) != len(r.body):
        bad.append('Content-Length %s but %d body bytes' % (cl, len(r.body)))
    if not r.closed:
        bad.append('socket not closed after the answer')
    return bad


def check_error(t, gw, name, request, status, header=None):
    r = w.http_exchange(gw.hostport(), request)
    if r is None:
        t.ok(False, '%s: HTTP %d' % (name, status), 'no answer')
        t.ok(False, '%s: Connection: close, text/plain one-line reason, '
             'socket closed' % name)
        return None
    ok = r.status == status
    diag = ['got: %r' % r.raw[:300]]
    if header is not None:
        ok = ok and r.get(header[0]) == header[1]
        diag.append('want %s: %s' % header)
    t.ok(ok, '%s: HTTP %d%s' % (name, status, header and
         ' with %s: %s' % header or ''), *diag)
    bad = well_formed(r)
    t.ok(not bad, '%s: Connection: close, text/plain one-line reason, '
         'socket closed' % name, *bad)
    return r


def status_of(gw, lines):
    r = w.http_exchange(gw.hostport(), req(lines))
    return r and r.status


def refusals(host):
    """(name, request, status, header) of each refused handshake."""
    return [
        ('plain GET', req(['GET / HTTP/1.1', 'Host: ' + host]), 400, None),
        ('POST', req(ws_lines(host, method='POST')), 405, ('Allow', 'GET')),
        ('version 8', req(ws_lines(host, version='8')), 426,
         ('Sec-WebSocket-Version', '13')),
        ('no version', req(ws_lines(host, version=None)), 426,
         ('Sec-WebSocket-Version', '13')),
        ('bad key', req(ws_lines(host, key='abc')), 400, None),
        ('key of 15 bytes', req(ws_lines(
            host, key=base64.b64encode(os.urandom(15)).decode())), 400, None),
        ('no key', req(ws_lines(host, key=False)), 400, None),
        ('two keys', req(ws_lines(host, extra=[
            'Sec-WebSocket-Key: ' +
            base64.b64encode(os.urandom(16)).decode()])), 400, None),
        ('no Host', req(ws_lines(None)), 400, None),
        ('HTTP/1.0', req(ws_lines(host, proto='HTTP/1.0')), 400, None),
        ('no Upgrade: websocket', req(
            [l for l in ws_lines(host) if not l.startswith('Upgrade')]),
         400, None),
        ('Connection without upgrade', req(
            [l.replace('Connection: Upgrade', 'Connection: keep-alive')
             for l in ws_lines(host)]), 400, None),
        ('request with a body', req(
            ws_lines(host, extra=['Content-Length: 5']), b'hello'), 400,
         None),
        ('header block over 8 KiB', req(
            ws_lines(host, extra=['X-Big: ' + 'b' * 8300])), 431, None),
        ('101 headers', req(ws_lines(host, extra=[
            'X-H%d: v' % i for i in range(101)])), 431, None),
    ]


def body(t):
    gw = w.Gateway([w.TESTCHILD, 'echo'])
    host = '127.0.0.1:%d' % gw.port

    for name, request, status, header in refusals(host):
        check_error(t, gw, name, request, status, header)
    t.eq(gw.children(), [], 'no program was spawned for any refusal')

    # The checks above must not refuse valid variants.
    lines = ws_lines(host, extra=['X-H%d: v' % i for i in range(80)])
    lines = [l.replace('Connection: Upgrade',
                       'Connection: keep-alive, Upgrade')
             .replace('Upgrade: websocket', 'Upgrade: WebSocket')
             for l in lines]
    t.eq(status_of(gw, lines), 101, 'Connection: keep-alive, Upgrade, '
         'Upgrade: WebSocket and 85 headers: 101')

    # Handshake timeout: a request never completed, or nothing sent at all.
    c1 = w.Client(gw, timeout=20)
    c2 = w.Client(gw, timeout=20)
    start = time.monotonic()
    c1.send(b'GET / HTTP/1.1\r\nHost: ' + host.encode() + b'\r\n')
    closed1 = c1.wait_eof(15)
    data1 = bytes(c1.buf)
    closed2 = c2.wait_eof(15 - (time.monotonic() - start))
    took = time.monotonic() - start
    t.ok(closed1 and closed2 and 9 <= took <= 13,
         'an incomplete handshake is closed after 10 s',
         'closed: %s %s after %.1f s' % (closed1, closed2, took))
    t.eq(data1, b'', '... with no answer')
    c1.close()
    c2.close()
    t.ok(w.wait_until(lambda: gw.children() == [], 3),
         'no program left behind')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    # The check above comes after every refused socket is closed, when a
    # program spawned by mistake would already be gone (echo exits at EOF).
    # Here the program ignores SIGINT and SIGTERM, and --closems=1000 makes
    # the gateway wait ~4 s before its SIGKILL: a program spawned for a
    # refused handshake would still be seen right after the answer, as the
    # control's program is seen right after its client closes.
    gw = w.Gateway([w.TESTCHILD, 'ignore-term'], ['--closems=1000'])
    host = '127.0.0.1:%d' % gw.port
    c = w.Client(gw, timeout=5)
    r = c.upgrade()
    m = c.recv_message(5) if r is not None and r.status == 101 else None
    c.close()
    kids = gw.children()
    pid = int(m[1]) if m else None
    t.ok(pid is not None and kids == [pid],
         'control: a program spawned for a connection is still seen right '
         'after its client closes', 'answer %r, pid %r, children %r' %
         (r and r.status, pid, kids))
    t.ok(w.wait_until(lambda: gw.children() == [], 10),
         'control: ... and ended by the gateway within 10 s')
    spawned = []
    for name, request, status, _ in refusals(host):
        r = w.http_exchange(gw.hostport(), request)
        kids = gw.children()
        if r is None or r.status != status or kids:
            spawned.append('%s: answer %r, children %r' % (
                name, r and r.status, kids))
            w.wait_until(lambda: gw.children() == [], 10)
    t.ok(not spawned, 'no program is spawned for any refusal (children '
         'checked right after each answer)', *spawned)
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway([w.TESTCHILD, 'echo'], [
        '--origin=allowed.example,strict.example:8080,'
        'http://schemed.example'])
    host = '127.0.0.1:%d' % gw.port
    for origin, want in (('http://evil.example', 403),
                         ('http://allowed.example:1234', 101),
                         ('https://allowed.example', 101),
                         ('http://strict.example:8080', 101),
                         ('http://strict.example:8081', 403),
                         ('http://strict.example', 403),
                         ('http://schemed.example:99', 101),
                         ('https://schemed.example', 403),
                         ('http://allowed.example.evil', 403),
                         (None, 101)):
        extra = ['Origin: ' + origin] if origin else []
        if want == 403:
            check_error(t, gw, '--origin, Origin: %s' % origin,
                        req(ws_lines(host, extra=extra)), 403)
        else:
            t.eq(status_of(gw, ws_lines(host, extra=extra)), 101,
                 '--origin, Origin: %s: 101' % origin)
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway([w.TESTCHILD, 'echo'], ['--sameorigin'])
    host = '127.0.0.1:%d' % gw.port
    t.eq(status_of(gw, ws_lines(host, extra=['Origin: http://' + host])),
         101, '--sameorigin, Origin matches Host: 101')
    check_error(t, gw, '--sameorigin, Origin: http://evil.example',
                req(ws_lines(host, extra=['Origin: http://evil.example'])),
                403)
    t.eq(status_of(gw, ws_lines(host, extra=['Origin: http://127.0.0.1:1'])),
         403, '--sameorigin, same host but other port: 403')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway([w.TESTCHILD, 'echo'], [
        '--header=X-All: 1', '--header-ws=X-WS: 2', '--header-http=X-HTTP: 3'])
    host = '127.0.0.1:%d' % gw.port
    c = w.Client(gw)
    r = c.upgrade()
    c.close()
    t.eq((r.status, r.get('X-All'), r.get('X-WS'), r.get('X-HTTP')),
         (101, '1', '2', None), '101 carries --header and --header-ws, '
         'not --header-http')
    r = w.http_exchange(gw.hostport(), req(['GET / HTTP/1.1', 'Host: ' +
                                            host]))
    t.eq((r.status, r.get('X-All'), r.get('X-WS'), r.get('X-HTTP')),
         (400, '1', None, '3'), '400 carries --header and --header-http, '
         'not --header-ws')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.run(body, 60, plan=64)