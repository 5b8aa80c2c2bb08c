"""route53_record_set run through main() in-process against moto's Route 53 in server mode on 127.0.0.1
(tests/integration/moto_server.py).

moto applies a batch change by change and deletes with stale values, so these tests check what the module sends (one
batch: a DELETE of the RRset exactly as read, then a CREATE; never UPSERT) and what moto then holds, and that a
concurrent change is caught by the fresh read; Route 53's own refusal of a stale batch is not something moto shows.
Other records of the zone (a TXT, an A elsewhere, NS, SOA) are compared byte for byte before and after every step."""

import json

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import ProviderError, converge_zone, parse_record_sets, plan
from ansible_collections.mailsec.mx.plugins.module_utils._route53 import Route53Provider
from ansible_collections.mailsec.mx.plugins.modules import route53_record_set
from tests.integration import moto_server
from tests.integration.dns.servers import free_port
# The same layouts as the RFC 2136 and PowerDNS tests publish (TTL 300 there too).
from tests.integration.plugins.modules.test_record_set_servers import nolisting, record_sets
from tests.module_main import run_main

ZONE = "example.test."
OTHER = "other.test."
TTL = 300
SESSION_TOKEN = "mailsec-session-token-never-shown"
INTRUDER = "5 intruder.example.net."
OUR_NAMES = {ZONE, "nolist." + ZONE, "mail." + ZONE, "backstop." + ZONE}


def expected(layout, zone=ZONE):
    """{(name, type): sorted values} once ``layout`` is published, as moto_server.records shows it."""
    return {(record_set["name"], record_set["type"]): sorted(record_set["values"]) for record_set in record_sets(layout, zone)}


def ours(server, zone_id, zone=ZONE):
    """What moto holds at the layouts' names, A/AAAA/MX only."""
    names = {name.replace(ZONE, zone) for name in OUR_NAMES}
    return {key: values for key, values in moto_server.records(server, zone_id).items() if key[0] in names and key[1] in ("A", "AAAA", "MX")}


def others(server, zone_id, zone=ZONE):
    """Every other RRset, exactly as moto lists it."""
    names = {name.replace(ZONE, zone) for name in OUR_NAMES}
    return [rrset for rrset in moto_server.rrsets(server, zone_id) if not (rrset["Name"] in names and rrset["Type"] in ("A", "AAAA", "MX"))]


@pytest.fixture(name="moto_process", scope="module")
def fixture_moto_process(tmp_path_factory):
    server = moto_server.start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(name="moto")
def fixture_moto(moto_process, monkeypatch, tmp_path):
    """The module's moto, emptied; no AWS setup of the machine (nor its metadata service) reaches boto3."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    moto_process.require_auth(False)
    moto_process.reset()
    yield moto_process
    moto_process.require_auth(False)


def seed(server, zone=ZONE, private=False):
    """A zone holding someone else's records: a TXT at the apex and an A elsewhere (moto adds NS and SOA)."""
    zone_id = moto_server.create_zone(server, zone, private=private)
    moto_server.put(server, zone_id, zone, "TXT", ['"v=spf1 -all"'])
    moto_server.put(server, zone_id, "www." + zone, "A", ["198.51.100.80"])
    return zone_id


@pytest.fixture(name="calls")
def fixture_calls(monkeypatch):
    """Every Route 53 request the provider makes: [(operation, params)]."""
    made = []
    original = Route53Provider._call  # pylint: disable=protected-access

    def call(self, operation, **params):
        made.append((operation, json.loads(json.dumps(params))))
        return original(self, operation, **params)

    monkeypatch.setattr(Route53Provider, "_call", call)
    return made


def batches(calls):
    return [params["ChangeBatch"]["Changes"] for operation, params in calls if operation == "ChangeResourceRecordSets"]


def credentials(server, **extra):
    options = dict(endpoint_url=server.endpoint_url, access_key=server.access_key, secret_key=server.secret_key, session_token=SESSION_TOKEN)
    options.update(extra)
    return options


def run(capsys, **args):
    result = run_main(route53_record_set, capsys, **args)
    text = json.dumps(result)
    assert moto_server.SECRET_KEY not in text and SESSION_TOKEN not in text
    return result


def as_listed(server, zone_id, name, rtype):
    (rrset,) = [rrset for rrset in moto_server.rrsets(server, zone_id) if (rrset["Name"], rrset["Type"]) == (name, rtype)]
    return rrset


# --- the whole life of a layout -----------------------------------------------------------------------

def test_lifecycle(moto, capsys, calls):
    zone_id = seed(moto)
    untouched = others(moto, zone_id)
    first, second, third = nolisting(), nolisting(mail="203.0.113.21", backstop=False), nolisting(mail="203.0.113.99")
    args = credentials(moto, zone="example.test")

    result = run(capsys, record_sets=record_sets(first), **args)
    assert result["changed"] is True, result
    assert len(result["changes"]) == 5  # MX, A nolist, AAAA nolist, A mail, A backstop
    assert ours(moto, zone_id) == expected(first)
    (batch,) = batches(calls)
    # One batch, nothing to delete, addresses before the MX.
    assert [(change["Action"], change["ResourceRecordSet"]["Name"], change["ResourceRecordSet"]["Type"]) for change in batch] == [
        ("CREATE", "backstop.example.test.", "A"), ("CREATE", "mail.example.test.", "A"), ("CREATE", "nolist.example.test.", "A"),
        ("CREATE", "nolist.example.test.", "AAAA"), ("CREATE", ZONE, "MX")]
    assert others(moto, zone_id) == untouched

    calls.clear()
    result = run(capsys, record_sets=record_sets(first), **args)
    assert (result["changed"], result["changes"]) == (False, [])
    assert batches(calls) == []

    calls.clear()
    mx_as_read, mail_as_read = as_listed(moto, zone_id, ZONE, "MX"), as_listed(moto, zone_id, "mail." + ZONE, "A")
    result = run(capsys, record_sets=record_sets(second), _ansible_diff=True, **args)
    assert result["changed"] is True, result
    assert {(change["name"], change["type"]) for change in result["changes"]} == {(ZONE, "MX"), ("mail.example.test.", "A")}
    assert "example.test. 300 IN MX 30 backstop.example.test.\n" in result["diff"]["before"]
    assert "mail.example.test. 300 IN A 203.0.113.21\n" in result["diff"]["after"]
    # The backstop's A RRset is not listed any more, so it is left alone.
    assert ours(moto, zone_id) == {**expected(second), ("backstop.example.test.", "A"): ["203.0.113.20"]}
    (batch,) = batches(calls)
    # Each changed RRset: a DELETE of exactly what was read, then a CREATE; the address before the MX. Never UPSERT.
    assert batch == [
        {"Action": "DELETE", "ResourceRecordSet": mail_as_read},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "mail.example.test.", "Type": "A", "TTL": TTL,
                                                   "ResourceRecords": [{"Value": "203.0.113.21"}]}},
        {"Action": "DELETE", "ResourceRecordSet": mx_as_read},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": ZONE, "Type": "MX", "TTL": TTL,
                                                   "ResourceRecords": [{"Value": "10 nolist.example.test."}, {"Value": "20 mail.example.test."}]}},
    ]
    assert others(moto, zone_id) == untouched

    calls.clear()
    before = moto_server.rrsets(moto, zone_id)
    result = run(capsys, record_sets=record_sets(third), _ansible_check_mode=True, _ansible_diff=True, **args)
    assert result["changed"] is True, result
    assert "mail.example.test. 300 IN A 203.0.113.99\n" in result["diff"]["after"]
    assert batches(calls) == []  # check mode sends no change
    assert moto_server.rrsets(moto, zone_id) == before

    result = run(capsys, record_sets=record_sets(first), state="absent", **args)
    assert result["changed"] is True, result
    assert all(change["after"] is None for change in result["changes"])
    assert ours(moto, zone_id) == {}
    assert others(moto, zone_id) == untouched

    calls.clear()
    result = run(capsys, record_sets=record_sets(first), state="absent", **args)
    assert result["changed"] is False
    assert batches(calls) == []
    # moto reports every change INSYNC at once: no GetChange was needed.
    assert not [operation for operation, _params in calls if operation == "GetChange"]


def test_zones_batch(moto, capsys, calls):
    zone_ids = {ZONE: seed(moto), OTHER: seed(moto, OTHER), "third.test.": seed(moto, "third.test.")}
    untouched = {zone: others(moto, zone_id, zone) for zone, zone_id in zone_ids.items()}
    zones = [{"zone": zone, "record_sets": record_sets(nolisting(zone), zone)} for zone in zone_ids]
    zones[1]["hosted_zone_id"] = "/hostedzone/" + zone_ids[OTHER]
    result = run(capsys, zones=zones, **credentials(moto))
    assert result["changed"] is True, result
    assert "changes" not in result
    assert [(entry["zone"], entry["changed"], len(entry["changes"])) for entry in result["zones"]] == [
        (ZONE, True, 5), (OTHER, True, 5), ("third.test.", True, 5)]
    assert len(batches(calls)) == 3  # one batch per zone
    assert [operation for operation, _params in calls if operation in ("ListHostedZonesByName", "GetHostedZone")] == [
        "ListHostedZonesByName", "GetHostedZone", "ListHostedZonesByName"]  # each zone found once
    for zone, zone_id in zone_ids.items():
        assert ours(moto, zone_id, zone) == expected(nolisting(zone), zone)
        assert others(moto, zone_id, zone) == untouched[zone]
    assert run(capsys, zones=zones, **credentials(moto))["changed"] is False


# --- reading: only the listed names, with pagination ----------------------------------------------------------

def test_many_rrsets_at_one_name_are_paged(moto, calls):
    zone_id = seed(moto)
    for rtype, value in (("A", "198.51.100.1"), ("AAAA", "2001:db8::1"), ("CAA", '0 issue "ca.example.net"'), ("SPF", '"v=spf1 -all"')):
        moto_server.put(moto, zone_id, ZONE, rtype, [value])
    moto_server.put(moto, zone_id, ZONE, "MX", ["20 mail.example.test.", "10 nolist.example.test."], ttl=60)
    route53 = Route53Provider({ZONE: None}, access_key=moto.access_key, secret_key=moto.secret_key, endpoint_url=moto.endpoint_url, page_size=2)
    current = route53.read(ZONE, [(ZONE, "MX"), (ZONE, "A"), ("nolist." + ZONE, "A")])
    assert current[ZONE, "MX"].values == ("10 nolist.example.test.", "20 mail.example.test.") and current[ZONE, "MX"].ttl == 60
    assert current[ZONE, "A"].values == ("198.51.100.1",)
    assert current["nolist." + ZONE, "A"] is None
    listings = [params for operation, params in calls if operation == "ListResourceRecordSets"]
    # Seven RRsets at the apex, two a page: the read followed NextRecordName/NextRecordType while the apex went on.
    assert [(params["StartRecordName"], params.get("StartRecordType")) for params in listings[:4]] == [
        (ZONE, None), (ZONE, "CAA"), (ZONE, "NS"), (ZONE, "SPF")]
    assert all(params["MaxItems"] == "2" for params in listings)

    # The same read with pages of 300: the zone is small, one request.
    calls.clear()
    Route53Provider({ZONE: None}, access_key=moto.access_key, secret_key=moto.secret_key, endpoint_url=moto.endpoint_url).read(
        ZONE, [(ZONE, "MX"), ("nolist." + ZONE, "A")])
    assert [operation for operation, _params in calls] == ["ListHostedZonesByName", "ListResourceRecordSets"]


def test_a_big_zone_is_not_listed_whole(moto, capsys, calls):
    zone_id = seed(moto)
    hosts = [{"Action": "CREATE", "ResourceRecordSet": {"Name": "host%03d.example.test." % number, "Type": "A", "TTL": TTL,
                                                        "ResourceRecords": [{"Value": "198.51.100.%d" % (number % 250 + 1)}]}}
             for number in range(600)]
    moto.client().change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": hosts})
    zone_size = len(moto_server.rrsets(moto, zone_id))
    untouched = others(moto, zone_id)
    calls.clear()
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), **credentials(moto))
    assert result["changed"] is True
    assert ours(moto, zone_id) == expected(nolisting())
    assert others(moto, zone_id) == untouched
    listings = [params for operation, params in calls if operation == "ListResourceRecordSets"]
    # Per read (the plan's and the fresh one): one page of 300 from the apex, then 20 from each name not complete on it.
    assert [(params["StartRecordName"], params["MaxItems"]) for params in listings] == 2 * [
        (ZONE, "300"), ("backstop." + ZONE, "20"), ("mail." + ZONE, "20"), ("nolist." + ZONE, "20")]
    assert 300 + 3 * 20 < zone_size


# --- a change by someone else -----------------------------------------------------------------------

def provider(server, **options):
    return Route53Provider({ZONE: options.pop("hosted_zone_id", None)}, access_key=server.access_key, secret_key=server.secret_key,
                           endpoint_url=server.endpoint_url, **options)


def intrude_after_first_read(monkeypatch, route53, intrude):
    """Someone else changes the zone right after the core's first read (between its plan and its fresh read)."""
    original = route53.read
    reads = []

    def read(zone, keys):
        current = original(zone, keys)
        if not reads:
            intrude()
        reads.append(keys)
        return current

    monkeypatch.setattr(route53, "read", read)


def replace_mx(server, zone_id, *values):
    """Someone else replaces the MX RRset (DELETE as it is, CREATE theirs), or creates it."""
    changes = [{"Action": "DELETE", "ResourceRecordSet": rrset} for rrset in moto_server.rrsets(server, zone_id)
               if (rrset["Name"], rrset["Type"]) == (ZONE, "MX")]
    changes.append({"Action": "CREATE", "ResourceRecordSet": {"Name": ZONE, "Type": "MX", "TTL": TTL,
                                                              "ResourceRecords": [{"Value": value} for value in values]}})
    server.client().change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})


@pytest.mark.parametrize("published_first", [False, True], ids=["mx-created-meanwhile", "mx-replaced-meanwhile"])
def test_concurrent_change_is_detected_not_overwritten(moto, monkeypatch, calls, published_first):
    zone_id = seed(moto)
    if published_first:
        zone, wanted = parse_record_sets(record_sets(nolisting()), ZONE)
        converge_zone(provider(moto), zone, wanted, "present", False)
    route53 = provider(moto)
    zone, wanted = parse_record_sets(record_sets(nolisting(mail="203.0.113.21")), ZONE)
    intrude_after_first_read(monkeypatch, route53, lambda: replace_mx(moto, zone_id, INTRUDER))
    calls.clear()
    with pytest.raises(ProviderError, match=r"^someone changed example\.test\. MX since it was read; nothing was changed, run again$"):
        converge_zone(route53, zone, wanted, "present", False)
    assert batches(calls) == []
    assert moto_server.records(moto, zone_id)[ZONE, "MX"] == [INTRUDER]


def test_a_change_after_the_fresh_read_meets_an_exact_delete(moto, calls):
    # The window the fresh read leaves: the batch DELETEs the MX exactly as it was read, which real Route 53 refuses
    # (InvalidChangeBatch, the whole batch) once someone has replaced it. moto does not check, so only the batch is asserted.
    zone_id = seed(moto)
    zone, wanted = parse_record_sets(record_sets(nolisting()), ZONE)
    converge_zone(provider(moto), zone, wanted, "present", False)
    route53 = provider(moto)
    zone, wanted = parse_record_sets(record_sets(nolisting(mail="203.0.113.21", backstop=False)), ZONE)
    changes = plan(wanted, route53.read(zone, [record_set.key for record_set in wanted]), "present")
    stale_mx = as_listed(moto, zone_id, ZONE, "MX")
    replace_mx(moto, zone_id, INTRUDER)
    calls.clear()
    route53.apply(zone, changes)
    (batch,) = batches(calls)
    assert {"Action": "DELETE", "ResourceRecordSet": stale_mx} in batch
    assert stale_mx["ResourceRecords"] != [{"Value": INTRUDER}]
    assert not any(change["Action"] == "UPSERT" for change in batch)


# --- which hosted zone ----------------------------------------------------------------------------

def test_public_and_private_zones_of_one_name(moto, capsys):
    public, private = seed(moto), seed(moto, private=True)
    untouched = {public: moto_server.rrsets(moto, public), private: moto_server.rrsets(moto, private)}

    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), **credentials(moto))
    assert result["changed"] is True
    assert ours(moto, public) == expected(nolisting())
    assert moto_server.rrsets(moto, private) == untouched[private]

    inside = nolisting(mail="198.51.100.25")
    result = run(capsys, zone="example.test", record_sets=record_sets(inside), private_zone=True, **credentials(moto))
    assert result["changed"] is True
    assert ours(moto, private) == expected(inside)
    assert ours(moto, public) == expected(nolisting())


def test_two_public_zones_of_one_name_need_an_id(moto, capsys, calls):
    first, second = seed(moto), seed(moto)
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), **credentials(moto))
    assert result["failed"] is True
    assert result["msg"] == ("zone example.test.: 2 public hosted zones are named example.test. (%s, %s): give hosted_zone_id to say "
                             "which one" % (first, second))
    assert batches(calls) == []
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), hosted_zone_id=second, **credentials(moto))
    assert result["changed"] is True
    assert ours(moto, second) == expected(nolisting())
    assert ours(moto, first) == {}


def test_zone_not_found_or_not_the_id_given(moto, capsys):
    other = seed(moto, OTHER)
    seed(moto, private=True)
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), **credentials(moto))
    assert result["msg"].startswith("zone example.test.: no public hosted zone named example.test. in this AWS account (there is a private "
                                    "one, ")
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), hosted_zone_id=other, **credentials(moto))
    assert result["msg"] == "zone example.test.: hosted zone %s is other.test., not example.test.: check hosted_zone_id" % other
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), hosted_zone_id="ZNOSUCHZONE", **credentials(moto))
    assert result["msg"] == ("zone example.test.: Route 53 has no such hosted zone (NoSuchHostedZone: No hosted zone found with ID: "
                             "ZNOSUCHZONE): check hosted_zone_id and the account")


def test_alias_and_weighted_rrsets_are_not_replaced(moto, capsys, calls):
    zone_id = seed(moto)
    target = {"HostedZoneId": zone_id, "DNSName": "www.example.test.", "EvaluateTargetHealth": False}
    alias = {"Name": "nolist.example.test.", "Type": "A", "AliasTarget": target}
    weighted = {"Name": "mail.example.test.", "Type": "A", "SetIdentifier": "blue", "Weight": 10, "TTL": 60,
                "ResourceRecords": [{"Value": "198.51.100.1"}]}
    for rrset in (alias, weighted):
        moto.client().change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": rrset}]})
    before = moto_server.rrsets(moto, zone_id)
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), **credentials(moto))
    assert result["msg"].startswith("zone example.test.: mail.example.test. A has a routing policy (SetIdentifier, Weight 'blue'")
    result = run(capsys, zone="example.test", record_sets=[rs for rs in record_sets(nolisting()) if rs["name"] != "mail." + ZONE],
                 **credentials(moto))
    assert result["msg"].startswith("zone example.test.: nolist.example.test. A is a Route 53 alias record (to www.example.test.)")
    assert batches(calls) == []
    assert moto_server.rrsets(moto, zone_id) == before


# --- credentials ------------------------------------------------------------------------------------

def iam_user(server, name, allow_route53=True):
    """An IAM user moto knows, with an access key (and a policy allowing route53:* when asked); returns the key."""
    iam = server.client("iam")
    iam.create_user(UserName=name)
    if allow_route53:
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "route53:*", "Resource": "*"}]}
        arn = iam.create_policy(PolicyName=name + "-route53", PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    return iam.create_access_key(UserName=name)["AccessKey"]


@pytest.mark.parametrize("which", ["unknown-key", "wrong-secret"])
def test_bad_credentials_fail_clearly_and_change_nothing(moto, capsys, which):
    zone_id = seed(moto)
    key = iam_user(moto, "dns-admin")
    before = moto_server.rrsets(moto, zone_id)
    access_key = {"unknown-key": "AKIAUNKNOWNKEY000000", "wrong-secret": key["AccessKeyId"]}[which]
    moto.require_auth()
    try:
        result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()),
                     **credentials(moto, access_key=access_key, session_token=None))
    finally:
        moto.require_auth(False)
    assert result["failed"] is True
    # moto answers InvalidClientTokenId / SignatureDoesNotMatch in a body botocore cannot parse: the message goes by the HTTP 403.
    assert result["msg"].startswith("zone example.test.: AWS refused ListHostedZonesByName with HTTP 403 and no error code: check the "
                                    "credentials (access_key, secret_key, session_token, profile)")
    assert key["SecretAccessKey"] not in json.dumps(result)
    assert moto_server.rrsets(moto, zone_id) == before


def test_a_batch_with_bad_credentials_is_refused_and_changes_nothing(moto):
    zone_id = seed(moto)
    iam_user(moto, "dns-admin")
    before = moto_server.rrsets(moto, zone_id)
    # Read while moto checks nothing, then sign the batch with a secret moto's IAM does not know.
    route53 = provider(moto, hosted_zone_id=zone_id)
    zone, wanted = parse_record_sets(record_sets(nolisting()), ZONE)
    changes = plan(wanted, route53.read(zone, [record_set.key for record_set in wanted]), "present")
    moto.require_auth()
    try:
        with pytest.raises(ProviderError) as error:
            route53.apply(zone, changes)
    finally:
        moto.require_auth(False)
    assert str(error.value).startswith("AWS refused ChangeResourceRecordSets with HTTP 403 and no error code")
    assert str(error.value).endswith("; nothing was changed")
    assert moto.secret_key not in str(error.value)
    assert moto_server.rrsets(moto, zone_id) == before


def test_credentials_from_boto3s_chain(moto, capsys, monkeypatch, tmp_path):
    zone_id = seed(moto)
    # The environment.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), endpoint_url=moto.endpoint_url)
    assert result["changed"] is True
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # A profile of the shared credentials file.
    shared = tmp_path / "credentials"
    shared.write_text("[dns-admin]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (moto.access_key, moto.secret_key))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting(mail="203.0.113.21")), endpoint_url=moto.endpoint_url,
                 profile="dns-admin")
    assert result["changed"] is True
    assert ours(moto, zone_id) == expected(nolisting(mail="203.0.113.21"))
    # None at all (the metadata service is off in tests): a clear error, nothing sent.
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), endpoint_url=moto.endpoint_url)
    assert result["msg"].startswith("no AWS credentials found for ListHostedZonesByName: give access_key and secret_key")
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), endpoint_url=moto.endpoint_url, profile="nobody")
    assert result["msg"] == "profile 'nobody' is not in the AWS config or credentials files; nothing was sent"


def test_unreachable_endpoint(capsys):
    port = free_port()
    result = run(capsys, zone="example.test", record_sets=record_sets(nolisting()), endpoint_url="http://127.0.0.1:%d" % port,
                 access_key=moto_server.ACCESS_KEY, secret_key=moto_server.SECRET_KEY, session_token=SESSION_TOKEN)
    assert result["failed"] is True
    assert result["msg"] == ("cannot reach the Route 53 API at http://127.0.0.1:%d for ListHostedZonesByName: "
                             "[Errno 111] Connection refused" % port)


def test_hostile_input_sends_nothing(moto, capsys, calls):
    zone_id = seed(moto)
    before = moto_server.rrsets(moto, zone_id)
    for args in ({"hosted_zone_id": zone_id + "\n"}, {"endpoint_url": moto.endpoint_url + "/\r\nX: y"}, {"region": "us-east-1\n"},
                 {"zone": "example.test\n"}):
        options = dict(credentials(moto), zone="example.test", record_sets=record_sets(nolisting()))
        options.update(args)
        result = run(capsys, **options)
        assert result["failed"] is True and "contains a control character" in result["msg"] and result["msg"].endswith("nothing was sent")
    assert calls == []
    assert moto_server.rrsets(moto, zone_id) == before
