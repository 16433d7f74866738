#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The program's environment (testchild env): exactly the CGI/1.1 variables
# of the spec with the right values, HTTP_* for each request header (Host
# included), no HTTP_PROXY, no header with '_' in its name, nothing else
# from the gateway's environment except --passenv variables.

import os
import socket
import subprocess

import lib as w

FIXED = {
    'SERVER_SOFTWARE', 'REMOTE_ADDR', 'REMOTE_HOST', 'REMOTE_PORT',
    'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'GATEWAY_INTERFACE',
    'REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'PATH_TRANSLATED',
    'QUERY_STRING', 'REQUEST_URI', 'AUTH_TYPE', 'CONTENT_LENGTH',
    'CONTENT_TYPE', 'REMOTE_IDENT', 'REMOTE_USER', 'UNIQUE_ID',
    'WEBSOCKET_PROTOCOL',
}
BASE_HTTP = {'HTTP_HOST', 'HTTP_UPGRADE', 'HTTP_CONNECTION',
             'HTTP_SEC_WEBSOCKET_KEY', 'HTTP_SEC_WEBSOCKET_VERSION'}


def raw_env(gw, path='/', extra=(), host=True):
    """Upgrade with a raw request; (env dict, client port, raw lines)."""
    c = w.Client(gw)
    try:
        r = c.upgrade(path, extra=extra, host=host)
        if r is None or r.status != 101:
            raise AssertionError('upgrade refused: %r' % (r and r.raw))
        msgs, _ = c.recv_all()
        port = c.sock.getsockname()[1]
    finally:
        c.close()
    lines = [p.decode('utf-8', 'replace') for _, p in msgs]
    return dict(l.split('=', 1) for l in lines if '=' in l), port, lines


def version():
    try:
        out = subprocess.run([w.WSPIPE, '--version'], capture_output=True,
                             timeout=5).stdout.decode().split()
        return out[1] if len(out) >= 2 and out[0] == 'wspipe' else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def body(t):
    genv = dict(os.environ)
    genv['SECRET_TEST'] = '1'
    genv['LD_LIBRARY_PATH'] = '/nonexistent-wspipe-test'
    genv.setdefault('PATH', '/usr/bin:/bin')
    gw = w.Gateway([w.TESTCHILD, 'env'], env=genv)

    extra = ['X-Test-Header: hello world', 'X-Multi: one', 'X-Multi: two',
             'Proxy: http://evil.example:1234/', 'Cookie: a=b',
             'X-Forwarded-For: 1.2.3.4', 'X_Forwarded_For: 6.6.6.6']
    env, cport, lines = raw_env(gw, '/some/pa%20th?a=1&b=%41', extra)
    want_names = FIXED | BASE_HTTP | {
        'PATH', 'LD_LIBRARY_PATH', 'HTTP_X_TEST_HEADER', 'HTTP_X_MULTI',
        'HTTP_COOKIE', 'HTTP_X_FORWARDED_FOR'}
    t.ok(set(env) == want_names, 'exactly the spec\'s variables are set',
         'missing: %s' % sorted(want_names - set(env)),
         'extra:   %s' % sorted(set(env) - want_names))
    t.eq(len(lines), len(env), 'each variable is set once')

    v = version()
    if v is None:
        t.ok(env.get('SERVER_SOFTWARE', '').startswith('wspipe/'),
             'SERVER_SOFTWARE=wspipe/VERSION')
    else:
        t.eq(env.get('SERVER_SOFTWARE'), 'wspipe/' + v,
             'SERVER_SOFTWARE=wspipe/VERSION, as --version prints')
    want = {
        'PATH': genv['PATH'],
        'LD_LIBRARY_PATH': '/nonexistent-wspipe-test',
        'REMOTE_ADDR': '127.0.0.1',
        'REMOTE_HOST': '127.0.0.1',
        'REMOTE_PORT': str(cport),
        'SERVER_NAME': '127.0.0.1',
        'SERVER_PORT': str(gw.port),
        'SERVER_PROTOCOL': 'HTTP/1.1',
        'GATEWAY_INTERFACE': 'CGI/1.1',
        'REQUEST_METHOD': 'GET',
        'SCRIPT_NAME': '',
        'PATH_INFO': '/some/pa th',          # decoded, as in websocketd
        'PATH_TRANSLATED': '/some/pa th',
        'QUERY_STRING': 'a=1&b=%41',
        'REQUEST_URI': '/some/pa%20th?a=1&b=%41',
        'AUTH_TYPE': '', 'CONTENT_LENGTH': '', 'CONTENT_TYPE': '',
        'REMOTE_IDENT': '', 'REMOTE_USER': '',
        'WEBSOCKET_PROTOCOL': '',
        'HTTP_HOST': '127.0.0.1:%d' % gw.port,
        'HTTP_UPGRADE': 'websocket',
        'HTTP_CONNECTION': 'Upgrade',
        'HTTP_SEC_WEBSOCKET_VERSION': '13',
        'HTTP_X_TEST_HEADER': 'hello world',
        'HTTP_X_MULTI': 'one, two',
        'HTTP_COOKIE': 'a=b',
    }
    for k in sorted(want):
        if k == 'LD_LIBRARY_PATH' and os.environ.get('WSPIPE_VALGRIND'):
            # valgrind appends its own directory for the gateway.
            t.ok(env.get(k, '').startswith(want[k] + ':'),
                 '%s=%s (under valgrind)' % (k, want[k]))
            continue
        t.eq(env.get(k), want[k], '%s=%s' % (k, want[k]))
    t.ok(len(env.get('HTTP_SEC_WEBSOCKET_KEY', '')) == 24,
         'HTTP_SEC_WEBSOCKET_KEY is the key sent')
    t.ok(env.get('UNIQUE_ID', '') != '', 'UNIQUE_ID is set')
    t.ok('HTTPS' not in env, 'no HTTPS without TLS')
    t.ok('HTTP_PROXY' not in env, 'a Proxy: header gives no HTTP_PROXY '
         '(httpoxy)')
    t.eq(env.get('HTTP_X_FORWARDED_FOR'), '1.2.3.4',
         'X_Forwarded_For does not override X-Forwarded-For')
    t.ok('SECRET_TEST' not in env and 'HOME' not in env,
         'the gateway\'s other variables do not leak')

    env2, _, _ = raw_env(gw, '/', ['X_Forwarded_For: 6.6.6.6'])
    t.ok('HTTP_X_FORWARDED_FOR' not in env2, 'a header whose name has "_" '
         'is dropped entirely')
    t.ok(env2.get('UNIQUE_ID') not in (None, '', env.get('UNIQUE_ID')),
         'UNIQUE_ID differs between connections')
    t.eq((env2.get('QUERY_STRING'), env2.get('REQUEST_URI'),
          env2.get('PATH_INFO')), ('', '/', '/'),
         'path / without query: QUERY_STRING empty, REQUEST_URI=/')

    env3, _, _ = raw_env(gw, '/', host='example.com')
    t.eq((env3.get('SERVER_NAME'), env3.get('SERVER_PORT'),
          env3.get('HTTP_HOST')), ('example.com', '80', 'example.com'),
         'Host without port: SERVER_NAME from it, SERVER_PORT=80')

    async def lib():
        async with w.connect(gw, '/lib?x') as ws:
            port = ws.local_address[1]
            msgs, code, _ = await w.recv_until_closed(ws)
        return dict(m.split('=', 1) for m in msgs if '=' in m), port, code
    env4, port4, code4 = w.arun(lib())
    t.eq((env4.get('REMOTE_PORT'), env4.get('REQUEST_URI')),
         (str(port4), '/lib?x'), 'independent client: REMOTE_PORT is its '
         'port, REQUEST_URI as sent')
    t.eq(code4, 1000, 'env exits 0: close 1000')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    genv2 = dict(genv, FOO='bar', EMPTYVAR='')
    gw = w.Gateway([w.TESTCHILD, 'env'], ['--passenv=FOO,EMPTYVAR'],
                   env=genv2)
    env, _, _ = raw_env(gw)
    t.eq(env.get('FOO'), 'bar', '--passenv=FOO,EMPTYVAR passes FOO')
    t.ok('EMPTYVAR' not in env, '... but not the empty EMPTYVAR')
    t.ok('LD_LIBRARY_PATH' not in env and 'SECRET_TEST' not in env,
         '... and no variable that is not in the list')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    gw = w.Gateway([w.TESTCHILD, 'env'], env={'SECRET_TEST': '1'})
    env, _, _ = raw_env(gw)
    t.eq(env.get('PATH'), '/usr/local/bin:/usr/bin:/bin',
         'gateway without PATH: the program gets the default PATH')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

    try:
        socket.socket(socket.AF_INET6).bind(('::1', 0))
        v6 = True
    except OSError:
        v6 = False
    if v6:
        gw = w.Gateway([w.TESTCHILD, 'env'], address='::1')
        env, cport, _ = raw_env(gw)
        t.eq((env.get('REMOTE_ADDR'), env.get('REMOTE_HOST'),
              env.get('REMOTE_PORT')), ('::1', '::1', str(cport)),
             'over IPv6: REMOTE_ADDR=::1, REMOTE_PORT the client port')
        t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')
    else:
        t.skip('over IPv6: REMOTE_ADDR=::1', 'no IPv6 loopback')
        t.skip('gateway exits 0 on SIGTERM', 'no IPv6 loopback')


w.need_websockets()
w.run(body, 60, plan=52)