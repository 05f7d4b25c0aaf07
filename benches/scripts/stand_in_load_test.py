#!/usr/bin/env python3
"""A stand-in for an outside echo load generator, with the command line and output of
uWebSockets' benchmarks/load_test (`CONNECTIONS HOST PORT SSL DEFLATE [SIZE]`, a "Msg/sec: N"
line every 4 s, WebSocket path /). It exists to check compare.sh's plumbing for outside
generators where the real one is not built; it is far slower than a real generator, and its
figures mean nothing. Written from the RFC: a fixed masked binary frame, echoes counted by
length, one message in flight per connection.
"""
import os, selectors, socket, sys, time

INTERVAL = 4.0


def main():
    if len(sys.argv) not in (6, 7):
        print("Usage: connections host port ssl deflate [payload_size_bytes]")
        return
    conns, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    if int(sys.argv[4]) or int(sys.argv[5]):
        sys.exit("the stand-in speaks neither TLS nor deflate")
    size = int(sys.argv[6]) if len(sys.argv) == 7 else 20
    mask = os.urandom(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"T" * size))
    if size <= 125:
        head = bytes([0x82, 0x80 | size])
    else:
        head = bytes([0x82, 0x80 | 126]) + size.to_bytes(2, "big")
    frame = head + mask + payload
    reply = len(head) + size  # the echo comes back unmasked
    upgrade = (f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
               ).encode()
    sel = selectors.DefaultSelector()
    for _ in range(conns):
        s = socket.create_connection((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(upgrade)
        head_in = b""
        while b"\r\n\r\n" not in head_in:
            head_in += s.recv(4096)
        if not head_in.startswith(b"HTTP/1.1 101"):
            sys.exit(f"upgrade refused: {head_in[:40]!r}")
        s.setblocking(False)
        s.sendall(frame)
        sel.register(s, selectors.EVENT_READ, [reply])
    print("Running benchmark now...", flush=True)
    count, since = 0, time.monotonic()
    while True:
        for key, _ in sel.select(timeout=0.5):
            data = key.fileobj.recv(65536)
            if not data:
                sys.exit("the server closed a connection")
            key.data[0] -= len(data)
            while key.data[0] <= 0:
                key.data[0] += reply
                count += 1
                key.fileobj.sendall(frame)
        now = time.monotonic()
        if now - since >= INTERVAL:
            print(f"Msg/sec: {count / (now - since):f}", flush=True)
            count, since = 0, now


if __name__ == "__main__":
    main()
