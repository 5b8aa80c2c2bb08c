"""The RFC 2136 provider's many-zone path (read_many, apply_many over one pipelined TCP connection, protocol tcp)
against a real threaded server on loopback (test_dnswire.DnsServer): one zone's failure stays that zone's, TSIG
rejections are reported as such, a server that closes the connection mid-batch loses no query and no zone's word."""

import base64

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import (
    ProviderError, RecordSet, ServerUnavailable, converge_zones, plan)
from ansible_collections.mailsec.mx.plugins.module_utils._rfc2136 import Rfc2136Provider
from tests.loopback import closed_port
from tests.unit.plugins.module_utils.test_dnswire import KEY_NAME, OTHER_SECRET, SECRET, DnsServer, dnspython_keyring, frame, read_frame

ZONES = ("good.test.", "refused.test.", "lame.test.", "cname.test.", "later.test.")


def zone_records(zone, mx_ttl=3600):
    return {
        (zone, "MX"): (mx_ttl, ["10 mail.%s" % zone]),
        ("mail.%s" % zone, "A"): (300, ["203.0.113.10", "203.0.113.11"]),
    }


def keys(zone):
    return [(zone, "MX"), ("mail.%s" % zone, "A"), ("mail.%s" % zone, "AAAA")]


def wanted(zone, exchange="mx"):
    return [RecordSet(zone, "MX", 3600, ["10 %s.%s" % (exchange, zone)]),
            RecordSet("%s.%s" % (exchange, zone), "A", 300, ["203.0.113.20"])]


def server(zones=ZONES, keyring=True, **options):
    records = {}
    for zone in zones:
        records.update(zone_records(zone))
    return DnsServer(zones=zones, records=records, keyring=dnspython_keyring() if keyring else None, **options)


def provider(dns_server, secret=SECRET, key_name=KEY_NAME, timeout=5.0, **options):
    if secret is not None:
        options.update(key_name=key_name, key_secret=base64.b64encode(secret).decode("ascii"))
    return Rfc2136Provider(server=dns_server.address, port=dns_server.port, protocol="tcp", timeout=timeout, **options)


def test_read_many_keeps_each_zones_failure_its_own():
    with server(rcodes={"refused.test.": dns.rcode.REFUSED}, not_authoritative={"lame.test."}) as dns_server:
        dns_server.records[("mail.cname.test.", "CNAME")] = (300, ["elsewhere.example."])
        client = provider(dns_server)
        results = client.read_many([(zone, keys(zone)) for zone in ZONES + ("unserved.test.",)])
        client.finish()
    good, refused, lame, cname, later, unserved = results
    for zone, result in (("good.test.", good), ("later.test.", later)):
        assert result == {
            (zone, "MX"): RecordSet(zone, "MX", 3600, ["10 mail.%s" % zone]),
            ("mail.%s" % zone, "A"): RecordSet("mail.%s" % zone, "A", 300, ["203.0.113.10", "203.0.113.11"]),
            ("mail.%s" % zone, "AAAA"): None,
        }
    assert isinstance(refused, ProviderError) and "got REFUSED" in str(refused)
    assert isinstance(lame, ProviderError) and "not authoritative for lame.test." in str(lame)
    assert isinstance(cname, ProviderError) and "mail.cname.test. is a CNAME" in str(cname)
    assert isinstance(unserved, ProviderError) and "REFUSED" in str(unserved)
    assert dns_server.accepted == 1  # every query on one connection
    assert len(dns_server.received) == 18 and not dns_server.tsig_failures  # each signed, dnspython checked


def test_read_many_without_a_key():
    with server(keyring=False) as dns_server:
        client = provider(dns_server, secret=None)
        results = client.read_many([("good.test.", keys("good.test."))])
        client.finish()
    assert results[0][("good.test.", "MX")] == RecordSet("good.test.", "MX", 3600, ["10 mail.good.test."])


def test_answer_to_another_question_is_that_zones_failure():
    def confused(dns_server, conn):
        while True:
            wire = read_frame(conn)
            if wire is None:
                return
            request = dns.message.from_wire(wire, keyring=dns_server.keyring)
            if request.question[0].name.to_text() == "mail.refused.test.":
                request.question[0].name = dns.name.from_text("other.refused.test.")
                response = dns.message.make_response(request)
                response.flags |= dns.flags.AA
                conn.sendall(frame(response.to_wire()))
            else:
                conn.sendall(frame(dns_server.answer(wire)))

    with server(connections=[{"handler": confused}]) as dns_server:
        client = provider(dns_server)
        results = client.read_many([(zone, keys(zone)) for zone in ("good.test.", "refused.test.")])
        client.finish()
    assert isinstance(results[0], dict)
    assert isinstance(results[1], ProviderError) and "answered another question" in str(results[1])


def changes_for(client, zone, exchange="mx"):
    """(zone, changes, unchanged) of a zone moving its MX to ``exchange``, planned from what the server holds."""
    current = client.read_many([(zone, keys(zone)[:2] + [("%s.%s" % (exchange, zone), "A")])])[0]
    return zone, plan(wanted(zone, exchange), current, "present"), [(("mail.%s" % zone, "A"), current[("mail.%s" % zone, "A")])]


def test_apply_many_keeps_each_zones_failure_its_own():
    zones = ("good.test.", "notauth.test.", "refused.test.", "nxrrset.test.", "moved.test.", "address.test.", "later.test.")
    update_rcodes = {"notauth.test.": dns.rcode.NOTAUTH, "refused.test.": dns.rcode.REFUSED, "nxrrset.test.": dns.rcode.NXRRSET}
    with server(zones=zones, update_rcodes=update_rcodes) as dns_server:
        client = provider(dns_server)
        requests = [changes_for(client, zone) for zone in zones]
        dns_server.records[("moved.test.", "MX")] = (3600, ["10 someone.moved.test."])  # changed since the read
        # An RRset the change relies on without changing it (the old target's address) changed since the read.
        dns_server.records[("mail.address.test.", "A")] = (300, ["203.0.113.66"])
        results = client.apply_many(requests)
        client.finish()
    good, notauth, refused, nxrrset, moved, address, later = results
    assert good is None and later is None
    assert isinstance(notauth, ProviderError) and "not authorized (NOTAUTH)" in str(notauth) and "notauth.test." in str(notauth)
    assert isinstance(refused, ProviderError) and "answered the update with REFUSED" in str(refused)
    assert isinstance(nxrrset, ProviderError) and "someone changed" in str(nxrrset) and "NXRRSET" in str(nxrrset)
    assert isinstance(moved, ProviderError) and "someone changed" in str(moved)
    assert isinstance(address, ProviderError) and "mail.address.test. A" in str(address) and "NXRRSET" in str(address)
    assert sorted(update.zone[0].name.to_text() for update in dns_server.applied) == ["good.test.", "later.test."]
    for zone in ("good.test.", "later.test."):
        assert dns_server.records[(zone, "MX")] == (3600, ["10 mx.%s" % zone])
    assert dns_server.records[("moved.test.", "MX")] == (3600, ["10 someone.moved.test."])
    assert dns_server.accepted == 1 and not dns_server.tsig_failures


@pytest.mark.parametrize("options, failure, reason", [
    ({"secret": OTHER_SECRET}, "bind", "BADSIG, NOTAUTH"),
    ({"key_name": "other-key."}, "bind", "BADKEY, NOTAUTH"),
    ({"secret": OTHER_SECRET}, "powerdns", "the answer is not signed, REFUSED"),
])
def test_tsig_rejection_names_the_key_for_reads_and_updates(options, failure, reason):
    with server(tsig_failure=failure) as dns_server:
        good = provider(dns_server)
        request = changes_for(good, "good.test.")
        good.finish()
        client = provider(dns_server, **options)
        reads = client.read_many([(zone, keys(zone)) for zone in ("good.test.", "later.test.")])
        updates = client.apply_many([request])
        client.finish()
    for result, what in ((reads[0], "query for good.test. MX"), (reads[1], "query for later.test. MX"), (updates[0], "update")):
        assert isinstance(result, ProviderError), result
        message = str(result)
        assert "rejected the %s signed with TSIG key %s" % (what, options.get("key_name", KEY_NAME)) in message
        assert "(%s)" % reason in message and "check key_name, key_secret and key_algorithm" in message
    assert not dns_server.applied and dns_server.tsig_failures


def test_answer_signed_with_another_secret_is_refused():
    """Answers (from the server or someone in between) whose MAC does not check out with our key give no value."""
    def answer_with_other_key(wire):
        request = dns.message.from_wire(wire, keyring=dnspython_keyring())
        response = dns.message.make_response(request)
        response.flags |= dns.flags.AA
        response.use_tsig(dnspython_keyring(secret=OTHER_SECRET)[dns.name.from_text(KEY_NAME)])
        response.request_mac = request.mac
        return response.to_wire()

    with server() as dns_server:
        dns_server.answer = answer_with_other_key
        client = provider(dns_server)
        results = client.read_many([("good.test.", keys("good.test."))])
        client.finish()
    assert isinstance(results[0], ProviderError) and "BADSIG" in str(results[0])


def test_server_closing_mid_batch_loses_no_query():
    with server(connections=[{"batch": 6, "close_after": 3}, {}]) as dns_server:
        client = provider(dns_server)
        results = client.read_many([(zone, keys(zone)[:2]) for zone in ZONES[:1] + ZONES[4:] + ("third.test.",)])
        client.finish()
    assert [sorted(result) for result in results[:2]] == [sorted(keys(zone)[:2]) for zone in ("good.test.", "later.test.")]
    assert results[0][("good.test.", "MX")] == RecordSet("good.test.", "MX", 3600, ["10 mail.good.test."])
    assert isinstance(results[2], ProviderError) and "REFUSED" in str(results[2])  # third.test. is not served
    assert dns_server.accepted == 2


def test_server_closing_mid_batch_reports_the_updates_in_flight():
    zones = ("good.test.", "lost.test.", "later.test.", "last.test.")
    with server(zones=zones, connections=[{}, {"batch": 4, "close_after": 2}, {}]) as dns_server:
        client = provider(dns_server)
        requests = [changes_for(client, zone) for zone in zones]
        client.pipeline.close()  # the updates start on connection 1
        results = client.apply_many(requests)
        client.finish()
    # The server answered the last two (it answers a batch last first), then hung up with the first two unanswered.
    assert results[2:] == [None, None]
    for result in results[:2]:
        assert isinstance(result, ProviderError)
        assert "did not answer the update (the connection closed" in str(result) and "may or may not" in str(result)
    assert sorted(update.zone[0].name.to_text() for update in dns_server.applied) == ["last.test.", "later.test."]
    assert dns_server.accepted == 2  # nothing resent: no third connection for the lost updates
    assert sum(1 for request in dns_server.received if request.opcode() == dns.opcode.UPDATE) == 2


def test_unreachable_and_silent_servers_stop_the_run():
    client = Rfc2136Provider(server="127.0.0.1", port=closed_port(), protocol="tcp", timeout=5.0)
    with pytest.raises(ServerUnavailable, match="cannot reach 127.0.0.1 port"):
        client.read_many([("good.test.", keys("good.test."))])
    with server(connections=[{"silent": True}]) as dns_server:
        client = provider(dns_server, timeout=0.3)
        with pytest.raises(ServerUnavailable, match="no answer from 127.0.0.1 port %d" % dns_server.port):
            client.read_many([("good.test.", keys("good.test."))])


def test_converge_zones_publishes_the_others_and_a_rerun_fixes_what_is_left():
    zones = ("good.test.", "refused.test.", "later.test.")
    with server(zones=zones, update_rcodes={"refused.test.": dns.rcode.REFUSED}) as dns_server:
        client = provider(dns_server)
        requests = [(zone, wanted(zone)) for zone in zones]
        outcomes = converge_zones(client, requests, "present", False)
        assert [(outcome.zone, outcome.changed, outcome.error is not None) for outcome in outcomes] == [
            ("good.test.", True, False), ("refused.test.", False, True), ("later.test.", True, False)]
        assert "REFUSED" in str(outcomes[1].error)
        del dns_server.update_rcodes["refused.test."]
        applied = len(dns_server.applied)
        outcomes = converge_zones(client, requests, "present", False)
        client.finish()
        assert [(outcome.zone, outcome.changed, outcome.error) for outcome in outcomes] == [
            ("good.test.", False, None), ("refused.test.", True, None), ("later.test.", False, None)]
        assert [update.zone[0].name.to_text() for update in dns_server.applied[applied:]] == ["refused.test."]
        assert dns_server.accepted == 1
