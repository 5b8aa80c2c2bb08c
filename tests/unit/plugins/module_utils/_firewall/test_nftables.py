"""nftables backend: rules and load files, parsing real ``nft list table`` output, and the backend with a fake nft."""

import pathlib

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._firewall import common as _firewall
from ansible_collections.mailsec.mx.plugins.module_utils._firewall import nftables as _nftables
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import FirewallError, Snapshot
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.dead_primary import DeadPrimarySpec
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.nftables import NftablesBackend, load_file, parse_listing
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.trap import TrapSpec
from ansible_collections.mailsec.mx.plugins.module_utils._traps import Entry, parse_duration
from tests.fake_host import FakeRun

TABLE = "mailsec_dead_primary"
LIST = ("nft", "list", "table", "inet", TABLE)

# Real output of nft 1.0.6 (fixtures/): tabs, wrapped elements continue with tabs plus spaces.
FIXTURES = pathlib.Path(__file__).with_name("fixtures")
LISTING = (FIXTURES / "nft-list-table-v4.txt").read_text(encoding="utf-8")
# Listed before the dead primary remembered whom it refused: record: false keeps the table exactly so.
LISTED_SPEC = dict(name="dead_primary", addresses=["203.0.113.10"], ports=[25], action="reset",
                   allow=["20.0.0.0/24", "20.0.2.0/24", "198.51.100.7/32", "203.0.113.128/25"], record=False)

LISTING_V6 = (FIXTURES / "nft-list-table-v6.txt").read_text(encoding="utf-8")
LISTED_SPEC_V6 = dict(name="mx2", addresses=["203.0.113.10", "2001:db8::10"], ports=[25, 587], action="drop", allow=["2001:db8:1::/48"],
                      record=False)

NO_TABLE = (1, "", "Error: No such file or directory\nlist table inet %s\n                 ^^^^^^^^^^^^^^^^^^^^\n" % TABLE)


def make_spec(**changes):
    args = dict(LISTED_SPEC)
    args.update(changes)
    return DeadPrimarySpec(**args)


def rules(spec):
    """The dead primary's input chain."""
    return dict(spec.nftables_chains())["input"]


def trap_rules(spec):
    """The trap's chains by name."""
    return dict(spec.nftables_chains())


@pytest.fixture
def persist_paths(tmp_path, monkeypatch):
    """Point the boot-time files at tmp_path; systemd is off unless a test turns it on."""
    conf = tmp_path / "nftables.conf"
    directory = tmp_path / "nftables.d"
    monkeypatch.setattr(_nftables, "NFTABLES_CONF", str(conf))
    monkeypatch.setattr(_nftables, "PERSIST_DIR", str(directory))
    monkeypatch.setattr(_firewall, "systemd_running", lambda: False)
    return conf, directory / (TABLE + ".nft")


def include_line(path):
    return 'include "%s"' % path


# --- rules and load files ------------------------------------------------------------------------------

def test_rules_for_ipv4_only():
    assert rules(make_spec()) == [
        'ip daddr 203.0.113.10 tcp dport 25 ip saddr @allow4 counter name "allowed" accept',
        'ip daddr 203.0.113.10 tcp dport 25 counter name "refused" reject with tcp reset',
    ]


def test_rules_for_both_families_several_ports_and_drop():
    wanted = make_spec(addresses=["2001:db8::10", "203.0.113.11", "203.0.113.10"], ports=[587, 25, 465], action="drop")
    assert rules(wanted) == [
        'ip daddr { 203.0.113.10, 203.0.113.11 } tcp dport { 25, 465, 587 } ip saddr @allow4 counter name "allowed" accept',
        'ip daddr { 203.0.113.10, 203.0.113.11 } tcp dport { 25, 465, 587 } counter name "refused" drop',
        'ip6 daddr 2001:db8::10 tcp dport { 25, 465, 587 } ip6 saddr @allow6 counter name "allowed" accept',
        'ip6 daddr 2001:db8::10 tcp dport { 25, 465, 587 } counter name "refused" drop',
    ]


def test_rules_for_ipv6_only_have_no_ipv4_rules():
    assert [rule.split()[0] for rule in rules(make_spec(addresses=["2001:db8::10"]))] == ["ip6", "ip6"]


def test_load_file_replaces_only_our_table():
    text = load_file(make_spec(), TABLE)
    assert text.startswith("table inet %s {}\ndelete table inet %s\ntable inet %s {\n" % (TABLE, TABLE, TABLE))
    assert text.count("delete table") == 1
    assert "flush ruleset" not in text


def test_load_file_holds_the_elements_and_the_rules():
    text = load_file(make_spec(allow=["198.51.100.0/24", "203.0.113.7/32", "2001:db8:1::/48"]), TABLE)
    assert "\t\telements = {\n\t\t\t198.51.100.0/24,\n\t\t\t203.0.113.7/32\n\t\t}\n" in text
    assert "\t\telements = {\n\t\t\t2001:db8:1::/48\n\t\t}\n" in text
    assert all("\t\t" + rule + "\n" in text for rule in rules(make_spec()))
    assert "packets" not in text


def test_load_file_with_an_empty_set_has_no_elements_line():
    text = load_file(make_spec(allow=["198.51.100.0/24"]), TABLE)
    assert text.count("elements = {") == 1


def test_load_file_carries_counters():
    text = load_file(make_spec(), TABLE, {"allowed": (3, 180)})
    assert "\tcounter allowed {\n\t\tpackets 3 bytes 180\n\t}" in text
    assert "\tcounter refused {\n\t\tpackets 0 bytes 0\n\t}" in text


# --- parse_listing -----------------------------------------------------------------------------------------

def test_parse_listing_structure_equals_the_wanted_structure():
    structure, dummy, dummy2, dummy3 = parse_listing(LISTING)
    assert structure == NftablesBackend(FakeRun(), "dead_primary", DeadPrimarySpec).wanted(make_spec()).structure


def test_parse_listing_elements_and_counters():
    dummy, sets, counters, dummy2 = parse_listing(LISTING)
    assert sets == {"allow4": ["20.0.0.0/24", "20.0.2.0/24", "198.51.100.7/32", "203.0.113.128/25"], "allow6": []}
    assert counters == {"allowed": (3, 180), "refused": (12, 720)}


def test_parse_listing_of_elements_wrapped_over_many_lines():
    wrapped = LISTING.replace(
        "20.0.2.0/24,\n", "20.0.2.0/24,\n\t\t\t     20.0.4.0/24, 20.0.6.0/24,\n\t\t\t     2.0.0.0/8, 5.5.5.5,\n")
    structure, sets, dummy, dummy2 = parse_listing(wrapped)
    assert sets["allow4"] == ["20.0.0.0/24", "20.0.2.0/24", "20.0.4.0/24", "20.0.6.0/24", "2.0.0.0/8", "5.5.5.5/32",
                              "198.51.100.7/32", "203.0.113.128/25"]
    assert structure == parse_listing(LISTING)[0]


def test_parse_listing_of_a_single_line_ipv6_set_with_several_ports():
    structure, sets, counters, dummy = parse_listing(LISTING_V6)
    wanted = NftablesBackend(FakeRun(), "mx2", DeadPrimarySpec).wanted(DeadPrimarySpec(**LISTED_SPEC_V6))
    assert Snapshot(structure, sets) == wanted
    assert sets == {"allow4": [], "allow6": ["2001:db8:1::/48"]}
    assert counters == {"allowed": (0, 0), "refused": (5, 300)}


@pytest.mark.parametrize("changes", [
    dict(allow=["20.0.0.0/24"]),
    dict(ports=[25, 587]),
    dict(action="drop"),
    dict(addresses=["203.0.113.10", "2001:db8::10"]),
])
def test_a_different_spec_does_not_match_the_listing(changes):
    structure, sets, dummy, dummy2 = parse_listing(LISTING)
    assert Snapshot(structure, sets) != NftablesBackend(FakeRun(), "dead_primary", DeadPrimarySpec).wanted(make_spec(**changes))


# --- NftablesBackend -----------------------------------------------------------------------------------------

def test_current_is_none_without_our_table():
    run = FakeRun({LIST: NO_TABLE})
    backend = NftablesBackend(run, "dead_primary", DeadPrimarySpec)
    assert backend.current() is None
    assert run.commands == [list(LIST)]


def test_current_raises_on_other_errors():
    run = FakeRun({LIST: (1, "", "Error: Could not process rule: Operation not permitted\n")})
    with pytest.raises(FirewallError, match="nft list table inet mailsec_dead_primary failed: Error: Could not process rule: Operation not permitted"):
        NftablesBackend(run, "dead_primary", DeadPrimarySpec).current()


def test_current_equals_wanted_for_the_listed_spec():
    backend = NftablesBackend(FakeRun({LIST: (0, LISTING, "")}), "dead_primary", DeadPrimarySpec)
    live = backend.current()
    assert live == backend.wanted(make_spec())
    assert live.packets() == {"allowed": 3, "refused": 12}


def test_apply_checks_before_loading_and_carries_counters():
    run = FakeRun({LIST: (0, LISTING, "")})
    backend = NftablesBackend(run, "dead_primary", DeadPrimarySpec)
    wanted = make_spec(allow=["198.51.100.0/24"])
    backend.apply(wanted, backend.current())
    checked, loaded = run.commands[1], run.commands[2]
    assert checked[:3] == ["nft", "-c", "-f"] and loaded[:2] == ["nft", "-f"] and checked[3] == loaded[2]
    assert len(run.commands) == 3
    expected = load_file(wanted, TABLE, {"allowed": (3, 180), "refused": (12, 720)})
    assert run.loaded == [(True, expected), (False, expected)]


def test_apply_of_a_new_table_starts_counters_at_zero():
    run = FakeRun({LIST: NO_TABLE})
    backend = NftablesBackend(run, "dead_primary", DeadPrimarySpec)
    backend.apply(make_spec(), backend.current())
    assert run.loaded[1] == (False, load_file(make_spec(), TABLE))


def test_apply_stops_when_the_check_fails():
    run = FakeRun({("nft", "-c"): (1, "", "Error: syntax error, unexpected junk\n")})
    with pytest.raises(FirewallError, match=r"nft -c -f .* failed: Error: syntax error, unexpected junk"):
        NftablesBackend(run, "dead_primary", DeadPrimarySpec).apply(make_spec(), None)
    assert [command[:2] for command in run.commands] == [["nft", "-c"]]


def test_remove_deletes_only_our_table():
    run = FakeRun()
    NftablesBackend(run, "dead_primary", DeadPrimarySpec).remove()
    assert [command[:-1] for command in run.commands] == [["nft", "-c", "-f"], ["nft", "-f"]]
    assert run.loaded == [(True, "delete table inet mailsec_dead_primary\n"), (False, "delete table inet mailsec_dead_primary\n")]


# --- persist ---------------------------------------------------------------------------------------------------

def test_persist_creates_the_conf_with_a_header_and_one_include(persist_paths):
    conf, table_file = persist_paths
    run = FakeRun()
    backend = NftablesBackend(run, "dead_primary", DeadPrimarySpec)
    assert backend.persist(make_spec(), check_mode=False) == [str(table_file), str(conf)]
    assert conf.read_text(encoding="utf-8") == "#!/usr/sbin/nft -f\n%s\n" % include_line(table_file)
    assert table_file.read_text(encoding="utf-8") == load_file(make_spec(), TABLE)
    assert run.commands == []


def test_persist_keeps_an_existing_conf_and_is_idempotent(persist_paths):
    conf, table_file = persist_paths
    original = '#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n}'
    conf.write_text(original, encoding="utf-8")
    backend = NftablesBackend(FakeRun(), "dead_primary", DeadPrimarySpec)
    assert backend.persist(make_spec(), check_mode=False) == [str(table_file), str(conf)]
    assert conf.read_text(encoding="utf-8") == original + "\n" + include_line(table_file) + "\n"
    assert backend.persist(make_spec(), check_mode=False) == []
    assert conf.read_text(encoding="utf-8").count(include_line(table_file)) == 1


def test_persist_of_a_changed_spec_rewrites_only_our_file(persist_paths):
    conf, table_file = persist_paths
    backend = NftablesBackend(FakeRun(), "dead_primary", DeadPrimarySpec)
    backend.persist(make_spec(), check_mode=False)
    assert backend.persist(make_spec(action="drop"), check_mode=False) == [str(table_file)]
    assert table_file.read_text(encoding="utf-8") == load_file(make_spec(action="drop"), TABLE)


def test_persist_in_check_mode_reports_but_writes_nothing(persist_paths):
    conf, table_file = persist_paths
    assert NftablesBackend(FakeRun(), "dead_primary", DeadPrimarySpec).persist(make_spec(), check_mode=True) == [str(table_file), str(conf)]
    assert not conf.exists() and not table_file.parent.exists()


def test_persist_none_removes_our_file_and_include_only(persist_paths):
    conf, table_file = persist_paths
    other = table_file.parent / "local.nft"
    backend = NftablesBackend(FakeRun(), "dead_primary", DeadPrimarySpec)
    conf.write_text("#!/usr/sbin/nft -f\nflush ruleset\ninclude \"%s\"\n" % other, encoding="utf-8")
    backend.persist(make_spec(), check_mode=False)
    other.write_text("table inet local {}\n", encoding="utf-8")
    assert backend.persist(None, check_mode=False) == [str(table_file), str(conf)]
    assert not table_file.exists() and other.exists()
    assert conf.read_text(encoding="utf-8") == "#!/usr/sbin/nft -f\nflush ruleset\ninclude \"%s\"\n" % other
    assert backend.persist(None, check_mode=False) == []


def test_persist_none_removes_our_emptied_directory_and_the_conf_we_created(persist_paths):
    conf, table_file = persist_paths
    backend = NftablesBackend(FakeRun(), "dead_primary", DeadPrimarySpec)
    backend.persist(make_spec(), check_mode=False)
    backend.persist(None, check_mode=False)
    assert not table_file.parent.exists()
    assert not conf.exists()


def test_persist_none_in_check_mode_keeps_everything(persist_paths):
    conf, table_file = persist_paths
    backend = NftablesBackend(FakeRun(), "dead_primary", DeadPrimarySpec)
    backend.persist(make_spec(), check_mode=False)
    before = conf.read_text(encoding="utf-8")
    assert backend.persist(None, check_mode=True) == [str(table_file), str(conf)]
    assert table_file.exists() and conf.read_text(encoding="utf-8") == before


OTHER_FIREWALLS = [["systemctl", "is-enabled", unit] for unit in ("netfilter-persistent.service", "ufw.service", "firewalld.service")]


@pytest.mark.parametrize("is_enabled, check_mode, expected", [
    ((1, "disabled\n", ""), False, [["systemctl", "is-enabled", "nftables.service"], ["systemctl", "enable", "nftables.service"]]),
    ((1, "disabled\n", ""), True, [["systemctl", "is-enabled", "nftables.service"]]),
    ((0, "enabled\n", ""), False, [["systemctl", "is-enabled", "nftables.service"]]),
])
def test_persist_enables_the_service_where_systemd_runs(persist_paths, monkeypatch, is_enabled, check_mode, expected):
    monkeypatch.setattr(_firewall, "systemd_running", lambda: True)
    run = FakeRun({("systemctl", "is-enabled", "nftables.service"): is_enabled})
    changed = NftablesBackend(run, "dead_primary", DeadPrimarySpec).persist(make_spec(), check_mode=check_mode)
    assert run.commands == OTHER_FIREWALLS + expected
    assert ("nftables.service" in changed) == (is_enabled[0] != 0)


def test_persist_fails_when_the_service_cannot_be_enabled(persist_paths, monkeypatch):
    monkeypatch.setattr(_firewall, "systemd_running", lambda: True)
    run = FakeRun({("systemctl", "is-enabled", "nftables.service"): (1, "disabled\n", ""),
                   ("systemctl", "enable"): (1, "", "Failed to enable unit\n")})
    with pytest.raises(FirewallError, match="systemctl enable nftables.service failed: Failed to enable unit"):
        NftablesBackend(run, "dead_primary", DeadPrimarySpec).persist(make_spec(), check_mode=False)


def test_persist_none_never_touches_the_service(persist_paths, monkeypatch):
    monkeypatch.setattr(_firewall, "systemd_running", lambda: True)
    run = FakeRun()
    NftablesBackend(run, "dead_primary", DeadPrimarySpec).persist(None, check_mode=False)
    assert run.commands == []


def test_persist_does_not_enable_nftables_next_to_another_boot_firewall(persist_paths, monkeypatch):
    monkeypatch.setattr(_firewall, "systemd_running", lambda: True)
    run = FakeRun()
    run.replies[("systemctl", "is-enabled", "netfilter-persistent.service")] = (0, "enabled\n", "")
    backend = NftablesBackend(run, "dead_primary", DeadPrimarySpec)
    changed = backend.persist(make_spec(), check_mode=False)
    assert "nftables.service" not in changed
    assert ["systemctl", "enable", "nftables.service"] not in run.commands
    assert "netfilter-persistent.service loads rules at boot too" in backend.warnings[0]


# --- a trap ------------------------------------------------------------------------------------------------

# Real output of nft 1.0.6 for TRAP_SPEC after one source hit the v4 trap twice, the v4 own address once
# (refused) and the v6 trap once.
TRAP_LISTING = (FIXTURES / "nft-list-table-trap.txt").read_text(encoding="utf-8")
TRAP_TABLE = "mailsec_mx_trap"
TRAP_LIST = ("nft", "list", "table", "inet", TRAP_TABLE)
TRAP_SPEC = dict(name="mx_trap", mx_addresses=["198.51.100.3", "2001:db8::3"], ports=[25], action="reset", allow=["10.0.0.0/8"],
                 traps=["198.51.100.2", "2001:db8::2"], suppress=True, suppress_time=3600)


def trap_spec(**changes):
    args = dict(TRAP_SPEC)
    args.update(changes)
    return TrapSpec(**args)


def test_trap_structure_is_what_nft_lists():
    backend = NftablesBackend(FakeRun({TRAP_LIST: (0, TRAP_LISTING, "")}), "mx_trap", TrapSpec)
    live = backend.current()
    assert live == backend.wanted(trap_spec())
    assert live.packets() == {"trap_hits": 3, "suppressed": 2, "unrecorded": 0}
    assert live.prefixes == {4: 32, 6: 64}
    assert live.fill["tried4"] == (1, 262144)
    assert live.fill["hits6"] == (1, 262144)


@pytest.mark.parametrize("changes", [dict(suppress=False), dict(suppress_time=60), dict(allow=[]),
                                     dict(traps=["198.51.100.2"]), dict(action="drop"), dict(order_window=3600),
                                     dict(ipv6_prefix=128), dict(ipv4_prefix=24), dict(set_size=1024)])
def test_another_trap_spec_differs_from_the_listing(changes):
    backend = NftablesBackend(FakeRun({TRAP_LIST: (0, TRAP_LISTING, "")}), "mx_trap", TrapSpec)
    assert backend.current() != backend.wanted(trap_spec(**changes))


def test_trap_entries_read_hits_and_seen_with_their_times_and_counts():
    backend = NftablesBackend(FakeRun({TRAP_LIST: (0, TRAP_LISTING, "")}), "mx_trap", TrapSpec)
    hits, seen, suppressing = TrapSpec.remembered(backend.current())
    assert suppressing
    assert hits == {"198.51.100.9": Entry(3600, 3599.952), "2001:db8:0:9::": Entry(3600, 3599.964)}
    assert seen["198.51.100.9"] == Entry(604800, pytest.approx(604799.972), 2)
    assert seen["2001:db8:0:9::"].packets == 1


def test_without_suppression_the_trap_only_records():
    chains = trap_rules(trap_spec(suppress=False))
    assert chains["input"] == [
        "ip daddr 198.51.100.3 tcp dport 25 ct state new update @knocked4 { ip saddr }",
        "ip6 daddr 2001:db8::3 tcp dport 25 ct state new update @knocked6 { ip6 saddr & ffff:ffff:ffff:ffff:: }",
        "ip daddr { 198.51.100.2, 198.51.100.3 } tcp dport 25 ct state established ct status assured ct direction original "
        "ct label ! 101 ct label set 101 jump record",
        "ip6 daddr { 2001:db8::2, 2001:db8::3 } tcp dport 25 ct state established ct status assured ct direction original "
        "ct label ! 101 ct label set 101 jump record"]
    assert not any("reject" in rule or "drop" in rule for rule in chains["record"])
    assert chains["record"][:3] == ["ip saddr @allow4 return", "ip6 saddr @allow6 return", "fib saddr type local return"]


def test_only_a_completed_handshake_is_looked_at_and_only_once_per_connection():
    """A forged SYN is 'ct state new': it can be refused (suppression) or shield its source (knocked), but never
    reaches the record chain."""
    recorded = "ct state established ct status assured ct direction original ct label ! 101 ct label set 101 jump record"
    for rule in trap_rules(trap_spec())["input"]:
        assert ("ct state new " in rule) != (recorded in rule)
        assert "ct state new" not in rule or rule.endswith("jump refuse") or "update @knocked" in rule


def test_a_source_that_tried_an_own_mx_address_is_never_recorded():
    record = trap_rules(trap_spec())["record"]
    tried = record.index("ip daddr 198.51.100.3 update @tried4 { ip saddr } return")
    assert record.index("ip saddr @tried4 return") > tried
    assert record.index("ip saddr @tried4 return") < record.index('counter name "trap_hits"') < record.index("update @hits4 { ip saddr } return")


def test_recording_and_counting_never_hang_on_one_insertion():
    """Each insertion into a set that can be full is a rule of its own, after the hit is counted."""
    record = trap_rules(trap_spec())["record"]
    for rule in record:
        assert rule.count("@") <= 1 or rule.startswith(("ip6 saddr & ", "ip saddr & "))
    assert record[record.index('counter name "trap_hits"') + 1].startswith("add @seen4")
    assert record[-1] == 'meta l4proto tcp counter name "unrecorded" reject with tcp reset'
    assert trap_rules(trap_spec(suppress=False))["record"][-1] == 'counter name "unrecorded"'


def test_parse_listing_reads_per_element_timeouts_and_counters():
    listing = TRAP_LISTING.replace("{ 198.51.100.9 expires 59m59s952ms }",
                                   "{ 198.51.100.9 timeout 2h expires 1h, 198.51.100.10 expires 10s }")
    dummy, sets, dummy2, timed = parse_listing(listing)
    assert sets["hits4"] == ["198.51.100.9/32", "198.51.100.10/32"]
    assert timed["hits4"] == {"198.51.100.9": Entry(7200, 3600), "198.51.100.10": Entry(3600, 10)}
    assert timed["hits6"] and "allow4" not in timed


def test_apply_carries_what_the_trap_remembers_keeping_each_age():
    run = FakeRun({TRAP_LIST: (0, TRAP_LISTING.replace("59m59s952ms", "59m50s"), "")})
    backend = NftablesBackend(run, "mx_trap", TrapSpec)
    wanted = trap_spec(suppress_time=1800)
    backend.apply(wanted, backend.current())
    loaded = run.loaded[-1][1]
    # 10 s old: 1790 s left under the new 30 minutes; seen keeps its count.
    assert "\t\t\t198.51.100.9 timeout 30m expires 29m50s\n" in loaded
    assert "198.51.100.9 counter packets 2 bytes 0 timeout 7d expires 7d\n" in loaded
    assert "\tcounter trap_hits {\n\t\tpackets 3 bytes 200\n\t}" in loaded


def test_apply_drops_remembered_sources_older_than_a_new_shorter_timeout():
    run = FakeRun({TRAP_LIST: (0, TRAP_LISTING.replace("59m59s952ms", "50m"), "")})
    backend = NftablesBackend(run, "mx_trap", TrapSpec)
    backend.apply(trap_spec(suppress_time=300), backend.current())
    assert "198.51.100.9 timeout" not in run.loaded[-1][1]


def test_a_new_trap_table_has_empty_timed_sets():
    run = FakeRun({TRAP_LIST: NO_TABLE})
    backend = NftablesBackend(run, "mx_trap", TrapSpec)
    backend.apply(trap_spec(), backend.current())
    text = run.loaded[-1][1]
    assert "\tset hits4 {\n\t\ttype ipv4_addr\n\t\tsize 262144\n\t\tflags dynamic,timeout\n\t\ttimeout 1h\n\t}" in text
    assert "\tset seen6 {\n\t\ttype ipv6_addr\n\t\tsize 262144\n\t\tflags dynamic,timeout\n\t\ttimeout 7d\n\t}" in text


def test_persisted_trap_file_starts_with_nothing_remembered(persist_paths):
    conf, ours = persist_paths
    backend = NftablesBackend(FakeRun(), "mx_trap", TrapSpec)
    monkey_path = ours.with_name(TRAP_TABLE + ".nft")
    backend.persist_path = str(monkey_path)
    backend.persist(trap_spec(), check_mode=False)
    text = monkey_path.read_text(encoding="utf-8")
    assert text == load_file(trap_spec(), TRAP_TABLE) and "expires" not in text


def test_apply_regroups_remembered_sources_when_the_prefix_changes():
    """Moving from /64 to /48: the remembered /64 is written back under its /48, with its age and count."""
    run = FakeRun({TRAP_LIST: (0, TRAP_LISTING, "")})
    backend = NftablesBackend(run, "mx_trap", TrapSpec)
    backend.apply(trap_spec(ipv6_prefix=48), backend.current())
    loaded = run.loaded[-1][1]
    assert "2001:db8:: counter packets 1 bytes 0 timeout 7d" in loaded
    assert "2001:db8:0:9::" not in loaded
    assert "update @hits6 { ip6 saddr & ffff:ffff:ffff:: }" in loaded


@pytest.mark.parametrize("changes", [dict(mx_addresses=["198.51.100.3", "2001:db8::3%1 -j ACCEPT"]),
                                     dict(allow=["10.0.0.0/8 } accept; {"]), dict(traps=["198.51.100.2\nflush ruleset"])])
def test_hostile_values_never_reach_the_ruleset(changes):
    with pytest.raises(ValueError):
        trap_spec(**changes)


@pytest.mark.parametrize("text", ["6d23h59m59s416ms", "7d", "1m30s", "30ms", "59m59s952ms", "1h", "3600", "0s", "2m",
                                  "1d2h3m4s5ms", "23h59m59s280ms", "1s1ms", "1h1d"])
def test_the_quick_duration_reader_agrees_with_parse_duration(text):
    assert _nftables._duration(text) == parse_duration(text)
    assert type(_nftables._duration(text)) is type(parse_duration(text))


@pytest.mark.parametrize("text", ["", "1x", "ms", "1 h", "-1s"])
def test_the_quick_duration_reader_refuses_what_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        _nftables._duration(text)
