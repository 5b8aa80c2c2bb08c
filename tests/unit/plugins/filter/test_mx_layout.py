"""The filter layer: names, errors as AnsibleFilterError naming the filter and the entry."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mailsec.mx.plugins.filter.mx_layout import FilterModule

FILTERS = FilterModule().filters()
GOOD = [
    {"preference": 20, "host": "Mail.Example.Test", "addresses": ["203.0.113.20"]},
    {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": ["203.0.113.10"]},
]
BAD = [
    {"preference": 20, "host": "mail.example.test", "addresses": ["203.0.113.20"]},
    {"preference": 20, "host": "nolist.example.test", "role": "dead", "addresses": ["203.0.113.0/24"]},
]


def test_four_filters_are_exported():
    assert sorted(FILTERS) == ["mx_ordered", "mx_problems", "mx_rdata", "mx_record_sets"]


def test_mx_record_sets_publishes_mx_and_in_zone_addresses():
    layout = GOOD + [{"preference": 30, "host": "backup.other.test", "addresses": ["198.51.100.30"]}]
    assert FILTERS["mx_record_sets"](layout, "Example.Test", ttl=300) == [
        {"name": "example.test.", "type": "MX", "ttl": 300,
         "values": ["10 nolist.example.test.", "20 mail.example.test.", "30 backup.other.test."]},
        {"name": "mail.example.test.", "type": "A", "ttl": 300, "values": ["203.0.113.20"]},
        {"name": "nolist.example.test.", "type": "A", "ttl": 300, "values": ["203.0.113.10"]},
    ]


def test_mx_record_sets_owner_and_errors():
    assert FILTERS["mx_record_sets"](GOOD, "example.test", name="mx.example.test")[0]["name"] == "mx.example.test."
    with pytest.raises(AnsibleFilterError, match="mailsec.mx.mx_record_sets: the MX owner other.test. is not inside zone example.test."):
        FILTERS["mx_record_sets"](GOOD, "example.test", name="other.test")
    with pytest.raises(AnsibleFilterError, match=r"(?s)mailsec.mx.mx_record_sets: .*\[dead-not-lowest\]"):
        FILTERS["mx_record_sets"](BAD, "example.test")


def test_mx_problems_reports_instead_of_raising():
    assert [p["code"] for p in FILTERS["mx_problems"](BAD)] == ["address-invalid", "dead-not-lowest"]


def test_mx_ordered_and_rdata():
    assert [r["host"] for r in FILTERS["mx_ordered"](GOOD)] == ["nolist.example.test.", "mail.example.test."]
    assert FILTERS["mx_rdata"](GOOD) == ["10 nolist.example.test.", "20 mail.example.test."]


@pytest.mark.parametrize("name", ["mx_ordered", "mx_rdata"])
def test_errors_name_the_filter_and_the_entry(name):
    with pytest.raises(AnsibleFilterError) as caught:
        FILTERS[name](BAD)
    message = str(caught.value)
    assert message.startswith("mailsec.mx.%s: the MX layout has 2 error(s)" % name)
    assert "'203.0.113.0/24'" in message and "[dead-not-lowest]" in message


@pytest.mark.parametrize("name", ["mx_problems", "mx_ordered", "mx_rdata"])
def test_bad_options_are_filter_errors(name):
    with pytest.raises(AnsibleFilterError, match="mailsec.mx.%s: address_limit" % name):
        FILTERS[name](GOOD, address_limit=-1)


def test_options_pass_through():
    second_dead = {"preference": 5, "host": "nolist2.example.test", "role": "dead", "addresses": ["203.0.113.11"]}
    with pytest.raises(AnsibleFilterError, match="multiple-dead"):
        FILTERS["mx_rdata"](GOOD + [second_dead])
    assert FILTERS["mx_rdata"](GOOD + [second_dead], allow_multiple_dead=True)[0] == "5 nolist2.example.test."


def test_mx_record_sets_for_removal_keeps_live_hosts_addresses():
    layout = GOOD + [{"preference": 90, "host": "backstop.example.test", "role": "backstop", "addresses": ["203.0.113.20"]}]
    removed = FILTERS["mx_record_sets"](layout, "example.test", for_removal=True)
    assert [(r["name"], r["type"]) for r in removed] == [
        ("example.test.", "MX"), ("backstop.example.test.", "A"), ("nolist.example.test.", "A")]


def test_mx_record_sets_takes_any_zone_the_modules_take():
    assert FILTERS["mx_record_sets"](GOOD, "lab")[0]["name"] == "lab."
    with pytest.raises(AnsibleFilterError, match="mailsec.mx.mx_record_sets: zone '': zone is empty"):
        FILTERS["mx_record_sets"](GOOD, "")


# --- hostile input (issue 11) ---------------------------------------------------------------------

INJECTION = "2001:db8:bb::10%1 -j ACCEPT\n-I INPUT 1 -p tcp --dport 22 -j DROP\n"
HOSTILE = {
    "scope-id": ([dict(GOOD[1], addresses=["2001:db8::10%1"]), GOOD[0]], "address-invalid", "'2001:db8::10%1'"),
    "injection": ([dict(GOOD[1], addresses=[INJECTION]), GOOD[0]], "address-invalid", repr(INJECTION)),
    "loopback": ([dict(GOOD[1], addresses=["::1"]), GOOD[0]], "address-unusable", "'::1'"),
    "newline-host": ([GOOD[1], dict(GOOD[0], host="mail\n.example.test")], "host-invalid", "'mail\\n.example.test'"),
    "unknown-key": ([{"preference": 0, "host": "nolist.example.test", "rol": "dead", "addresses": ["203.0.113.10"]}, GOOD[0]],
                    "key-unknown", "unknown key 'rol' (did you mean 'role'?)"),
    "role-null": ([dict(GOOD[1], role=None), GOOD[0]], "role-invalid", "role None"),
    "null-mx-10": ([{"preference": 10, "host": "."}], "null-mx-preference", "record 1 (10 .)"),
    "null-mx-address": ([{"preference": 0, "host": ".", "addresses": ["203.0.113.10"]}], "null-mx-address", "record 1 (0 .)"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_mx_problems_reports_hostile_input_without_failing(case):
    layout, code, _entry = HOSTILE[case]
    problems = FILTERS["mx_problems"](layout)
    assert code in [p["code"] for p in problems]
    assert all("\n" not in p["message"] for p in problems)


@pytest.mark.parametrize("name", ["mx_ordered", "mx_rdata", "mx_record_sets"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_fails_naming_the_filter_and_the_entry(name, case):
    layout, code, entry = HOSTILE[case]
    arguments = ("example.test",) if name == "mx_record_sets" else ()
    with pytest.raises(AnsibleFilterError) as caught:
        FILTERS[name](layout, *arguments)
    message = str(caught.value)
    assert message.startswith("mailsec.mx.%s: the MX layout has " % name)
    assert "[%s]" % code in message and entry in message
    assert "\n-I INPUT" not in message


@pytest.mark.parametrize("zone, name", [("example\n.test", None), ("example.test", "mx\n.example.test")])
def test_mx_record_sets_refuses_control_characters_in_zone_and_name(zone, name):
    with pytest.raises(AnsibleFilterError, match=r"^mailsec.mx.mx_record_sets: (zone|name): .* contains a control character"):
        FILTERS["mx_record_sets"](GOOD, zone, name=name)


def test_every_rule_code_is_documented_in_the_filter_and_docs_layout_md():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[4]
    emitted = set(re.findall(r'"code": "([a-z-]+)"|report\(\s*"([a-z-]+)"', (root / "plugins/module_utils/_layout.py").read_text()))
    emitted = {code for pair in emitted for code in pair if code}
    in_filter = set(re.findall(r"V\(([a-z]+(?:-[a-z]+)+)\)", (root / "plugins/filter/mx_problems.yml").read_text()))
    in_docs = set(re.findall(r"^\| `([a-z-]+)` \| (?:error|warning) \|", (root / "docs/layout.md").read_text(), re.M))
    assert "key-unknown" in emitted and "null-mx-address" in emitted and len(emitted) == 26
    assert emitted == in_docs
    assert emitted <= in_filter
