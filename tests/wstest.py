# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Shared helpers for the wspipe integration tests: TAP output, starting and
# stopping a gateway on a free port, /proc probes (children, zombies, fds,
# RSS), polling with a deadline, a raw WebSocket/HTTP client for malformed
# input and for a client that does not read, and the asyncio client of
# Debian's python3-websockets (10.4) as the independent strict client.

import asyncio
import base64
import ctypes
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
WSPIPE = os.path.abspath(os.environ.get('WSPIPE') or
                         os.path.join(TESTS_DIR, '..', 'src', 'wspipe'))
TESTCHILD = os.path.abspath(os.environ.get('TESTCHILD') or
                            os.path.join(TESTS_DIR, 'testchild'))
GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

try:
    import websockets
    import websockets.exceptions
except ImportError:                             # pragma: no cover
    websockets = None


class Timeout(Exception):
    pass


# Under valgrind (make check-valgrind) the gateway is many times slower:
# deadlines are multiplied by this.
SLOW = 4 if os.environ.get('WSPIPE_VALGRIND') else 1


# ---------------------------------------------------------------- TAP

class TAP:
    def __init__(self, plan):
        self.plan = plan
        self.n = 0
        self.failed = []
        print('1..%d' % plan, flush=True)

    def diag(self, *msgs):
        for msg in msgs:
            for line in str(msg).splitlines() or ['']:
                print('# ' + line, flush=True)

    def ok(self, cond, desc, *diags):
        self.n += 1
        desc = desc.replace('#', '\\#')
        if cond:
            print('ok %d - %s' % (self.n, desc), flush=True)
        else:
            print('not ok %d - %s' % (self.n, desc), flush=True)
            self.failed.append(self.n)
            self.diag(*diags)
        return bool(cond)

    def eq(self, got, want, desc):
        return self.ok(got == want, desc,
                       'got:  ' + short(got), 'want: ' + short(want))

    def skip(self, desc, reason):
        self.n += 1
        print('ok %d - %s # SKIP %s' % (self.n, desc, reason), flush=True)


def short(v, limit=300):
    r = repr(v)
    if len(r) > limit:
        r = r[:limit] + '... (%d chars)' % len(r)
    return r


def run(plan, body, timeout=60):
    """Run body(tap) under a global alarm; always clean up what we started.
    Points not reached (exception, timeout) are reported as failures."""
    t = TAP(plan)
    aborted = False

    def on_alarm(signo, frame):
        raise Timeout('test script exceeded its %d s alarm' % timeout)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(timeout)
    become_subreaper()
    try:
        body(t)
    except BaseException:
        aborted = True
        t.diag('aborted:', traceback.format_exc())
    finally:
        signal.alarm(0)
        try:
            cleanup(t)
        except BaseException:
            t.diag('cleanup failed:', traceback.format_exc())
    while t.n < plan:
        t.ok(False, 'not reached')
    if t.n > plan:
        t.diag('planned %d points, ran %d' % (plan, t.n))
    sys.exit(1 if aborted else 0)


def need_websockets():
    if websockets is None:
        print('1..0 # SKIP python3-websockets not installed', flush=True)
        sys.exit(0)


# ---------------------------------------------------------------- polling

def wait_until(pred, timeout=5.0, interval=0.02):
    """Poll pred() until it is true or the deadline passes; return its last
    value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def settle(fn, timeout=5.0, still=0.3, interval=0.02):
    """Poll fn() until its value has not changed for `still` seconds."""
    deadline = time.monotonic() + timeout
    last = fn()
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(interval)
        v = fn()
        if v != last:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= still:
            break
    return last


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """(state, ppid, pgrp) of pid, or None if it does not exist."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = s[s.rfind(')') + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def all_pids():
    return [int(d) for d in os.listdir('/proc') if d.isdigit()]


def children_of(ppid):
    out = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st is not None and st[1] == ppid:
            out.append(pid)
    return sorted(out)


def zombies_of(ppid):
    out = []
    for pid in children_of(ppid):
        st = proc_stat(pid)
        if st is not None and st[0] == 'Z':
            out.append(pid)
    return out


def alive(pid):
    """kill -0 succeeds (true for a zombie too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead(pid):
    """Gone, or a zombie that only waits for its (new) parent to reap it:
    used for processes that are not the gateway's own children."""
    st = proc_stat(pid)
    return st is None or st[0] in 'ZX'


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def become_subreaper():
    """Orphans of the processes we start are re-parented to us, so cleanup
    can find and reap them wherever PID 1 does not."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)              # PR_SET_CHILD_SUBREAPER
    except OSError:
        pass


# ---------------------------------------------------------------- gateway

_gateways = []
_tmpdir = None


def tmpdir():
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = tempfile.mkdtemp(prefix='wspipe-test-')
    return _tmpdir


def free_port(address='127.0.0.1'):
    fam = socket.AF_INET6 if ':' in address else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((address, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def listening_inodes(port):
    inodes = set()
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    p = line.split()
                    lport = int(p[1].rsplit(':', 1)[1], 16)
                    if p[3] == '0A' and lport == port:
                        inodes.add(p[9])
        except FileNotFoundError:
            pass
    return inodes


def listening(pid, port):
    """True once process pid holds a socket listening on port (read from
    /proc, so probing makes no connection)."""
    inodes = listening_inodes(port)
    if not inodes:
        return False
    try:
        for fd in os.listdir('/proc/%d/fd' % pid):
            try:
                t = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            if t.startswith('socket:[') and t[8:-1] in inodes:
                return True
    except FileNotFoundError:
        pass
    return False


class Gateway:
    """A wspipe process: wspipe --port=P --address=A ARGS... COMMAND...
    port_args(port) and address_args replace the first two options (to try
    other spellings); pass_fds and preexec_fn go to Popen."""

    def __init__(self, command, args=(), address='127.0.0.1', env=None,
                 port=None, preexec_fn=None, start=True, port_args=None,
                 address_args=None, pass_fds=()):
        self.command = list(command)
        self.args = list(args)
        self.address = address
        self.env = dict(os.environ) if env is None else env
        self.fixed_port = port
        self.preexec_fn = preexec_fn
        self.port_args = port_args or (lambda p: ['--port=%d' % p])
        self.address_args = (['--address=' + address] if address_args is None
                             else list(address_args))
        self.pass_fds = tuple(pass_fds)
        self.proc = None
        self.status = None
        self.port = None
        n = len(_gateways)
        self.logpath = os.path.join(tmpdir(), 'gateway%d.log' % n)
        _gateways.append(self)
        if start:
            self.start()

    @property
    def pid(self):
        return self.proc.pid

    def argv(self):
        return ([WSPIPE] + self.port_args(self.port) + self.address_args +
                self.args + self.command)

    def start(self, timeout=10):
        for attempt in range(5):
            self.port = self.fixed_port or free_port(self.address)
            self.status = None
            with open(self.logpath, 'ab') as log:
                self.proc = subprocess.Popen(
                    self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                    stderr=log, env=self.env, preexec_fn=self.preexec_fn,
                    pass_fds=self.pass_fds)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if listening(self.proc.pid, self.port):
                    return self
                time.sleep(0.01)
            rc = self.proc.poll()
            if rc == 3 and self.fixed_port is None:
                continue        # lost a race for the port: try another
            if rc is None:
                self.kill()
                raise RuntimeError('gateway not listening after %d s' %
                                   timeout)
            self.status = rc
            raise RuntimeError('gateway exited with %d at start-up: %s' %
                               (rc, self.log()[-500:]))
        raise RuntimeError('gateway exited with 3 (cannot listen) on 5 free '
                           'ports: %s' % self.log()[-500:])

    def url(self, path='/'):
        host = self.address
        if ':' in host:
            host = '[%s]' % host
        return 'ws://%s:%d%s' % (host, self.port, path)

    def hostport(self):
        return (self.address, self.port)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5.0, sig=signal.SIGTERM):
        """Signal the gateway, wait for it; SIGKILL it after timeout.
        Returns its exit status (negative: killed by that signal; None:
        had to be killed after the timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.status = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self.status = None
        else:
            self.status = self.proc.returncode
        return self.status

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            kids = children_of(self.proc.pid)
            self.proc.kill()
            self.proc.wait()
            for pid in kids:
                kill_group_and_pid(pid)

    def log(self):
        try:
            with open(self.logpath, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def children(self):
        return children_of(self.pid)

    def zombies(self):
        return zombies_of(self.pid)

    def fds(self):
        return fd_count(self.pid)

    def rss(self):
        return rss_kib(self.pid)


_MEMERR = re.compile(r'ERROR: AddressSanitizer|ERROR: LeakSanitizer|'
                     r'runtime error:|^==\d+== (Invalid (read|write|free)|'
                     r'Conditional jump|Use of uninitialised|Syscall param|'
                     r'Mismatched free|Source and destination overlap)')


def memory_errors(text):
    """Lines of a gateway log that report a memory error: ASan/UBSan, or
    valgrind, which reports and carries on (its exit status comes only
    at the end)."""
    return [l[:200] for l in text.splitlines() if _MEMERR.search(l)]


def rss_env(env=None):
    """The environment for a gateway whose RSS a test measures: under
    AddressSanitizer, freed memory sits in a 256 MB quarantine, which is
    not the gateway's own growth, so turn the quarantine off."""
    env = dict(os.environ if env is None else env)
    opts = env.get('ASAN_OPTIONS', '')
    env['ASAN_OPTIONS'] = (opts + ':' if opts else '') + \
        'quarantine_size_mb=0:thread_local_quarantine_size_kb=0'
    return env


def kill_group_and_pid(pid):
    st = proc_stat(pid)
    if st is None:
        return
    if st[2] not in (0, os.getpgrp()):
        try:
            os.killpg(st[2], signal.SIGKILL)
        except OSError:
            pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def cleanup(t):
    for gw in _gateways:
        if gw.running():
            kids = gw.children()
            if kids:
                t.diag('cleanup: gateway %d still has children %s' %
                       (gw.pid, kids))
            gw.kill()
    if t.failed:
        for gw in _gateways:
            lines = gw.log().splitlines()
            if lines:
                t.diag('--- last lines of %s (%s):' % (gw.logpath,
                       ' '.join(gw.argv())))
                t.diag(*[l[:300] for l in lines[-25:]])
    # Anything re-parented to us (we are a subreaper) is left over.
    mine = {gw.proc.pid for gw in _gateways if gw.proc is not None}
    for _ in range(50):
        strays = [p for p in children_of(os.getpid()) if p not in mine]
        if not strays:
            break
        for pid in strays:
            st = proc_stat(pid)
            if st is not None and st[0] != 'Z':
                t.diag('cleanup: killing leftover process %d' % pid)
            kill_group_and_pid(pid)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    if _tmpdir is not None and not t.failed:
        shutil.rmtree(_tmpdir, ignore_errors=True)


# ---------------------------------------------------------------- websockets

def arun(coro, timeout=30):
    """Run a coroutine to completion, bounded by timeout."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def connect(gw, path='/', **kw):
    """websockets.connect() with the options every test uses."""
    kw.setdefault('max_size', None)
    kw.setdefault('ping_interval', None)
    kw.setdefault('close_timeout', 5)
    kw.setdefault('open_timeout', 10)
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


# ---------------------------------------------------------------- raw client

def mask_bytes(data, key):
    n = len(data)
    if n == 0:
        return b''
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, 'little') ^
            int.from_bytes(k, 'little')).to_bytes(n, 'little')


def frame(opcode, payload=b'', fin=True, mask=True, rsv=0, key=None):
    """Encode one client frame (masked unless told otherwise)."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack('!BB', b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack('!BBH', b0, mbit | 126, n)
    else:
        hdr = struct.pack('!BBQ', b0, mbit | 127, n)
    if not mask:
        return hdr + payload
    if key is None:
        key = os.urandom(4)
    return hdr + key + mask_bytes(payload, key)


def accept_key(key):
    digest = hashlib.sha1(key.encode() + GUID).digest()
    return base64.b64encode(digest).decode()


def upgrade_request(host, path='/', key=None, extra=(), version='13',
                    method='GET', proto='HTTP/1.1'):
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


class HTTPResponse:
    def __init__(self, status, reason, headers, raw):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (lower name, value)
        self.raw = raw
        self.body = b''
        self.closed = False

    def get(self, name):
        vals = [v for n, v in self.headers if n == name.lower()]
        return ', '.join(vals) if vals else None


def parse_head(head):
    lines = head.decode('latin-1').split('\r\n')
    parts = lines[0].split(' ', 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ''
    headers = []
    for l in lines[1:]:
        if l:
            n, _, v = l.partition(':')
            headers.append((n.strip().lower(), v.strip()))
    return HTTPResponse(status, reason, headers, head)


class RawWS:
    """A socket speaking just enough HTTP and WebSocket framing to send
    anything, read exactly what comes back, or not read at all."""

    def __init__(self, gw_or_addr, timeout=10, ctx=None, rcvbuf=None):
        if isinstance(gw_or_addr, Gateway):
            addr = gw_or_addr.hostport()
        else:
            addr = gw_or_addr
        fam = socket.AF_INET6 if ':' in addr[0] else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        if ctx is not None:     # TLS: wrap after connecting, handshake now
            self.sock = ctx.wrap_socket(self.sock,
                                        server_hostname='localhost')
        self.addr = addr
        self.buf = bytearray()
        self.eof = False
        self.timeout = timeout

    def hostheader(self):
        h = self.addr[0]
        if ':' in h:
            h = '[%s]' % h
        return '%s:%d' % (h, self.addr[1])

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        """Read more into buf; False at EOF."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            d = self.sock.recv(1 << 20)
        except ConnectionResetError:
            d = b''
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def read_head(self):
        """Read an HTTP response head; None if the socket closed first."""
        while b'\r\n\r\n' not in self.buf:
            if len(self.buf) > 65536 or not self._fill():
                return None
        i = self.buf.index(b'\r\n\r\n') + 4
        head = bytes(self.buf[:i - 4])
        del self.buf[:i]
        return parse_head(head)

    def read_response(self, method='GET'):
        """One whole answer with a Content-Length (or none, for HEAD, 1xx,
        204 and 304) from the stream: an HTTPResponse with .body, or None
        if the socket closed before it was complete."""
        r = self.read_head()
        if r is None:
            return None
        n = 0
        cl = r.get('Content-Length')
        if method != 'HEAD' and r.status not in (204, 304) and \
                r.status >= 200 and cl is not None and cl.isdigit():
            n = int(cl)
        while len(self.buf) < n:
            if not self._fill():
                return None
        r.body = bytes(self.buf[:n])
        del self.buf[:n]
        return r

    def read_to_eof(self):
        while self._fill():
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def upgrade(self, path='/', extra=(), host=True, **kw):
        """Send an upgrade request; return the parsed response (checks the
        accept key when it is 101).  host=True sends our address as Host,
        None sends no Host, a string sends that."""
        if host is True:
            host = self.hostheader()
        req, key = upgrade_request(host, path, extra=extra, **kw)
        self.send(req)
        r = self.read_head()
        if r is not None and r.status == 101:
            if r.get('Sec-WebSocket-Accept') != accept_key(key):
                raise AssertionError('bad Sec-WebSocket-Accept')
        return r

    def send_frame(self, opcode, payload=b'', **kw):
        self.send(frame(opcode, payload, **kw))

    def send_text(self, s):
        self.send_frame(0x1, s)

    def send_close(self, code=None, reason=b''):
        payload = b'' if code is None else struct.pack('!H', code) + reason
        self.send_frame(0x8, payload)

    def recv_frame(self, timeout=None):
        """(fin, opcode, payload) of the next server frame, or None at EOF.
        Server frames must not be masked."""
        while True:
            b = self.buf
            if len(b) >= 2:
                n = b[1] & 0x7f
                if b[1] & 0x80:
                    raise AssertionError('server frame is masked')
                off = 2
                if n == 126:
                    off = 4
                elif n == 127:
                    off = 10
                if len(b) >= off:
                    if n == 126:
                        n = struct.unpack_from('!H', b, 2)[0]
                    elif n == 127:
                        n = struct.unpack_from('!Q', b, 2)[0]
                    if len(b) >= off + n:
                        fin = bool(b[0] & 0x80)
                        op = b[0] & 0x0f
                        if b[0] & 0x70:
                            raise AssertionError('server set RSV bits')
                        payload = bytes(b[off:off + n])
                        del b[:off + n]
                        return fin, op, payload
            if not self._fill(timeout):
                return None

    def recv_message(self, timeout=None):
        """(opcode, payload) of the next data message, reassembled, or of a
        control frame; None at EOF."""
        op0 = None
        parts = []
        while True:
            f = self.recv_frame(timeout)
            if f is None:
                return None
            fin, op, payload = f
            if op >= 0x8:
                return op, payload
            if op0 is None:
                if op == 0:
                    raise AssertionError('continuation without start')
                op0 = op
            elif op != 0:
                raise AssertionError('new message inside a fragmented one')
            parts.append(payload)
            if fin:
                return op0, b''.join(parts)

    def recv_all(self, timeout=None):
        """Data messages until a close frame or EOF: (list of (opcode,
        payload), close (code, reason) or None)."""
        msgs = []
        while True:
            m = self.recv_message(timeout)
            if m is None:
                return msgs, None
            op, payload = m
            if op == 0x8:
                if len(payload) >= 2:
                    return msgs, (struct.unpack('!H', payload[:2])[0],
                                  payload[2:].decode('utf-8', 'replace'))
                return msgs, (None, '')
            if op < 0x8:
                msgs.append(m)

    def recv_close(self, timeout=None):
        """Skip data until a close frame; return (code, reason) — code None
        for an empty close — or None at EOF without one."""
        while True:
            m = self.recv_message(timeout)
            if m is None:
                return None
            op, payload = m
            if op == 0x8:
                if len(payload) >= 2:
                    return (struct.unpack('!H', payload[:2])[0],
                            payload[2:].decode('utf-8', 'replace'))
                return (None, '')

    def wait_eof(self, timeout=5):
        """True if the peer closes the TCP connection within timeout
        (discarding anything it still sends)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.buf.clear()
            try:
                if not self._fill(left):
                    return True
            except socket.timeout:
                return False

    def close(self, rst=False):
        if rst:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack('ii', 1, 0))
        self.sock.close()


def make_cert(d, name='cert'):
    """A self-signed certificate for localhost and its key (PEM files in
    d): (cert path, key path)."""
    cert = os.path.join(d, name + '.pem')
    key = os.path.join(d, name + '-key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec',
                    '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                    '-keyout', key, '-out', cert, '-days', '2',
                    '-subj', '/CN=localhost'],
                   check=True, timeout=60, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def client_ctx():
    """A TLS client context that does not verify the server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http_exchange(addr, request, timeout=10, linger=2):
    """Send raw request bytes; return the response with .body and .closed
    (True if the server closed the connection within `linger` seconds of
    the end of the body), or None if it closed without answering."""
    c = RawWS(addr, timeout)
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
