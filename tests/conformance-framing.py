#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# RFC 6455 framing conformance (Autobahn|Testsuite categories 1-4): echo
# at every length encoding, reserved bits, reserved opcodes, masking,
# non-minimal and oversized lengths, binary data in text mode, and what the
# server's own frames look like.  One test point per rule.
#

import socket

from lib import (BINARY, PING, PONG, TEXT, Gateway, check_close,
                 check_echo, describe, frame, point, run)


def main(t):
    with Gateway(["cat"], []) as gw:
        for n in (0, 125, 126, 127, 65535, 65536, 200000):
            body = ("%07d" % n).encode() * (n // 7 + 1)
            body = body[:n]
            point(t, "text message of %d bytes is echoed (RFC 6455 5.2)" % n,
                  lambda: check_echo(gw, [frame(TEXT, body)], body,
                                     timeout=5))

        def server_frames():
            c = gw.client()
            seen = []
            try:
                for n in (5, 300, 70000):
                    c.send_frame(TEXT, b"s" * n)
                    op, data = c.recv_message(5, seen)
                    if op != TEXT or len(data) != n:
                        return False, "echo of %d bytes: %r" % (n, op)
                c.send_frame(PING, b"pp")
                seen.append(c.recv_frame())
                c.send_close(1000)
                seen.append(c.recv_frame())
            finally:
                c.close()
            bad = [describe(f) + (" non-minimal length" if not f.minimal
                                  else "")
                   for f in seen if f is None or f.masked or f.rsv or
                   not f.minimal]
            return not bad, "\n".join(bad)
        point(t, "server frames are unmasked, RSV 0, minimal length "
              "(RFC 6455 5.1, 5.2)", server_frames)

        for rsv, name in ((4, "RSV1"), (2, "RSV2"), (1, "RSV3"),
                          (7, "RSV1+2+3")):
            point(t, "%s set without an extension -> close 1002 "
                  "(RFC 6455 5.2)" % name,
                  lambda: check_close(gw, [frame(TEXT, "hello", rsv=rsv)],
                                      1002))
        point(t, "RSV1 set on a ping -> close 1002 (RFC 6455 5.2)",
              lambda: check_close(gw, [frame(PING, "x", rsv=4)], 1002))

        for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
            point(t, "reserved opcode %d -> close 1002 (RFC 6455 5.2)" % op,
                  lambda: check_close(gw, [frame(op, "x")], 1002))
        point(t, "reserved opcode after a valid message: echo, then close "
              "1002 (RFC 6455 5.2)", lambda: reserved_after_valid(gw))

        point(t, "unmasked client frame -> close 1002 (RFC 6455 5.1)",
              lambda: check_close(gw, [frame(TEXT, "hello", mask=False)],
                                  1002))
        point(t, "unmasked empty client frame -> close 1002 (RFC 6455 5.1)",
              lambda: check_close(gw, [frame(TEXT, "", mask=False)], 1002))

        point(t, "length < 126 in 16-bit form -> close 1002 "
              "(RFC 6455 5.2 minimal encoding)",
              lambda: check_close(gw, [frame(TEXT, "hello", lenform=16)],
                                  1002))
        point(t, "length < 126 in 64-bit form -> close 1002 "
              "(RFC 6455 5.2 minimal encoding)",
              lambda: check_close(gw, [frame(TEXT, "hello", lenform=64)],
                                  1002))
        point(t, "length < 65536 in 64-bit form -> close 1002 "
              "(RFC 6455 5.2 minimal encoding)",
              lambda: check_close(gw, [frame(TEXT, "h" * 300, lenform=64)],
                                  1002))
        point(t, "64-bit length with the top bit set -> close 1002 "
              "(RFC 6455 5.2)",
              lambda: check_close(gw, [frame(TEXT, length=(1 << 63) | 5,
                                             lenform=64, header_only=True)],
                                  1002))

        # STYLE 8: header faults are rejected before any payload arrives.
        for name, hdr in (
                ("RSV1", frame(TEXT, length=100, rsv=4, header_only=True)),
                ("reserved opcode 3", frame(3, length=100,
                                            header_only=True)),
                ("unmasked frame", frame(TEXT, length=100, mask=False,
                                         header_only=True)),
                ("non-minimal length", frame(TEXT, length=100, lenform=64,
                                             header_only=True)),
                ("ping over 125 bytes", frame(PING, length=200,
                                              header_only=True)),
                ("fragmented ping", frame(PING, length=10, fin=False,
                                          header_only=True))):
            point(t, "%s is rejected from the header alone, before its "
                  "payload -> close 1002" % name,
                  lambda: check_close(gw, [hdr], 1002))

        point(t, "frames written one byte at a time are reassembled "
              "(RFC 6455 5.2)", lambda: chopped(gw))
        point(t, "1000 small messages in one write are echoed in order",
              lambda: many(gw, 1000))

        point(t, "binary message in text mode -> close 1003 (RFC 6455 7.4.1)",
              lambda: check_close(gw, [frame(BINARY, b"\x00\x01\xff")], 1003))

    with Gateway(["cat"], ["--binary"]) as gw:
        def binary_echo():
            data = bytes(range(256)) * 4 + b"\n\x00\xff"
            c = gw.client()
            got = b""
            try:
                c.send_frame(BINARY, data)
                while len(got) < len(data):
                    op, part = c.recv_message(3)
                    if op != BINARY:
                        return False, "got op %r after %d bytes" % (
                            op, len(got))
                    got += part
            finally:
                c.close()
            return got == data, "echo differs"
        point(t, "--binary: binary message is echoed as binary",
              binary_echo)


def chopped(gw):
    """Three frames with 7, 16 and 64-bit lengths and a ping, each byte in
    its own write (TCP_NODELAY)."""
    msgs = [b"seven", b"s" * 300, b"l" * 70000]
    data = b"".join(frame(TEXT, m) for m in msgs[:2]) + \
        frame(PING, "chop") + frame(TEXT, msgs[2])
    c = gw.client()
    try:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, 4000):
            c.send(data[i:i + 1])
        c.send(data[4000:])
        seen, got = [], []
        for m in msgs:
            op, d = c.recv_message(5, seen)
            got.append(d)
        pongs = [f for f in seen if f.opcode == PONG and f.payload == b"chop"]
        return got == msgs and len(pongs) == 1, "got %s" % "; ".join(
            describe(f) for f in seen)
    finally:
        c.close()


def many(gw, n):
    msgs = [("message %d" % i).encode() for i in range(n)]
    c = gw.client()
    try:
        c.send(b"".join(frame(TEXT, m) for m in msgs))
        for i, m in enumerate(msgs):
            op, d = c.recv_message(5)
            if op != TEXT or d != m:
                return False, "message %d: got %r %r" % (i, op, d)
        return True
    finally:
        c.close()


def reserved_after_valid(gw):
    c = gw.client()
    try:
        c.send(frame(TEXT, "first"))
        op, data = c.recv_message(2)
        if op != TEXT or data != b"first":
            return False, "no echo of the first message: %r %r" % (op, data)
        c.send(frame(5, "x"))
        return c.expect_close(1002)
    finally:
        c.close()


run(main, 60)
