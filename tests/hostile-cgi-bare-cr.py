#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A CGI script (--cgidir) whose header block hides a bare CR (in the
# Status reason, in a header value, in a header name) must not get that CR
# into our answer's head: a client that ends lines at a CR would read the
# rest as a header of ours.  Either 502 or the CR removed is fine; an
# `Injected` header line never is.  The gateway stays up throughout.

import os
import re

import lib as W

SCRIPTS = {
    'status-cr': r'Status: 200 OK\rInjected: yes\r\n'
                 r'Content-Type: text/plain\r\n\r\nbody\n',
    'value-cr': r'Content-Type: text/plain\r\n'
                r'X-Note: harmless\rInjected: yes\r\n\r\nbody\n',
    'name-cr': r'Content-Type: text/plain\r\n'
               r'X-Name\rInjected: yes\r\n\r\nbody\n',
    'type-cr': r'Content-Type: text/plain\rInjected: yes\r\n\r\nbody\n',
    'location-cr': r'Location: /elsewhere\rInjected: yes\r\n\r\n',
}


def write_script(path, printf_arg):
    with open(path, 'w') as f:
        f.write("#!/bin/sh\nprintf '%s'\n" % printf_arg)
    os.chmod(path, 0o755)


def answer(gw, name):
    """The raw head of the answer to GET /cgi/<name>.sh (bytes)."""
    c = W.Client(gw, timeout=10 * W.SLOW)
    try:
        c.send(('GET /%s.sh HTTP/1.1\r\nHost: x\r\nConnection: close'
                '\r\n\r\n' % name).encode())
        data = c.read_to_eof()
    finally:
        c.close()
    return data.split(b'\r\n\r\n', 1)[0]


def check(head):
    """None if the head is clean, else what is wrong."""
    if not head.startswith(b'HTTP/1.1 '):
        return 'no status line: %s' % W.short(head)
    m = re.search(rb'\r(?!\n)', head)
    if m:
        return 'bare CR at %d in %s' % (m.start(), W.short(head))
    for line in re.split(rb'\r\n|\r|\n', head):
        if line.lower().startswith(b'injected'):
            return 'an Injected header line: %s' % W.short(head)
    status = head[9:12]
    if status not in (b'200', b'302', b'502'):
        return 'status %r (want 502, or 200/302 with the CR removed)' % (
            status,)
    return None


def main(t):
    d = W.tmpdir()
    cgi = os.path.join(d, 'cgi')
    os.makedirs(cgi)
    for name, text in SCRIPTS.items():
        write_script(os.path.join(cgi, name + '.sh'), text)
    write_script(os.path.join(cgi, 'plain.sh'),
                 r'Content-Type: text/plain\r\n\r\nplain body\n')
    gw = W.Gateway([W.TESTCHILD, 'echo'], ['--cgidir=' + cgi])

    r = W.http_exchange(gw.hostport(), b'GET /plain.sh HTTP/1.1\r\n'
                        b'Host: x\r\nConnection: close\r\n\r\n')
    t.ok(r is not None and r.status == 200 and r.body == b'plain body\n',
         'a well-formed script answers 200 with its body', repr(r and
                                                             r.raw))
    for name in SCRIPTS:
        head = answer(gw, name)
        err = check(head)
        t.ok(err is None, '%s: a bare CR from the script never reaches '
             'the answer\'s head' % name, err)
    r = W.http_exchange(gw.hostport(), b'GET /plain.sh HTTP/1.1\r\n'
                        b'Host: x\r\nConnection: close\r\n\r\n')
    t.ok(gw.running() and r is not None and r.status == 200,
         'the gateway is still running and serves a fresh client')


W.run(main, 60 * W.SLOW, plan=2 + len(SCRIPTS))