#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Pipelined floods on the other plain-HTTP answers, from a client that
# does not read: kept-alive redirects (301) and conditional GETs (304)
# under --staticdir, which are queued whole like HEADs, must all come in
# order once the client reads; answers that close the connection (404,
# 405, 400 on a WebSocket-only endpoint, a CGI script's answer) come once,
# then EOF, and the rest of the flood is dropped.  Meanwhile another
# client is served and the gateway stays up.

import os

import lib as W

PAD = '--header-http=X-Pad: ' + 'p' * 1024


def request(method, path, extra='', last=False):
    return ('%s %s HTTP/1.1\r\nHost: x\r\n%s%s\r\n' % (
        method, path, extra, 'Connection: close\r\n' if last else '')
    ).encode()


def logged(gw, c):
    tag = '127.0.0.1:%d ' % c.sock.getsockname()[1]
    return sum(1 for l in gw.log().splitlines() if tag in l and
               ' access ' in l)


def served(gw, path, status=200):
    try:
        r = W.http_exchange(gw.hostport(), request('GET', path, last=True),
                            timeout=5 * W.SLOW, linger=0.1)
    except OSError:
        return False
    return r is not None and r.status == status


def flood(t, name, gw, reqs, n_answers, check, probe):
    """Send reqs without reading; another client is served; the gateway
    lives; then the first n_answers answers pass check(i, r), then EOF."""
    if not gw.running():
        gw.start()
    since = len(gw.log())
    c = W.Client(gw, timeout=10 * W.SLOW, rcvbuf=4096)
    try:
        try:
            c.send(b''.join(reqs))
        except OSError:
            pass        # an answer that closes may come before the end
        W.settle(lambda: (logged(gw, c), gw.running()), 10 * W.SLOW,
                 still=0.5 * W.SLOW)
        t.ok(gw.running() and probe(), '%s: another client is served '
             'during a flood of %d' % (name, len(reqs)),
             'gateway running: %s' % gw.running(),
             *[l[:200] for l in gw.log()[since:].splitlines()
               if ' fatal ' in l])
        diag = None
        for i in range(n_answers):
            try:
                r = c.read_response()
            except OSError as e:
                r, diag = None, repr(e)
            if r is None or not check(i, r):
                diag = 'answer %d of %d: %r' % (
                    i + 1, n_answers, r and (r.status, r.raw[:80]))
                break
        if diag is None and not c.wait_eof(5 * W.SLOW):
            diag = 'no EOF after answer %d' % n_answers
        t.ok(diag is None and gw.running(), '%s: %d answer(s) in order, '
             'then EOF' % (name, n_answers), diag)
    finally:
        c.close()


def main(t):
    d = W.tmpdir()
    www, cgi = os.path.join(d, 'www'), os.path.join(d, 'cgi')
    os.makedirs(os.path.join(www, 'img'))
    os.makedirs(cgi)
    with open(os.path.join(www, 'a.txt'), 'wb') as f:
        f.write(b'file a\n')
    with open(os.path.join(www, 'b.txt'), 'wb') as f:
        f.write(b'file b, another size\n')
    with open(os.path.join(cgi, 'c.sh'), 'w') as f:
        f.write('#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n'
                'cgi $QUERY_STRING\\n"\n')
    os.chmod(os.path.join(cgi, 'c.sh'), 0o755)

    gw = W.Gateway([W.TESTCHILD, 'echo'], ['--staticdir=' + www, PAD])
    probe = lambda: served(gw, '/a.txt')
    n = 1000
    reqs = [request('GET', '/img' if i % 2 == 0 else '/img?q=%d' % i,
                    last=(i == n - 1)) for i in range(n)]
    flood(t, 'static 301', gw, reqs, n, lambda i, r: r.status == 301 and
          r.get('Location') == ('/img/' if i % 2 == 0 else
                                '/img/?q=%d' % i), probe)
    if not gw.running():
        gw.start()          # the 301 flood killed it
    tags = []
    for f in ('/a.txt', '/b.txt'):
        r = W.http_exchange(gw.hostport(), request('GET', f))
        tags.append(r.get('ETag') if r is not None else '"none"')
    # All 304s, whose ETag shows the order.
    reqs = [request('GET', ('/a.txt', '/b.txt')[i % 2],
                    'If-None-Match: %s\r\n' % tags[i % 2],
                    last=(i == n - 1)) for i in range(n)]
    flood(t, 'static 304', gw, reqs, n,
          lambda i, r: r.status == 304 and r.get('ETag') == tags[i % 2],
          probe)
    reqs = [request('GET', '/missing%d' % i) for i in range(500)]
    flood(t, 'static 404', gw, reqs, 1, lambda i, r: r.status == 404,
          probe)
    reqs = [request('POST', '/a.txt', 'Content-Length: 0\r\n')
            for i in range(500)]
    flood(t, 'static 405', gw, reqs, 1, lambda i, r: r.status == 405,
          probe)
    gw.kill()

    gw = W.Gateway([W.TESTCHILD, 'echo'], [])
    reqs = [request('GET', '/') for i in range(500)]
    flood(t, 'plain GET on a WebSocket endpoint (400)', gw, reqs, 1,
          lambda i, r: r.status == 400,
          lambda: served(gw, '/', 400))
    gw.kill()

    gw = W.Gateway([W.TESTCHILD, 'echo'], ['--cgidir=' + cgi])
    reqs = [request('GET', '/c.sh?%d' % i) for i in range(300)]
    flood(t, 'CGI', gw, reqs, 1, lambda i, r: r.status == 200,
          lambda: served(gw, '/c.sh'))
    t.ok(W.wait_until(lambda: not gw.children(), 5 * W.SLOW),
         'CGI: no script is left running after the flood',
         'children %r' % gw.children())


W.run(main, 180 * W.SLOW, plan=13)