#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A peer that sends its message one byte per second gets its echo, and
# meanwhile another client is served without added latency: the gateway
# never blocks on one connection's partial frame.
#

import time

from lib import TEXT, Gateway, Timeout, describe, frame, point, run

PACE = 1.0		# seconds per byte, as issue 3 words it


def main(t):
    with Gateway(["cat"], []) as gw:
        slow = gw.client()
        fast = gw.client()
        try:
            data = frame(TEXT, "hi")     # 8 bytes: 8 s
            worst, lost = 0.0, []
            for i in range(len(data)):
                slow.send(data[i:i + 1])
                nxt = time.monotonic() + PACE
                start = time.monotonic()
                fast.send_frame(TEXT, "fast %d" % i)
                try:
                    op, got = fast.recv_message(2)
                except Timeout:
                    op, got = None, None
                took = time.monotonic() - start
                worst = max(worst, took)
                if got != ("fast %d" % i).encode():
                    lost.append((i, op, got))
                # The peer's pace, not a synchronisation: wait out PACE.
                time.sleep(max(0.0, nxt - time.monotonic()))
            t.ok(not lost and worst < 0.5,
                 "another client is echoed within 0.5 s while a peer "
                 "dribbles a frame", "worst %.3f s, lost %r" % (worst, lost))
            point(t, "the peer sending one byte per second gets its echo",
                  lambda: slow_echo(slow))
        finally:
            slow.close()
            fast.close()


def slow_echo(c):
    try:
        fr = c.recv_frame(2)
    except Timeout:
        return False, "no echo within 2 s"
    return (fr is not None and fr.opcode == TEXT and fr.payload == b"hi",
            "got %s" % describe(fr))


run(main, 30)
