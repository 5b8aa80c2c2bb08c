"""The roles that record for the nolisting audit (dead_primary's recording variables, mx_live) against the modules
they drive, the harden_mx playbook that wires them to the layout, and the demo inventory's mx_live group."""

import ipaddress
import json
import pathlib

import pytest
import yaml

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.dead_primary import DeadPrimarySpec
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.live import LiveSpec
from ansible_collections.mailsec.mx.plugins.module_utils._layout import layout_targets

ROOT = pathlib.Path(__file__).resolve().parents[3]
RECORDING = ("record", "record_time", "ipv4_prefix", "ipv6_prefix", "set_size")


def load(path):
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def module_tasks(tasks, module):
    """Every task (blocks opened) that calls ``module``, as its argument dict."""
    found = []
    for task in tasks:
        found.extend(module_tasks(task.get("block", []), module))
        if module in task:
            found.append(task[module])
    return found


@pytest.mark.parametrize("role, module, spec, options", [
    ("dead_primary", "mailsec.mx.dead_primary_firewall", DeadPrimarySpec, RECORDING),
    ("mx_live", "mailsec.mx.mx_live_firewall", LiveSpec, ("addresses", "ports") + RECORDING[1:]),
])
def test_both_module_calls_get_every_recording_variable_whose_default_is_the_modules(role, module, spec, options):
    defaults = load("roles/%s/defaults/main.yml" % role)
    arguments = spec.argument_spec()
    calls = module_tasks(load("roles/%s/tasks/main.yml" % role), module)
    # The inputs checked before packages are installed, and the real run.
    assert len(calls) == 2 and calls[0].get("validate_only") is True
    for option in options:
        variable = "%s_%s" % (role, option)
        assert all(call[option] == "{{ %s }}" % variable for call in calls), option
        assert defaults[variable] == arguments[option].get("default", []), variable


def test_the_mx_live_role_sets_what_only_a_full_run_needs():
    call = module_tasks(load("roles/mx_live/tasks/main.yml"), "mailsec.mx.mx_live_firewall")[1]
    assert {option: call[option] for option in ("state", "backend", "persist")} == {
        "state": "{{ mx_live_state }}", "backend": "{{ mx_live_backend }}", "persist": "{{ mx_live_persist }}"}
    # Options that do not apply to the live kind are never passed (the module refuses them).
    assert not {"action", "allow", "allow_files", "interface"} & set(call)


def test_harden_mx_records_arrivals_on_every_live_host_after_the_traps_and_before_publishing():
    plays = load("playbooks/harden_mx.yml")
    hosts = [play["hosts"] for play in plays]
    live = plays[hosts.index("mx_live")]
    assert hosts.index("mx_trap") < hosts.index("mx_live") < len(hosts) - 1 and hosts[-1] == "localhost"
    assert live["vars"]["mx_live_addresses"] == "{{ __harden_mx_targets.live }}"
    assert live["roles"] == [{"role": "mailsec.mx.mx_live"}]
    # An inventory without the group (written before it existed) only gets a word about it, never a failure.
    first = plays[0]["tasks"]
    notice = [task for task in first if "mx_live" in str(task.get("when", ""))]
    assert len(notice) == 1 and "ansible.builtin.debug" in notice[0]


def test_the_demo_inventory_puts_every_host_holding_a_live_address_in_mx_live():
    spec = json.loads((ROOT / "lab" / "demo" / "spec.json").read_text(encoding="utf-8"))
    layout = load("lab/demo/inventory/group_vars/all.yml")["mx_layout"]
    live = {ipaddress.ip_address(address) for address in layout_targets(layout)["live"]}
    holding = sorted(host["name"] for host in spec["hosts"]
                     if live & {ipaddress.ip_interface(address).ip for address in host["addresses"] + host.get("extra_addresses", [])})
    inventory = load("lab/demo/inventory/hosts.yml")
    assert holding == ["mx1", "mx2"]
    assert sorted(inventory["all"]["children"]["mx_live"]["hosts"]) == holding


def test_the_demo_records_both_sides_per_address_so_the_audit_can_match_them():
    """Every lab host sits in one IPv6 /64: grouped per /64, the crude sender and the Postfix sender would be one."""
    dead = load("lab/demo/inventory/group_vars/dead_primary.yml")
    live = load("lab/demo/inventory/group_vars/mx_live.yml")
    assert dead["dead_primary_ipv6_prefix"] == live["mx_live_ipv6_prefix"] == 128
    assert live["mx_live_manage_packages"] is False
