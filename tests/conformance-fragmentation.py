#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# RFC 6455 fragmentation conformance (Autobahn|Testsuite category 5):
# fragmented messages are reassembled into one, control frames may be
# interleaved and are answered at once, continuation frames must continue
# something and a new data frame must not interrupt a message.
#

from lib import (BINARY, CONT, PING, PONG, TEXT, Gateway, check_close,
                 check_echo, describe, frame, point, run)


def ping_between(gw):
    c = gw.client()
    try:
        c.send(frame(TEXT, "Hel", fin=False) + frame(PING, "between") +
               frame(CONT, "lo", fin=True))
        first = c.recv_frame(2)
        if first is None or first.opcode != PONG or \
           first.payload != b"between":
            return False, "want the pong first, got %s" % describe(first)
        op, data = c.recv_message(2)
        return op == TEXT and data == b"Hello", "echo %r %r" % (op, data)
    finally:
        c.close()


def ping_between_separate(gw):
    """The pong must come while the message is still unfinished."""
    c = gw.client()
    try:
        c.send(frame(TEXT, "Hel", fin=False) + frame(PING, "mid"))
        fr = c.recv_frame(2)
        if fr is None or fr.opcode != PONG or fr.payload != b"mid":
            return False, "want pong 'mid', got %s" % describe(fr)
        c.send(frame(CONT, "lo"))
        op, data = c.recv_message(2)
        return op == TEXT and data == b"Hello", "echo %r %r" % (op, data)
    finally:
        c.close()


def main(t):
    with Gateway(["cat"], []) as gw:
        point(t, "fragmented text message (TEXT + CONT + CONT fin) is echoed "
              "as one message (RFC 6455 5.4)",
              lambda: check_echo(gw, [frame(TEXT, "frag", fin=False),
                                       frame(CONT, "ment", fin=False),
                                       frame(CONT, "ed", fin=True)],
                                  b"fragmented"))
        point(t, "fragmented message with one byte per fragment is echoed "
              "(RFC 6455 5.4)",
              lambda: check_echo(gw, [frame(TEXT, "a", fin=False)] +
                                  [frame(CONT, ch, fin=False)
                                   for ch in "bcdefghi"] +
                                  [frame(CONT, "j")], b"abcdefghij"))
        point(t, "fragmented message with empty fragments is echoed "
              "(RFC 6455 5.4)",
              lambda: check_echo(gw, [frame(TEXT, "", fin=False),
                                       frame(CONT, "mid", fin=False),
                                       frame(CONT, "", fin=False),
                                       frame(CONT, "", fin=True)], b"mid"))
        point(t, "ping between fragments is answered with its pong before "
              "the echo (RFC 6455 5.4, 5.5.2)", lambda: ping_between(gw))
        point(t, "ping between fragments is answered before the message "
              "ends (RFC 6455 5.4)", lambda: ping_between_separate(gw))
        point(t, "unsolicited pong between fragments is ignored "
              "(RFC 6455 5.4, 5.5.3)",
              lambda: check_echo(gw, [frame(TEXT, "ab", fin=False),
                                       frame(PONG, "x"),
                                       frame(CONT, "cd")], b"abcd"))
        point(t, "continuation without a started message -> close 1002 "
              "(RFC 6455 5.4)",
              lambda: check_close(gw, [frame(CONT, "orphan")], 1002))
        point(t, "continuation fin=0 without a started message -> close "
              "1002 (RFC 6455 5.4)",
              lambda: check_close(gw, [frame(CONT, "orphan", fin=False)],
                                  1002))
        point(t, "continuation after a finished message -> close 1002 "
              "(RFC 6455 5.4)",
              lambda: check_after_echo(gw, frame(TEXT, "done"), b"done",
                                       frame(CONT, "late")))
        point(t, "new TEXT inside a fragmented message -> close 1002 "
              "(RFC 6455 5.4)",
              lambda: check_close(gw, [frame(TEXT, "one", fin=False),
                                       frame(TEXT, "two")], 1002))
        point(t, "new BINARY inside a fragmented message -> close 1002 "
              "(RFC 6455 5.4)",
              lambda: check_close(gw, [frame(TEXT, "one", fin=False),
                                       frame(BINARY, "two")], 1002))


def check_after_echo(gw, first, want, bad):
    c = gw.client()
    try:
        c.send(first)
        op, data = c.recv_message(2)
        if op != TEXT or data != want:
            return False, "first echo %r %r" % (op, data)
        c.send(bad)
        return c.expect_close(1002)
    finally:
        c.close()


run(main, 60)
