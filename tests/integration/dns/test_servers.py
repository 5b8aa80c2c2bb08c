"""The servers.py helpers start real BIND, Knot and PowerDNS servers that take signed RFC 2136 updates.

The expected rejections below are what these Debian 12 packages (BIND 9.18, Knot 3.2, PowerDNS 4.7)
and dnspython 2.9 were seen to do; a client has to cope with all of them."""

import os
import socket
import time

import dns.exception
import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest

from tests.integration.dns import servers

ZONE = "example.test."
MAIL_A = ("mail.example.test.", 300, "A", "203.0.113.20")
MAIL_MX = ("example.test.", 300, "MX", "10 mail.example.test.")

# A wrong secret for the right key name.  BIND and Knot answer NOTAUTH with TSIG error BADSIG in an
# unsigned TSIG record (RFC 8945), which dnspython raises as PeerBadSignature.  PowerDNS answers a
# plain REFUSED without any TSIG record, which dnspython rejects as a FormError ("response requires
# a TSIG but does not have one") before the rcode can be seen.
WRONG_SECRET = {
    "bind": (dns.tsig.PeerBadSignature, dns.rcode.NOTAUTH, dns.rcode.BADSIG),
    "knot": (dns.tsig.PeerBadSignature, dns.rcode.NOTAUTH, dns.rcode.BADSIG),
    "powerdns": (dns.exception.FormError, dns.rcode.REFUSED, None),
}
# A key name the server does not know: BADKEY from BIND and Knot, the same plain REFUSED from PowerDNS.
UNKNOWN_KEY = {
    "bind": (dns.tsig.PeerBadKey, dns.rcode.NOTAUTH, dns.rcode.BADKEY),
    "knot": (dns.tsig.PeerBadKey, dns.rcode.NOTAUTH, dns.rcode.BADKEY),
    "powerdns": (dns.exception.FormError, dns.rcode.REFUSED, None),
}
# No TSIG at all: a normal response, so dnspython returns it.
UNSIGNED_RCODE = {"bind": dns.rcode.REFUSED, "knot": dns.rcode.NOTAUTH, "powerdns": dns.rcode.REFUSED}
# BIND's default check-integrity refuses an MX whose in-zone target has no address record yet;
# Knot and PowerDNS take it.  An UPDATE carrying the address too passes everywhere.
MX_WITHOUT_ADDRESS_RCODE = {"bind": dns.rcode.REFUSED, "knot": dns.rcode.NOERROR, "powerdns": dns.rcode.NOERROR}


def signed_update(server, zone=ZONE, key_name=None, secret=None):
    key_name = key_name or server.key_name
    keyring = dns.tsigkeyring.from_text({key_name: secret or server.key_secret})
    return dns.update.UpdateMessage(zone, keyring=keyring, keyname=key_name, keyalgorithm=server.key_algorithm)


def send(server, message):
    return dns.query.tcp(message, server.address, port=server.port, timeout=30)


def wire_answer(server, message):
    """(rcode, TSIG error or None) as sent by the server, without dnspython's TSIG checks on the response."""
    with socket.create_connection((server.address, server.port), timeout=30) as connection:
        dns.query.send_tcp(connection, message)
        response = dns.query.receive_tcp(connection, time.time() + 30, keyring=False)[0]
    return response.rcode(), response.tsig_error if response.had_tsig else None


def test_zones_hold_soa_ns_and_the_ns_address(dns_server):
    for zone in dns_server.zones:
        (soa,) = dns_server.query(zone, "SOA")
        assert soa.startswith("ns.%s hostmaster.%s " % (zone, zone))
        assert dns_server.query(zone, "NS") == {"ns." + zone}
        assert dns_server.query("ns." + zone, "A") == {"203.0.113.53"}
        assert not dns_server.query(zone, "MX")
        assert not dns_server.query("mail." + zone, "A")  # NXDOMAIN


def test_signed_update_is_applied(dns_server):
    update = signed_update(dns_server)
    update.add(*MAIL_A)  # the address first: BIND checks the MX target within the same UPDATE
    update.add(*MAIL_MX)
    assert send(dns_server, update).rcode() == dns.rcode.NOERROR
    assert dns_server.query("mail.example.test.", "A") == {"203.0.113.20"}
    assert dns_server.query("example.test.", "MX") == {"10 mail.example.test."}
    assert not dns_server.query("other.test.", "MX")


def test_update_with_wrong_secret_is_rejected(dns_server):
    error, rcode, tsig_error = WRONG_SECRET[dns_server.kind]
    update = signed_update(dns_server, secret=servers.new_secret())
    update.add(*MAIL_A)
    with pytest.raises(error):
        send(dns_server, update)
    assert wire_answer(dns_server, update) == (rcode, tsig_error)
    assert not dns_server.query("mail.example.test.", "A")


def test_update_with_unknown_key_is_rejected(dns_server):
    error, rcode, tsig_error = UNKNOWN_KEY[dns_server.kind]
    update = signed_update(dns_server, key_name="someone-else.", secret=servers.new_secret())
    update.add(*MAIL_A)
    with pytest.raises(error):
        send(dns_server, update)
    assert wire_answer(dns_server, update) == (rcode, tsig_error)
    assert not dns_server.query("mail.example.test.", "A")


def test_unsigned_update_is_rejected(dns_server):
    update = dns.update.UpdateMessage(ZONE)
    update.add(*MAIL_A)
    assert send(dns_server, update).rcode() == UNSIGNED_RCODE[dns_server.kind]
    assert not dns_server.query("mail.example.test.", "A")


def test_mx_whose_target_has_no_address_yet(dns_server):
    update = dns.update.UpdateMessage(ZONE, keyring=dns_server.keyring(), keyname=dns_server.key_name, keyalgorithm=dns_server.key_algorithm)
    update.add(*MAIL_MX)
    assert send(dns_server, update).rcode() == MX_WITHOUT_ADDRESS_RCODE[dns_server.kind]


def test_stop_leaves_no_process(dns_server):
    pid = dns_server.pid
    ports = [dns_server.port] + ([int(dns_server.api_url.rsplit(":", 1)[1])] if dns_server.api_url else [])
    dns_server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert all(servers.port_is_free(port) for port in ports)
    dns_server.stop()  # a second stop, as the fixture's teardown does, is harmless


def test_powerdns_api_lists_the_zone_and_wants_the_key(powerdns_server):
    status, zone = powerdns_server.api("GET", "/zones/example.test.")
    assert status == 200
    assert zone["kind"] == "Native"
    rrsets = {(rrset["name"], rrset["type"]): [record["content"] for record in rrset["records"]] for rrset in zone["rrsets"]}
    assert set(rrsets) == {("example.test.", "SOA"), ("example.test.", "NS"), ("ns.example.test.", "A")}
    assert rrsets["example.test.", "NS"] == ["ns.example.test."]
    assert rrsets["ns.example.test.", "A"] == ["203.0.113.53"]
    assert powerdns_server.api("GET", "/zones/example.test.", api_key="not-the-key")[0] == 401


def test_powerdns_stores_the_key_name_without_trailing_dot(powerdns_server):
    # The API and pdnsutil store "mailsec-key"; a TSIG key name on the wire is absolute anyway,
    # so dnspython's "mailsec-key." (KEY_NAME) is the same key.
    status, keys = powerdns_server.api("GET", "/tsigkeys")
    assert status == 200
    assert [(key["name"], key["id"], key["algorithm"]) for key in keys] == [("mailsec-key", "mailsec-key.", "hmac-sha256")]
    status, metadata = powerdns_server.api("GET", "/zones/example.test./metadata/TSIG-ALLOW-DNSUPDATE")
    assert (status, metadata["metadata"]) == (200, ["mailsec-key."])


def test_powerdns_without_dnsupdate_refuses_updates(tmp_path):
    reason = servers.missing("powerdns")
    if reason:
        pytest.skip(reason)
    server = servers.start_powerdns(tmp_path / "powerdns", [ZONE], dnsupdate=False)
    try:
        update = signed_update(server)
        update.add(*MAIL_A)
        # REFUSED, signed with the key (dnspython verifies it and returns the response).
        assert send(server, update).rcode() == dns.rcode.REFUSED
    finally:
        server.stop()


def test_bind_serves_1000_zones(tmp_path, record_property):
    reason = servers.missing("bind")
    if reason:
        pytest.skip(reason)
    zones = ["z%d.test." % number for number in range(1000)]
    server = servers.start_bind(tmp_path / "bind", zones)
    try:
        assert server.query("z999.test.", "SOA")
        record_property("bind_1000_zones_startup_seconds", round(server.startup_seconds, 3))
        # Reported, not asserted (a busy machine must not fail it); the start's deadline grows with the zones.
        print("BIND answered SOA for 1000 zones %.2f s after it was started" % server.startup_seconds)
    finally:
        server.stop()


def test_workdir_must_be_empty(tmp_path):
    (tmp_path / "named.conf").write_text("left over\n", encoding="utf-8")
    with pytest.raises(ValueError, match="must be empty"):
        servers.start_bind(tmp_path, [ZONE])


def test_start_failure_stops_the_server_and_shows_its_log(tmp_path, monkeypatch):
    reason = servers.missing("bind")
    if reason:
        pytest.skip(reason)
    monkeypatch.setattr(servers, "_bind_config", lambda *args: "options { no-such-option yes; };\n")
    with pytest.raises(servers.ServerStartError, match="(?s)exited with status 1.*no-such-option"):
        servers.start_bind(tmp_path, [ZONE])
    assert not servers.running_servers()
