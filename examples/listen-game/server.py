#!/usr/bin/env python3
"""server.py: the state server of listen-game, its only game-specific code on
the server side. It speaks the broker's line protocol on its UNIX socket:

    WSPIPE_BROKER=/path/to/broker.sock ./server.py

It sends `subscribe /game/in`, reads `update /game/in COMMAND` lines, where
COMMAND is `join ID [NAME]`, `move ID DX DY` or `leave ID` as the pages
published it, and publishes the whole game, at most 20 times a second and
only when it changed: `publish /game/state {"world":1000,"players":{"ID":
{"x":..,"y":..,"color":"hsl(..)","name":".."}}}`. Every state of /game/in is
a command, and the broker sends a reader that falls far behind only the
newest state: so this loop only reads and applies, and publishes between
reads. It drops players not heard from for IDLE seconds, and reconnects
every second if the broker goes away.
"""
import json
import math
import os
import random
import signal
import socket
import sys
import time
import zlib

WORLD = 1000             # the world is WORLD x WORLD
MAX_STEP = 10.0          # the longest move one command may make
MAX_PLAYERS = 300        # so that a state stays under the 64 KiB line limit
IDLE = 30.0              # seconds without a command before a player is dropped
MIN_GAP = 0.05           # seconds between publishes: at most 20 a second
IN, OUT = "/game/in", "/game/state"

players = {}             # id -> {"x", "y", "color", "name", "seen"}


def log(msg):
    print("server.py: %s" % msg, file=sys.stderr, flush=True)


def apply(cmd, now):
    """Applies one command; True if the state changed."""
    parts = cmd.split(" ", 2)
    verb, pid = parts[0], parts[1] if len(parts) > 1 else ""
    if not 0 < len(pid) <= 32 or not all(c.isalnum() or c in "-_" for c in pid):
        return False
    p = players.get(pid)
    if verb == "join":
        name = "".join(c for c in (parts[2] if len(parts) > 2 else "")
                       if c.isprintable()).strip()[:24] or "player " + pid[:4]
        if p is None:
            if len(players) >= MAX_PLAYERS:
                return False
            hue = zlib.crc32(pid.encode()) % 360
            p = players[pid] = {"x": round(random.uniform(50, WORLD - 50), 1),
                                "y": round(random.uniform(50, WORLD - 50), 1),
                                "color": "hsl(%d,70%%,50%%)" % hue, "name": name}
            changed = True
        else:
            changed, p["name"] = p["name"] != name, name
        p["seen"] = now
        return changed
    if p is None:
        return False
    p["seen"] = now
    if verb == "leave":
        del players[pid]
        return True
    if verb != "move" or len(parts) < 3:
        return False
    try:
        dx, dy = (float(v) for v in parts[2].split())
    except ValueError:
        return False
    length = math.hypot(dx, dy)
    if not math.isfinite(length) or length == 0:
        return False
    k = min(1.0, MAX_STEP / length)
    x = round(min(WORLD, max(0.0, p["x"] + dx * k)), 1)
    y = round(min(WORLD, max(0.0, p["y"] + dy * k)), 1)
    changed = (x, y) != (p["x"], p["y"])
    p["x"], p["y"] = x, y
    return changed


def state():
    shown = ("x", "y", "color", "name")
    return json.dumps({"world": WORLD, "players": {
        pid: {k: p[k] for k in shown} for pid, p in players.items()}},
        separators=(",", ":"), ensure_ascii=False)


def connect(path):
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.sendall(("subscribe %s\n" % IN).encode())
            log("connected to %s" % path)
            return s
        except OSError as e:
            log("%s: %s (retrying)" % (path, e))
            s.close()
            time.sleep(1)


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)      # Ctrl-C: no traceback
    path = os.environ.get("WSPIPE_BROKER") or sys.exit("server.py: set WSPIPE_BROKER")
    sock, buf, dirty, published, swept = connect(path), b"", True, 0.0, 0.0
    prefix = "update %s " % IN
    while True:
        now = time.monotonic()
        try:
            # Wait for commands until the next publish is due (or a sweep).
            sock.settimeout(max(0.001, published + MIN_GAP - now) if dirty else 1.0)
            try:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("the broker closed the connection")
            except socket.timeout:
                data = b""
            *lines, buf = (buf + data).split(b"\n")
            now = time.monotonic()
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                if line.startswith(prefix):
                    dirty |= apply(line[len(prefix):], now)
                elif line.startswith("error"):
                    log("broker: " + line)
            if now - swept >= 1.0:
                swept = now
                for pid in [i for i, p in players.items() if now - p["seen"] > IDLE]:
                    del players[pid]
                    dirty = True
            if dirty and now - published >= MIN_GAP:
                sock.settimeout(10.0)
                sock.sendall(("publish %s %s\n" % (OUT, state())).encode())
                dirty, published = False, now
        except OSError as e:
            log("%s (reconnecting)" % e)
            sock.close()
            time.sleep(1)
            sock, buf, dirty = connect(path), b"", True


if __name__ == "__main__":
    main()
