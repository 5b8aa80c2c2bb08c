"""mx_audit's forward-confirmed reverse DNS against a real BIND serving reverse and forward zones."""

import pytest

from ansible_collections.mailsec.mx.plugins.modules import mx_audit
from tests.integration.dns import servers
from tests.module_main import run_main

T = 1_780_000_000.0
REVERSE4 = "100.51.198.in-addr.arpa."
REVERSE6 = "0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
FORWARD = "example.test."
ZONE_TEXTS = {
    REVERSE4: "$TTL 300\n@ SOA ns.example.test. h.example.test. 1 3600 600 86400 300\n@ NS ns.example.test.\n"
              "50 PTR printer.example.test.\n62 PTR dyn-62.example.test.\n",
    REVERSE6: "$TTL 300\n@ SOA ns.example.test. h.example.test. 1 3600 600 86400 300\n@ NS ns.example.test.\n"
              "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 PTR cron.example.test.\n",
    FORWARD: "$TTL 300\n@ SOA ns.example.test. h.example.test. 1 3600 600 86400 300\n@ NS ns.example.test.\n"
             "ns A 127.0.0.1\nprinter A 198.51.100.50\ndyn-62 A 198.51.100.99\ncron AAAA 2001:db8::5\n",
}


@pytest.fixture(name="bind")
def fixture_bind(tmp_path):
    reason = servers.missing("bind")
    if reason:
        pytest.fail(reason)
    server = servers.start_bind(tmp_path / "bind", list(ZONE_TEXTS), zone_texts=ZONE_TEXTS)
    yield server
    server.stop()


def test_names_are_confirmed_forward_or_not(bind, capsys):
    sources = [{"source": address, "first_seen": T, "last_seen": T, "count": 1, "days": 1}
               for address in ("198.51.100.50", "198.51.100.62", "198.51.100.77", "2001:db8::5", "2001:db8:9::/64")]
    result = run_main(mx_audit, capsys, refused=[{"host": "dead", "sources": sources}], arrivals=[], return_sources=True,
                      resolvers=[servers.ADDRESS], resolver_port=bind.port, dns_timeout=5)
    found = {item["source"]: (item["ptr_status"], item["ptr"]) for item in result["sources"]}
    assert found == {
        "198.51.100.50": ("confirmed", "printer.example.test"),
        "198.51.100.62": ("unconfirmed", None),          # its name points elsewhere
        "198.51.100.77": ("none", None),                 # no PTR at all
        "2001:db8::5": ("confirmed", "cron.example.test"),
        "2001:db8:9::/64": ("network", None),            # a /64 has no one name
    }
    # Confirmed names rank first among the candidates (the rest alike: IPv4 before IPv6).
    shown = [line.split(":")[0] if line[0] == "1" else line.split(" ")[0] for line in result["summary"][1:3]]
    assert shown == ["198.51.100.50 (printer.example.test)", "2001:db8::5"]
