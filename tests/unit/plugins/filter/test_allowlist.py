"""dead_primary_allowlist: the dead primary's allow scopes combined once, for the role and for the traps."""

import pathlib
import re

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mailsec.mx.plugins.filter.allowlist import (
    ALLOW_FILES,
    ALLOW_SCOPES,
    FilterModule,
    combine_allowlist,
)

ROOT = pathlib.Path(__file__).resolve().parents[4]
ALLOWLIST = FilterModule().filters()["dead_primary_allowlist"]
ROLE_DEFAULTS = {
    "dead_primary_allow": [], "dead_primary_group_allow": [], "dead_primary_host_allow": [],
    "dead_primary_dependent_allow": [], "dead_primary_allow_files": [], "dead_primary_ports": [25],
}


def test_one_host_scopes_in_order_then_files():
    variables = dict(
        ROLE_DEFAULTS,
        dead_primary_allow=["198.51.100.1"],
        dead_primary_group_allow=["198.51.100.2", "2001:db8:77::/48"],
        dead_primary_host_allow=["198.51.100.3"],
        dead_primary_dependent_allow=["198.51.100.4"],
        dead_primary_allow_files=["files/partners.txt"],
    )
    assert ALLOWLIST(variables) == {
        "allow": ["198.51.100.1", "198.51.100.2", "2001:db8:77::/48", "198.51.100.3", "198.51.100.4"],
        "allow_files": ["files/partners.txt"],
    }


def test_what_is_today_the_plain_concatenation_of_the_scopes():
    """Without repeats, the role's allowlist is exactly what its vars used to write: allow + group + host + dependent."""
    variables = {name: ["198.51.100.%d" % (10 * number + entry) for entry in range(3)] for number, name in enumerate(ALLOW_SCOPES)}
    expected = variables["dead_primary_allow"] + variables["dead_primary_group_allow"] + variables["dead_primary_host_allow"] \
        + variables["dead_primary_dependent_allow"]
    assert combine_allowlist(variables)["allow"] == expected


def test_unset_scopes_count_as_empty():
    assert ALLOWLIST({}) == {"allow": [], "allow_files": []}
    assert ALLOWLIST({"dead_primary_host_allow": ["198.51.100.3"]}) == {"allow": ["198.51.100.3"], "allow_files": []}


def test_each_entry_once_the_first_kept():
    variables = {"dead_primary_allow": ["198.51.100.1", "198.51.100.2"], "dead_primary_host_allow": ["198.51.100.2", "198.51.100.1"],
                 "dead_primary_allow_files": ["a.txt", "a.txt"]}
    assert ALLOWLIST(variables) == {"allow": ["198.51.100.1", "198.51.100.2"], "allow_files": ["a.txt"]}


def test_several_hosts_scope_by_scope_then_host_by_host():
    dead_a = {"inventory_hostname": "deadA", "dead_primary_allow": ["198.51.100.1"], "dead_primary_host_allow": ["198.51.100.3"],
              "dead_primary_allow_files": ["a.txt", "c.txt"]}
    dead_b = {"inventory_hostname": "deadB", "dead_primary_allow": ["198.51.100.1", "198.51.100.2"],
              "dead_primary_dependent_allow": ["198.51.100.5"], "dead_primary_allow_files": ["a.txt", "b.txt"]}
    expected = {"allow": ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.5"], "allow_files": ["a.txt", "c.txt", "b.txt"]}
    assert ALLOWLIST([dead_a, dead_b]) == expected
    # What Jinja's map() hands over: a generator.
    assert ALLOWLIST(host for host in (dead_a, dead_b)) == expected
    assert ALLOWLIST([]) == {"allow": [], "allow_files": []}


def test_entries_pass_on_as_they_are_for_the_firewall_module_to_name():
    hostile = ["198.51.100.25\n-A INPUT -p tcp --dport 22 -j DROP", "fe80::1%eth0", "0.0.0.0/0", 42, {"not": "an entry"}]
    assert ALLOWLIST({"dead_primary_allow": hostile + [{"not": "an entry"}]})["allow"] == hostile


@pytest.mark.parametrize("variables, match", [
    ({"dead_primary_group_allow": "198.51.100.2"}, "dead_primary_group_allow must be a list, not 198.51.100.2"),
    ({"dead_primary_host_allow": None}, "dead_primary_host_allow must be a list, not None"),
    ({"inventory_hostname": "dead", "dead_primary_allow_files": "files/a.txt"},
     "dead_primary_allow_files of host dead must be a list, not files/a.txt"),
    ({"dead_primary_allow": "{{ partners }}"}, r"dead_primary_allow must be a list, not \{\{ partners \}\}"),
    ({"dead_primary_allow": "198.51.100.2\n-j ACCEPT"}, r"dead_primary_allow must be a list, not '198.51.100.2\\n-j ACCEPT'"),
    ("dead", "expects a host's variables .a mapping. or a list of them, not dead"),
    (None, "expects a host's variables .a mapping. or a list of them, not None"),
    ([{"dead_primary_allow": []}, "deadB"], r"expects a list of hosts' variables \(mappings\), not one holding deadB"),
])
def test_bad_input_is_a_filter_error_naming_the_variable(variables, match):
    with pytest.raises(AnsibleFilterError, match="^mailsec.mx.dead_primary_allowlist: " + match):
        ALLOWLIST(variables)


# --- written once ---------------------------------------------------------------------------------------------

def test_the_scopes_are_the_roles_allow_options():
    specs = yaml.safe_load((ROOT / "roles" / "dead_primary" / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(ALLOW_SCOPES) == {name for name in options if re.fullmatch(r"dead_primary_(\w+_)?allow", name)}
    assert ALLOW_FILES in options and options[ALLOW_FILES]["type"] == "list"


def test_the_role_and_the_playbook_both_call_the_filter_and_neither_lists_the_scopes():
    role_vars = yaml.safe_load((ROOT / "roles" / "dead_primary" / "vars" / "main.yml").read_text())
    assert "mailsec.mx.dead_primary_allowlist" in role_vars["__dead_primary_allow"]
    playbook = (ROOT / "playbooks" / "harden_mx.yml").read_text()
    assert "mailsec.mx.dead_primary_allowlist" in playbook
    for name in ALLOW_SCOPES[1:] + (ALLOW_FILES,):
        assert name not in role_vars["__dead_primary_allow"] and name not in playbook
