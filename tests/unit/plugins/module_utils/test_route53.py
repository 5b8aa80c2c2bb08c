"""The Route 53 provider with botocore's Stubber in place of the API: the exact requests, pagination, zone lookup,
error messages, and options refused before any request. No traffic leaves the process."""

import datetime

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from ansible_collections.mailsec.mx.plugins.module_utils import _route53
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import Change, ProviderError, RecordSet, RecordSetError, converge_zone, plan
from ansible_collections.mailsec.mx.plugins.module_utils._route53 import Route53Provider, bare_zone_id, unescape_name

ZONE = "example.test."
ZONE_ID = "Z0EXAMPLE0TEST"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
MX = RecordSet(ZONE, "MX", 300, ["10 nolist.example.test.", "20 mail.example.test."])
NOLIST_A = RecordSet("nolist.example.test.", "A", 300, ["203.0.113.10"])
NOLIST_AAAA = RecordSet("nolist.example.test.", "AAAA", 300, ["2001:db8::10"])
SUBMITTED = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.fixture(autouse=True)
def no_aws_setup(monkeypatch, tmp_path):
    """No credentials, config or metadata service from the machine: nothing may reach anything but the stub."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                 "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ROUTE_53"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class Clock:
    """Time that moves only when the provider sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def new_client():
    return boto3.client("route53", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=SECRET)


@pytest.fixture(name="stub")
def fixture_stub():
    client = new_client()
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def provider(stub, zone_ids=None, **options):
    options.setdefault("secret_key", SECRET)
    options.setdefault("clock", Clock().clock)
    return Route53Provider({ZONE: None} if zone_ids is None else zone_ids, client=stub.client, **options)


def zone_summary(name=ZONE, zone_id=ZONE_ID, private=False):
    return {"Id": "/hostedzone/" + zone_id, "Name": name, "CallerReference": "ref-" + zone_id, "Config": {"PrivateZone": private}}


def expect_zone_lookup(stub, *zones, truncated=None):
    answer = {"HostedZones": list(zones) or [zone_summary()], "IsTruncated": False, "MaxItems": "100", "DNSName": ZONE}
    if truncated:
        answer.update(IsTruncated=True, NextDNSName=truncated[0], NextHostedZoneId=truncated[1])
    stub.add_response("list_hosted_zones_by_name", answer, {"DNSName": ZONE, "MaxItems": "100"})


def rrset(name, rtype, ttl, *values, **extra):
    result = {"Name": name, "Type": rtype, "TTL": ttl, "ResourceRecords": [{"Value": value} for value in values]}
    result.update(extra)
    return result


def page(*rrsets, following=None):
    """One ListResourceRecordSets answer; ``following``: (NextRecordName, NextRecordType[, NextRecordIdentifier]) when truncated."""
    answer = {"ResourceRecordSets": list(rrsets), "IsTruncated": following is not None, "MaxItems": "300"}
    if following:
        answer.update(zip(("NextRecordName", "NextRecordType", "NextRecordIdentifier"), following))
    return answer


def expect_list(stub, start, answer, start_type=None, identifier=None, page_size="300"):
    params = {"HostedZoneId": ZONE_ID, "StartRecordName": start, "MaxItems": page_size}
    if start_type:
        params["StartRecordType"] = start_type
    if identifier:
        params["StartRecordIdentifier"] = identifier
    stub.add_response("list_resource_record_sets", answer, params)


def change_info(status="INSYNC", change_id="C0CHANGE"):
    return {"ChangeInfo": {"Id": "/change/" + change_id, "Status": status, "SubmittedAt": SUBMITTED}}


def expect_change(stub, changes, status="INSYNC"):
    stub.add_response("change_resource_record_sets", change_info(status),
                      {"HostedZoneId": ZONE_ID, "ChangeBatch": {"Comment": "mailsec.mx.route53_record_set", "Changes": changes}})


def create(record_set):
    return {"Action": "CREATE", "ResourceRecordSet": {"Name": record_set.name, "Type": record_set.type, "TTL": record_set.ttl,
                                                      "ResourceRecords": [{"Value": value} for value in record_set.values]}}


def delete(raw):
    return {"Action": "DELETE", "ResourceRecordSet": raw}


# --- names and ids ------------------------------------------------------------------------------------

@pytest.mark.parametrize("returned, ours", [
    ("\\052.example.test.", "*.example.test."),
    ("Mail.Example.Test.", "mail.example.test."),
    ("example.test", "example.test."),
    ("_dmarc.example.test.", "_dmarc.example.test."),
    ("a\\100b.example.test.", "a@b.example.test."),
])
def test_names_are_unescaped_and_lower_cased(returned, ours):
    assert unescape_name(returned) == ours


@pytest.mark.parametrize("given, bare", [("Z0EXAMPLE0TEST", "Z0EXAMPLE0TEST"), ("/hostedzone/Z0EXAMPLE0TEST", "Z0EXAMPLE0TEST")])
def test_hosted_zone_id_forms(given, bare):
    assert bare_zone_id(given) == bare


@pytest.mark.parametrize("given", ["", "Z12/../../hostedzone", "Z12 Z34", "/hostedzone/", "Z12?x=1", "/change/C123"])
def test_hosted_zone_id_that_is_not_one_is_refused(given):
    with pytest.raises(RecordSetError, match="is not a Route 53 hosted zone id"):
        bare_zone_id(given)


# --- options refused before any request -----------------------------------------------------------------

@pytest.fixture(name="no_session")
def fixture_no_session(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a boto3 session was made before every option was checked")
    monkeypatch.setattr(_route53.boto3.session, "Session", refuse)


@pytest.mark.parametrize("options, message", [
    ({"zone_ids": {ZONE: "Z123\n"}}, "hosted_zone_id: 'Z123\\n' contains a control character"),
    ({"zone_ids": {ZONE: "Z123/../x"}}, "hosted_zone_id 'Z123/../x' is not a Route 53 hosted zone id"),
    ({"endpoint_url": "http://127.0.0.1:5000\r\nX-Injected: 1"}, "endpoint_url: 'http://127.0.0.1:5000\\r\\nX-Injected: 1' contains a control character"),
    ({"endpoint_url": "ftp://route53.example.test"}, "endpoint_url 'ftp://route53.example.test' must be an http:// or https:// URL with a host"),
    ({"endpoint_url": "http://"}, "endpoint_url 'http://' must be an http:// or https:// URL with a host"),
    ({"profile": "dns\x00admin"}, "profile: 'dns\\x00admin' contains a control character"),
    ({"region": "us-east-1\n"}, "region: 'us-east-1\\n' contains a control character"),
    ({"region": "us east 1"}, "region 'us east 1' is not an AWS region name"),
    ({"access_key": "AKID\tEXAMPLE"}, "access_key: 'AKID\\tEXAMPLE' contains a control character"),
    ({"wait_timeout": -1}, "wait_timeout -1 must be a whole number of seconds"),
])
def test_bad_options_are_refused_before_any_request(no_session, options, message):
    zone_ids = options.pop("zone_ids", {ZONE: None})
    with pytest.raises(RecordSetError) as error:
        Route53Provider(zone_ids, **options)
    assert message in str(error.value)


@pytest.mark.parametrize("option", ["secret_key", "session_token"])
def test_a_secret_with_a_control_character_is_refused_without_showing_it(no_session, option):
    with pytest.raises(RecordSetError) as error:
        Route53Provider({ZONE: None}, access_key="AKIDEXAMPLE", **{option: "s3cr3t-value\n"})
    assert str(error.value) == "%s contains a control character (or is not text); remove it" % option
    assert "s3cr3t" not in str(error.value)


def test_region_is_boto3s_else_us_east_1(monkeypatch):
    assert Route53Provider({ZONE: None}).region == "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert Route53Provider({ZONE: None}).region == "eu-west-1"
    assert Route53Provider({ZONE: None}, region="eu-central-1").region == "eu-central-1"
    # Route 53 is global: the region only picks the partition (and so the endpoint).
    assert Route53Provider({ZONE: None}, region="eu-central-1").client.meta.endpoint_url == "https://route53.amazonaws.com"
    assert Route53Provider({ZONE: None}, region="cn-north-1").client.meta.endpoint_url == "https://route53.amazonaws.com.cn"


def test_explicit_credentials_endpoint_and_certificates_reach_the_client():
    route53 = Route53Provider({ZONE: None}, access_key="AKIDEXAMPLE", secret_key=SECRET, session_token=TOKEN,
                              endpoint_url="https://127.0.0.1:5443", validate_certs=False)
    credentials = route53.client._request_signer._credentials  # pylint: disable=protected-access
    assert (credentials.access_key, credentials.secret_key, credentials.token) == ("AKIDEXAMPLE", SECRET, TOKEN)
    assert route53.client.meta.endpoint_url == "https://127.0.0.1:5443"
    assert route53.client._endpoint.http_session._verify is False  # pylint: disable=protected-access


def test_a_profile_from_the_shared_files(monkeypatch, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text("[dns-admin]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = %s\n" % SECRET)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    route53 = Route53Provider({ZONE: None}, profile="dns-admin")
    assert route53.client._request_signer._credentials.access_key == "AKIDPROFILE"  # pylint: disable=protected-access
    with pytest.raises(RecordSetError, match=r"^profile 'nobody' is not in the AWS config or credentials files$"):
        Route53Provider({ZONE: None}, profile="nobody")


# --- finding the hosted zone -----------------------------------------------------------------------------

def test_public_zone_found_by_name_once(stub):
    expect_zone_lookup(stub, zone_summary(), zone_summary(zone_id="ZPRIVATE", private=True))
    route53 = provider(stub)
    assert route53.hosted_zone_id(ZONE) == ZONE_ID
    assert route53.hosted_zone_id(ZONE) == ZONE_ID  # no second request


def test_private_zone_found_by_name(stub):
    expect_zone_lookup(stub, zone_summary(zone_id="ZPUBLIC"), zone_summary(private=True))
    assert provider(stub, private_zone=True).hosted_zone_id(ZONE) == ZONE_ID


def test_no_zone_of_that_kind_names_the_other(stub):
    expect_zone_lookup(stub, zone_summary(zone_id="ZPRIVATE", private=True))
    with pytest.raises(ProviderError) as error:
        provider(stub).hosted_zone_id(ZONE)
    assert str(error.value) == ("no public hosted zone named example.test. in this AWS account (there is a private one, ZPRIVATE: "
                                "set private_zone=true, or give hosted_zone_id)")


def test_no_zone_at_all(stub):
    # Route 53 lists the zones from the name on: the next one is another zone.
    expect_zone_lookup(stub, zone_summary(name="example2.test.", zone_id="ZOTHER"))
    with pytest.raises(ProviderError, match=r"^no public hosted zone named example\.test\. in this AWS account$"):
        provider(stub).hosted_zone_id(ZONE)


def test_two_zones_of_one_kind_need_an_id(stub):
    expect_zone_lookup(stub, zone_summary(zone_id="ZFIRST"), zone_summary(zone_id="ZSECOND"))
    with pytest.raises(ProviderError) as error:
        provider(stub).hosted_zone_id(ZONE)
    assert str(error.value) == "2 public hosted zones are named example.test. (ZFIRST, ZSECOND): give hosted_zone_id to say which one"


def test_zone_lookup_follows_pages_while_the_name_goes_on(stub):
    expect_zone_lookup(stub, zone_summary(zone_id="ZPRIVATE", private=True), truncated=(ZONE, "ZNEXT"))
    stub.add_response("list_hosted_zones_by_name", {"HostedZones": [zone_summary(zone_id="ZNEXT"), zone_summary(name="f.test.", zone_id="ZF")],
                                                    "IsTruncated": True, "NextDNSName": "g.test.", "NextHostedZoneId": "ZG", "MaxItems": "100"},
                      {"DNSName": ZONE, "HostedZoneId": "ZNEXT", "MaxItems": "100"})
    assert provider(stub).hosted_zone_id(ZONE) == "ZNEXT"


def test_given_hosted_zone_id_is_checked_to_be_the_zone(stub):
    stub.add_response("get_hosted_zone", {"HostedZone": zone_summary(), "DelegationSet": {"NameServers": ["ns.example.test"]}}, {"Id": ZONE_ID})
    assert provider(stub, {ZONE: "/hostedzone/" + ZONE_ID}).hosted_zone_id(ZONE) == ZONE_ID

    stub.add_response("get_hosted_zone", {"HostedZone": zone_summary(name="example.org.")}, {"Id": "ZORG"})
    with pytest.raises(ProviderError, match=r"^hosted zone ZORG is example\.org\., not example\.test\.: check hosted_zone_id$"):
        provider(stub, {ZONE: "ZORG"}).hosted_zone_id(ZONE)


# --- read ---------------------------------------------------------------------------------------------

def test_a_small_zone_is_read_in_one_request(stub):
    expect_zone_lookup(stub)
    expect_list(stub, ZONE, page(
        rrset(ZONE, "MX", 300, "20 Mail.Example.Test", "10 nolist.example.test."),
        rrset(ZONE, "NS", 172800, "ns-1.awsdns-01.org."),
        rrset("mail.example.test.", "A", 60, "198.51.100.20"),
        rrset("nolist.example.test.", "A", 300, "203.0.113.10"),
        rrset("nolist.example.test.", "AAAA", 300, "2001:db8:0:0:0:0:0:10"),
        rrset("www.example.test.", "A", 300, "198.51.100.80"),
    ))
    # From the apex to the zone's end: names not on the page are absent, no further request.
    keys = [MX.key, NOLIST_A.key, NOLIST_AAAA.key, ("mail.example.test.", "AAAA"), ("backstop.example.test.", "A")]
    current = provider(stub).read(ZONE, keys)
    assert current == {MX.key: MX, NOLIST_A.key: NOLIST_A, NOLIST_AAAA.key: NOLIST_AAAA, ("mail.example.test.", "AAAA"): None,
                       ("backstop.example.test.", "A"): None}


def test_a_name_missing_from_a_page_that_did_not_start_at_it_gets_its_own_request(stub):
    # A big zone: the first page (from the apex) ends before nolist.example.test., which is asked for (never guessed absent);
    # mail.example.test. is complete on it (another name follows), so it is not asked for again.
    expect_zone_lookup(stub)
    expect_list(stub, ZONE, page(rrset(ZONE, "NS", 172800, "ns-1.awsdns-01.org."), rrset(ZONE, "SOA", 900, "ns-1. h. 1 7200 900 1209600 86400"),
                                 rrset("mail.example.test.", "A", 300, "198.51.100.20"), rrset("mail2.example.test.", "A", 300, "198.51.100.21"),
                                 following=("mail3.example.test.", "A")))
    expect_list(stub, "nolist.example.test.", page(rrset("www.example.test.", "A", 300, "198.51.100.80"), following=("x.example.test.", "A")),
                page_size="20")
    current = provider(stub).read(ZONE, [MX.key, NOLIST_A.key, ("mail.example.test.", "A")])
    assert current == {MX.key: None, NOLIST_A.key: None, ("mail.example.test.", "A"): RecordSet("mail.example.test.", "A", 300, ["198.51.100.20"])}


def test_pagination_while_the_name_goes_on(stub):
    # Many RRsets at the apex, two per page: the read follows NextRecordName/Type/Identifier until the name ends.
    expect_zone_lookup(stub)
    expect_list(stub, ZONE, page(rrset(ZONE, "A", 300, "198.51.100.1"), rrset(ZONE, "CAA", 300, '0 issue "ca.example"'),
                                 following=(ZONE, "MX")), page_size="2")
    expect_list(stub, ZONE, page(rrset(ZONE, "MX", 300, "10 nolist.example.test.", "20 mail.example.test."), rrset(ZONE, "NS", 300, "ns."),
                                 following=(ZONE, "SOA", "x")), start_type="MX", page_size="2")
    expect_list(stub, ZONE, page(rrset(ZONE, "SOA", 900, "ns. h. 1 2 3 4 5"), rrset("nolist.example.test.", "A", 300, "203.0.113.10"),
                                 following=("nolist.example.test.", "AAAA")), start_type="SOA", identifier="x", page_size="2")
    # nolist.example.test. was last on a truncated page: it may go on, so it is read from its own start.
    expect_list(stub, "nolist.example.test.", page(rrset("nolist.example.test.", "A", 300, "203.0.113.10"),
                                                   rrset("nolist.example.test.", "AAAA", 300, "2001:db8::10")), page_size="2")
    current = provider(stub, page_size=2).read(ZONE, [MX.key, NOLIST_A.key, NOLIST_AAAA.key])
    assert current == {MX.key: MX, NOLIST_A.key: NOLIST_A, NOLIST_AAAA.key: NOLIST_AAAA}


def test_the_same_page_again_stops_the_read(stub):
    expect_zone_lookup(stub)
    expect_list(stub, ZONE, page(rrset(ZONE, "A", 300, "198.51.100.1"), following=(ZONE, "MX")), page_size="1")
    expect_list(stub, ZONE, page(rrset(ZONE, "MX", 300, "10 a.example.test."), following=(ZONE, "MX")), start_type="MX", page_size="1")
    with pytest.raises(ProviderError, match="answered ListResourceRecordSets for example.test. with the same page again"):
        provider(stub, page_size=1).read(ZONE, [MX.key])


@pytest.mark.parametrize("extra, message", [
    ({"AliasTarget": {"HostedZoneId": "Z2", "DNSName": "lb.example.net.", "EvaluateTargetHealth": False}},
     "nolist.example.test. A is a Route 53 alias record (to lb.example.net.); this module replaces plain record sets only"),
    ({"SetIdentifier": "blue", "Weight": 10},
     "nolist.example.test. A has a routing policy (SetIdentifier, Weight 'blue': weighted, latency, failover, geolocation"),
    ({"SetIdentifier": "eu", "Region": "eu-west-1"}, "nolist.example.test. A has a routing policy (SetIdentifier, Region 'eu'"),
    ({"SetIdentifier": "primary", "Failover": "PRIMARY"}, "nolist.example.test. A has a routing policy (SetIdentifier, Failover 'primary'"),
    ({"TrafficPolicyInstanceId": "tp-1"}, "nolist.example.test. A belongs to the traffic policy instance tp-1"),
])
def test_what_cannot_be_replaced_exactly_fails_naming_it(stub, extra, message):
    expect_zone_lookup(stub)
    raw = rrset("nolist.example.test.", "A", 300, "203.0.113.10", **extra)
    if "AliasTarget" in extra:
        del raw["TTL"], raw["ResourceRecords"]
    expect_list(stub, ZONE, page(raw))
    with pytest.raises(ProviderError) as error:
        provider(stub).read(ZONE, [NOLIST_A.key])
    assert message in str(error.value)


# --- apply ---------------------------------------------------------------------------------------------

def read_then_apply(stub, current_page, wanted, state="present", **options):
    """Lookup, one read page, the plan; returns (provider, changes)."""
    expect_zone_lookup(stub)
    expect_list(stub, ZONE, current_page)
    route53 = provider(stub, **options)
    changes = plan(wanted, route53.read(ZONE, [record_set.key for record_set in wanted]), state)
    return route53, changes


def test_one_batch_deletes_exactly_what_was_read_then_creates(stub):
    # As read: values in Route 53's order and spelling, an escaped wildcard name. The DELETE repeats them byte for byte.
    mx_as_read = rrset(ZONE, "MX", 300, "20 Mail.Example.Test", "10 nolist.example.test.")
    wildcard_as_read = rrset("\\052.example.test.", "A", 60, "198.51.100.9")
    wildcard = RecordSet("*.example.test.", "A", 300, ["198.51.100.9"])
    new_mx = RecordSet(ZONE, "MX", 300, ["10 nolist.example.test."])
    route53, changes = read_then_apply(stub, page(mx_as_read, rrset(ZONE, "NS", 172800, "ns."), wildcard_as_read),
                                       [new_mx, NOLIST_A, wildcard])
    assert [change.key for change in changes] == [wildcard.key, NOLIST_A.key, MX.key]  # addresses before the MX
    expect_change(stub, [delete(wildcard_as_read), create(wildcard), create(NOLIST_A), delete(mx_as_read), create(new_mx)])
    route53.apply(ZONE, changes)


def test_absent_deletes_only(stub):
    as_read = rrset("nolist.example.test.", "A", 300, "203.0.113.10")
    route53, changes = read_then_apply(stub, page(as_read), [RecordSet(NOLIST_A.name, "A", 300, [])], state="absent")
    expect_change(stub, [delete(as_read)])
    route53.apply(ZONE, changes)


def test_without_a_matching_read_the_delete_is_the_plans_before(stub):
    # A plan from an older read: the DELETE carries what the plan saw, which real Route 53 refuses if the zone moved on.
    expect_zone_lookup(stub)
    stale = RecordSet(ZONE, "MX", 300, ["10 old.example.test."])
    expect_change(stub, [delete({"Name": ZONE, "Type": "MX", "TTL": 300, "ResourceRecords": [{"Value": "10 old.example.test."}]}), create(MX)])
    provider(stub).apply(ZONE, [Change(MX.key, stale, MX)])


def test_no_upsert_anywhere(stub):
    route53, changes = read_then_apply(stub, page(rrset(ZONE, "MX", 300, "10 a.example.test.")), [MX, NOLIST_A])
    actions = [change["Action"] for change in route53.change_batch(ZONE, changes)]
    assert actions == ["CREATE", "DELETE", "CREATE"]
    assert "UPSERT" not in actions


def test_waits_for_insync(stub):
    clock = Clock()
    route53, changes = read_then_apply(stub, page(), [NOLIST_A], clock=clock.clock, sleep=clock.sleep)
    expect_change(stub, [create(NOLIST_A)], status="PENDING")
    stub.add_response("get_change", change_info("PENDING"), {"Id": "C0CHANGE"})
    stub.add_response("get_change", change_info("INSYNC"), {"Id": "C0CHANGE"})
    route53.apply(ZONE, changes)
    assert clock.sleeps == []  # apply only submits; finish() waits
    route53.finish()
    assert clock.sleeps == [2.0, 2.0]
    route53.finish()  # nothing left to wait for: no GetChange (the stub fails on an unexpected call)


def test_wait_timeout_says_the_change_was_accepted(stub):
    clock = Clock()
    route53, changes = read_then_apply(stub, page(), [NOLIST_A], clock=clock.clock, sleep=clock.sleep, wait_timeout=3)
    expect_change(stub, [create(NOLIST_A)], status="PENDING")
    stub.add_response("get_change", change_info("PENDING"), {"Id": "C0CHANGE"})
    stub.add_response("get_change", change_info("PENDING"), {"Id": "C0CHANGE"})
    route53.apply(ZONE, changes)
    with pytest.raises(ProviderError) as error:
        route53.finish()
    assert str(error.value) == ("Route 53 accepted the change C0CHANGE, but it was still PENDING after wait_timeout=3 s; it goes on by "
                                "itself (aws route53 get-change --id C0CHANGE): run again later to confirm")
    assert clock.sleeps == [2.0, 1.0]


def test_no_wait(stub):
    route53, changes = read_then_apply(stub, page(), [NOLIST_A], wait=False)
    expect_change(stub, [create(NOLIST_A)], status="PENDING")
    route53.apply(ZONE, changes)  # no GetChange expected: the stub fails on an unexpected call
    route53.finish()


def test_a_batch_over_route53s_limits_is_not_sent(stub):
    many = RecordSet(NOLIST_A.name, "A", 300, ["10.0.%d.%d" % (number // 250, number % 250) for number in range(1001)])
    with pytest.raises(ProviderError, match=r"^the change holds 1001 values .* at most 1000 values and 32000 characters per batch: nothing was sent"):
        provider(stub).apply(ZONE, [Change(many.key, None, many)])


def test_converge_reads_twice_then_sends_one_batch(stub):
    as_read = rrset(ZONE, "MX", 300, "10 old.example.test.")
    expect_zone_lookup(stub)
    expect_list(stub, ZONE, page(as_read))
    expect_list(stub, ZONE, page(as_read))  # the fresh read right before the batch
    expect_change(stub, [delete(as_read), create(MX)])
    changes, _diff = converge_zone(provider(stub), ZONE, [MX], "present", False)
    assert [change.key for change in changes] == [MX.key]


def test_check_mode_sends_no_change(stub):
    expect_zone_lookup(stub)
    expect_list(stub, ZONE, page())
    changes, zone_diff = converge_zone(provider(stub), ZONE, [MX], "present", True)
    assert len(changes) == 1 and zone_diff["after"].startswith("example.test. 300 IN MX 10 nolist.example.test.")


# --- errors ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code, status, message", [
    ("InvalidClientTokenId", 403, "AWS refused the credentials for ListHostedZonesByName (InvalidClientTokenId: the message): check access_key, "
                                  "secret_key, session_token and profile"),
    ("SignatureDoesNotMatch", 403, "AWS refused the credentials for ListHostedZonesByName (SignatureDoesNotMatch: the message)"),
    ("ExpiredToken", 403, "AWS refused the credentials for ListHostedZonesByName (ExpiredToken: the message)"),
    ("AccessDenied", 403, "the credentials may not call ListHostedZonesByName (AccessDenied: the message): their IAM policy must allow "
                          "route53:ListHostedZonesByName, route53:GetHostedZone, route53:ListResourceRecordSets, route53:ChangeResourceRecordSets, "
                          "route53:GetChange"),
    ("Throttling", 400, "Route 53 throttled ListHostedZonesByName (Throttling: the message) after retries: it takes 5 requests per second"),
    ("InvalidInput", 400, "Route 53 answered ListHostedZonesByName with InvalidInput: the message"),
    ("", 403, "AWS refused ListHostedZonesByName with HTTP 403 and no error code: check the credentials"),
])
def test_lookup_errors_say_what_to_check(stub, code, status, message):
    stub.add_client_error("list_hosted_zones_by_name", service_error_code=code, service_message="the message" if code else "",
                          http_status_code=status)
    with pytest.raises(ProviderError) as error:
        provider(stub).hosted_zone_id(ZONE)
    assert str(error.value).startswith(message)


def test_unknown_hosted_zone_id(stub):
    stub.add_client_error("get_hosted_zone", service_error_code="NoSuchHostedZone", service_message="No hosted zone found with ID: ZNONE",
                          http_status_code=404)
    with pytest.raises(ProviderError) as error:
        provider(stub, {ZONE: "ZNONE"}).hosted_zone_id(ZONE)
    assert str(error.value) == ("Route 53 has no such hosted zone (NoSuchHostedZone: No hosted zone found with ID: ZNONE): "
                                "check hosted_zone_id and the account")


@pytest.mark.parametrize("code, message", [
    ("InvalidChangeBatch", "Route 53 refused the change batch (InvalidChangeBatch: [Tried to delete resource record set [name='example.test.', "
                           "type='MX'] but the values provided do not match the current values]): nothing was changed. If a record set to delete "
                           "was not found or did not match, someone changed the zone since it was read: run again"),
    ("PriorRequestNotComplete", "Route 53 throttled ChangeResourceRecordSets (PriorRequestNotComplete: [Tried to delete resource record set "),
    ("AccessDenied", "the credentials may not call ChangeResourceRecordSets (AccessDenied: "),
])
def test_a_refused_batch_changed_nothing(stub, code, message):
    as_read = rrset(ZONE, "MX", 300, "10 old.example.test.")
    route53, changes = read_then_apply(stub, page(as_read), [MX])
    stub.add_client_error("change_resource_record_sets", service_error_code=code, http_status_code=400,
                          service_message="[Tried to delete resource record set [name='example.test.', type='MX'] but the values provided "
                                          "do not match the current values]")
    with pytest.raises(ProviderError) as error:
        route53.apply(ZONE, changes)
    assert str(error.value).startswith(message)
    assert "nothing was changed" in str(error.value)


class BrokenClient:
    """Raises ``error`` on every call, as botocore does when the network fails."""

    def __init__(self, error):
        self.error = error

    def __getattr__(self, name):
        def call(**params):
            raise self.error
        return call


@pytest.mark.parametrize("error, operation, message", [
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9/", error=ConnectionRefusedError(111, "Connection refused")),
     "ListHostedZonesByName", "cannot reach the Route 53 API at http://127.0.0.1:9 for ListHostedZonesByName: [Errno 111] Connection refused"),
    (botocore.exceptions.NoCredentialsError(), "ListHostedZonesByName",
     "no AWS credentials found for ListHostedZonesByName: give access_key and secret_key, or profile"),
    (botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1:9/"), "ChangeResourceRecordSets",
     'ChangeResourceRecordSets failed: Read timeout on endpoint URL: "http://127.0.0.1:9/"; the batch may or may not have been applied '
     "(Route 53 applies it all or nothing): run again to see"),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9/", error=ConnectionRefusedError(111, "Connection refused")),
     "ChangeResourceRecordSets", "cannot reach the Route 53 API at http://127.0.0.1:9 for ChangeResourceRecordSets: [Errno 111] Connection "
                                 "refused; nothing was changed"),
])
def test_network_and_credential_failures(error, operation, message):
    route53 = Route53Provider({ZONE: ZONE_ID}, endpoint_url="http://127.0.0.1:9", client=BrokenClient(error))
    # As if found earlier in the run.
    route53._hosted_zones[ZONE] = ZONE_ID  # pylint: disable=protected-access
    with pytest.raises(ProviderError) as raised:
        if operation == "ChangeResourceRecordSets":
            route53.apply(ZONE, [Change(MX.key, None, MX)])
        else:
            route53._find_zone(ZONE)  # pylint: disable=protected-access
    assert str(raised.value).startswith(message)


def test_secrets_are_masked_in_every_message(stub):
    route53 = provider(stub, access_key="AKIDEXAMPLE", session_token=TOKEN)
    stub.add_client_error("list_hosted_zones_by_name", service_error_code="InvalidClientTokenId", http_status_code=403,
                          service_message="token %s with secret %s is not valid" % (TOKEN, SECRET))
    with pytest.raises(ProviderError) as error:
        route53.hosted_zone_id(ZONE)
    assert SECRET not in str(error.value) and TOKEN not in str(error.value)
    assert "token ******** with secret ******** is not valid" in str(error.value)


def test_finish_waits_for_every_zones_change_within_one_timeout(stub):
    clock = Clock()
    route53 = provider(stub, clock=clock.clock, sleep=clock.sleep, wait_timeout=5)
    route53._pending.extend(change_info("PENDING", "C%d" % number)["ChangeInfo"] for number in (1, 2))
    stub.add_response("get_change", change_info("INSYNC"), {"Id": "C1"})
    stub.add_response("get_change", change_info("PENDING"), {"Id": "C2"})
    stub.add_response("get_change", change_info("PENDING"), {"Id": "C2"})
    with pytest.raises(ProviderError, match=r"^Route 53 accepted the change C2, but it was still PENDING after wait_timeout=5 s"):
        route53.finish()
    assert clock.sleeps == [2.0, 2.0, 1.0]  # one deadline for both changes, not five seconds each


def test_a_refusal_after_retries_may_mean_an_earlier_attempt_was_applied():
    # botocore retried the batch after a read timeout: the first attempt may have gone through, and the retry is then
    # refused because its DELETE no longer matches. That is not "nothing was changed".
    refusal = botocore.exceptions.ClientError(
        {"Error": {"Code": "InvalidChangeBatch", "Message": "Tried to delete resource record set but it was not found"},
         "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 1}}, "ChangeResourceRecordSets")
    route53 = Route53Provider(client=BrokenClient(refusal))
    with pytest.raises(ProviderError) as error:
        route53._call("ChangeResourceRecordSets", HostedZoneId="Z0", ChangeBatch={"Changes": []})
    assert "nothing was changed" not in str(error.value)
    assert str(error.value).startswith("ChangeResourceRecordSets failed after 1 retries: Route 53 refused the change batch (InvalidChangeBatch")
    assert str(error.value).endswith("; the batch may or may not have been applied (Route 53 applies it all or nothing): run again to see")
