"""The rfc2136_record_set module run through main(), with the provider class replaced (no DNS traffic)."""

import json

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import Provider, ProviderError
from ansible_collections.mailsec.mx.plugins.modules import rfc2136_record_set
from tests.module_main import run_main

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="
MX = {"name": "example.test", "type": "MX", "ttl": 300, "values": ["10 mail.example.test"]}
MAIL_A = {"name": "mail.example.test", "type": "A", "ttl": 300, "values": ["198.51.100.20"]}


class FakeProvider(Provider):
    """Records how the module built it and what it was asked; holds no RRsets, or fails with ``error``."""

    instances = []
    error = None  # set on the class to make read() fail

    def __init__(self, *args):
        self.args = args
        self.reads = []
        self.applied = []
        FakeProvider.instances.append(self)

    def read(self, zone, keys):
        self.reads.append(zone)
        if self.error:
            raise ProviderError(self.error)
        return {key: None for key in keys}

    def apply(self, zone, changes, unchanged=()):
        self.applied.append((zone, [change.key for change in changes]))


@pytest.fixture
def fake(monkeypatch):
    FakeProvider.instances = []
    monkeypatch.setattr(rfc2136_record_set, "Rfc2136Provider", FakeProvider)
    monkeypatch.delenv("MAILSEC_TSIG_SECRET", raising=False)
    return FakeProvider


def run_module(capsys, **args):
    return run_main(rfc2136_record_set, capsys, **args)


def test_key_name_needs_a_secret(fake, capsys):
    result = run_module(capsys, server="127.0.0.1", key_name="mailsec-key", zone="example.test", record_sets=[MAIL_A])
    assert result["failed"] is True
    assert result["msg"] == "missing parameter(s) required by 'key_name': key_secret"
    assert fake.instances == []


def test_secret_from_the_environment(fake, capsys, monkeypatch):
    monkeypatch.setenv("MAILSEC_TSIG_SECRET", SECRET)
    result = run_module(capsys, server="ns1.example.test", key_name="mailsec-key", zone="example.test", record_sets=[MAIL_A, MX])
    assert result["changed"] is True
    (provider,) = fake.instances
    assert provider.args == ("ns1.example.test", 53, "tcp", "mailsec-key", SECRET, "hmac-sha256", 10.0)
    assert provider.applied == [("example.test.", [("mail.example.test.", "A"), ("example.test.", "MX")])]
    assert SECRET not in json.dumps(result)


def test_options_reach_the_provider(fake, capsys):
    run_module(capsys, server="127.0.0.1", port=5353, protocol="udp", key_name="k", key_secret=SECRET, key_algorithm="hmac-sha512",
               timeout=1.5, zone="example.test", record_sets=[MAIL_A])
    assert fake.instances[0].args == ("127.0.0.1", 5353, "udp", "k", SECRET, "hmac-sha512", 1.5)


@pytest.mark.parametrize("record_sets, message", [
    ([MAIL_A, dict(MAIL_A, name="mail.other.test")], "record_sets[2]: name mail.other.test. is not inside zone example.test.; nothing was sent"),
    ([MAIL_A, dict(MX, values=["mail.example.test"])],
     "record_sets[2] (example.test. MX): MX value 'mail.example.test' must be 'preference exchange', preference 0..65535; nothing was sent"),
    ([MAIL_A, dict(MAIL_A, values=["2001:db8::1"])],
     "record_sets[2] (mail.example.test. A): A value '2001:db8::1' is not an IPv4 address; nothing was sent"),
    ([MAIL_A, dict(MAIL_A, values=[])], "record_sets[2]: values is empty; use state=absent to remove mail.example.test. A; nothing was sent"),
])
def test_bad_record_set_reads_nothing(fake, capsys, record_sets, message):
    result = run_module(capsys, server="127.0.0.1", key_name="k", key_secret=SECRET, zone="example.test", record_sets=record_sets)
    assert result["failed"] is True
    assert result["msg"] == "zone example.test: " + message
    # The provider is built only once every input is valid: no name lookup, no read.
    assert fake.instances == []


def test_bad_second_zone_reads_nothing(fake, capsys):
    zones = [{"zone": "example.test", "record_sets": [MAIL_A]}, {"zone": "other.test", "record_sets": [dict(MAIL_A, ttl="soon")]}]
    result = run_module(capsys, server="127.0.0.1", zones=zones)
    assert result["msg"].startswith("zone other.test: record_sets[1]: ")
    assert result["msg"].endswith("; nothing was sent")
    assert fake.instances == []


def test_unsupported_type_is_refused_by_the_argument_spec(fake, capsys):
    result = run_module(capsys, server="127.0.0.1", zone="example.test", record_sets=[dict(MAIL_A, type="TXT")])
    assert result["failed"] is True
    assert "TXT" in result["msg"] and "record_sets" in result["msg"]
    assert fake.instances == []


def test_provider_error_names_the_zone(fake, capsys, monkeypatch):
    monkeypatch.setattr(fake, "error", "no answer")
    result = run_module(capsys, server="127.0.0.1", zone="example.test", record_sets=[MAIL_A])
    assert (result["failed"], result["msg"], result["changed"]) == (True, "zone example.test.: no answer", False)


def test_check_mode_and_diff(fake, capsys):
    result = run_module(capsys, server="127.0.0.1", zone="example.test", record_sets=[MAIL_A], _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": "", "after": "mail.example.test. 300 IN A 198.51.100.20\n"}
    assert fake.instances[0].applied == []


def test_bad_secret_fails_before_anything_is_sent(capsys, monkeypatch):
    monkeypatch.delenv("MAILSEC_TSIG_SECRET", raising=False)
    result = run_module(capsys, server="127.0.0.1", key_name="k", key_secret="not base64!", zone="example.test", record_sets=[MAIL_A])
    assert result["failed"] is True
    assert result["msg"].startswith("key_secret is not valid base64 (")
    assert result["msg"].endswith("; nothing was sent")


@pytest.mark.parametrize("args, message", [
    ({"key_name": "mailsec..key", "key_secret": SECRET}, "key_name 'mailsec..key' is not a valid DNS name ("),
    ({"key_name": "mailsec-key\n", "key_secret": SECRET}, "key_name: 'mailsec-key\\n' contains a control character (U+000A at offset 11)"),
    ({"server": "127.0.0.1\r\n"}, "server: '127.0.0.1\\r\\n' contains a control character (U+000D at offset 9)"),
    ({"key_name": "mailsec-key", "key_secret": SECRET[:-2] + "\n"}, "key_secret is not valid base64 ("),
])
def test_bad_connection_options_fail_before_anything_is_sent(capsys, monkeypatch, args, message):
    import socket

    monkeypatch.delenv("MAILSEC_TSIG_SECRET", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("the server was looked up"))
    options = {"server": "127.0.0.1", "zone": "example.test", "record_sets": [MAIL_A]}
    options.update(args)
    result = run_module(capsys, **options)
    assert result["failed"] is True
    assert message in result["msg"]
    assert result["msg"].endswith("; nothing was sent")
