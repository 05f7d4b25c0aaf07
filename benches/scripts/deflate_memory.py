#!/usr/bin/env python3
"""Server memory per permessage-deflate connection, by compression mode.

For each mode it starts the release `ringws` (one worker) on loopback, opens N connections with
Python `websockets` (which offers permessage-deflate with context takeover, as browsers do), and
reads the server's RSS three times: before, with the N connections open and idle, and after each
has sent one 1 KiB JSON message and read its echo (so each direction's codec exists where the mode
keeps one). Prints a markdown table of bytes per connection.

Usage: python deflate_memory.py [N] [MODE ...]   (modes: off shared dedicated dedicated:10 ...)
Needs: `cargo build --release -p ringws-server` and `pip install websockets`.
"""
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.path.join(ROOT, "target", "release", "ringws")


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def message(i):
    quote = {"symbol": "ACME", "bid": 101.25 + i % 7, "ask": 101.5, "size": 300, "seq": i}
    return json.dumps({"op": "quotes", "data": [dict(quote, level=k) for k in range(12)]})[:1024]


async def settle(pid):
    # RSS after the server has handled everything: read until it stops moving.
    last = rss(pid)
    for _ in range(20):
        await asyncio.sleep(0.1)
        now = rss(pid)
        if now == last:
            break
        last = now
    return last


async def echo_once_each(conns):
    """Each connection sends one message and reads its echo, all at once."""

    async def one(i, ws):
        text = message(i)
        await ws.send(text)
        assert await ws.recv() == text

    await asyncio.gather(*(one(i, ws) for i, ws in enumerate(conns)))


async def run(mode, n):
    port = free_port()
    args = [SERVER, "--addr", f"127.0.0.1:{port}", "--workers", "1", "--echo-compression", mode]
    log = tempfile.NamedTemporaryFile("w+", prefix="ringws-deflate-memory-", suffix=".log")
    server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while "listening" not in open(log.name).read():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {open(log.name).read()}")
            time.sleep(0.05)
        url = f"ws://127.0.0.1:{port}/echo"
        base = await settle(server.pid)
        compression = None if mode == "off" else "deflate"
        conns = []
        for _ in range(n):
            conns.append(await websockets.connect(url, compression=compression, max_size=None))
        negotiated = conns[0].response.headers.get("Sec-WebSocket-Extensions", "(none)")
        idle = await settle(server.pid)
        await echo_once_each(conns)
        used = await settle(server.pid)
        await asyncio.gather(*(ws.close() for ws in conns))
        return negotiated, (idle - base) / n, (used - base) / n
    finally:
        server.terminate()
        server.wait()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    modes = sys.argv[2:] or ["off", "shared", "dedicated:10", "dedicated"]
    print(f"{n} connections, one 1 KiB JSON message each way; {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} cores, kernel {os.uname().release}")
    print("| mode | negotiated | server RSS per idle connection | after one message each way |")
    print("| --- | --- | --- | --- |")
    for mode in modes:
        negotiated, idle, used = asyncio.run(run(mode, n))
        print(f"| {mode} | `{negotiated}` | {idle:,.0f} B | {used:,.0f} B |")


if __name__ == "__main__":
    main()
