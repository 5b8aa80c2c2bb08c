"""Benchmark: one run of the metrics exporter (mailsec-mx-metrics) at 10, 1,000 and 100,000 entries, both backends.

In throwaway namespaces (tests/integration/metrics/metrics_lab.py): the dead primary and the trap loaded by their
modules, then the trap's hits4 and seen4 sets filled with N made-up sources each (documentation and shared-address
ranges, never on an interface). Timed, as the timer runs it (a fresh python3 each time, median of 5):
- the exporter as installed (nftables: read over netlink; iptables: iptables-save -c, ip6tables-save -c, ipset list -t);
- the exporter reading nftables with ``nft -j list ruleset`` instead (--nft-reader nft, its fallback);
- what a user would do instead for the same numbers: ``nft list ruleset`` piped into a count, or ``ipset list`` in
  full piped into a count (one listing with every element; the per-set counts still have to be picked out of it).

Usage: make bench   (or: .venv/bin/python -m bench.metrics [--sizes 10,1000,100000], from the repository root; root)
Goal (issue 14): the exporter's run costs under 1 s at 100,000 entries, on both backends.
"""

import argparse
import ipaddress
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.metrics import metrics_lab  # noqa: E402  pylint: disable=wrong-import-position

RUNS = 5
GOAL = 1.0
FIRST_SOURCE = ipaddress.ip_address("100.64.0.0")


def fill(pair, backend, count):
    """``count`` made-up sources in the trap's hits4 and seen4 sets, as if each had hit the trap."""
    sources = [str(FIRST_SOURCE + number) for number in range(count)]
    if backend == "nftables":
        script = "".join("add element inet mailsec_mx_trap hits4 { %s timeout 1h }\n"
                         "add element inet mailsec_mx_trap seen4 { %s counter packets 1 bytes 60 timeout 7d }\n"
                         % (source, source) for source in sources)
        command = ["nft", "-f", "-"]
    else:
        script = "".join("add mailsec_mx_trap_h4 %s\nadd mailsec_mx_trap_s4 %s packets 1 bytes 60\n" % (source, source)
                         for source in sources)
        command = ["ipset", "restore", "-exist"]
    result = pair.host.run(command, input=script)
    if result.returncode != 0:
        raise SystemExit("filling the sets failed: %s" % result.stderr[:500])


def seconds(pair, argv):
    """Median wall time of ``argv`` in the host namespace over RUNS runs; fails on a failed run."""
    times = []
    for dummy in range(RUNS):
        started = time.perf_counter()
        result = pair.host.run(argv)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise SystemExit("%s failed: %s" % (" ".join(argv), result.stderr[:500]))
    return statistics.median(times), result.stdout


def hits_entries(text, backend):
    table, name = ("mailsec_mx_trap", "hits4") if backend == "nftables" else ("MAILSEC_MX_TRAP", "mailsec_mx_trap_h4")
    return int(metrics_lab.value(metrics_lab.parse_exposition(text), "mailsec_mx_set_entries",
                                 table=table, set=name, family="ipv4"))


def measure(backend, size):
    """{column: seconds} for one backend and size, in a lab of its own."""
    pair = metrics_lab.MetricsPair()
    try:
        for name in ("dead_primary", "mx_trap"):
            pair.converge(backend, name, metrics_lab.FIREWALLS[name])
        fill(pair, backend, size)
        exporter = ["python3", str(metrics_lab.EXPORTER), "--stdout", "--backend", backend]
        figures = {}
        figures["exporter"], text = seconds(pair, exporter)
        if hits_entries(text, backend) != size:
            raise SystemExit("the exporter counted %d entries in hits4, not %d" % (hits_entries(text, backend), size))
        if backend == "nftables":
            figures["exporter, nft -j"], text = seconds(pair, exporter + ["--nft-reader", "nft"])
            if hits_entries(text, backend) != size:
                raise SystemExit("the nft reader counted %d entries, not %d" % (hits_entries(text, backend), size))
            figures["instead"], dummy = seconds(pair, ["sh", "-c", "nft list ruleset | wc -l"])
        else:
            figures["instead"], dummy = seconds(pair, ["sh", "-c", "ipset list | wc -l"])
        return figures
    finally:
        pair.delete()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,1000,100000")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/metrics.py needs root (it builds network namespaces)")
    sizes = [int(size) for size in args.sizes.split(",")]
    print("entries per set (hits4, seen4)   backend     exporter   exporter, nft -j   instead (nft list ruleset | wc -l, "
          "ipset list | wc -l)")
    worst = 0.0
    for size in sizes:
        for backend in ("nftables", "iptables"):
            figures = measure(backend, size)
            worst = max(worst, figures["exporter"]) if size == max(sizes) else worst
            nft_json = "%8.3f s" % figures["exporter, nft -j"] if "exporter, nft -j" in figures else "%10s" % "-"
            print("%30d   %-9s %8.3f s   %s         %8.3f s"
                  % (size, backend, figures["exporter"], nft_json, figures["instead"]))
            sys.stdout.flush()
    print("\nGoal: one run under %.0f s at %d entries: %s (slowest backend %.3f s; median of %d runs, each a fresh python3)."
          % (GOAL, max(sizes), "met" if worst < GOAL else "NOT met", worst, RUNS))


if __name__ == "__main__":
    main()
