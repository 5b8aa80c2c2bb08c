"""Rules of the MX layout: every code both ways, normalisation, ordering, messages."""

import copy

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._layout import (
    LayoutError,
    layout_problems,
    layout_rdata,
    layout_record_sets,
    normalize_host,
    normalize_preference,
    ordered_layout,
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
