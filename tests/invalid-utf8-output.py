#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Invalid UTF-8 in the program's output (text mode) reaches the client as
# U+FFFD inside a valid text message; the connection stays open; a long
# line with invalid bytes is fixed across its fragments too.

import os

import lib as w

R = '\ufffd'
CASES = [
    # (bytes written, exact result or (prefix, suffix) around U+FFFDs)
    (b'a\xffb', 'a' + R + 'b'),
    (b'\xe2\x82\xac euro', '\u20ac euro'),
    (b'over\xc0\xaflong', ('over', 'long')),
    (b'surr\xed\xa0\x80gate', ('surr', 'gate')),
    (b'big\xf4\x90\x80\x80end', ('big', 'end')),
    (b'trunc\xe2\x82', ('trunc', '')),
    (b'\x80lead', ('', 'lead')),
]
LONG = b'ab\xff' * 40000        # 120 000 bytes: fragmented


def body(t):
    path = os.path.join(w.tmpdir(), 'invalid.txt')
    with open(path, 'wb') as f:
        for raw, _ in CASES:
            f.write(raw + b'\n')
        f.write(LONG + b'\n')
    gw = w.Gateway(['/bin/sh', '-c', 'cat "$0" && exec "$1" cat', path,
                    w.TESTCHILD])

    async def main():
        async with w.connect(gw) as ws:
            got = [await ws.recv() for _ in range(len(CASES) + 1)]
            await ws.send('still open')
            after = await ws.recv()
        return got, after, ws.close_code
    got, after, code = w.arun(main(), 20)
    for (raw, want), g in zip(CASES, got):
        if isinstance(want, str):
            t.eq(g, want, 'output %r arrives as %r' % (raw, want))
        else:
            pre, suf = want
            mid = g[len(pre):len(g) - len(suf)] if len(g) >= len(pre) + len(
                suf) else None
            t.ok(isinstance(g, str) and g.startswith(pre) and
                 g.endswith(suf) and mid and set(mid) == {R},
                 'output %r arrives as %r, U+FFFD..., %r' % (raw, pre, suf),
                 'got %r' % g)
    g = got[-1]
    t.ok(g == ('ab' + R) * 40000, 'a 120 KB line with invalid bytes '
         'arrives as one message, each invalid byte replaced',
         'got %d chars, first difference at %s' % (
             len(g), next((i for i, (x, y) in enumerate(
                 zip(g, ('ab' + R) * 40000)) if x != y), None)))
    t.eq(after, 'still open', 'the connection stays open and echoes')
    t.eq(code, 1000, 'closed normally by the client')
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.need_websockets()
w.run(body, 60, plan=len(CASES) + 4)