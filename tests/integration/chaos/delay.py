#!/usr/bin/env python3
"""A TCP relay that delays what it forwards (issue 15's 300 ms delay).

Usage: delay.py LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS

This machine's kernel has no sch_netem (CONFIG_NET_SCH_NETEM off, no
modules), so `tc netem delay` cannot delay a host's packets.  chaos_network
runs this relay inside each host's network namespace instead, an nftables
rule there redirecting port 22 to LISTEN_PORT: every byte the host's sshd
sends or receives then arrives DELAY_MS later (in both directions, so a
round trip costs twice that), in order.  It delays the stream, not each
packet: TCP's handshake and acknowledgements on the link are not delayed;
the 30% loss applies to the link as before.

Prints "listening" once it listens; runs until killed.
"""
import asyncio
import sys


async def pipe(reader, writer, delay):
    """Copies reader to writer, each chunk DELAY seconds after it came."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def feed():
        while True:
            data = await reader.read(65536)
            await queue.put((loop.time() + delay, data))
            if not data:
                return

    async def drain():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(feed(), drain())
    except (ConnectionError, OSError):
        writer.close()


async def main():
    port, host, tport, delay = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) / 1000.0

    async def client(cr, cw):
        try:
            sr, sw = await asyncio.open_connection(host, tport)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, sw, delay), pipe(sr, cw, delay), return_exceptions=True)

    server = await asyncio.start_server(client, "0.0.0.0", port, backlog=256)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
