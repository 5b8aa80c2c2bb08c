"""The live MX kind: what it guards and remembers, what it refuses to take, its rules for both backends, and real
listings read back equal to the wanted state."""

import json
import pathlib
import re

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.iptables import IptablesBackend
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.live import LiveSpec
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.nftables import NftablesBackend
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.spec import SOURCE_OPTIONS
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.trap import CONNLABEL as TRAP_CONNLABEL
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.trap import TrapSpec
from tests.fake_host import FakeRun

FIXTURES = pathlib.Path(__file__).with_name("fixtures")
# Real output of nft 1.0.6, iptables 1.8.9 (nf_tables) and ipset 7.17 after two connections from 198.51.100.40 and one
# each from 2001:db8:77:1::40 and ::41 (one /64), written by firewall_driver.py for LISTED.
NFT_LISTING = (FIXTURES / "nft-list-table-live.txt").read_text(encoding="utf-8")
IPTABLES_HOST = json.loads((FIXTURES / "iptables-live.json").read_text(encoding="utf-8"))
LISTED = dict(name="mx_live", addresses=["198.51.100.20", "2001:db8:77::20"], ports=[25])


def live(**changes):
    return LiveSpec(**dict(LISTED, **changes))


def nft_backend():
    return NftablesBackend(FakeRun({("nft", "list", "table", "inet", "mailsec_mx_live"): (0, NFT_LISTING, "")}), "mx_live", LiveSpec)


def iptables_backend():
    replies = {tuple(command.split()): (0, output, "") for command, output in IPTABLES_HOST.items()}
    return IptablesBackend(FakeRun(replies), "mx_live", LiveSpec)


def test_it_guards_every_live_address_and_brings_none_up():
    spec = live(addresses=["2001:db8:77::30", "198.51.100.30", "198.51.100.20", "2001:db8:77::20"])
    assert spec.guarded() == ["198.51.100.20", "198.51.100.30", "2001:db8:77::20", "2001:db8:77::30"]
    assert spec.guarded(6) == ["2001:db8:77::20", "2001:db8:77::30"]
    assert spec.interface_addresses == []
    # Spread over several hosts: host.py warns only when this host holds none of them.
    assert LiveSpec.addresses_span_hosts and not TrapSpec.addresses_span_hosts
    assert LiveSpec.trusts_conntrack


def test_defaults_a_week_per_address_and_per_64():
    spec = live()
    assert (spec.name, spec.record_time, spec.prefixes, spec.set_size) == ("mx_live", 604800, {4: 32, 6: 64}, 262144)
    assert [(timed.name, timed.short, timed.timeout, timed.counter) for timed in spec.timed_sets()] == [
        ("arrived", "ar", 604800, False), ("arrived_seen", "as", 604800, True)]
    assert LiveSpec.options["name"]["default"] == "mx_live"
    assert {name: LiveSpec.options[name] for name in SOURCE_OPTIONS} == SOURCE_OPTIONS


def test_its_ipsets_never_share_a_name_with_the_allowlist():
    backend = IptablesBackend(FakeRun(), "mx_live", LiveSpec)
    assert len(set(backend.suffixes.values())) == len(backend.suffixes)
    headers = backend._wanted_headers(live())
    assert headers["a4"] == "mailsec_mx_live_a4 hash:net family inet maxelem 65536"
    assert headers["ar4"] == "mailsec_mx_live_ar4 hash:ip family inet maxelem 262144 timeout 604800"
    assert headers["as6"] == "mailsec_mx_live_as6 hash:ip family inet6 maxelem 262144 netmask 64 timeout 604800 counters"


@pytest.mark.parametrize("changes, message", [
    (dict(addresses=[]), "addresses: list at least one address"),
    (dict(addresses=["198.51.100.20", "mx1.example.test"]), "addresses: 'mx1.example.test' is not a single IPv4/IPv6 address"),
    (dict(addresses=["198.51.100.20\n"]), "addresses: '198.51.100.20\\n'"),
    (dict(ports=[]), "ports: list at least one TCP port"),
    (dict(action="drop"), "action: the live MX firewall refuses no one, so 'drop' does not apply"),
    (dict(allow=["198.51.100.70"]), "allow: the live MX firewall refuses no one"),
    (dict(allow_by_family={"ipv4": "", "ipv6": "2001:db8:5::/48"}), "allow: the live MX firewall refuses no one"),
    (dict(interface="eth0"), "interface: the live MX addresses are spread over several hosts"),
    (dict(record_time=0), "record_time: 0 is not a number of seconds from 1 to 2147483"),
    (dict(record_time="604800"), "record_time: '604800' is not"),
    (dict(ipv4_prefix=33), "ipv4_prefix: 33 is not a whole number from 8 to 32"),
    (dict(ipv6_prefix=16), "ipv6_prefix: 16 is not a whole number from 32 to 128"),
    (dict(set_size=8), "set_size: 8 is not a whole number from 16 to 16777216"),
    (dict(name="mx-live"), "name 'mx-live' must be 1-16 characters"),
])
def test_bad_or_inapplicable_options_are_refused(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        live(**changes)


def test_an_empty_merged_allowlist_is_fine():
    assert live(allow_by_family={"ipv4": "", "ipv6": ""}).allow4 == []


def test_nft_rules_look_once_per_connection_after_the_handshake_and_have_no_verdict():
    chains = dict(live(ipv4_prefix=24).nftables_chains())
    assert chains["input"] == [
        "ip daddr 198.51.100.20 tcp dport 25 ct state established ct status assured ct direction original "
        "ct label ! 102 ct label set 102 jump record",
        "ip6 daddr 2001:db8:77::20 tcp dport 25 ct state established ct status assured ct direction original "
        "ct label ! 102 ct label set 102 jump record",
    ]
    assert chains["record"] == [
        "fib saddr type local return",
        'counter name "arrivals"',
        "update @arrived4 { ip saddr & 255.255.255.0 }",
        "update @arrived6 { ip6 saddr & ffff:ffff:ffff:ffff:: }",
        "add @arrived_seen4 { ip saddr & 255.255.255.0 counter }",
        "add @arrived_seen6 { ip6 saddr & ffff:ffff:ffff:ffff:: counter }",
    ]
    assert not any(word in rule for rules in chains.values() for rule in rules for word in ("accept", "reject", "drop"))


def test_its_conntrack_label_is_not_the_traps():
    """The primary host runs both: with one bit, whichever looks first would hide the connection from the other."""
    assert "ct label ! 102" in dict(live().nftables_chains())["input"][0]
    assert TRAP_CONNLABEL == 101
    assert '! --label "102"' in live().iptables_jump_states(4, "198.51.100.20")[0]


def test_iptables_chain_records_and_counts_with_a_comment():
    chain = live().iptables_chain(6, "C", lambda logical: "set_" + logical)
    assert chain == [
        '-A C -m conntrack --ctstate ESTABLISHED -m connlabel --label "102" --set',
        "-A C -m addrtype --src-type LOCAL -j RETURN",
        '-A C -m comment --comment "mailsec arrival"',
        "-A C -j SET --add-set set_arrived6 src --exist",
        "-A C -m set --match-set set_arrived_seen6 src",
        "-A C -j SET --add-set set_arrived_seen6 src",
    ]
    assert live().iptables_jump_states(6, "2001:db8:77::20") == [
        ' -m conntrack --ctstate ESTABLISHED --ctstatus ASSURED --ctdir ORIGINAL -m connlabel ! --label "102"']


@pytest.mark.parametrize("make_backend", [nft_backend, iptables_backend])
def test_the_listing_reads_back_equal_to_the_wanted_state(make_backend):
    backend = make_backend()
    state = backend.current()
    assert state == backend.wanted(live())
    assert state.packets() == {"arrivals": 4}
    assert state.prefixes == {4: 32, 6: 64}
    last, first, days = LiveSpec.remembered(state)
    assert set(last) == set(first) == {"198.51.100.40", "2001:db8:77:1::"} and days is None
    assert (first["198.51.100.40"].packets, first["2001:db8:77:1::"].packets) == (2, 2)


@pytest.mark.parametrize("make_backend", [nft_backend, iptables_backend])
@pytest.mark.parametrize("changes", [dict(addresses=["198.51.100.20"]), dict(record_time=3600), dict(ipv6_prefix=56),
                                     dict(set_size=65536), dict(ports=[25, 587])])
def test_another_live_spec_differs_from_the_listing(make_backend, changes):
    backend = make_backend()
    assert backend.current() != backend.wanted(live(**changes))


def test_a_new_record_time_carries_the_arrivals_over():
    backend = iptables_backend()
    backend.apply(live(record_time=3600), backend.current())
    script = backend.run.data[0].splitlines()
    assert "add mailsec_mx_live_ar4n 198.51.100.40 timeout 3599" in script
    assert "add mailsec_mx_live_as6n 2001:db8:77:1:: timeout 3599 packets 2 bytes 0" in script
    assert "swap mailsec_mx_live_as4n mailsec_mx_live_as4" in script
