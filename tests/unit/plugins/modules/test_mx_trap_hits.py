"""The mx_trap_hits module run through main(): it reads what the traps remember and changes nothing."""

import pathlib

import pytest

from ansible_collections.mailsec.mx.plugins.modules import mx_trap_hits
from tests.fake_host import FakeRun, patch_module
from tests.module_main import run_main

LISTING = (pathlib.Path(__file__).parents[1] / "module_utils" / "_firewall" / "fixtures" / "nft-list-table-trap.txt").read_text(encoding="utf-8")


@pytest.fixture
def host(monkeypatch):
    """Commands run and canned replies; nft exists unless a test removes it."""
    return patch_module(monkeypatch, FakeRun(tools=("nft", "iptables", "ipset")))


def test_lists_the_caught_sources_with_one_read(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_mx_trap")] = (0, LISTING, "")
    result = run_main(mx_trap_hits, capsys)
    assert result["changed"] is False and result["present"] is True and result["suppressing"] is True
    assert [hit["source"] for hit in result["hits"]] == ["198.51.100.9", "2001:db8:0:9::/64"]
    assert result["hits"][0]["hits"] == 2 and result["hits"][0]["expires_in"] == 3600
    assert result["counters"] == {"trap_hits": 3, "suppressed": 2, "unrecorded": 0}
    assert result["prefixes"] == {"4": 32, "6": 64}
    assert {level["set"]: level["elements"] for level in result["sets"]}["tried4"] == 1
    assert result["summary"][0] == "2 source(s) hit a trap, refused on every MX address of this host:"
    assert host.commands == [["nft", "list", "table", "inet", "mailsec_mx_trap"]]


def test_no_trap_firewall_is_not_an_error(host, capsys):
    host.replies[("nft", "list", "table")] = (1, "", "Error: No such file or directory\n")
    result = run_main(mx_trap_hits, capsys, name="other")
    assert result["present"] is False and result["hits"] == []
    assert result["summary"] == ["no trap firewall 'other' on this host"]


def test_iptables_backend_without_ipset_fails(host, capsys):
    host.tools = {"iptables"}
    result = run_main(mx_trap_hits, capsys)
    assert result["failed"] is True and result["msg"] == "reading the iptables backend needs ipset on the host"


def test_a_bad_name_fails(host, capsys):
    assert run_main(mx_trap_hits, capsys, name="Bad-Name")["failed"] is True


def test_warns_when_a_set_is_almost_full(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_mx_trap")] = (0, LISTING.replace("size 262144", "size 1"), "")
    result = run_main(mx_trap_hits, capsys)
    assert result["sets"][0]["percent"] == 100.0
    assert any(line.startswith("set hits4 is 100.0 % full (1 of 1)") for line in result["summary"])
