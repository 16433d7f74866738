#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# RFC 6455 closing handshake conformance (Autobahn|Testsuite category 7):
# the client's close is echoed with its code, malformed close frames fail
# with 1002 or 1007, TCP is closed after the closing handshake, and nothing
# follows the server's own close frame.
#

import struct

from lib import (CLOSE, PING, TEXT, Gateway, Timeout, check_close,
                 close_payload, describe, frame, point, run)

INVALID_CODES = (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                 5000, 65535)
VALID_CODES = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000,
               3999, 4000, 4999)


def close_echo(gw, payload, want):
    """Send a close with payload; want the answer to be a close whose
    code is want (2 bytes), or whose payload is empty if want is empty."""
    c = gw.client()
    try:
        c.send(frame(CLOSE, payload))
        try:
            fr = c.recv_frame(2)
        except Timeout:
            return False, "no close within 2 s"
        if fr is None or fr.opcode != CLOSE:
            return False, "want a close, got %s" % describe(fr)
        ok = fr.payload[:2] == want if want else fr.payload == b""
        return ok, "want close payload %r, got %s" % (want, describe(fr))
    finally:
        c.close()


def tcp_closed_after_echo(gw):
    c = gw.client()
    try:
        c.send_close(1000)
        ok, why = c.expect_close(1000)
        if not ok:
            return False, why
        return (c.wait_eof(2.0, keep=True),
                "TCP still open 2 s after the closing handshake")
    finally:
        c.close()


def ignored_after_close(gw):
    """Frames after the client's close get no answer (RFC 6455 5.5.1)."""
    c = gw.client()
    try:
        c.send(frame(CLOSE, close_payload(1000)) + frame(PING, "late") +
               frame(TEXT, "late"))
        ok, why = c.expect_close(1000)
        if not ok:
            return False, why
        if not c.wait_eof(2.0, keep=True):
            return False, "TCP still open after 2 s"
        return not c.after, "after the close: %s" % "; ".join(
            describe(f) for f in c.after)
    finally:
        c.close()


def quiet_after_server_close(gw):
    """The program exits, the server closes with 1000; a ping sent after
    that gets no pong, and our close reply ends the connection."""
    c = gw.client()
    try:
        ok, why = c.expect_close(1000, 5)
        if not ok:
            return False, why
        c.send(frame(PING, "after-close") + frame(TEXT, "after-close"))
        after = []
        try:
            fr = c.recv_frame(1.0)
            if fr is not None:
                after.append(fr)
        except Timeout:
            pass
        if after:
            return False, "after the server's close: %s" % describe(after[0])
        c.send_close(1000)
        return c.wait_eof(2.0, keep=True) and not c.after, \
            "after our close reply: EOF=%s frames %s" % (
                c.eof, "; ".join(describe(f) for f in c.after))
    finally:
        c.close()


def quiet_after_failure(gw):
    """After a close 1003 for a protocol violation, nothing else."""
    c = gw.client()
    try:
        c.send(frame(2, b"\x00"))
        ok, why = c.expect_close(1003)
        if not ok:
            return False, why
        try:
            c.send(frame(PING, "after-fail"))
        except OSError:
            pass
        return c.wait_eof(2.5, keep=True) and not c.after, \
            "EOF=%s, frames after the close: %s" % (
                c.eof, "; ".join(describe(f) for f in c.after))
    finally:
        c.close()


def main(t):
    with Gateway(["cat"], []) as gw:
        point(t, "close with empty payload -> close 1000 "
              "(RFC 6455 5.5.1, Autobahn 7.3.1)",
              lambda: close_echo(gw, b"", struct.pack("!H", 1000)))
        point(t, "close with 1-byte payload -> close 1002 (RFC 6455 5.5.1)",
              lambda: check_close(gw, [frame(CLOSE, b"\x03")], 1002))
        for code in INVALID_CODES:
            point(t, "close code %d -> close 1002 (RFC 6455 7.4)" % code,
                  lambda: check_close(gw, [frame(CLOSE,
                                                 close_payload(code))], 1002))
        for code in VALID_CODES:
            point(t, "close code %d is echoed (RFC 6455 5.5.1, 7.4.1)" % code,
                  lambda: close_echo(gw, close_payload(code),
                                     struct.pack("!H", code)))
        point(t, "close with a UTF-8 reason is echoed with its code "
              "(RFC 6455 5.5.1)",
              lambda: close_echo(gw, close_payload(1000, "κόσμε bye"),
                                 struct.pack("!H", 1000)))
        point(t, "close with a 125-byte payload is echoed (RFC 6455 5.5)",
              lambda: close_echo(gw, close_payload(1000, "r" * 123),
                                 struct.pack("!H", 1000)))
        point(t, "close reason with invalid UTF-8 -> close 1007 "
              "(RFC 6455 5.5.1, 8.1)",
              lambda: check_close(gw, [frame(CLOSE, close_payload(
                  1000, b"ok\xed\xa0\x80"))], 1007))
        point(t, "close with a 126-byte payload -> close 1002 (RFC 6455 5.5)",
              lambda: check_close(gw, [frame(CLOSE, close_payload(
                  1000, "r" * 124))], 1002))
        point(t, "fragmented close (fin=0) -> close 1002 (RFC 6455 5.5)",
              lambda: check_close(gw, [frame(CLOSE, close_payload(1000),
                                             fin=False)], 1002))
        point(t, "server closes TCP within 2 s after echoing the close "
              "(RFC 6455 7.1.1)", lambda: tcp_closed_after_echo(gw))
        point(t, "frames after the client's close are ignored "
              "(RFC 6455 5.5.1)", lambda: ignored_after_close(gw))
        point(t, "nothing follows the server's close after a protocol "
              "failure (RFC 6455 5.5.1)", lambda: quiet_after_failure(gw))

    with Gateway(["true"], []) as gw:
        point(t, "nothing follows the server's close: a ping after it gets "
              "no pong (RFC 6455 5.5.1)",
              lambda: quiet_after_server_close(gw))


run(main, 90)
