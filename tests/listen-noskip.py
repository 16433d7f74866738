#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode: ids let a subscriber tell every state it got from states
# it missed, and states are skipped only for a subscriber that is behind.
#  1. 1,000 raw WebSocket clients `subscribe /noskip current` and keep
#     reading (one poll loop over all sockets) while a script publishes
#     300 states of 400 bytes on the broker's socket in one write (~130 KB
#     for each client, twice the 64 KiB the gateway queues for a client
#     before it skips states for it):
#     every client gets exactly the 300 states, in order, the payloads as
#     published, with ids of one epoch whose SEQs grow by exactly one, no
#     `gap` line, and nothing more queued behind them (a `ping` is
#     answered next by `pong`);
#  2. the same with two CPU hogs (`yes`, killed by PID after) running, on
#     a fresh resource and 1,000 fresh clients;
#     (under valgrind: 200 clients and 100 states each time)
#  3. a client with a 4 KiB receive buffer `subscribe /slow current` and
#     stops reading while a script publishes S states of 1 KiB (in batches
#     of 500, each sent once the reading client has the one before the
#     last) and a second, reading client on /slow gets all S with
#     contiguous ids and no gap; then the script publishes S states to
#     /slow2 at once, a pong saying the broker took them all.  S is
#     3,000, or twice what the kernel may buffer for the client that
#     does not read (the gateway's socket's send buffer autotunes up to
#     tcp_wmem's maximum: 4 MiB takes ~2,900 states, so S is ~8,300);
#  4. the slow client, reading at last, gets at least one `gap /slow
#     behind`, SEQs strictly increasing, every jump right after a `gap`
#     line, fewer than S updates, and its last is the newest state;
#  5. a client that subscribes without ids (`subscribe /slow2`) and falls
#     behind the same way (on /slow2) gets no `gap` line and no ids,
#     states in publishing order, fewer than S, the last the newest;
#  6. the gateway's VmRSS grows by less than 16 MiB while the two slow
#     clients do not read (ASan's quarantine off; skipped under valgrind);
#  7. the gateway is still running.

import os
import select
import subprocess
import threading
import time

import lib as L

if L.SLOW > 1:
    CLIENTS, STATES = 200, 100
else:
    CLIENTS, STATES = 1000, 300
SIZE = 400                      # bytes of a state in points 1-2
SLOW_SIZE = 1024
BATCH = 500                     # states the script sends at once in 3


def slow_states():
    """(S, tcp_wmem's maximum): S is 3,000, or more where the kernel may
    buffer more than half of that for the client that does not read: the
    gateway's socket to it has an autotuned send buffer of up to
    tcp_wmem's maximum (4 MiB here, ~2,900 states), all taken before the
    gateway's own queue grows."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem = 4 << 20
    return max(3000, -(-2 * (wmem + 64 * 1024) // SLOW_SIZE)), wmem


SLOW_STATES, WMEM_MAX = slow_states()
RSS_GROWTH_KIB = 16 * 1024


def payload(tag, i, size):
    head = "%s-%05d-" % (tag, i)
    return head + chr(ord("a") + i % 26) * (size - len(head))


# ------------------------------------------------------------ the reader

class FrameError(Exception):
    pass


def frames(buf):
    """The complete server frames at the head of buf (a bytearray), which
    loses them: a list of (first byte, payload bytes).  A masked frame is
    a FrameError."""
    out = []
    off = 0
    n = len(buf)
    while n - off >= 2:
        b1 = buf[off + 1]
        if b1 & 0x80:
            raise FrameError("masked server frame")
        ln = b1 & 0x7f
        h = 2
        if ln == 126:
            if n - off < 4:
                break
            ln = (buf[off + 2] << 8) | buf[off + 3]
            h = 4
        elif ln == 127:
            if n - off < 10:
                break
            ln = int.from_bytes(buf[off + 2:off + 10], "big")
            h = 10
        if n - off < h + ln:
            break
        out.append((buf[off], bytes(buf[off + h:off + h + ln])))
        off += h + ln
    if off:
        del buf[:off]
    return out


def parse_id(idb):
    """(epoch, seq) of an id EPOCH-SEQ (lower-case hex, decimal); raises
    ValueError."""
    epoch, dash, seq = idb.partition(b"-")
    if not dash or not epoch or not seq or \
            epoch.strip(b"0123456789abcdef") or not seq.isdigit():
        raise ValueError("malformed id %r" % idb)
    return epoch, int(seq)


class Check:
    """What one subscriber that asked for ids must get: `ok subscribe R`,
    then exactly the states of want (a list of bytes), in order, with one
    epoch and SEQs growing by one, no `gap`; then (after ping()) `pong`.
    feed() takes each message; bad holds the first fault."""

    def __init__(self, res, want):
        self.ok_line = b"ok subscribe " + res
        self.pre = b"update " + res + b" "
        self.want = want
        self.phase = "ok"       # ok, updates, pong, done
        self.n = 0
        self.epoch = None
        self.seq = None
        self.bad = None

    def fail(self, why):
        if self.bad is None:
            self.bad = why

    def feed(self, m):
        if self.bad is not None:
            return
        if self.phase == "ok":
            if m != self.ok_line:
                return self.fail("wanted %r first, got %r" % (
                    self.ok_line, m[:80]))
            self.phase = "updates"
        elif self.phase == "updates":
            if m.startswith(b"gap "):
                return self.fail("%r after %d updates" % (m[:80], self.n))
            if not m.startswith(self.pre):
                return self.fail("update %d: got %r" % (self.n, m[:80]))
            idb, sp, data = m[len(self.pre):].partition(b" ")
            if not sp:
                return self.fail("update %d without id: %r" % (self.n,
                                                               m[:80]))
            try:
                epoch, seq = parse_id(idb)
            except ValueError as e:
                return self.fail("update %d: %s" % (self.n, e))
            if self.n and (epoch != self.epoch or seq != self.seq + 1):
                return self.fail("update %d has id %s after %s-%d" % (
                    self.n, idb.decode(), self.epoch.decode(), self.seq))
            if data != self.want[self.n]:
                return self.fail("update %d (id %s): payload %r, wanted "
                                 "%r" % (self.n, idb.decode(), data[:30],
                                         self.want[self.n][:30]))
            self.epoch, self.seq = epoch, seq
            self.n += 1
            if self.n == len(self.want):
                self.phase = "pong"
        elif self.phase == "pong":
            # The ping went once the last state came: whatever the
            # gateway had queued comes before the pong.
            if m != b"pong":
                return self.fail("after all %d states: %r" % (self.n,
                                                              m[:80]))
            self.phase = "done"
        else:
            self.fail("after pong: %r" % m[:80])

    def waiting_ping(self):
        return self.phase == "pong"

    def finished(self):
        return self.bad is not None or self.phase == "done"


class Sub:
    """A raw client read through the poll loop, its messages fed to
    check."""

    def __init__(self, port, res, check, rcvbuf=None, ids=True):
        self.c = L.Client(port, handshake=True, rcvbuf=rcvbuf)
        self.sock = self.c.sock
        self.buf = self.c.buf
        self.check = check
        self.pinged = False
        self.c.send_text("subscribe %s%s" % (res, " current" if ids else ""))

    def close(self):
        self.c.close()


def pump(subs, until, deadline, on_tick=None):
    """Reads every sub's socket (non-blocking, one poll over all) and
    feeds its messages to its check, until until() or the deadline:
    whether until() held.  A sub whose check wants the pong gets its
    ping."""
    by_fd = {}
    p = select.poll()
    for s in subs:
        s.sock.setblocking(False)
        by_fd[s.sock.fileno()] = s
        p.register(s.sock.fileno(), select.POLLIN)
        # Frames that came with the 101.
        for b0, data in frames(s.buf):
            deliver(s, b0, data)
    live = set(by_fd)
    for fd in list(live):
        if by_fd[fd].check.finished():
            p.unregister(fd)
            live.discard(fd)
    while True:
        if until():
            return True
        left = deadline - time.monotonic()
        if left <= 0 or not live:
            return until()
        for fd, ev in p.poll(min(left, 0.05) * 1000):
            s = by_fd[fd]
            try:
                data = s.sock.recv(1 << 18)
            except BlockingIOError:
                continue
            except OSError as e:
                s.check.fail("recv: %s" % e)
                data = None
            if not data:
                if data is not None:
                    s.check.fail("EOF")
            else:
                s.buf += data
                try:
                    for b0, payload in frames(s.buf):
                        deliver(s, b0, payload)
                except FrameError as e:
                    s.check.fail(str(e))
            if s.check.waiting_ping() and not s.pinged:
                s.pinged = True
                s.sock.send(L.frame(L.TEXT, b"ping"))
            if s.check.finished():
                p.unregister(fd)
                live.discard(fd)
        if on_tick:
            on_tick()


def deliver(s, b0, data):
    if b0 != 0x80 | L.TEXT:
        s.check.fail("frame 0x%02x %r (wanted one final text frame)" % (
            b0, data[:60]))
    else:
        s.check.feed(data)


class Publisher(threading.Thread):
    """A script on the broker's socket: all its publish lines in one
    write, then ping; done when the pong came (every publish taken)."""

    def __init__(self, sock, res, states, timeout):
        threading.Thread.__init__(self, daemon=True)
        self.conn = L.LineConn(sock, timeout)
        self.data = b"".join(b"publish " + res + b" " + s + b"\n"
                             for s in states)
        self.timeout = timeout
        self.answers = None
        self.error = None
        self.elapsed = None

    def run(self):
        t0 = time.monotonic()
        try:
            self.conn.send_raw(self.data)
            self.answers = self.conn.lines_until_pong(self.timeout)
        except BaseException as e:
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            self.elapsed = time.monotonic() - t0
            self.conn.close()

    def result(self):
        """(ok, diag): every publish was taken without a word."""
        self.join(self.timeout + 5)
        if self.is_alive():
            return False, "the publisher is still writing"
        if self.error:
            return False, "publisher: " + self.error
        if self.answers:
            return False, "the broker answered %r" % self.answers[:3]
        return True, None


def summary(subs):
    bad = [(i, s.check.bad) for i, s in enumerate(subs) if s.check.bad]
    short = [(i, s.check.phase, s.check.n) for i, s in enumerate(subs)
             if not s.check.bad and s.check.phase != "done"]
    return bad, short


def fan_out(fx, gw, sock, res, tag):
    """Point 1 (or 2): (ok, diag)."""
    want = [payload(tag, i, SIZE).encode() for i in range(STATES)]
    subs = []
    try:
        t0 = time.monotonic()
        for _ in range(CLIENTS):
            subs.append(Sub(gw.port, res, Check(res.encode(), want)))
        if not pump(subs, lambda: all(s.check.phase != "ok" or
                                      s.check.bad for s in subs),
                    time.monotonic() + 30 * L.SLOW):
            bad, short = summary(subs)
            return False, "subscribing: %d bad %r, %d without ok" % (
                len(bad), bad[:3], len(short))
        bad, _ = summary(subs)
        if bad:
            return False, "subscribing: %d bad %r" % (len(bad), bad[:3])
        t1 = time.monotonic()
        pub = Publisher(sock, res.encode(), want, 30.0 * L.SLOW)
        pub.start()
        done = pump(subs, lambda: all(s.check.finished() for s in subs),
                    time.monotonic() + 90 * L.SLOW)
        t2 = time.monotonic()
        ok, why = pub.result()
        if not ok:
            return False, why
        bad, short = summary(subs)
        diag = "%d clients x %d states of %d bytes: connected and " \
            "subscribed in %.1f s, delivered in %.1f s (publisher done " \
            "after %.1f s)" % (CLIENTS, STATES, SIZE, t1 - t0, t2 - t1,
                               pub.elapsed)
        if L.SLOW > 1:
            diag += "; fewer clients and states under valgrind"
        if bad or short or not done:
            return False, "%s\n%d clients failed, e.g. %r\n%d unfinished, " \
                "e.g. %r" % (diag, len(bad), bad[:3], len(short), short[:3])
        return True, diag
    finally:
        for s in subs:
            s.close()


def hogs(fx, n=2):
    return [fx.spawn(["yes"], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL) for _ in range(n)]


def kill_hogs(ps):
    for p in ps:
        p.kill()        # by its PID
        p.wait(5)


# ------------------------------------------------------------ slow ones

def read_behind(c, res, last, ids, timeout):
    """Messages of raw client c until `update res ... last` (the newest
    state), then a ping that must be answered next: (list of bytes,
    fault or None)."""
    out = []
    deadline = time.monotonic() + timeout
    tail = b" " + last if ids else b"update " + res + b" " + last
    while True:
        try:
            m = c.recv_message(max(0.0, deadline - time.monotonic()))
        except L.Timeout:
            return out, "the newest state never came (%d messages, last " \
                "%r)" % (len(out), out[-1][:60] if out else None)
        if not m:
            return out, "EOF after %d messages" % len(out)
        if m[0] != L.TEXT:
            return out, "opcode %d %r" % (m[0], m[1][:60])
        out.append(m[1])
        if m[1].startswith(b"update " + res + b" ") and m[1].endswith(tail):
            break
    c.send_text("ping")
    try:
        m = c.recv_message(5.0 * L.SLOW)
    except L.Timeout:
        return out, "no pong after the newest state"
    if m != (L.TEXT, b"pong"):
        return out, "after the newest state: %r" % (m,)
    return out, None


def check_behind(msgs, res, want, last_id):
    """Point 4 on the messages of the slow client that asked for ids:
    (ok, diag)."""
    pre = b"update " + res + b" "
    gap = b"gap " + res + b" behind"
    index = {s: i for i, s in enumerate(want)}
    gaps = 0
    prev = None         # (epoch, seq, state index) of the last update
    after_gap = False
    n = 0
    for k, m in enumerate(msgs):
        if m == gap:
            gaps += 1
            after_gap = True
            continue
        if not m.startswith(pre):
            return False, "message %d: %r" % (k, m[:80])
        idb, sp, data = m[len(pre):].partition(b" ")
        try:
            epoch, seq = parse_id(idb)
        except ValueError as e:
            return False, "message %d: %s" % (k, e)
        if data not in index:
            return False, "message %d: payload %r not published" % (
                k, data[:30])
        i = index[data]
        if prev is not None:
            if epoch != prev[0] or seq <= prev[1]:
                return False, "message %d: id %s after %s-%d" % (
                    k, idb.decode(), prev[0].decode(), prev[1])
            if seq - prev[1] != i - prev[2]:
                return False, "message %d: id %s is state %d, but id " \
                    "%d was state %d" % (k, idb.decode(), i, prev[1],
                                         prev[2])
            if seq != prev[1] + 1 and not after_gap:
                return False, "message %d: id %s jumps from %d without " \
                    "a gap line" % (k, idb.decode(), prev[1])
        prev = (epoch, seq, i)
        after_gap = False
        n += 1
    diag = "%d updates, %d gap lines" % (n, gaps)
    if prev is None:
        return False, "no update at all"
    if gaps == 0:
        return False, diag + "; no `gap %s behind`" % res.decode()
    if n >= len(want):
        return False, diag + "; it never fell behind"
    if prev[2] != len(want) - 1 or \
            b"%s-%d" % (prev[0], prev[1]) != last_id:
        return False, diag + "; the last is state %d (id %s-%d), the " \
            "newest %d (%s)" % (prev[2], prev[0].decode(), prev[1],
                                len(want) - 1, last_id.decode())
    return True, diag


def check_plain(msgs, res, want):
    """Point 5 on the messages of the slow client without ids."""
    pre = b"update " + res + b" "
    index = {s: i for i, s in enumerate(want)}
    last = -1
    for k, m in enumerate(msgs):
        if m.startswith(b"gap "):
            return False, "message %d: %r" % (k, m)
        if not m.startswith(pre):
            return False, "message %d: %r" % (k, m[:80])
        data = m[len(pre):]
        if data not in index:
            return False, "message %d: %r is no published state (an id?)" \
                % (k, data[:40])
        if index[data] <= last:
            return False, "message %d: state %d after %d" % (
                k, index[data], last)
        last = index[data]
    diag = "%d updates" % len(msgs)
    if len(msgs) >= len(want):
        return False, diag + "; it never fell behind"
    if last != len(want) - 1:
        return False, diag + "; the last is state %d" % last
    return True, diag


def slow_client(port, res, ids):
    """A raw client with a 4 KiB receive buffer subscribed to res (it has
    had its `ok subscribe`), which then reads no more."""
    c = L.Client(port, handshake=True, rcvbuf=4096)
    c.send_text("subscribe %s%s" % (res.decode(), " current" if ids else ""))
    m = c.recv_message(10.0)
    if m != (L.TEXT, b"ok subscribe " + res):
        c.close()
        raise RuntimeError("subscribe %s answered %r" % (res.decode(), m))
    return c


# ------------------------------------------------------------ main

def main(t):
    L.asan_without_quarantine()
    with L.Fixture("wspipe-noskip") as fx:
        sock = fx.path("broker.sock")
        # No keepalive pings: the slow clients do not read, and the raw
        # clients take only text frames.
        gw = fx.gateway(["--listen", "--broker-socket=" + sock,
                         "--ping-interval=0",
                         # Room for the first 1,000 while the gateway
                         # may not yet have seen them close.
                         "--listen-max-per-address=%d" % (2 * CLIENTS +
                                                          50)])
        L.sync_gateway(fx, gw.port, sock)

        L.point(t, "%d clients subscribed with ids and reading while a "
                "script publishes %d states at once each get every state "
                "in order, SEQs contiguous, no gap" % (CLIENTS, STATES),
                lambda: pr(t, fan_out(fx, gw, sock, "/noskip", "a")))

        def p_fan_loaded():
            ps = hogs(fx)
            try:
                ok, why = fan_out(fx, gw, sock, "/noskip-loaded", "b")
            finally:
                kill_hogs(ps)
            return ok, why
        L.point(t, "the same on a loaded machine (two CPU hogs running)",
                lambda: pr(t, p_fan_loaded()))

        # 3-6. Subscribers that are behind.
        if SLOW_STATES != 3000:
            t.diag("%d states for the slow clients, not 3000: the kernel "
                   "may buffer up to %d KiB for each (tcp_wmem)" % (
                       SLOW_STATES, WMEM_MAX // 1024))
        rss0 = L.rss_kib(gw.pid)
        peak = [rss0]

        last_sample = [0.0]

        def sample():
            now = time.monotonic()
            if now - last_sample[0] >= 0.02:
                last_sample[0] = now
                peak.append(L.rss_kib(gw.pid))

        slow = slow_client(gw.port, b"/slow", True)
        plain = slow_client(gw.port, b"/slow2", False)
        want = [payload("s", i, SLOW_SIZE).encode()
                for i in range(SLOW_STATES)]
        want2 = [payload("p", i, SLOW_SIZE).encode()
                 for i in range(SLOW_STATES)]
        fast = Sub(gw.port, "/slow", Check(b"/slow", want))
        box = {}

        def p_fast():
            # In batches, each sent once the reading client has the one
            # before the last: the broker's queue to a gateway slowed
            # down (valgrind, a loaded machine) stays far from the 4 MiB
            # past which it would skip states for the whole gateway.
            conn = L.LineConn(sock, 30.0 * L.SLOW)
            lines = [b"publish /slow " + x + b"\n" for x in want]
            sent = [0]

            def tick():
                sample()
                if sent[0] < len(lines) and \
                        fast.check.n >= sent[0] - BATCH:
                    k = min(len(lines), sent[0] + BATCH)
                    conn.send_raw(b"".join(lines[sent[0]:k]))
                    sent[0] = k
            try:
                tick()
                done = pump([fast], lambda: fast.check.finished(),
                            time.monotonic() + 60 * L.SLOW, tick)
                answers = conn.lines_until_pong(30.0 * L.SLOW)
            finally:
                conn.close()
            if answers:
                return False, "the broker answered %r" % answers[:3]
            if fast.check.bad or not done:
                return False, "the reading client: %s (%d states came, " \
                    "%d sent)" % (fast.check.bad or "unfinished",
                                  fast.check.n, sent[0])
            box["last_id"] = b"%s-%d" % (fast.check.epoch, fast.check.seq)
            # /slow2 too, while neither slow client reads.
            pub2 = Publisher(sock, b"/slow2", want2, 30.0 * L.SLOW)
            pub2.start()
            pub2.join(35.0 * L.SLOW)
            sample()
            ok, why = pub2.result()
            return ok, "/slow2: %s" % why if why else None
        L.point(t, "a client on /slow that does not read (4 KiB receive "
                "buffer) does not hold up a reading one: it gets all %d "
                "states of %d bytes (published in batches as it reads), "
                "in order, SEQs contiguous, no gap (then /slow2 takes %d "
                "states at once)" % (SLOW_STATES, SLOW_SIZE, SLOW_STATES),
                p_fast)

        def p_slow():
            if "last_id" not in box:
                return False, "no newest id known (the point before failed)"
            msgs, why = read_behind(slow, b"/slow", want[-1], True,
                                    30.0 * L.SLOW)
            if why:
                return False, why
            return check_behind(msgs, b"/slow", want, box["last_id"])
        L.point(t, "the client that fell behind, reading at last, gets "
                "`gap /slow behind`, then only newer states (SEQs strictly "
                "increasing, each jump right after a gap line), fewer than "
                "%d, the last the newest" % SLOW_STATES,
                lambda: pr(t, p_slow()))

        def p_plain():
            msgs, why = read_behind(plain, b"/slow2", want2[-1], False,
                                    30.0 * L.SLOW)
            if why:
                return False, why
            return check_plain(msgs, b"/slow2", want2)
        L.point(t, "a client that subscribed without ids and fell behind "
                "gets no gap line and no ids, states in order, fewer than "
                "%d, the last the newest" % SLOW_STATES,
                lambda: pr(t, p_plain()))
        fast.close()
        slow.close()
        plain.close()

        t.diag("gateway VmRSS %d KiB before the slow clients, peak %d KiB"
               % (rss0, max(peak)))
        if os.environ.get("WSPIPE_VALGRIND"):
            t.skip("the gateway's VmRSS grows by less than 16 MiB while "
                   "two clients do not read", "under valgrind")
        else:
            growth = max(peak) - rss0
            t.ok(growth < RSS_GROWTH_KIB, "the gateway's VmRSS grows by "
                 "less than 16 MiB while two clients do not read (%.1f MiB)"
                 % (growth / 1024.0), "from %d KiB to %d KiB" % (
                     rss0, max(peak)))

        L.point(t, "the gateway is still running",
                lambda: (gw.alive(), gw.logtail()))


def pr(t, res):
    """A passing point's diag is worth seeing too."""
    ok, why = res
    if ok and why:
        t.diag(why)
    return ok, why


if __name__ == "__main__":
    L.run(main, 300)
