# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Plain HTTP for the tests (static files, CGI, --dir, the development
# console, TLS, --trust-proxy): whole requests on fresh connections of the
# raw client, WebSocket programs read through it, and TLS fixtures.

import os
import socket
import ssl
import subprocess
import time

from .ws import Client, Response, Timeout, CLOSE


def fetch(port, target, method='GET', headers=(), body=b'',
          version='HTTP/1.1', timeout=5.0, close=True, ctx=None, host=True):
    """One request on a fresh connection; the Response.  close adds
    `Connection: close` unless headers name Connection."""
    hs = list(headers)
    if close and not any(h.lower().startswith('connection:') for h in hs):
        hs.append('Connection: close')
    c = Client(port, timeout, ctx)
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
    c = Client(port, timeout)
    try:
        c.request('GET', target, ['Connection: close'])
        deadline = time.monotonic() + timeout
        while b'\r\n\r\n' not in c.buf:
            if not c._fill_some(deadline):
                raise RuntimeError('EOF before the HTTP answer: %r' %
                                   bytes(c.buf[:300]))
        i = c.buf.index(b'\r\n\r\n')
        r = Response(bytes(c.buf[:i]))
        if 'chunked' in (r.get('Transfer-Encoding') or '').lower():
            raise RuntimeError('chunked answer: %r' % r)
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


def http_exchange(addr, request, timeout=10, linger=2):
    """Send raw request bytes; return the response with .body and .closed
    (True if the server closed the connection within `linger` seconds of
    the end of the body), or None if it closed without answering."""
    c = Client(addr, timeout)
    try:
        try:
            c.send(request)
        except (BrokenPipeError, ConnectionResetError):
            pass                # it may answer before reading it all
        r = c.read_head()
        if r is None or r.status == 101:
            return r
        cl = r.get('Content-Length')
        if cl is not None and cl.isdigit():
            while len(c.buf) < int(cl) and c._fill():
                pass
            r.body = bytes(c.buf[:int(cl)])
            del c.buf[:int(cl)]
            extra = bytes(c.buf)
            r.closed = c.wait_eof(linger)
            if extra:
                r.body += extra     # bytes beyond Content-Length: a bug
        else:
            try:
                r.body = c.read_to_eof()
                r.closed = True
            except socket.timeout:
                r.body = bytes(c.buf)
        return r
    finally:
        c.close()


# WebSocket programs read through the raw client

def ws_lines(c, timeout=5.0):
    """Text messages until the close (or EOF): (list of str, close payload
    or None)."""
    deadline = time.monotonic() + timeout
    out = []
    while True:
        m = c.recv_message(max(0.0, deadline - time.monotonic()))
        if not m:
            return out, None
        if m[0] == CLOSE:
            return out, m[1]
        out.append(m[1].decode('utf-8', 'replace'))


def ws_env(port, path='/', headers=(), ctx=None, timeout=5.0):
    """Upgrade to path (program `testchild env` or similar); the variables
    it printed, as a dict."""
    c = Client(port, timeout, ctx)
    try:
        r = c.upgrade(path, headers, timeout=timeout)
        if r is None or r.status != 101:
            raise RuntimeError('upgrade answered %r' % r)
        lines, _ = ws_lines(c, timeout)
    finally:
        c.close()
    return dict(l.split('=', 1) for l in lines if '=' in l)


def env_of(text):
    """KEY=VALUE lines of text as a dict."""
    return dict(l.split('=', 1) for l in text.splitlines() if '=' in l)


# TLS

def make_cert(d, name='cert', cn='localhost'):
    """A self-signed certificate and its key (PEM files in d): (cert path,
    key path)."""
    cert = os.path.join(d, name + '.pem')
    key = os.path.join(d, name + '-key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec',
                    '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                    '-keyout', key, '-out', cert, '-days', '2',
                    '-subj', '/CN=' + cn],
                   check=True, timeout=60, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def make_key(path):
    subprocess.run(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-out', path],
                   check=True, timeout=60, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def client_ctx():
    """A TLS client context that does not verify the server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
