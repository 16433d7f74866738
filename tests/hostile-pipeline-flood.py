#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# One connection pipelines hundreds of plain HTTP requests whose answers
# are queued whole (listen.js with --listen, the --devconsole page, HEADs
# and GETs of small files under --staticdir) and does not read.  The
# gateway must not exit: it stops parsing while its output is above the
# high-water mark, serves other clients meanwhile, and once the client
# reads, every answer arrives complete and in order.  A flood whose client
# resets half-way through is survived too.

import os
import socket

import lib as W

# GETs and HEADs alternate, so that the order shows: 100 GETs of
# listen.js, 400 of the console page, 1000 HEADs and 1000 GETs of small
# files whose answers carry a 1 KB --header-http line each, all far over
# the gateway's output cap if they were queued at once.
N_LISTENJS = 200
N_CONSOLE = 800
N_HEAD = 1000
N_GET = 1000
PAD = '--header-http=X-Pad: ' + 'p' * 1024


def request(method, path, last=False):
    return ('%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n' % (
        method, path, 'Connection: close\r\n' if last else '')).encode()


def logged(gw, c):
    """Access lines the gateway wrote so far for client c."""
    tag = '127.0.0.1:%d ' % c.sock.getsockname()[1]
    return sum(1 for l in gw.log().splitlines()
               if tag in l and ' access ' in l)


def fatal_lines(gw):
    return [l[:200] for l in gw.log().splitlines() if ' fatal ' in l]


def start_flood(gw, reqs):
    """A client with a small window sends reqs pipelined, reads nothing;
    returns it once the gateway has stopped answering (or died)."""
    c = W.Client(gw, timeout=10 * W.SLOW, rcvbuf=4096)
    c.send(b''.join(r for _, r, _ in reqs))
    W.settle(lambda: (logged(gw, c), gw.running()), timeout=10 * W.SLOW,
             still=0.5 * W.SLOW)
    return c


def read_all(c, reqs):
    """(ok, diag): the answers to reqs, in order, then EOF."""
    for i, (method, _, want) in enumerate(reqs):
        try:
            r = c.read_response(method)
        except (socket.timeout, OSError) as e:
            return False, 'answer %d of %d: %r' % (i + 1, len(reqs), e)
        if r is None:
            return False, 'EOF before answer %d of %d' % (i + 1, len(reqs))
        diag = want(r)
        if diag is not None:
            return False, 'answer %d of %d (%s): %s' % (i + 1, len(reqs),
                                                     method, diag)
    if not c.wait_eof(5 * W.SLOW):
        return False, 'no EOF after the answer to Connection: close'
    return True, None


def expect(status, body=None, length=None):
    def check(r):
        if r.status != status:
            return 'status %d, want %d' % (r.status, status)
        if body is not None and r.body != body:
            return 'body %s' % W.short(r.body)
        if length is not None and r.get('Content-Length') != str(length):
            return 'Content-Length %r, want %d' % (
                r.get('Content-Length'), length)
        return None
    return check


def flood_case(t, name, gw, reqs, probe):
    """The four points of one flood: someone else is served, the gateway
    lives, the flooder gets everything in order; a reset flood."""
    if not gw.running():
        gw.start()          # an earlier case killed it
    c = start_flood(gw, reqs)
    try:
        t.ok(gw.running() and probe(), '%s: another client is served while '
             'a pipelining client does not read' % name,
             'gateway running: %s' % gw.running())
        t.ok(gw.running(), '%s: the gateway is still running after %d '
             'pipelined requests' % (name, len(reqs)),
             'exit status %r' % gw.proc.poll(), *fatal_lines(gw))
        ok, diag = (read_all(c, reqs) if gw.running()
                    else (False, 'gateway gone'))
        t.ok(ok, '%s: the flooder then reads all %d answers, complete and '
             'in order' % (name, len(reqs)), diag)
    finally:
        c.close()
    if not gw.running():
        gw.start()
    since = len(gw.log())
    r = W.Client(gw, timeout=10 * W.SLOW, rcvbuf=4096)
    r.send(b''.join(x for _, x, _ in reqs))
    W.wait_until(lambda: logged(gw, r) >= 3 or not gw.running(),
                 5 * W.SLOW)
    r.close(rst=True)
    ok = W.wait_until(probe, 5 * W.SLOW) and gw.running()
    errs = W.memory_errors(gw.log()[since:])
    t.ok(ok and not errs, '%s: a flood reset half-way is survived without '
         'memory errors and a fresh client served' % name,
         'gateway running: %s' % gw.running(), *errs[:3])


def get_ok(gw, path, body=None):
    def probe():
        if not gw.running():
            return False
        try:
            r = W.http_exchange(gw.hostport(), request('GET', path, True),
                                timeout=5 * W.SLOW, linger=0.1)
        except OSError:
            return False
        return (r is not None and r.status == 200 and
                (body is None or r.body == body))
    return probe


def alternate(n, first, second):
    """n requests alternating first and second (each (method, path,
    check)); the last one asks for Connection: close."""
    out = []
    for i in range(n):
        method, path, check = first if i % 2 == 0 else second
        out.append((method, request(method, path, i == n - 1), check))
    return out


def main(t):
    d = W.tmpdir()
    www = os.path.join(d, 'www')
    os.makedirs(os.path.join(www, 'img'))
    a, b = b'small file A\n', b'the other small file, B\n'
    with open(os.path.join(www, 'a.txt'), 'wb') as f:
        f.write(a)
    with open(os.path.join(www, 'b.txt'), 'wb') as f:
        f.write(b)

    # --listen: listen.js (GET and HEAD alternate, to see the order).
    gw = W.Gateway([], ['--listen'])
    r = W.http_exchange(gw.hostport(), request('GET', '/wspipe/listen.js'))
    js = r.body if r is not None and r.status == 200 else None
    reqs = alternate(N_LISTENJS,
                     ('GET', '/wspipe/listen.js', expect(200, js)),
                     ('HEAD', '/wspipe/listen.js',
                      expect(200, b'', len(js or b''))))
    flood_case(t, 'listen.js', gw, reqs, get_ok(gw, '/wspipe/listen.js', js))
    gw.kill()

    # --devconsole: the console page.
    gw = W.Gateway([W.TESTCHILD, 'echo'], ['--devconsole'])
    r = W.http_exchange(gw.hostport(), request('GET', '/'))
    page = r.body if r is not None and r.status == 200 else None
    reqs = alternate(N_CONSOLE, ('GET', '/', expect(200, page)),
                     ('HEAD', '/x', expect(200, b'', len(page or b''))))
    flood_case(t, 'devconsole', gw, reqs, get_ok(gw, '/', page))
    gw.kill()

    # --staticdir: HEADs, then GETs of two small files.
    gw = W.Gateway([W.TESTCHILD, 'echo'], ['--staticdir=' + www, PAD])
    reqs = alternate(N_HEAD, ('HEAD', '/a.txt', expect(200, b'', len(a))),
                     ('HEAD', '/b.txt', expect(200, b'', len(b))))
    flood_case(t, 'static HEAD', gw, reqs, get_ok(gw, '/a.txt', a))
    reqs = alternate(N_GET, ('GET', '/a.txt', expect(200, a)),
                     ('GET', '/b.txt', expect(200, b)))
    flood_case(t, 'static GET', gw, reqs, get_ok(gw, '/b.txt', b))
    gw.kill()


W.run(main, 240 * W.SLOW, plan=16)