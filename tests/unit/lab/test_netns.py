"""lab/netns.py: names and `ip` arguments of a throwaway namespace (no root needed)."""

import os

import pytest

from lab import netns


def test_a_name_carries_the_prefix_the_process_and_a_counter():
    assert netns.unique_name("mxfw", pid=4242, serial=7) == "mxfw-4242-7"


def test_names_differ_within_a_process_and_name_the_process():
    first, second = netns.unique_name("mxfw"), netns.unique_name("mxfw")
    assert first != second
    assert first.startswith("mxfw-%d-" % os.getpid())


@pytest.mark.parametrize("prefix", ["", "Upper", "1abc", "has space", "a/b", "x" * 21])
def test_a_prefix_that_would_make_a_bad_name_is_refused(prefix):
    with pytest.raises(ValueError, match="namespace prefix"):
        netns.unique_name(prefix)


@pytest.mark.parametrize("address, arguments", [
    ("198.51.100.10", ["198.51.100.10/32"]),
    ("198.51.100.10/24", ["198.51.100.10/24"]),
    ("203.0.113.7/32", ["203.0.113.7/32"]),
    ("2001:db8:51::10", ["2001:db8:51::10/128", "nodad"]),
    ("2001:db8:77::20/64", ["2001:db8:77::20/64", "nodad"]),
])
def test_addresses_become_ip_arguments_ipv6_without_duplicate_detection(address, arguments):
    assert netns.address_arguments(address) == arguments


@pytest.mark.parametrize("address", ["192.0.2.10", "10.0.0.1", "198.51.100.10/16", "2001:db9::1", "2001:db8::1/16", "::1"])
def test_addresses_outside_the_documentation_ranges_are_refused(address):
    with pytest.raises(ValueError, match="outside the documentation ranges"):
        netns.address_arguments(address)


def test_junk_is_not_an_address():
    with pytest.raises(ValueError, match="not an address"):
        netns.address_arguments("198.51.100.10 dev eth0")


def test_a_command_runs_through_ip_netns_exec():
    assert netns.exec_argv("mxfw-1-1", ["sh", "-ec", "true"]) == ["ip", "netns", "exec", "mxfw-1-1", "sh", "-ec", "true"]
