"""What the dead primary and the live MX hosts remember, on real nftables / iptables + ipset, read through
mailsec.mx.nolisting_sources as the nolisting audit reads it: refused then retried, refused and gave up, allowlisted,
IPv6 per /64, forged SYNs, full sets, check mode.

The dead primary and a live MX address share the host namespace here (``Hosts`` of test_mx_live_firewall.py): their
firewalls are separate tables or chains, as on two hosts.  Times read back are compared with what the test measured.
"""

import os
import shutil
import time

import pytest

from tests.integration.plugins.modules.test_mx_live_firewall import (
    BACKENDS,
    CRUDE,
    CRUDE6,
    DEAD,
    GREETING,
    LIVE,
    LIVE_SPEC,
    MTA,
    MTA6,
    NEIGHBOUR6,
    PARTNER,
    RESET,
    SPOOFED,
    Hosts,
    sources,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nftables"),
]

DEAD_SPEC = {"addresses": DEAD, "allow": [PARTNER]}
# The ipset suffix of each recording set (nftables: the set's name, the family appended).
SUFFIXES = {"refused": "r", "refused_seen": "rs", "refused_day": "rd", "refused_days": "rn"}


@pytest.fixture
def hosts():
    pair = Hosts()
    yield pair
    pair.delete()


def fill(hosts, backend, names, count):
    """Put ``count`` made-up IPv4 sources (documentation addresses, on no interface) into dead primary sets ``names``."""
    fillers = ["203.0.113.%d" % index for index in range(1, count + 1)]
    for name in names:
        if backend == "nftables":
            hosts.host.sh("nft add element inet mailsec_dead_primary %s4 '{ %s }'" % (name, ", ".join(fillers)))
        else:
            hosts.host.sh("for a in %s; do ipset add mailsec_dead_primary_%s4 $a; done" % (" ".join(fillers), SUFFIXES[name]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_real_mta_is_refused_then_retries_a_live_mx_and_a_crude_sender_gives_up(hosts, backend):
    assert hosts.converge(backend, DEAD_SPEC)["changed"] is True
    assert hosts.converge(backend, LIVE_SPEC)["changed"] is True
    assert hosts.converge(backend, DEAD_SPEC)["changed"] is False
    before = time.time()
    # The MTA walks on from the reset to the next MX; the crude sender tries the lowest MX only, twice.
    assert hosts.connect(MTA, DEAD[0]) == RESET and hosts.connect(MTA, LIVE[0]) == GREETING
    assert [hosts.connect(CRUDE, DEAD[0]) for attempt in range(2)] == [RESET, RESET]
    refused = hosts.converge(backend, DEAD_SPEC)
    arrived = hosts.converge(backend, LIVE_SPEC)
    after = time.time()
    assert refused["changed"] is False and arrived["changed"] is False
    dead_side, live_side = sources(refused), sources(arrived)
    assert list(dead_side) == [MTA, CRUDE] and list(live_side) == [MTA]
    assert {key: dead_side[MTA][key] for key in ("count", "days")} == {"count": 1, "days": 1}
    assert {key: dead_side[CRUDE][key] for key in ("count", "days")} == {"count": 2, "days": 1}
    assert live_side[MTA]["count"] == 1
    # ipset keeps whole seconds: up to one early.
    for item in list(dead_side.values()) + list(live_side.values()):
        assert before - 1 <= item["first_seen"] <= item["last_seen"] <= after
    # The MTA arrived after it was refused, as the audit reads it.
    assert live_side[MTA]["last_seen"] >= dead_side[MTA]["first_seen"] - 1
    assert refused["read"]["counters"] == {"allowed": 0, "refused": 3}
    assert refused["read"]["prefixes"] == {"4": 32, "6": 64} and refused["read"]["present"] is True
    assert before - 1 <= refused["read"]["now"] <= after
    # As one text, the same sources (read a moment later: the times may differ by that moment, never by a second).
    for result in (refused, arrived):
        lines = result["read_table"]["table"].splitlines()[1:]
        assert [line.split(" ")[0] for line in lines] == [item["source"] for item in result["read"]["sources"]]
        assert [line.split(" ")[3:] for line in lines] == [
            [str(item["count"]), str(item["days"]) if "days" in item else "-"] for item in result["read"]["sources"]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_allowlisted_sender_is_counted_apart_and_never_recorded(hosts, backend):
    hosts.converge(backend, DEAD_SPEC)
    assert hosts.connect(PARTNER, DEAD[0]) == GREETING
    result = hosts.converge(backend, DEAD_SPEC)
    assert result["read"]["sources"] == []
    assert result["read"]["counters"]["allowed"] > 0 and result["read"]["counters"]["refused"] == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_ipv6_sources_are_one_per_64(hosts, backend):
    hosts.converge(backend, DEAD_SPEC)
    assert hosts.connect(MTA6, DEAD[1]) == RESET and hosts.connect(NEIGHBOUR6, DEAD[1]) == RESET
    assert hosts.connect(CRUDE6, DEAD[1]) == RESET
    refused = sources(hosts.converge(backend, DEAD_SPEC))
    assert list(refused) == ["2001:db8:77:1::/64", "2001:db8:77:2::/64"]
    assert refused["2001:db8:77:1::/64"]["count"] == 2 and refused["2001:db8:77:1::/64"]["days"] == 1
    # Per address on request: then the neighbour is a source of its own (what was remembered moves over, regrouped).
    per_address = dict(DEAD_SPEC, ipv6_prefix=128)
    assert hosts.converge(backend, per_address)["changed"] is True
    assert hosts.connect(NEIGHBOUR6, DEAD[1]) == RESET
    assert NEIGHBOUR6 in sources(hosts.converge(backend, per_address))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", [0, 1])
def test_a_forged_syn_is_recorded_as_refused_but_never_as_arrived(hosts, backend, family):
    """A reset needs no handshake: the dead primary's record is advisory. An arrival needs one."""
    hosts.converge(backend, DEAD_SPEC)
    hosts.converge(backend, LIVE_SPEC)
    claimed = [SPOOFED, "2001:db8:77:9::99"][family]
    hosts.forge_syns(claimed, DEAD[family], count=3)
    hosts.forge_syns(claimed, LIVE[family], count=3)
    refused = sources(hosts.converge(backend, DEAD_SPEC))
    label = [SPOOFED, "2001:db8:77:9::/64"][family]
    assert list(refused) == [label] and refused[label]["count"] == 3
    assert hosts.converge(backend, LIVE_SPEC)["read"]["sources"] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_full_recording_sets_never_change_the_reset(hosts, backend):
    spec = dict(DEAD_SPEC, set_size=16)
    hosts.converge(backend, spec)
    fill(hosts, backend, SUFFIXES, 16)
    assert all(level["percent"] == 100.0 for level in hosts.converge(backend, spec)["read"]["sets"] if level["set"].endswith("4"))
    # Every connection is still reset, and the allowlisted partner still greeted.
    assert [hosts.connect(MTA, DEAD[0]) for attempt in range(3)] == [RESET] * 3
    assert hosts.connect(PARTNER, DEAD[0]) == GREETING
    result = hosts.converge(backend, spec)
    assert MTA not in sources(result)
    assert result["read"]["counters"]["refused"] == 3
    # Only IPv4's sets are full: IPv6 is still recorded.
    assert hosts.connect(MTA6, DEAD[1]) == RESET
    assert "2001:db8:77:1::/64" in sources(hosts.converge(backend, spec))


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_mode_second_run_and_recording_switched_off_and_on(hosts, backend):
    before = hosts.listing()
    result = hosts.converge(backend, DEAD_SPEC, check=True)
    assert result["changed"] is True and hosts.listing() == before and result["read"]["present"] is False
    hosts.converge(backend, DEAD_SPEC)
    assert hosts.converge(backend, DEAD_SPEC)["changed"] is False
    assert hosts.connect(CRUDE, DEAD[0]) == RESET
    recording = hosts.listing()
    shorter = dict(DEAD_SPEC, record_time=3600)
    assert hosts.converge(backend, shorter, check=True)["changed"] is True and hosts.listing() == recording
    # A new record time keeps what was remembered, with its count and days.
    kept = sources(hosts.converge(backend, shorter))[CRUDE]
    assert (kept["count"], kept["days"]) == (1, 1)
    # Recording off: no set and no recording rule is left, and the reset goes on.
    off = dict(DEAD_SPEC, record=False)
    result = hosts.converge(backend, off)
    assert result["changed"] is True and hosts.converge(backend, off)["changed"] is False
    assert result["read"]["sources"] == [] and result["read"]["sets"] == []
    listing = hosts.listing()
    assert "refused_seen" not in listing and "mailsec_dead_primary_r" not in listing
    assert hosts.connect(CRUDE, DEAD[0]) == RESET
    assert hosts.converge(backend, DEAD_SPEC)["changed"] is True
    assert hosts.converge(backend, DEAD_SPEC, state="absent")["changed"] is True
    assert hosts.listing() == before
