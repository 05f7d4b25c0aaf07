#!/usr/bin/env python3
"""Summarises target/compare (written by compare.sh) as Markdown tables: per case, per server and
generator, the median rate of the interleaved runs, each run, the ratio to ringws under the same
generator, the server's CPU per message, the generator's, and server CPU / generator CPU (a
ratio taken within each run, so the host's speed drift cancels)."""
import collections, glob, json, os, statistics, sys

out = sys.argv[1] if len(sys.argv) > 1 else "target/compare"
ORDER = ["echo-100x20", "echo-10x1k", "echo-200x16k", "fanout-1x10000"]
runs = collections.defaultdict(list)
for path in glob.glob(f"{out}/*.json"):
    case, server, generator, _run = os.path.basename(path)[:-5].split("__")
    try:
        with open(path) as f:
            runs[(case, server, generator)].append(json.load(f))
    except (OSError, ValueError):
        pass


def generator_us(r):
    if "tool_us_per_event" in r:
        return r["tool_us_per_event"]
    threads = r.get("tool_threads", 1)
    return r["tool_cpu_percent"] / 100 * threads * r["seconds"] * 1e6 / max(r["count"], 1)


def server_us(r):
    return (r.get("server") or {}).get("cpu_us_per_event", 0.0)


cases = sorted({c for c, _, _ in runs}, key=lambda c: ORDER.index(c) if c in ORDER else 99)
for case in cases:
    rows = []
    for (c, server, generator), rs in runs.items():
        if c != case:
            continue
        rows.append({
            "server": server,
            "generator": generator,
            "rate": statistics.median(r["rate_per_s"] for r in rs),
            "each": [round(r["rate_per_s"]) for r in rs],
            "server_us": statistics.median(server_us(r) for r in rs),
            "gen_us": statistics.median(generator_us(r) for r in rs),
            "ratio": statistics.median(server_us(r) / max(generator_us(r), 1e-9) for r in rs),
            "p99": statistics.median((r.get("latency_us") or {}).get("p99", 0) for r in rs),
            "gen_cpu": max(r["tool_cpu_percent"] for r in rs),
            "errors": sum(r.get("errors", 0) for r in rs),
            "missed": any(r.get("missed_target") for r in rs),
        })
    unit = "deliveries/s" if case.startswith("fanout") else "messages/s"
    print(f"\n### {case}\n")
    print(f"| server | generator | median {unit} | runs | vs ringws | server CPU per message | "
          "generator CPU per message | server / generator CPU | p99 latency | generator CPU (max) | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows.sort(key=lambda x: (x["generator"] != "ringws-load", x["generator"], -x["rate"]))
    for x in rows:
        base = next((y["rate"] for y in rows
                     if y["server"] == "ringws" and y["generator"] == x["generator"]), None)
        vs = f"{x['rate'] / base:.2f}x" if base else "-"
        p99 = f"{x['p99']:,.0f} us" if x["p99"] else "-"
        missed = " (missed its target)" if x["missed"] else ""
        each = ", ".join(f"{v:,}" for v in x["each"])
        print(f"| {x['server']} | {x['generator']} | {x['rate']:,.0f}{missed} | {each} | {vs} | "
              f"{x['server_us']:.2f} us | {x['gen_us']:.2f} us | {x['ratio']:.3f} | {p99} | "
              f"{x['gen_cpu']:.0f} % | {x['errors']} |")
