#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --passstderr (websocketd HEAD): each line of the program's stdout and
# stderr is one text message {"stream":"stdout"|"stderr","data":"..."},
# valid JSON with quotes, backslashes and control characters escaped and
# invalid UTF-8 repaired; a stdout line too long for one frame is still
# one JSON message (in fragments); with --binary it is a configuration
# error.  Order between the two streams is the program's pipes', so each
# stream is checked in its own order.

import json
import os
import stat
import subprocess

import lib as w

# The long line is printed alone, on request: a stderr line that came
# while it is sent in fragments would go to the log instead.
SCRIPT = r'''#!/bin/sh
printf 'out "quoted" \\back\n'
printf 'err\ttab\n' >&2
printf 'bad \377 byte\n' >&2
printf 'ctl \001 end\n' >&2
read -r l
head -c 100000 /dev/zero | tr '\0' 'z'; printf '\n'
while read -r l; do printf 'got %s\n' "$l"; printf 'warn %s\n' "$l" >&2; done
'''


def body(t):
    d = w.mkdtemp()
    try:
        prog = os.path.join(d, 'prog.sh')
        with open(prog, 'w') as f:
            f.write(SCRIPT)
        os.chmod(prog, stat.S_IRWXU)
        gw = w.Gateway([prog], ['--passstderr'])

        async def talk():
            async with w.connect(gw) as ws:
                msgs = []
                while len(msgs) < 4:
                    msgs.append(await ws.recv())
                await ws.send('big')
                msgs.append(await ws.recv())
                await ws.send('hi')
                while len(msgs) < 7:
                    msgs.append(await ws.recv())
                return msgs
        msgs = w.arun(talk(), 60 * w.SLOW)
        parsed = []
        for m in msgs:
            try:
                parsed.append(json.loads(m))
            except ValueError:
                parsed.append(None)
        t.ok(all(isinstance(p, dict) and sorted(p) == ['data', 'stream']
                 for p in parsed),
             'every message is a JSON object with stream and data',
             [w.trunc(m) for m in msgs])
        out = [p['data'] for p in parsed if p and p['stream'] == 'stdout']
        err = [p['data'] for p in parsed if p and p['stream'] == 'stderr']
        t.eq(out[:1], ['out "quoted" \\back'],
             'a stdout line, quotes and backslash escaped')
        t.eq(out[1:2], ['z' * 100000],
             'a 100,000-byte stdout line is one JSON message (fragments)')
        t.eq(out[2:], ['got hi'], 'the program answers a message on stdout')
        t.eq(err[:3], ['err\ttab', 'bad \ufffd byte', 'ctl \x01 end'],
             'stderr lines: a tab and a control byte escaped, invalid '
             'UTF-8 repaired')
        t.eq(err[3:], ['warn hi'], 'and stderr answers too')
        t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')

        r = subprocess.run([w.WSPIPE, '--passstderr', '--binary', 'cat'],
                           capture_output=True, timeout=30 * w.SLOW)
        t.eq(r.returncode, 1, '--passstderr with --binary: exit 1')
    finally:
        w.rmtree(d)


w.need_websockets()
w.run(body, 60, plan=8)
