#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# What a client sends never reaches the log raw: request paths (raw 8-bit
# bytes, percent-encoded control bytes that a script's file name decodes
# to), an offered subprotocol when --subprotocol does not restrict it, on
# upgrades, static GETs (found or not), CGI and listen mode.  With
# --loglevel=debug every line is written; once the gateways have stopped,
# no line may hold a byte below 0x20 (but its newline) or from 0x7f up,
# which a terminal would act on (0x1b and 0x9b start escape sequences).

import os
import re
import struct

import lib as W

BAD = re.compile(rb'[\x00-\x09\x0b-\x1f\x7f-\xff]')


def send_raw(gw, data, close_frame=False):
    """Send one request (bytes), read the head, say goodbye; return our
    port, which tags the gateway's lines about this connection."""
    c = W.Client(gw, timeout=10 * W.SLOW)
    port = c.sock.getsockname()[1]
    try:
        c.send(data)
        r = c.read_head()
        if r is not None and r.status == 101:
            c.send_frame(0x8, struct.pack('!H', 1000))
            c.recv_close()
        c.wait_eof(5 * W.SLOW)
    except OSError:
        pass
    finally:
        c.close()
    return port


def upgrade(path, proto=b'', extra=b''):
    head = (b'GET ' + path + b' HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'
            b'Connection: Upgrade\r\nSec-WebSocket-Key: '
            b'dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n')
    if proto:
        head += b'Sec-WebSocket-Protocol: ' + proto + b'\r\n'
    return head + extra + b'\r\n'


def get(path, method=b'GET'):
    return method + b' ' + path + b' HTTP/1.1\r\nHost: x\r\n' \
        b'Connection: close\r\n\r\n'


def bad_lines(log, port=None):
    tag = ('127.0.0.1:%d ' % port).encode() if port else None
    out = []
    for line in log.split(b'\n'):
        if tag is not None and tag not in line:
            continue
        if BAD.search(line):
            out.append(line)
    return out


def mine(log, port):
    tag = ('127.0.0.1:%d ' % port).encode()
    return [l for l in log.split(b'\n') if tag in l]


def main(t):
    d = W.tmpdir()
    www, cgi = os.path.join(d, 'www'), os.path.join(d, 'cgi')
    os.makedirs(www)
    os.makedirs(cgi)
    with open(os.path.join(www.encode(), b'f\x9b\xff.txt'), 'wb') as f:
        f.write(b'eight-bit name\n')
    script = os.path.join(cgi.encode(), b'e\x1b\x9b.sh')
    with open(script, 'w') as f:
        f.write('#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\nok"\n')
    os.chmod(script, 0o755)
    dbg = ['--loglevel=debug']
    gw = W.Gateway([W.TESTCHILD, 'echo'],
                   dbg + ['--staticdir=' + www, '--cgidir=' + cgi])
    lgw = W.Gateway([], dbg + ['--listen'])
    cases = [
        ('upgrade, raw 0x9b and 0xff in the path',
         upgrade(b'/ws\x9b[31m\xff')),
        ('upgrade, raw 0x1b in the path', upgrade(b'/ws\x1b[31m')),
        ('upgrade, %1b and %9b in the path', upgrade(b'/ws%1b%9b%7f')),
        ('upgrade, 0x9b and 0xff in the subprotocol',
         upgrade(b'/ws', b'p\x9b[31m\xffq')),
        ('upgrade, 0x1b in the subprotocol', upgrade(b'/ws', b'p\x1b[31mq')),
        ('upgrade, 0x9b in the Host and Origin',
         upgrade(b'/ws', extra=b'Origin: http://o\x9b\r\n')),
        ('static GET of a file with 8-bit bytes in its name',
         get(b'/f\x9b\xff.txt')),
        ('static GET of a missing path with 0x9b', get(b'/no\x9b[2J')),
        ('static HEAD with %1b in the path', get(b'/no%1b[2J', b'HEAD')),
        ('CGI script whose name decodes to 0x1b 0x9b', get(b'/e%1b%9b.sh')),
    ]
    ports = [(what, send_raw(gw, req)) for what, req in cases]
    ports.append(('listen mode, 0x9b and %1b in the path',
                  send_raw(lgw, upgrade(b'/l\x9b%1b'))))
    t.ok(gw.stop() == 0 and lgw.stop() == 0, 'the gateways stop cleanly '
         'after all requests', 'status %r, %r' % (gw.status, lgw.status))
    log = b''
    for g in (gw, lgw):
        with open(g.logpath, 'rb') as f:
            log += f.read()
    for what, port in ports:
        bad = bad_lines(log, port)
        t.ok(mine(log, port) and not bad, '%s: logged, never raw' % what,
             *(['no line for port %d' % port] if not mine(log, port)
               else [W.short(l) for l in bad[:3]]))
    bad = bad_lines(log)
    t.ok(not bad, 'no line of the whole log holds a raw control or 8-bit '
         'byte', *[W.short(l) for l in bad[:5]])


W.run(main, 60 * W.SLOW, plan=13)