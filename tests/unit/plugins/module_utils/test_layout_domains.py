"""Many domains: domains_targets (the union of every domain's addresses, every problem named) and domains_without."""

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._layout import LayoutError, domains_targets, domains_without

SHARED = [
    {"preference": 10, "host": "nolist.mx.example.net", "role": "dead", "addresses": ["203.0.113.10"]},
    {"preference": 20, "host": "mail.mx.example.net", "addresses": ["203.0.113.20", "2001:db8::20"]},
    {"preference": 90, "host": "backstop.mx.example.net", "role": "backstop", "addresses": ["203.0.113.20"]},
    {"preference": 100, "host": "trap.mx.example.net", "role": "trap", "addresses": ["203.0.113.91"]},
]
OWN = [
    {"preference": 10, "host": "nolist.mx.example.net", "role": "dead", "addresses": ["203.0.113.10"]},
    {"preference": 20, "host": "mail.brand.example", "addresses": ["203.0.113.30"]},
]


def test_the_union_in_order_of_first_appearance():
    targets = domains_targets([{"zone": "example.com"}, {"zone": "brand.example", "layout": OWN}, {"zone": "example.org"}], SHARED)
    assert targets == {
        "dead": ["203.0.113.10"],
        "live": ["203.0.113.20", "2001:db8::20", "203.0.113.30"],
        "primary": ["203.0.113.20", "2001:db8::20", "203.0.113.30"],
        "backstop": ["203.0.113.20"],
        "trap": ["203.0.113.91"],
        "trap_host": ["203.0.113.20", "2001:db8::20", "203.0.113.30"],
        "domains": 3,
    }


def test_every_problem_of_every_domain_is_named_at_once():
    bad_layout = [{"preference": 10, "host": "mail.example.com", "role": "dead", "addresses": ["203.0.113.10"]}]
    with pytest.raises(LayoutError) as error:
        domains_targets([
            {"zone": "example.com"},
            {"zone": "Example.COM."},
            {"zone": "example.org", "name": "mail.example.net"},
            {"zone": "bad.example", "layout": bad_layout},
            {"zone": "odd.example", "colour": "red"},
            "example.net",
            {"zone": "line\nbreak.example"},
        ], SHARED)
    message = str(error.value)
    assert message.startswith("6 problem(s) in mx_domains; nothing was changed: ")
    assert "mx_domains[2] (example.com.): zone example.com. is listed twice" in message
    assert "mx_domains[3] (example.org.): the MX owner mail.example.net. is not inside the zone" in message
    assert "mx_domains[4] (bad.example.): " in message
    assert "mx_domains[5] (odd.example.) has unknown keys colour" in message
    assert "mx_domains[6] must be a mapping with zone" in message
    assert "mx_domains[7].zone" in message and "line\nbreak" not in message


def test_a_bad_shared_layout_is_named_once_however_many_domains_use_it():
    bad = [{"preference": 10, "host": "nolist.mx.example.net", "role": "dead", "addresses": ["203.0.113.10"]}]
    with pytest.raises(LayoutError) as error:
        domains_targets([{"zone": "d%d.example" % number} for number in range(100)], bad)
    assert str(error.value).count("mx_layout (the layout of every domain without its own)") == 1
    assert str(error.value).startswith("1 problem(s)")


def test_an_address_dead_in_one_domain_and_live_in_another_is_refused():
    live_there = [
        {"preference": 10, "host": "nolist.brand.example", "role": "dead", "addresses": ["203.0.113.99"]},
        {"preference": 20, "host": "mail.brand.example", "addresses": ["203.0.113.10"]},
    ]
    with pytest.raises(LayoutError, match=r"address 203\.0\.113\.10 is live in brand\.example\. but dead in example\.com\."):
        domains_targets([{"zone": "example.com"}, {"zone": "brand.example", "layout": live_there}], SHARED)


def test_a_trap_address_live_elsewhere_is_refused_and_primary_with_backstop_is_fine():
    trap_live = [
        {"preference": 10, "host": "nolist.brand.example", "role": "dead", "addresses": ["203.0.113.99"]},
        {"preference": 20, "host": "mail.brand.example", "addresses": ["203.0.113.91"]},
    ]
    with pytest.raises(LayoutError, match=r"address 203\.0\.113\.91 is "):
        domains_targets([{"zone": "example.com"}, {"zone": "brand.example", "layout": trap_live}], SHARED)
    # The primary's address is the backstop's in every domain: one role for the firewall.
    assert domains_targets([{"zone": "example.com"}, {"zone": "example.org"}], SHARED)["domains"] == 2


def test_problems_are_bounded_in_the_message():
    with pytest.raises(LayoutError) as error:
        domains_targets([{"zone": "d%d.example" % number, "x": 1} for number in range(50)], SHARED)
    assert str(error.value).startswith("50 problem(s)") and str(error.value).endswith("; and 30 more")


def test_no_layout_anywhere():
    with pytest.raises(LayoutError, match=r"mx_domains\[1\] \(example\.com\.\) has no layout, and mx_layout gives none"):
        domains_targets([{"zone": "example.com"}], None)
    with pytest.raises(LayoutError, match="non-empty list"):
        domains_targets([], SHARED)


def test_domains_without_compares_normalised_zones():
    domains = [{"zone": "example.com"}, {"zone": "Example.ORG"}, {"zone": "example.net."}]
    assert domains_without(domains, ["example.org.", "EXAMPLE.net"]) == [{"zone": "example.com"}]
    assert domains_without(domains, []) == domains
