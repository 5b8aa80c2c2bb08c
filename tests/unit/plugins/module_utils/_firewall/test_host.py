"""The firewall modules run through main() (host.run_module): validation before any command, backend choice, a full run."""

import json

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._firewall import common as _firewall
from ansible_collections.mailsec.mx.plugins.module_utils._firewall import host as _host
from ansible_collections.mailsec.mx.plugins.module_utils._firewall import iptables as _iptables
from ansible_collections.mailsec.mx.plugins.module_utils._firewall import nftables as _nftables
from ansible_collections.mailsec.mx.plugins.modules import dead_primary_firewall, mx_live_firewall, mx_trap_firewall
from tests.fake_host import FakeRun, patch_module
from tests.module_main import run_main

IP_ADDR = json.dumps([
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1"}, {"family": "inet6", "local": "::1"}]},
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "203.0.113.10"}, {"family": "inet6", "local": "2001:db8::10"}]},
])
NO_TABLE = (1, "", "Error: No such file or directory\nlist table inet mailsec_dead_primary\n")
NO_CHAIN = (1, "", "iptables: No chain/target/match by that name.\n")


@pytest.fixture
def host(monkeypatch, tmp_path):
    """A fake host; boot-time files go to tmp_path and systemd is not running."""
    fake = patch_module(monkeypatch, FakeRun({("ip", "-j", "addr", "show"): (0, IP_ADDR, "")}))
    monkeypatch.setattr(_nftables, "NFTABLES_CONF", str(tmp_path / "nftables.conf"))
    monkeypatch.setattr(_nftables, "PERSIST_DIR", str(tmp_path / "nftables.d"))
    monkeypatch.setattr(_iptables, "PERSIST_DIR", str(tmp_path / "iptables"))
    monkeypatch.setattr(_host, "STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(_firewall, "systemd_running", lambda: False)
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    return fake


def run_module(capsys, **args):
    """Run the module of the kind the arguments name (kind: trap -> mx_trap_firewall, live -> mx_live_firewall), as
    the tests were written."""
    kind = args.pop("kind", "dead")
    if kind == "trap":
        if "addresses" in args:
            args["mx_addresses"] = args.pop("addresses")
        return run_main(mx_trap_firewall, capsys, **args)
    if kind == "live":
        return run_main(mx_live_firewall, capsys, **args)
    return run_main(dead_primary_firewall, capsys, **args)


def test_bad_address_fails_before_any_command(host, capsys):
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.10", "mail.example.test"])
    assert result["failed"] is True
    assert result["msg"] == "addresses: 'mail.example.test' is not a single IPv4/IPv6 address; nothing was changed"
    assert host.commands == []


def test_bad_name_fails_before_any_command(host, capsys):
    result = run_module(capsys, name="dead-primary", addresses=["203.0.113.10"])
    assert result["failed"] is True and result["msg"].endswith("; nothing was changed")
    assert host.commands == []


def test_allow_files_given_to_the_module_fail(host, capsys):
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.10"], allow_files=["senders.txt"])
    assert result["failed"] is True
    assert result["msg"] == "allow_files are read on the controller by the mailsec.mx.dead_primary_firewall action plugin"
    assert host.commands == []


def test_present_needs_addresses(host, capsys):
    result = run_module(capsys, name="dead_primary")
    assert result["failed"] is True and "addresses" in result["msg"]
    assert host.commands == []


def test_refuses_to_guard_the_ssh_connection(host, capsys, monkeypatch):
    monkeypatch.setenv("SSH_CONNECTION", "198.51.100.50 51234 203.0.113.10 25")
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.10"])
    assert result["failed"] is True and result["msg"].startswith("refusing to guard 203.0.113.10 port 25")
    assert host.commands == []


def test_auto_picks_iptables_when_nft_is_missing(host, capsys):
    host.tools.discard("nft")
    host.replies.update({
        ("ipset", "list", "-n"): (0, "", ""),
        ("iptables", "-w", "-S", "MAILSEC_DEAD_PRIMARY"): NO_CHAIN,
        ("ip6tables", "-w", "-S", "MAILSEC_DEAD_PRIMARY"): NO_CHAIN,
    })
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.10"], _ansible_check_mode=True)
    assert result["backend"] == "iptables"
    assert result["changed"] is True
    assert host.ran("nft") == []
    assert [command for command in host.commands if command[0].endswith("-restore") or command[:2] == ["ipset", "restore"]] == []


def test_iptables_backend_needs_ipset(host, capsys):
    host.tools.discard("ipset")
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.10"], backend="iptables")
    assert result["failed"] is True
    assert result["msg"] == "the iptables backend needs ipset on the host; install it first (see bindep.txt)"


def test_nftables_run_applies_persists_and_reports(host, capsys, tmp_path):
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = NO_TABLE
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.10", "2001:db8::10"], allow=["198.51.100.0/24", "2001:db8:5::/48"])
    assert result["changed"] is True and result["backend"] == "nftables"
    assert [command[:2] for command in host.ran("nft")] == [["nft", "list"], ["nft", "-c"], ["nft", "-f"]]
    assert host.loaded[0][1] == host.loaded[1][1] and "198.51.100.0/24" in host.loaded[1][1]
    table_file = tmp_path / "nftables.d" / "mailsec_dead_primary.nft"
    assert result["persisted"] == [str(table_file), str(tmp_path / "nftables.conf")]
    assert table_file.read_text(encoding="utf-8") == host.loaded[1][1]
    assert result["allow_count"] == {"ipv4": 1, "ipv6": 1}
    assert result["missing_addresses"] == []
    assert result["diff"]["before"] == "" and "table inet mailsec_dead_primary {" in result["diff"]["after"]


def test_check_mode_runs_only_the_listing(host, capsys, tmp_path):
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = NO_TABLE
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.10"], _ansible_check_mode=True)
    assert result["changed"] is True
    assert [command[:2] for command in host.ran("nft")] == [["nft", "list"]]
    assert list(tmp_path.iterdir()) == []


def test_a_missing_address_is_a_warning_without_interface(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = NO_TABLE
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.10", "203.0.113.99"], persist=False)
    assert result["missing_addresses"] == ["203.0.113.99"]
    assert len(host.warnings) == 1 and host.warnings[0].startswith("203.0.113.99 is on no interface of this host")
    assert [command for command in host.ran("ip") if command[1] == "addr" and command[2] in ("add", "del")] == []


def test_a_missing_address_is_added_to_the_interface(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = NO_TABLE
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.99", "2001:db8::99"], interface="eth0", persist=False)
    assert result["changed"] is True and result["missing_addresses"] == ["203.0.113.99", "2001:db8::99"]
    assert [command for command in host.ran("ip") if command[2] == "add"] == [
        ["ip", "addr", "add", "203.0.113.99/32", "dev", "eth0"],
        ["ip", "addr", "add", "2001:db8::99/128", "dev", "eth0", "nodad"],
    ]


def test_absent_removes_the_addresses_the_module_added_and_only_those(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = NO_TABLE
    # 203.0.113.10 is the host's own address (eth0 held it before); 203.0.113.99 is added now.
    run_module(capsys, name="dead_primary", addresses=["203.0.113.10", "203.0.113.99"], interface="eth0")
    assert [command for command in host.ran("ip") if command[2] == "add"] == [["ip", "addr", "add", "203.0.113.99/32", "dev", "eth0"]]
    host.replies[("ip", "-j", "addr", "show")] = (0, IP_ADDR.replace('"local": "203.0.113.10"}', '"local": "203.0.113.10"}, '
                                                                     '{"family": "inet", "local": "203.0.113.99"}'), "")
    result = run_module(capsys, name="dead_primary", state="absent", addresses=["203.0.113.10", "203.0.113.99"], interface="eth0")
    assert result["changed"] is True
    assert [command for command in host.ran("ip") if command[2] == "del"] == [["ip", "addr", "del", "203.0.113.99/32", "dev", "eth0"]]
    # The record is gone with them: a second removal touches nothing.
    result = run_module(capsys, name="dead_primary", state="absent", addresses=["203.0.113.10", "203.0.113.99"], interface="eth0")
    assert len([command for command in host.ran("ip") if command[2] == "del"]) == 1


def test_absent_never_removes_an_address_the_host_held_before(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = NO_TABLE
    result = run_module(capsys, name="dead_primary", state="absent", addresses=["203.0.113.10"], interface="eth0")
    assert [command for command in host.ran("ip") if command[2] == "del"] == []
    assert result["changed"] is False


def test_absent_leaves_addresses_of_other_interfaces_alone(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = NO_TABLE
    host.replies[("ip", "addr", "del")] = (2, "", "RTNETLINK answers: Cannot assign requested address\n")
    result = run_module(capsys, name="dead_primary", state="absent", addresses=["203.0.113.10"], interface="dummy0")
    assert "failed" not in result
    assert [command for command in host.ran("ip") if command[2] == "del"] == []


def test_absent_when_nothing_is_there_is_ok(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = NO_TABLE
    result = run_module(capsys, name="dead_primary", state="absent")
    assert result["changed"] is False
    assert result["allow_count"] == {"ipv4": 0, "ipv6": 0}
    assert [command[:2] for command in host.ran("nft")] == [["nft", "list"]]


def test_nft_errors_fail_the_task_naming_the_backend(host, capsys):
    host.replies[("nft", "list")] = (1, "", "Error: Could not process rule: Operation not permitted\n")
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.10"])
    assert result["failed"] is True and result["backend"] == "nftables"
    assert "Operation not permitted" in result["msg"]


# --- a trap ------------------------------------------------------------------------------------------------

TRAP_ARGS = dict(name="mx_trap", kind="trap", traps=["203.0.113.91"], addresses=["203.0.113.10"], interface="eth0")


def test_a_trap_brings_up_its_trap_addresses_not_the_own_ones(host, capsys):
    host.replies[("nft", "list", "table")] = (1, "", "Error: No such file or directory\n")
    result = run_module(capsys, **TRAP_ARGS)
    assert result["changed"] is True, result
    assert host.ran("ip")[1:] == [["ip", "addr", "add", "203.0.113.91/32", "dev", "eth0"]]
    assert result["missing_addresses"] == ["203.0.113.91"]
    assert 'jump record' in host.loaded[-1][1] and "reject" not in host.loaded[-1][1]


def test_a_trap_warns_when_an_own_address_it_suppresses_on_is_missing(host, capsys):
    host.replies[("nft", "list", "table")] = (1, "", "Error: No such file or directory\n")
    run_module(capsys, **{**TRAP_ARGS, "addresses": ["203.0.113.20"], "suppress": True})
    assert any(warning.startswith("203.0.113.20 is one of this host's MX addresses, yet no interface holds it")
               for warning in host.warnings)


def test_a_trap_sharing_an_address_with_the_host_fails_before_any_command(host, capsys):
    result = run_module(capsys, **{**TRAP_ARGS, "traps": ["203.0.113.10"]})
    assert result["failed"] is True and "nothing was changed" in result["msg"]
    assert host.commands == []


def test_suppression_without_own_addresses_fails(host, capsys):
    result = run_module(capsys, **{**TRAP_ARGS, "addresses": [], "suppress": True})
    assert result["msg"].startswith("mx_addresses: list at least one address")


def test_trap_absent_removes_the_trap_addresses_it_added(host, capsys):
    host.replies[("nft", "list", "table")] = (1, "", "Error: No such file or directory\n")
    run_module(capsys, **TRAP_ARGS)
    host.replies[("ip", "-j", "addr", "show")] = (0, json.dumps([
        {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "203.0.113.10"}, {"family": "inet", "local": "203.0.113.91"}]}]), "")
    host.commands.clear()
    result = run_module(capsys, **{**TRAP_ARGS, "state": "absent"})
    assert result["changed"] is True
    assert host.ran("ip")[1:] == [["ip", "addr", "del", "203.0.113.91/32", "dev", "eth0"]]


@pytest.mark.parametrize("liberal, warned", [("1\n", True), ("0\n", False)])
def test_a_trap_warns_when_conntrack_takes_out_of_window_packets(host, capsys, tmp_path, monkeypatch, liberal, warned):
    sysctl = tmp_path / "be_liberal"
    sysctl.write_text(liberal, encoding="ascii")
    monkeypatch.setattr(_host, "LIBERAL_TRACKING", str(sysctl))
    host.replies[("nft", "list", "table")] = (1, "", "Error: No such file or directory\n")
    run_module(capsys, **TRAP_ARGS)
    assert any("nf_conntrack_tcp_be_liberal is 1" in warning for warning in host.warnings) is warned


@pytest.mark.parametrize("interface", ["-eth0", "eth0 label x", "eth0\n", "a" * 16, "eth/0", "", "@eth0"])
def test_a_hostile_interface_fails_before_any_command(host, capsys, interface):
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.99"], interface=interface)
    assert result["failed"] is True and result["msg"].startswith("interface %r is not an interface name" % interface)
    assert host.commands == []


# --- the dead primary's recording ------------------------------------------------------------------------------------


def test_the_dead_primary_records_by_default_and_not_with_record_false(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = NO_TABLE
    run_module(capsys, name="dead_primary", addresses=["203.0.113.10"], persist=False)
    assert "set refused_days4 {" in host.loaded[-1][1] and "add @refused_seen4 { ip saddr counter }" in host.loaded[-1][1]
    run_module(capsys, name="dead_primary", addresses=["203.0.113.10"], persist=False, record=False)
    assert "refused" in host.loaded[-1][1] and "@refused" not in host.loaded[-1][1] and "set refused" not in host.loaded[-1][1]


@pytest.mark.parametrize("changes, message", [
    (dict(record_time=0), "record_time: 0 is not a number of seconds from 1 to 2147483; nothing was changed"),
    (dict(set_size=1), "set_size: 1 is not a whole number from 16 to 16777216; nothing was changed"),
    (dict(ipv6_prefix=200), "ipv6_prefix: 200 is not a whole number from 32 to 128; nothing was changed"),
])
def test_bad_recording_options_fail_before_any_command(host, capsys, changes, message):
    result = run_module(capsys, name="dead_primary", addresses=["203.0.113.10"], **changes)
    assert result["failed"] is True and result["msg"] == message
    assert host.commands == []


# --- the live MX kind ------------------------------------------------------------------------------------------------

LIVE_ARGS = dict(name="mx_live", kind="live", addresses=["203.0.113.10", "203.0.113.30", "2001:db8::30"], persist=False)


def test_a_live_host_records_what_reaches_the_addresses_it_holds_and_brings_none_up(host, capsys):
    host.replies[("nft", "list", "table")] = (1, "", "Error: No such file or directory\n")
    result = run_module(capsys, **LIVE_ARGS)
    assert result["changed"] is True and result["missing_addresses"] == []
    assert [command for command in host.ran("ip") if command[1] == "addr" and command[2] in ("add", "del")] == []
    # The addresses other live hosts hold are expected elsewhere: not a word about them.
    assert not [warning for warning in host.warnings if "holds" in warning or "no interface" in warning]
    loaded = host.loaded[-1][1]
    assert "ip daddr { 203.0.113.10, 203.0.113.30 } tcp dport 25 ct state established" in loaded
    assert "reject" not in loaded and " accept\n" not in loaded and "drop" not in loaded


def test_a_live_host_holding_none_of_the_addresses_warns_once(host, capsys):
    host.replies[("nft", "list", "table")] = (1, "", "Error: No such file or directory\n")
    run_module(capsys, **{**LIVE_ARGS, "addresses": ["203.0.113.20", "203.0.113.30", "2001:db8::30"]})
    assert [warning for warning in host.warnings if "holds" in warning] == [
        "no interface of this host holds any of 203.0.113.20, 203.0.113.30, 2001:db8::30: the live MX firewall records nothing here"]


@pytest.mark.parametrize("changes, message", [
    (dict(action="drop"), "action: the live MX firewall refuses no one"),
    (dict(interface="eth0"), "interface: the live MX addresses are spread over several hosts"),
    (dict(merged_allow={"ipv4": "198.51.100.0/24", "ipv6": ""}), "allow: the live MX firewall refuses no one"),
    (dict(addresses=[]), "addresses: list at least one address"),
])
def test_a_live_option_that_does_not_apply_fails_before_any_command(host, capsys, changes, message):
    result = run_module(capsys, **{**LIVE_ARGS, **changes})
    assert result["failed"] is True and result["msg"].startswith(message) and result["msg"].endswith("; nothing was changed")
    assert host.commands == []


def test_a_live_host_warns_when_conntrack_takes_out_of_window_packets(host, capsys, tmp_path, monkeypatch):
    sysctl = tmp_path / "be_liberal"
    sysctl.write_text("1\n", encoding="ascii")
    monkeypatch.setattr(_host, "LIBERAL_TRACKING", str(sysctl))
    host.replies[("nft", "list", "table")] = (1, "", "Error: No such file or directory\n")
    run_module(capsys, **LIVE_ARGS)
    assert any("could get a sender recorded by the live MX firewall" in warning for warning in host.warnings)


def test_a_live_host_in_check_mode_only_reads(host, capsys):
    host.replies[("nft", "list", "table")] = (1, "", "Error: No such file or directory\n")
    result = run_module(capsys, **LIVE_ARGS, _ansible_check_mode=True)
    assert result["changed"] is True and [command[:2] for command in host.ran("nft")] == [["nft", "list"]]
