"""lab.mxlab.build: the files `up` writes for each host and for Ansible (no root needed)."""

import json
import pathlib

import pytest

from lab import mxlab
from lab.mxlab import build
from tests.unit.lab.mxlab.specs import host, spec


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


def test_a_private_usr_host_boots_with_a_usr_overlay(tmp_path):
    plain, mta = mxlab.parse_spec(spec(hosts=[host("plain"), host("mta", ("203.0.113.6/24",), private_usr=True)])).hosts
    for item in (plain, mta):
        record = {"host_dir": str(tmp_path / item.name), "pid_file": str(tmp_path / item.name / "pid")}
        build._write_host_files(item, record, tmp_path)
    boots = {name: json.loads((tmp_path / name / "run" / "boot.json").read_text()) for name in ("plain", "mta")}
    assert sorted(boots["plain"]["overlays"]) == ["/etc", "/root", "/var"]
    assert sorted(boots["mta"]["overlays"]) == ["/etc", "/root", "/usr", "/var"]
