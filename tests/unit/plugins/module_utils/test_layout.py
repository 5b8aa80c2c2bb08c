"""Rules of the MX layout: every code both ways, normalisation, ordering, messages."""

import copy

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._layout import (
    TARGET_VARIABLES,
    TARGETS,
    LayoutError,
    layout_problems,
    layout_rdata,
    layout_record_sets,
    layout_targets,
    normalize_host,
    normalize_preference,
    ordered_layout,
    target_conflicts,
)

DEAD = {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": ["203.0.113.10", "2001:db8::10"]}
PRIMARY = {"preference": 20, "host": "mail.example.test", "addresses": ["203.0.113.20", "2001:db8::20"]}
BACKUP = {"preference": 30, "host": "backup.example.test", "addresses": ["198.51.100.30"]}
BACKSTOP = {"preference": 90, "host": "backstop.example.test", "role": "backstop", "addresses": ["203.0.113.20"]}
TRAP1 = {"preference": 100, "host": "trap1.example.test", "role": "trap", "addresses": ["203.0.113.91"]}
TRAP2 = {"preference": 110, "host": "trap2.example.test", "role": "trap", "addresses": ["2001:db8::92"]}

NOLISTING = [DEAD, PRIMARY, BACKUP]
SANDWICH = [DEAD, PRIMARY, BACKUP, BACKSTOP]
FULL = [DEAD, PRIMARY, BACKUP, BACKSTOP, TRAP1, TRAP2]


def codes(layout, **options):
    return [problem["code"] for problem in layout_problems(layout, **options)]


def layout_with(base, index, **changes):
    layout = copy.deepcopy(base)
    layout[index].update(changes)
    return layout


@pytest.mark.parametrize(
    "layout",
    [NOLISTING, SANDWICH, FULL, [PRIMARY], [{"preference": 0, "host": "."}]],
    ids=["nolisting", "sandwich", "full", "single", "null-mx"],
)
def test_sound_layouts_have_no_problem(layout):
    assert layout_problems(layout) == []


# --- record fields --------------------------------------------------------------------------

@pytest.mark.parametrize("preference", [None, "", "ten", "1.5", 1.5, True, False, -1, 65536, "65536", " -3", [10]])
def test_preference_invalid(preference):
    layout = layout_with(NOLISTING, 1, preference=preference)
    assert "preference-invalid" in codes(layout)


def test_preference_missing():
    layout = copy.deepcopy(NOLISTING)
    del layout[1]["preference"]
    assert codes(layout) == ["preference-invalid"]


@pytest.mark.parametrize("preference", [0, 65535, "20", " 20 "])
def test_preference_valid(preference):
    layout = [{"preference": preference, "host": "mail.example.test"}]
    assert codes(layout) == []


@pytest.mark.parametrize("host", [
    None, "", "   ", "203.0.113.20", "2001:db8::20", "[203.0.113.20]", "mail", "mail.", "a" * 64 + ".example.test",
    ("a" * 60 + ".") * 4 + "example.test", "mail_1.example.test", "-mail.example.test", "mail-.example.test",
    "mail..example.test", "mäil.example.test", "mail example.test", 42,
])
def test_host_invalid(host):
    assert codes([{"preference": 10, "host": host}]) == ["host-invalid"]


@pytest.mark.parametrize("host", ["mail.example.test", "MAIL.Example.TEST.", "xn--mil-ila.example.test", "a" * 63 + ".example.test", "1mail.example.test"])
def test_host_valid(host):
    assert codes([{"preference": 10, "host": host}]) == []


def test_host_is_normalised_to_lower_case_absolute():
    assert normalize_host("Mail.Example.TEST") == "mail.example.test."
    assert normalize_host("mail.example.test.") == "mail.example.test."
    assert normalize_host(".") == "."


def test_name_length_limit_is_253_octets():
    name = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(name) == 253 and codes([{"preference": 1, "host": name}]) == []
    assert codes([{"preference": 1, "host": "b" + name}]) == ["host-invalid"]


@pytest.mark.parametrize("role", ["primary", "Dead", "", 1, ["dead"]])
def test_role_invalid(role):
    assert "role-invalid" in codes(layout_with(NOLISTING, 2, role=role))


def test_role_defaults_to_live():
    assert ordered_layout([{"preference": 1, "host": "mx.example.test"}])[0]["role"] == "live"


@pytest.mark.parametrize("address", ["203.0.113.0/24", "2001:db8::/64", "203.0.113", "mail.example.test", "", 3, None, "203.0.113.256"])
def test_address_invalid(address):
    assert codes(layout_with(NOLISTING, 1, addresses=[address])) == ["address-invalid"]


def test_addresses_must_be_a_list():
    assert codes(layout_with(NOLISTING, 1, addresses="203.0.113.20")) == ["address-invalid"]


def test_record_not_a_mapping():
    assert codes([PRIMARY, "20 mail.example.test"]) == ["record-invalid"]


def test_layout_not_a_list():
    assert codes({"preference": 10}) == ["layout-invalid"]


# --- cross-record rules ----------------------------------------------------------------------

def test_duplicate_record_after_normalising():
    duplicate = dict(PRIMARY, preference="20", host="MAIL.example.test.", addresses=[])
    assert codes(NOLISTING + [duplicate]) == ["duplicate-record"]


def test_same_host_other_preference_is_no_duplicate():
    assert codes(NOLISTING + [dict(PRIMARY, preference=25)]) == []


def test_null_mx_mixed():
    assert codes([{"preference": 0, "host": "."}, PRIMARY]) == ["null-mx-mixed"]


def test_no_live():
    assert "no-live" in codes([DEAD])
    assert "no-live" in codes(layout_with(NOLISTING, 1, role="trap")[0:2])
    assert "no-live" not in codes(NOLISTING)


@pytest.mark.parametrize("preference", [20, 25, 30, 200])
def test_dead_not_lowest(preference):
    assert "dead-not-lowest" in codes(layout_with(NOLISTING, 0, preference=preference))


def test_dead_must_also_be_below_traps_and_backstops():
    layout = [dict(DEAD, preference=150), dict(PRIMARY, preference=5), dict(TRAP1, preference=100)]
    assert codes(layout).count("dead-not-lowest") == 1


def test_dead_lowest_passes():
    assert "dead-not-lowest" not in codes(layout_with(NOLISTING, 0, preference=19))


def test_multiple_dead():
    second = dict(DEAD, preference=5, host="nolist2.example.test", addresses=["203.0.113.11"])
    problems = layout_problems(NOLISTING + [second])
    assert [p["code"] for p in problems] == ["multiple-dead"]
    assert problems[0]["host"] == "nolist.example.test."
    assert codes(NOLISTING + [second], allow_multiple_dead=True) == []


@pytest.mark.parametrize("addresses", [[], None])
def test_dead_no_address(addresses):
    layout = layout_with(NOLISTING, 0, addresses=addresses)
    assert codes(layout) == ["dead-no-address"]


def test_dead_many_addresses_is_a_warning_per_family():
    layout = layout_with(NOLISTING, 0, addresses=["203.0.113.10", "203.0.113.11", "2001:db8::10"])
    problems = layout_problems(layout)
    assert [(p["code"], p["severity"]) for p in problems] == [("dead-many-addresses", "warning")]
    assert "IPv4" in problems[0]["message"]
    assert ordered_layout(layout)  # a warning does not stop publishing
    assert codes(layout_with(NOLISTING, 0, addresses=["203.0.113.10", "2001:db8::10"])) == []


def test_dead_address_shared_compares_as_addresses():
    layout = layout_with(NOLISTING, 1, addresses=["2001:DB8:0::10"])
    problems = layout_problems(layout)
    assert [p["code"] for p in problems] == ["dead-address-shared"]
    assert "2001:db8::10" in problems[0]["message"] and "record 2" in problems[0]["message"]


def test_host_role_conflict():
    layout = NOLISTING + [{"preference": 40, "host": "NOLIST.example.test", "addresses": ["198.51.100.40"]}]
    assert codes(layout) == ["host-role-conflict"]


@pytest.mark.parametrize("preference", [5, 20, 30])
def test_backstop_not_highest(preference):
    assert "backstop-not-highest" in codes(layout_with(SANDWICH, 3, preference=preference))


def test_backstop_above_every_front_record_passes():
    assert codes(layout_with(SANDWICH, 3, preference=31)) == []


def test_backstop_may_sit_below_traps():
    layout = copy.deepcopy(FULL)
    layout[3]["preference"] = 200
    assert codes(layout) == []


@pytest.mark.parametrize("addresses", [[], ["198.51.100.30"], ["203.0.113.20", "203.0.113.99"]])
def test_backstop_not_primary(addresses):
    assert codes(layout_with(SANDWICH, 3, addresses=addresses)) == ["backstop-not-primary"]


def test_backstop_without_any_primary():
    layout = [DEAD, BACKSTOP]
    assert set(codes(layout)) == {"no-live", "backstop-not-primary"}


def test_backstop_requires_the_primary_to_list_addresses():
    layout = layout_with(SANDWICH, 1, addresses=[])
    assert codes(layout) == ["backstop-not-primary"]


def test_backstop_primary_tie_breaks_on_lowest_host_name():
    other_primary = {"preference": 20, "host": "a-mail.example.test", "addresses": ["198.51.100.21"]}
    assert codes(SANDWICH + [other_primary]) == ["backstop-not-primary"]


def test_backstop_reuses_name_is_a_warning():
    layout = layout_with(SANDWICH, 3, host="Mail.Example.Test.", addresses=[])
    problems = layout_problems(layout)
    assert [(p["code"], p["severity"]) for p in problems] == [("backstop-reuses-name", "warning")]


@pytest.mark.parametrize("preference", [15, 20, 30])
def test_trap_not_above_live(preference):
    assert "trap-not-above-live" in codes(layout_with(FULL, 4, preference=preference))


def test_trap_just_above_live_passes():
    assert codes(layout_with(FULL, 4, preference=31)) == []


@pytest.mark.parametrize("addresses", [[], None])
def test_trap_no_address(addresses):
    assert codes(layout_with(FULL, 4, addresses=addresses)) == ["trap-no-address"]


def test_trap_address_shared_with_primary():
    assert codes(layout_with(FULL, 4, addresses=["203.0.113.20"])) == ["trap-address-shared"]


def test_trap_address_shared_between_traps_reports_both():
    layout = layout_with(FULL, 5, addresses=["203.0.113.91"])
    assert codes(layout) == ["trap-address-shared", "trap-address-shared"]


def test_address_limit_counts_every_record_in_front_of_live():
    dead = dict(DEAD, addresses=["203.0.113.10", "2001:db8::10"])
    other_dead = {"preference": 5, "host": "nolist2.example.test", "role": "dead", "addresses": ["203.0.113.11", "2001:db8::11", "203.0.113.12"]}
    layout = [dead, other_dead, PRIMARY]
    assert "address-limit" in codes(layout, allow_multiple_dead=True)
    assert "address-limit" not in codes(layout, allow_multiple_dead=True, address_limit=6)
    assert "address-limit" not in codes([dead, PRIMARY])
    assert "address-limit" in codes([dead, PRIMARY], address_limit=2)


def test_every_problem_is_reported_not_only_the_first():
    layout = [
        {"preference": 30, "host": "nolist.example.test", "role": "dead"},
        {"preference": 20, "host": "mail.example.test", "addresses": ["203.0.113.20"]},
        {"preference": "x", "host": "bad_host", "role": "primary"},
    ]
    assert codes(layout) == ["host-invalid", "preference-invalid", "role-invalid", "dead-not-lowest", "dead-no-address"]


def test_problem_shape():
    problem = layout_problems(layout_with(NOLISTING, 0, preference=20))[0]
    assert problem == {
        "code": "dead-not-lowest",
        "severity": "error",
        "message": problem["message"],
        "host": "nolist.example.test.",
        "preference": 20,
    }
    assert "record 1 (20 nolist.example.test.)" in problem["message"]
    assert "lower preference" in problem["message"]


@pytest.mark.parametrize("options", [{"allow_multiple_dead": "yes"}, {"address_limit": 0}, {"address_limit": True}, {"address_limit": "5"}])
def test_bad_options_raise(options):
    with pytest.raises(TypeError):
        layout_problems(NOLISTING, **options)


# --- ordering and normalisation ---------------------------------------------------------------

def test_ordered_layout_normalises_and_sorts():
    layout = [
        {"preference": "20", "host": "Mail.Example.Test", "addresses": ["2001:DB8:0::20", "2001:db8::20", "203.0.113.20"], "comment": "kept"},
        {"preference": 20, "host": "a.example.test", "addresses": ["198.51.100.21"]},
        {"preference": 10, "host": "nolist.example.test.", "role": "dead", "addresses": ["203.0.113.10"]},
    ]
    assert ordered_layout(layout) == [
        {"preference": 10, "host": "nolist.example.test.", "role": "dead", "addresses": ["203.0.113.10"]},
        {"preference": 20, "host": "a.example.test.", "role": "live", "addresses": ["198.51.100.21"]},
        {"preference": 20, "host": "mail.example.test.", "role": "live", "addresses": ["2001:db8::20", "203.0.113.20"], "comment": "kept"},
    ]


def test_ordered_layout_does_not_change_its_input():
    layout = copy.deepcopy(FULL)
    ordered_layout(layout)
    assert layout == FULL


def test_rdata():
    assert layout_rdata(list(reversed(FULL))) == [
        "10 nolist.example.test.",
        "20 mail.example.test.",
        "30 backup.example.test.",
        "90 backstop.example.test.",
        "100 trap1.example.test.",
        "110 trap2.example.test.",
    ]
    assert layout_rdata([{"preference": 0, "host": "."}]) == ["0 ."]


def test_errors_raise_with_every_error_listed():
    layout = [dict(DEAD, preference=25), PRIMARY, dict(TRAP1, addresses=[])]
    with pytest.raises(LayoutError) as caught:
        ordered_layout(layout)
    message = str(caught.value)
    assert "2 error(s)" in message
    assert "[dead-not-lowest]" in message and "[trap-no-address]" in message
    assert [p["code"] for p in caught.value.problems] == ["dead-not-lowest", "trap-no-address"]
    with pytest.raises(LayoutError):
        layout_rdata(layout)


def test_ten_thousand_records_check_clean():
    # How fast is bench/layout_checker.py's business: a unit test asserts no wall-clock time.
    layout = [DEAD] + [
        {"preference": 20 + number, "host": "mx%d.example.test" % number, "addresses": ["2001:db8:1::%x" % number]}
        for number in range(10_000)
    ]
    assert layout_problems(layout) == []


# --- hostile input (issue 11): refused before anything changes ---------------------------------

# The value that put an SSH lockout rule into ip6tables-restore input.
INJECTION = "2001:db8:bb::10%1 -j ACCEPT\n-I INPUT 1 -p tcp --dport 22 -j DROP\n"


def problems_of(layout, code):
    return [problem for problem in layout_problems(layout) if problem["code"] == code]


def dead_with_key(key):
    """DEAD whose role key is written as ``key`` (a misspelling), or DEAD plus ``key`` for an unrelated key."""
    dead = {k: v for k, v in DEAD.items() if k != "role"}
    dead[key] = "dead"
    return dead


@pytest.mark.parametrize("key, suggestion", [
    ("rol", "role"), ("Role", "role"), ("roles", "role"), ("rôle", "role"), ("ttl", None), (1, None), ("role\n", "role"),
])
def test_unknown_key_is_an_error_naming_the_key_and_the_close_one(key, suggestion):
    layout = [dead_with_key(key), dict(PRIMARY, preference=30), dict(BACKUP, preference=40)]
    problems = problems_of(layout, "key-unknown")
    assert len(problems) == 1 and problems[0]["severity"] == "error"
    message = problems[0]["message"]
    assert message.startswith("record 1 (10 nolist.example.test.): unknown key %r" % (key,))
    assert ("(did you mean %r?)" % suggestion in message) if suggestion else "did you mean" not in message
    assert message.endswith("a record has only the keys preference, host, role, addresses, comment.")
    with pytest.raises(LayoutError, match=r"\[key-unknown\]"):
        ordered_layout(layout)


@pytest.mark.parametrize("key, real", [("adresses", "addresses"), ("address", "addresses"), ("Host", "host"), ("preferences", "preference")])
def test_misspelt_keys_are_each_reported(key, real):
    record = dict(PRIMARY)
    record[key] = record.pop(real)
    problems = problems_of([record], "key-unknown")
    assert len(problems) == 1 and "unknown key %r (did you mean %r?)" % (key, real) in problems[0]["message"]


def test_a_misspelt_role_no_longer_makes_a_live_mx_at_preference_0():
    layout = [{"preference": 0, "host": "nolist.example.test", "rol": "dead", "addresses": ["203.0.113.10"]}, PRIMARY]
    assert codes(layout) == ["key-unknown"]
    with pytest.raises(LayoutError):
        layout_rdata(layout)


def test_comment_is_a_known_key_and_kept():
    layout = [dict(PRIMARY, comment="the real one")]
    assert codes(layout) == []
    assert ordered_layout(layout)[0]["comment"] == "the real one"


def test_role_null_is_invalid_not_live():
    layout = layout_with(NOLISTING, 0, role=None)
    problems = problems_of(layout, "role-invalid")
    assert len(problems) == 1
    assert problems[0]["message"] == (
        "record 1 (10 nolist.example.test.): role None is not one of live, dead, backstop, trap; leave the key out for 'live'.")
    with pytest.raises(LayoutError, match=r"\[role-invalid\]"):
        ordered_layout(layout)


@pytest.mark.parametrize("role", ["dead\n", "live\n", "\ndead"])
def test_role_with_a_newline_is_invalid(role):
    assert "role-invalid" in codes(layout_with(NOLISTING, 0, role=role))


@pytest.mark.parametrize("host", [
    "mail\n.example.test", "mail.example.test\n", "mail.example\n", "\nmail.example.test", "mail.exa\rmple.test",
    "mail.example.test\r\n", "mail.example.test\x00", "mail.example.test\t", "mail.example.test\x85", "mail.example.test\u2028",
    "mail.example.test\n-j ACCEPT",
])
def test_host_with_a_control_character_is_invalid(host):
    problems = problems_of([{"preference": 10, "host": host}], "host-invalid")
    assert len(problems) == 1
    assert "host %r contains a control character" % host in problems[0]["message"]


@pytest.mark.parametrize("host", ["mail\n.example.test", "mail.example\n.test"])
def test_label_check_is_a_full_match(host):
    # '$' matches before a trailing newline: the label 'mail\n' passed the old regex.
    with pytest.raises(ValueError):
        normalize_host(host)


@pytest.mark.parametrize("preference", ["20\n", "\t20", "20\x00", "20\r\n"])
def test_preference_with_a_control_character_is_invalid(preference):
    assert "preference-invalid" in codes(layout_with(NOLISTING, 1, preference=preference))
    with pytest.raises(ValueError):
        normalize_preference(preference)


@pytest.mark.parametrize("address", [
    INJECTION, "2001:db8::10%1", "2001:db8::10%eth0", "203.0.113.10\n", "203.0.113.10\r", "\t203.0.113.10", " 203.0.113.10",
    "203.0.113.10 ", "203.0.113.10\x00",
])
def test_address_with_scope_id_whitespace_or_control_character_is_invalid(address):
    layout = layout_with(NOLISTING, 0, addresses=[address])
    problems = problems_of(layout, "address-invalid")
    assert len(problems) == 1
    assert problems[0]["message"].startswith("record 1 (10 nolist.example.test.): address: %r " % address)
    assert "\n" not in problems[0]["message"]
    with pytest.raises(LayoutError, match=r"\[address-invalid\]"):
        ordered_layout(layout)


@pytest.mark.parametrize("address, reason", [
    ("::ffff:203.0.113.10", "IPv4-mapped"), ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("127.0.0.1", "loopback"),
    ("::1", "loopback"), ("224.0.0.25", "multicast"), ("ff02::1", "multicast"), ("169.254.0.10", "link-local"), ("fe80::10", "link-local"),
])
def test_address_that_cannot_be_an_mx_address_is_unusable(address, reason):
    layout = layout_with(NOLISTING, 0, addresses=[address, "2001:db8::10"])
    problems = problems_of(layout, "address-unusable")
    assert len(problems) == 1 and problems[0]["severity"] == "error"
    message = problems[0]["message"]
    assert message.startswith("record 1 (10 nolist.example.test.): address: %r is " % address) and reason in message
    with pytest.raises(LayoutError, match=r"\[address-unusable\]"):
        ordered_layout(layout)


def test_the_injection_never_reaches_the_error_message_raw():
    with pytest.raises(LayoutError) as caught:
        ordered_layout(layout_with(NOLISTING, 0, addresses=[INJECTION]))
    assert "\n-I INPUT" not in str(caught.value) and "\\n-I INPUT" in str(caught.value)


@pytest.mark.parametrize("preference", [10, 1, "5"])
def test_null_mx_not_at_preference_0(preference):
    layout = [{"preference": preference, "host": "."}]
    problems = layout_problems(layout)
    assert [p["code"] for p in problems] == ["null-mx-preference"]
    assert problems[0]["message"].startswith("record 1 (%d .): a null MX ('.') has preference 0" % int(preference))
    with pytest.raises(LayoutError):
        layout_rdata(layout)


def test_null_mx_with_addresses():
    layout = [{"preference": 0, "host": ".", "addresses": ["203.0.113.10"]}]
    assert codes(layout) == ["null-mx-address"]
    assert codes([{"preference": 0, "host": ".", "addresses": []}]) == []


def test_null_mx_at_10_with_others_reports_each_rule():
    layout = [PRIMARY, {"preference": 10, "host": ".", "addresses": ["203.0.113.10"]}]
    assert codes(layout) == ["null-mx-mixed", "null-mx-preference", "null-mx-address"]


@pytest.mark.parametrize("zone, name", [("example\n.test", None), ("example.test\n", None), ("example.test", "mx\n.example.test")])
def test_record_sets_refuse_control_characters_in_zone_and_name(zone, name):
    with pytest.raises(ValueError, match="contains a control character"):
        layout_record_sets(NOLISTING, zone, name)


def test_record_labels_show_hostile_raw_values_escaped():
    layout = [{"preference": "1\n0", "host": "mail\n.example.test", "addresses": ["2001:db8::10%1"]}]
    problems = layout_problems(layout)
    assert [p["code"] for p in problems] == ["host-invalid", "preference-invalid", "address-invalid"]
    for problem in problems:
        assert problem["message"].startswith("record 1 ('1\\n0' 'mail\\n.example.test'): ")
        assert "\n" not in problem["message"]


# --- the addresses a layout implies (mx_targets) -------------------------------------------------------------------

def test_targets_of_the_full_layout():
    assert layout_targets(list(reversed(FULL))) == {
        "dead": ["203.0.113.10", "2001:db8::10"],
        "live": ["203.0.113.20", "2001:db8::20", "198.51.100.30"],
        "primary": ["203.0.113.20", "2001:db8::20"],
        "backstop": ["203.0.113.20"],
        "trap": ["203.0.113.91", "2001:db8::92"],
        "trap_host": ["203.0.113.20", "2001:db8::20"],
    }


def test_targets_are_plain_lists_of_strings_and_leave_the_input_alone():
    layout = copy.deepcopy(FULL)
    targets = layout_targets(layout)
    assert layout == FULL
    assert tuple(targets) == TARGETS
    assert all(value.__class__ is list and all(address.__class__ is str for address in value) for value in targets.values())


def test_live_addresses_in_probe_order_records_by_preference_then_host_addresses_as_listed():
    layout = [
        {"preference": 30, "host": "b.example.test", "addresses": ["198.51.100.32", "198.51.100.31"]},
        {"preference": 20, "host": "z.example.test", "addresses": ["2001:DB8:0::20", "203.0.113.20"]},
        {"preference": "20", "host": "a.example.test", "addresses": ["203.0.113.21"]},
        {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": ["203.0.113.10"]},
    ]
    targets = layout_targets(layout)
    assert targets["live"] == ["203.0.113.21", "2001:db8::20", "203.0.113.20", "198.51.100.32", "198.51.100.31"]
    assert targets["primary"] == ["203.0.113.21"]  # the tie at 20 goes to the lowest host name


def test_addresses_are_canonical_and_once_per_record_but_kept_per_record():
    layout = [
        {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": ["2001:DB8:0:0::10", "2001:db8::10"]},
        {"preference": 20, "host": "mail.example.test", "addresses": ["203.0.113.20", "203.0.113.20"]},
        {"preference": 30, "host": "mail2.example.test", "addresses": ["203.0.113.20"]},
    ]
    targets = layout_targets(layout)
    assert targets["dead"] == ["2001:db8::10"]
    # Two live records that list one address: an orderly sender tries it twice, so the probe does too.
    assert targets["live"] == ["203.0.113.20", "203.0.113.20"]


def test_trap_host_is_the_primary_then_what_the_backstops_add_each_once():
    layout = [
        DEAD,
        PRIMARY,
        BACKUP,
        # Reusing the primary's name (a warning) lets a backstop list other addresses.
        {"preference": 90, "host": "mail.example.test", "role": "backstop", "addresses": ["203.0.113.29", "203.0.113.20"]},
        {"preference": 95, "host": "backstop.example.test", "role": "backstop", "addresses": ["2001:db8::20"]},
        TRAP1,
    ]
    targets = layout_targets(layout)
    assert targets["backstop"] == ["203.0.113.29", "203.0.113.20", "2001:db8::20"]
    assert targets["trap_host"] == ["203.0.113.20", "2001:db8::20", "203.0.113.29"]


def test_primary_without_addresses_and_no_backstop():
    layout = [{"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": ["203.0.113.10"]},
              {"preference": 20, "host": "mail.example.test"}]
    assert layout_targets(layout) == {
        "dead": ["203.0.113.10"], "live": [], "primary": [], "backstop": [], "trap": [], "trap_host": []}


def test_null_mx_implies_no_address():
    assert layout_targets([{"preference": 0, "host": "."}]) == {key: [] for key in TARGETS}


def test_several_dead_records_when_allowed():
    second = {"preference": 5, "host": "nolist2.example.test", "role": "dead", "addresses": ["203.0.113.11"]}
    with pytest.raises(LayoutError, match="multiple-dead"):
        layout_targets(NOLISTING + [second])
    assert layout_targets(NOLISTING + [second], allow_multiple_dead=True)["dead"] == ["203.0.113.11", "203.0.113.10", "2001:db8::10"]


def _old_playbook_targets(layout):
    """What harden_mx.yml worked out in Jinja before mx_targets: selectattr/map/flatten over mx_ordered's records;
    the primary's addresses | union(the backstops'), whose order was a set's (it differed from run to run)."""
    records = ordered_layout(layout)

    def flatten(role):
        return [address for record in records if record["role"] == role for address in record["addresses"]]

    live = [record["addresses"] for record in records if record["role"] == "live"]
    return {"dead": flatten("dead"), "live": flatten("live"), "trap": flatten("trap"),
            "trap_host": set((live[0] if live else []) + flatten("backstop"))}


@pytest.mark.parametrize("layout", [
    NOLISTING, SANDWICH, FULL, list(reversed(FULL)), [PRIMARY], [{"preference": 0, "host": "."}],
    [DEAD, dict(PRIMARY, addresses=["2001:DB8::20", "203.0.113.20", "203.0.113.21"]), BACKUP,
     dict(BACKSTOP, host="mail.example.test", addresses=["203.0.113.29"]), dict(BACKSTOP, preference=91, addresses=["203.0.113.21"])],
], ids=["nolisting", "sandwich", "full", "reversed", "single", "null-mx", "backstops"])
def test_targets_are_what_the_playbook_derived_before(layout):
    targets = layout_targets(layout)
    old = _old_playbook_targets(layout)
    assert {key: targets[key] for key in ("dead", "live", "trap")} == {key: old[key] for key in ("dead", "live", "trap")}
    assert set(targets["trap_host"]) == old["trap_host"] and len(targets["trap_host"]) == len(old["trap_host"])


@pytest.mark.parametrize("layout, code", [
    ([dict(DEAD, preference=25), PRIMARY], "dead-not-lowest"),
    ([DEAD, PRIMARY, dict(TRAP1, addresses=PRIMARY["addresses"])], "trap-address-shared"),
    ([DEAD, dict(PRIMARY, rol="backstop")], "key-unknown"),
    ([DEAD], "no-live"),
    ("not a layout", "layout-invalid"),
    ([DEAD, PRIMARY, dict(BACKSTOP, addresses=["198.51.100.99"])], "backstop-not-primary"),
])
def test_targets_of_a_broken_layout_raise_naming_the_rule(layout, code):
    with pytest.raises(LayoutError) as caught:
        layout_targets(layout)
    assert "[%s]" % code in str(caught.value)


@pytest.mark.parametrize("address", ["203.0.113.20\n-I INPUT 1 -p tcp --dport 22 -j DROP", "2001:db8::20%eth0", "127.0.0.1"])
def test_targets_never_pass_a_hostile_address_on(address):
    with pytest.raises(LayoutError) as caught:
        layout_targets([DEAD, dict(PRIMARY, addresses=[address])])
    message = str(caught.value)
    assert repr(address) in message and "\n-I INPUT" not in message


@pytest.mark.parametrize("options", [{"allow_multiple_dead": "yes"}, {"address_limit": 0}])
def test_targets_bad_options_raise(options):
    with pytest.raises(TypeError):
        layout_targets(FULL, **options)


# --- inventory values that say otherwise than the layout (mx_target_conflicts) -----------------------------------------

TARGETS_OF_FULL = layout_targets(FULL)
GROUPS = {"all": ["dead", "mail", "other"], "dead_primary": ["dead"], "mx_trap": ["mail"], "ungrouped": ["other"]}


def conflicts(dead=None, mail=None, other=None, groups=None):
    hostvars = {"dead": dead or {}, "mail": mail or {}, "other": other or {}}
    return target_conflicts(TARGETS_OF_FULL, hostvars, groups or GROUPS)


def test_no_conflict_when_the_inventory_leaves_the_addresses_to_the_layout():
    assert conflicts(dead={"dead_primary_allow": ["198.51.100.70"]}, mail={"mx_trap_suppress": True}) == []


def test_no_conflict_when_the_inventory_repeats_the_layout_in_any_order_or_spelling():
    assert conflicts(
        dead={"dead_primary_addresses": ["2001:DB8:0:0::10", "203.0.113.10", "203.0.113.10"]},
        mail={"mx_trap_addresses": ["2001:db8::92", "203.0.113.91"], "mx_trap_primary_addresses": ["2001:db8::20", "203.0.113.20"]},
    ) == []


def test_a_different_dead_address_is_a_conflict_naming_host_variable_and_both_values():
    assert conflicts(dead={"dead_primary_addresses": ["203.0.113.11", "2001:db8::10"]}) == [
        "host dead: the inventory (or an extra var) sets dead_primary_addresses to [203.0.113.11, 2001:db8::10], "
        "but the layout says [203.0.113.10, 2001:db8::10] (the dead record). The playbook takes dead_primary_addresses "
        "from mx_layout: remove it from the inventory, or list the same addresses."
    ]


@pytest.mark.parametrize("variable, value, records", [
    ("mx_trap_addresses", ["203.0.113.91"], "the trap records"),
    ("mx_trap_addresses", [], "the trap records"),
    ("mx_trap_primary_addresses", ["203.0.113.20", "2001:db8::20", "203.0.113.21"], "the primary and backstop records"),
])
def test_trap_host_conflicts(variable, value, records):
    [message] = conflicts(mail={variable: value})
    assert message.startswith("host mail: the inventory (or an extra var) sets %s to [" % variable)
    assert "(%s)" % records in message


def test_a_live_host_with_other_live_addresses_is_a_conflict():
    groups = dict(GROUPS, mx_live=["mail"])
    [message] = conflicts(mail={"mx_live_addresses": ["203.0.113.20"]}, groups=groups)
    assert message.startswith("host mail: the inventory (or an extra var) sets mx_live_addresses to [203.0.113.20], but")
    assert "(the live records)" in message
    assert conflicts(mail={"mx_live_addresses": list(TARGETS_OF_FULL["live"])}, groups=groups) == []


def test_a_subset_is_a_conflict_too():
    assert len(conflicts(dead={"dead_primary_addresses": ["203.0.113.10"]})) == 1


@pytest.mark.parametrize("value, shown", [
    ("203.0.113.10", "to 203.0.113.10, not a list of addresses"),
    (None, "to None, not a list of addresses"),
    ({"address": "203.0.113.10"}, "to {'address': '203.0.113.10'}, not a list of addresses"),
    (["203.0.113.10", "mail.example.test"], "'mail.example.test' is not a single IPv4/IPv6 address"),
    (["203.0.113.10", "127.0.0.1"], "'127.0.0.1' is a loopback address"),
    (["203.0.113.10\n-I INPUT 1 -p tcp --dport 22 -j DROP", "2001:db8::10"], "contains a control character"),
    (["2001:db8::10%eth0", "203.0.113.10"], "scope id"),
])
def test_a_value_that_is_not_a_list_of_usable_addresses_is_a_conflict_shown_escaped(value, shown):
    [message] = conflicts(dead={"dead_primary_addresses": value})
    assert shown in message
    assert "\n" not in message


def test_only_the_hosts_of_the_group_are_compared():
    assert conflicts(other={"dead_primary_addresses": ["198.51.100.1"], "mx_trap_addresses": ["198.51.100.2"]},
                     dead={"mx_trap_addresses": ["198.51.100.3"]}) == []
    assert conflicts(dead={"dead_primary_addresses": ["198.51.100.1"]}, groups={"all": ["dead"]}) == []


def test_every_conflict_is_reported_in_variable_then_host_order():
    groups = dict(GROUPS, dead_primary=["dead", "other"])
    messages = conflicts(
        dead={"dead_primary_addresses": ["198.51.100.1"]},
        other={"dead_primary_addresses": ["198.51.100.2"]},
        mail={"mx_trap_addresses": "203.0.113.91", "mx_trap_primary_addresses": []},
        groups=groups,
    )
    assert [message.split(" sets ")[0] for message in messages] == [
        "host dead: the inventory (or an extra var)", "host other: the inventory (or an extra var)",
        "host mail: the inventory (or an extra var)", "host mail: the inventory (or an extra var)"]
    assert [variable for _group, variable, _key, _records in TARGET_VARIABLES] == [
        "dead_primary_addresses", "mx_trap_addresses", "mx_trap_primary_addresses", "mx_live_addresses"]


def test_a_layout_without_traps_expects_none():
    targets = layout_targets(SANDWICH)
    hostvars = {"mail": {"mx_trap_addresses": []}}
    assert target_conflicts(targets, hostvars, {"mx_trap": ["mail"]}) == []
    hostvars = {"mail": {"mx_trap_addresses": ["203.0.113.91"]}}
    assert "but the layout says [] (the trap records)" in target_conflicts(targets, hostvars, {"mx_trap": ["mail"]})[0]


def test_a_hostile_host_name_is_shown_escaped():
    hostvars = {"dead\n": {"dead_primary_addresses": ["198.51.100.1"]}}
    [message] = target_conflicts(TARGETS_OF_FULL, hostvars, {"dead_primary": ["dead\n"]})
    assert message.startswith("host 'dead\\n': ")


@pytest.mark.parametrize("targets", [None, [], {"dead": []}, dict(TARGETS_OF_FULL, trap="203.0.113.91")])
def test_targets_must_be_what_mx_targets_returns(targets):
    with pytest.raises(TypeError, match="targets must be the result of mx_targets"):
        target_conflicts(targets, {}, {})


def test_hostvars_and_groups_must_be_mappings_that_agree():
    with pytest.raises(TypeError, match="must be mappings"):
        target_conflicts(TARGETS_OF_FULL, [], {})
    with pytest.raises(TypeError, match="group dead_primary lists host dead, which hostvars does not hold"):
        target_conflicts(TARGETS_OF_FULL, {}, {"dead_primary": ["dead"]})
