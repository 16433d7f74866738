#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# A program that writes 100 MB without a newline and exits: in text mode
# the client receives exactly one text message of 104857600 bytes (sent
# fragmented as it arrives; a ping on the way is answered at once), then
# close 1000, and the gateway's memory stays bounded (VmRSS grows by less
# than 8 MB, sampled every 100 ms; ASan's quarantine off) throughout.
#

import os
import struct
import threading

from lib import (CLOSE, CONT, PING, PONG, TEXT, Gateway, Timeout,
                 asan_without_quarantine, describe, proc_status, run,
                 testchild)

SIZE = 104857600
# Growth of VmRSS from before the connection; measured ~2.5 MB (3.5 MB
# with ASan): code and library pages touched for the first time, the
# 64 KiB window, a frame.  With a window of 8 MiB it is ~19 MB.
RSS_GROWTH = 8 * 1024           # kB


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.samples = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                rss = proc_status(self.pid, "VmRSS")
            except OSError:
                return
            if rss is not None:
                self.peak = max(self.peak, rss)
                self.samples += 1
            self.stop.wait(0.1)


def main(t):
    asan_without_quarantine()
    with Gateway([testchild(), "spew", str(SIZE)], []) as gw:
        base = proc_status(gw.pid, "VmRSS")
        sampler = Sampler(gw.pid)
        sampler.start()
        c = gw.client()
        try:
            messages, total, frames, bad, starts = 0, 0, 0, [], 0
            closefr, pong_at = None, None
            while True:
                try:
                    fr = c.recv_frame(60)
                except Timeout:
                    bad.append("stalled after %d bytes" % total)
                    break
                if fr is None:
                    bad.append("EOF after %d bytes" % total)
                    break
                frames += 1
                if fr.opcode == CLOSE:
                    closefr = fr
                    break
                if fr.opcode == PING:
                    # Answered, as a browser would, on a slow machine.
                    c.send_frame(PONG, fr.payload)
                    continue
                if fr.opcode == PONG:
                    if fr.payload == b"mid" and pong_at is None:
                        pong_at = total
                    continue
                if fr.opcode == TEXT:
                    starts += 1
                    c.send_frame(PING, "mid")
                elif fr.opcode != CONT:
                    bad.append("unexpected %s" % describe(fr))
                    break
                if fr.payload.count(b"x") != len(fr.payload):
                    bad.append("frame %d holds bytes other than x" % frames)
                total += len(fr.payload)
                if fr.fin:
                    messages += 1
            sampler.stop.set()
            sampler.join()
            t.ok(not bad and messages == 1 and starts == 1 and total == SIZE,
                 "one text message of %d bytes" % SIZE,
                 "%d messages, %d starts, %d bytes in %d frames; %s" % (
                     messages, starts, total, frames, "; ".join(bad)))
            t.ok(pong_at is not None and pong_at < SIZE,
                 "a ping sent during the long message is answered before "
                 "the message ends (RFC 6455 5.4, 5.5.2)",
                 "pong after %r of %d bytes" % (pong_at, SIZE))
            code = struct.unpack("!H", closefr.payload[:2])[0] \
                if closefr is not None and len(closefr.payload) >= 2 else None
            t.ok(code == 1000, "then close 1000",
                 "got %s" % (describe(closefr) if closefr else None))
            if closefr is not None:
                c.send_close(1000)
            t.diag("gateway VmRSS %d kB at start, peak %d kB (+%d)" % (
                base, sampler.peak, sampler.peak - base))
            if os.environ.get("WSPIPE_VALGRIND"):
                t.skip("gateway VmRSS grows by less than 8 MB",
                       "under valgrind")
            else:
                t.ok(sampler.samples > 0 and
                     sampler.peak - base < RSS_GROWTH,
                     "gateway VmRSS grows by less than 8 MB",
                     "%d kB at start, peak %d kB over %d samples" % (
                         base, sampler.peak, sampler.samples))
        finally:
            sampler.stop.set()
            c.close()


run(main, 120)
