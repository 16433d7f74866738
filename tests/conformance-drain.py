#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# How a conversation ends when the client closes or breaks the protocol:
# the program's stdin is closed after the last accepted message, what it
# prints until its stdout ends (at most 100 ms + --closems) is delivered,
# and only then comes the close frame (Autobahn 7.1.1, 4.1.3).  A message
# that fails halfway is not accepted and never reaches the program.
#

import os
import tempfile
import time

from lib import (CLOSE, CONT, SLOW, TEXT, Gateway, children_of, frame,
                 point, run, close_payload)


def echo_then_close(gw, tail, code):
    c = gw.client()
    try:
        c.send(frame(TEXT, "Hello World!") + tail)
        op, data = c.recv_message(2)
        if op != TEXT or data != b"Hello World!":
            return False, "want the echo first, got %r %r" % (op, data)
        return c.expect_close(code)
    finally:
        c.close()


def failed_message_not_delivered(path):
    with Gateway(["sh", "-c", "cat >> '%s'" % path], []) as gw:
        c = gw.client()
        try:
            c.send(frame(TEXT, "kept") + frame(TEXT, "partial", fin=False) +
                   frame(CONT, b"\xff", fin=True))
            ok, why = c.expect_close(1007)
            if not ok:
                return ok, why
        finally:
            c.close()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            with open(path, "rb") as f:
                got = f.read()
            if got == b"kept\n" and children_of(gw.pid) == []:
                return True, None
            time.sleep(0.02)
        return False, "program got %r" % got


def slow_answer(gw):
    """A program that answers 50 ms late still gets its answer out."""
    return echo_then_close(gw, frame(CLOSE, close_payload(1000)), 1000)


def deaf_program(gw):
    """A program that ignores stdin EOF delays the close by ~100 ms only."""
    c = gw.client()
    try:
        t = time.monotonic()
        c.send(frame(CLOSE, close_payload(1000)))
        while True:
            fr = c.recv_frame(2)
            if fr is None:
                return False, "EOF before the close frame"
            if fr.opcode == CLOSE:
                break
        took = time.monotonic() - t
        # Not held for the termination sequence: under valgrind, slower.
        return 0.05 <= took < 1.0 * SLOW, "close answered after %.3f s" % took
    finally:
        c.close()


def main(t):
    # cat's output ends as soon as its input does; --closems only keeps a
    # busy machine's scheduling from cutting the drain short.
    with Gateway(["cat"], ["--closems=5000"]) as gw:
        point(t, "message + close in one write: echo, then close 1000 "
              "(Autobahn 7.1.1)",
              lambda: echo_then_close(gw, frame(CLOSE, close_payload(1000)),
                                      1000))
        point(t, "message + reserved opcode: echo, then close 1002 "
              "(Autobahn 4.1.3)",
              lambda: echo_then_close(gw, frame(3, ""), 1002))
    fd, path = tempfile.mkstemp(prefix="wspipe-drain-")
    os.close(fd)
    try:
        point(t, "a message that fails halfway never reaches the program",
              lambda: failed_message_not_delivered(path))
    finally:
        os.unlink(path)
    # The drain lasts until stdout ends, at most 100 ms + --closems: a
    # generous --closems keeps a busy machine's scheduling out of it (the
    # program ends right after its answer, so nothing waits that long).
    with Gateway(["sh", "-c", "while read l; do sleep 0.05; "
                      "echo \"$l\"; done"], ["--closems=5000"]) as gw:
        point(t, "a program answering 50 ms late: echo, then close",
              lambda: slow_answer(gw))
    with Gateway(["sh", "-c", "trap '' INT; while :; do sleep 0.02; "
                      "done"], []) as gw:
        point(t, "a program deaf to stdin EOF: close answered in "
              "0.05-1 s", lambda: deaf_program(gw))


run(main, 60)
