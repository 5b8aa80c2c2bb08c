"""The provider-neutral record set core: normalisation, input errors, plan, order, diff, converge_zone and run_module."""

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import (
    Change,
    Provider,
    ProviderError,
    RecordSet,
    RecordSetError,
    ServerUnavailable,
    ZoneOutcome,
    converge_zone,
    converge_zones,
    diff,
    failure_summary,
    normalize_zone,
    order_changes,
    parse_record_sets,
    plan,
    progress_line,
    run_module,
    zone_requests,
)

ZONE = "example.test."
MX = RecordSet("example.test.", "MX", 3600, ["10 nolist.example.test.", "20 mail.example.test."])
MAIL_A = RecordSet("mail.example.test.", "A", 3600, ["198.51.100.20"])
NOLIST_A = RecordSet("nolist.example.test.", "A", 3600, ["198.51.100.10"])
NOLIST_AAAA = RecordSet("nolist.example.test.", "AAAA", 3600, ["2001:db8::10"])
GOOD = {"name": "mail.example.test", "type": "A", "ttl": 300, "values": ["198.51.100.20"]}
BAD_SECOND = [dict(GOOD, name="mail.other.test"), dict(GOOD, name="mx.other.test", ttl=-1)]  # for zone other.test


def parse_one(entry, zone=ZONE, relative=False):
    return parse_record_sets([entry], zone, relative)[1][0]


def bad_second(**changes):
    """record_sets with a good first entry and a second one changed as given; returns the error message."""
    entry = dict(GOOD, name="other.example.test")
    entry.update(changes)
    with pytest.raises(RecordSetError) as error:
        parse_record_sets([GOOD, entry], ZONE)
    return str(error.value)


# --- normalisation ----------------------------------------------------------------------------

@pytest.mark.parametrize("zone", ["example.test", "example.test.", "Example.TEST.", " example.test "])
def test_zone_is_lower_case_absolute(zone):
    assert normalize_zone(zone) == ZONE


@pytest.mark.parametrize("name", ["Mail.Example.Test", "mail.example.test.", "MAIL.EXAMPLE.TEST."])
def test_names_are_lower_case_absolute_with_optional_trailing_dot(name):
    assert parse_one(dict(GOOD, name=name)).name == "mail.example.test."


def test_owner_names_may_have_underscores_and_a_wildcard():
    assert parse_one(dict(GOOD, name="_srv.example.test")).name == "_srv.example.test."
    assert parse_one(dict(GOOD, name="*.example.test")).name == "*.example.test."


@pytest.mark.parametrize("name, expected", [("mail", "mail.example.test."), ("@", ZONE), ("a.b", "a.b.example.test."),
                                            ("mail.example.test.", "mail.example.test.")])
def test_relative_names_only_when_asked(name, expected):
    assert parse_one(dict(GOOD, name=name), relative=True).name == expected


def test_relative_name_without_relative_names_is_outside_the_zone():
    with pytest.raises(RecordSetError, match=r"^record_sets\[1\]: name mail\. is not inside zone example\.test\.$"):
        parse_one(dict(GOOD, name="mail"))


def test_relative_mx_exchange():
    record_set = parse_one({"name": "@", "type": "MX", "values": ["10 mail", "20 Backup.Other.Test.", "30 @"]}, relative=True)
    assert record_set.values == ("10 mail.example.test.", "20 backup.other.test.", "30 example.test.")


@pytest.mark.parametrize("value, expected", [("10 Mail.Example.Test", "10 mail.example.test."), ("010 mail.example.test.", "10 mail.example.test."),
                                             ("  0   mail.example.test ", "0 mail.example.test."), ("0 .", "0 ."),
                                             ("65535 mail.example.test", "65535 mail.example.test.")])
def test_mx_values(value, expected):
    assert parse_one({"name": ZONE, "type": "MX", "values": [value]}).values == (expected,)


@pytest.mark.parametrize("value, expected", [("2001:DB8:0::1", "2001:db8::1"), ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1")])
def test_aaaa_values_are_compressed(value, expected):
    assert parse_one(dict(GOOD, type="AAAA", values=[value])).values == (expected,)


def test_type_is_case_insensitive_and_values_become_a_sorted_set():
    record_set = parse_one(dict(GOOD, type="a", values=["198.51.100.2", "198.51.100.1", "198.51.100.2"]))
    assert (record_set.type, record_set.values) == ("A", ("198.51.100.1", "198.51.100.2"))


def test_ttl_defaults_and_digit_strings():
    assert parse_one({"name": "mail.example.test", "type": "A", "values": ["198.51.100.1"]}).ttl == 3600
    assert parse_one(dict(GOOD, ttl="600")).ttl == 600
    assert parse_one(dict(GOOD, ttl=0)).ttl == 0
    assert parse_one(dict(GOOD, ttl=2147483647)).ttl == 2147483647


@pytest.mark.parametrize("rtype, value", [("A", "2001:db8::1"), ("AAAA", "198.51.100.1"), ("A", "mail.example.test"), ("A", "198.51.100.0/24"),
                                          ("AAAA", "::ffff:198.51.100.1/128"), ("A", "")])
def test_address_of_the_wrong_family_or_no_address(rtype, value):
    message = bad_second(type=rtype, values=[value])
    assert message.startswith("record_sets[2] (other.example.test. %s): %s value %r " % (rtype, rtype, value))


def test_aaaa_with_a_scope_id_is_rejected():
    assert bad_second(type="AAAA", values=["fe80::1%eth0"]).startswith("record_sets[2]")


def test_names_inside_the_root_zone():
    assert parse_record_sets([dict(GOOD)], ".")[1][0].name == "mail.example.test."


# --- every bad input names its entry -----------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"type": "TXT"}, "record_sets[2]: type 'TXT' is not supported (use A, AAAA, MX)"),
    ({"type": None}, "record_sets[2]: type None is not supported (use A, AAAA, MX)"),
    ({"name": "bad_label..example.test"}, "record_sets[2]: name 'bad_label..example.test' has an invalid label ''"),
    ({"name": "-x.example.test"}, "record_sets[2]: name '-x.example.test' has an invalid label '-x'"),
    ({"name": "a b.example.test"}, "record_sets[2]: name 'a b.example.test' has an invalid label 'a b'"),
    ({"name": "x" * 64 + ".example.test"}, "record_sets[2]: name '%s.example.test' has an invalid label '%s'" % ("x" * 64, "x" * 64)),
    ({"name": ""}, "record_sets[2]: name is empty"),
    ({"name": None}, "record_sets[2]: name is empty"),
    ({"name": "mail.other.test"}, "record_sets[2]: name mail.other.test. is not inside zone example.test."),
    ({"name": "notexample.test"}, "record_sets[2]: name notexample.test. is not inside zone example.test."),
    ({"ttl": -1}, "record_sets[2]: ttl -1 must be an integer from 0 to 2147483647"),
    ({"ttl": 2147483648}, "record_sets[2]: ttl 2147483648 must be an integer from 0 to 2147483647"),
    ({"ttl": "abc"}, "record_sets[2]: ttl 'abc' must be an integer from 0 to 2147483647"),
    ({"ttl": True}, "record_sets[2]: ttl True must be an integer from 0 to 2147483647"),
    ({"ttl": 1.5}, "record_sets[2]: ttl 1.5 must be an integer from 0 to 2147483647"),
    ({"values": "198.51.100.1"}, "record_sets[2]: values must be a list"),
    ({"values": []}, "record_sets[2]: values is empty; use state=absent to remove other.example.test. A"),
    ({"values": None}, "record_sets[2]: values is empty; use state=absent to remove other.example.test. A"),
])
def test_bad_entry_is_named(changes, message):
    assert bad_second(**changes) == message


def test_long_name_is_refused():
    name = ".".join(["a" * 60] * 4) + ".example.test"
    assert bad_second(name=name) == "record_sets[2]: name %r is longer than 253 octets" % name


@pytest.mark.parametrize("value", ["mail.example.test", "10", "70000 mail.example.test", "-1 mail.example.test", "10 mail.example.test extra",
                                   "ten mail.example.test"])
def test_mx_without_a_usable_preference(value):
    message = bad_second(name=ZONE, type="MX", values=[value])
    assert message == ("record_sets[2] (example.test. MX): MX value %r must be 'preference exchange', preference 0..65535" % value)


def test_mx_exchange_may_not_have_an_underscore():
    message = bad_second(name=ZONE, type="MX", values=["10 mx_1.example.test"])
    assert message == "record_sets[2] (example.test. MX): MX exchange 'mx_1.example.test' has an invalid label 'mx_1'"


def test_duplicate_name_and_type():
    message = bad_second(name="Mail.Example.Test.", values=["198.51.100.30"])
    assert message == "record_sets[2]: mail.example.test. A is listed twice; give one entry with all its values"


def test_same_name_with_another_type_is_no_duplicate():
    assert len(parse_record_sets([GOOD, dict(GOOD, type="AAAA", values=["2001:db8::1"])], ZONE)[1]) == 2


def test_not_a_mapping_and_not_a_list():
    with pytest.raises(RecordSetError, match=r"^record_sets\[2\] is not a mapping"):
        parse_record_sets([GOOD, "mail.example.test"], ZONE)
    with pytest.raises(RecordSetError, match="^record_sets must be a list$"):
        parse_record_sets(GOOD, ZONE)


def test_bad_zone():
    with pytest.raises(RecordSetError, match=r"^zone 'exa_mple\.test': zone 'exa_mple\.test' has an invalid label 'exa_mple'$"):
        parse_record_sets([GOOD], "exa_mple.test")


def test_empty_values_are_fine_when_removing():
    zone, parsed = parse_record_sets([dict(GOOD, values=[])], "Example.Test", need_values=False)
    assert (zone, parsed) == (ZONE, [RecordSet("mail.example.test.", "A", 300, [])])


# --- zone_requests ------------------------------------------------------------------------------

def test_zone_requests():
    assert zone_requests({"zone": "example.test", "record_sets": [GOOD], "zones": []}) == [("example.test", [GOOD], {})]
    zones = [{"zone": "example.test", "record_sets": [GOOD]}, {"zone": "other.test"}]
    assert zone_requests({"zone": None, "record_sets": [], "zones": zones}) == [("example.test", [GOOD], {}), ("other.test", [], {})]


@pytest.mark.parametrize("params, message", [
    ({"zone": "example.test", "record_sets": [], "zones": [{"zone": "other.test"}]}, "give either zones, or zone with record_sets, not both"),
    ({"zone": None, "record_sets": [GOOD], "zones": [{"zone": "other.test"}]}, "give either zones, or zone with record_sets, not both"),
    ({"zone": None, "record_sets": [GOOD], "zones": []}, "zone is required (or zones, for many zones in one call)"),
    ({"zone": "", "record_sets": [], "zones": []}, "zone is required (or zones, for many zones in one call)"),
    ({"zone": None, "zones": [{"zone": "a.test"}, {"record_sets": []}]}, "zones[2] must be a mapping with zone and record_sets"),
    ({"zone": None, "zones": ["a.test"]}, "zones[1] must be a mapping with zone and record_sets"),
])
def test_zone_requests_errors(params, message):
    with pytest.raises(RecordSetError) as error:
        zone_requests(params)
    assert str(error.value) == message


# --- plan, order, diff ----------------------------------------------------------------------------

def test_plan_equal_is_no_change():
    assert not plan([MX, MAIL_A], {MX.key: MX, MAIL_A.key: RecordSet(MAIL_A.name, "A", 3600, ["198.51.100.20"])}, "present")


def test_plan_values_are_a_set():
    shuffled = RecordSet(MX.name, "MX", 3600, ["20 mail.example.test.", "10 nolist.example.test.", "20 mail.example.test."])
    assert not plan([MX], {MX.key: shuffled}, "present")


def test_plan_ttl_only_is_a_change():
    longer = RecordSet(MX.name, "MX", 7200, MX.values)
    (change,) = plan([longer], {MX.key: MX}, "present")
    assert (change.key, change.before, change.after) == (MX.key, MX, longer)


def test_plan_new_and_changed_values():
    old = RecordSet(MAIL_A.name, "A", 3600, ["198.51.100.99"])
    changes = plan([MX, MAIL_A], {MX.key: None, MAIL_A.key: old}, "present")
    assert [(change.key, change.before, change.after) for change in changes] == [(MAIL_A.key, old, MAIL_A), (MX.key, None, MX)]


def test_plan_missing_key_in_current_counts_as_absent():
    (change,) = plan([MX], {}, "present")
    assert change.before is None


def test_plan_absent():
    assert not plan([RecordSet(MX.name, "MX", 3600, [])], {MX.key: None}, "absent")
    (change,) = plan([RecordSet(MX.name, "MX", 3600, [])], {MX.key: MX}, "absent")
    assert (change.before, change.after) == (MX, None)


def test_order_adds_addresses_before_mx():
    changes = [Change(MX.key, None, MX), Change(NOLIST_AAAA.key, None, NOLIST_AAAA), Change(MAIL_A.key, None, MAIL_A),
               Change(NOLIST_A.key, None, NOLIST_A)]
    assert [change.key for change in order_changes(changes)] == [MAIL_A.key, NOLIST_A.key, NOLIST_AAAA.key, MX.key]


def test_order_removes_mx_first():
    changes = [Change(MAIL_A.key, MAIL_A, None), Change(NOLIST_AAAA.key, NOLIST_AAAA, None), Change(MX.key, MX, None)]
    assert [change.key for change in order_changes(changes)] == [MX.key, MAIL_A.key, NOLIST_AAAA.key]


def test_order_mixed_removals_then_additions():
    backstop = RecordSet("backstop.example.test.", "A", 3600, ["198.51.100.20"])
    changes = [Change(MX.key, MX, MX), Change(MAIL_A.key, None, MAIL_A), Change(backstop.key, backstop, None)]
    assert [change.key for change in order_changes(changes)] == [backstop.key, MAIL_A.key, MX.key]


def test_diff_text():
    old_a = RecordSet(MAIL_A.name, "A", 300, ["198.51.100.99"])
    text = diff([Change(MX.key, None, MX), Change(MAIL_A.key, old_a, MAIL_A), Change(NOLIST_A.key, NOLIST_A, None)])
    assert text == {
        "before": "mail.example.test. 300 IN A 198.51.100.99\nnolist.example.test. 3600 IN A 198.51.100.10\n",
        "after": ("example.test. 3600 IN MX 10 nolist.example.test.\nexample.test. 3600 IN MX 20 mail.example.test.\n"
                  "mail.example.test. 3600 IN A 198.51.100.20\n"),
    }
    assert diff([]) == {"before": "", "after": ""}


def test_change_and_record_set_as_dict():
    assert Change(MAIL_A.key, None, MAIL_A).as_dict() == {
        "name": "mail.example.test.", "type": "A", "before": None,
        "after": {"name": "mail.example.test.", "type": "A", "ttl": 3600, "values": ["198.51.100.20"]},
    }


# --- converge_zone and run_module with fakes ---------------------------------------------------------

class FakeProvider(Provider):
    """Holds RRsets per zone; records reads and applies."""

    def __init__(self, zones=None, fail=None):
        self.zones = zones or {}
        self.fail = fail or {}
        self.reads = []
        self.applied = []

    def read(self, zone, keys):
        self.reads.append((zone, list(keys)))
        if zone in self.fail:
            raise ProviderError(self.fail[zone])
        return {key: self.zones.get(zone, {}).get(key) for key in keys}

    def apply(self, zone, changes, unchanged=()):
        self.applied.append((zone, [change.key for change in changes]))
        self.unchanged = list(unchanged)
        for change in changes:
            self.zones.setdefault(zone, {})[change.key] = change.after


class Exited(Exception):
    def __init__(self, failed, result):
        super().__init__(result.get("msg"))
        self.failed = failed
        self.result = result


class FakeModule:
    def __init__(self, check_mode=False, **params):
        self.params = {"zone": None, "record_sets": [], "zones": [], "state": "present", "relative_names": False}
        self.params.update(params)
        self.check_mode = check_mode

    def fail_json(self, **result):
        raise Exited(True, result)

    def exit_json(self, **result):
        raise Exited(False, result)


def run(provider, **params):
    with pytest.raises(Exited) as exited:
        run_module(FakeModule(**params), lambda: provider)
    return exited.value


def test_converge_zone_applies_the_planned_changes():
    provider = FakeProvider()
    changes, zone_diff = converge_zone(provider, ZONE, [MX, MAIL_A], "present", False)
    # The plan's read, then a fresh read of every listed RRset (what changes and what the change relies on), right before applying.
    assert provider.reads == [(ZONE, [MX.key, MAIL_A.key]), (ZONE, [MX.key, MAIL_A.key])]
    assert provider.applied == [(ZONE, [MAIL_A.key, MX.key])]
    assert [change.key for change in changes] == [MAIL_A.key, MX.key]
    assert "IN MX 20 mail.example.test." in zone_diff["after"]
    assert converge_zone(provider, ZONE, [MX, MAIL_A], "present", False) == ([], {"before": "", "after": ""})
    assert len(provider.applied) == 1


class MovingProvider(FakeProvider):
    """Someone else changes ``moved`` between our plan's read and our fresh read."""

    def __init__(self, moved, **kwargs):
        super().__init__(**kwargs)
        self.moved = moved

    def read(self, zone, keys):
        current = super().read(zone, keys)
        if len(self.reads) > 1:
            current.update({key: value for key, value in self.moved.items() if key in current})
        return current


@pytest.mark.parametrize("moved", [
    RecordSet(ZONE, "MX", 3600, ["5 intruder.example.net."]),
    RecordSet(ZONE, "MX", 300, ["10 mail.example.test."]),  # the TTL alone: RFC 2136 prerequisites would miss it
], ids=["values", "ttl"])
def test_converge_zone_refuses_when_an_rrset_moved_since_the_plan(moved):
    provider = MovingProvider({MX.key: moved}, zones={ZONE: {MX.key: RecordSet(ZONE, "MX", 3600, ["10 mail.example.test."])}})
    with pytest.raises(ProviderError, match=r"^someone changed example\.test\. MX since it was read; nothing was changed, run again$"):
        converge_zone(provider, ZONE, [MX, MAIL_A], "present", False)
    assert provider.applied == []


def test_converge_zone_refuses_when_a_new_rrset_appeared():
    provider = MovingProvider({MAIL_A.key: RecordSet(MAIL_A.name, "A", 3600, ["198.51.100.7"])})
    with pytest.raises(ProviderError, match=r"^someone changed mail\.example\.test\. A since it was read"):
        converge_zone(provider, ZONE, [MAIL_A], "present", False)
    assert provider.applied == []


def test_converge_zone_check_mode_never_applies():
    provider = FakeProvider()
    changes, zone_diff = converge_zone(provider, ZONE, [MX], "present", True)
    assert len(changes) == 1 and zone_diff["after"]
    assert provider.applied == []


def test_run_module_single_zone_result():
    provider = FakeProvider()
    exited = run(provider, zone="Example.Test", record_sets=[GOOD])
    after = {"name": "mail.example.test.", "type": "A", "ttl": 300, "values": ["198.51.100.20"]}
    change = {"name": "mail.example.test.", "type": "A", "before": None, "after": after}
    assert not exited.failed
    assert exited.result == {
        "changed": True,
        "zones": [{"zone": ZONE, "changed": True, "changes": [change]}],
        "changes": [change],
        "diff": {"before": "", "after": "mail.example.test. 300 IN A 198.51.100.20\n"},
        "failed_zones": [],
        "progress": ["1 of 1 zones done: 1 changed, 0 failed"],
    }
    again = run(provider, zone="example.test.", record_sets=[GOOD])
    assert (again.result["changed"], again.result["changes"]) == (False, [])


def test_run_module_zones_result_has_no_top_level_changes():
    provider = FakeProvider()
    zones = [{"zone": "example.test", "record_sets": [GOOD]}, {"zone": "other.test", "record_sets": [dict(GOOD, name="mail.other.test")]}]
    exited = run(provider, zones=zones)
    assert "changes" not in exited.result
    assert [(zone["zone"], zone["changed"]) for zone in exited.result["zones"]] == [(ZONE, True), ("other.test.", True)]
    assert [zone for zone, keys in provider.applied] == [ZONE, "other.test."]


def test_run_module_check_mode_reports_but_never_applies():
    provider = FakeProvider()
    exited = run(provider, check_mode=True, zone="example.test", record_sets=[GOOD])
    assert exited.result["changed"] is True
    assert provider.applied == []


def test_run_module_validates_every_zone_before_reading_any():
    provider = FakeProvider()
    exited = run(provider, zones=[{"zone": "example.test", "record_sets": [GOOD]}, {"zone": "other.test", "record_sets": BAD_SECOND}])
    assert exited.failed
    assert exited.result["msg"].startswith("zone other.test: record_sets[2]: ttl -1 must be an integer from 0 to 2147483647")
    assert exited.result["msg"].endswith("; nothing was sent")
    assert provider.reads == []


def test_run_module_input_error_in_zones_names_the_zone():
    exited = run(FakeProvider(), zones=[{"zone": "example.test", "record_sets": [GOOD]}, {"zone": "other.test", "record_sets": BAD_SECOND}])
    assert "other.test" in exited.result["msg"]


def test_run_module_absent_needs_no_values():
    provider = FakeProvider({ZONE: {MAIL_A.key: MAIL_A}})
    exited = run(provider, state="absent", zone="example.test", record_sets=[{"name": "mail.example.test", "type": "A"}])
    assert exited.result["changes"][0]["after"] is None
    assert provider.zones[ZONE][MAIL_A.key] is None


def test_run_module_provider_error_names_the_zone_and_the_others_go_on():
    provider = FakeProvider(fail={"other.test.": "the server answered the update with REFUSED"})
    zones = [{"zone": "example.test", "record_sets": [GOOD]}, {"zone": "other.test", "record_sets": [dict(GOOD, name="mail.other.test")]},
             {"zone": "third.test", "record_sets": [dict(GOOD, name="mail.third.test")]}]
    exited = run(provider, zones=zones)
    assert exited.failed
    assert exited.result["msg"] == ("1 of 3 zones failed (the others were published): other.test.: "
                                    "the server answered the update with REFUSED")
    assert exited.result["failed_zones"] == ["other.test."]
    # The zones before and after the failed one are published and reported.
    assert exited.result["changed"] is True
    assert [(zone["zone"], zone["changed"], zone.get("failed", False)) for zone in exited.result["zones"]] == [
        (ZONE, True, False), ("other.test.", False, True), ("third.test.", True, False)]
    assert [zone for zone, dummy in provider.applied] == [ZONE, "third.test."]


def test_run_module_one_zone_failing_keeps_its_plain_message():
    provider = FakeProvider(fail={ZONE: "the server answered the update with REFUSED"})
    exited = run(provider, zone="example.test", record_sets=[GOOD])
    assert exited.result["msg"] == "zone example.test.: the server answered the update with REFUSED"
    assert exited.result["changed"] is False and exited.result["failed_zones"] == [ZONE]


def test_failures_are_grouped_by_error_and_shown_zones_are_bounded():
    outcomes = [ZoneOutcome("z%02d.test." % number, error=ProviderError("NOTAUTH")) for number in range(25)]
    outcomes.append(ZoneOutcome("odd.test.", error=ProviderError("REFUSED")))
    summary = failure_summary(outcomes, shown=3)
    assert summary == "z00.test., z01.test., z02.test. and 22 more: NOTAUTH; odd.test.: REFUSED"


def test_an_unreachable_server_stops_the_run_at_once():
    class Unreachable(FakeProvider):
        def read(self, zone, keys):
            self.reads.append(zone)
            raise ServerUnavailable("cannot reach 127.0.0.1 port 53: Connection refused")
    provider = Unreachable()
    zones = [{"zone": "z%d.test" % number, "record_sets": [dict(GOOD, name="mail.z%d.test" % number)]} for number in range(5)]
    exited = run(provider, zones=zones)
    assert exited.failed and exited.result["msg"].startswith("cannot reach 127.0.0.1 port 53: Connection refused; stopped")
    assert provider.reads == ["z0.test."]


def test_zones_go_in_chunks_with_a_progress_line_after_each():
    provider = FakeProvider()
    requests = [("z%d.test." % number, parse_record_sets([dict(GOOD, name="mail.z%d.test" % number)], "z%d.test" % number)[1])
                for number in range(5)]
    lines = []
    outcomes = converge_zones(provider, requests, "present", False, chunk=2,
                              progress=lambda done, total: lines.append(progress_line(done, total)))
    assert [outcome.zone for outcome in outcomes] == [zone for zone, dummy in requests]
    assert lines == ["2 of 5 zones done: 2 changed, 0 failed", "4 of 5 zones done: 4 changed, 0 failed",
                     "5 of 5 zones done: 5 changed, 0 failed"]


# --- the change relies on every listed RRset, not only on those it changes -------------------------------------

def test_apply_gets_the_unchanged_rrsets_the_change_relies_on():
    # The MX changes; the addresses it points at stay as they are.
    old_mx = RecordSet(ZONE, "MX", 3600, ["20 mail.example.test."])
    provider = FakeProvider({ZONE: {MX.key: old_mx, MAIL_A.key: MAIL_A, NOLIST_A.key: NOLIST_A}})
    changes, dummy = converge_zone(provider, ZONE, [MX, MAIL_A, NOLIST_A], "present", False)
    assert [change.key for change in changes] == [MX.key]
    assert provider.unchanged == [(MAIL_A.key, MAIL_A), (NOLIST_A.key, NOLIST_A)]


def test_converge_zone_refuses_when_an_unchanged_target_address_moved():
    # Only the MX changes; someone moves the target's address in between: the MX would point at an address nobody planned.
    old_mx = RecordSet(ZONE, "MX", 3600, ["20 mail.example.test."])
    moved = RecordSet(MAIL_A.name, "A", 3600, ["198.51.100.66"])
    provider = MovingProvider({MAIL_A.key: moved}, zones={ZONE: {MX.key: old_mx, MAIL_A.key: MAIL_A}})
    with pytest.raises(ProviderError, match=r"^someone changed mail\.example\.test\. A since it was read; nothing was changed, run again$"):
        converge_zone(provider, ZONE, [MX, MAIL_A], "present", False)
    assert provider.applied == []


# --- control characters are refused before anything is sent ----------------------------------------------------

@pytest.mark.parametrize("params, message", [
    ({"zone": "example.test\n"}, r"zone: 'example.test\n' contains a control character (U+000A at offset 12); remove it; nothing was sent"),
    ({"zone": "example\x00.test"}, r"zone: 'example\x00.test' contains a control character (U+0000 at offset 7); remove it; nothing was sent"),
    ({"zones": [{"zone": "example.test", "record_sets": [GOOD]}, {"zone": "other.test\r", "record_sets": [GOOD]}]},
     r"zones[2].zone: 'other.test\r' contains a control character (U+000D at offset 10); remove it; nothing was sent"),
    ({"zone": "example.test", "record_sets": [GOOD, dict(GOOD, name="mail\n.example.test")]},
     r"zone example.test: record_sets[2].name: 'mail\n.example.test' contains a control character (U+000A at offset 4); remove it; nothing was sent"),
    ({"zone": "example.test", "record_sets": [dict(GOOD, name="mail.example.test\n")]},
     r"zone example.test: record_sets[1].name: 'mail.example.test\n' contains a control character"),
    ({"zone": "example.test", "record_sets": [dict(GOOD, values=["198.51.100.20", "198.51.100.21\r\n"])]},
     r"zone example.test: record_sets[1].values[2]: '198.51.100.21\r\n' contains a control character (U+000D at offset 13)"),
    ({"zone": "example.test", "record_sets": [{"name": "example.test", "type": "MX", "values": ["10 mail.example.test\u2028"]}]},
     r"zone example.test: record_sets[1].values[1]: '10 mail.example.test\u2028' contains a control character"),
    ({"zone": "example.test", "record_sets": [dict(GOOD, type="A\n")]}, r"zone example.test: record_sets[1].type: 'A\n' contains a control character"),
], ids=["zone-lf", "zone-nul", "zones-cr", "name-inner-lf", "name-trailing-lf", "value-crlf", "mx-line-separator", "type-lf"])
def test_control_characters_are_refused_naming_the_option(params, message):
    provider = FakeProvider()
    exited = run(provider, **params)
    assert exited.failed
    assert message in exited.result["msg"]
    assert provider.reads == []


def test_a_label_with_a_trailing_newline_is_not_a_valid_label():
    # '$' in a pattern matched before a trailing newline: 'mail\n' passed as a label.
    with pytest.raises(RecordSetError):
        normalize_zone("mail\n.example.test")


# --- disabled records are part of the RRset: shown, never dropped silently --------------------------------------

def test_an_rrset_with_disabled_values_differs_from_the_same_values_without():
    with_disabled = RecordSet(MAIL_A.name, "A", 3600, ["198.51.100.20"], disabled=["198.51.100.99"])
    assert with_disabled != MAIL_A
    assert with_disabled == RecordSet(MAIL_A.name, "A", 3600, ["198.51.100.20"], disabled=["198.51.100.99"])
    assert with_disabled.lines() == ["mail.example.test. 3600 IN A 198.51.100.20", "; mail.example.test. 3600 IN A 198.51.100.99 ; disabled"]
    assert with_disabled.as_dict()["disabled"] == ["198.51.100.99"]
    assert "disabled" not in MAIL_A.as_dict()


def test_a_disabled_value_is_a_change_shown_in_the_diff():
    current = RecordSet(MAIL_A.name, "A", 3600, ["198.51.100.20"], disabled=["198.51.100.99"])
    provider = FakeProvider({ZONE: {MAIL_A.key: current}})
    changes, zone_diff = converge_zone(provider, ZONE, [MAIL_A], "present", True)
    assert [(change.before, change.after) for change in changes] == [(current, MAIL_A)]
    assert zone_diff == {"before": "mail.example.test. 3600 IN A 198.51.100.20\n; mail.example.test. 3600 IN A 198.51.100.99 ; disabled\n",
                         "after": "mail.example.test. 3600 IN A 198.51.100.20\n"}


# --- per-zone options (a file provider's path) and previews with headers ---------------------------------------

class FileLikeProvider(FakeProvider):
    """Shows a change as a file diff, like the zone file and octoDNS providers; built from per-zone paths."""

    def __init__(self, paths):
        super().__init__()
        self.paths = paths

    def preview(self, zone, changes):
        lines = diff(changes)
        return dict(lines, before_header=self.paths[zone]["path"], after_header=self.paths[zone]["path"])


def run_with_zone_options(**params):
    made = []

    def make(settings):
        made.append(settings)
        return FileLikeProvider(settings)

    with pytest.raises(Exited) as exited:
        run_module(FakeModule(**params), make, zone_options=("path",))
    return exited.value, made


def test_zone_options_reach_the_provider_per_zone_and_file_diffs_keep_their_headers():
    exited, made = run_with_zone_options(zones=[
        {"zone": "Example.Test", "path": "/srv/a.zone", "record_sets": [MAIL_A.as_dict()]},
        {"zone": "other.test", "path": "/srv/b.zone", "record_sets": [{"name": "mail.other.test", "type": "A", "values": ["198.51.100.21"]}]},
    ])
    assert not exited.failed
    assert made == [{ZONE: {"path": "/srv/a.zone"}, "other.test.": {"path": "/srv/b.zone"}}]
    assert [entry["before_header"] for entry in exited.result["diff"]] == ["/srv/a.zone", "/srv/b.zone"]
    single, made = run_with_zone_options(zone=ZONE, path="/srv/one.zone", record_sets=[MAIL_A.as_dict()])
    assert made == [{ZONE: {"path": "/srv/one.zone"}}]
    assert single.result["diff"]["after_header"] == "/srv/one.zone" and "198.51.100.20" in single.result["diff"]["after"]


def test_an_unknown_key_in_a_zones_entry_is_refused_before_anything():
    exited, made = run_with_zone_options(zones=[{"zone": ZONE, "pth": "/srv/a.zone", "record_sets": [MAIL_A.as_dict()]}])
    assert exited.failed and made == []
    assert exited.result["msg"] == "zones[1] has unknown keys pth (known: zone, record_sets, path); nothing was sent"


def test_a_zone_listed_twice_is_refused_before_anything():
    provider = FakeProvider()
    exited = run(provider, zones=[{"zone": ZONE, "record_sets": [MAIL_A.as_dict()]}, {"zone": "EXAMPLE.test.", "record_sets": []}])
    assert exited.failed and provider.reads == []
    assert exited.result["msg"] == "zone example.test. is listed twice; give one entry with all its record sets; nothing was sent"


def test_the_base_provider_previews_rrset_lines_and_leaves_read_and_apply_to_subclasses():
    provider = Provider()
    change = Change(MAIL_A.key, None, MAIL_A)
    assert provider.preview(ZONE, [change]) == diff([change])
    with pytest.raises(NotImplementedError):
        provider.read(ZONE, [MAIL_A.key])
    with pytest.raises(NotImplementedError):
        provider.apply(ZONE, [change])


class FinishingProvider(FakeProvider):
    """Waits for its changes at the end (as Route 53 waits for INSYNC), or fails there."""

    def __init__(self, error=None):
        super().__init__()
        self.error = error
        self.finished = []

    def finish(self):
        self.finished.append([zone for zone, _keys in self.applied])
        if self.error:
            raise ProviderError(self.error)


def test_run_module_finishes_once_after_the_last_zone_and_a_late_failure_still_reports_the_change():
    provider = FinishingProvider()
    exited = run(provider, zones=[{"zone": ZONE, "record_sets": [MAIL_A.as_dict()]},
                                  {"zone": "other.test", "record_sets": [{"name": "mail.other.test", "type": "A", "values": ["198.51.100.21"]}]}])
    assert not exited.failed and provider.finished == [[ZONE, "other.test."]]
    late = FinishingProvider(error="Route 53 accepted the change C1, but it was still PENDING")
    exited = run(late, zone=ZONE, record_sets=[MAIL_A.as_dict()])
    assert exited.failed and exited.result["changed"] is True
    assert exited.result["msg"] == "Route 53 accepted the change C1, but it was still PENDING"
    assert [entry["zone"] for entry in exited.result["zones"]] == [ZONE]


def test_a_per_zone_option_beside_zones_is_refused_before_anything():
    exited, made = run_with_zone_options(path="/srv/a.zone", zones=[{"zone": ZONE, "path": "/srv/b.zone", "record_sets": [MAIL_A.as_dict()]}])
    assert exited.failed and made == []
    assert exited.result["msg"] == "path goes into each zones entry ({zone, path, record_sets}), not beside zones; nothing was sent"


# --- domains: each zone's record sets made from its MX layout ---------------------------------------------------

FLEET_LAYOUT = [
    {"preference": 10, "host": "nolist.mx.example.net", "role": "dead", "addresses": ["203.0.113.10"]},
    {"preference": 20, "host": "mail.mx.example.net", "addresses": ["203.0.113.20"]},
]


def test_domains_share_one_layout_and_keep_their_own():
    own = [{"preference": 10, "host": "nolist.brand.test", "role": "dead", "addresses": ["203.0.113.11"]},
           {"preference": 20, "host": "mail.mx.example.net"}]
    requests = zone_requests({"domains": [{"zone": "a.test"}, {"zone": "brand.test", "layout": own}, {"zone": "b.test", "name": "in.b.test"}],
                              "layout": FLEET_LAYOUT, "ttl": 600, "state": "present"})
    assert [(zone, [(rs["name"], rs["type"], rs["ttl"]) for rs in raw]) for zone, raw, dummy in requests] == [
        ("a.test", [("a.test.", "MX", 600)]),
        ("brand.test", [("brand.test.", "MX", 600), ("nolist.brand.test.", "A", 600)]),
        ("b.test", [("in.b.test.", "MX", 600)]),
    ]
    assert requests[0][1][0]["values"] == ["10 nolist.mx.example.net.", "20 mail.mx.example.net."]


def test_domains_removal_keeps_live_hosts_addresses():
    own = [{"preference": 10, "host": "nolist.a.test", "role": "dead", "addresses": ["203.0.113.11"]},
           {"preference": 20, "host": "mail.a.test", "addresses": ["203.0.113.20"]}]
    requests = zone_requests({"domains": [{"zone": "a.test", "layout": own}], "state": "absent"})
    assert [(rs["name"], rs["type"]) for rs in requests[0][1]] == [("a.test.", "MX"), ("nolist.a.test.", "A")]


def test_domains_name_every_bad_entry_and_a_bad_shared_layout_once():
    with pytest.raises(RecordSetError) as error:
        zone_requests({"domains": [{"zone": "a.test"}, {"zone": "b.test", "colour": "red"}, {"name": "x"},
                                   {"zone": "c.test", "name": "mail.other.test"}], "layout": FLEET_LAYOUT, "state": "present"})
    assert str(error.value).startswith("3 of 4 domains entries are invalid: domains[2] (b.test) has unknown keys colour")
    assert "domains[3] must be a mapping with zone" in str(error.value)
    assert "domains[4] (c.test): the MX owner mail.other.test. is not inside zone c.test." in str(error.value)
    with pytest.raises(RecordSetError) as error:
        zone_requests({"domains": [{"zone": "d%d.test" % number} for number in range(30)], "layout": FLEET_LAYOUT[:1], "state": "present"})
    assert str(error.value).count("layout (the layout of every domains entry without its own)") == 1


def test_domains_exclude_the_other_forms_and_take_paths_per_entry():
    with pytest.raises(RecordSetError, match="give either domains, zones, or zone with record_sets"):
        zone_requests({"domains": [{"zone": "a.test"}], "zone": "a.test", "layout": FLEET_LAYOUT, "state": "present"})
    with pytest.raises(RecordSetError, match=r"path goes into each domains entry"):
        zone_requests({"domains": [{"zone": "a.test"}], "path": "/tmp/a", "layout": FLEET_LAYOUT, "state": "present"}, ("path",))
    requests = zone_requests({"domains": [{"zone": "a.test", "path": "/srv/a.zone"}], "layout": FLEET_LAYOUT, "state": "present"}, ("path",))
    assert requests[0][2] == {"path": "/srv/a.zone"}
    with pytest.raises(RecordSetError, match=r"domains\[1\] \(a\.test\) has no layout"):
        zone_requests({"domains": [{"zone": "a.test"}], "state": "present"})


def test_a_server_lost_midway_still_reports_the_zones_already_changed():
    class LostOnTheSecondChunk(FakeProvider):
        def apply_many(self, requests):
            if any(zone == "z2.test." for zone, dummy, dummy in requests):
                error = ServerUnavailable("no answer from 127.0.0.1 port 53 within 1 s")
                error.outcomes = [None] + [ProviderError("may or may not have been applied")] * (len(requests) - 1)
                raise error
            return super().apply_many(requests)
    provider = LostOnTheSecondChunk()
    requests = [("z%d.test." % number, parse_record_sets([dict(GOOD, name="mail.z%d.test" % number)], "z%d.test" % number)[1])
                for number in range(4)]
    with pytest.raises(ServerUnavailable) as raised:
        converge_zones(provider, requests, "present", False, chunk=2)
    assert [(outcome.zone, outcome.changed) for outcome in raised.value.done] == [
        ("z0.test.", True), ("z1.test.", True), ("z2.test.", True), ("z3.test.", False)]
    # Through the module (one chunk of 4): z0 was applied, the three others may or may not have been.
    zones = [{"zone": zone, "record_sets": [dict(GOOD, name="mail." + zone)]} for zone, dummy in requests]
    exited = run(LostOnTheSecondChunk(), zones=zones)
    assert exited.failed and exited.result["changed"] is True
    assert exited.result["msg"] == "no answer from 127.0.0.1 port 53 within 1 s; stopped, the other zones were not tried"
    assert exited.result["failed_zones"] == ["z1.test.", "z2.test.", "z3.test."]
