"""The route53_record_set module run through main(): options and aliases reaching the provider, what is refused before
any request, and secrets kept out of the output. The provider class is replaced, or its client never reaches a network."""

import json

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _route53
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import Provider, ProviderError
from ansible_collections.mailsec.mx.plugins.modules import route53_record_set
from tests.integration.dns.servers import free_port
from tests.module_main import run_main

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
MX = {"name": "example.test", "type": "MX", "ttl": 300, "values": ["10 mail.example.test"]}
MAIL_A = {"name": "mail.example.test", "type": "A", "ttl": 300, "values": ["198.51.100.20"]}
DEFAULTS = {"private_zone": False, "access_key": None, "secret_key": None, "session_token": None, "profile": None, "region": None,
            "endpoint_url": None, "validate_certs": True, "wait": True, "wait_timeout": 300}


@pytest.fixture(autouse=True)
def no_aws_setup(monkeypatch, tmp_path):
    """No credentials, config or metadata service from the machine."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class FakeProvider(Provider):
    """Records how the module built it and what it was asked; the zones hold nothing."""

    instances = []
    failure = None

    def __init__(self, zone_ids, **options):
        self.zone_ids = zone_ids
        self.options = options
        self.applied = []
        FakeProvider.instances.append(self)

    def read(self, zone, keys):
        if FakeProvider.failure:
            raise ProviderError(FakeProvider.failure)
        return {key: None for key in keys}

    def apply(self, zone, changes, unchanged=()):
        self.applied.append((zone, [change.key for change in changes]))


@pytest.fixture(name="fake")
def fixture_fake(monkeypatch):
    FakeProvider.instances = []
    FakeProvider.failure = None
    monkeypatch.setattr(route53_record_set, "Route53Provider", FakeProvider)
    return FakeProvider


@pytest.fixture(name="no_session")
def fixture_no_session(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a boto3 session was made")
    monkeypatch.setattr(_route53.boto3.session, "Session", refuse)


def run(capsys, **args):
    return run_main(route53_record_set, capsys, **args)


def test_defaults_reach_the_provider(fake, capsys):
    result = run(capsys, zone="example.test", record_sets=[MX, MAIL_A])
    assert result["changed"] is True
    (provider,) = fake.instances
    assert provider.zone_ids == {"example.test.": None}
    assert provider.options == DEFAULTS
    assert provider.applied == [("example.test.", [("mail.example.test.", "A"), ("example.test.", "MX")])]


def test_options_and_amazon_aws_aliases_reach_the_provider(fake, capsys):
    result = run(capsys, zone="example.test", record_sets=[MAIL_A], aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=SECRET,
                 aws_session_token=TOKEN, aws_region="eu-west-1", aws_endpoint_url="https://127.0.0.1:5443", validate_certs=False,
                 hosted_zone_id="/hostedzone/Z0EXAMPLE", private_zone=True, wait=False, wait_timeout=30)
    assert result["changed"] is True
    (provider,) = fake.instances
    assert provider.zone_ids == {"example.test.": "/hostedzone/Z0EXAMPLE"}
    assert provider.options == dict(DEFAULTS, access_key="AKIDEXAMPLE", secret_key=SECRET, session_token=TOKEN, region="eu-west-1",
                                    endpoint_url="https://127.0.0.1:5443", validate_certs=False, private_zone=True, wait=False, wait_timeout=30)
    assert SECRET not in json.dumps(result) and TOKEN not in json.dumps(result)


def test_short_aliases_and_profile(fake, capsys):
    run(capsys, zone="example.test", record_sets=[MAIL_A], aws_access_key="AKIDEXAMPLE", aws_secret_key=SECRET)
    run(capsys, zone="example.test", record_sets=[MAIL_A], aws_profile="dns-admin")
    assert [(provider.options["access_key"], provider.options["secret_key"], provider.options["profile"]) for provider in fake.instances] == [
        ("AKIDEXAMPLE", SECRET, None), (None, None, "dns-admin")]


def test_hosted_zone_id_per_zones_entry(fake, capsys):
    zones = [{"zone": "example.test", "record_sets": [MX]},
             {"zone": "Other.Test.", "hosted_zone_id": "Z0OTHER", "record_sets": [dict(MX, name="other.test")]}]
    result = run(capsys, zones=zones)
    assert result["changed"] is True
    assert fake.instances[0].zone_ids == {"example.test.": None, "other.test.": "Z0OTHER"}
    assert [entry["zone"] for entry in result["zones"]] == ["example.test.", "other.test."]


@pytest.mark.parametrize("args, message", [
    ({"zones": [{"zone": "example.test", "record_sets": [MX]}], "hosted_zone_id": "Z0EXAMPLE"},
     "hosted_zone_id goes into each zones entry ({zone, hosted_zone_id, record_sets}), not beside zones; nothing was sent"),
    ({"zones": [{"zone": "example.test", "record_sets": [MX], "private_zone": True}]},
     "zones[1] has unknown keys private_zone (known: zone, record_sets, hosted_zone_id); nothing was sent"),
    ({"zone": "example.test", "record_sets": [MX], "access_key": "AKIDEXAMPLE"}, "parameters are required together: access_key, secret_key"),
    ({"zone": "example.test", "record_sets": [MX], "profile": "p", "access_key": "AKIDEXAMPLE", "secret_key": SECRET},
     "parameters are mutually exclusive: profile|access_key, profile|secret_key"),
    ({"zone": "example.test", "record_sets": [MX], "session_token": TOKEN},
     "missing parameter(s) required by 'session_token': access_key, secret_key"),
    ({"zone": "example.test", "record_sets": [MX, dict(MX, values=["70000 mail.example.test"])]},
     "zone example.test: record_sets[2] (example.test. MX): MX value '70000 mail.example.test' must be 'preference exchange', "
     "preference 0..65535; nothing was sent"),
])
def test_refused_before_the_provider_is_made(fake, capsys, args, message):
    result = run(capsys, **args)
    assert result["failed"] is True
    assert result["msg"] == message
    assert fake.instances == []
    assert SECRET not in json.dumps(result) and TOKEN not in json.dumps(result)


@pytest.mark.parametrize("args, message", [
    ({"hosted_zone_id": "Z0EXAMPLE\n"}, "hosted_zone_id: 'Z0EXAMPLE\\n' contains a control character (U+000A at offset 9); remove it; nothing was sent"),
    ({"hosted_zone_id": "Z0EXAMPLE/../../x"}, "hosted_zone_id 'Z0EXAMPLE/../../x' is not a Route 53 hosted zone id (letters and digits, "
                                              "as Z1D633PJN98FT9); nothing was sent"),
    ({"endpoint_url": "http://127.0.0.1:5000\nHost: x"}, "endpoint_url: 'http://127.0.0.1:5000\\nHost: x' contains a control character "
                                                         "(U+000A at offset 21); remove it; nothing was sent"),
    ({"profile": "dns-admin\r"}, "profile: 'dns-admin\\r' contains a control character (U+000D at offset 9); remove it; nothing was sent"),
    ({"region": "us-east-1\x00"}, "region: 'us-east-1\\x00' contains a control character (U+0000 at offset 9); remove it; nothing was sent"),
    ({"access_key": "AKID", "secret_key": SECRET + "\n"}, "secret_key contains a control character (or is not text); remove it; nothing was sent"),
    ({"access_key": "AKID", "secret_key": SECRET, "session_token": TOKEN + "\x85"},
     "session_token contains a control character (or is not text); remove it; nothing was sent"),
])
def test_hostile_options_are_refused_before_any_request(no_session, capsys, args, message):
    result = run(capsys, zone="example.test", record_sets=[MX], **args)
    assert result["failed"] is True
    assert result["msg"] == message
    assert SECRET not in json.dumps(result) and TOKEN not in json.dumps(result)


def test_check_mode_never_applies(fake, capsys):
    result = run(capsys, zone="example.test", record_sets=[MAIL_A], _ansible_check_mode=True)
    assert result["changed"] is True
    assert result["changes"][0]["after"]["values"] == ["198.51.100.20"]
    assert fake.instances[0].applied == []


def test_a_provider_failure_fails_the_task(fake, capsys):
    fake.failure = "no public hosted zone named example.test. in this AWS account"
    result = run(capsys, zone="example.test", record_sets=[MAIL_A])
    assert result["failed"] is True
    assert result["msg"] == "zone example.test.: no public hosted zone named example.test. in this AWS account"


def test_unreachable_endpoint_fails_cleanly_without_secrets(capsys):
    port = free_port()
    result = run(capsys, zone="example.test", record_sets=[MAIL_A], endpoint_url="http://127.0.0.1:%d" % port, access_key="AKIDEXAMPLE",
                 secret_key=SECRET, session_token=TOKEN)
    assert result["failed"] is True
    assert result["msg"] == ("cannot reach the Route 53 API at http://127.0.0.1:%d for ListHostedZonesByName: "
                             "[Errno 111] Connection refused" % port)
    assert SECRET not in json.dumps(result) and TOKEN not in json.dumps(result)


def test_without_boto3(monkeypatch, capsys):
    monkeypatch.setattr(route53_record_set, "boto3", None)
    result = run(capsys, zone="example.test", record_sets=[MAIL_A])
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to import the required Python library (boto3)")
