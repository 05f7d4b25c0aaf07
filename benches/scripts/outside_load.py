#!/usr/bin/env python3
"""Runs an outside load generator (one that prints a rate line every few seconds, as
uWebSockets' benchmarks/load_test prints "Msg/sec: N" every 4 s) against a running server, and
writes what ringws-load would: messages/s, the server's CPU per message and the generator's.

CPU is read from /proc/PID/stat at the moment a rate line arrives, so the CPU window and the
messages counted cover the same seconds. The first rate line (connect and warm-up) is skipped.

usage: outside_load.py --server-pid PID --cpu N --lines K --out FILE.json
                       [--pattern 'Msg/sec: *([0-9.]+)'] -- COMMAND ARGS...
"""
import argparse, json, os, re, subprocess, sys, threading, time, queue

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--cpu", default="1")
    p.add_argument("--lines", type=int, default=2, help="rate lines to measure after the first")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--pattern", default=r"Msg/sec: *([0-9.]+)")
    p.add_argument("--out", required=True)
    p.add_argument("--case", default="")
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    pattern = re.compile(a.pattern)
    gen = subprocess.Popen(["taskset", "-c", a.cpu, *cmd], stdout=subprocess.PIPE, text=True)
    lines = queue.Queue()

    def reader():
        for line in gen.stdout:
            m = pattern.search(line)
            if m:
                lines.put((time.monotonic(), float(m.group(1)), cpu_seconds(a.server_pid),
                           cpu_seconds(gen.pid)))
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    seen, deadline = [], time.monotonic() + a.timeout
    try:
        while len(seen) < a.lines + 1 and time.monotonic() < deadline:
            try:
                item = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                break
            seen.append(item)
    finally:
        gen.kill()
        gen.wait()
    if len(seen) < a.lines + 1:
        print(f"outside_load: {len(seen)} rate lines from {cmd[0]}, wanted {a.lines + 1}",
              file=sys.stderr)
        sys.exit(1)
    first, last = seen[0], seen[-1]
    wall = last[0] - first[0]
    # Each line is a rate over the interval since the previous one.
    messages = sum(rate * (t - prev[0]) for prev, (t, rate, _, _) in zip(seen, seen[1:]))
    server_cpu, gen_cpu = last[2] - first[2], last[3] - first[3]
    report = {
        "scenario": a.case,
        "generator": os.path.basename(cmd[0]),
        "command_line": cmd,
        "seconds": wall,
        "count": round(messages),
        "rate_per_s": messages / wall,
        "server": {"cpu_percent": 100 * server_cpu / wall,
                   "cpu_us_per_event": server_cpu * 1e6 / max(messages, 1)},
        "tool_cpu_percent": 100 * gen_cpu / wall,
        "tool_threads": 1,
        "tool_us_per_event": gen_cpu * 1e6 / max(messages, 1),
        "latency_us": None,
        "errors": 0,
    }
    with open(a.out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
