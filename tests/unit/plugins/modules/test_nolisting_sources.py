"""The nolisting_sources module run through main(): it reads what the dead primary and the live MX hosts remember,
from real listings of both backends, and changes nothing."""

import json
import pathlib

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _audit
from ansible_collections.mailsec.mx.plugins.module_utils._traps import Entry, source_list, source_table
from ansible_collections.mailsec.mx.plugins.modules import nolisting_sources
from tests.fake_host import FakeRun, patch_module
from tests.module_main import run_main

FIXTURES = pathlib.Path(__file__).parents[1] / "module_utils" / "_firewall" / "fixtures"
DEAD_LISTING = (FIXTURES / "nft-list-table-dead-primary-recording.txt").read_text(encoding="utf-8")
LIVE_LISTING = (FIXTURES / "nft-list-table-live.txt").read_text(encoding="utf-8")
DEAD_IPTABLES = json.loads((FIXTURES / "iptables-dead-primary-recording.json").read_text(encoding="utf-8"))
LIVE_IPTABLES = json.loads((FIXTURES / "iptables-live.json").read_text(encoding="utf-8"))
NOW = 1_790_000_000.0


@pytest.fixture
def host(monkeypatch):
    """Commands run and canned replies; nft exists unless a test removes it; the host's clock stands still at NOW."""
    monkeypatch.setattr(nolisting_sources.time, "time", lambda: NOW)
    return patch_module(monkeypatch, FakeRun(tools=("nft", "iptables", "ip6tables", "ipset")))


def iptables_host(host, outputs):
    host.tools.discard("nft")
    host.replies.update({tuple(command.split()): (0, output, "") for command, output in outputs.items()})


def test_the_dead_primary_lists_each_refused_source_with_times_count_and_days(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = (0, DEAD_LISTING, "")
    result = run_main(nolisting_sources, capsys, kind="dead_primary", _ansible_check_mode=True)
    assert result["changed"] is False and result["present"] is True and result["backend"] == "nftables"
    assert result["now"] == NOW and result["prefixes"] == {"4": 32, "6": 64}
    assert result["counters"] == {"allowed": 0, "refused": 5}
    assert result["sources"] == [
        # refused4 expires in 6d23h59m59s280ms of 7d: 0.72 s ago; refused_seen4 the same.
        {"source": "198.51.100.200", "first_seen": NOW - 0.72, "last_seen": NOW - 0.72, "count": 3, "days": 1},
        # The second of the /64 came 0.14 s after the first.
        {"source": "2001:db8:51:1::/64", "first_seen": NOW - 0.604, "last_seen": NOW - 0.464, "count": 2, "days": 1},
    ]
    assert len(result["sets"]) == 8 and {level["elements"] for level in result["sets"]} == {1}
    # One read of the whole table: structure, counters and every set.
    assert host.commands == [["nft", "list", "table", "inet", "mailsec_dead_primary"]]


def test_a_live_host_lists_each_arrival_without_days(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_mx_live")] = (0, LIVE_LISTING, "")
    result = run_main(nolisting_sources, capsys, kind="mx_live")
    assert result["counters"] == {"arrivals": 4}
    assert result["sources"] == [
        {"source": "198.51.100.40", "first_seen": NOW - 0.636, "last_seen": NOW - 0.596, "count": 2},
        {"source": "2001:db8:77:1::/64", "first_seen": NOW - 0.552, "last_seen": NOW - 0.508, "count": 2},
    ]


@pytest.mark.parametrize("kind, outputs, expected", [
    ("dead_primary", DEAD_IPTABLES, [{"source": "198.51.100.200", "first_seen": NOW - 1, "last_seen": NOW - 1, "count": 3, "days": 1},
                                     {"source": "2001:db8:51:1::/64", "first_seen": NOW - 1, "last_seen": NOW - 1, "count": 2, "days": 1}]),
    ("mx_live", LIVE_IPTABLES, [{"source": "198.51.100.40", "first_seen": NOW - 1, "last_seen": NOW - 1, "count": 2},
                                {"source": "2001:db8:77:1::/64", "first_seen": NOW - 1, "last_seen": NOW - 1, "count": 2}]),
])
def test_iptables_hosts_read_the_same_in_whole_seconds(host, capsys, kind, outputs, expected):
    iptables_host(host, outputs)
    result = run_main(nolisting_sources, capsys, kind=kind)
    assert result["backend"] == "iptables" and result["sources"] == expected
    assert result["prefixes"] == {"4": 32, "6": 64}


def test_a_missing_firewall_is_not_an_error(host, capsys):
    host.replies[("nft", "list", "table")] = (1, "", "Error: No such file or directory\n")
    result = run_main(nolisting_sources, capsys, kind="mx_live", name="other")
    assert result["present"] is False and result["sources"] == [] and result["sets"] == [] and result["counters"] == {}
    assert host.commands == [["nft", "list", "table", "inet", "mailsec_other"]]


def test_a_dead_primary_without_recording_says_so(host, capsys):
    listing = DEAD_LISTING.split("\tset refused4 {")[0] + "\tchain input {" + DEAD_LISTING.split("\tchain input {")[1]
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = (0, listing, "")
    result = run_main(nolisting_sources, capsys, kind="dead_primary")
    assert result["present"] is True and result["sources"] == [] and result["sets"] == []
    assert host.warnings == ["the dead primary firewall 'dead_primary' remembers no sources (recording is off)"]


def test_warns_naming_the_role_variable_when_a_set_is_almost_full(host, capsys):
    host.replies[("nft", "list", "table", "inet", "mailsec_dead_primary")] = (0, DEAD_LISTING.replace("size 262144", "size 1"), "")
    run_main(nolisting_sources, capsys, kind="dead_primary")
    assert len(host.warnings) == 8 and all("(dead_primary_set_size)" in warning for warning in host.warnings)


@pytest.mark.parametrize("args, message", [
    (dict(kind="trap"), "value of kind must be one of: dead_primary, mx_live, got: trap"),
    (dict(), "missing required arguments: kind"),
    (dict(kind="mx_live", name="Bad-Name"), "name 'Bad-Name' must be 1-16 characters"),
])
def test_bad_arguments_fail_before_any_command(host, capsys, args, message):
    result = run_main(nolisting_sources, capsys, **args)
    assert result["failed"] is True and message in result["msg"]
    assert host.commands == []


def test_a_source_that_left_the_other_sets_has_nulls():
    last = {"198.51.100.7": Entry(604800, 604700), "2001:db8:1:2::": Entry(604800, 604000), "198.51.100.30": Entry(604800, 600000)}
    first = {"198.51.100.30": Entry(604800, 500000, 4)}
    listed = source_list(last, first, {}, now=NOW, prefixes={4: 32, 6: 64})
    assert [item["source"] for item in listed] == ["198.51.100.7", "198.51.100.30", "2001:db8:1:2::/64"]
    assert listed[0] == {"source": "198.51.100.7", "first_seen": None, "last_seen": NOW - 100, "count": None, "days": None}
    assert listed[1]["first_seen"] == NOW - 104800 and listed[1]["count"] == 4
    assert "days" not in source_list(last, first, None, now=NOW)[0]


def test_a_first_time_rounded_past_the_last_is_the_last():
    """Two sets remember one moment; their remaining times may round apart (ipset keeps whole seconds)."""
    listed = source_list({"198.51.100.7": Entry(604800, 604700)}, {"198.51.100.7": Entry(604800, 604701, 1)}, now=NOW)
    assert listed[0]["first_seen"] == listed[0]["last_seen"] == NOW - 100


def test_many_sources_in_address_order():
    last = {"198.51.%d.%d" % (index // 256, index % 256): Entry(604800, 604800 - index) for index in range(5000)}
    listed = source_list(last, {}, None, now=NOW)
    assert len(listed) == 5000 and listed[1]["source"] == "198.51.0.1" and listed[256]["source"] == "198.51.1.0"
    assert listed[-1]["last_seen"] == NOW - 4999


@pytest.mark.parametrize("kind, table, listing", [("dead_primary", "mailsec_dead_primary", DEAD_LISTING), ("mx_live", "mailsec_mx_live", LIVE_LISTING)])
def test_the_table_format_is_the_list_as_one_text_the_audit_reads(host, capsys, kind, table, listing):
    host.replies[("nft", "list", "table", "inet", table)] = (0, listing, "")
    listed = run_main(nolisting_sources, capsys, kind=kind)
    compact = run_main(nolisting_sources, capsys, kind=kind, format="table")
    assert "sources" not in compact and "table" not in listed
    lines = compact["table"].splitlines()
    assert lines[0] == "source first_seen last_seen count days" and len(lines) == len(listed["sources"]) + 1
    for line, item in zip(lines[1:], listed["sources"]):
        source, first, last, count, days = line.split(" ")
        assert (source, float(first), float(last), int(count)) == (item["source"], item["first_seen"], item["last_seen"], item["count"])
        assert days == (str(item["days"]) if kind == "dead_primary" else "-")
    # The audit's own reader of the table (its header, and its rendering of the same list) agrees.
    assert _audit.TABLE_HEADER == lines[0]
    assert _audit.render_table(listed["sources"]) == compact["table"]


def test_unknown_values_are_dashes_in_the_table():
    table = source_table({"198.51.100.7": Entry(604800, 604700)}, {}, {}, now=NOW)
    assert table == "source first_seen last_seen count days\n198.51.100.7 - %.3f - -\n" % (NOW - 100)
