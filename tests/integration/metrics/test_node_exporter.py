"""The exporter (roles/mx_metrics/files/mailsec_mx_metrics.py) with the real firewalls and the real node_exporter.

In two namespaces (tests/integration/metrics/metrics_lab.py): the dead primary, the trap and the live MX firewall
loaded by their modules, the exporter run as its timer runs it, Debian's prometheus-node-exporter reading its file
with the textfile collector and scraped over HTTP from the sender network. Traffic moves the values by exactly what
was sent; every set gauge matches what nft or ipset itself says; odd names survive node_exporter's own parser.
"""

import json
import os
import shutil

import pytest

from tests.integration.metrics import metrics_lab
from tests.integration.metrics.metrics_lab import (
    BOT,
    BOT6,
    DEAD,
    LIVE,
    MTA,
    PARTNER,
    TRAP,
    parse_exposition,
    value,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nftables"),
]

BACKENDS = ["nftables", "iptables"]
# The table (nftables) or chain (iptables) of each firewall, as the exporter labels it.
TABLES = {
    "nftables": {"dead_primary": "mailsec_dead_primary", "mx_trap": "mailsec_mx_trap", "mx_live": "mailsec_mx_live"},
    "iptables": {"dead_primary": "MAILSEC_DEAD_PRIMARY", "mx_trap": "MAILSEC_MX_TRAP", "mx_live": "MAILSEC_MX_LIVE"},
}
# The set of each (firewall, logical set) as the exporter labels it.
SETS = {
    "nftables": lambda firewall, logical: logical,
    "iptables": lambda firewall, logical: "mailsec_%s_%s" % (firewall, {
        "refused4": "r4", "refused6": "r6", "hits4": "h4", "hits6": "h6", "arrived4": "ar4", "arrived6": "ar6"}[logical]),
}
# What the traffic below must do: (source, address, outcome, times).
TRAFFIC = [
    (BOT, DEAD[0], "reset", 3),
    (MTA, DEAD[0], "reset", 1),
    (BOT6, DEAD[1], "reset", 2),
    (PARTNER, DEAD[0], "greeting", 1),
    (BOT, TRAP[0], "greeting", 2),
    (BOT6, TRAP[1], "greeting", 1),
    (MTA, LIVE[0], "greeting", 1),
    (BOT6, LIVE[1], "greeting", 1),
]
REFUSED, TRAP_HITS, ARRIVALS = 6, 3, 2
# Distinct sources (an IPv6 source per /64) each set must hold afterwards.
ENTRIES = {("dead_primary", "refused4"): 2, ("dead_primary", "refused6"): 1, ("mx_trap", "hits4"): 1,
           ("mx_trap", "hits6"): 1, ("mx_live", "arrived4"): 1, ("mx_live", "arrived6"): 1}


@pytest.fixture
def pair():
    namespaces = metrics_lab.MetricsPair()
    yield namespaces
    namespaces.delete()


@pytest.fixture
def textfile(tmp_path):
    directory = tmp_path / "textfile"
    directory.mkdir()
    return directory


def export(pair, textfile, *options, status=0):
    result = pair.export(textfile, *options)
    assert result.returncode == status, result.stderr
    return result


def kernel_counter(pair, backend, firewall, counter):
    """What the kernel itself counted for one of a firewall's counters, read apart from the exporter."""
    if backend == "nftables":
        listing = json.loads(pair.host.sh("nft -j list counter inet %s %s" % (TABLES[backend][firewall], counter)))
        return next(item["counter"]["packets"] for item in listing["nftables"] if "counter" in item)
    total = 0
    for command in ("iptables", "ip6tables"):
        for line in pair.host.sh("%s -L %s -n -v -x" % (command, TABLES[backend][firewall])).splitlines()[2:]:
            words = line.split()
            if counter == "allowed" and words[2] == "RETURN" and "match-set" in line:
                total += int(words[0])
    return total


def kernel_entries(pair, backend, table, set_name):
    """Elements of one set as nft or ipset lists them (elements and all), apart from the exporter."""
    if backend == "nftables":
        listing = json.loads(pair.host.sh("nft -j list set inet %s %s" % (table, set_name)))
        return next(len(item["set"].get("elem", [])) for item in listing["nftables"] if "set" in item)
    members = pair.host.sh("ipset list %s" % set_name).split("Members:\n", 1)[1]
    return len([line for line in members.splitlines() if line.strip()])


@pytest.mark.parametrize("backend", BACKENDS)
def test_node_exporter_serves_values_that_move_with_the_traffic(pair, textfile, backend):
    for name, spec in metrics_lab.FIREWALLS.items():
        pair.converge(backend, name, spec)
    export(pair, textfile)
    before = parse_exposition(pair.start_node_exporter(textfile))
    tables = TABLES[backend]
    assert value(before, "node_textfile_scrape_error") == 0
    for table in tables.values():
        assert value(before, "mailsec_mx_table_up", table=table) == 1
    assert value(before, "mailsec_mx_dead_primary_refused_total", table=tables["dead_primary"]) == 0
    assert value(before, "mailsec_mx_trap_hits_total", table=tables["mx_trap"]) == 0
    assert value(before, "mailsec_mx_live_arrivals_total", table=tables["mx_live"]) == 0

    for source, address, outcome, times in TRAFFIC:
        assert [pair.connect(source, address) for attempt in range(times)] == [outcome] * times
    # node_exporter serves the file as the exporter last wrote it.
    assert value(parse_exposition(pair.scrape()), "mailsec_mx_dead_primary_refused_total",
                 table=tables["dead_primary"]) == 0
    export(pair, textfile)
    after = parse_exposition(pair.scrape())

    assert value(after, "node_textfile_scrape_error") == 0
    assert value(after, "mailsec_mx_metrics_errors") == 0
    assert value(after, "mailsec_mx_dead_primary_refused_total", table=tables["dead_primary"]) == REFUSED
    assert value(after, "mailsec_mx_trap_hits_total", table=tables["mx_trap"]) == TRAP_HITS
    assert value(after, "mailsec_mx_live_arrivals_total", table=tables["mx_live"]) == ARRIVALS
    assert value(after, "mailsec_mx_trap_suppressed_total", table=tables["mx_trap"]) == 0
    allowed = value(after, "mailsec_mx_dead_primary_allowed_total", table=tables["dead_primary"])
    assert allowed > 0 and allowed == kernel_counter(pair, backend, "dead_primary", "allowed")
    for (firewall, logical), entries in ENTRIES.items():
        labels = {"table": tables[firewall], "set": SETS[backend](firewall, logical),
                  "family": "ipv4" if logical.endswith("4") else "ipv6"}
        assert value(after, "mailsec_mx_set_entries", **labels) == entries, labels
        size = value(after, "mailsec_mx_set_size", **labels)
        assert size == 262144 and value(after, "mailsec_mx_set_fill_ratio", **labels) == entries / size
    # Every set gauge is what nft or ipset lists, element by element.
    gauges = [(dict(labels), number) for (name, labels), number in after.items() if name == "mailsec_mx_set_entries"]
    assert len(gauges) >= 20
    for labels, number in gauges:
        assert number == kernel_entries(pair, backend, labels["table"], labels["set"]), labels


def test_the_netlink_reader_and_nft_read_the_same_live_ruleset(pair):
    for name, spec in metrics_lab.FIREWALLS.items():
        pair.converge("nftables", name, spec)
    pair.add_odd_firewalls("nftables")
    for source, address, outcome, times in TRAFFIC:
        assert [pair.connect(source, address) for attempt in range(times)] == [outcome] * times

    def samples(reader):
        result = pair.host.run(["python3", str(metrics_lab.EXPORTER), "--stdout", "--backend", "nftables",
                                "--nft-reader", reader])
        assert result.returncode == 0, result.stderr
        return {key: number for key, number in parse_exposition(result.stdout).items()
                if not key[0].startswith("mailsec_mx_metrics_")}
    by_netlink = samples("netlink")
    assert by_netlink == samples("nft")
    assert value(by_netlink, "mailsec_mx_dead_primary_refused_total", table="mailsec_dead_primary") == REFUSED


@pytest.mark.parametrize("backend", BACKENDS)
def test_odd_names_reach_prometheus_intact_and_an_unreadable_chain_loses_no_other(pair, textfile, backend):
    for name, spec in metrics_lab.FIREWALLS.items():
        pair.converge(backend, name, spec)
    pair.add_odd_firewalls(backend)
    result = export(pair, textfile, status=1 if backend == "iptables" else 0)
    scraped = parse_exposition(pair.start_node_exporter(textfile))
    assert value(scraped, "node_textfile_scrape_error") == 0
    for table in TABLES[backend].values():
        assert value(scraped, "mailsec_mx_table_up", table=table) == 1
    if backend == "nftables":
        odd_table = metrics_lab.ODD_TABLE.replace("\t", "\\x09")
        assert value(scraped, "mailsec_mx_table_up", table=odd_table) == 1
        assert value(scraped, "mailsec_mx_set_entries", table=odd_table, set=metrics_lab.ODD_SET, family="ipv4") == 2
        assert value(scraped, "mailsec_mx_set_entries", table="mailsec_other", set="ports") == 2
        assert "mailsec_other: not a kind this exporter knows" in result.stderr
    else:
        assert value(scraped, "mailsec_mx_table_up", table='MAILSEC_ODD"Q') == 1
        assert value(scraped, "mailsec_mx_set_entries", table='MAILSEC_ODD"Q', set='mailsec_x"q', family="ipv4") == 1
        assert value(scraped, "mailsec_mx_table_up", table="MAILSEC_SPACE") == 0
        assert value(scraped, "mailsec_mx_metrics_errors") == 1
        assert result.stderr == ("mailsec-mx-metrics: chain MAILSEC_SPACE: its rules use ipset(s) mailsec_x, which "
                                 "ipset list -t does not show\n")
