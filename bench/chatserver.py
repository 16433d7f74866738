#!/usr/bin/env python3
"""bench/chatserver.py - the chat server of the talk's websocketd demo.

A plain asyncio broadcast server: every line received from any connected
client is sent to every connected client (the sender included).  Behind
websocketd it is reached through `nc 127.0.0.1 PORT`, one nc per browser.

    python3 bench/chatserver.py [PORT]      (default 7777, 127.0.0.1 only)

Prints "ready <port>" on stdout once it listens.  SIGTERM/SIGINT: exit.
"""
import asyncio
import signal
import sys

clients = set()


async def handle(reader, writer):
    clients.add(writer)
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            for w in list(clients):
                w.write(line)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        clients.discard(writer)
        writer.close()


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 7777
    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=1 << 16)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    print("ready", port, flush=True)
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(main())
