"""Spec validation shared by every kind (checked through the dead primary's spec) and the dead primary's own."""

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import validate_name
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.dead_primary import DeadPrimarySpec
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.trap import TrapSpec


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
    assert not set(options) & (set(TrapSpec.options) - {"name"})
    with pytest.raises(TypeError):
        spec(traps=["203.0.113.91"])
