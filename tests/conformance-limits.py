#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Message size limit (Autobahn|Testsuite category 9 / RFC 6455 7.4.1 code
# 1009): with --maxmsg=1000 a 1000-byte message is echoed and a 1001-byte
# one is refused with 1009, also when it is fragmented - and the refusal
# comes from the frame header, before the over-limit payload is sent.
#

import threading

from lib import (BINARY, CONT, SLOW, TEXT, Gateway, check_close,
                 check_echo, frame, point, run)


def big_echo(gw, n):
    """Send n bytes in one frame while reading the echo (flow control
    would deadlock a client that only wrote)."""
    body = (b"0123456789abcdef" * (n // 16 + 1))[:n]
    data = frame(TEXT, body)
    c = gw.client()
    err = []

    def sender():
        try:
            c.send(data)
        except OSError as e:
            err.append(e)
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    try:
        # 32 MiB through cat under ASan on a loaded machine: minutes.
        op, got = c.recv_message(120 * SLOW)
        th.join(10)
        return (op == TEXT and got == body,
                "got op %r, %s bytes, send error %r" % (
                    op, None if got is None else len(got), err))
    finally:
        c.close()


def main(t):
    with Gateway(["cat"], ["--maxmsg=1000"]) as gw:
        point(t, "--maxmsg=1000: a 1000-byte message is echoed",
              lambda: check_echo(gw, [frame(TEXT, b"m" * 1000)],
                                 b"m" * 1000))
        point(t, "--maxmsg=1000: a 1000-byte message in fragments of 600 "
              "and 400 is echoed",
              lambda: check_echo(gw, [frame(TEXT, b"a" * 600, fin=False),
                                      frame(CONT, b"b" * 400)],
                                 b"a" * 600 + b"b" * 400))
        point(t, "--maxmsg=1000: a 1001-byte message -> close 1009",
              lambda: check_close(gw, [frame(TEXT, b"m" * 1001)], 1009))
        point(t, "--maxmsg=1000: a 1001-byte frame header alone -> close "
              "1009 before its payload",
              lambda: check_close(gw, [frame(TEXT, b"m" * 1001,
                                             header_only=True)], 1009))
        point(t, "--maxmsg=1000: fragments of 600 + 401 bytes -> close 1009 "
              "on the second header, before its payload",
              lambda: check_close(gw, [frame(TEXT, b"a" * 600, fin=False),
                                       frame(CONT, b"b" * 401,
                                             header_only=True)], 1009))
        point(t, "--maxmsg=1000: huge 64-bit length header -> close 1009",
              lambda: check_close(gw, [frame(TEXT, length=1 << 40,
                                             lenform=64,
                                             header_only=True)], 1009))
        point(t, "--maxmsg=1000: many small fragments over the limit -> "
              "close 1009",
              lambda: check_close(gw, [frame(TEXT, b"c" * 100, fin=False)] +
                                  [frame(CONT, b"c" * 100, fin=False)
                                   for i in range(9)] +
                                  [frame(CONT, b"c", header_only=True)],
                                  1009))
    with Gateway(["cat"], []) as gw:
        point(t, "default --maxmsg: a 16 MiB message is echoed "
              "(Autobahn 9.1.6)", lambda: big_echo(gw, 16 * 1024 * 1024))
        point(t, "default --maxmsg: a 16 MiB + 1 message -> close 1009",
              lambda: check_close(gw, [frame(TEXT, length=16 * 1024 * 1024
                                             + 1, header_only=True)], 1009))
    with Gateway(["cat"], ["--maxmsg=1000", "--binary"]) as gw:
        point(t, "--maxmsg=1000 --binary: a 1001-byte binary message -> "
              "close 1009",
              lambda: check_close(gw, [frame(BINARY, b"\x00" * 1001,
                                             header_only=True)], 1009))


run(main, 600)
