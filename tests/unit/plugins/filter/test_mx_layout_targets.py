"""mx_targets and mx_target_conflicts as filters, the demo inventory against its layout, and harden_mx.yml stopping
on an inventory that says otherwise than the layout."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mailsec.mx.plugins.filter.mx_layout_targets import FilterModule

ROOT = pathlib.Path(__file__).resolve().parents[4]
DEMO = ROOT / "lab" / "demo" / "inventory"
FILTERS = FilterModule().filters()
LAYOUT = [
    {"preference": 60, "host": "trap2.example.test", "role": "trap", "addresses": ["2001:DB8:DE::22", "198.51.100.22"]},
    {"preference": 40, "host": "backstop.example.test", "role": "backstop", "addresses": ["198.51.100.20"]},
    {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": ["198.51.100.11"]},
    {"preference": "20", "host": "MX1.example.test", "addresses": ["198.51.100.20", "2001:db8:de::20"]},
    {"preference": 30, "host": "mx2.example.test", "addresses": ["198.51.100.30"]},
]


def test_the_filters_are_exported():
    assert sorted(FILTERS) == ["mx_domains_targets", "mx_domains_without", "mx_target_conflicts", "mx_targets"]


def test_mx_domains_targets_and_its_errors():
    assert FILTERS["mx_domains_targets"]([{"zone": "a.test"}, {"zone": "b.test"}], LAYOUT)["dead"] == ["198.51.100.11"]
    with pytest.raises(AnsibleFilterError, match=r"^mailsec\.mx\.mx_domains_targets: 1 problem\(s\) in mx_domains"):
        FILTERS["mx_domains_targets"]([{"zone": "a.test"}, {"zone": "a.test"}], LAYOUT)


def test_mx_domains_without():
    assert FILTERS["mx_domains_without"]([{"zone": "a.test"}, {"zone": "b.test"}], ["A.TEST."]) == [{"zone": "b.test"}]
    with pytest.raises(AnsibleFilterError, match=r"^mailsec\.mx\.mx_domains_without: "):
        FILTERS["mx_domains_without"]([{"name": "no zone"}], [])


def test_mx_targets():
    assert FILTERS["mx_targets"](LAYOUT) == {
        "dead": ["198.51.100.11"],
        "live": ["198.51.100.20", "2001:db8:de::20", "198.51.100.30"],
        "primary": ["198.51.100.20", "2001:db8:de::20"],
        "backstop": ["198.51.100.20"],
        "trap": ["2001:db8:de::22", "198.51.100.22"],
        "trap_host": ["198.51.100.20", "2001:db8:de::20"],
    }


@pytest.mark.parametrize("layout, code, entry", [
    ([dict(LAYOUT[2], preference=20), LAYOUT[3]], "dead-not-lowest", "record 1 (20 nolist.example.test.)"),
    ([LAYOUT[2], dict(LAYOUT[3], addresses=["198.51.100.20\n-I INPUT 1 -j DROP"])], "address-invalid",
     repr("198.51.100.20\n-I INPUT 1 -j DROP")),
    ([dict(LAYOUT[2], rol="dead"), LAYOUT[3]], "key-unknown", "unknown key 'rol' (did you mean 'role'?)"),
    ({"preference": 10}, "layout-invalid", "not dict"),
])
def test_mx_targets_fails_naming_the_filter_the_rule_and_the_entry(layout, code, entry):
    with pytest.raises(AnsibleFilterError) as caught:
        FILTERS["mx_targets"](layout)
    message = str(caught.value)
    assert message.startswith("mailsec.mx.mx_targets: the MX layout has ")
    assert "[%s]" % code in message and entry in message and "\n-I INPUT" not in message


def test_mx_targets_options_pass_through():
    second = {"preference": 5, "host": "nolist2.example.test", "role": "dead", "addresses": ["198.51.100.12"]}
    with pytest.raises(AnsibleFilterError, match="multiple-dead"):
        FILTERS["mx_targets"](LAYOUT + [second])
    assert FILTERS["mx_targets"](LAYOUT + [second], allow_multiple_dead=True)["dead"] == ["198.51.100.12", "198.51.100.11"]
    with pytest.raises(AnsibleFilterError, match="mailsec.mx.mx_targets: address_limit"):
        FILTERS["mx_targets"](LAYOUT, address_limit=0)


def test_mx_target_conflicts():
    targets = FILTERS["mx_targets"](LAYOUT)
    groups = {"dead_primary": ["dead"], "mx_trap": ["mx1"]}
    agreeing = {"dead": {"dead_primary_addresses": ["198.51.100.11"]}, "mx1": {"mx_trap_addresses": ["198.51.100.22", "2001:db8:de::22"]}}
    assert FILTERS["mx_target_conflicts"](targets, agreeing, groups) == []
    [message] = FILTERS["mx_target_conflicts"](targets, dict(agreeing, dead={"dead_primary_addresses": ["198.51.100.12"]}), groups)
    assert message.startswith("host dead: the inventory (or an extra var) sets dead_primary_addresses to [198.51.100.12]")


@pytest.mark.parametrize("targets, hostvars, groups, match", [
    ({"dead": []}, {}, {}, "targets must be the result of mx_targets"),
    (None, {}, {}, "targets must be the result of mx_targets"),
    ("targets", {}, {}, "targets must be the result of mx_targets"),
    ("hostvars", "hostvars", {}, "hostvars and groups must be mappings"),
    ("hostvars", {}, {"dead_primary": ["dead"]}, "group dead_primary lists host dead, which hostvars does not hold"),
])
def test_mx_target_conflicts_bad_input_is_a_filter_error(targets, hostvars, groups, match):
    if targets == "hostvars":
        targets = FILTERS["mx_targets"](LAYOUT)
    with pytest.raises(AnsibleFilterError, match="^mailsec.mx.mx_target_conflicts: " + match):
        FILTERS["mx_target_conflicts"](targets, hostvars, groups)


# --- the demo inventory (lab/demo/inventory, molecule/default's group_vars too) ------------------------------------

def demo_hostvars(changes=None):
    """The demo inventory's groups and each host's group_vars (all, then its groups), as Ansible reads them."""
    hosts = yaml.safe_load((DEMO / "hosts.yml").read_text())["all"]["children"]
    groups = {group: list(hosts[group]["hosts"]) for group in hosts}
    hostvars = {}
    for group, members in groups.items():
        for host in members:
            variables = hostvars.setdefault(host, {})
            for name in ("all", group):
                path = DEMO / "group_vars" / ("%s.yml" % name)
                variables.update(yaml.safe_load(path.read_text()) if path.exists() else {})
            variables.update((changes or {}).get(host, {}))
    return hostvars, groups


def test_the_demo_inventory_agrees_with_its_layout():
    hostvars, groups = demo_hostvars()
    assert groups == {"dead_primary": ["dead"], "mx_trap": ["mx1"], "mx_live": ["mx1", "mx2"]}
    targets = FILTERS["mx_targets"](hostvars["dead"]["mx_layout"])
    assert FILTERS["mx_target_conflicts"](targets, hostvars, groups) == []
    assert targets["dead"] == ["198.51.100.11", "2001:db8:de::11"]


def test_a_demo_dead_address_other_than_the_layout_is_reported():
    hostvars, groups = demo_hostvars({"dead": {"dead_primary_addresses": ["198.51.100.12", "2001:db8:de::11"]}})
    targets = FILTERS["mx_targets"](hostvars["dead"]["mx_layout"])
    [message] = FILTERS["mx_target_conflicts"](targets, hostvars, groups)
    assert "dead_primary_addresses to [198.51.100.12, 2001:db8:de::11]" in message


# --- harden_mx.yml: the inventory is never silently overridden --------------------------------------------------

def run_harden_mx(tmp_path, host_vars):
    """harden_mx.yml on a copy of the demo inventory plus ``host_vars``; only the controller runs anything."""
    inventory = tmp_path / "inventory"
    shutil.copytree(DEMO, inventory)
    (inventory / "host_vars").mkdir()
    for host, variables in host_vars.items():
        (inventory / "host_vars" / ("%s.yml" % host)).write_text(yaml.safe_dump(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    command = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
               str(ROOT / "playbooks" / "harden_mx.yml"), "-e", "harden_mx_probe_timeout=1"]
    return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)


def test_harden_mx_stops_before_the_preflight_when_the_inventory_says_otherwise(tmp_path):
    trap_addresses_in_another_order = ["2001:db8:de::22", "198.51.100.22", "2001:db8:de::21", "198.51.100.21"]
    result = run_harden_mx(tmp_path, {
        "dead": {"dead_primary_addresses": ["198.51.100.12", "2001:db8:de::11"]},
        "mx1": {"mx_trap_primary_addresses": ["198.51.100.20"], "mx_trap_addresses": trap_addresses_in_another_order},
    })
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Nothing was changed. host dead: the inventory (or an extra var) sets dead_primary_addresses to " \
           "[198.51.100.12, 2001:db8:de::11], but the layout says [198.51.100.11, 2001:db8:de::11] (the dead record)." in output
    assert "host mx1: the inventory (or an extra var) sets mx_trap_primary_addresses to [198.51.100.20]" in output
    assert "sets mx_trap_addresses" not in output  # the same addresses in another order agree
    assert "Preflight" not in output and "PLAY [Firewall the dead primary" not in output
