"""lab.mxlab.spec: validating and normalising a lab description (no root needed)."""

import ipaddress

import pytest

from lab import mxlab
from tests.unit.lab.mxlab.specs import host, spec


def test_valid_spec_is_normalised():
    lab = mxlab.parse_spec(spec())
    assert lab.name == "dp"
    assert [h.name for h in lab.hosts] == ["dead", "client"]
    assert lab.hosts[0].addresses[1] == ipaddress.ip_interface("2001:db8:113::10/64")
    assert [str(a) for a in lab.hosts[0].extra_addresses] == ["203.0.113.11/24"]
    assert str(lab.hosts[0].main_address.ip) == "203.0.113.10"


@pytest.mark.parametrize("bad", ["192.0.2.5/24", "10.0.0.1/8", "203.0.113.5/16", "2001:db9::1/64", "::1/128"])
def test_address_outside_documentation_ranges_is_rejected_naming_the_entry(bad):
    with pytest.raises(mxlab.SpecError, match=r"host a: addresses: .*outside the lab ranges") as error:
        mxlab.parse_spec(spec(hosts=[host(addresses=[bad])]))
    assert bad in str(error.value)


def test_bad_extra_address_is_rejected():
    with pytest.raises(mxlab.SpecError, match=r"host a: extra_addresses: 192\.0\.2\.9/24"):
        mxlab.parse_spec(spec(hosts=[host(extra_addresses=["192.0.2.9/24"])]))


def test_bad_bridge_address_is_rejected():
    with pytest.raises(mxlab.SpecError, match=r"spec\.bridge_addresses: 192\.0\.2\.1/24"):
        mxlab.parse_spec(spec(bridge_addresses=["192.0.2.1/24"]))


@pytest.mark.parametrize("name", ["toolong", "Upper", "a-b", "", None, 7])
def test_bad_lab_name_is_rejected(name):
    with pytest.raises(mxlab.SpecError, match=r"spec\.name"):
        mxlab.parse_spec(spec(name=name))


@pytest.mark.parametrize("name", ["under_score", "-lead", "trail-", "x" * 64, ""])
def test_bad_host_name_is_rejected(name):
    with pytest.raises(mxlab.SpecError, match=r"spec\.hosts\[0\]\.name"):
        mxlab.parse_spec(spec(hosts=[host(name=name)]))


def test_not_an_address_is_rejected():
    with pytest.raises(mxlab.SpecError, match=r"host a: addresses: 'mx1' is not an address"):
        mxlab.parse_spec(spec(hosts=[host(addresses=["mx1"])]))


@pytest.mark.parametrize("broken, message", [
    ({"hosts": []}, r"spec\.hosts: must be a non-empty list"),
    ({"hosts": [host(), host()]}, r"duplicate host name\(s\) a"),
    ({"hosts": [host(name="a"), host(name="b")]}, r"host b: address 203\.0\.113\.5 is also used by host a"),
    ({"bridge_addresses": ["203.0.113.5/24"], "hosts": [host()]}, r"host a: address 203\.0\.113\.5 is also used by bridge"),
    ({"hosts": [host(addresses=[])]}, r"host a: addresses must not be empty"),
    ({"hosts": [host(addresses=["198.51.100.5/24"])]}, r"host a: 198\.51\.100\.5/24 is on no bridge network"),
    ({"typo": 1}, r"spec: unknown key\(s\) typo"),
])
def test_inconsistent_spec_is_rejected(broken, message):
    with pytest.raises(mxlab.SpecError, match=message):
        mxlab.parse_spec(spec(**broken))


def test_platform_keys_of_molecule_are_ignored():
    lab = mxlab.parse_spec(spec(hosts=[host(groups=["dns"], children=["x"])]))
    assert lab.hosts[0].name == "a"


def test_bridge_addresses_default_to_lowest_free_address_per_network():
    raw = spec(hosts=[host(addresses=["203.0.113.1/24", "2001:db8:113::5/64"]),
                      host(name="b", addresses=["198.51.100.7/25"])])
    del raw["bridge_addresses"]
    lab = mxlab.parse_spec(raw)
    assert [str(a) for a in lab.bridge_addresses] == ["203.0.113.2/24", "2001:db8:113::1/64", "198.51.100.1/25"]


def test_ipv6_only_host_is_reached_on_its_first_address():
    lab = mxlab.parse_spec(spec(hosts=[host(addresses=["2001:db8:113::9/64"])]))
    assert str(lab.hosts[0].main_address.ip) == "2001:db8:113::9"


def test_yaml_spec_is_accepted(tmp_path):
    pytest.importorskip("yaml")
    spec_file = tmp_path / "spec.yml"
    spec_file.write_text("name: dp\nhosts:\n  - name: a\n    addresses: [203.0.113.5/24]\n")
    assert mxlab.parse_spec(mxlab.load_spec_file(str(spec_file))).hosts[0].name == "a"


def test_private_usr_is_off_unless_asked_for():
    lab = mxlab.parse_spec(spec(hosts=[host("plain"), host("mta", ("203.0.113.6/24",), private_usr=True)]))
    assert [h.private_usr for h in lab.hosts] == [False, True]


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_private_usr_must_be_a_boolean(value):
    with pytest.raises(mxlab.SpecError, match="host mta: private_usr must be true or false"):
        mxlab.parse_spec(spec(hosts=[host("mta", private_usr=value)]))
