"""rfc2136_record_set and powerdns_record_set, run through main() in-process, against real BIND, Knot and PowerDNS on 127.0.0.1.

What the servers hold is checked with plain queries (server.query), as a resolver would see it."""

import json

import dns.query
import dns.rcode
import dns.update
import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._layout import layout_rdata, layout_record_sets
from ansible_collections.mailsec.mx.plugins.module_utils._powerdns import PowerDnsProvider
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import ProviderError, converge_zone, parse_record_sets, plan
from ansible_collections.mailsec.mx.plugins.module_utils._rfc2136 import Rfc2136Provider
from ansible_collections.mailsec.mx.plugins.modules import powerdns_record_set, rfc2136_record_set
from tests.integration.dns import servers
from tests.module_main import run_main

ZONE = "example.test."
OTHER = "other.test."
ZONES = [ZONE, OTHER]
TTL = 300
INTRUDER = "5 intruder.example.net."  # out of zone, so BIND takes the MX without an address record


def nolisting(zone=ZONE, mail="203.0.113.20", backstop=True):
    """A dead primary nolist.<zone> (A+AAAA), the live mail.<zone> (A) and, if asked, a backstop with mail's address."""
    layout = [
        {"preference": 10, "host": "nolist." + zone, "role": "dead", "addresses": ["203.0.113.10", "2001:db8::10"]},
        {"preference": 20, "host": "mail." + zone, "role": "live", "addresses": [mail]},
    ]
    if backstop:
        layout.append({"preference": 30, "host": "backstop." + zone, "role": "backstop", "addresses": [mail]})
    return layout


def record_sets(layout, zone=ZONE):
    return layout_record_sets(layout, zone, ttl=TTL)


def published(server, zone=ZONE):
    """What the server answers for the names of the nolisting layouts: {(name, type): set of values}, empty RRsets left out."""
    names = [zone, "nolist." + zone, "mail." + zone, "backstop." + zone]
    answers = {(name, rtype): server.query(name, rtype) for name in names for rtype in ("MX", "A", "AAAA")}
    return {key: values for key, values in answers.items() if values}


def expected(layout, zone=ZONE):
    """What published() shows once ``layout`` is in ``zone`` (MX from layout_rdata, addresses of every in-zone host)."""
    wanted = {(record_set["name"], record_set["type"]): set(record_set["values"]) for record_set in record_sets(layout, zone)}
    assert wanted[zone, "MX"] == set(layout_rdata(layout))
    return wanted


def run(module, capsys, **args):
    return run_main(module, capsys, **args)


def rfc2136_args(server, **args):
    options = dict(server=server.address, port=server.port, key_name=server.key_name, key_secret=server.key_secret,
                   key_algorithm=server.key_algorithm, timeout=30)
    options.update(args)
    return options


def powerdns_args(server, **args):
    options = dict(api_url=server.api_url, api_key=server.api_key, server_id=server.server_id, timeout=30)
    options.update(args)
    return options


def independent_update(server, *rdata, zone=ZONE):
    """Someone else replaces the zone's MX RRset with a signed UPDATE of their own."""
    update = dns.update.UpdateMessage(zone, keyring=server.keyring(), keyname=server.key_name, keyalgorithm=server.key_algorithm)
    update.replace(zone, TTL, "MX", *rdata)
    assert dns.query.tcp(update, server.address, port=server.port, timeout=30).rcode() == dns.rcode.NOERROR


def serve(kind, tmp_path):
    reason = servers.missing(kind)
    if reason:
        pytest.skip(reason)
    server = {"bind": servers.start_bind, "knot": servers.start_knot, "powerdns": servers.start_powerdns}[kind](tmp_path / kind, ZONES)
    yield server
    server.stop()
    # Shown by pytest only when the test failed.
    print("--- last lines of the %s log %s ---\n%s" % (kind, server.log_path, server.log_tail()))


@pytest.fixture(name="dns_server", params=sorted(servers.BINARIES))
def fixture_dns_server(request, tmp_path):
    """Each kind in turn (ids bind, knot, powerdns), reached with RFC 2136."""
    yield from serve(request.param, tmp_path)


@pytest.fixture(name="powerdns_server")
def fixture_powerdns_server(tmp_path):
    yield from serve("powerdns", tmp_path)


# --- the whole life of a layout, through each module ---------------------------------------------------

def check_lifecycle(module, server, capsys, args):
    """Publish, rerun, change, check mode, remove: each step's result and what the server then answers."""
    first, second, third = nolisting(), nolisting(mail="203.0.113.21", backstop=False), nolisting(mail="203.0.113.99")
    assert published(server) == {}

    result = run(module, capsys, zone="example.test", record_sets=record_sets(first), **args)
    assert result["changed"] is True, result
    assert len(result["changes"]) == 5  # MX, A nolist, AAAA nolist, A mail, A backstop
    assert published(server) == expected(first)

    result = run(module, capsys, zone="example.test", record_sets=record_sets(first), **args)
    assert (result["changed"], result["changes"]) == (False, [])

    result = run(module, capsys, zone="example.test", record_sets=record_sets(second), _ansible_diff=True, **args)
    assert result["changed"] is True, result
    assert {(change["name"], change["type"]) for change in result["changes"]} == {(ZONE, "MX"), ("mail.example.test.", "A")}
    assert "example.test. 300 IN MX 30 backstop.example.test.\n" in result["diff"]["before"]
    assert "mail.example.test. 300 IN A 203.0.113.21\n" in result["diff"]["after"]
    # The backstop's A RRset is not listed any more, so it is left alone.
    assert published(server) == {**expected(second), ("backstop.example.test.", "A"): {"203.0.113.20"}}

    before = published(server)
    result = run(module, capsys, zone="example.test", record_sets=record_sets(third), _ansible_check_mode=True, **args)
    assert result["changed"] is True, result
    assert published(server) == before

    result = run(module, capsys, zone="example.test", record_sets=record_sets(first), state="absent", **args)
    assert result["changed"] is True, result
    assert all(change["after"] is None for change in result["changes"])
    assert published(server) == {}
    assert server.query(ZONE, "NS") == {"ns.example.test."}  # what was not listed stays

    result = run(module, capsys, zone="example.test", record_sets=record_sets(first), state="absent", **args)
    assert result["changed"] is False


def test_rfc2136_lifecycle(dns_server, capsys):
    check_lifecycle(rfc2136_record_set, dns_server, capsys, rfc2136_args(dns_server))


def test_powerdns_api_lifecycle(powerdns_server, capsys):
    check_lifecycle(powerdns_record_set, powerdns_server, capsys, powerdns_args(powerdns_server))


def check_zones_batch(module, server, capsys, args):
    zones = [{"zone": zone, "record_sets": record_sets(nolisting(zone), zone)} for zone in ZONES]
    result = run(module, capsys, zones=zones, **args)
    assert result["changed"] is True, result
    assert "changes" not in result
    assert [(entry["zone"], entry["changed"], len(entry["changes"])) for entry in result["zones"]] == [(ZONE, True, 5), (OTHER, True, 5)]
    for zone in ZONES:
        assert published(server, zone) == expected(nolisting(zone), zone)
    assert run(module, capsys, zones=zones, **args)["changed"] is False


def test_rfc2136_zones_batch(dns_server, capsys):
    check_zones_batch(rfc2136_record_set, dns_server, capsys, rfc2136_args(dns_server))


def test_powerdns_api_zones_batch(powerdns_server, capsys):
    check_zones_batch(powerdns_record_set, powerdns_server, capsys, powerdns_args(powerdns_server))


# --- a change by someone else between read and write ---------------------------------------------------

def read_and_plan(provider, layout):
    zone, wanted = parse_record_sets(record_sets(layout), ZONE)
    return plan(wanted, provider.read(zone, [record_set.key for record_set in wanted]), "present")


def intrude_after_first_read(monkeypatch, provider, intrude):
    """Someone else changes the zone right after the core's first read (between its plan and its fresh read)."""
    original = provider.read_many
    reads = []

    def read_many(requests):
        current = original(requests)
        if not reads:
            intrude()
        reads.append(requests)
        return current

    monkeypatch.setattr(provider, "read_many", read_many)


def test_rfc2136_concurrent_change_is_detected(dns_server, monkeypatch):
    provider = Rfc2136Provider(dns_server.address, dns_server.port, "tcp", dns_server.key_name, dns_server.key_secret, timeout=30)
    zone, wanted = parse_record_sets(record_sets(nolisting()), ZONE)
    intrude_after_first_read(monkeypatch, provider, lambda: independent_update(dns_server, INTRUDER))
    # Caught by the core's fresh read right before the UPDATE.
    with pytest.raises(ProviderError, match=r"^someone changed example\.test\. MX since it was read; nothing was changed, run again$"):
        converge_zone(provider, zone, wanted, "present", False)
    assert published(dns_server) == {(ZONE, "MX"): {INTRUDER}}


def test_rfc2136_change_after_the_fresh_read_fails_the_update_atomically(dns_server, monkeypatch):
    provider = Rfc2136Provider(dns_server.address, dns_server.port, "tcp", dns_server.key_name, dns_server.key_secret, timeout=30)

    def stale_read(zone, keys):
        return {key: None for key in keys}

    # The MX did not exist when read ("RRset does not exist" prerequisite); someone adds one after our fresh read.
    changes = read_and_plan(provider, nolisting())
    independent_update(dns_server, INTRUDER)
    monkeypatch.setattr(provider, "read", stale_read)
    with pytest.raises(ProviderError, match=r"^someone changed .*example\.test\. MX.* between our read and our update \(YXRRSET\)"):
        provider.apply(ZONE, changes)
    assert published(dns_server) == {(ZONE, "MX"): {INTRUDER}}  # the update was all or nothing

    # The MX existed when read (value-dependent "RRset exists" prerequisite).
    monkeypatch.undo()
    zone, wanted = parse_record_sets(record_sets(nolisting()), ZONE)
    converge_zone(provider, zone, wanted, "present", False)
    changes = read_and_plan(provider, nolisting(mail="203.0.113.21", backstop=False))
    assert {change.key for change in changes} == {(ZONE, "MX"), ("mail.example.test.", "A")}
    planned = {change.key: change.before for change in changes}
    independent_update(dns_server, INTRUDER, "20 mail.example.test.")
    monkeypatch.setattr(provider, "read", lambda zone, keys: {key: planned[key] for key in keys})
    with pytest.raises(ProviderError, match=r"^someone changed .* between our read and our update \(NXRRSET\); nothing was changed, run again$"):
        provider.apply(ZONE, changes)
    assert dns_server.query(ZONE, "MX") == {INTRUDER, "20 mail.example.test."}
    assert dns_server.query("mail.example.test.", "A") == {"203.0.113.20"}


def test_rfc2136_concurrent_ttl_change_is_detected(dns_server, monkeypatch):
    # RFC 2136 prerequisites compare values only; the core's fresh read sees the TTL.
    provider = Rfc2136Provider(dns_server.address, dns_server.port, "tcp", dns_server.key_name, dns_server.key_secret, timeout=30)
    zone, wanted = parse_record_sets(record_sets(nolisting()), ZONE)
    converge_zone(provider, zone, wanted, "present", False)
    zone, changed = parse_record_sets(record_sets(nolisting(mail="203.0.113.21", backstop=False)), ZONE)

    def change_the_ttl():
        update = dns.update.UpdateMessage(ZONE, keyring=dns_server.keyring(), keyname=dns_server.key_name)
        update.replace(ZONE, 60, "MX", *layout_rdata(nolisting()))
        assert dns.query.tcp(update, dns_server.address, port=dns_server.port, timeout=30).rcode() == dns.rcode.NOERROR

    intrude_after_first_read(monkeypatch, provider, change_the_ttl)
    with pytest.raises(ProviderError, match="someone changed .*example.test. MX"):
        converge_zone(provider, zone, changed, "present", False)


def test_powerdns_api_concurrent_change_is_detected(powerdns_server, monkeypatch):
    server = powerdns_server
    provider = PowerDnsProvider(server.api_url, server.api_key, server.server_id, timeout=30)
    zone, wanted = parse_record_sets(record_sets(nolisting()), ZONE)
    intruder = {"name": ZONE, "type": "MX", "ttl": TTL, "changetype": "REPLACE", "records": [{"content": INTRUDER, "disabled": False}]}
    intrude_after_first_read(monkeypatch, provider, lambda: server.api("PATCH", "/zones/%s" % ZONE, {"rrsets": [intruder]}))
    with pytest.raises(ProviderError, match=r"^someone changed example\.test\. MX since it was read; nothing was changed, run again$"):
        converge_zone(provider, zone, wanted, "present", False)
    assert published(server) == {(ZONE, "MX"): {INTRUDER}}


def move_mail_address(server, address="203.0.113.66"):
    """Someone else moves mail.example.test's address with a signed UPDATE of their own."""
    update = dns.update.UpdateMessage(ZONE, keyring=server.keyring(), keyname=server.key_name, keyalgorithm=server.key_algorithm)
    update.replace("mail." + ZONE, TTL, "A", address)
    assert dns.query.tcp(update, server.address, port=server.port, timeout=5).rcode() == dns.rcode.NOERROR


def test_rfc2136_prerequisites_cover_a_target_address_the_update_does_not_change(dns_server, monkeypatch):
    # Only the MX changes (the backstop goes); mail's A RRset stays as it is, but the new MX relies on it.
    provider = Rfc2136Provider(dns_server.address, dns_server.port, "tcp", dns_server.key_name, dns_server.key_secret, timeout=5)
    zone, wanted = parse_record_sets(record_sets(nolisting()), ZONE)
    converge_zone(provider, zone, wanted, "present", False)
    zone, wanted = parse_record_sets(record_sets(nolisting(backstop=False)), ZONE)
    keys = [record_set.key for record_set in wanted]
    current = provider.read(zone, keys)
    changes = plan(wanted, current, "present")
    assert [change.key for change in changes] == [(ZONE, "MX")]
    unchanged = [(key, current[key]) for key in keys if key != (ZONE, "MX")]
    assert ("mail.example.test.", "A") in dict(unchanged)
    move_mail_address(dns_server)  # after our last read, before our UPDATE
    with pytest.raises(ProviderError, match=r"^someone changed one of example\.test\. MX, .*mail\.example\.test\. A.* between our read "
                                            r"and our update \(NXRRSET\); nothing was changed, run again$"):
        provider.apply(zone, changes, unchanged)
    # All or nothing: the MX still has the backstop, mail has the other writer's address.
    assert dns_server.query(ZONE, "MX") == set(layout_rdata(nolisting()))
    assert dns_server.query("mail.example.test.", "A") == {"203.0.113.66"}


def test_rfc2136_prerequisites_cover_an_absent_rrset_that_stays_absent(dns_server):
    # The layout has no AAAA for mail; someone adds one in between: the UPDATE (which requires it absent) fails.
    provider = Rfc2136Provider(dns_server.address, dns_server.port, "tcp", dns_server.key_name, dns_server.key_secret, timeout=5)
    zone, wanted = parse_record_sets(record_sets(nolisting()) + [{"name": "mail." + ZONE, "type": "AAAA", "ttl": TTL, "values": []}],
                                     ZONE, need_values=False)
    wanted = [record_set for record_set in wanted if record_set.values]
    keys = [record_set.key for record_set in wanted] + [("mail." + ZONE, "AAAA")]
    current = provider.read(zone, keys)
    changes = plan(wanted, current, "present")
    unchanged = [(key, current[key]) for key in keys if key not in {change.key for change in changes}]
    assert unchanged == [(("mail." + ZONE, "AAAA"), None)]
    update = dns.update.UpdateMessage(ZONE, keyring=dns_server.keyring(), keyname=dns_server.key_name, keyalgorithm=dns_server.key_algorithm)
    update.add("mail." + ZONE, TTL, "AAAA", "2001:db8::66")
    assert dns.query.tcp(update, dns_server.address, port=dns_server.port, timeout=5).rcode() == dns.rcode.NOERROR
    with pytest.raises(ProviderError, match=r"between our read and our update \(YXRRSET\); nothing was changed"):
        provider.apply(zone, changes, unchanged)
    assert published(dns_server) == {("mail.example.test.", "AAAA"): {"2001:db8::66"}}


@pytest.mark.parametrize("kind", ["rfc2136", "powerdns_api"])
def test_a_concurrent_change_to_an_unchanged_target_address_fails_the_run(kind, powerdns_server, monkeypatch):
    # Through the core: the fresh read right before the change covers the RRsets the change relies on.
    server = powerdns_server
    if kind == "rfc2136":
        provider = Rfc2136Provider(server.address, server.port, "tcp", server.key_name, server.key_secret, timeout=5)
    else:
        provider = PowerDnsProvider(server.api_url, server.api_key, server.server_id, timeout=5)
    zone, wanted = parse_record_sets(record_sets(nolisting()), ZONE)
    converge_zone(provider, zone, wanted, "present", False)
    zone, wanted = parse_record_sets(record_sets(nolisting(backstop=False)), ZONE)
    intrude_after_first_read(monkeypatch, provider, lambda: move_mail_address(server))
    with pytest.raises(ProviderError, match=r"^someone changed mail\.example\.test\. A since it was read; nothing was changed, run again$"):
        converge_zone(provider, zone, wanted, "present", False)
    assert server.query(ZONE, "MX") == set(layout_rdata(nolisting()))


# --- PowerDNS: disabled records --------------------------------------------------------------------

def disable(server, name, rtype, enabled, disabled):
    records = [{"content": value, "disabled": False} for value in enabled] + [{"content": value, "disabled": True} for value in disabled]
    rrset = {"name": name, "type": rtype, "ttl": TTL, "changetype": "REPLACE", "records": records}
    status, answer = server.api("PATCH", "/zones/%s" % ZONE, {"rrsets": [rrset]})
    assert status < 300, answer


def api_records(server, name, rtype):
    status, zone = server.api("GET", "/zones/%s" % ZONE)
    assert status == 200, zone
    for rrset in zone["rrsets"]:
        if (rrset["name"], rrset["type"]) == (name, rtype):
            return sorted((record["content"], record["disabled"]) for record in rrset["records"])
    return []


def test_powerdns_api_disabled_records_are_shown_and_replaced(powerdns_server, capsys):
    server = powerdns_server
    args = powerdns_args(server)
    assert run(powerdns_record_set, capsys, zone=ZONE, record_sets=record_sets(nolisting()), **args)["changed"] is True
    # Someone parks a second address for mail, disabled; and disables nolist's AAAA, the only value of its RRset.
    disable(server, "mail." + ZONE, "A", ["203.0.113.20"], ["203.0.113.77"])
    disable(server, "nolist." + ZONE, "AAAA", [], ["2001:db8::10"])
    assert server.query("mail." + ZONE, "A") == {"203.0.113.20"}  # disabled records are not served

    result = run(powerdns_record_set, capsys, zone=ZONE, record_sets=record_sets(nolisting()), _ansible_check_mode=True,
                 _ansible_diff=True, **args)
    # Not "ok": the diff shows what the change will do to the disabled records.
    assert result["changed"] is True
    assert "; mail.example.test. 300 IN A 203.0.113.77 ; disabled\n" in result["diff"]["before"]
    assert "; nolist.example.test. 300 IN AAAA 2001:db8::10 ; disabled\n" in result["diff"]["before"]
    assert "203.0.113.77" not in result["diff"]["after"]
    assert "nolist.example.test. 300 IN AAAA 2001:db8::10\n" in result["diff"]["after"]
    changes = {(change["name"], change["type"]): change for change in result["changes"]}
    assert changes[("mail.example.test.", "A")]["before"]["disabled"] == ["203.0.113.77"]
    assert api_records(server, "mail." + ZONE, "A") == [("203.0.113.20", False), ("203.0.113.77", True)]  # check mode: untouched

    result = run(powerdns_record_set, capsys, zone=ZONE, record_sets=record_sets(nolisting()), **args)
    assert result["changed"] is True
    assert api_records(server, "mail." + ZONE, "A") == [("203.0.113.20", False)]
    assert api_records(server, "nolist." + ZONE, "AAAA") == [("2001:db8::10", False)]
    assert published(server) == expected(nolisting())
    assert run(powerdns_record_set, capsys, zone=ZONE, record_sets=record_sets(nolisting()), **args)["changed"] is False


# --- hostile input: refused before anything is sent ---------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ({"key_name": "mailsec..key"}, "key_name 'mailsec..key' is not a valid DNS name ("),
    ({"key_secret": "not//strict base64=="}, "key_secret is not valid base64 ("),
    ({"zone": "example.test\n"}, "zone: 'example.test\\n' contains a control character"),
])
def test_rfc2136_hostile_input_changes_nothing(dns_server, capsys, args, message):
    options = rfc2136_args(dns_server, **args)
    options.setdefault("zone", ZONE)
    result = run(rfc2136_record_set, capsys, record_sets=record_sets(nolisting()), **options)
    assert result["failed"] is True
    assert message in result["msg"] and result["msg"].endswith("; nothing was sent")
    assert published(dns_server) == {}


# --- refused credentials ----------------------------------------------------------------------------

def test_rfc2136_wrong_secret(dns_server, capsys):
    args = rfc2136_args(dns_server)
    assert run(rfc2136_record_set, capsys, zone=ZONE, record_sets=record_sets(nolisting()), **args)["changed"] is True
    before = published(dns_server)

    wrong = rfc2136_args(dns_server, key_secret=servers.new_secret())
    result = run(rfc2136_record_set, capsys, zone=ZONE, record_sets=record_sets(nolisting(mail="203.0.113.21")), **wrong)
    assert result["failed"] is True
    # The queries that read the zone are signed too, so the key is refused before any UPDATE.
    # BIND and Knot answer NOTAUTH with TSIG error BADSIG; PowerDNS answers NOTAUTH unsigned.
    error = {"bind": "BADSIG", "knot": "BADSIG", "powerdns": "the answer is not signed"}[dns_server.kind]
    assert result["msg"].startswith("zone example.test.: the server rejected the query for example.test. MX signed with TSIG key "
                                    "mailsec-key. (%s, NOTAUTH)" % error)
    assert result["msg"].endswith("check key_name, key_secret and key_algorithm")
    assert wrong["key_secret"] not in json.dumps(result)
    assert published(dns_server) == before

    # An UPDATE signed with the wrong secret, after a good read.
    provider = Rfc2136Provider(dns_server.address, dns_server.port, "tcp", dns_server.key_name, dns_server.key_secret, timeout=30)
    changes = read_and_plan(provider, nolisting(mail="203.0.113.21"))
    error = {"bind": "PeerBadSignature", "knot": "PeerBadSignature", "powerdns": "FormError"}[dns_server.kind]
    with pytest.raises(ProviderError, match=r"^the server rejected the (update|query for .*) signed with TSIG key mailsec-key\. \(%s: " % error):
        Rfc2136Provider(dns_server.address, dns_server.port, "tcp", dns_server.key_name, wrong["key_secret"], timeout=30).apply(ZONE, changes)
    assert published(dns_server) == before


def test_rfc2136_unsigned_update_is_refused(dns_server, capsys):
    # Unsigned queries are answered; the unsigned UPDATE is not.
    args = rfc2136_args(dns_server, key_name=None, key_secret=None)
    result = run(rfc2136_record_set, capsys, zone=ZONE, record_sets=record_sets(nolisting()), **args)
    assert result["failed"] is True
    refused = "zone example.test.: the server answered the update with REFUSED; nothing was changed. Check its update policy"
    notauth = "zone example.test.: the server refused the update as not authorized (NOTAUTH): check the TSIG key"
    assert result["msg"].startswith({"bind": refused, "knot": notauth, "powerdns": refused}[dns_server.kind]), result["msg"]
    assert published(dns_server) == {}


def test_powerdns_api_wrong_key(powerdns_server, capsys):
    args = powerdns_args(powerdns_server)
    assert run(powerdns_record_set, capsys, zone=ZONE, record_sets=record_sets(nolisting()), **args)["changed"] is True
    before = published(powerdns_server)
    result = run(powerdns_record_set, capsys, zone=ZONE, record_sets=record_sets(nolisting(mail="203.0.113.21")),
                 **powerdns_args(powerdns_server, api_key="wrong"))
    assert result["failed"] is True
    assert result["msg"] == "zone example.test.: the PowerDNS API rejected the API key (HTTP 401): check api_key"
    assert published(powerdns_server) == before


def test_powerdns_api_unknown_zone(powerdns_server, capsys):
    result = run(powerdns_record_set, capsys, zone="nowhere.test", record_sets=record_sets(nolisting("nowhere.test."), "nowhere.test."),
                 **powerdns_args(powerdns_server))
    assert result["msg"] == "zone nowhere.test.: the PowerDNS API has no zone nowhere.test. on this server_id (HTTP 404)"


# --- nothing listening ------------------------------------------------------------------------------

# The message names the timeout the module used ("within 1.0 s"): that the option was honoured is read from
# what the module says, not from a stopwatch.
def timed_run(module, capsys, **args):
    return run(module, capsys, zone=ZONE, record_sets=record_sets(nolisting()), **args)


def test_rfc2136_udp_to_a_silent_port_times_out(capsys):
    port = servers.free_port()
    result = timed_run(rfc2136_record_set, capsys, server="127.0.0.1", port=port, protocol="udp", timeout=1)
    assert result["failed"] is True
    assert result["msg"] == "zone example.test.: no answer to the query for example.test. MX from 127.0.0.1 port %d within 1.0 s" % port


def test_rfc2136_tcp_to_a_closed_port_is_refused(capsys):
    port = servers.free_port()
    result = timed_run(rfc2136_record_set, capsys, server="127.0.0.1", port=port, timeout=1)
    assert result["failed"] is True
    assert result["msg"] == "cannot reach 127.0.0.1 port %d: [Errno 111] Connection refused" % port


def test_powerdns_api_closed_port(capsys):
    port = servers.free_port()
    result = timed_run(powerdns_record_set, capsys, api_url="http://127.0.0.1:%d" % port, api_key="key", timeout=1)
    assert result["failed"] is True
    assert result["msg"] == ("cannot reach the PowerDNS API at http://127.0.0.1:%d/api/v1/servers/localhost/zones/: "
                             "[Errno 111] Connection refused" % port)
