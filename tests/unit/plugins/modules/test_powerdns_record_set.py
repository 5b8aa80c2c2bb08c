"""The powerdns_record_set module run through main(), with the provider class replaced (no HTTP traffic)."""

import json

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _powerdns
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import Provider
from ansible_collections.mailsec.mx.plugins.modules import powerdns_record_set
from tests.module_main import run_main

API_KEY = "the-api-key-from-pdns-conf"
MX = {"name": "example.test", "type": "MX", "ttl": 300, "values": ["10 mail.example.test"]}
MAIL_A = {"name": "mail.example.test", "type": "A", "ttl": 300, "values": ["198.51.100.20"]}


class FakeProvider(Provider):
    """Records how the module built it and what it was asked; the zone holds nothing."""

    instances = []

    def __init__(self, *args):
        self.args = args
        self.reads = []
        self.applied = []
        FakeProvider.instances.append(self)

    def read(self, zone, keys):
        self.reads.append(zone)
        return {key: None for key in keys}

    def apply(self, zone, changes, unchanged=()):
        self.applied.append((zone, [change.key for change in changes]))


@pytest.fixture
def fake(monkeypatch):
    FakeProvider.instances = []
    monkeypatch.setattr(powerdns_record_set, "PowerDnsProvider", FakeProvider)
    monkeypatch.delenv("MAILSEC_POWERDNS_API_KEY", raising=False)
    return FakeProvider


def run_module(capsys, **args):
    return run_main(powerdns_record_set, capsys, **args)


def test_api_key_is_required(fake, capsys):
    result = run_module(capsys, api_url="http://127.0.0.1:8081", zone="example.test", record_sets=[MAIL_A])
    assert result["failed"] is True
    assert result["msg"] == "missing required arguments: api_key"
    assert fake.instances == []


def test_api_key_from_the_environment(fake, capsys, monkeypatch):
    monkeypatch.setenv("MAILSEC_POWERDNS_API_KEY", API_KEY)
    result = run_module(capsys, api_url="http://127.0.0.1:8081", zone="example.test", record_sets=[MX, MAIL_A])
    assert result["changed"] is True
    (provider,) = fake.instances
    assert provider.args == ("http://127.0.0.1:8081", API_KEY, "localhost", 10.0, True, False)
    assert provider.applied == [("example.test.", [("mail.example.test.", "A"), ("example.test.", "MX")])]
    assert API_KEY not in json.dumps(result)


def test_options_reach_the_provider(fake, capsys):
    run_module(capsys, api_url="https://pdns.example.test", api_key=API_KEY, server_id="ns1", timeout=2.5, validate_certs=False,
               zone="example.test", record_sets=[MAIL_A])
    assert fake.instances[0].args == ("https://pdns.example.test", API_KEY, "ns1", 2.5, False, False)


@pytest.mark.parametrize("record_sets, message", [
    ([MAIL_A, dict(MAIL_A, name="mail.other.test")], "record_sets[2]: name mail.other.test. is not inside zone example.test.; nothing was sent"),
    ([MAIL_A, dict(MX, values=["70000 mail.example.test"])],
     "record_sets[2] (example.test. MX): MX value '70000 mail.example.test' must be 'preference exchange', preference 0..65535; nothing was sent"),
    ([MAIL_A, MAIL_A], "record_sets[2]: mail.example.test. A is listed twice; give one entry with all its values; nothing was sent"),
])
def test_bad_record_set_reads_nothing(fake, capsys, record_sets, message):
    result = run_module(capsys, api_url="http://127.0.0.1:8081", api_key=API_KEY, zone="example.test", record_sets=record_sets)
    assert result["failed"] is True
    assert result["msg"] == "zone example.test: " + message
    assert fake.instances == []


def test_zone_and_zones_together(fake, capsys):
    result = run_module(capsys, api_url="http://127.0.0.1:8081", api_key=API_KEY, zone="example.test", record_sets=[MAIL_A],
                        zones=[{"zone": "other.test", "record_sets": []}])
    assert result["msg"] == "give either zones, or zone with record_sets, not both; nothing was sent"
    assert all(not provider.reads for provider in fake.instances)


def test_check_mode_never_applies(fake, capsys):
    result = run_module(capsys, api_url="http://127.0.0.1:8081", api_key=API_KEY, zone="example.test", record_sets=[MAIL_A],
                        _ansible_check_mode=True)
    assert result["changed"] is True
    assert result["changes"][0]["after"]["values"] == ["198.51.100.20"]
    assert fake.instances[0].applied == []


def test_real_provider_error_is_a_clean_failure(capsys, monkeypatch):
    def refused(*args, **kwargs):
        raise OSError(111, "Connection refused")
    monkeypatch.setattr(_powerdns, "open_url", refused)
    result = run_module(capsys, api_url="http://127.0.0.1:8081", api_key=API_KEY, zone="example.test", record_sets=[MAIL_A])
    assert result["failed"] is True
    assert result["msg"] == ("cannot reach the PowerDNS API at http://127.0.0.1:8081/api/v1/servers/localhost/zones/: "
                             "[Errno 111] Connection refused")


def test_plain_http_off_loopback_needs_allow_insecure_http(capsys, monkeypatch):
    def no_request(*args, **kwargs):
        raise AssertionError("a request was sent")

    monkeypatch.setattr(_powerdns, "open_url", no_request)
    result = run_module(capsys, api_url="http://pdns.example.test:8081", api_key=API_KEY, zone="example.test", record_sets=[MAIL_A])
    assert result["failed"] is True
    assert result["msg"].startswith("api_url 'http://pdns.example.test:8081' is plain http to pdns.example.test, not a loopback host")
    assert result["msg"].endswith("set allow_insecure_http=true if you accept the risk; nothing was sent")


def test_allow_insecure_http_reaches_the_provider(fake, capsys):
    run_module(capsys, api_url="http://pdns.example.test:8081", api_key=API_KEY, allow_insecure_http=True, zone="example.test",
               record_sets=[MAIL_A])
    assert fake.instances[0].args == ("http://pdns.example.test:8081", API_KEY, "localhost", 10.0, True, True)
