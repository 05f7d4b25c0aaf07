#!/usr/bin/env python3
"""Echo servers compared in short alternating windows, so that this host's drift (20-30 % within
minutes) cancels: every server runs at once, pinned to CPU 0 (an idle one costs nothing), and
the same io_uring client (`examples/echo_client`, CPU 1, one message in flight per connection)
drives each in turn for WINDOW seconds, every round in a new order. Each round gives each
server's CPU per round trip (schedstat, every thread) and its ratio to the others measured
seconds apart; the summary is the median of those per-round ratios with their spread (the
middle half of the rounds), beside the server's context switches and both ends' TCP segments per
round trip, which drift does not move.

    python3 benches/scripts/echo_paired.py [--rounds 15] [--window 2] [--cases 100x20,10x1024,200x16384]

Outside echo servers (listening on {port}, answering at /): PAIRED_EXTRA='name=/path/to/server
{port}' (several: separate by ;). Run from the repository root after
`cargo build --release -p ringws-server -p ringws-benches --bins -p ringws-uring --examples`.
"floor" is the driver's raw echo; "raw-io_uring" (examples/raw_echo.rs) and "raw-epoll"
(benches/peers/raw_epoll_echo.rs) are minimal hand-written loops, the cost of the two kernel
interfaces with nothing else around them.
"""
import argparse, json, os, random, re, shlex, socket, statistics, subprocess, sys, time

B = "target/release"
# Raw TCP echoes first (no WebSocket): the driver's own, a minimal hand-written io_uring loop, and
# a minimal epoll loop; then the WebSocket servers.
BUILT_IN = [
    ("floor", f"{B}/examples/echo {{port}} 0", None),
    ("raw-io_uring", f"{B}/examples/raw_echo {{port}}", None),
    ("raw-epoll", f"{B}/peer-raw-epoll-echo {{port}}", None),
    ("ringws", f"{B}/ringws --workers 1 --echo-path / --addr 127.0.0.1:{{port}}", "/"),
    ("fastwebsockets", f"{B}/peer-fastwebsockets {{port}}", "/"),
]


def wait_listening(port, proc, name):
    for _ in range(100):
        if proc.poll() is not None:
            sys.exit(f"echo_paired: {name} exited at start (status {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"echo_paired: {name} did not listen on 127.0.0.1:{port}")


def measure(port, pid, path, conns, size, window):
    cmd = [f"{B}/examples/echo_client", str(port), str(conns), str(size), str(window), "1", str(pid)]
    if path:
        cmd.append(path)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=window + 30,
                         env={**os.environ, "ECHO_WARMUP_MS": "300"})
    fields = dict(re.findall(r"(\w+)=([0-9.]+)", out.stdout))
    if "server_us_per_rt" not in fields:
        sys.exit(f"echo_paired: the client failed against port {port}: {out.stderr.strip()[:300]}")
    return {k: float(v) for k, v in fields.items()}


def spread(values):
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return statistics.median(values), q[0], q[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--window", type=int, default=2)
    ap.add_argument("--cases", default="100x20,10x1024,200x16384")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--against", default="",
                    help="another server to give per-round ratios against (e.g. ringws-before)")
    ap.add_argument("--json", default="target/echo_paired.json", help="every window's figures")
    args = ap.parse_args()
    servers = list(BUILT_IN)
    for entry in filter(None, (e.strip() for e in os.environ.get("PAIRED_EXTRA", "").split(";"))):
        name, _, cmd = entry.partition("=")
        servers.append((name, cmd, "/"))
    procs, port = [], 9600
    try:
        for name, cmd, path in servers:
            port += 1
            argv = ["taskset", "-c", "0"] + shlex.split(cmd.replace("{port}", str(port)))
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append((name, proc, port, path))
            wait_listening(port, proc, name)
        rng = random.Random(args.seed)
        results = {}
        for case in args.cases.split(","):
            conns, size = (int(x) for x in case.split("x"))
            for r in range(args.rounds):
                order = procs[:]
                rng.shuffle(order)
                for name, proc, port, path in order:
                    results.setdefault(case, {}).setdefault(name, []).append(
                        measure(port, proc.pid, path, conns, size, args.window))
                print(f"{case} round {r + 1}/{args.rounds}", file=sys.stderr)
    finally:
        for _, proc, _, _ in procs:
            proc.terminate()
            proc.wait()
    names = [n for n, _, _, _ in procs]
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"Rounds: {args.rounds} x {args.window} s per server per case, order shuffled each round.\n")
    against = f" | vs {args.against}" if args.against else ""
    print("| case | server | server CPU per round trip (median, middle half) | vs fastwebsockets "
          f"(per-round ratio) | vs floor{against} | server context switches per round trip | "
          "TCP segments per round trip | round trips/s | server CPU |")
    print("| --- " * (10 if args.against else 9) + "|")
    for case, by in results.items():
        for name in names:
            rows = by[name]
            us = spread([x["server_us_per_rt"] for x in rows])

            def vs(other):
                if other not in by or other == name:
                    return "-"
                m, lo, hi = spread([a["server_us_per_rt"] / b["server_us_per_rt"]
                                    for a, b in zip(rows, by[other])])
                return f"{m:.3f} ({lo:.3f}-{hi:.3f})"
            print(f"| {case} | {name} | {us[0]:.2f} us ({us[1]:.2f}-{us[2]:.2f}) | {vs('fastwebsockets')} | "
                  f"{vs('floor')}{' | ' + vs(args.against) if args.against else ''} | {statistics.median(x['server_switches_per_rt'] for x in rows):.4f} | "
                  f"{statistics.median(x['segments_per_rt'] for x in rows):.3f} | "
                  f"{statistics.median(x['round_trips_per_s'] for x in rows):,.0f} | "
                  f"{statistics.median(x['server_cpu'] for x in rows):.0f} % |")


if __name__ == "__main__":
    main()
