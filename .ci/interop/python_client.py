"""Interop with the Python `websockets` package (sync client): permessage-deflate (its default),
text, binary, fragmented, 1 MiB, ping, close with code and reason. Exits non-zero on the first difference.
Usage: python_client.py URL [dedicated]   (dedicated: the server's route keeps context takeover with a
12-bit window, and a run of similar messages must shrink as each refers back to the last)."""
import os
import ssl
import sys

from websockets.sync.client import connect

URL = sys.argv[1]
DEDICATED = sys.argv[2:] == ["dedicated"]


def check(what, got, want):
    if got != want:
        sys.exit(f"python websockets: {what}: got {got!r:.80}, want {want!r:.80}")
    print(f"python websockets: {what}: ok")


# wss://: the server's self-signed certificate is trusted through RINGWS_CA.
context = ssl.create_default_context(cafile=os.environ["RINGWS_CA"]) if "RINGWS_CA" in os.environ else None

with connect(URL, max_size=None, ssl=context) as ws:
    # The client offers permessage-deflate by default; the server's /echo accepts it.
    extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    check("permessage-deflate negotiated", extensions.split(";")[0], "permessage-deflate")
    json_text = '{"player": 7, "x": 12.5, "y": -3.25}' * 40
    ws.send(json_text)
    check("compressed text", ws.recv(timeout=5), json_text)
    if DEDICATED:
        check("dedicated mode's windows", extensions,
              "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
        for i in range(50):  # both sides keep their context: each refers back into the last
            state = '{"tick": %d, "players": [{"id": 7, "x": 12.5, "y": -3.25, "hp": 97}]}' % i
            ws.send(state)
            if ws.recv(timeout=5) != state:
                check(f"context takeover, message {i}", "a different echo", state)
        print("python websockets: 50 messages with context takeover both ways: ok")
    ws.send("hello, κόσμε")
    check("text", ws.recv(timeout=5), "hello, κόσμε")
    ws.send(b"\x00\x01\xff")
    check("binary", ws.recv(timeout=5), b"\x00\x01\xff")
    ws.send(["frag", "men", "ted"])  # one message in three frames
    check("fragmented", ws.recv(timeout=5), "fragmented")
    big = os.urandom(1 << 20)
    ws.send(big)
    check("1 MiB binary", ws.recv(timeout=10), big)
    pong = ws.ping(b"are you there")
    check("ping answered", pong.wait(timeout=5), True)
    ws.close(code=4000, reason="bye")
    check("close code echoed", ws.protocol.close_rcvd.code, 4000)
