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
