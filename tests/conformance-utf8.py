#!/usr/bin/python3
#
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# RFC 6455 UTF-8 conformance (Autobahn|Testsuite category 6): valid text
# at every encoding boundary is echoed intact, also split across frames;
# invalid text fails the connection with 1007 - and fails fast, on the
# first bad byte, even when the message (or the frame) never finishes.
#

from lib import (CONT, TEXT, Gateway, check_close, check_echo, frame,
                 point, run)

KOSME = "κόσμε".encode()

VALID = [
    ("U+0000..U+007F boundaries", "\x01A\x7f"),
    ("U+0080 and U+07FF", "\u0080\u07ff"),
    ("U+0800 and U+FFFF", "\u0800\uffff"),
    ("U+D7FF and U+E000 around the surrogates", "\ud7ff\ue000"),
    ("U+10000 and U+10FFFF", "\U00010000\U0010ffff"),
    ("noncharacters U+FFFE and U+FDD0", "\ufffe\ufdd0"),
    ("Greek kosme", "κόσμε"),
]

INVALID = [
    ("lone 0xff", b"\xff"),
    ("lone 0xfe", b"a\xfe"),
    ("lone continuation byte 0x80", b"\x80"),
    ("lead byte 0xf5", b"\xf5\x80\x80\x80"),
    ("overlong 2-byte 0xc0 0xaf", b"\xc0\xaf"),
    ("overlong 2-byte 0xc1 0xbf", b"\xc1\xbf"),
    ("overlong 3-byte 0xe0 0x80 0xaf", b"\xe0\x80\xaf"),
    ("overlong 4-byte 0xf0 0x80 0x80 0xaf", b"\xf0\x80\x80\xaf"),
    ("surrogate U+D800", b"\xed\xa0\x80"),
    ("surrogate U+DFFF", b"\xed\xbf\xbf"),
    ("above U+10FFFF", b"\xf4\x90\x80\x80"),
    ("kosme then a surrogate (Autobahn 6.3.1)",
     KOSME + b"\xed\xa0\x80edited"),
    ("2-byte sequence cut short by ASCII", b"\xce" + b"a"),
    ("message ends inside a 2-byte sequence", b"ab\xce"),
    ("message ends inside a 3-byte sequence", b"ab\xe2\x82"),
]


def fail_fast_frame(gw):
    """A frame announcing 40 bytes, of which only 16 are sent, an invalid
    byte among them: the close must not wait for the rest."""
    payload = b"valid text " + b"\xff" + b"x" * 28
    whole = frame(TEXT, payload)
    return check_close(gw, [whole[:2 + 4 + 16]], 1007)


def main(t):
    with Gateway(["cat"], []) as gw:
        for name, s in VALID:
            b = s.encode("utf-8", "surrogatepass")
            point(t, "valid UTF-8 %s is echoed intact (RFC 3629)" % name,
                  lambda: check_echo(gw, [frame(TEXT, b)], b))
        for name, b in INVALID:
            point(t, "invalid UTF-8 (%s) -> close 1007 (RFC 6455 8.1)" % name,
                  lambda: check_close(gw, [frame(TEXT, b)], 1007))

        point(t, "invalid UTF-8 in an unfinished first fragment -> close "
              "1007 at once (fail fast, RFC 6455 8.1)",
              lambda: check_close(gw, [frame(TEXT, KOSME + b"\xed\xa0\x80",
                                             fin=False)], 1007))
        point(t, "invalid byte 0xff as an unfinished first fragment -> close "
              "1007 at once (fail fast)",
              lambda: check_close(gw, [frame(TEXT, b"\xff", fin=False)],
                                  1007))
        point(t, "invalid UTF-8 in an unfinished continuation -> close 1007 "
              "at once (fail fast, Autobahn 6.4.1)",
              lambda: check_close(gw, [frame(TEXT, KOSME, fin=False),
                                       frame(CONT, b"\xf4\x90\x80\x80",
                                             fin=False)], 1007))
        point(t, "invalid UTF-8 in a partly received frame -> close 1007 "
              "before the frame ends (fail fast, Autobahn 6.4.3)",
              lambda: fail_fast_frame(gw))

        point(t, "invalid combination of valid fragments (0xed | 0xa0 0x80 "
              "surrogate) -> close 1007",
              lambda: check_close(gw, [frame(TEXT, b"\xed", fin=False),
                                       frame(CONT, b"\xa0\x80")], 1007))
        point(t, "invalid combination of valid fragments (0xf4 | 0x90 "
              "above U+10FFFF) -> close 1007",
              lambda: check_close(gw, [frame(TEXT, b"ok\xf4", fin=False),
                                       frame(CONT, b"\x90\x80\x80")], 1007))
        point(t, "message ends inside a sequence split across fragments -> "
              "close 1007",
              lambda: check_close(gw, [frame(TEXT, b"ab\xe2", fin=False),
                                       frame(CONT, b"\x82")], 1007))

        multi = "a€😀ü\U0010ffffκόσμε".encode()
        point(t, "multi-byte characters split at every byte into fragments "
              "are echoed intact (RFC 6455 5.6)",
              lambda: check_echo(gw, [frame(TEXT, multi[:1], fin=False)] +
                                 [frame(CONT, multi[i:i + 1], fin=False)
                                  for i in range(1, len(multi) - 1)] +
                                 [frame(CONT, multi[-1:])], multi))
        point(t, "4-byte character split 2+2 across fragments is echoed "
              "intact",
              lambda: check_echo(gw, [frame(TEXT, b"x\xf0\x9f", fin=False),
                                      frame(CONT, b"\x98\x80y")],
                                 "x😀y".encode()))


run(main, 60)
