"""Read the nolisting audit's JSON report of a lab run and say, per lab host, what the audit made of it.

    python -m lab.demo.audit_check --state-dir DIR --report FILE      (from the repository root)

Each lab host plays a part (EXPECTED): a real MTA must come out `retried` on every address the dead primary
refused, a crude sender `gave_up`, and the allowlisted partner must never have been refused at all. Prints one
line per host, e.g. `postfix sender 198.51.100.40: refused 16 times, retried a live MX 2 ms later (real MTA)`,
and exits 1 when a host is not what its part expects (2 on a usage error). The matrix calls `check()` too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# host -> (what it is, expected verdict: 'retried', 'gave_up', or None for "never refused")
EXPECTED = {
    "sender": ("postfix sender", "retried"),
    "crude": ("crude sender", "gave_up"),
    "partner": ("allowlisted partner", None),
}


def host_addresses(state_dir: Path) -> dict[str, list[str]]:
    instances = json.loads((state_dir / "instances.json").read_text(encoding="utf-8"))
    return {instance["instance"]: list(instance["addresses"]) for instance in instances}


def seconds_text(seconds):
    """As the audit prints a delay (_audit.seconds_text): milliseconds show."""
    if seconds < 0.001:
        return "under 1 ms"
    return "%.0f ms" % (seconds * 1000) if seconds < 1 else ("%.1f s" % seconds if seconds < 10 else "%.0f s" % seconds)


def _line(label, source, item):
    refused = item["refused"]
    times = "1 time" if refused == 1 else "%s times" % refused
    if item.get("retried_as"):
        how = "retried a live MX as %s (same confirmed name: real MTA)" % ", ".join(item["retried_as"])
    elif item["verdict"] == "retried":
        delay = item["retry_delay"]
        how = "retried a live MX%s (real MTA)" % ("" if delay is None else " %s later" % seconds_text(delay))
    else:
        how = "never retried -> allowlist candidate"
    return "%s %s: refused %s, %s" % (label, source, times, how)


def check(report: dict, addresses: dict[str, list[str]], expected: dict[str, tuple[str, str | None]]):
    """(lines, problems): per host of ``expected``, what the report says of each of its addresses."""
    by_source = {item["source"]: item for item in report["sources"]}
    lines, problems = [], []
    for host, (label, verdict) in expected.items():
        found = [(address, by_source[address]) for address in addresses.get(host, []) if address in by_source]
        if verdict is None:
            lines.append("%s %s: never refused" % (label, ", ".join(addresses.get(host, []))) if not found else "")
            problems += ["%s %s was refused at the dead primary" % (label, address) for address, dummy in found]
            continue
        if not found:
            problems.append("%s (%s) is not in the audit: the dead primary refused none of its addresses" % (label, host))
        for address, item in found:
            lines.append(_line(label, address, item))
            if item["verdict"] != verdict:
                problems.append("%s %s: %s, expected %s" % (label, address, item["verdict"], verdict))
    return [line for line in lines if line], problems


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.demo.audit_check", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--report", required=True)
    args = parser.parse_args(argv)
    try:
        report = json.loads(Path(args.report).read_text(encoding="utf-8"))
        addresses = host_addresses(Path(args.state_dir))
    except (OSError, ValueError) as exc:
        print("audit_check: %s" % exc, file=sys.stderr)
        return 2
    lines, problems = check(report, addresses, EXPECTED)
    print("\n".join(lines))
    summary = report["summary"]
    print("of %d source(s) refused at the dead primary, %d retried a live MX, %d gave up"
          % (summary["refused_sources"], summary["retried"], summary["gave_up"]))
    for problem in problems:
        print("FAIL: " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
