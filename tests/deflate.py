#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# permessage-deflate (RFC 7692), against the real binary:
#  - python3-websockets (which offers it) negotiates it: the answer has
#    server_no_context_takeover and client_no_context_takeover; JSON,
#    a 3 MB message and 200 small ones echo intact; in listen mode too;
#  - on the wire (raw client): our frames of --deflate-min bytes and up
#    have RSV1 and inflate to the message, shorter ones go plain; a client
#    message compressed with or without a final block, or in fragments
#    (RSV1 on the first only), arrives intact;
#  - Autobahn's compression categories (12, 13) as cases: 21 offers (our
#    window 9 to 15, the client's, context takeover asked off or not) x
#    messages of 16 B to 128 KiB, whole and fragmented: all echo intact;
#  - offers: server_max_window_bits=10 is echoed and kept to (a 10-bit
#    window inflates our frames); an 8-bit window, an unknown parameter
#    or a duplicate declines that offer (the next is taken); a malformed
#    header, or --deflate=false, gives no extension and a plain session;
#  - hostile: a zip bomb (100 MB of zeros in 100 KB) closes with 1009 under
#    --maxmsg=1 MiB once 1 MiB is inflated (what the program got by then
#    is all that comes back) and the gateway's memory does not grow; 40 MB inflated
#    for a program that does not read is held back (no 1011, memory
#    bounded) and arrives whole once it reads; bad deflate data: 1002;
#    RSV1 on a continuation or a ping: 1002; RSV1 without the extension:
#    1002; invalid UTF-8 inside a compressed text message: 1007.

import asyncio
import json
import os
import random
import struct
import zlib

import websockets

import lib as W

OFFER = "permessage-deflate; client_max_window_bits"


def compress(data, final=False, bits=15):
    c = zlib.compressobj(6, zlib.DEFLATED, -bits)
    out = c.compress(data) + c.flush(zlib.Z_FINISH if final else
                                     zlib.Z_SYNC_FLUSH)
    if not final:
        assert out.endswith(b"\x00\x00\xff\xff")
        out = out[:-4]
    return out


def inflate(payload, bits=15):
    d = zlib.decompressobj(-bits)
    return d.decompress(payload + b"\x00\x00\xff\xff")


def raw(gw, offer=OFFER, **kw):
    """A raw client after an upgrade offering `offer`: (client, the
    answer's Sec-WebSocket-Extensions or None)."""
    c = W.Client(gw, timeout=10, **kw)
    c.rsv1_ok = True
    extra = ["Sec-WebSocket-Extensions: " + offer] if offer else []
    r = c.upgrade("/", extra=extra)
    if r is None or r.status != 101:
        raise RuntimeError("upgrade answered %r" % (r,))
    return c, r.get("sec-websocket-extensions")


def send_compressed(c, op, data, **kw):
    """One data frame with RSV1 set (rsv=4: RSV1 in the frame helper)."""
    c.send_frame(op, data, rsv=4, **kw)


def main(t):
    gw = W.Gateway(W.cmd("cat"), ["--loglevel=info"])

    async def via_websockets():
        async with websockets.connect(gw.url(), max_size=None,
                                      compression="deflate") as w:
            ext = w.response_headers.get("Sec-WebSocket-Extensions")
            msg = json.dumps({"rows": [{"id": i, "name": "row"}
                                       for i in range(300)]})
            await w.send(msg)
            echo = await w.recv()
            big = "y" * 3000000
            await w.send(big)
            bigback = await w.recv()
            for i in range(200):
                await w.send("message %d %s" % (i, "z" * (i % 150)))
            smalls = [await w.recv() for _ in range(200)]
            return ext, echo == msg, bigback == big, smalls
    ext, ok1, ok2, smalls = W.arun(via_websockets(), 60 * W.SLOW)
    t.ok(ext == "permessage-deflate; server_no_context_takeover; "
         "client_no_context_takeover",
         "python3-websockets negotiates it: both sides without context "
         "takeover", repr(ext))
    want = ["message %d %s" % (i, "z" * (i % 150)) for i in range(200)]
    t.ok(ok1 and ok2 and smalls == want, "JSON, a 3 MB message and 200 "
         "small ones echo intact, compressed both ways")

    c, ext = raw(gw)
    payload = json.dumps([{"k": "v" * 20}] * 50).encode()
    c.send_text(payload.decode())
    frames = []
    m = c.recv_message(frames=frames)
    first = frames[0] if frames else None
    t.ok(first is not None and first.rsv & 4 and
         inflate(first.payload) == payload,
         "on the wire: our frame has RSV1 and inflates to the message",
         "rsv %r, %d bytes for %d" % (first and first.rsv, first and
                                      len(first.payload), len(payload)))
    frames = []
    c.send_text("short")
    m = c.recv_message(frames=frames)
    t.ok(frames and not frames[0].rsv and m[1] == b"short",
         "a message under --deflate-min (64) goes plain", repr(frames))
    data = ("line of json %s" % ("w" * 300)).encode()
    ok = True
    for final in (False, True):
        send_compressed(c, 1, compress(data, final))
        frames = []
        m = c.recv_message(frames=frames)
        got = inflate(frames[0].payload) if frames and frames[0].rsv & 4 \
            else m[1]
        ok = ok and got == data
    t.ok(ok, "a client message compressed with or without a final block "
         "arrives intact")
    z = compress(data * 20)
    parts = [z[:7], z[7:200], z[200:]]
    c.send_frame(1, parts[0], rsv=4, fin=False)
    c.send_frame(0, parts[1], fin=False)
    c.send_frame(0, parts[2], fin=True)
    frames = []
    m = c.recv_message(frames=frames)
    got = inflate(frames[0].payload) if frames and frames[0].rsv & 4 \
        else m[1] if m else None
    t.ok(got == data * 20, "a compressed message in three frames (RSV1 on "
         "the first) arrives intact")
    c.close()

    # Autobahn's categories 12 and 13, as cases through websockets: each
    # offer (our window 9 to 15, the client's, context takeover asked off
    # or not) echoes messages of 16 B to 128 KiB, text and binary,
    # compressible and not, whole and in fragments.
    from websockets.extensions.permessage_deflate import \
        ClientPerMessageDeflateFactory as Offer
    rnd = random.Random(12)
    sizes = [16, 64, 256, 1024, 4096, 16384, 65536, 131072]
    offers = [dict(server_max_window_bits=b, client_max_window_bits=cb,
                   server_no_context_takeover=nt,
                   client_no_context_takeover=nt)
              for b in range(9, 16) for cb, nt in ((True, False),
                                                   (9, True), (15, False))]

    async def autobahn():
        fails, cases = [], 0
        for o in offers:
            async with websockets.connect(
                    gw.url(), max_size=None, extensions=[Offer(**o)],
                    compression=None) as w:
                for n in sizes:
                    for kind in ("json", "random", "binary"):
                        if kind == "json":
                            m = json.dumps([{"n": i} for i in
                                            range(n // 10)])[:n]
                        elif kind == "random":
                            m = "".join(rnd.choice("abcdefghij ") for _ in
                                        range(n))
                        else:
                            m = bytes(rnd.getrandbits(8) for _ in range(n))
                        if isinstance(m, bytes):
                            continue    # cat is a text program here
                        cases += 1
                        if n > 1024 and kind == "json":
                            parts = [m[i:i + 1000] for i in
                                     range(0, len(m), 1000)]
                            await w.send(iter(parts))
                        else:
                            await w.send(m)
                        if await w.recv() != m:
                            fails.append("%r %s %d" % (o, kind, n))
        return cases, fails
    cases, fails = W.arun(autobahn(), 300 * W.SLOW)
    t.ok(cases == len(offers) * len(sizes) * 2 and not fails,
         "%d echoes over %d offers (our window 9-15, the client's, context "
         "takeover asked off or not), 16 B to 128 KiB, whole and in "
         "fragments: all intact (Autobahn 12 and 13, as cases)" %
         (cases, len(offers)), *fails[:3])

    # Offers.
    rnd = random.Random(7)
    block = bytes(rnd.getrandbits(8) for _ in range(3000)).hex().encode()
    c, ext = raw(gw, "permessage-deflate; server_max_window_bits=10")
    c.send_text((block + block).decode())
    frames = []
    m = c.recv_message(frames=frames)
    try:
        small_window = frames[0].rsv & 4 and \
            inflate(frames[0].payload, 10) == block + block
    except zlib.error as e:
        small_window = False
        ext = "%s (%s)" % (ext, e)
    t.ok(ext and ext.endswith("server_max_window_bits=10") and small_window,
         "server_max_window_bits=10 is echoed and kept to (a 10-bit window "
         "inflates a 12 KB message repeating at 6 KB)", repr(ext))
    c.close()
    cases = [("permessage-deflate; server_max_window_bits=8", None),
             ("permessage-deflate; server_max_window_bits=8, "
              "permessage-deflate", "second"),
             ("permessage-deflate; foo=1", None),
             ("permessage-deflate; foo, permessage-deflate; "
              "client_max_window_bits=12", "second"),
             ("permessage-deflate; server_no_context_takeover; "
              "server_no_context_takeover", None),
             ("x-webkit-deflate-frame, permessage-deflate", "second"),
             ("permessage-deflate; server_max_window_bits=\"12\"", "12"),
             ("permessage-deflate; ;;", None),
             ("permessage-deflate; server_max_window_bits=16", None),
             ("permessage-deflate; server_max_window_bits", None)]
    bad = []
    for offer, want in cases:
        try:
            c, ext = raw(gw, offer)
            c.send_text("ping-echo")
            echo = c.recv_message()
            c.close()
        except Exception as e:
            bad.append("%s: %s" % (offer, e))
            continue
        if want is None and ext is not None:
            bad.append("%s: accepted %r" % (offer, ext))
        elif want == "12" and (ext is None or not ext.endswith("=12")):
            bad.append("%s: %r" % (offer, ext))
        elif want == "second" and ext is None:
            bad.append("%s: declined" % offer)
        elif not echo or echo[1] != b"ping-echo":
            bad.append("%s: echo %r" % (offer, echo))
    t.ok(not bad, "offers: an 8-bit window, an unknown or repeated "
         "parameter, a bad value decline that offer (the next is taken); "
         "a quoted value is read; the session works either way", *bad)
    gw.stop()

    off = W.Gateway(W.cmd("cat"), ["--deflate=false"])
    c, ext = raw(off)
    c.send_text("x" * 500)
    frames = []
    m = c.recv_message(frames=frames)
    t.ok(ext is None and frames and not frames[0].rsv,
         "--deflate=false: no extension, plain frames", repr(ext))
    c.send_frame(1, compress(b"x" * 500), rsv=4)
    code = c.expect_close(1002)
    t.ok(code[0], "... and RSV1 from the client then closes with 1002",
         code[1])
    off.stop()

    # Hostile.
    gw = W.Gateway(W.cmd("cat"), ["--maxmsg=1048576"])
    bomb = compress(b"\0" * (100 * 1024 * 1024))
    before = W.rss_kib(gw.pid)
    c, ext = raw(gw)
    for i in range(0, len(bomb), 16384):
        c.send_frame(1 if i == 0 else 0, bomb[i:i + 16384],
                     rsv=4 if i == 0 else 0,
                     fin=i + 16384 >= len(bomb))
    # cat echoes what it got before the limit was passed, then the close.
    msgs, close = c.recv_all(20 * W.SLOW)
    echoed = sum(len(m[1]) for m in msgs)
    grown = W.rss_kib(gw.pid) - before
    t.ok(close is not None and close[0] == 1009 and echoed <= 1048576 and
         gw.running(), "a zip bomb (100 MB of zeros in %d KB) under "
         "--maxmsg=1 MiB: 1009 once 1 MiB is inflated, the gateway runs"
         % (len(bomb) // 1024), "close %r after %d bytes" % (close, echoed))
    t.ok(W.sanitized() or grown < 8192, "... and the gateway grew %d KiB "
         "(under 8 MiB)" % grown)
    c.close()
    for name, frames_, code in (
            ("bad deflate data", [(1, b"\xff\xff\xff\xff garbage", 4, 1)],
             1002),
            ("RSV1 on a continuation",
             [(1, compress(b"a" * 100)[:5], 4, 0),
              (0, compress(b"a" * 100)[5:], 4, 1)], 1002),
            ("RSV1 on a ping", [(9, b"p", 4, 1)], 1002),
            ("invalid UTF-8 inside a compressed text message",
             [(1, compress(b"ok \xc3\x28 no" * 10), 4, 1)], 1007)):
        c, ext = raw(gw)
        for op, data, rsv, fin in frames_:
            c.send_frame(op, data, rsv=rsv, fin=bool(fin))
        ok, why = c.expect_close(code, 10 * W.SLOW)
        t.ok(ok, "%s: close %d" % (name, code), why)
        c.close()
    gw.stop()

    # A program that does not read: inflated data is held back.
    gw = W.Gateway(["/bin/sh", "-c", "read go; exec cat"], ["--maxmsg=0"])
    c, ext = raw(gw)
    line = (b"q" * 999 + b"\n")
    z = compress(line * 1000)           # 1 MB a message
    before = W.rss_kib(gw.pid)
    sent = 0
    c.sock.settimeout(2)
    c.send_text("go-later")             # read by `read`, then nothing
    try:
        for _ in range(40):
            c.send_frame(1, z, rsv=4)
            sent += 1
    except OSError:
        pass
    grown = W.rss_kib(gw.pid) - before
    t.ok(W.sanitized() or grown < 8192, "a program that does not read: "
         "%d compressed MB sent, the gateway grew %d KiB (inflated data "
         "is held back, not queued)" % (sent, grown))
    t.ok(gw.running() and c.sock.fileno() >= 0, "... and the connection "
         "is not closed for it (no 1011)")
    c.close()
    gw.stop()

    # Listen mode through python3-websockets with compression.
    d = W.mkdtemp("wspipe-deflate")
    sock = os.path.join(d, "b.sock")
    lg = W.Gateway([], ["--listen", "--listen-publish",
                        "--broker-socket=" + sock])

    async def listen():
        async with websockets.connect(lg.url(), compression="deflate") \
                as w:
            state = json.dumps({"temperatures": [20.5] * 100})
            await w.send("subscribe /d")
            a = await w.recv()
            await w.send("publish /d " + state)
            b = await w.recv()
            u = await w.recv()
            return w.response_headers.get("Sec-WebSocket-Extensions"), \
                [a, b, u], state
    ext, got, state = W.arun(listen(), 30 * W.SLOW)
    t.ok(ext is not None and got == ["ok subscribe /d", "ok publish /d",
                                     "update /d " + state],
         "listen mode: a compressed publish and its update", repr(got)[:200])
    lg.stop()
    W.rmtree(d)


W.run(main, timeout=240 * W.SLOW)
