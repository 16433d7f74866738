#!/usr/bin/env python3
# Example 3 chat server (Python 3). Listens on 127.0.0.1:7777 (or the port
# given as the first argument); every line a client sends goes to all
# clients as "clientN: text", and joins and leaves are announced as
# "clientN connected" / "clientN disconnected".
#
# Fixed from the talk: asyncio has no `dispatcher` (that was the old,
# removed asyncore module); this uses asyncio streams instead.
import asyncio
import sys

HOST = "127.0.0.1"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 7777
MAX_LINE = 1 << 20          # longest line accepted from a client
MAX_BACKLOG = 4 << 20       # a client this far behind is dropped

clients = {}                # name -> StreamWriter
counter = 0


def broadcast(message):
    print(message, flush=True)
    data = (message + "\n").encode("utf-8", "replace")
    for name, writer in list(clients.items()):
        if writer.transport.get_write_buffer_size() > MAX_BACKLOG:
            print(name + " is not reading; dropped", flush=True)
            writer.close()
            continue
        writer.write(data)


async def handle(reader, writer):
    global counter
    counter += 1
    name = "client" + str(counter)
    print("Incoming connection from {}: {}".format(
        writer.get_extra_info("peername"), name), flush=True)
    clients[name] = writer
    broadcast(name + " connected")
    try:
        while True:
            try:
                line = await reader.readline()
            except (asyncio.LimitOverrunError, ValueError):
                break               # line too long
            if not line:
                break               # EOF: the client has gone
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            broadcast(name + ": " + text)
    except ConnectionError:
        pass
    finally:
        clients.pop(name, None)
        writer.close()
        broadcast(name + " disconnected")


async def main():
    server = await asyncio.start_server(handle, HOST, PORT, limit=MAX_LINE,
                                        reuse_address=True)
    print("chat server listening on {}:{}".format(HOST, PORT), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
