#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The program's stderr goes to the gateway's log at error level, tagged
# with the connection; a 100 KiB line does not block the program (the
# pipe holds 64 KiB), and all of it is logged (split into pieces).

import re

import lib as w

LEN = 100 * 1024


def body(t):
    gw = w.Gateway([w.TESTCHILD, 'stderr', str(LEN)])

    async def echo():
        async with w.connect(gw) as ws:
            await ws.send('hello')
            return await ws.recv()
    t.eq(w.arun(echo(), 10), 'hello', 'after writing a 100 KiB stderr line '
         'the program still echoes')

    def zs():
        return sum(l.count('Z') for l in gw.log().splitlines()
                   if 'Z' * 16 in l)
    t.ok(w.wait_until(lambda: zs() >= LEN - 7, 5), 'all of the stderr line '
         'is in the log', 'found %d of %d Z' % (zs(), LEN - 7))
    lines = [l for l in gw.log().splitlines() if 'STDERR ZZZZ' in l]
    t.eq(len(lines), 1, 'its start is logged once')
    first = lines[0] if lines else ''
    t.ok(re.match(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d error #\d+ '
                  r'127\.0\.0\.1:\d+ .*STDERR Z', first),
         'logged as "DATE TIME error #N 127.0.0.1:PORT ... text"',
         'line: %r' % first[:200])
    tag = re.search(r' (#\d+ 127\.0\.0\.1:\d+) ', first)
    pieces = [l for l in gw.log().splitlines() if 'Z' * 16 in l]
    t.ok(tag is not None and all(tag.group(1) in l for l in pieces),
         'every piece carries the connection tag',
         *[p[:120] for p in pieces if not tag or tag.group(1) not in p][:3])
    t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')


w.need_websockets()
w.run(body, 60, plan=6)