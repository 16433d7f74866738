# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# WebSocket for the tests: frames built with any header bits, opcode,
# length encoding and masking; the one raw client, a socket (TCP or TLS)
# that speaks just enough HTTP/1.x and WebSocket framing to send anything,
# read exactly what comes back with a deadline, noting everything a strict
# client must check, or not read at all; and the glue to Debian's
# python3-websockets (10.4), the independent strict client.

import asyncio
import base64
import collections
import hashlib
import os
import socket
import struct
import sys
import time

from .proc import SLOW
from .tap import trunc

try:
    import websockets
    import websockets.exceptions
except ImportError:                             # pragma: no cover
    websockets = None

GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10

Frame = collections.namedtuple(
    'Frame', 'fin rsv opcode masked payload minimal')


class _EOF(tuple):
    """What recv_message() returns at EOF: (None, None), which unpacks like
    a message but is false."""

    def __bool__(self):
        return False


EOF = _EOF((None, None))


class Timeout(socket.timeout):
    """Nothing came before a deadline (also a socket.timeout)."""


class ProtocolError(AssertionError):
    """The server broke the framing rules a client must check."""


# ---------------------------------------------------------------- frames

def mask_bytes(data, key):
    n = len(data)
    if n == 0:
        return b''
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, 'big') ^
            int.from_bytes(k, 'big')).to_bytes(n, 'big')


def frame(opcode, payload=b'', fin=True, rsv=0, mask=True, key=None,
          length=None, lenform='min', header_only=False):
    """Bytes of one client frame (masked unless told otherwise).  rsv is
    the 3-bit RSV field (4 = RSV1); length overrides the advertised payload
    length; lenform forces the 7, 16 or 64-bit length encoding;
    header_only leaves out the payload."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 15)
    mbit = 0x80 if mask else 0
    if lenform == 'min':
        lenform = 7 if n < 126 else 16 if n < 65536 else 64
    if lenform == 7:
        hdr = struct.pack('!BB', b0, mbit | n)
    elif lenform == 16:
        hdr = struct.pack('!BBH', b0, mbit | 126, n)
    else:
        hdr = struct.pack('!BBQ', b0, mbit | 127, n)
    if mask:
        key = os.urandom(4) if key is None else key
        hdr += key
        payload = mask_bytes(payload, key)
    return hdr if header_only else hdr + payload


def close_payload(code=None, reason=b''):
    if code is None:
        return b''
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack('!H', code) + reason


def parse_close(payload):
    """(code, reason) of a close frame's payload; code None if empty."""
    if len(payload) >= 2:
        return (struct.unpack('!H', payload[:2])[0],
                payload[2:].decode('utf-8', 'replace'))
    return (None, '')


def accept_key(key):
    digest = hashlib.sha1(key.encode() + GUID).digest()
    return base64.b64encode(digest).decode()


def upgrade_request(host, path='/', key=None, extra=(), version='13',
                    method='GET', proto='HTTP/1.1'):
    """Bytes of an upgrade request and its key.  host None sends no Host,
    key False no Sec-WebSocket-Key, version None no version."""
    if key is None:
        key = base64.b64encode(os.urandom(16)).decode()
    lines = ['%s %s %s' % (method, path, proto)]
    if host is not None:
        lines.append('Host: %s' % host)
    lines += ['Upgrade: websocket', 'Connection: Upgrade']
    if key is not False:
        lines.append('Sec-WebSocket-Key: %s' % key)
    if version is not None:
        lines.append('Sec-WebSocket-Version: %s' % version)
    lines += list(extra)
    return ('\r\n'.join(lines) + '\r\n\r\n').encode(), key


def describe(fr):
    if fr is None:
        return 'TCP EOF'
    if fr.opcode == CLOSE and len(fr.payload) >= 2:
        return 'close %d %r' % (struct.unpack('!H', fr.payload[:2])[0],
                                fr.payload[2:60])
    p = fr.payload
    return 'frame op=%d fin=%d rsv=%d masked=%d len=%d %r%s' % (
        fr.opcode, fr.fin, fr.rsv, fr.masked, len(p), p[:40],
        '...' if len(p) > 40 else '')


# ---------------------------------------------------------------- HTTP heads

class Response:
    """One HTTP answer: status, reason, version, status_line, headers
    (list of (name, value) in order, names as sent), head (str), raw (the
    head as bytes), body (bytes), closed (whether the server closed the
    connection after it, where the reader checked)."""

    def __init__(self, head, body=b''):
        if isinstance(head, bytes):
            head = head.decode('latin-1')
        self.head = head
        self.raw = head.encode('latin-1')
        lines = head.split('\r\n')
        self.status_line = lines[0]
        parts = lines[0].split(' ', 2)
        self.version = parts[0]
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ''
        self.headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(':')
                self.headers.append((name.strip(), value.strip()))
        self.body = body
        self.closed = False

    def get(self, name, default=None):
        """The value of header name (case-insensitive); repeated headers
        joined with ", "."""
        vals = [v for n, v in self.headers if n.lower() == name.lower()]
        return ', '.join(vals) if vals else default

    def has(self, name):
        return any(n.lower() == name.lower() for n, _ in self.headers)

    def __repr__(self):
        b = self.body or b''
        return '%s | %r%s' % (self.head.replace('\r\n', ' | '), b[:120],
                              '...' if len(b) > 120 else '')


# ---------------------------------------------------------------- raw client

class Client:
    """A socket speaking just enough HTTP/1.x and WebSocket framing to send
    anything, read exactly what comes back (with a deadline: Timeout), or
    not read at all.

    target is a Gateway, a (host, port) pair or a port on 127.0.0.1.  ctx
    wraps the connection in TLS; rcvbuf sets SO_RCVBUF before connecting.
    handshake=True sends a valid upgrade to path with headers (plus extra
    bytes in the same write) and checks for 101.  timeout is the default
    for every read."""

    def __init__(self, target, timeout=10.0, ctx=None, rcvbuf=None,
                 handshake=False, path='/', headers=(), extra=b''):
        if isinstance(target, int):
            addr = ('127.0.0.1', target)
        elif isinstance(target, tuple):
            addr = target
        else:
            addr = target.hostport()
        self.addr = addr
        self.port = addr[1]
        self.timeout = timeout * SLOW
        self.buf = bytearray()
        self.eof = False
        self.after = []
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.status = None
        fam = socket.AF_INET6 if ':' in addr[0] else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:  # before connect: the window stays small
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                     rcvbuf)
            self.sock.settimeout(self.timeout)
            self.sock.connect(addr)
            if ctx is not None:     # TLS: wrap after connecting
                self.sock = ctx.wrap_socket(self.sock,
                                            server_hostname='localhost')
            if handshake:
                req, _ = upgrade_request(self.hostheader(), path, self.key,
                                         headers)
                self.send(req + extra)
                r = self.read_head()
                if r is None:
                    raise RuntimeError('EOF before the HTTP answer: %r' %
                                       bytes(self.buf))
                if r.status != 101:
                    raise RuntimeError('handshake answered %r' %
                                       r.status_line)
        except BaseException:
            self.close()
            raise

    def hostheader(self):
        h = self.addr[0]
        if ':' in h:
            h = '[%s]' % h
        return '%s:%d' % (h, self.addr[1])

    # -- bytes

    def send(self, data):
        self.sock.sendall(data)

    def _deadline(self, timeout):
        # An explicit timeout is a bound for a normal build; valgrind's
        # factor stretches it as it does the default (SLOW is 1 otherwise).
        return time.monotonic() + (self.timeout if timeout is None
                                   else timeout * SLOW)

    def _fill_some(self, deadline):
        """Receive once; False at EOF, Timeout past the deadline."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Timeout()
        except (ConnectionResetError, BrokenPipeError):
            data = b''
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _fill(self, timeout=None):
        return self._fill_some(self._deadline(timeout))

    def _need(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill_some(deadline):
                return False
        return True

    def read_to_eof(self, timeout=None):
        deadline = self._deadline(timeout)
        while self._fill_some(deadline):
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def wait_eof(self, timeout=5, keep=False):
        """True if the peer closes the TCP connection within timeout.  What
        it sends meanwhile is discarded or, with keep, parsed as frames
        into self.after."""
        deadline = time.monotonic() + timeout
        self.after = []
        try:
            while True:
                if keep:
                    fr = self.recv_frame(max(0.0,
                                             deadline - time.monotonic()))
                    if fr is None:
                        return True
                    self.after.append(fr)
                else:
                    self.buf.clear()
                    if not self._fill_some(deadline):
                        return True
        except Timeout:
            return False

    def closed_after(self, timeout=3.0):
        """(True, leftover bytes) if the server closes the connection within
        timeout, else (False, bytes received meanwhile)."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill_some(deadline):
                pass
        except Timeout:
            return False, bytes(self.buf)
        return True, bytes(self.buf)

    def close(self, rst=False):
        try:
            if rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack('ii', 1, 0))
            self.sock.close()
        except OSError:
            pass

    # -- HTTP

    def read_head(self, timeout=None):
        """Read an HTTP response head (a Response without body); None if
        the socket closed first.  Bytes after it stay in self.buf."""
        deadline = self._deadline(timeout)
        while b'\r\n\r\n' not in self.buf:
            if len(self.buf) > 65536 or not self._fill_some(deadline):
                return None
        i = self.buf.index(b'\r\n\r\n')
        r = Response(bytes(self.buf[:i]))
        del self.buf[:i + 4]
        self.status = r.status
        return r

    def read_response(self, method='GET', timeout=None):
        """One whole answer with a Content-Length (or none, for HEAD, 1xx,
        204 and 304) from the stream: a Response with .body, or None if
        the socket closed before it was complete."""
        deadline = self._deadline(timeout)
        r = self.read_head(timeout)
        if r is None:
            return None
        n = 0
        cl = r.get('Content-Length')
        if method != 'HEAD' and r.status not in (204, 304) and \
                r.status >= 200 and cl is not None and cl.isdigit():
            n = int(cl)
        if not self._need(n, deadline):
            return None
        r.body = bytes(self.buf[:n])
        del self.buf[:n]
        return r

    @staticmethod
    def build(port, method, target, headers=(), body=b'',
              version='HTTP/1.1', host=True):
        """Bytes of one request to 127.0.0.1:port (no Content-Length is
        added); host=False sends no Host."""
        lines = ['%s %s %s' % (method, target, version)]
        if host:
            lines.append('Host: 127.0.0.1:%d' % port)
        lines += list(headers)
        if isinstance(body, str):
            body = body.encode()
        return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + body

    def request(self, method, target, headers=(), body=b'',
                version='HTTP/1.1', host=True):
        """Send one request built by build()."""
        self.send(self.build(self.port, method, target, headers, body,
                             version, host))

    def response(self, method='GET', timeout=None):
        """Read one complete answer (head and body); RuntimeError at EOF.
        The body is delimited by Content-Length, chunked encoding, or the
        end of the connection; there is none for HEAD, 1xx, 204 and 304."""
        deadline = self._deadline(timeout)
        r = self.read_head(timeout)
        if r is None:
            raise RuntimeError('EOF before the HTTP answer: %r' %
                               bytes(self.buf[:300]))
        if method == 'HEAD' or r.status < 200 or r.status in (204, 304):
            return r
        te = (r.get('Transfer-Encoding') or '').lower()
        cl = r.get('Content-Length')
        if 'chunked' in te:
            r.body = self._chunked(deadline)
        elif cl is not None:
            n = int(cl)
            if not self._need(n, deadline):
                raise RuntimeError('EOF after %d of %d body bytes' %
                                   (len(self.buf), n))
            r.body = bytes(self.buf[:n])
            del self.buf[:n]
        else:
            while self._fill_some(deadline):
                pass
            r.body = bytes(self.buf)
            del self.buf[:]
        return r

    def _line(self, deadline):
        while b'\r\n' not in self.buf:
            if not self._fill_some(deadline):
                raise RuntimeError('EOF in a chunked body')
        i = self.buf.index(b'\r\n')
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line

    def _chunked(self, deadline):
        out = bytearray()
        while True:
            n = int(self._line(deadline).split(b';')[0], 16)
            if n == 0:
                while self._line(deadline):
                    pass
                return bytes(out)
            if not self._need(n + 2, deadline):
                raise RuntimeError('EOF in a chunk')
            out += self.buf[:n]
            del self.buf[:n + 2]

    def upgrade(self, path='/', extra=(), host=True, timeout=None, **kw):
        """Send an upgrade request; return the answer's head (a Response;
        None at EOF), checking the accept key when it is 101.  host=True
        sends our address as Host, None sends no Host, a string sends
        that; kw go to upgrade_request()."""
        if host is True:
            host = self.hostheader()
        kw.setdefault('key', self.key)
        req, key = upgrade_request(host, path, extra=extra, **kw)
        self.send(req)
        r = self.read_head(timeout)
        if r is not None and r.status == 101:
            if r.get('Sec-WebSocket-Accept') != accept_key(key):
                raise ProtocolError('bad Sec-WebSocket-Accept')
        return r

    # -- WebSocket

    def send_frame(self, opcode, payload=b'', **kw):
        self.send(frame(opcode, payload, **kw))

    def send_text(self, text):
        self.send_frame(TEXT, text)

    def send_close(self, code=None, reason=b''):
        self.send_frame(CLOSE, close_payload(code, reason))

    def recv_frame(self, timeout=None):
        """The next server frame (a Frame), None at EOF (also mid-frame);
        Timeout past the deadline.  A masked frame or RSV bits (but RSV1
        on a data frame once the test set rsv1_ok) raise ProtocolError;
        whether the length was minimal is noted in the Frame."""
        deadline = self._deadline(timeout)
        if not self._need(2, deadline):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7f
        masked = bool(b1 & 0x80)
        off = 2
        minimal = True
        if n == 126:
            if not self._need(4, deadline):
                return None
            n = struct.unpack('!H', self.buf[2:4])[0]
            off = 4
            minimal = n >= 126
        elif n == 127:
            if not self._need(10, deadline):
                return None
            n = struct.unpack('!Q', self.buf[2:10])[0]
            off = 10
            minimal = n >= 65536
        if masked:
            off += 4
        if not self._need(off + n, deadline):
            return None
        payload = bytes(self.buf[off:off + n])
        if masked:
            payload = mask_bytes(payload, bytes(self.buf[off - 4:off]))
        del self.buf[:off + n]
        fr = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 15, masked,
                   payload, minimal)
        if masked:
            raise ProtocolError('server frame is masked: %s' % describe(fr))
        # RSV1 marks a compressed message where permessage-deflate was
        # negotiated (the test says so with rsv1_ok), on its first frame.
        if fr.rsv and not (getattr(self, 'rsv1_ok', False) and
                           fr.rsv == 4 and fr.opcode in (TEXT, BINARY)):
            raise ProtocolError('server set RSV bits: %s' % describe(fr))
        return fr

    def recv_message(self, timeout=None, frames=None, controls=False):
        """(opcode, payload) of the next data message, reassembled, or
        (CLOSE, payload) of a close frame; EOF (false) at EOF.  Pings and
        pongs in between are skipped, or returned with controls; every
        frame read is appended to frames (if given).  Timeout past the
        deadline."""
        deadline = self._deadline(timeout)
        op0, parts = None, []
        while True:
            fr = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if fr is None:
                return EOF
            if frames is not None:
                frames.append(fr)
            if fr.opcode == CLOSE or (controls and fr.opcode >= 8):
                return fr.opcode, fr.payload
            if fr.opcode >= 8:
                continue
            if op0 is None:
                if fr.opcode == CONT:
                    raise ProtocolError('continuation without start')
                op0 = fr.opcode
            elif fr.opcode != CONT:
                raise ProtocolError('new message inside a fragmented one')
            parts.append(fr.payload)
            if fr.fin:
                return op0, b''.join(parts)

    def recv_all(self, timeout=None):
        """Data messages until a close frame or EOF: (list of (opcode,
        payload), close (code, reason) or None)."""
        msgs = []
        while True:
            m = self.recv_message(timeout)
            if not m:
                return msgs, None
            if m[0] == CLOSE:
                return msgs, parse_close(m[1])
            msgs.append(m)

    def recv_close(self, timeout=None):
        """Skip data until a close frame; return (code, reason) — code None
        for an empty close — or None at EOF without one."""
        while True:
            m = self.recv_message(timeout)
            if not m:
                return None
            if m[0] == CLOSE:
                return parse_close(m[1])

    def expect_close(self, code, timeout=2.0):
        """(True, None) if the next frame is a close with code (an int, or
        None for an empty close payload); else (False, what came)."""
        try:
            fr = self.recv_frame(timeout)
        except Timeout:
            return False, 'nothing within %.1f s' % timeout
        if fr is None:
            return False, 'TCP EOF without a close frame'
        if fr.opcode != CLOSE:
            return False, 'expected close %s, got %s' % (code, describe(fr))
        got = struct.unpack('!H', fr.payload[:2])[0] \
            if len(fr.payload) >= 2 else None
        if got != code:
            return False, 'expected close %s, got %s' % (code, describe(fr))
        return True, None


def echo_ok(port, text='ping-echo', timeout=3.0):
    """(ok, diag): a fresh client gets text echoed as one text message."""
    try:
        c = Client(port, timeout=timeout, handshake=True)
    except Exception as e:
        return False, 'connect/handshake: %s' % e
    try:
        c.send_text(text)
        m = c.recv_message(timeout)
        if m != (TEXT, text.encode()):
            return False, 'sent %r, got %r' % (text, m)
        c.send_close(1000)
        return True, None
    except Timeout:
        return False, 'no echo within %.1f s' % timeout
    finally:
        c.close()


def check_close(gw, frames, code, timeout=2.0, raw=b''):
    """Open a client, send frames (bytes each) and expect close code."""
    c = gw.client()
    try:
        for f in frames:
            c.send(f)
        if raw:
            c.send(raw)
        return c.expect_close(code, timeout)
    finally:
        c.close()


def check_echo(gw, frames, want, op=TEXT, timeout=2.0):
    """Open a client, send frames and expect one message (op, want) and no
    other frame before it."""
    c = gw.client()
    try:
        for f in frames:
            c.send(f)
        seen = []
        try:
            m = c.recv_message(timeout, seen)
        except Timeout:
            return False, 'nothing within %.1f s' % timeout
        if m != (op, want):
            return False, 'want op %d %r..., got %s' % (
                op, want[:40], '; '.join(describe(f) for f in seen[:5]))
        if any(f.opcode >= 8 for f in seen):
            return False, 'control frame before the echo: %s' % (
                '; '.join(describe(f) for f in seen[:5]))
        return True, None
    finally:
        c.close()


# ---------------------------------------------------------------- websockets

# One event loop for the script, so that connections outlive a call.
LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(LOOP)


def arun(aw, timeout=30):
    """Run an awaitable on the script's loop, bounded by timeout
    (asyncio.TimeoutError past it)."""
    async def go():
        return await asyncio.wait_for(aw, timeout)
    return LOOP.run_until_complete(go())


def need_websockets():
    if websockets is None:
        print('1..0 # SKIP python3-websockets not installed', flush=True)
        sys.exit(0)


def connect(gw, path='/', **kw):
    """websockets.connect() with the options every test uses."""
    kw.setdefault('max_size', None)
    kw.setdefault('ping_interval', None)
    kw.setdefault('close_timeout', 5)
    kw.setdefault('open_timeout', 10 * SLOW)
    return websockets.connect(gw.url(path), **kw)


async def recv_until_closed(ws, limit=100000):
    """Receive messages until the connection closes; return (messages,
    close code, close reason)."""
    msgs = []
    try:
        while len(msgs) < limit:
            msgs.append(await ws.recv())
    except websockets.exceptions.ConnectionClosed:
        pass
    await ws.wait_closed()
    return msgs, ws.close_code, ws.close_reason


def handshake_status(exc):
    """HTTP status of a refused handshake, from websockets' exception."""
    return getattr(exc, 'status_code', None)


class Closed(Exception):
    pass


class WS:
    """A websockets client connection, driven synchronously.  recv()
    returns the next message (str or bytes), raises Timeout, or Closed
    (with self.close_code set) when the connection has ended."""

    def __init__(self, port, path='/', timeout=5.0, max_queue=1024,
                 headers=None):
        self.url = 'ws://127.0.0.1:%d%s' % (port, path)
        self.ws = arun(websockets.connect(
            self.url, ping_interval=None, max_size=None,
            max_queue=max_queue, open_timeout=timeout, close_timeout=1,
            compression=None, extra_headers=headers), timeout + 1)

    def send(self, msg):
        arun(self.ws.send(msg), 10.0)

    def recv(self, timeout=2.0):
        try:
            return arun(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise Timeout()
        except websockets.ConnectionClosed:
            raise Closed(self.ws.close_code)

    @property
    def close_code(self):
        return self.ws.close_code

    def expect(self, want, timeout=2.0):
        """(True, None) if the next message is want, else (False, what)."""
        try:
            got = self.recv(timeout)
        except Timeout:
            return False, 'nothing within %.1f s (wanted %r)' % (
                timeout, trunc(want))
        except Closed as e:
            return False, 'connection closed (code %s), wanted %r' % (
                e.args[0], trunc(want))
        if got != want:
            return False, 'wanted %r, got %r' % (trunc(want), trunc(got))
        return True, None

    def collect(self, n, timeout=3.0):
        """n messages (fewer if the deadline passes or it closes)."""
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            try:
                out.append(self.recv(max(0.0,
                                         deadline - time.monotonic())))
            except (Timeout, Closed):
                break
        return out

    def until(self, want, timeout=3.0):
        """Messages up to and including want: (list, found)."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            try:
                m = self.recv(max(0.0, deadline - time.monotonic()))
            except (Timeout, Closed):
                return out, False
            out.append(m)
            if m == want:
                return out, True

    def close(self):
        try:
            arun(self.ws.close(), 3.0)
        except BaseException:
            self.abort()

    def abort(self):
        try:
            self.ws.transport.abort()
        except BaseException:
            pass
