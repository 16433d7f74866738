#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --logformat=json: every line the gateway (and the broker it runs) writes
# is one JSON object with "time" (ISO 8601 with its offset), "level", the
# connection as "conn" when the text line has one, and "msg", the text
# line's message, exactly; hostile bytes in a path (quotes, backslashes,
# percent-encoded control bytes, 8-bit bytes) leave every line valid JSON
# with no raw control byte; the same events give the same messages as
# --logformat=text;
# --logformat=xml is refused (exit 1).

import json
import re
import socket
import struct

import lib as W

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$")
HOSTILE = b'/q"uo\\te%01%1b[31m\xff\xc3\xa9'


def upgrade(gw, path):
    """One WebSocket upgrade to path (raw bytes), an echo, a close."""
    c = W.Client(gw, timeout=10 * W.SLOW)
    try:
        c.send(b'GET ' + path + b' HTTP/1.1\r\nHost: x\r\nUpgrade: '
               b'websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: '
               b'dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13'
               b'\r\n\r\n')
        r = c.read_head()
        if r is None or r.status != 101:
            return "no 101: %r" % (r,)
        c.send_text("hello")
        m = c.recv_message()
        if not m or m[1] != b"hello":
            return "echo: %r" % (m,)
        c.send_frame(0x8, struct.pack('!H', 1000))
        c.recv_close()
        c.wait_eof(5 * W.SLOW)
    finally:
        c.close()
    return None


def run_one(fmt, tmp):
    sock = "%s/%s.sock" % (tmp, fmt)
    gw = W.Gateway(W.cmd("cat"), ["--logformat=" + fmt, "--loglevel=debug",
                                  "--listen=/live", "--broker-socket=" + sock])
    try:
        why = upgrade(gw, b'/plain')
        why = why or upgrade(gw, HOSTILE)
        W.wait_until(lambda: W.broker_answers(sock), 10 * W.SLOW)
    finally:
        gw.stop()
    with open(gw.logpath, 'rb') as f:
        return why, f.read()


def main(t):
    tmp = W.mkdtemp('wspipe-logformat')
    why, jlog = run_one("json", tmp)
    t.ok(why is None, "json: the gateway serves (two upgrades, echoes)", why)
    lines = [l for l in jlog.split(b'\n') if l]
    objs, bad = [], []
    for l in lines:
        try:
            o = json.loads(l.decode('ascii'))
            if not isinstance(o, dict):
                raise ValueError("not an object")
            objs.append(o)
        except (ValueError, UnicodeDecodeError) as e:
            bad.append((l[:120], str(e)))
    t.ok(lines and not bad, "json: each of %d lines is one JSON object of "
         "ASCII" % len(lines), *["%r: %s" % b for b in bad[:3]])
    keys = [o for o in objs if set(o) - {"time", "level", "conn", "msg"}
            or not {"time", "level", "msg"} <= set(o)]
    t.ok(objs and not keys, "json: fields are time, level, msg and conn",
         *[repr(o)[:150] for o in keys[:3]])
    badtime = [o["time"] for o in objs if not TIME.match(o.get("time", ""))]
    t.ok(objs and not badtime, "json: time is ISO 8601 with its offset",
         repr(badtime[:3]))
    levels = {o["level"] for o in objs}
    t.ok({"access", "info"} <= levels <= {"debug", "trace", "access",
                                         "info", "error", "fatal"},
         "json: levels named as in text lines (%s)" % sorted(levels))
    access = [o for o in objs if o["level"] == "access"]
    t.ok(access and all(re.match(r"^#\d+ 127\.0\.0\.1:\d+$",
                                 o.get("conn", "")) for o in access),
         "json: access lines carry the connection as conn",
         repr(access[:2])[:300])
    hostile = [o for o in objs if "uo" in o["msg"]]
    raw = [o for o in hostile if re.search(r'[\x00-\x1f\x7f-\uffff]',
                                           o["msg"])]
    t.ok(hostile and not raw and
         any('q"uo\\te%01%1b[31m\\377\\303\\251' in o["msg"]
             for o in hostile),
         "json: a path with a quote, a backslash, %01, ESC and 8-bit bytes "
         "is escaped as in text lines, and decodes back to the same text",
         repr([o["msg"] for o in hostile][:2])[:400])
    broker = [o for o in objs if o["msg"].startswith("broker listening")]
    t.ok(broker, "json: the broker the gateway runs logs JSON too")

    why, tlog = run_one("text", tmp)
    t.ok(why is None, "text: the gateway serves")
    strip = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
    tmsgs = set()
    for l in tlog.split(b'\n'):
        if l:
            tmsgs.add(strip.sub(b"", l).decode('ascii', 'replace'))
    jmsgs = set()
    for o in objs:
        jmsgs.add(" ".join([o["level"]] + ([o["conn"]] if "conn" in o
                                            else []) + [o["msg"]]))
    norm = re.compile(r"#\d+ 127\.0\.0\.1:\d+|pid \d+|\d+\.\d+s|/[\w./-]*"
                      r"\.sock|port \d+")
    # The lines every run has alike: start-up, accept, upgrade.
    same = re.compile(r"^(info listening|info X upgrade|debug X accepted)")
    tset = {norm.sub("X", m) for m in tmsgs}
    jset = {norm.sub("X", m) for m in jmsgs}
    tset = {m for m in tset if same.match(m)}
    jset = {m for m in jset if same.match(m)}
    t.ok(len(tset) >= 4 and tset == jset, "the same events give the same "
         "level, conn and message in text and json (start-up, accepts, "
         "upgrades, the hostile path)", "text only: %r" % sorted(
             tset - jset)[:3], "json only: %r" % sorted(jset - tset)[:3])

    code, err = W.start_fail(["--logformat=xml", "cat"])
    t.ok(code == 1 and "--logformat=xml" in err,
         "--logformat=xml is refused: exit 1 with a message",
         "exit %r: %s" % (code, err.strip()[:200]))
    W.rmtree(tmp)


W.run(main, timeout=60 * W.SLOW)
