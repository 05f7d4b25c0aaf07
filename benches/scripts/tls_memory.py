#!/usr/bin/env python3
"""Server memory per idle connection, ws:// against wss://.

Starts the release `ringws` (one worker) plain, then with a self-signed certificate (openssl),
opens N idle connections with Python `websockets` (no compression, so only TLS differs) and
reads the server's RSS before and after; then each connection sends one 1 KiB message and reads
its echo, and the RSS is read again. Prints a markdown table of bytes per connection.

Usage: python tls_memory.py [N]   Needs: `cargo build --release -p ringws-server`, `pip install
websockets`, openssl.
"""
import asyncio
import os
import ssl
import subprocess
import sys
import tempfile
import time

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deflate_memory import SERVER, echo_once_each, free_port, settle  # noqa: E402


def certificate(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
         "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert],
        check=True, capture_output=True)
    return cert, key


async def run(n, tls):
    port = free_port()
    args = [SERVER, "--addr", f"127.0.0.1:{port}", "--workers", "1", "--echo-compression", "off"]
    context = None
    if tls:
        cert, key = tls
        args += ["--tls-cert", cert, "--tls-key", key]
        context = ssl.create_default_context(cafile=cert)
    log = tempfile.NamedTemporaryFile("w+", prefix="ringws-tls-memory-", suffix=".log")
    server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while "listening" not in open(log.name).read():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {open(log.name).read()}")
            time.sleep(0.05)
        scheme = "wss" if tls else "ws"
        url = f"{scheme}://localhost:{port}/echo"
        base = await settle(server.pid)
        conns = [await websockets.connect(url, ssl=context, compression=None) for _ in range(n)]
        idle = await settle(server.pid)
        await echo_once_each(conns)
        used = await settle(server.pid)
        await asyncio.gather(*(ws.close() for ws in conns))
        return (idle - base) / n, (used - base) / n
    finally:
        server.terminate()
        server.wait()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as directory:
        tls = certificate(directory)
        print(f"{n} connections; {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
              f"kernel {os.uname().release}")
        print("| scheme | server RSS per idle connection | after one 1 KiB echo each |")
        print("| --- | --- | --- |")
        for name, setting in (("ws://", None), ("wss://", tls), ("ws://", None), ("wss://", tls)):
            idle, used = asyncio.run(run(n, setting))
            print(f"| {name} | {idle:,.0f} B | {used:,.0f} B |")


if __name__ == "__main__":
    main()
