#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode under many clients: 500 WebSocket clients subscribe to one
# resource; one publish reaches all 500 within 2 s; after they all
# disconnect the gateway's fd count returns to its baseline and its
# broker (a child of the gateway) is still the same process.

import asyncio
import time

import websockets

import lib as L

N = 500


def main(t):
    with L.Fixture() as fx:
        sock = fx.path("broker.sock")
        gw = fx.gateway(["--listen", "--broker-socket=" + sock,
                         "--listen-max-per-address=%d" % (N + 10)])
        L.sync_gateway(fx, gw.port, sock)
        brokers = L.broker_children(gw.pid)
        # Baseline: the lowest count over half a second, once the
        # readiness client's socket is surely closed.
        base = L.fd_count(gw.pid)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.5:
            base = min(base, L.fd_count(gw.pid))
            time.sleep(0.01)
        t.diag("baseline: %d fds" % base)
        url = "ws://127.0.0.1:%d/" % gw.port
        conns = []

        async def one():
            ws = await websockets.connect(url, ping_interval=None,
                                          close_timeout=1, compression=None)
            conns.append(ws)
            await ws.send("subscribe /flood")
            m = await ws.recv()
            if m != "ok subscribe /flood":
                raise RuntimeError("subscribe answered %r" % m)

        async def connect_all():
            for i in range(0, N, 50):
                await asyncio.gather(*[one() for _ in range(50)])

        def p_connect():
            L.arun(connect_all(), 60)
            return len(conns) == N, "%d connected" % len(conns)
        if not L.point(t, "%d clients connect and subscribe to /flood" % N,
                       p_connect):
            return

        async def recv_all():
            t0 = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                L.WSPIPE, "publish", "--socket=" + sock, "/flood", "go")
            fx.kill_pids.append(proc.pid)

            async def rd(ws):
                m = await ws.recv()
                return m, time.monotonic() - t0
            res = await asyncio.gather(*[asyncio.wait_for(rd(w), 10 * L.SLOW)
                                         for w in conns],
                                       return_exceptions=True)
            await proc.wait()
            return res, proc.returncode

        def p_fanout():
            res, st = L.arun(recv_all(), 30)
            if st != 0:
                return False, "publish exit %r" % st
            bad = [r for r in res if not isinstance(r, tuple) or
                   r[0] != "update /flood go"]
            if bad:
                return False, "%d of %d clients did not get the update: %r" % (
                    len(bad), N, bad[:3])
            slowest = max(r[1] for r in res)
            return slowest <= 2.0 * L.SLOW, "slowest client after %.2f s" % \
                slowest
        L.point(t, "one publish reaches all %d clients within %d s" % (
            N, 2 * L.SLOW), p_fanout)

        def p_close():
            async def close_all():
                await asyncio.gather(*[w.close() for w in conns],
                                     return_exceptions=True)
            L.arun(close_all(), 30)
            n = L.wait_until(lambda: L.fd_count(gw.pid) <= base, 10.0)
            now = L.fd_count(gw.pid)
            return bool(n), "fd count %d, baseline %d" % (now, base)
        L.point(t, "after all disconnect the gateway's fd count returns to "
                "its baseline", p_close)

        L.point(t, "the gateway's broker is still the same process",
                lambda: (L.broker_children(gw.pid) == brokers and
                         bool(brokers), "before %r, now %r" % (
                             brokers, L.broker_children(gw.pid))))

        def p_works():
            w = fx.ws(gw.port)
            w.send("subscribe /flood")
            return L.expect_seq(w, ["ok subscribe /flood",
                                    "update /flood go"])
        L.point(t, "the gateway still serves a new client (current state "
                "retained)", p_works)
        L.point(t, "the gateway is still running",
                lambda: (gw.alive(), gw.logtail()))


if __name__ == "__main__":
    L.run(main, 120)
