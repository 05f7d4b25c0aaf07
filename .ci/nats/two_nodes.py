"""Two ringws nodes sharing topics through one NATS server (issue 14's CI check).

Usage: two_nodes.py RINGWS_BINARY NATS_SERVER_BINARY
Starts two `ringws --nats` nodes, then nats-server on loopback (the broker down at start: the
nodes serve locally and connect when it comes), then checks, with Python `websockets` clients on
/pubsub:
  1. publishes from both nodes reach every subscriber on both, exactly once, in each
     publisher's order;
  2. a topic with subscribers only on node A costs node B nothing (B holds no NATS subscription
     for it: its bridge_subjects gauge, and the broker's own subscription count);
  3. the broker killed mid-run: local delivery goes on (B's subscribers miss what A published
     meanwhile: at most once), and after a restart on the same port cross-node delivery resumes.
Exits non-zero naming the first difference.
"""
import asyncio
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

RINGWS, NATS = sys.argv[1], sys.argv[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(what):
    sys.exit(f"nats two nodes: {what}")


def ok(what):
    print(f"nats two nodes: {what}: ok")


def start_nats(port, monitor):
    return subprocess.Popen([NATS, "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_node(port, nats_port):
    log = tempfile.NamedTemporaryFile("w+", prefix=f"ringws-node-{port}-", suffix=".log",
                                      delete=False)
    args = [RINGWS, "--addr", f"127.0.0.1:{port}", "--workers", "2",
            "--nats", f"nats://127.0.0.1:{nats_port}", "--nats-unsubscribe-delay", "1s"]
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while "listening" not in open(log.name).read():
        if proc.poll() is not None or time.monotonic() > deadline:
            fail(f"node on {port} did not start: {open(log.name).read()}")
        time.sleep(0.05)
    return proc, log.name


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(rf"^{name} (\d+)", text, re.M)
    return int(m.group(1)) if m else None


def broker_subscriptions(monitor):
    """Subscriptions the broker holds for ringws bridges (its own system ones left out)."""
    url = f"http://127.0.0.1:{monitor}/connz?subs=1"
    data = json.loads(urllib.request.urlopen(url, timeout=5).read())
    return sum(len(c.get("subscriptions_list") or []) for c in data.get("connections") or []
               if c.get("name") == "ringws")


async def wait_for(what, cond, seconds=15):
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def receive(ws, count, seconds=10):
    got = []
    try:
        while len(got) < count:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), seconds))["data"])
    except asyncio.TimeoutError:
        pass
    return got


async def quiet(ws, seconds=0.5):
    try:
        extra = await asyncio.wait_for(ws.recv(), seconds)
        return [json.loads(extra)["data"]]
    except asyncio.TimeoutError:
        return []


async def main():
    nats_port, monitor = free_port(), free_port()
    port_a, port_b = free_port(), free_port()
    broker = None
    nodes = []
    try:
        # The broker down at start: the nodes serve locally, then connect when it comes.
        nodes = [start_node(port_a, nats_port), start_node(port_b, nats_port)]
        alone = await websockets.connect(f"ws://127.0.0.1:{port_a}/pubsub")
        await alone.send(json.dumps({"op": "sub", "topic": "local"}))
        lone_pub = await websockets.connect(f"ws://127.0.0.1:{port_a}/pubsub")
        await asyncio.sleep(0.3)
        await lone_pub.send(json.dumps({"op": "pub", "topic": "local", "data": "no broker"}))
        if await receive(alone, 1) != ["no broker"]:
            fail("with the broker down at start, local delivery did not work")
        if metric(port_a, "ringws_bridge_connected") != 0:
            fail("a node says it is connected to a broker that is not there")
        await alone.close()
        await lone_pub.close()
        ok("broker down at start: the node serves locally")
        broker = start_nats(nats_port, monitor)
        await wait_for("both nodes connected to the broker",
                       lambda: metric(port_a, "ringws_bridge_connected") == 1
                       and metric(port_b, "ringws_bridge_connected") == 1)
        url_a, url_b = f"ws://127.0.0.1:{port_a}/pubsub", f"ws://127.0.0.1:{port_b}/pubsub"
        subs = {name: await websockets.connect(url) for name, url in
                (("a1", url_a), ("a2", url_a), ("b1", url_b), ("b2", url_b))}
        for ws in subs.values():
            await ws.send(json.dumps({"op": "sub", "topic": "t"}))
        only_a = await websockets.connect(url_a)
        await only_a.send(json.dumps({"op": "sub", "topic": "only.a"}))
        await wait_for("the bridges' subscriptions",
                       lambda: metric(port_a, "ringws_bridge_subjects") == 2
                       and metric(port_b, "ringws_bridge_subjects") == 1
                       and broker_subscriptions(monitor) == 3)
        ok("one broker subscription per node per topic; a topic only on A costs B nothing")

        pub_a, pub_b = await websockets.connect(url_a), await websockets.connect(url_b)
        n = 50
        for i in range(n):
            await pub_a.send(json.dumps({"op": "pub", "topic": "t", "data": f"A-{i}"}))
            await pub_b.send(json.dumps({"op": "pub", "topic": "t", "data": f"B-{i}"}))
        for name, ws in subs.items():
            got = await receive(ws, 2 * n)
            got += await quiet(ws)
            from_a = [m for m in got if m.startswith("A-")]
            from_b = [m for m in got if m.startswith("B-")]
            if from_a != [f"A-{i}" for i in range(n)] or from_b != [f"B-{i}" for i in range(n)]:
                fail(f"{name} got {len(got)} messages, not each of the {2 * n} once in order: {got[:8]}...")
        await pub_a.send(json.dumps({"op": "pub", "topic": "only.a", "data": "x"}))
        if await receive(only_a, 1) != ["x"]:
            fail("the subscriber of only.a on A missed its message")
        ok(f"{2 * n} publishes from both nodes reached all 4 subscribers exactly once, in order")

        broker.kill()
        broker.wait()
        await wait_for("the nodes to notice the broker is gone",
                       lambda: metric(port_a, "ringws_bridge_connected") == 0)
        for i in range(10):
            await pub_a.send(json.dumps({"op": "pub", "topic": "t", "data": f"down-{i}"}))
        for name in ("a1", "a2"):
            got = await receive(subs[name], 10)
            if got != [f"down-{i}" for i in range(10)]:
                fail(f"local delivery stopped with the broker down: {name} got {got}")
        for name in ("b1", "b2"):
            if (extra := await quiet(subs[name])):
                fail(f"{name} on B got {extra} while the broker was down")
        not_sent = metric(port_a, "ringws_bridge_not_sent_total")
        if not not_sent or not_sent < 10:
            fail(f"publishes while the broker was down are not counted as not bridged: {not_sent}")
        ok("broker down: local delivery goes on, cross-node publishes counted as not bridged")

        broker = start_nats(nats_port, monitor)
        await wait_for("the nodes to reconnect and resubscribe",
                       lambda: metric(port_a, "ringws_bridge_connected") == 1
                       and metric(port_b, "ringws_bridge_connected") == 1
                       and broker_subscriptions(monitor) == 3, seconds=30)
        for i in range(10):
            await pub_a.send(json.dumps({"op": "pub", "topic": "t", "data": f"up-{i}"}))
        for name, ws in subs.items():
            got = await receive(ws, 10)
            if got != [f"up-{i}" for i in range(10)]:
                fail(f"after the broker came back, {name} got {got}")
        ok("broker restarted: cross-node delivery resumed")

        # The last subscriber of only.a on A leaves: A drops that subscription after its delay.
        await only_a.close()
        await wait_for("only.a's subscription dropped after the delay",
                       lambda: metric(port_a, "ringws_bridge_subjects") == 1
                       and broker_subscriptions(monitor) == 2)
        ok("a topic's broker subscription is dropped once its last subscriber left")
        for ws in [*subs.values(), pub_a, pub_b]:
            await ws.close()
    finally:
        for proc, _ in nodes:
            proc.terminate()
            proc.wait()
        if broker:
            broker.kill()
            broker.wait()


asyncio.run(main())
print("nats two nodes: passed")
