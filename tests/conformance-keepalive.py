#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Keepalive: with --ping-interval the gateway pings a silent client and
# closes one that does not answer within --ping-timeout; a client that
# answers stays connected and is served; --ping-interval=0 sends no ping.
#

import time

from lib import (PING, PONG, TEXT, Gateway, Timeout, describe, point,
                 run)


def answering(gw):
    """A client that answers every ping stays up 3.5 s and is echoed."""
    c = gw.client()
    try:
        pings = 0
        deadline = time.monotonic() + 3.5
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                fr = c.recv_frame(left)
            except Timeout:
                break
            if fr is None:
                return False, "closed after %d pings" % pings
            if fr.opcode != PING:
                return False, "unexpected %s" % describe(fr)
            if fr.masked or len(fr.payload) > 125:
                return False, "bad ping %s" % describe(fr)
            pings += 1
            c.send_frame(PONG, fr.payload)
        if pings < 2:
            return False, "%d pings in 3.5 s, want >= 2" % pings
        c.send_frame(TEXT, "still here")
        seen = []
        op, data = c.recv_message(2, seen)
        return (op == TEXT and data == b"still here",
                "no echo: %s" % "; ".join(map(describe, seen)))
    finally:
        c.close()


def silent(gw, limit):
    """A client that never answers is dropped within limit seconds."""
    c = gw.client()
    try:
        start = time.monotonic()
        ok = c.wait_eof(limit, keep=True)
        took = time.monotonic() - start
        pings = sum(1 for f in c.after if f.opcode == PING)
        return ok and pings >= 1, \
            "EOF=%s after %.1f s, %d pings, frames: %s" % (
                ok, took, pings, "; ".join(map(describe, c.after[:5])))
    finally:
        c.close()


def no_ping(gw):
    c = gw.client()
    try:
        try:
            fr = c.recv_frame(2.5)
        except Timeout:
            fr = False
        if fr is not False:
            return False, "got %s" % describe(fr)
        c.send_frame(TEXT, "quiet")
        op, data = c.recv_message(2)
        return op == TEXT and data == b"quiet", "echo %r %r" % (op, data)
    finally:
        c.close()


def main(t):
    with Gateway(["cat"], ["--ping-interval=1", "--ping-timeout=1"]) as gw:
        point(t, "--ping-interval=1: a client answering pings stays "
              "connected 3.5 s (>= 2 pings) and is echoed",
              lambda: answering(gw))
        point(t, "--ping-interval=1 --ping-timeout=1: a client that never "
              "answers is disconnected within 3 s",
              lambda: silent(gw, 3.0))
    with Gateway(["cat"], ["--ping-interval=0"]) as gw:
        point(t, "--ping-interval=0: no ping in 2.5 s",
              lambda: no_ping(gw))


run(main, 60)
