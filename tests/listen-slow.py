#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode, slow subscribers.  A raw client subscribes to R and never
# reads while a publisher (wspipe publish, states on stdin) sends 5,000
# states of 10 KB (~50 MB) to R:
#  1. at a steady 12.5 MB/s at most, and never more than 5 states ahead of
#     the reading client (on a busy machine it is still one that keeps
#     up): that client gets every state in order, its last within 2 s
#     (x the valgrind factor) of the publisher finishing; the slow
#     client, reading at last, gets states in order ending with the last
#     one (conflation may skip some);
#  2. as one burst (wspipe publish < file, ~0.1 s): no client can follow,
#     so the reading client may be conflated too, but its states come in
#     order and end with the last one within 2 s (x the valgrind factor);
#     likewise the slow one.
# Throughout, the gateway's VmRSS grows by less than 4 MB (ASan's
# quarantine off; skipped under valgrind) and the slow client's
# connection keeps working.

import asyncio
import os
import subprocess
import time

import lib as L

N = 5000
SIZE = 10 * 1024
RATE = 1250.0           # states per second in the paced phase
AHEAD = 5               # states the paced publisher may be ahead
# Measured growth: ~0.4 MB (0.8 MB with ASan, its quarantine off): the
# slow client's queue stops at the 64 KiB flow-control window; with a
# window of 8 MiB it is ~17 MB.
RSS_GROWTH_MB = 4


def state(i):
    head = "%05d " % i
    return head + chr(ord("a") + i % 26) * (SIZE - len(head))


def seq_of(msg, res):
    """The sequence number of `update RES NNNNN ...`, checking the whole
    state; raises ValueError for anything else."""
    pre = "update %s " % res
    if not msg.startswith(pre):
        raise ValueError("not an update of %s: %r" % (res, L.trunc(msg)))
    n = int(msg[len(pre):len(pre) + 5])
    if msg[len(pre):] != state(n):
        raise ValueError("state %d corrupt" % n)
    return n


class Run:
    """One publish of N states to res while fast reads and slow does not;
    records what fast got, when, and the gateway's peak VmRSS."""

    def __init__(self, gw, fast, res):
        self.gw, self.fast, self.res = gw, fast, res
        self.seqs = []
        self.bad = None
        self.last = None
        self.done = None
        self.pub_status = None
        self.pub_err = b""
        self.rss = L.proc_status(gw.pid, "VmRSS")

    async def sampler(self, stop):
        while not stop.is_set():
            try:
                self.rss = max(self.rss, L.proc_status(self.gw.pid, "VmRSS"))
            except (OSError, TypeError):
                pass
            await asyncio.sleep(0.01)

    async def reader(self):
        while True:
            m = await self.fast.ws.recv()
            if foreign(m, self.res):
                continue
            try:
                n = seq_of(m, self.res)
            except ValueError as e:
                self.bad = str(e)
                return
            self.seqs.append(n)
            if n == N - 1:
                self.last = time.monotonic()
                return

    async def go(self, publish, limit):
        stop = asyncio.Event()
        samp = asyncio.ensure_future(self.sampler(stop))
        rd = asyncio.ensure_future(self.reader())
        try:
            await publish(self)
            self.done = time.monotonic()
            try:
                await asyncio.wait_for(asyncio.shield(rd), limit)
            except asyncio.TimeoutError:
                pass
        finally:
            rd.cancel()
            stop.set()
            await samp


def foreign(msg, res):
    """True for an update of another resource (after a broker reconnect,
    the gateway may deliver the current state of an earlier phase's
    resource again)."""
    return msg.startswith("update ") and \
        not msg.startswith("update %s " % res)


def slow_catches_up(slow, res, strict, timeout=20.0):
    """(ok, diag, count): the slow client, reading now, gets updates of res
    in increasing order (strictly, or allowing repeats of a state) ending
    with the last state."""
    seqs = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            op, data = slow.recv_message(max(0.0, deadline - time.monotonic()))
        except L.Timeout:
            return False, "no last state within %.0f s; got %d, last %r" % (
                timeout, len(seqs), seqs[-3:]), len(seqs)
        if op != L.TEXT:
            return False, "got %r %r after %d states" % (
                op, (data or b"")[:40], len(seqs)), len(seqs)
        if foreign(data.decode(), res):
            continue
        try:
            n = seq_of(data.decode(), res)
        except ValueError as e:
            return False, str(e), len(seqs)
        if seqs and (n < seqs[-1] or (strict and n == seqs[-1])):
            return False, "state %d after %d" % (n, seqs[-1]), len(seqs)
        seqs.append(n)
        if n == N - 1:
            return True, None, len(seqs)


def main(t):
    L.asan_without_quarantine()
    with L.Fixture() as fx:
        sock = fx.path("broker.sock")
        gw = fx.gateway(["--listen", "--broker-socket=" + sock])
        L.sync_gateway(fx, gw.port, sock)
        rss0 = L.proc_status(gw.pid, "VmRSS")
        peak = [rss0]

        fast = fx.ws(gw.port, "/", max_queue=None)
        slow = L.Client(gw.port, handshake=True, timeout=3.0)

        def subscribe(res):
            """Subscribe both clients; updates left over from an earlier
            phase are skipped."""
            want = "ok subscribe " + res
            fast.send("subscribe " + res)
            got, found = fast.until(want, 5.0)
            if not found:
                raise RuntimeError("fast subscribe: %r" % [
                    L.trunc(m, 40) for m in got[-3:]])
            slow.send_text("subscribe " + res)
            deadline = time.monotonic() + 10.0
            while True:
                op, data = slow.recv_message(
                    max(0.0, deadline - time.monotonic()))
                if op == L.TEXT and data == want.encode():
                    break
                if op != L.TEXT or not data.startswith(b"update "):
                    raise RuntimeError("slow subscribe answered %r %r" % (
                        op, (data or b"")[:60]))

        # 1. Paced.
        subscribe("/paced")

        async def paced(run):
            proc = await asyncio.create_subprocess_exec(
                L.WSPIPE, "publish", "--socket=" + sock, "/paced",
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            fx.kill_pids.append(proc.pid)
            t0 = time.monotonic()
            i = 0
            while i < N:
                due = min(N, int((time.monotonic() - t0) * RATE) + 1)
                # Never more than AHEAD states ahead of the reader: on a
                # busy machine the reader is then still one that keeps
                # up, which is what this phase is about.
                due = min(due, len(run.seqs) + AHEAD)
                chunk = "".join(state(j) + "\n"
                                for j in range(i, min(due, i + 5)))
                if chunk:
                    proc.stdin.write(chunk.encode())
                    await proc.stdin.drain()
                    i = min(due, i + 5)
                await asyncio.sleep(0.002)
            proc.stdin.close()
            _, run.pub_err = await proc.communicate()
            run.pub_status = proc.returncode

        r1 = Run(gw, fast, "/paced")
        L.arun(r1.go(paced, 10.0), 60)
        peak.append(r1.rss)

        L.point(t, "paced: the publisher (wspipe publish, 5000 x 10 KB on "
                "stdin at 12.5 MB/s) exits 0",
                lambda: (r1.pub_status == 0, r1.pub_err))

        def p_every():
            if r1.bad:
                return False, r1.bad
            if r1.seqs == list(range(N)):
                return True, None
            for i, n in enumerate(r1.seqs):
                if n != i:
                    return False, "message %d is state %d (%d came)" % (
                        i, n, len(r1.seqs))
            return False, "only %d of %d came" % (len(r1.seqs), N)
        L.point(t, "paced: the reading client got every state, in order "
                "(not slowed by the client that does not read)", p_every)

        def p_prompt(r):
            def fn():
                if r.last is None:
                    return False, "the last state never came"
                lag = r.last - r.done
                return lag <= 2.0 * L.SLOW, "last state %.2f s after the " \
                    "publisher finished" % lag
            return fn
        L.point(t, "paced: the reading client's last state came within 2 s "
                "(x the valgrind factor) "
                "of the publisher finishing", p_prompt(r1))

        ok, why, count = slow_catches_up(slow, "/paced", True)
        t.diag("paced: the slow client got %d of %d states" % (count, N))
        t.ok(ok, "paced: the slow client, reading at last, gets states in "
             "order ending with the last published", why)

        # 2. One burst.
        path = fx.path("states.txt")
        with open(path, "w") as f:
            for i in range(N):
                f.write(state(i) + "\n")
        subscribe("/burst")

        async def burst(run):
            with open(path, "rb") as f:
                proc = await asyncio.create_subprocess_exec(
                    L.WSPIPE, "publish", "--socket=" + sock, "/burst",
                    stdin=f, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE)
            fx.kill_pids.append(proc.pid)
            _, run.pub_err = await proc.communicate()
            run.pub_status = proc.returncode

        r2 = Run(gw, fast, "/burst")
        L.arun(r2.go(burst, 10.0), 60)
        peak.append(r2.rss)

        L.point(t, "burst: the publisher (wspipe publish < 50 MB file) "
                "exits 0", lambda: (r2.pub_status == 0, r2.pub_err))

        def p_burst_order():
            if r2.bad:
                return False, r2.bad
            bad = [(a, b) for a, b in zip(r2.seqs, r2.seqs[1:]) if b < a]
            return not bad, "out of order: %r" % bad[:3]
        L.point(t, "burst: the reading client's states come in order "
                "(a state may repeat after a broker reconnect)",
                p_burst_order)
        t.diag("burst: the reading client got %d of %d states, last %r" % (
            len(r2.seqs), N, r2.seqs[-1:]))
        L.point(t, "burst: the reading client's last state is the last "
                "published and came within 2 s (x the valgrind factor) of the "
                "publisher finishing",
                lambda: (p_prompt(r2)()[0], "%s; gateway log:\n%s" % (
                    p_prompt(r2)()[1], gw.logtail(8))))

        ok, why, count = slow_catches_up(slow, "/burst", False)
        t.diag("burst: the slow client got %d of %d states" % (count, N))
        t.ok(ok, "burst: the slow client, reading at last, gets states in "
             "order ending with the last published (a state may repeat "
             "after a broker reconnect)", why)

        t.diag("gateway VmRSS %d kB at start, peak %d kB (paced %d kB, "
               "burst %d kB)" % (rss0, max(peak), r1.rss, r2.rss))
        if os.environ.get("WSPIPE_VALGRIND"):
            t.skip("gateway VmRSS growth under %d MB" % RSS_GROWTH_MB,
                   "under valgrind")
        else:
            growth = (max(peak) - rss0) / 1024.0
            t.ok(growth < RSS_GROWTH_MB, "gateway VmRSS growth under %d MB "
                 "while a client does not read (%.1f MB)" % (RSS_GROWTH_MB,
                                                             growth),
                 "from %d kB to %d kB" % (rss0, max(peak)))

        def p_slow_usable():
            slow.send_text("ping")
            deadline = time.monotonic() + 3.0
            while True:
                op, data = slow.recv_message(
                    max(0.0, deadline - time.monotonic()))
                if op == L.TEXT and data.startswith(b"update "):
                    continue
                return data == b"pong", "got %r %r" % (op, (data or b"")[:60])
        L.point(t, "the slow client's connection still works (ping -> "
                "pong)", p_slow_usable)
        slow.close()
        L.point(t, "the gateway is still running",
                lambda: (gw.alive(), gw.logtail()))


if __name__ == "__main__":
    L.run(main, 170)
