#!/usr/bin/env python3
"""ticker.py: publish a made-up stock quote to the resource /ticker every
second, straight over the broker's UNIX socket (no wspipe binary needed).

    WSPIPE_BROKER=/path/to/broker.sock ./ticker.py [RESOURCE]

The broker protocol is one line per command: `publish RESOURCE DATA`. The
broker answers only `error ...` lines for bad input, which are printed. If
the broker goes away, ticker.py reconnects every second.
"""
import json
import os
import random
import socket
import sys
import time

resource = sys.argv[1] if len(sys.argv) > 1 else "/ticker"
path = os.environ.get("WSPIPE_BROKER")
if not path:
    sys.exit("ticker.py: set WSPIPE_BROKER to the broker's socket")

price = 100.0
sock = None
while True:
    price = max(1.0, price * (1 + random.gauss(0, 0.01)))
    tick = {"symbol": "WSP", "price": round(price, 2), "at": int(time.time() * 1000)}
    line = "publish %s %s\n" % (resource, json.dumps(tick, separators=(",", ":")))
    try:
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            sock.setblocking(False)
        sock.sendall(line.encode())
        try:                            # report what the broker complains about
            reply = sock.recv(4096)
            if reply == b"":
                raise ConnectionError("broker closed the connection")
            sys.stderr.write(reply.decode(errors="replace"))
        except BlockingIOError:
            pass
    except OSError as e:
        print("ticker.py: %s: %s (retrying)" % (path, e), file=sys.stderr, flush=True)
        if sock is not None:
            sock.close()
        sock = None
    time.sleep(1)
