"""The trap's spec: what it guards, brings up and remembers, and what it refuses to take."""

import re

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.trap import TrapSpec


def trap(**changes):
    args = dict(name="mx_trap", mx_addresses=["203.0.113.20", "2001:db8::20"], traps=["2001:db8::91", "203.0.113.91"],
                ports=[25], action="reset", allow=["198.51.100.0/24", "2001:db8:5::/48"])
    args.update(changes)
    return TrapSpec(**args)


def test_a_trap_guards_its_traps_and_the_own_addresses_where_it_learns_who_walks_the_mx_list():
    for suppress in (False, True):
        guarding = trap(suppress=suppress)
        assert (guarding.traps4, guarding.traps6) == (["203.0.113.91"], ["2001:db8::91"])
        assert guarding.guarded(4) == ["203.0.113.91", "203.0.113.20"]
        assert guarding.guarded(6) == ["2001:db8::91", "2001:db8::20"]
        assert guarding.interface_addresses == ["203.0.113.91", "2001:db8::91"]


@pytest.mark.parametrize("address", [" 203.0.113.9", "203.0.113.9\n", "2001:db8::10%1", "2001:db8::10%1 -j ACCEPT\n-I INPUT 1 -p tcp --dport 22 -j DROP",
                                     "::ffff:203.0.113.9", "127.0.0.1", "::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "fe80::1", "169.254.0.1"])
@pytest.mark.parametrize("option", ["mx_addresses", "traps"])
def test_hostile_or_unusable_addresses_are_refused_naming_the_entry(address, option):
    with pytest.raises(ValueError) as caught:
        trap(**{option: ["203.0.113.92" if option == "traps" else "203.0.113.21", address]})
    assert str(caught.value).startswith("%s: %r" % (option, address))


@pytest.mark.parametrize("entry", ["198.51.100.7/32 -j ACCEPT", "198.51.100.7\n", "fe80::1%eth0/128", "2001:db8::/64;"])
def test_allow_entries_that_are_not_plain_networks_never_reach_a_rule(entry):
    with pytest.raises(ValueError, match="allow"):
        trap(allow=[entry])


def test_sources_are_grouped_by_prefix():
    default = trap()
    assert default.prefixes == {4: 32, 6: 64}
    assert (default.mask(4), default.mask(6)) == ("255.255.255.255", "ffff:ffff:ffff:ffff::")
    assert (default.whole_address(4), default.whole_address(6)) == (True, False)
    coarse = trap(ipv4_prefix=24, ipv6_prefix=48)
    assert (coarse.mask(4), coarse.mask(6)) == ("255.255.255.0", "ffff:ffff:ffff::")


def test_a_trap_needs_the_own_addresses_even_without_suppression():
    with pytest.raises(ValueError, match="addresses: list at least one address"):
        trap(mx_addresses=[])


@pytest.mark.parametrize("changes, message", [
    (dict(traps=[]), "traps: list at least one address"),
    (dict(traps=["203.0.113.300"]), "traps: '203.0.113.300' is not a single IPv4/IPv6 address"),
    (dict(traps=["203.0.113.20"]), "traps: 203.0.113.20 is also one of the host's own MX addresses"),
    (dict(suppress=True, mx_addresses=[]), "addresses: list at least one address"),
    (dict(suppress_time=0), "suppress_time: 0 is not a number of seconds from 1 to 2147483"),
    (dict(suppress_time=2147484), "suppress_time: 2147484 is not"),
    (dict(suppress_time=True), "suppress_time: True is not"),
    (dict(suppress_time="3600"), "suppress_time: '3600' is not"),
    (dict(order_window=0), "order_window: 0 is not a number of seconds"),
    (dict(ipv4_prefix=7), "ipv4_prefix: 7 is not a whole number from 8 to 32"),
    (dict(ipv6_prefix=129), "ipv6_prefix: 129 is not a whole number from 32 to 128"),
    (dict(ipv6_prefix="64"), "ipv6_prefix: '64' is not"),
    (dict(set_size=8), "set_size: 8 is not a whole number from 16"),
])
def test_bad_trap_specs_are_refused(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        trap(**changes)


def test_seen_time_is_a_week_or_the_suppression_if_longer():
    assert trap().seen_time == 604800
    assert trap(suppress_time=2000000).seen_time == 2000000
