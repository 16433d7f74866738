#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# RFC 6455 ping/pong conformance (Autobahn|Testsuite category 2): pongs
# carry the ping's payload, unsolicited pongs are ignored, oversized or
# fragmented control frames fail the connection.  One test point per rule.
#

import socket

from lib import (PING, PONG, TEXT, Gateway, Timeout, check_close,
                 describe, frame, point, run)


def pong_for(gw, payload, count=1):
    c = gw.client()
    try:
        c.send(frame(PING, payload) * count)
        for i in range(count):
            try:
                fr = c.recv_frame(2)
            except Timeout:
                return False, "no pong %d within 2 s" % i
            if fr is None or fr.opcode != PONG or fr.payload != payload:
                return False, "pong %d: want %r, got %s" % (
                    i, payload[:40], describe(fr))
        c.send_text("after")
        op, data = c.recv_message(2)
        return (op == TEXT and data == b"after",
                "no echo after the pongs: %r %r" % (op, data))
    finally:
        c.close()


def pong_chopped(gw):
    payload = bytes(range(125))
    data = frame(PING, payload)
    c = gw.client()
    try:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            c.send(data[i:i + 1])
        fr = c.recv_frame(2)
        return (fr is not None and fr.opcode == PONG and
                fr.payload == payload, "got %s" % describe(fr))
    finally:
        c.close()


def unsolicited(gw, payload):
    c = gw.client()
    try:
        c.send(frame(PONG, payload) + frame(TEXT, "after-pong"))
        fr = c.recv_frame(2)
        return (fr is not None and fr.opcode == TEXT and
                fr.payload == b"after-pong",
                "want the echo as the next frame, got %s" % describe(fr))
    finally:
        c.close()


def main(t):
    with Gateway(["cat"], []) as gw:
        point(t, "ping with empty payload -> pong with empty payload "
              "(RFC 6455 5.5.2)", lambda: pong_for(gw, b""))
        point(t, "ping with 125-byte payload -> pong with the same payload "
              "(RFC 6455 5.5.2)", lambda: pong_for(gw, bytes(range(125))))
        point(t, "ping with binary payload -> pong with the same payload "
              "(RFC 6455 5.5.3)",
              lambda: pong_for(gw, b"\x00\xff\xfe\x80\n\r"))
        point(t, "ten pings in one write -> ten pongs (RFC 6455 5.5.3)",
              lambda: pong_for(gw, b"burst", 10))
        point(t, "unsolicited pong is ignored (RFC 6455 5.5.3)",
              lambda: unsolicited(gw, b"unsolicited"))
        point(t, "unsolicited empty pong is ignored (RFC 6455 5.5.3)",
              lambda: unsolicited(gw, b""))
        point(t, "ping with 126-byte payload -> close 1002 (RFC 6455 5.5)",
              lambda: check_close(gw, [frame(PING, b"p" * 126)], 1002))
        point(t, "pong with 126-byte payload -> close 1002 (RFC 6455 5.5)",
              lambda: check_close(gw, [frame(PONG, b"p" * 126)], 1002))
        point(t, "fragmented ping (fin=0) -> close 1002 (RFC 6455 5.5)",
              lambda: check_close(gw, [frame(PING, b"frag", fin=False),
                                       frame(0, b"ment")], 1002))
        point(t, "fragmented pong (fin=0) -> close 1002 (RFC 6455 5.5)",
              lambda: check_close(gw, [frame(PONG, b"frag", fin=False)],
                                  1002))
        point(t, "ping of 125 bytes written one byte at a time -> pong "
              "(RFC 6455 5.5.2)", lambda: pong_chopped(gw))
        point(t, "fragmented ping without its continuation -> close 1002 "
              "(RFC 6455 5.5)",
              lambda: check_close(gw, [frame(PING, b"frag", fin=False)],
                                  1002))


run(main, 60)
