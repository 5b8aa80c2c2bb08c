"""Benchmark: one run of the metrics exporter (mailsec-mx-metrics) at 10, 1,000 and 100,000 entries, both backends.

In throwaway namespaces (tests/integration/metrics/metrics_lab.py): the dead primary and the trap loaded by their
modules, then N made-up sources (a shared-address range, never on an interface) put into the trap's hits4 and seen4
sets (two sets of N), or into the dead primary's four recording sets refused4, refused_seen4, refused_day4 and
refused_days4 (four sets of N: what a week of N refused sources leaves). Timed, as the timer runs it (a fresh
python3 each time, median of 5):
- the exporter as installed (nftables: read over netlink, sets counted on a socket per core; iptables:
  iptables-save -c, ip6tables-save -c, ipset list -t), wall time and CPU time (the kernel's work included);
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
import resource
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.metrics import metrics_lab  # noqa: E402  pylint: disable=wrong-import-position

RUNS = 5
GOAL = 1.0
FIRST_SOURCE = ipaddress.ip_address("100.64.0.0")


# {scenario: (table, [(nftables set, ipset suffix, element options (nftables, ipset))])}
SCENARIOS = {
    "trap, 2 sets": ("mx_trap", [("hits4", "h4", ("timeout 1h", "")),
                                 ("seen4", "s4", ("counter packets 1 bytes 60 timeout 7d", "packets 1 bytes 60"))]),
    "dead primary, 4 sets": ("dead_primary", [
        ("refused4", "r4", ("timeout 7d", "")),
        ("refused_seen4", "rs4", ("counter packets 1 bytes 60 timeout 7d", "packets 1 bytes 60")),
        ("refused_day4", "rd4", ("timeout 1d", "")),
        ("refused_days4", "rn4", ("counter packets 1 bytes 60 timeout 7d", "packets 1 bytes 60"))]),
}


def fill(pair, backend, scenario, count):
    """``count`` made-up sources in each set of a scenario, as if each had been recorded."""
    table, sets = SCENARIOS[scenario]
    sources = [str(FIRST_SOURCE + number) for number in range(count)]
    if backend == "nftables":
        script = "".join("add element inet mailsec_%s %s { %s %s }\n" % (table, name, source, options[0])
                         for name, dummy, options in sets for source in sources)
        command = ["nft", "-f", "-"]
    else:
        script = "".join("add mailsec_%s_%s %s %s\n" % (table, suffix, source, options[1])
                         for dummy, suffix, options in sets for source in sources)
        command = ["ipset", "restore", "-exist"]
    result = pair.host.run(command, input=script)
    if result.returncode != 0:
        raise SystemExit("filling the sets failed: %s" % result.stderr[:500])


def seconds(pair, argv):
    """(median wall time, median CPU time of the process and its children, last output) of ``argv`` in the host
    namespace over RUNS runs; fails on a failed run. CPU time includes the kernel's work for the process (its
    netlink dumps), and does not grow when other work shares the machine; wall time does."""
    walls, cpus = [], []
    for dummy in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = pair.host.run(argv)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if result.returncode != 0:
            raise SystemExit("%s failed: %s" % (" ".join(argv), result.stderr[:500]))
    return statistics.median(walls), statistics.median(cpus), result.stdout


def first_set_entries(text, backend, scenario):
    """What the exporter says the scenario's first set holds."""
    table, sets = SCENARIOS[scenario]
    labels = ({"table": "mailsec_" + table, "set": sets[0][0]} if backend == "nftables"
              else {"table": "MAILSEC_" + table.upper(), "set": "mailsec_%s_%s" % (table, sets[0][1])})
    return int(metrics_lab.value(metrics_lab.parse_exposition(text), "mailsec_mx_set_entries", family="ipv4", **labels))


def measure(backend, scenario, size):
    """{column: seconds} for one backend, scenario and size, in a lab of its own."""
    pair = metrics_lab.MetricsPair()
    try:
        for name in ("dead_primary", "mx_trap"):
            pair.converge(backend, name, metrics_lab.FIREWALLS[name])
        fill(pair, backend, scenario, size)
        exporter = ["python3", str(metrics_lab.EXPORTER), "--stdout", "--backend", backend]
        readers = [("exporter", [])] + ([("exporter, nft -j", ["--nft-reader", "nft"])] if backend == "nftables" else [])
        figures = {}
        for column, options in readers:
            figures[column], figures[column + " cpu"], text = seconds(pair, exporter + options)
            if first_set_entries(text, backend, scenario) != size:
                raise SystemExit("%s counted %d entries, not %d" % (column, first_set_entries(text, backend, scenario), size))
        naive = "nft list ruleset | wc -l" if backend == "nftables" else "ipset list | wc -l"
        figures["instead"], dummy, dummy2 = seconds(pair, ["sh", "-c", naive])
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
    print("entries per set   sets                   backend     exporter (CPU)         exporter, nft -j   instead "
          "(nft list ruleset | wc -l, ipset list | wc -l)")
    worst = {}
    for size in sizes:
        for scenario in SCENARIOS:
            for backend in ("nftables", "iptables"):
                figures = measure(backend, scenario, size)
                if size == max(sizes):
                    worst[scenario] = max(worst.get(scenario, (0.0, 0.0)),
                                          (figures["exporter"], figures["exporter cpu"]))
                nft_json = "%8.3f s" % figures["exporter, nft -j"] if "exporter, nft -j" in figures else "%10s" % "-"
                print("%15d   %-20s   %-9s %8.3f s (%.3f s)   %s         %8.3f s"
                      % (size, scenario, backend, figures["exporter"], figures["exporter cpu"], nft_json,
                         figures["instead"]))
                sys.stdout.flush()
    print("\nGoal: one run under %.0f s with %d entries in a set (median of %d runs, each a fresh python3; load "
          "average now %.1f on %d cores):" % (GOAL, max(sizes), RUNS, os.getloadavg()[0], os.cpu_count()))
    for scenario, (wall, cpu) in worst.items():
        print("  %-20s slowest backend %.3f s (CPU %.3f s): %s" % (scenario, wall, cpu, "met" if wall < GOAL else "NOT met"))


if __name__ == "__main__":
    main()
