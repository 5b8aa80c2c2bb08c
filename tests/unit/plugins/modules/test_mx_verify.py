"""The mx_verify module: DNS lookups first, then probes in MX order (fake lookup and probe), and input refused before any traffic."""

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._layout import ordered_layout
from ansible_collections.mailsec.mx.plugins.modules import mx_verify
from tests.module_main import run_main

LAYOUT = [
    {"preference": 90, "host": "trap.example.test", "role": "trap", "addresses": ["203.0.113.91"]},
    {"preference": 20, "host": "mail.example.test", "addresses": ["203.0.113.22", "203.0.113.21"]},
    {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": ["203.0.113.10"]},
    {"preference": 95, "host": "backstop.example.test", "role": "backstop", "addresses": ["203.0.113.21"]},
]
OUTCOMES = {"203.0.113.10": "refused", "203.0.113.21": "greeting", "203.0.113.22": "greeting", "203.0.113.91": "greeting"}


class FakeLookup:
    """Answers from the layout, addresses sorted as a DNS server would give them; records every question in ``log``."""

    def __init__(self, log):
        self.log = log

    def values(self, name, rtype):
        self.log.append(("lookup", name, rtype))
        return sorted("%d %s." % (record["preference"], record["host"]) for record in LAYOUT)

    def addresses(self, name, zone):
        self.log.append(("lookup", name, "A+AAAA"))
        record = next(record for record in LAYOUT if record["host"] + "." == name)
        return sorted(record["addresses"]), []


def test_lookups_first_then_probes_one_at_a_time_in_mx_order():
    log = []

    def connect(address):
        log.append(("probe", address))
        return {"address": address, "outcome": OUTCOMES[address], "latency": 0.0, "greeting": ""}

    params = {"layout": LAYOUT, "probe": True, "timeout": 5.0, "source": None}
    results = mx_verify.verify(params, ordered_layout(LAYOUT), "example.test.", "example.test.", FakeLookup(log), connect)
    probes = [entry[1] for entry in log if entry[0] == "probe"]
    assert probes == ["203.0.113.10", "203.0.113.22", "203.0.113.21", "203.0.113.91", "203.0.113.21"]
    first_probe = log.index(("probe", "203.0.113.10"))
    assert all(entry[0] == "lookup" for entry in log[:first_probe]) and all(entry[0] == "probe" for entry in log[first_probe:])
    assert all(result["ok"] for result in results), results


def test_without_probe_nothing_is_connected_to():
    def connect(address):
        raise AssertionError("probed %s" % address)

    params = {"layout": LAYOUT, "probe": False, "timeout": 5.0, "source": None}
    results = mx_verify.verify(params, ordered_layout(LAYOUT), "example.test.", "example.test.", FakeLookup([]), connect)
    assert not [result for result in results if result["check"].startswith("smtp-")]


@pytest.mark.parametrize("args, message", [
    ({"nameservers": ["127.0.0.1\n"]}, r"nameservers[1]: '127.0.0.1\n' contains a control character (U+000A at offset 9); remove it"),
    ({"nameservers": ["192.0.2.53", "ns1.example.test"]}, "nameservers[2]: 'ns1.example.test' is not an IP address"),
    ({"zone": "example.test\r"}, r"the layout or name is invalid: zone: 'example.test\r' contains a control character"),
    ({"name": "mx\x00.example.test"}, r"the layout or name is invalid: name: 'mx\x00.example.test' contains a control character"),
])
def test_hostile_input_is_refused_before_any_lookup(capsys, monkeypatch, args, message):
    def no_traffic(*args, **kwargs):
        raise AssertionError("traffic")

    monkeypatch.setattr(mx_verify, "Lookup", no_traffic)
    monkeypatch.setattr(mx_verify, "probe", no_traffic)
    options = {"layout": LAYOUT, "zone": "example.test", "nameservers": ["192.0.2.53"]}
    options.update(args)
    result = run_main(mx_verify, capsys, **options)
    assert result["failed"] is True
    assert message in result["msg"]


def test_a_trap_is_not_probed_when_the_primary_was_not_looked_up():
    # The primary is outside the zone and the name servers do not answer for it: the secondary live MX greets,
    # but the trap host's own MX (the primary) was never connected to, so the trap is left alone.
    layout = [
        {"preference": 10, "host": "mail.other.test", "addresses": ["198.51.100.10"]},
        {"preference": 20, "host": "mx2.example.test", "addresses": ["203.0.113.20"]},
        {"preference": 90, "host": "trap.example.test", "role": "trap", "addresses": ["203.0.113.91"]},
    ]

    class Lookup:
        def values(self, name, rtype):
            return sorted("%d %s." % (record["preference"], record["host"]) for record in layout)

        def addresses(self, name, zone):
            if not name.endswith(zone):
                return None, []
            return next(record["addresses"] for record in layout if record["host"] + "." == name), []

    probed = []

    def connect(address):
        probed.append(address)
        return {"address": address, "outcome": "greeting", "latency": 0.0, "greeting": ""}

    params = {"layout": layout, "probe": True, "timeout": 5.0, "source": None}
    results = mx_verify.verify(params, ordered_layout(layout), "example.test.", "example.test.", Lookup(), connect)
    assert probed == ["203.0.113.20"]
    assert [result["observed"] for result in results if result["check"] == "smtp-trap"] == ["not probed"]
