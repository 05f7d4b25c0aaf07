#!/usr/bin/env python3
"""Compares an Autobahn run (summary.json + index.json from ../shared/conformance/run.sh) with the
expected result of every case. Any case whose category differs fails, in either direction: a
regression, or an improvement that must be recorded by updating expected-results.json
(run with --write)."""
import json
import os
import re
import sys
from pathlib import Path


def categories(report_dir: Path) -> dict:
    summary = json.loads((report_dir / "summary.json").read_text())
    index = json.loads((report_dir / "index.json").read_text())
    cases = {}
    for agent in index.values():
        for case in agent:
            cases[case] = "passed"
    for entry in summary["not_passed"]:
        cases[entry["case"]] = entry["category"]
    for case in summary["unimplemented"]:
        cases[case] = "unimplemented"
    return dict(sorted(cases.items(), key=lambda kv: [int(p) for p in kv[0].split(".")]))


def main() -> int:
    report_dir = Path(sys.argv[1])
    expected_file = Path(__file__).with_name("expected-results.json")
    actual = categories(report_dir)
    if "--write" in sys.argv:
        # Results of the cases run replace theirs; the others' are kept.
        recorded = json.loads(expected_file.read_text()) if expected_file.exists() else {}
        recorded.update(actual)
        actual = dict(sorted(recorded.items(), key=lambda kv: [int(p) for p in kv[0].split(".")]))
        expected_file.write_text(json.dumps(actual, indent=1) + "\n")
        print(f"wrote {len(actual)} cases to {expected_file}")
        return 0
    expected = json.loads(expected_file.read_text())
    # A run of some cases (CONFORMANCE_CASES minus CONFORMANCE_EXCLUDE, with the runner's
    # pattern rules: `*` is any text, and a pattern matches a case id from its start) is checked
    # against those.
    def matches(case, patterns):
        return any(re.match(re.escape(p).replace(r"\*", ".*"), case) for p in patterns)

    cases = [p for p in os.environ.get("CONFORMANCE_CASES", "*").split(",") if p]
    exclude = [p for p in os.environ.get("CONFORMANCE_EXCLUDE", "").split(",") if p]
    expected = {
        c: v for c, v in expected.items() if matches(c, cases) and not matches(c, exclude)
    }
    diffs = [
        f"  {case}: expected {expected.get(case, 'absent')}, got {actual.get(case, 'absent')}"
        for case in sorted(set(expected) | set(actual), key=lambda c: [int(p) for p in c.split(".")])
        if expected.get(case) != actual.get(case)
    ]
    counts = {}
    for cat in actual.values():
        counts[cat] = counts.get(cat, 0) + 1
    print(f"conformance check: {len(actual)} cases, {counts}")
    if diffs:
        print(f"{len(diffs)} case(s) differ from .ci/conformance/expected-results.json:")
        print("\n".join(diffs))
        return 1
    print("every case matches the expected results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
