"""Spec validation shared by every kind (checked through the dead primary's spec), the dead primary's own, and what it
remembers of whom it refused (rules of both backends, real listings read back)."""

import json
import pathlib
import re

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import validate_name
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.dead_primary import DeadPrimarySpec
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.iptables import IptablesBackend
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.nftables import NftablesBackend
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.spec import SOURCE_OPTIONS
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.trap import TrapSpec
from tests.fake_host import FakeRun


def spec(**changes):
    args = dict(name="dead_primary", addresses=["203.0.113.10", "2001:db8::10"], ports=[25], action="reset",
                allow=["198.51.100.0/24", "2001:db8:5::/48"])
    args.update(changes)
    return DeadPrimarySpec(**args)


@pytest.mark.parametrize("name", ["a", "dead_primary", "mx2", "a" * 16, "a_1_b"])
def test_valid_names(name):
    assert validate_name(name) == name
    assert spec(name=name).name == name


@pytest.mark.parametrize("name", ["", "Dead", "1dead", "_dead", "dead-primary", "dead primary", "a" * 17, "dead.primary", None, 7])
def test_invalid_names_are_refused(name):
    with pytest.raises(ValueError, match=r"^name .* must be 1-16 characters of a-z, 0-9 and _, starting with a letter$"):
        spec(name=name)


def test_name_with_trailing_newline_is_refused():
    with pytest.raises(ValueError):
        validate_name("dead\n")


def test_addresses_are_deduplicated_and_sorted_v4_then_v6():
    wanted = spec(addresses=["2001:db8::10", "203.0.113.10", "203.0.113.9", "2001:DB8::10", "203.0.113.10"])
    assert wanted.addresses4 == ["203.0.113.9", "203.0.113.10"]
    assert wanted.addresses6 == ["2001:db8::10"]
    assert wanted.addresses == ["203.0.113.9", "203.0.113.10", "2001:db8::10"]


@pytest.mark.parametrize("address", ["203.0.113.0/24", "203.0.113.10/32", "2001:db8::/64", "mail.example.test", "203.0.113", ""])
def test_addresses_must_be_single_addresses(address):
    with pytest.raises(ValueError) as caught:
        spec(addresses=["203.0.113.10", address])
    assert str(caught.value) == "addresses: %r is not a single IPv4/IPv6 address" % address


@pytest.mark.parametrize("addresses", [[], None])
def test_addresses_are_required(addresses):
    with pytest.raises(ValueError, match="addresses: list at least one address"):
        spec(addresses=addresses)


def test_ports_are_deduplicated_and_sorted():
    assert spec(ports=[587, 25, 465, 25]).ports == [25, 465, 587]


@pytest.mark.parametrize("port", [1, 65535])
def test_port_bounds_are_accepted(port):
    assert spec(ports=[port]).ports == [port]


@pytest.mark.parametrize("port", [0, 65536, -25, True, False, "25", 25.0, None])
def test_bad_ports_are_refused(port):
    with pytest.raises(ValueError) as caught:
        spec(ports=[25, port])
    assert str(caught.value) == "ports: %r is not a TCP port (1-65535)" % (port,)


@pytest.mark.parametrize("ports", [[], None])
def test_ports_are_required(ports):
    with pytest.raises(ValueError, match="ports: list at least one TCP port"):
        spec(ports=ports)


@pytest.mark.parametrize("action", ["reset", "drop"])
def test_actions(action):
    assert spec(action=action).action == action


@pytest.mark.parametrize("action", ["accept", "RESET", "reject", None])
def test_other_actions_are_refused(action):
    with pytest.raises(ValueError, match=r"^action %r must be one of reset, drop$" % (action,)):
        spec(action=action)


def test_allow_is_split_by_family_and_sorted():
    wanted = spec(allow=["2001:db8:9::/48", "198.51.100.0/24", "2001:db8:1::/48", "10.0.0.0/8"])
    assert wanted.allow4 == ["10.0.0.0/8", "198.51.100.0/24"]
    assert wanted.allow6 == ["2001:db8:1::/48", "2001:db8:9::/48"]


def test_empty_allow_is_fine():
    wanted = spec(allow=[])
    assert (wanted.allow4, wanted.allow6) == ([], [])


def test_a_dead_primary_guards_and_brings_up_its_addresses():
    dead = spec()
    assert dead.guarded() == dead.addresses == dead.interface_addresses == ["203.0.113.10", "2001:db8::10"]


def test_a_dead_primary_has_no_trap_options():
    options = DeadPrimarySpec.argument_spec()
    # How sources are grouped and the room in each set are shared with the trap (spec.SOURCE_OPTIONS), not copied.
    assert not set(options) & (set(TrapSpec.options) - {"name"} - set(SOURCE_OPTIONS))
    assert {name: options[name] for name in SOURCE_OPTIONS} == {name: TrapSpec.options[name] for name in SOURCE_OPTIONS}
    with pytest.raises(TypeError):
        spec(traps=["203.0.113.91"])


# --- remembering whom it refused ------------------------------------------------------------------------------

FIXTURES = pathlib.Path(__file__).with_name("fixtures")
# Real output of nft 1.0.6, iptables 1.8.9 (nf_tables) and ipset 7.17 after 3 refusals of 198.51.100.200 and one each of
# 2001:db8:51:1::5 and ::6 (one /64), written by firewall_driver.py for RECORDING_SPEC.
NFT_LISTING = (FIXTURES / "nft-list-table-dead-primary-recording.txt").read_text(encoding="utf-8")
IPTABLES_HOST = json.loads((FIXTURES / "iptables-dead-primary-recording.json").read_text(encoding="utf-8"))
RECORDING_SPEC = dict(name="dead_primary", addresses=["198.51.100.10", "2001:db8:51::10"], ports=[25], action="reset",
                      allow=["198.51.100.128/26"])


def recording(**changes):
    return DeadPrimarySpec(**dict(RECORDING_SPEC, **changes))


def nft_backend():
    return NftablesBackend(FakeRun({("nft", "list", "table", "inet", "mailsec_dead_primary"): (0, NFT_LISTING, "")}),
                           "dead_primary", DeadPrimarySpec)


def iptables_backend():
    replies = {tuple(command.split()): (0, output, "") for command, output in IPTABLES_HOST.items()}
    return IptablesBackend(FakeRun(replies), "dead_primary", DeadPrimarySpec)


def test_recording_is_on_by_default_for_a_week_per_address_and_per_64():
    default = recording()
    assert (default.record, default.record_time, default.prefixes, default.set_size) == (True, 604800, {4: 32, 6: 64}, 262144)
    assert [(timed.name, timed.short, timed.timeout, timed.counter) for timed in default.timed_sets()] == [
        ("refused", "r", 604800, False), ("refused_seen", "rs", 604800, True),
        ("refused_day", "rd", 86400, False), ("refused_days", "rn", 604800, True)]
    assert all(timed.size == 262144 and timed.prefixes == {4: 32, 6: 64} for timed in default.timed_sets())
    assert recording(record=False).timed_sets() == []


@pytest.mark.parametrize("changes, message", [
    (dict(record_time=0), "record_time: 0 is not a number of seconds from 1 to 2147483"),
    (dict(record_time=2147484), "record_time: 2147484 is not a number of seconds"),
    (dict(record_time=True), "record_time: True is not"),
    (dict(record_time="604800"), "record_time: '604800' is not"),
    (dict(ipv4_prefix=7), "ipv4_prefix: 7 is not a whole number from 8 to 32"),
    (dict(ipv4_prefix=33), "ipv4_prefix: 33 is not"),
    (dict(ipv6_prefix=31), "ipv6_prefix: 31 is not a whole number from 32 to 128"),
    (dict(ipv6_prefix="64"), "ipv6_prefix: '64' is not"),
    (dict(set_size=15), "set_size: 15 is not a whole number from 16 to 16777216"),
    (dict(set_size=16777217), "set_size: 16777217 is not"),
    (dict(record="yes"), "record: 'yes' is not true or false"),
    # Checked with recording off too: a bad value is an error either way.
    (dict(record=False, record_time=-1), "record_time: -1 is not"),
    (dict(record=False, set_size=0), "set_size: 0 is not"),
])
def test_bad_recording_options_are_refused_naming_the_option(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        recording(**changes)


def test_recording_rules_each_without_a_verdict_between_the_allowlist_and_the_refusal():
    rules = dict(recording().nftables_chains())["input"]
    match4, match6 = "ip daddr 198.51.100.10 tcp dport 25 ", "ip6 daddr 2001:db8:51::10 tcp dport 25 "
    six = "ip6 saddr & ffff:ffff:ffff:ffff::"
    assert rules == [
        match4 + 'ip saddr @allow4 counter name "allowed" accept',
        match4 + "update @refused4 { ip saddr }",
        match4 + "add @refused_seen4 { ip saddr counter }",
        match4 + "ip saddr != @refused_day4 add @refused_days4 { ip saddr counter }",
        match4 + "add @refused_day4 { ip saddr }",
        match4 + 'counter name "refused" reject with tcp reset',
        match6 + 'ip6 saddr @allow6 counter name "allowed" accept',
        match6 + "update @refused6 { %s }" % six,
        match6 + "add @refused_seen6 { %s counter }" % six,
        match6 + "%s != @refused_day6 add @refused_days6 { %s counter }" % (six, six),
        match6 + "add @refused_day6 { %s }" % six,
        match6 + 'counter name "refused" reject with tcp reset',
    ]
    recording_rules = [rule for rule in rules if "@refused" in rule]
    assert not any(word in rule for rule in recording_rules for word in ("accept", "reject", "drop", "return", "jump"))


def test_a_masked_ipv4_source_is_looked_up_as_nft_lists_it():
    rules = dict(recording(ipv4_prefix=24).nftables_chains())["input"]
    assert ("ip daddr 198.51.100.10 tcp dport 25 ip saddr & 255.255.255.0 != @refused_day4 "
            "add @refused_days4 { ip saddr & 255.255.255.0 counter }") in rules


def test_recording_chain_for_iptables_counts_the_first_refusal_and_each_new_day():
    chain = recording().iptables_chain(4, "C", lambda logical: "set_" + logical)
    assert chain == [
        "-A C -m set --match-set set_allow4 src -j RETURN",
        "-A C -j SET --add-set set_refused4 src --exist",
        "-A C -m set --match-set set_refused_seen4 src",
        "-A C -j SET --add-set set_refused_seen4 src",
        "-A C -m set ! --match-set set_refused_day4 src -m set --match-set set_refused_days4 src",
        "-A C -m set ! --match-set set_refused_day4 src -j SET --add-set set_refused_days4 src",
        "-A C -j SET --add-set set_refused_day4 src",
        "-A C -p tcp -j REJECT --reject-with tcp-reset",
    ]
    assert not any(" -j RETURN" in rule or "REJECT" in rule for rule in chain[1:-1])


@pytest.mark.parametrize("make_backend", [nft_backend, iptables_backend])
def test_the_listing_reads_back_equal_to_the_wanted_state(make_backend):
    """A second run reports ok: rules and set headers exactly as the tools print them."""
    backend = make_backend()
    live = backend.current()
    assert live == backend.wanted(recording())
    assert live.packets() == {"allowed": 0, "refused": 5}
    assert live.prefixes == {4: 32, 6: 64}
    assert len(live.fill) == 8 and all(count == 1 for count, size in live.fill.values())


@pytest.mark.parametrize("make_backend", [nft_backend, iptables_backend])
@pytest.mark.parametrize("changes", [dict(record=False), dict(record_time=3600), dict(ipv6_prefix=48), dict(ipv4_prefix=24),
                                     dict(set_size=1024)])
def test_another_recording_spec_differs_from_the_listing(make_backend, changes):
    backend = make_backend()
    assert backend.current() != backend.wanted(recording(**changes))


@pytest.mark.parametrize("make_backend", [nft_backend, iptables_backend])
def test_what_was_remembered_is_read_per_source(make_backend):
    last, first, days = DeadPrimarySpec.remembered(make_backend().current())
    assert set(last) == set(first) == set(days) == {"198.51.100.200", "2001:db8:51:1::"}
    assert (first["198.51.100.200"].packets, days["198.51.100.200"].packets) == (3, 1)
    assert (first["2001:db8:51:1::"].packets, days["2001:db8:51:1::"].packets) == (2, 1)
    assert last["198.51.100.200"].timeout == 604800 and last["198.51.100.200"].packets is None


def test_iptables_counts_only_the_allowlist_and_the_refusal_rules():
    live = iptables_backend().current()
    # The recording rules count packets too (SET targets, matches): none of them is a counter of ours.
    assert live.packets() == {"allowed": 0, "refused": 5}


def test_a_changed_record_time_carries_each_source_with_its_age_and_counts():
    backend = nft_backend()
    backend.apply(recording(record_time=3600), backend.current())
    loaded = backend.run.loaded[-1][1]
    assert "198.51.100.200 counter packets 3 bytes 0 timeout 1h expires 1h" in loaded
    assert "198.51.100.200 counter packets 1 bytes 0 timeout 1h expires 1h" in loaded
    # The day keeps its own period.
    assert "198.51.100.200 timeout 1d expires 1d" in loaded


def test_iptables_switching_recording_off_destroys_the_sets_once_no_rule_uses_them():
    backend = iptables_backend()
    backend.apply(recording(record=False), backend.current())
    restores = [index for index, command in enumerate(backend.run.commands) if command[0].endswith("-restore") and "--test" not in command]
    destroys = [index for index, command in enumerate(backend.run.commands) if command == ["ipset", "restore"]]
    assert destroys and destroys[-1] > restores[-1]
    assert backend.run.data[-1].splitlines() == ["destroy mailsec_dead_primary_%s" % suffix
                                                 for suffix in ("r4", "r6", "rs4", "rs6", "rd4", "rd6", "rn4", "rn6")]
    assert all("mailsec_dead_primary_r" not in text for dummy, dummy2, text in backend.run.restored[-2:])


def test_iptables_switching_recording_on_creates_the_sets_before_the_rules_use_them():
    replies = {tuple(command.split()): (0, output, "") for command, output in IPTABLES_HOST.items()
               if "mailsec_dead_primary_r" not in command}
    replies[("ipset", "list", "-n")] = (0, "mailsec_dead_primary_a4\nmailsec_dead_primary_a6\n", "")
    backend = IptablesBackend(FakeRun(replies), "dead_primary", DeadPrimarySpec)
    backend.apply(recording(), backend.current())
    script = backend.run.data[0].splitlines()
    assert "create mailsec_dead_primary_rn6 hash:ip family inet6 maxelem 262144 netmask 64 timeout 604800 counters" in script
    assert "create mailsec_dead_primary_rd4 hash:ip family inet maxelem 262144 timeout 86400" in script
    first_restore = next(index for index, command in enumerate(backend.run.commands) if command[0].endswith("-restore"))
    assert backend.run.commands.index(["ipset", "restore"]) < first_restore
