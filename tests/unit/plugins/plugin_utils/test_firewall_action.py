"""The firewall modules' action plugins: options validated, allow files read and merged on the controller; bad input never reaches the host."""

from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleFileNotFound

from ansible_collections.mailsec.mx.plugins.action.dead_primary_firewall import ActionModule as DeadPrimaryAction
from ansible_collections.mailsec.mx.plugins.action.mx_trap_firewall import ActionModule as TrapAction
from ansible_collections.mailsec.mx.plugins.plugin_utils import _firewall_action as mx_firewall_action

MODULE_RESULT = {"changed": True, "backend": "nftables"}


@pytest.fixture
def make_action(tmp_path):
    """An ActionModule as ansible-core's own tests build them: mocked task, connection and loader.

    ``_find_needle`` resolves allow files in tmp_path; ``_execute_module`` is a mock returning MODULE_RESULT.
    """

    def make(**args):
        # kind: trap -> the trap module's action plugin, with its own MX addresses as mx_addresses.
        trap = args.pop("kind", "dead") == "trap"
        if trap and "addresses" in args:
            args["mx_addresses"] = args.pop("addresses")
        task = MagicMock()
        task.args = args
        task.async_val = 0
        task.check_mode = False
        connection = MagicMock()
        connection._shell.tmpdir = "/tmp/ansible-remote-tmp"
        plugin = TrapAction if trap else DeadPrimaryAction
        action = plugin(task, connection, play_context=MagicMock(), loader=MagicMock(), templar=None, shared_loader_obj=None)
        action._find_needle = MagicMock(side_effect=lambda dirname, needle: str(tmp_path / needle))
        action._execute_module = MagicMock(return_value=dict(MODULE_RESULT))
        return action

    return make


def allow_file(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")
    return name


def test_allow_and_allow_files_reach_the_module_as_one_merged_list(make_action, tmp_path):
    name = allow_file(tmp_path, "senders.txt", "# relays\n198.51.100.128/25\n2001:db8:5::/48  # v6 relay\n")
    action = make_action(name="dead_primary", addresses=["203.0.113.10"], allow=["198.51.100.0/25", "203.0.113.7"], allow_files=[name])
    task_vars = {"inventory_hostname": "mx1"}
    result = action.run(task_vars=task_vars)
    assert result == MODULE_RESULT
    action._find_needle.assert_called_once_with("files", "senders.txt")
    action._execute_module.assert_called_once_with(
        module_name="mailsec.mx.dead_primary_firewall",
        module_args={"name": "dead_primary", "addresses": ["203.0.113.10"], "allow": [],
                     "merged_allow": {"ipv4": "198.51.100.0/24\n203.0.113.7/32", "ipv6": "2001:db8:5::/48"}},
        task_vars=task_vars,
    )


def test_validate_only_false_is_not_passed_on(make_action):
    action = make_action(name="dead_primary", addresses=["203.0.113.10"], validate_only=False)
    action.run(task_vars={})
    assert action._execute_module.call_args.kwargs["module_args"] == {"name": "dead_primary", "addresses": ["203.0.113.10"], "allow": [],
                                                                      "merged_allow": {"ipv4": "", "ipv6": ""}}


def test_state_absent_passes_through_without_allow(make_action):
    action = make_action(name="dead_primary", state="absent")
    action.run(task_vars={})
    assert action._execute_module.call_args.kwargs["module_args"] == {"name": "dead_primary", "state": "absent", "allow": [],
                                                                      "merged_allow": {"ipv4": "", "ipv6": ""}}


def test_a_bad_entry_fails_naming_it_and_never_runs_the_module(make_action):
    action = make_action(name="dead_primary", addresses=["203.0.113.10"], allow=["198.51.100.0/24", "203.0.113"])
    result = action.run(task_vars={})
    assert result["failed"] is True
    assert result["msg"] == "mailsec.mx.dead_primary_firewall: allow entry 2: '203.0.113' is not an IP address or CIDR; nothing was changed"
    action._execute_module.assert_not_called()


def test_a_bad_file_line_fails_naming_file_and_line(make_action, tmp_path):
    name = allow_file(tmp_path, "senders.txt", "198.51.100.0/24\n\n0.0.0.0/0\n")
    action = make_action(name="dead_primary", addresses=["203.0.113.10"], allow_files=[name])
    result = action.run(task_vars={})
    assert result["failed"] is True
    assert result["msg"].startswith("mailsec.mx.dead_primary_firewall: %s line 3: '0.0.0.0/0' would open the dead primary to everyone" % (tmp_path / name))
    action._execute_module.assert_not_called()


def test_an_allow_file_that_cannot_be_found_fails(make_action):
    action = make_action(name="dead_primary", addresses=["203.0.113.10"], allow_files=["missing.txt"])
    action._find_needle.side_effect = AnsibleFileNotFound("Could not find or access 'missing.txt'")
    result = action.run(task_vars={})
    assert result["failed"] is True
    assert result["msg"].startswith("allow_files: Could not find or access 'missing.txt'")
    action._execute_module.assert_not_called()


@pytest.mark.parametrize("args", [dict(allow="198.51.100.0/24"), dict(allow_files="senders.txt")])
def test_allow_and_allow_files_must_be_lists(make_action, args):
    action = make_action(name="dead_primary", addresses=["203.0.113.10"], **args)
    result = action.run(task_vars={})
    assert (result["failed"], result["msg"]) == (True, "allow and allow_files must be lists")
    action._execute_module.assert_not_called()


# --- validate_only -------------------------------------------------------------------------------------

def test_validate_only_checks_everything_without_the_host(make_action, tmp_path):
    name = allow_file(tmp_path, "senders.txt", "198.51.100.0/24\n2001:db8:5::/48\n")
    action = make_action(name="dead_primary", addresses=["203.0.113.10", "2001:db8::10"], ports=[25, 587], action="drop",
                         allow=["203.0.113.7"], allow_files=[name], validate_only=True)
    result = action.run(task_vars={})
    assert result == {"changed": False, "msg": "inputs are valid", "allow_count": {"ipv4": 2, "ipv6": 1}}
    action._execute_module.assert_not_called()


def test_validate_only_accepts_ports_as_strings(make_action):
    action = make_action(name="dead_primary", addresses=["203.0.113.10"], ports=["25", " 587 "], validate_only=True)
    assert action.run(task_vars={})["msg"] == "inputs are valid"


def test_validate_only_defaults_ports_to_25(make_action):
    assert make_action(name="dead_primary", addresses=["203.0.113.10"], validate_only=True).run(task_vars={})["msg"] == "inputs are valid"


@pytest.mark.parametrize("args, message", [
    (dict(ports=[25, 70000]), "ports: 70000 is not a TCP port (1-65535)"),
    # Types and choices are checked against the module's argument spec, in ansible-core's words.
    (dict(ports=["smtp"]), "Elements value for option 'ports' is of type str and we were unable to convert to int: \"'smtp'\" cannot be converted to an int"),
    (dict(addresses=["mail.example.test"]), "addresses: 'mail.example.test' is not a single IPv4/IPv6 address"),
    (dict(addresses=["203.0.113.0/24"]), "addresses: '203.0.113.0/24' is not a single IPv4/IPv6 address"),
    (dict(addresses=[]), "addresses: list at least one address whose port 25 the firewall guards"),
    (dict(action="accept"), "value of action must be one of: reset, drop, got: accept"),
    (dict(name="Dead-Primary"), "name 'Dead-Primary' must be 1-16 characters of a-z, 0-9 and _, starting with a letter"),
])
def test_validate_only_fails_on_bad_input(make_action, args, message):
    task_args = dict(name="dead_primary", addresses=["203.0.113.10"], validate_only=True)
    task_args.update(args)
    action = make_action(**task_args)
    result = action.run(task_vars={})
    assert result["failed"] is True
    assert result["msg"] == "mailsec.mx.dead_primary_firewall: %s; nothing was changed" % message
    action._execute_module.assert_not_called()


def test_validate_only_for_absent_needs_only_a_name(make_action):
    assert make_action(name="dead_primary", state="absent", validate_only=True).run(task_vars={})["msg"] == "inputs are valid"
    assert make_action(name="1bad", state="absent", validate_only=True).run(task_vars={})["failed"] is True


def test_validate_only_given_as_the_string_no_runs_the_module(make_action):
    action = make_action(name="dead_primary", addresses=["203.0.113.10"], validate_only="no")
    action.run(task_vars={})
    action._execute_module.assert_called_once()


# --- allow_controller ----------------------------------------------------------------------------------------

class FakeSocket:
    """A UDP socket whose route to each target is given: connect picks a source address, sends nothing."""

    routes = {}

    def __init__(self, family, kind, protocol):
        self.source = None

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False

    def connect(self, address):
        if address[0] not in self.routes:
            raise OSError("Network is unreachable")
        self.source = self.routes[address[0]]

    def getsockname(self):
        return (self.source, 40000)


@pytest.fixture
def routes(monkeypatch):
    FakeSocket.routes = {"203.0.113.20": "198.51.100.1", "203.0.113.91": "198.51.100.1", "2001:db8::91": "2001:db8::1",
                         "127.0.0.1": "127.0.0.1"}
    monkeypatch.setattr(mx_firewall_action.socket, "socket", FakeSocket)
    return FakeSocket.routes


def test_controller_addresses_one_per_source_without_loopback(routes):
    found = mx_firewall_action.controller_addresses(["127.0.0.1", "203.0.113.20", "203.0.113.91", "2001:db8::91", "203.0.113.99", ""])
    assert found == ["198.51.100.1", "2001:db8::1"]


def test_allow_controller_adds_the_controller_to_the_allowlist(make_action, routes):
    action = make_action(name="mx_trap", kind="trap", traps=["203.0.113.91", "2001:db8::91"], addresses=["203.0.113.20"],
                         allow=["10.0.0.0/8"], allow_controller=True)
    action._play_context.remote_addr = "127.0.0.1"
    result = action.run(task_vars={})
    module_args = action._execute_module.call_args.kwargs["module_args"]
    assert "allow_controller" not in module_args
    assert module_args["merged_allow"] == {"ipv4": "10.0.0.0/8\n198.51.100.1/32", "ipv6": "2001:db8::1/128"}
    assert result["controller_allowed"] == ["198.51.100.1", "2001:db8::1"]


def test_without_allow_controller_the_allowlist_is_as_given(make_action, routes):
    action = make_action(name="mx_trap", kind="trap", traps=["203.0.113.91"], allow=["10.0.0.0/8"])
    result = action.run(task_vars={})
    assert action._execute_module.call_args.kwargs["module_args"]["merged_allow"] == {"ipv4": "10.0.0.0/8", "ipv6": ""}
    assert "controller_allowed" not in result


def test_validate_only_checks_a_trap(make_action):
    result = make_action(name="mx_trap", kind="trap", traps=["203.0.113.91"], addresses=["203.0.113.91"], validate_only=True).run(task_vars={})
    assert result["failed"] is True and "is also one of the host's own MX addresses" in result["msg"]
    ok = make_action(name="mx_trap", kind="trap", traps=["203.0.113.91"], suppress="yes", suppress_time="60", addresses=["203.0.113.20"],
                     validate_only=True).run(task_vars={})
    assert ok["msg"] == "inputs are valid"


def test_validate_only_knows_what_the_iptables_backend_cannot_take(make_action):
    ports = list(range(1000, 1016))
    result = make_action(name="dead_primary", addresses=["203.0.113.10"], backend="iptables", ports=ports, validate_only=True).run(task_vars={})
    assert result["failed"] is True
    assert result["msg"] == ("mailsec.mx.dead_primary_firewall: the iptables backend takes at most 15 ports (multiport); use nftables; "
                             "nothing was changed")
    assert make_action(name="dead_primary", addresses=["203.0.113.10"], backend="nftables", ports=ports,
                       validate_only=True).run(task_vars={})["msg"] == "inputs are valid"


def test_validate_only_checks_the_interface(make_action):
    result = make_action(name="dead_primary", addresses=["203.0.113.10"], interface="eth0; reboot", validate_only=True).run(task_vars={})
    assert result["failed"] is True and "interface 'eth0; reboot' is not an interface name" in result["msg"]
