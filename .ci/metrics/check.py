"""A scripted workload against the release server, then /metrics parsed by the Prometheus
project's own Python parser (prometheus_client), every counter checked against the workload.

Usage: check.py PORT
"""
import asyncio
import json
import socket
import sys
import urllib.request

import websockets
from prometheus_client.parser import text_string_to_metric_families

PORT = int(sys.argv[1])
BASE = f"127.0.0.1:{PORT}"
ECHO_CLIENTS, ECHO_MESSAGES, ECHO_SIZE = 5, 10, 100
SUBSCRIBERS, PUBLISHES = 3, 4


async def echo_client(i):
    async with websockets.connect(f"ws://{BASE}/echo") as ws:
        for n in range(ECHO_MESSAGES):
            text = (f"{i}:{n}:" + "x" * ECHO_SIZE)[:ECHO_SIZE]
            await ws.send(text)
            assert await ws.recv() == text
    # Leaving the block closes with 1000.


async def pubsub():
    subs = [await websockets.connect(f"ws://{BASE}/pubsub") for _ in range(SUBSCRIBERS)]
    for s in subs:
        await s.send(json.dumps({"op": "sub", "topic": "scores"}))
    publisher = await websockets.connect(f"ws://{BASE}/pubsub")
    await asyncio.sleep(0.3)  # the subscriptions are in before the publishes
    for n in range(PUBLISHES):
        await publisher.send(json.dumps({"op": "pub", "topic": "scores", "data": n}))
    for s in subs:
        got = [json.loads(await asyncio.wait_for(s.recv(), 5)) for _ in range(PUBLISHES)]
        assert [g["data"] for g in got] == list(range(PUBLISHES)), got
    for ws in subs + [publisher]:
        await ws.close()


def raw(request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", PORT), timeout=5) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def protocol_error():
    """An upgrade, then an unmasked frame: the server fails the connection with 1002."""
    head = (
        "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    out = raw(head.encode() + b"\x81\x02hi")
    assert out.startswith(b"HTTP/1.1 101"), out[:40]
    assert b"\x88" in out, "a close frame came back"


def scrape():
    with urllib.request.urlopen(f"http://{BASE}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
        return r.read().decode()


def samples(text):
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            out[key] = s.value
    return out


def value(m, name, **labels):
    return m.get((name, tuple(sorted(labels.items()))), 0)


async def main():
    await asyncio.gather(*(echo_client(i) for i in range(ECHO_CLIENTS)))
    await pubsub()
    protocol_error()
    refused = raw(
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert refused.startswith(b"HTTP/1.1 404"), refused[:40]
    assert raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200")
    # Every connection is closed by now or within the close timeout: wait for the gauge.
    for _ in range(100):
        m = samples(scrape())
        if value(m, "ringws_connections_open") == 0:
            break
        await asyncio.sleep(0.1)
    upgrades = ECHO_CLIENTS + SUBSCRIBERS + 1 + 1
    expected = {
        ("ringws_connections_open", ()): 0,
        ("ringws_upgrades_total", ()): upgrades,
        ("ringws_handshake_duration_seconds_count", ()): upgrades,
        ("ringws_messages_received_total", (("route", "/echo"),)): ECHO_CLIENTS * ECHO_MESSAGES,
        ("ringws_received_bytes_total", (("route", "/echo"),)): ECHO_CLIENTS * ECHO_MESSAGES * ECHO_SIZE,
        ("ringws_messages_sent_total", (("route", "/echo"),)): ECHO_CLIENTS * ECHO_MESSAGES,
        ("ringws_sent_bytes_total", (("route", "/echo"),)): ECHO_CLIENTS * ECHO_MESSAGES * ECHO_SIZE,
        ("ringws_messages_received_total", (("route", "/pubsub"),)): SUBSCRIBERS + PUBLISHES,
        ("ringws_publishes_total", ()): PUBLISHES,
        ("ringws_deliveries_total", ()): SUBSCRIBERS * PUBLISHES,
        ("ringws_deliveries_dropped_total", ()): 0,
        ("ringws_upgrades_refused_total", (("status", "404"),)): 1,
        # /healthz, and every scrape but the last (answered after it rendered).
        ("ringws_http_responses_total", (("status", "200"),)): 1 + scrapes[0] - 1,
        ("ringws_connections_closed_total", (("code", "1000"),)): ECHO_CLIENTS + SUBSCRIBERS + 1,
        ("ringws_connections_closed_total", (("code", "1002"),)): 1,
        ("ringws_protocol_errors_total", ()): 1,
        # The 404, /healthz, every scrape (the last one's accept included), and the probe
        # `.ci/lib.sh` opened to see the server listen.
        ("ringws_tcp_accepted_total", ()): upgrades + 2 + scrapes[0] + 1,
    }
    bad = []
    for (name, labels), want in expected.items():
        got = m.get((name, labels))
        if got != want:
            bad.append(f"{name}{dict(labels)}: {got} (expected {want})")
    print(f"metrics: {len(expected)} figures checked against the workload, {len(bad)} wrong")
    for line in bad:
        print("  " + line)
    if bad:
        print(scrape())
        sys.exit(1)
    busy = [s for k, s in m.items() if k[0] == "ringws_loop_busy_seconds_total"]
    assert busy and all(b > 0 for b in busy), busy
    buffers = [s for k, s in m.items() if k[0] == "ringws_recv_buffers"]
    assert buffers and all(b > 0 for b in buffers), buffers
    for name in ["ringws_assembling_bytes", "ringws_budget_closes_total", "ringws_queued_bytes"]:
        assert value(m, name) == 0, (name, value(m, name))
    # The last scrape's own connection is the one the driver holds.
    assert sum(s for k, s in m.items() if k[0] == "ringws_tcp_connections") >= 1


scrapes = [0]
_scrape = scrape


def scrape():  # noqa: F811 - counts the scrapes: each is one more accepted connection and 200
    text = _scrape()
    scrapes[0] += 1
    return text


if __name__ == "__main__":
    asyncio.run(main())
