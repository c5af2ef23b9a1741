#!/usr/bin/env python3
"""A scriptable slow origin for the herd benchmarks of bench/compare.py.

GET /slow/<tag>/<size>?delay=<s>&secs=<s>
    waits `delay` seconds before sending its response headers, then sends `size` bytes
    (`64m`, `256k`, `1g`, or a plain byte count) paced evenly over `secs` seconds, with
    Content-Length and Cache-Control: max-age=3600.
GET /count?path=<path>   how many GETs /slow/... with that path (query excluded) arrived.
GET /count               the total, as JSON {"total": n, "paths": {...}}.

Only loopback. Usage: slow_origin.py PORT
"""

import asyncio
import json
import os
import sys
import time
from urllib.parse import parse_qs, urlsplit

BLOCK = os.urandom(256 * 1024)
COUNTS = {}


def size_of(text):
    mult = {"k": 1024, "m": 1024**2, "g": 1024**3}
    t = text.lower()
    if t and t[-1] in mult:
        return int(t[:-1]) * mult[t[-1]]
    return int(t)


async def send_body(writer, size, secs):
    start = time.monotonic()
    sent = 0
    while sent < size:
        n = min(len(BLOCK), size - sent)
        writer.write(BLOCK[:n] if n < len(BLOCK) else BLOCK)
        sent += n
        await writer.drain()
        if secs > 0:
            due = start + secs * sent / size
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target, _ = line.split(" ", 2)
            url = urlsplit(target)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/count":
                p = q.get("path")
                data = json.dumps(
                    {"count": COUNTS.get(p, 0)} if p else {"total": sum(COUNTS.values()), "paths": COUNTS}
                ).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                    + b"Content-Length: %d\r\n\r\n" % len(data)
                    + data
                )
                await writer.drain()
                continue
            parts = url.path.split("/")
            if len(parts) != 4 or parts[1] != "slow":
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                continue
            COUNTS[url.path] = COUNTS.get(url.path, 0) + 1
            size = size_of(parts[3])
            await asyncio.sleep(float(q.get("delay", "1")))
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                b"Cache-Control: max-age=3600\r\n"
                + b"Content-Length: %d\r\n\r\n" % size
            )
            if method == "HEAD":
                await writer.drain()
                continue
            await send_body(writer, size, float(q.get("secs", "2")))
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024, limit=1 << 16)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
