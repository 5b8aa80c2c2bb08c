"""Spec validation and the pure helpers of lab/mxlab.py (no root needed)."""

import ipaddress
import json
import pathlib

import pytest

from lab import mxlab


def spec(**overrides):
    base = {
        "name": "dp",
        "bridge_addresses": ["203.0.113.1/24", "2001:db8:113::1/64"],
        "hosts": [
            {"name": "dead", "addresses": ["203.0.113.10/24", "2001:db8:113::10/64"],
             "extra_addresses": ["203.0.113.11/24"]},
            {"name": "client", "addresses": ["203.0.113.20/24"]},
        ],
    }
    base.update(overrides)
    return base


def host(name="a", addresses=("203.0.113.5/24",), **extra):
    return {"name": name, "addresses": list(addresses), **extra}


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


def test_interface_names_fit_the_kernel_limit_and_stay_per_lab():
    assert len(mxlab.veth_name("abcdef", mxlab.MAX_HOSTS)) <= 15
    assert len(mxlab.bridge_name("abcdef")) <= 15
    pattern = mxlab.lab_link_pattern("dp")
    assert pattern.match("dp-br") and pattern.match("dp-12h")
    assert not pattern.match("dp1-br") and not pattern.match("dpx-1h") and not pattern.match("dp-1n")


def test_runtime_dir_moves_out_of_paths_the_hosts_overlay():
    assert mxlab.choose_runtime_dir(pathlib.Path("/tmp/x/lab"), "dp") == pathlib.Path("/tmp/x/lab")
    for hidden in ("/root/.cache/molecule/lab", "/var/tmp/lab", "/etc/lab", "/run/lab"):
        assert mxlab.choose_runtime_dir(pathlib.Path(hidden), "dp") == mxlab.FALLBACK_RUNTIME_ROOT / "dp"
    assert mxlab.choose_runtime_dir(pathlib.Path("/rootless/lab"), "dp") == pathlib.Path("/rootless/lab")


def test_sshd_config_listens_on_every_address():
    lab = mxlab.parse_spec(spec())
    config = mxlab.render_sshd_config(lab.hosts[0], pathlib.Path("/tmp/lab"), pathlib.Path("/tmp/lab/hosts/dead/run/sshd.pid"))
    assert "ListenAddress 203.0.113.10:22\n" in config
    assert "ListenAddress [2001:db8:113::10]:22\n" in config
    assert "203.0.113.11" not in config  # extra addresses are for roles to add
    for line in ("UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
                 "AuthorizedKeysFile /tmp/lab/id_ed25519.pub", "PidFile /tmp/lab/hosts/dead/run/sshd.pid"):
        assert line + "\n" in config


def test_inventory_is_yaml_with_connection_settings():
    yaml = pytest.importorskip("yaml")
    instances = [{"instance": "dead", "address": "203.0.113.10", "user": "root", "port": 22,
                  "identity_file": "/tmp/lab/id_ed25519", "addresses": ["203.0.113.10", "2001:db8:113::10"],
                  "extra_addresses": []}]
    hosts = yaml.safe_load(mxlab.render_inventory(instances))["all"]["hosts"]
    assert hosts["dead"]["ansible_host"] == "203.0.113.10"
    assert hosts["dead"]["ansible_python_interpreter"] == "/usr/bin/python3"
    assert hosts["dead"]["ansible_ssh_private_key_file"] == "/tmp/lab/id_ed25519"
    assert "StrictHostKeyChecking=no" in hosts["dead"]["ansible_ssh_common_args"]
    assert hosts["dead"]["lab_addresses"] == ["203.0.113.10", "2001:db8:113::10"]


def test_cli_rejects_a_bad_spec_before_creating_anything(tmp_path, capsys):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec(hosts=[host(addresses=["192.0.2.5/24"])])))
    state_dir = tmp_path / "state"
    assert mxlab.main(["up", str(spec_file), "--state-dir", str(state_dir)]) == 2
    assert "192.0.2.5/24 is outside the lab ranges" in capsys.readouterr().err
    assert not state_dir.exists()


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


def test_a_private_usr_host_boots_with_a_usr_overlay(tmp_path):
    plain, mta = mxlab.parse_spec(spec(hosts=[host("plain"), host("mta", ("203.0.113.6/24",), private_usr=True)])).hosts
    for item in (plain, mta):
        record = {"host_dir": str(tmp_path / item.name), "pid_file": str(tmp_path / item.name / "pid")}
        mxlab._write_host_files(item, record, tmp_path)
    boots = {name: json.loads((tmp_path / name / "run" / "boot.json").read_text()) for name in ("plain", "mta")}
    assert sorted(boots["plain"]["overlays"]) == ["/etc", "/root", "/var"]
    assert sorted(boots["mta"]["overlays"]) == ["/etc", "/root", "/usr", "/var"]
