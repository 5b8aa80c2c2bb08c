"""roles/mx_metrics/files/mailsec_mx_metrics.py: reading the firewalls and writing the Prometheus text file.

The fixtures are real listings (fixtures/capture.py): the dead primary, the trap and the live MX firewall loaded by
their modules in namespaces, the traffic in capture.TRAFFIC sent through them, and odd tables added by hand.
"""

import errno
import importlib.util
import json
import os
import pathlib
import re
import struct

import pytest

from tests.integration.metrics.metrics_lab import parse_exposition, value

ROOT = pathlib.Path(__file__).resolve().parents[5]
FIXTURES = pathlib.Path(__file__).with_name("fixtures")
_SPEC = importlib.util.spec_from_file_location("mailsec_mx_metrics", ROOT / "roles" / "mx_metrics" / "files" / "mailsec_mx_metrics.py")
metrics = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(metrics)

ODD_TABLE = 'mailsec_odd"\\\n\\x09'  # as read: the tab made visible
ODD_SET = 'we"ird\\\nset'


class Replay:
    """The kernel's answers as captured, by request; ``changes`` lists generation ids to answer GETGEN with."""

    def __init__(self, path=FIXTURES / "nftables-netlink.json", changes=None, fail=None):
        self.answers = {}
        for exchange in json.loads(path.read_text())["exchanges"]:
            self.answers[(exchange["message"], exchange["payload"], exchange["dump"])] = [
                (kind, flags, bytes.fromhex(data)) for kind, flags, data in exchange["replies"]]
        self.changes = list(changes or [])
        self.fail = fail or (lambda message, payload: None)
        self.requests = []
        self.closed = False

    def exchange(self, message, payload=b"", dump=True):
        self.requests.append(message)
        self.fail(message, payload)
        if message == metrics.NFT_MSG_GETGEN and self.changes:
            return [(0, 0, metrics.attribute(metrics.NFTA_GEN_ID, struct.pack(">I", self.changes.pop(0))))]
        return self.answers[(message, payload.hex(), dump)]

    def close(self):
        self.closed = True


def fixture_run(outputs):
    """A stand-in for run_command: {command's first word: (rc, stdout, stderr) or a fixture file name}."""
    def run(argv):
        answer = outputs[argv[0]]
        return (0, (FIXTURES / answer).read_text(), "") if isinstance(answer, str) else answer
    return run


IPTABLES = {"iptables-save": "iptables-save-c.txt", "ip6tables-save": "ip6tables-save-c.txt", "ipset": "ipset-list-t.txt",
            "nft": "nft-list-ruleset.json"}


def by_name(tables):
    return {table.name: table for table in tables}


def levels(table):
    return {level.name: (level.family, level.entries, level.size) for level in table.sets}


# --- nftables ------------------------------------------------------------------------------------------------------

def read_netlink(replay, workers):
    """One read, with the sets counted on the one socket or on ``workers`` sockets at once (here: one replay)."""
    return metrics.read_nftables_netlink(replay, (lambda: replay) if workers > 1 else None, workers)


@pytest.mark.parametrize("workers", [1, 3])
def test_netlink_reads_every_mailsec_table_with_its_kind_counters_and_sets(workers):
    tables = by_name(read_netlink(Replay(), workers))
    assert list(tables) == ["mailsec_dead_primary", "mailsec_mx_trap", "mailsec_mx_live", ODD_TABLE, "mailsec_other"]
    dead, trap, live = tables["mailsec_dead_primary"], tables["mailsec_mx_trap"], tables["mailsec_mx_live"]
    assert (dead.kind, trap.kind, live.kind) == ("dead_primary", "trap", "live")
    # capture.TRAFFIC: four connections refused (BOT twice, MTA, BOT6), one allowlisted connection let through.
    assert dead.counters["refused"] == 4 and dead.counters["allowed"] > 0
    assert levels(dead)["refused4"] == ("ipv4", 2, 262144) and levels(dead)["refused6"] == ("ipv6", 1, 262144)
    assert levels(dead)["refused_days4"] == ("ipv4", 2, 262144)
    # The allowlist is an interval set (no size): one network, counted once though the kernel holds two ends.
    assert levels(dead)["allow4"] == ("ipv4", 1, None) and levels(dead)["allow6"] == ("ipv6", 0, None)
    assert trap.counters == {"trap_hits": 2, "suppressed": 0, "unrecorded": 0}
    assert levels(trap)["hits4"] == ("ipv4", 1, 262144) and levels(trap)["hits6"] == ("ipv6", 1, 262144)
    assert levels(trap)["tried4"] == ("ipv4", 1, 262144) and levels(trap)["tried_full"] == (None, 0, 65536)
    assert live.counters == {"arrivals": 2}
    assert levels(live)["arrived4"] == ("ipv4", 1, 262144) and levels(live)["arrived6"] == ("ipv6", 1, 262144)
    assert "other_table" not in tables


def test_anonymous_sets_of_rules_are_not_reported():
    """The trap's rules match { primary, trap } with an anonymous set: the kernel lists it, the exporter does not."""
    trap = by_name(metrics.read_nftables_netlink(Replay()))["mailsec_mx_trap"]
    assert sorted(levels(trap)) == sorted(["allow4", "allow6", "hits4", "hits6", "seen4", "seen6", "tried4", "tried6",
                                           "knocked4", "knocked6", "tried_full"])
    raw = json.loads((FIXTURES / "nftables-netlink.json").read_text())
    assert any(b"__set" in bytes.fromhex(reply[2]) for exchange in raw["exchanges"] for reply in exchange["replies"])


def test_netlink_and_nft_json_read_the_same():
    """Two readers of one moment's ruleset (captured together) agree, odd names and interval sets included."""
    by_netlink = metrics.read_nftables_netlink(Replay())
    by_nft = metrics.read_nftables_json(fixture_run(IPTABLES))
    assert repr(by_netlink) == repr(by_nft)


def test_odd_names_are_read_as_they_are_with_control_characters_made_visible():
    tables = by_name(metrics.read_nftables_netlink(Replay()))
    assert tables[ODD_TABLE].kind == "dead_primary"
    assert levels(tables[ODD_TABLE]) == {ODD_SET: ("ipv4", 2, 16)}
    assert tables["mailsec_other"].kind is None and tables["mailsec_other"].counters == {"foo": 0}
    assert levels(tables["mailsec_other"]) == {"ports": (None, 2, None)}


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("message", [metrics.NFT_MSG_GETSET, metrics.NFT_MSG_GETSETELEM])
def test_a_table_that_cannot_be_read_is_marked_and_the_others_are_kept(message, workers):
    def refuse_the_trap(request, payload):
        if request == message and b"mailsec_mx_trap" in payload:
            raise metrics.NetlinkError(os.strerror(errno.EPERM), errno.EPERM)
    tables = by_name(read_netlink(Replay(fail=refuse_the_trap), workers))
    assert tables["mailsec_mx_trap"].error == \
        "reading nftables table inet mailsec_mx_trap failed: %s" % os.strerror(errno.EPERM)
    assert tables["mailsec_mx_trap"].sets == [] and tables["mailsec_mx_trap"].counters == {}
    assert tables["mailsec_dead_primary"].error is None and tables["mailsec_dead_primary"].counters["refused"] == 4


def test_a_ruleset_that_changed_during_the_read_is_read_again():
    replay = Replay(changes=[7, 8, 8, 8])
    tables = metrics.read_nftables_netlink(replay)
    assert len(tables) == 5
    assert replay.requests.count(metrics.NFT_MSG_GETTABLE) == 2


@pytest.mark.parametrize("workers", [1, 3])
def test_an_interrupted_element_dump_reads_everything_again(workers):
    replay = Replay()
    key = next(key for key in replay.answers if key[0] == metrics.NFT_MSG_GETSETELEM and "686974733400" in key[1])
    clean = replay.answers[key]
    replay.answers[key] = [(kind, flags | metrics.NLM_F_DUMP_INTR, data) for kind, flags, data in clean]
    original = replay.exchange

    def exchange(message, payload=b"", dump=True):
        if message == metrics.NFT_MSG_GETTABLE and replay.requests.count(message) == 1:
            replay.answers[key] = clean
        return original(message, payload, dump)
    replay.exchange = exchange
    assert len(read_netlink(replay, workers)) == 5
    assert replay.requests.count(metrics.NFT_MSG_GETTABLE) == 2


def test_an_interrupted_dump_is_read_again():
    replay = Replay()
    answers = replay.answers
    key = next(key for key in answers if key[0] == metrics.NFT_MSG_GETTABLE)
    clean = answers[key]
    interrupted = [(kind, flags | metrics.NLM_F_DUMP_INTR, data) for kind, flags, data in clean]
    sequence = [interrupted, clean]
    original = replay.exchange

    def exchange(message, payload=b"", dump=True):
        if message == metrics.NFT_MSG_GETTABLE:
            replay.requests.append(message)
            return sequence.pop(0)
        return original(message, payload, dump)
    replay.exchange = exchange
    assert len(metrics.read_nftables_netlink(replay)) == 5
    assert replay.requests.count(metrics.NFT_MSG_GETTABLE) == 2


def test_a_ruleset_that_never_holds_still_is_an_error():
    with pytest.raises(metrics.NetlinkError, match="changed during each of 3 reads"):
        metrics.read_nftables_netlink(Replay(changes=[1, 2, 3, 4, 5, 6]))


@pytest.mark.parametrize("read", [lambda data: list(metrics.attributes(data)),
                                  lambda data: metrics._count_attributes(data, 0, len(data))])
@pytest.mark.parametrize("data", [struct.pack("=HH", 12, 1) + b"abcd", struct.pack("=HH", 2, 1) + b"abcd"])
def test_a_netlink_attribute_running_past_its_message_is_an_error(read, data):
    with pytest.raises(metrics.NetlinkError, match="runs past"):
        read(data)


def test_nft_json_that_is_not_nfts_is_an_error():
    run = fixture_run({"nft": (0, "{}", "")})
    with pytest.raises(metrics.ReadError, match="not the JSON nft writes"):
        metrics.read_nftables_json(run)
    run = fixture_run({"nft": (1, "", "Error: Could not process rule\n")})
    with pytest.raises(metrics.ReadError, match="nft -j list ruleset failed: Error: Could not process rule"):
        metrics.read_nftables_json(run)


# --- iptables ------------------------------------------------------------------------------------------------------

def read_iptables(outputs=None):
    return metrics.read_iptables(fixture_run(dict(IPTABLES, **(outputs or {}))), lambda name: True)


def test_iptables_chains_with_their_kind_counters_of_both_families_and_ipsets():
    tables, errors = read_iptables()
    tables = by_name(tables)
    assert errors == []
    dead, trap, live = tables["MAILSEC_DEAD_PRIMARY"], tables["MAILSEC_MX_TRAP"], tables["MAILSEC_MX_LIVE"]
    assert (dead.kind, trap.kind, live.kind) == ("dead_primary", "trap", "live")
    # Three refusals over IPv4 and one over IPv6; the recording rules (target SET, or none) count nothing.
    assert dead.counters["refused"] == 4 and dead.counters["allowed"] > 0
    assert levels(dead)["mailsec_dead_primary_r4"] == ("ipv4", 2, 262144)
    assert levels(dead)["mailsec_dead_primary_r6"] == ("ipv6", 1, 262144)
    assert levels(dead)["mailsec_dead_primary_a4"] == ("ipv4", 1, 65536)
    assert trap.counters == {"trap_hits": 2, "suppressed": 0, "unrecorded": 0}
    assert levels(trap)["mailsec_mx_trap_h4"] == ("ipv4", 1, 262144)
    assert levels(trap)["mailsec_mx_trap_tf"] == (None, 0, 65536)
    assert live.counters == {"arrivals": 2}
    assert levels(live)["mailsec_mx_live_ar6"] == ("ipv6", 1, 262144)
    assert "OTHER_CHAIN" not in tables


def test_both_backends_count_the_same_traffic_alike():
    nft = by_name(metrics.read_nftables_netlink(Replay()))
    iptables = by_name(read_iptables()[0])
    for table, chain in (("mailsec_dead_primary", "MAILSEC_DEAD_PRIMARY"), ("mailsec_mx_trap", "MAILSEC_MX_TRAP"),
                         ("mailsec_mx_live", "MAILSEC_MX_LIVE")):
        assert nft[table].counters == iptables[chain].counters
        assert sum(level.entries for level in nft[table].sets) == sum(level.entries for level in iptables[chain].sets)


def test_odd_chain_and_set_names_are_read_and_a_set_name_iptables_save_cannot_show_is_said():
    tables = by_name(read_iptables()[0])
    odd = tables['MAILSEC_ODD"Q']
    assert odd.kind == "dead_primary" and levels(odd) == {'mailsec_x"q': ("ipv4", 1, 1024)}
    # 'mailsec_x y': iptables-save writes set names unquoted, so the name cannot be told from the next word.
    assert tables["MAILSEC_SPACE"].error == \
        "chain MAILSEC_SPACE: its rules use ipset(s) mailsec_x, which ipset list -t does not show"


@pytest.mark.parametrize("line, words", [
    ('-m comment --comment "a \\"quoted\\" \\\\ comment" -j REJECT',
     ["-m", "comment", "--comment", 'a "quoted" \\ comment', "-j", "REJECT"]),
    ('-m set --match-set mailsec_x"q src', ["-m", "set", "--match-set", 'mailsec_x"q', "src"]),
    ("-j  SET\t--add-set s src", ["-j", "SET", "--add-set", "s", "src"]),
    ('--comment ""', ["--comment", ""]),
])
def test_rules_split_as_iptables_save_quotes_them(line, words):
    assert metrics.split_rule(line) == words


def test_a_rule_that_cannot_be_split_fails_its_chain_only():
    text = (FIXTURES / "iptables-save-c.txt").read_text().replace(
        '--comment "mailsec trap hit"', '--comment "mailsec trap hit')
    tables = by_name(read_iptables({"iptables-save": (0, text, "")})[0])
    assert tables["MAILSEC_MX_TRAP"].error.startswith("chain MAILSEC_MX_TRAP: a rule not understood (a quote is not closed)")
    assert tables["MAILSEC_DEAD_PRIMARY"].error is None


def test_a_family_that_cannot_be_listed_fails_every_chain_and_no_chain_at_all_is_an_error():
    tables, errors = read_iptables({"ip6tables-save": (1, "", "ip6tables-save: permission denied\n")})
    assert errors == []
    assert {table.error for table in tables} == {
        "chain %s: ip6tables-save -c failed: ip6tables-save: permission denied" % table.name for table in tables}
    failed = (4, "", "iptables-save: boom\n")
    assert read_iptables({"iptables-save": failed, "ip6tables-save": failed}) == (
        [], ["iptables-save -c failed: iptables-save: boom", "ip6tables-save -c failed: iptables-save: boom"])


def test_without_ipset_the_chains_that_use_sets_are_down():
    tables, dummy = metrics.read_iptables(fixture_run(IPTABLES), lambda name: name != "ipset")
    assert {table.error for table in tables} == {"chain %s: ipset list -t failed: ipset is not installed" % table.name
                                                 for table in tables}


def test_ipset_headers():
    text = ("Name: ports\nType: bitmap:port\nRevision: 3\nHeader: range 0-65535 timeout 86400\nSize in memory: 8\n"
            "References: 2\nNumber of entries: 3\n\nName: broken\nType: hash:ip\nNumber of entries: many\n\n"
            "Name: x\nName: y\nType: hash:ip\nHeader: family inet6 hashsize 64 maxelem 16 netmask 64\n"
            "Number of entries: 16\n")
    assert metrics.parse_ipset_terse(text) == {
        "ports": metrics.SetLevel("ports", None, 3, 65536), "y": metrics.SetLevel("y", "ipv6", 16, 16)}


# --- the host: which backends, which reader -------------------------------------------------------------------------

class NoNetlink:
    def __init__(self):
        raise metrics.NetlinkError("no netfilter netlink socket: Protocol not supported", errno.EPROTONOSUPPORT)


def test_netlink_is_the_reader_and_nft_the_fallback():
    replay = Replay()
    tables, errors, notes = metrics.read_host("nftables", "auto", fixture_run(IPTABLES), lambda name: True, lambda: replay)
    assert len(tables) == 5 and errors == [] and replay.closed
    tables, errors, notes = metrics.read_host("nftables", "auto", fixture_run(IPTABLES), lambda name: True, NoNetlink)
    assert len(tables) == 5 and errors == []
    assert notes[0] == ("reading nftables over netlink failed: no netfilter netlink socket: Protocol not supported; "
                        "read nft -j list ruleset instead")


def test_a_host_without_nftables_is_no_error_unless_nftables_was_asked_for():
    without_nft = dict(IPTABLES, nft=(127, "", "No such file or directory"))
    tables, errors, notes = metrics.read_host("auto", "auto", fixture_run(without_nft),
                                              lambda name: name != "nft", NoNetlink)
    assert errors == [] and {table.backend for table in tables} == {"iptables"}
    tables, errors, notes = metrics.read_host("nftables", "auto", fixture_run(without_nft),
                                              lambda name: name != "nft", NoNetlink)
    assert errors == ["reading nftables over netlink failed: no netfilter netlink socket: Protocol not supported"]
    tables, errors, notes = metrics.read_host("nftables", "nft", fixture_run(without_nft), lambda name: False, NoNetlink)
    assert errors == ["nft -j list ruleset failed: No such file or directory"]


def test_notes_name_unreadable_tables_and_unknown_kinds():
    tables, errors, notes = metrics.read_host("auto", "netlink", fixture_run(IPTABLES), lambda name: True, Replay)
    assert "nftables mailsec_other: not a kind this exporter knows (its sets are reported, no counters)" in notes
    assert "chain MAILSEC_SPACE: its rules use ipset(s) mailsec_x, which ipset list -t does not show" in notes


# --- the text file -------------------------------------------------------------------------------------------------

def host_text():
    tables, errors, dummy = metrics.read_host("auto", "netlink", fixture_run(IPTABLES), lambda name: True, Replay)
    return metrics.render(tables, errors, now=1700000000.25, duration=0.125)


def test_the_file_holds_each_metric_once_with_help_and_type_and_its_samples_together():
    lines = host_text().splitlines()
    names = []
    for line in lines:
        name = line.split()[2] if line.startswith("#") else re.split(r"[{ ]", line)[0]
        if not names or names[-1] != name:
            names.append(name)
    assert len(names) == len(set(names)), "a metric's lines are not together: %s" % names
    for name in names:
        assert "# HELP %s " % name in "\n".join(lines) and "# TYPE %s " % name in "\n".join(lines)
    series = [line.rsplit(" ", 1)[0] for line in lines if not line.startswith("#")]
    assert len(series) == len(set(series))
    assert all(re.fullmatch(r"mailsec_mx_[a-z_]+", name) for name in names)
    assert all(line.startswith("# TYPE ") is False or line.split()[3] in ("gauge", "counter") for line in lines)


def test_values_labels_and_no_addresses():
    samples = parse_exposition(host_text())
    assert value(samples, "mailsec_mx_metrics_last_run_timestamp_seconds") == 1700000000.25
    assert value(samples, "mailsec_mx_metrics_run_duration_seconds") == 0.125
    assert value(samples, "mailsec_mx_dead_primary_refused_total", table="mailsec_dead_primary") == 4
    assert value(samples, "mailsec_mx_dead_primary_refused_total", table="MAILSEC_DEAD_PRIMARY") == 4
    assert value(samples, "mailsec_mx_trap_hits_total", table="MAILSEC_MX_TRAP") == 2
    assert value(samples, "mailsec_mx_live_arrivals_total", table="mailsec_mx_live") == 2
    assert value(samples, "mailsec_mx_set_entries", table="mailsec_mx_trap", set="hits6", family="ipv6") == 1
    assert value(samples, "mailsec_mx_set_size", table="mailsec_mx_trap", set="tried_full") == 65536
    assert value(samples, "mailsec_mx_set_fill_ratio", table="mailsec_dead_primary", set="refused4",
                 family="ipv4") == 2 / 262144
    # An interval set has no bound: its entries are shown, no size and no fill.
    assert value(samples, "mailsec_mx_set_entries", table="mailsec_dead_primary", set="allow4", family="ipv4") == 1
    assert ("mailsec_mx_set_size", frozenset({("table", "mailsec_dead_primary"), ("set", "allow4"),
                                              ("family", "ipv4")})) not in samples
    assert {key for dummy, labels in samples for key, dummy2 in labels} == {"table", "set", "family"}
    addresses = re.compile(r"\d+\.\d+\.\d+\.\d+|[0-9a-f]*:[0-9a-f:]*:")
    assert not any(addresses.search(text) for dummy, labels in samples for dummy2, text in labels)


def test_odd_names_are_escaped_and_read_back_exactly():
    text = host_text()
    assert 'mailsec_mx_table_up{table="mailsec_odd\\"\\\\\\n\\\\x09"} 1' in text.splitlines()
    samples = parse_exposition(text)
    assert value(samples, "mailsec_mx_set_entries", table=ODD_TABLE, set=ODD_SET, family="ipv4") == 2
    assert value(samples, "mailsec_mx_set_fill_ratio", table=ODD_TABLE, set=ODD_SET, family="ipv4") == 2 / 16
    assert value(samples, "mailsec_mx_table_up", table='MAILSEC_ODD"Q') == 1


def test_an_unreadable_table_is_down_with_nothing_else_and_counted():
    samples = parse_exposition(host_text())
    assert value(samples, "mailsec_mx_table_up", table="MAILSEC_SPACE") == 0
    assert value(samples, "mailsec_mx_metrics_errors") == 1
    assert not any(dict(labels).get("table") == "MAILSEC_SPACE" for name, labels in samples
                   if name != "mailsec_mx_table_up")
    # A table of no known kind is up, with its sets and no counters.
    assert value(samples, "mailsec_mx_table_up", table="mailsec_other") == 1
    assert value(samples, "mailsec_mx_set_entries", table="mailsec_other", set="ports") == 2


def test_counters_say_they_reset_on_a_reload():
    for line in host_text().splitlines():
        if line.startswith("# HELP") and line.split()[2].endswith("_total"):
            assert "starts again from 0 when the table is loaded afresh" in line


@pytest.mark.parametrize("name, text", [
    (b"mailsec_\xff\xfe", "mailsec_\\xff\\xfe"),
    ("a\tb\rc\x7fd\ne", "a\\x09b\\x0dc\\x7fd\ne"),
    ("plain_name-1.2/3", "plain_name-1.2/3"),
])
def test_printable(name, text):
    assert metrics.printable(name) == text


def test_label_values_round_trip_through_the_format():
    for name in ['q"uote', "back\\slash", "new\nline", 'all\\"\n"\\', "é"]:
        line = 'm{table="%s"} 1' % metrics.label_value(name)
        assert parse_exposition(line) == {("m", frozenset({("table", name)})): 1.0}


def test_no_tables_still_gives_a_valid_file():
    text = metrics.render([], ["iptables-save -c failed: x"], now=5, duration=0.5)
    samples = parse_exposition(text)
    assert samples == {("mailsec_mx_metrics_last_run_timestamp_seconds", frozenset()): 5.0,
                       ("mailsec_mx_metrics_run_duration_seconds", frozenset()): 0.5,
                       ("mailsec_mx_metrics_errors", frozenset()): 1.0}


# --- writing, and the command --------------------------------------------------------------------------------------

def test_the_file_is_replaced_atomically_and_readable(tmp_path):
    target = tmp_path / metrics.OUTPUT_NAME
    target.write_text("old\n")
    os.chmod(target, 0o600)
    assert metrics.write_atomically(str(tmp_path), "new\n") == str(target)
    assert target.read_text() == "new\n" and (target.stat().st_mode & 0o777) == 0o644
    assert os.listdir(tmp_path) == [metrics.OUTPUT_NAME]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / metrics.OUTPUT_NAME
    target.write_text("old\n")

    def broken_fsync(descriptor):
        raise OSError(errno.EIO, "I/O error")
    monkeypatch.setattr(metrics.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        metrics.write_atomically(str(tmp_path), "new\n")
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == [metrics.OUTPUT_NAME]


def fake_read(tables, errors=(), notes=()):
    def read(backend, nft_reader):
        read.asked = (backend, nft_reader)
        return tables, list(errors), list(notes)
    return read


def test_main_writes_the_file_and_exits_0(tmp_path, capsys):
    tables = metrics.read_nftables_netlink(Replay())[:3]
    read = fake_read(tables)
    assert metrics.main(["--directory", str(tmp_path), "--backend", "iptables", "--nft-reader", "nft"], read=read,
                        clock=lambda: 12.0) == 0
    assert read.asked == ("iptables", "nft")
    samples = parse_exposition((tmp_path / metrics.OUTPUT_NAME).read_text())
    assert value(samples, "mailsec_mx_metrics_last_run_timestamp_seconds") == 12.0
    assert capsys.readouterr() == ("", "")


def test_main_exits_1_and_says_why_when_a_table_was_not_read(tmp_path, capsys):
    tables = metrics.read_iptables(fixture_run(IPTABLES), lambda name: True)[0]
    read = fake_read(tables, notes=["chain MAILSEC_SPACE: its rules use ipset(s) mailsec_x, which ipset list -t does not show"])
    assert metrics.main(["--directory", str(tmp_path)], read=read) == 1
    assert capsys.readouterr().err == (
        "mailsec-mx-metrics: chain MAILSEC_SPACE: its rules use ipset(s) mailsec_x, which ipset list -t does not show\n")
    assert 'mailsec_mx_table_up{table="MAILSEC_SPACE"} 0' in (tmp_path / metrics.OUTPUT_NAME).read_text()
    assert metrics.main(["--directory", str(tmp_path)], read=fake_read([], errors=["iptables-save -c failed: x"])) == 1


def test_main_exits_2_when_the_file_cannot_be_written(tmp_path, capsys):
    missing = tmp_path / "missing"
    assert metrics.main(["--directory", str(missing)], read=fake_read([])) == 2
    assert capsys.readouterr().err.startswith("mailsec-mx-metrics: cannot write %s/%s: " % (missing, metrics.OUTPUT_NAME))


def test_stdout_instead_of_the_file(tmp_path, capsys):
    assert metrics.main(["--stdout", "--directory", str(tmp_path)], read=fake_read([]), clock=lambda: 1.0) == 0
    assert "mailsec_mx_metrics_last_run_timestamp_seconds 1.0\n" in capsys.readouterr().out
    assert os.listdir(tmp_path) == []


def test_a_series_is_written_once_even_if_a_table_were_read_twice():
    table = metrics.read_nftables_netlink(Replay())[0]
    samples = parse_exposition(metrics.render([table, table], [], now=1, duration=0))
    assert value(samples, "mailsec_mx_table_up", table="mailsec_dead_primary") == 1
    text = metrics.render([table, table], [], now=1, duration=0)
    assert text.count('mailsec_mx_dead_primary_refused_total{table="mailsec_dead_primary"}') == 1
