#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A raw-socket WebSocket client and test harness for the conformance and
# fault tests: TAP output, a gateway started on a free 127.0.0.1 port and
# always cleaned up, frames built with any header bits, opcode, length
# encoding and masking, and frames read back with a deadline, noting
# everything a strict client must check (mask bit, RSV bits, minimal
# length).  Nothing here sleeps to synchronise: every wait polls a deadline.
#

import atexit
import base64
import collections
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

WSPIPE = os.environ.get("WSPIPE", "/work/main/src/wspipe")
TESTCHILD = os.environ.get("TESTCHILD", "/work/main/tests/testchild")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10

Frame = collections.namedtuple(
    "Frame", "fin rsv opcode masked payload minimal")


class Timeout(Exception):
    pass


class ScriptTimeout(Exception):
    pass


# TAP

class Tap:
    """TAP producer: ok()/not ok lines with diagnostics, plan at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        print("TAP version 13", flush=True)

    def ok(self, cond, name, diag=None):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name))
        if not cond and diag:
            for line in str(diag).splitlines():
                print("#   " + line)
        sys.stdout.flush()
        return cond

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line)
        sys.stdout.flush()

    def done(self):
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


def run(main, limit):
    """Run main(tap) under signal.alarm(limit); report a crash as a failure."""
    def onalarm(sig, frame):
        raise ScriptTimeout("script exceeded %d s" % limit)

    signal.signal(signal.SIGALRM, onalarm)
    signal.alarm(limit)
    t = Tap()
    try:
        main(t)
    except BaseException:
        t.ok(False, "script completes without exception",
             traceback.format_exc())
    finally:
        signal.alarm(0)
    sys.exit(t.done())


def point(t, name, fn):
    """One test point whose body may raise: an exception fails the point."""
    try:
        res = fn()
    except ScriptTimeout:
        raise
    except Exception:
        return t.ok(False, name, traceback.format_exc())
    if isinstance(res, tuple):
        return t.ok(res[0], name, res[1])
    return t.ok(bool(res), name)


# Processes

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def testchild():
    """Path of the testchild helper, compiled from tests/testchild.c if
    make has not built it."""
    if os.access(TESTCHILD, os.X_OK):
        return TESTCHILD
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "testchild.c")
    tmp = tempfile.mkdtemp(prefix="wspipe-test")
    out = os.path.join(tmp, "testchild")
    atexit.register(shutil.rmtree, tmp, True)
    subprocess.run(["cc", "-O2", "-o", out, src], check=True, timeout=60)
    return out


def children_of(pid):
    """PIDs of the processes whose parent is pid, and which are zombies."""
    kids, zombies = [], []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(d))
            if fields[0] == "Z":
                zombies.append(int(d))
    return kids, zombies


def proc_status(pid, key):
    """A numeric field of /proc/PID/status (VmRSS in kB, ...)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def proc_cputime(pid):
    """utime+stime of pid, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sanitized():
    """True if the gateway is built with AddressSanitizer, whose shadow
    memory and quarantine make VmRSS meaningless, or runs under valgrind
    (make check-valgrind), which does the same and keeps fds of its own."""
    if os.environ.get("WSPIPE_VALGRIND"):
        return True
    try:
        with open(WSPIPE, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def asan_without_quarantine():
    """Under AddressSanitizer, freed memory waits in a 256 MB quarantine,
    which is not the gateway's own growth: turn it off for the gateways
    this script starts (they inherit os.environ), so VmRSS means what it
    says.  Harmless without ASan."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    os.environ["ASAN_OPTIONS"] = (opts + ":" if opts else "") + \
        "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Gateway:
    """A wspipe on a free 127.0.0.1 port; use as a context manager."""

    def __init__(self, args, command, preexec_fn=None, ready=5.0):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        self.argv = [WSPIPE, "--port=%d" % self.port,
                     "--address=127.0.0.1"] + list(args) + list(command)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     preexec_fn=preexec_fn)
        self.pid = self.proc.pid
        deadline = time.monotonic() + ready
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited %d at start-up:\n%s" %
                                   (self.proc.returncode, self.logtail()))
            try:
                s = socket.create_connection(("127.0.0.1", self.port), 0.5)
                s.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("gateway not listening on %d" %
                                       self.port)
                time.sleep(0.02)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def alive(self):
        return self.proc.poll() is None

    def logtail(self, n=15):
        try:
            self.log.seek(0)
            lines = self.log.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except (OSError, ValueError):
            return ""

    def client(self, **kw):
        return Client(self.port, **kw)

    def stop(self):
        """SIGTERM, then SIGKILL; kill any program left behind by PID."""
        if self.proc.poll() is None:
            kids, _ = children_of(self.pid)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            for k in kids:
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass


# Frames

def mask_bytes(payload, key):
    n = len(payload)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^
            int.from_bytes(k, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, key=None,
          length=None, lenform="min", header_only=False):
    """Bytes of one frame.  rsv is the 3-bit RSV field (4 = RSV1);
    length overrides the advertised payload length; lenform forces the
    7, 16 or 64-bit length encoding; header_only leaves out the payload."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 15)
    mbit = 0x80 if mask else 0
    if lenform == "min":
        lenform = 7 if n < 126 else 16 if n < 65536 else 64
    if lenform == 7:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif lenform == 16:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = os.urandom(4) if key is None else key
        hdr += key
        payload = mask_bytes(payload, key)
    return hdr if header_only else hdr + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def accept_for(key):
    digest = hashlib.sha1(key.encode() + GUID).digest()
    return base64.b64encode(digest).decode()


def request(port, key, path="/", extra=()):
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port,
             "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def describe(fr):
    if fr is None:
        return "TCP EOF"
    if fr.opcode == CLOSE and len(fr.payload) >= 2:
        return "close %d %r" % (struct.unpack("!H", fr.payload[:2])[0],
                                fr.payload[2:60])
    p = fr.payload
    return "frame op=%d fin=%d rsv=%d masked=%d len=%d %r%s" % (
        fr.opcode, fr.fin, fr.rsv, fr.masked, len(p), p[:40],
        "..." if len(p) > 40 else "")


class Client:
    """A raw WebSocket client connection to 127.0.0.1:port.

    handshake=True sends a valid upgrade (plus extra bytes in the same
    write) and checks for 101; otherwise only the TCP connection is made."""

    def __init__(self, port, handshake=True, extra=b"", headers=(),
                 timeout=3.0, path="/"):
        self.port = port
        self.buf = bytearray()
        self.eof = False
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.status = None
        self.headers = {}
        self.key = base64.b64encode(os.urandom(16)).decode()
        if handshake:
            try:
                self.sock.sendall(request(port, self.key, path, headers) +
                                  extra)
                self.read_response(timeout)
                if self.status != 101:
                    raise RuntimeError("handshake answered %r" %
                                       self.status_line)
            except BaseException:
                self.close()
                raise

    def read_response(self, timeout=3.0):
        """Read an HTTP answer head; bytes after it stay in self.buf."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill_some(deadline):
                raise RuntimeError("EOF before the HTTP answer: %r" %
                                   bytes(self.buf))
        i = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:i]).decode("latin-1")
        del self.buf[:i + 4]
        lines = head.split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        return self.status

    def _fill_some(self, deadline):
        """Receive once; False at EOF, Timeout past the deadline."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(262144)
        except socket.timeout:
            raise Timeout()
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _need(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill_some(deadline):
                return False
        return True

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.send(frame(opcode, payload, **kw))

    def send_text(self, text):
        self.send_frame(TEXT, text)

    def send_close(self, code=None, reason=b""):
        self.send_frame(CLOSE, close_payload(code, reason))

    def recv_frame(self, timeout=2.0):
        """The next frame, None at EOF (also mid-frame); Timeout."""
        deadline = time.monotonic() + timeout
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
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
            minimal = n >= 126
        elif n == 127:
            if not self._need(10, deadline):
                return None
            n = struct.unpack("!Q", self.buf[2:10])[0]
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
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 15, masked,
                     payload, minimal)

    def recv_message(self, timeout=2.0, frames=None):
        """(opcode, payload) of the next data message, reassembled; control
        frames in between are appended to frames (if given).  A close or
        EOF returns ('close', frame) / (None, None)."""
        deadline = time.monotonic() + timeout
        op, parts = None, []
        while True:
            fr = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if fr is None:
                return None, None
            if frames is not None:
                frames.append(fr)
            if fr.opcode == CLOSE:
                return "close", fr
            if fr.opcode >= 8:
                continue
            if op is None:
                op = fr.opcode
            parts.append(fr.payload)
            if fr.fin:
                return op, b"".join(parts)

    def expect_close(self, code, timeout=2.0):
        """(True, None) if the next frame is a close with code (an int, or
        None for an empty close payload); else (False, what came)."""
        try:
            fr = self.recv_frame(timeout)
        except Timeout:
            return False, "nothing within %.1f s" % timeout
        if fr is None:
            return False, "TCP EOF without a close frame"
        if fr.opcode != CLOSE:
            return False, "expected close %s, got %s" % (code, describe(fr))
        got = struct.unpack("!H", fr.payload[:2])[0] \
            if len(fr.payload) >= 2 else None
        if got != code:
            return False, "expected close %s, got %s" % (code, describe(fr))
        return True, None

    def wait_eof(self, timeout):
        """True if the server closes TCP within timeout; frames are
        discarded into self.after."""
        deadline = time.monotonic() + timeout
        self.after = []
        try:
            while True:
                fr = self.recv_frame(max(0.0, deadline - time.monotonic()))
                if fr is None:
                    return True
                self.after.append(fr)
        except Timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def echo_ok(port, text="ping-echo", timeout=3.0):
    """(ok, diag): a fresh client gets text echoed as one text message."""
    try:
        c = Client(port, timeout=timeout)
    except Exception as e:
        return False, "connect/handshake: %s" % e
    try:
        c.send_text(text)
        op, data = c.recv_message(timeout)
        if op != TEXT or data != text.encode():
            return False, "sent %r, got %r %r" % (text, op, data)
        c.send_close(1000)
        return True, None
    except Timeout:
        return False, "no echo within %.1f s" % timeout
    finally:
        c.close()


def check_close(gw, frames, code, timeout=2.0, raw=b""):
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
            gop, data = c.recv_message(timeout, seen)
        except Timeout:
            return False, "nothing within %.1f s" % timeout
        if gop != op or data != want:
            return False, "want op %d %r..., got %s" % (
                op, want[:40], "; ".join(describe(f) for f in seen[:5]))
        if any(f.opcode >= 8 for f in seen):
            return False, "control frame before the echo: %s" % (
                "; ".join(describe(f) for f in seen[:5]))
        return True, None
    finally:
        c.close()
