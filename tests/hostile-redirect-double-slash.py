#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --staticdir with a directory `img`: GET /img is redirected to /img/, but
# GET //img (or ///img, //img?q) must not be redirected to //img/, which a
# browser reads as the host `img` (an open redirect).  Whatever the answer,
# a Location must start with one `/` followed by something else than `/`
# or `\` (browsers treat `/\` like `//` too).

import os

import lib as W

PATHS = ['//img', '///img', '//img?q=1', '//img/..//img',
         '/\\img', '/%2Fimg']


def req(path):
    return ('GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' %
            path).encode('latin-1')


def safe_location(loc):
    return (loc is None or
            (len(loc) >= 2 and loc[0] == '/' and loc[1] not in '/\\'))


def main(t):
    d = W.tmpdir()
    www = os.path.join(d, 'www')
    os.makedirs(os.path.join(www, 'img'))
    os.makedirs(os.path.join(www, '\\img'))
    with open(os.path.join(www, 'img', 'index.html'), 'wb') as f:
        f.write(b'img index\n')
    gw = W.Gateway([W.TESTCHILD, 'echo'], ['--staticdir=' + www])

    r = W.http_exchange(gw.hostport(), req('/img'), linger=0.1)
    t.ok(r is not None and r.status == 301 and r.get('Location') == '/img/',
         'GET /img is redirected to /img/',
         repr(r and (r.status, r.get('Location'))))
    for path in PATHS:
        r = W.http_exchange(gw.hostport(), req(path), linger=0.1)
        loc = r.get('Location') if r is not None else None
        t.ok(r is not None and safe_location(loc),
             'GET %s: no Location that leaves the site' % path,
             'status %r, Location %r' % (r and r.status, loc))
    r = W.http_exchange(gw.hostport(), req('/img/'), linger=0.1)
    t.ok(gw.running() and r is not None and r.status == 200 and
         r.body == b'img index\n',
         'the gateway is still running and serves a fresh client')


W.run(main, 60 * W.SLOW, plan=2 + len(PATHS))