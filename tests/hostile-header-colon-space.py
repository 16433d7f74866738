#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# RFC 9112 5.1: "No whitespace is allowed between the field name and
# colon ... A server MUST reject, with a response status code of 400 (Bad
# Request), any received request message that contains whitespace between
# a header field name and colon."  Such a header is how a request is
# smuggled past a proxy that reads it differently (`Transfer-Encoding :
# chunked`).  Checked on a WebSocket upgrade, a static GET and a CGI POST,
# with a space and with a tab; the same requests without the whitespace
# are answered normally.

import os

import lib as W


def upgrade(host_line):
    req, _ = W.upgrade_request(None, '/ws', extra=[host_line])
    return req


def upgrade_extra(line):
    req, _ = W.upgrade_request('x', '/ws', extra=[line])
    return req


def get(host_line):
    return ('GET /a.txt HTTP/1.1\r\n%s\r\nConnection: close\r\n\r\n' %
            host_line).encode()


def post(te_line):
    body = b'5\r\nhello\r\n0\r\n\r\n'
    return ('POST /post.sh HTTP/1.1\r\nHost: x\r\n%s\r\n'
            'Connection: close\r\n\r\n' % te_line).encode() + body


def post_cl(cl_line):
    return ('POST /post.sh HTTP/1.1\r\nHost: x\r\n%s\r\n'
            'Connection: close\r\n\r\nhello' % cl_line).encode()


CASES = [
    # (what, request maker, header line with %s where whitespace goes)
    ('upgrade, Host', upgrade, 'Host%s: x'),
    ('upgrade, another header', upgrade_extra, 'X-Any%s: y'),
    ('static GET, Host', get, 'Host%s: x'),
    ('CGI POST, Transfer-Encoding', post, 'Transfer-Encoding%s: chunked'),
    ('CGI POST, Content-Length', post_cl, 'Content-Length%s: 5'),
]


def main(t):
    d = W.tmpdir()
    www, cgi = os.path.join(d, 'www'), os.path.join(d, 'cgi')
    os.makedirs(www)
    os.makedirs(cgi)
    with open(os.path.join(www, 'a.txt'), 'wb') as f:
        f.write(b'file a\n')
    with open(os.path.join(cgi, 'post.sh'), 'w') as f:
        f.write('#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"'
                '\nexec cat\n')
    os.chmod(os.path.join(cgi, 'post.sh'), 0o755)
    gw = W.Gateway([W.TESTCHILD, 'echo'], ['--staticdir=' + www,
                                           '--cgidir=' + cgi])
    want_ok = {'upgrade, Host': (101, None),
               'upgrade, another header': (101, None),
               'static GET, Host': (200, b'file a\n'),
               # Chunked CGI bodies are refused (411) by design.
               'CGI POST, Transfer-Encoding': (411, None),
               'CGI POST, Content-Length': (200, b'hello')}
    for what, make, fmt in CASES:
        r = W.http_exchange(gw.hostport(), make(fmt % ''),
                            timeout=10 * W.SLOW, linger=0.1)
        st, body = want_ok[what]
        t.ok(r is not None and r.status == st and
             (body is None or r.body == body),
             '%s: well-formed, answered %d' % (what, st),
             repr(r and (r.status, r.body)))
        for ws, name in ((' ', 'a space'), ('\t', 'a tab')):
            r = W.http_exchange(gw.hostport(), make(fmt % ws),
                                timeout=10 * W.SLOW, linger=0.1)
            t.ok(r is not None and r.status == 400,
                 '%s: %s before the colon is answered 400' % (what, name),
                 'got %r' % (r and (r.status, r.body),))
    r = W.http_exchange(gw.hostport(), get('Host: x'), linger=0.1)
    t.ok(gw.running() and r is not None and r.status == 200,
         'the gateway is still running and serves a fresh client')
    t.ok(W.wait_until(lambda: not gw.children(), 5 * W.SLOW),
         'no CGI script is left running', 'children %r' % gw.children())


W.run(main, 60 * W.SLOW, plan=17)