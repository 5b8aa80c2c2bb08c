"""The RFC 2136 provider with dnspython's dns.query.tcp/udp replaced: queries to read, one UPDATE with prerequisites to write."""

import re
import socket

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.update
import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import Change, ProviderError, RecordSet, RecordSetError, plan
from ansible_collections.mailsec.mx.plugins.module_utils._rfc2136 import Rfc2136Provider

ZONE = "example.test."
SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="
MX = RecordSet(ZONE, "MX", 3600, ["10 nolist.example.test.", "20 mail.example.test."])
MAIL_A = RecordSet("mail.example.test.", "A", 3600, ["203.0.113.20"])
NOLIST_AAAA = RecordSet("nolist.example.test.", "AAAA", 3600, ["2001:db8::10"])


class FakeServer:
    """Answers what dns.query.tcp/udp are given: queries from ``records``, updates with ``update_rcode``; or raises ``error``."""

    def __init__(self, records=None, aa=True, rcode=dns.rcode.NOERROR, update_rcode=dns.rcode.NOERROR, error=None, update_error=None):
        self.records = records or {}  # {(name, type): (ttl, [rdata text])}, or a list of extra RRsets per key
        self.aa = aa
        self.rcode = rcode
        self.update_rcode = update_rcode
        self.error = error
        self.update_error = update_error
        self.sent = []

    def send(self, protocol):
        def fake(message, where, timeout=None, port=53, **kwargs):
            self.sent.append({"protocol": protocol, "message": message, "where": where, "timeout": timeout, "port": port})
            if self.error is not None:
                raise self.error
            if self.update_error is not None and isinstance(message, dns.update.UpdateMessage):
                raise self.update_error
            response = dns.message.make_response(message)
            if isinstance(message, dns.update.UpdateMessage):
                response.set_rcode(self.update_rcode)
                return response
            response.set_rcode(self.rcode)
            if self.aa:
                response.flags |= dns.flags.AA
            question = message.question[0]
            answer = self.records.get((question.name.to_text(), dns.rdatatype.to_text(question.rdtype)))
            if isinstance(answer, list):
                response.answer.extend(answer)
            elif answer:
                response.answer.append(dns.rrset.from_text_list(question.name, answer[0], "IN", question.rdtype, answer[1]))
            return response
        return fake

    def updates(self):
        return [sent["message"] for sent in self.sent if isinstance(sent["message"], dns.update.UpdateMessage)]


@pytest.fixture
def server(monkeypatch):
    fake = FakeServer()
    monkeypatch.setattr(dns.query, "tcp", fake.send("tcp"))
    monkeypatch.setattr(dns.query, "udp", fake.send("udp"))
    return fake


def provider(**options):
    options.setdefault("server", "127.0.0.1")
    return Rfc2136Provider(**options)


def lines(section):
    """A message section as zone-file lines (dnspython keeps one RR per RRset in UPDATE sections and shows no TTL without rdata)."""
    return [line for rrset in section for line in rrset.to_text().splitlines()]


# --- read --------------------------------------------------------------------------------------

def test_read_maps_answers_to_record_sets(server):
    server.records = {
        (ZONE, "MX"): (300, ["20 Mail.Example.Test.", "10 nolist.example.test."]),
        ("nolist.example.test.", "AAAA"): (60, ["2001:db8:0:0::10"]),
    }
    current = provider(port=5353, timeout=2.5).read(ZONE, [MX.key, NOLIST_AAAA.key, MAIL_A.key])
    assert current == {
        MX.key: RecordSet(ZONE, "MX", 300, ["10 nolist.example.test.", "20 mail.example.test."]),
        NOLIST_AAAA.key: RecordSet("nolist.example.test.", "AAAA", 60, ["2001:db8::10"]),
        MAIL_A.key: None,
    }
    assert [(sent["protocol"], sent["where"], sent["port"], sent["timeout"]) for sent in server.sent] == [("tcp", "127.0.0.1", 5353, 2.5)] * 3
    questions = [(sent["message"].question[0].name.to_text(), dns.rdatatype.to_text(sent["message"].question[0].rdtype)) for sent in server.sent]
    assert questions == [(ZONE, "MX"), ("nolist.example.test.", "AAAA"), ("mail.example.test.", "A")]


def test_read_over_udp_with_a_signed_query(server):
    provider(protocol="udp", key_name="mailsec-key", key_secret=SECRET, key_algorithm="hmac-sha512").read(ZONE, [MX.key])
    (sent,) = server.sent
    assert sent["protocol"] == "udp"
    assert sent["message"].keyname == dns.name.from_text("mailsec-key.")
    assert sent["message"].keyalgorithm == dns.name.from_text("hmac-sha512")


def test_read_nxdomain_and_nodata_are_none(server):
    server.rcode = dns.rcode.NXDOMAIN
    assert provider().read(ZONE, [MAIL_A.key]) == {MAIL_A.key: None}
    server.rcode = dns.rcode.NOERROR
    assert provider().read(ZONE, [MAIL_A.key]) == {MAIL_A.key: None}


def test_read_ignores_other_owners_and_types(server):
    other = dns.rrset.from_text("other.example.test.", 300, "IN", "A", "203.0.113.1")
    wrong_type = dns.rrset.from_text("mail.example.test.", 300, "IN", "AAAA", "2001:db8::1")
    server.records = {MAIL_A.key: [other, wrong_type]}
    assert provider().read(ZONE, [MAIL_A.key]) == {MAIL_A.key: None}


def test_read_not_authoritative(server):
    server.aa = False
    server.records = {MX.key: (300, ["10 mail.example.test."])}
    with pytest.raises(ProviderError, match=r"^127\.0\.0\.1 port 5300 is not authoritative for example\.test\.$"):
        provider(port=5300).read(ZONE, [MX.key])


def test_read_cname(server):
    server.records = {MAIL_A.key: [dns.rrset.from_text("mail.example.test.", 300, "IN", "CNAME", "www.example.test.")]}
    with pytest.raises(ProviderError, match=r"^mail\.example\.test\. is a CNAME; an MX target or address owner must not be one$"):
        provider().read(ZONE, [MAIL_A.key])


@pytest.mark.parametrize("rcode", [dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.NOTAUTH])
def test_read_error_rcodes(server, rcode):
    server.rcode = rcode
    with pytest.raises(ProviderError, match=r"^the query for example\.test\. MX got %s$" % dns.rcode.to_text(rcode)):
        provider().read(ZONE, [MX.key])


def test_read_keeps_a_value_the_core_would_not_publish(server):
    # DNS allows an underscore in an MX target; we would not publish one, but must read and replace it.
    server.records = {MX.key: (300, ["10 MX_1.example.test."])}
    assert provider().read(ZONE, [MX.key]) == {MX.key: RecordSet(ZONE, "MX", 300, ["10 mx_1.example.test."])}


# --- apply -------------------------------------------------------------------------------------

def test_apply_sends_one_update_with_prerequisites(server):
    old_mx = RecordSet(ZONE, "MX", 300, ["10 mail.example.test."])
    old_a = RecordSet("mail.example.test.", "A", 300, ["203.0.113.99"])
    changes = plan([MX, MAIL_A, NOLIST_AAAA], {MX.key: old_mx, MAIL_A.key: old_a, NOLIST_AAAA.key: None}, "present")
    server.records = {MX.key: (300, ["10 mail.example.test."]), MAIL_A.key: (300, ["203.0.113.99"])}
    provider(key_name="mailsec-key.", key_secret=SECRET).apply(ZONE, changes)
    (update,) = server.updates()
    assert len(server.sent) == 1
    assert update.zone[0].name == dns.name.from_text(ZONE)
    assert update.keyname == dns.name.from_text("mailsec-key.")
    assert update.keyalgorithm == dns.name.from_text("hmac-sha256")
    assert lines(update.prerequisite) == [
        # value-dependent "RRset exists" with TTL 0 for what changes; "RRset does not exist" for what is new
        "mail.example.test. 0 IN A 203.0.113.99",
        "nolist.example.test. NONE AAAA",
        "example.test. 0 IN MX 10 mail.example.test.",
    ]
    assert {rrset.ttl for rrset in update.prerequisite} == {0}
    # Address RRsets go in before the MX that points at them.
    assert lines(update.update) == [
        "mail.example.test. ANY A",
        "mail.example.test. 3600 IN A 203.0.113.20",
        "nolist.example.test. 3600 IN AAAA 2001:db8::10",
        "example.test. ANY MX",
        "example.test. 3600 IN MX 10 nolist.example.test.",
        "example.test. 3600 IN MX 20 mail.example.test.",
    ]


def test_prerequisites_cover_the_unchanged_rrsets_the_change_relies_on(server):
    # Only the MX changes; the UPDATE still requires the target addresses as read (and an absent one to stay absent),
    # so a concurrent change to an address fails the UPDATE instead of leaving the MX pointing at it.
    old_mx = RecordSet(ZONE, "MX", 300, ["20 mail.example.test."])
    changes = plan([MX], {MX.key: old_mx}, "present")
    unchanged = [(MAIL_A.key, MAIL_A), (NOLIST_AAAA.key, NOLIST_AAAA), (("nolist.example.test.", "A"), None)]
    provider().apply(ZONE, changes, unchanged)
    (update,) = server.updates()
    assert lines(update.prerequisite) == [
        "example.test. 0 IN MX 20 mail.example.test.",
        "mail.example.test. 0 IN A 203.0.113.20",
        "nolist.example.test. 0 IN AAAA 2001:db8::10",
        "nolist.example.test. NONE A",
    ]
    # Nothing but the MX is changed.
    assert lines(update.update) == ["example.test. ANY MX", "example.test. 3600 IN MX 10 nolist.example.test.",
                                    "example.test. 3600 IN MX 20 mail.example.test."]


def test_a_failed_prerequisite_on_an_unchanged_rrset_names_it(server):
    server.update_rcode = dns.rcode.NXRRSET
    with pytest.raises(ProviderError) as error:
        provider().apply(ZONE, [Change(MX.key, None, MX)], [(MAIL_A.key, MAIL_A)])
    assert str(error.value) == ("someone changed one of example.test. MX, mail.example.test. A between our read and our update (NXRRSET); "
                                "nothing was changed, run again")


def test_apply_removal_deletes_mx_first(server):
    changes = plan([MAIL_A, MX], {MX.key: MX, MAIL_A.key: MAIL_A}, "absent")
    server.records = {MX.key: (3600, list(MX.values)), MAIL_A.key: (3600, list(MAIL_A.values))}
    provider().apply(ZONE, changes)
    (update,) = server.updates()
    assert update.keyname is None  # no key_name: unsigned
    assert lines(update.prerequisite) == [
        "example.test. 0 IN MX 10 nolist.example.test.",
        "example.test. 0 IN MX 20 mail.example.test.",
        "mail.example.test. 0 IN A 203.0.113.20",
    ]
    assert lines(update.update) == ["example.test. ANY MX", "mail.example.test. ANY A"]


@pytest.mark.parametrize("rcode", [dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN])
def test_apply_prerequisite_failed(server, rcode):
    server.update_rcode = rcode
    with pytest.raises(ProviderError) as error:
        provider().apply(ZONE, [Change(MAIL_A.key, None, MAIL_A), Change(MX.key, None, MX)])
    assert str(error.value) == ("someone changed one of mail.example.test. A, example.test. MX between our read and our update (%s); "
                                "nothing was changed, run again" % dns.rcode.to_text(rcode))


def test_apply_notauth(server):
    server.update_rcode = dns.rcode.NOTAUTH
    with pytest.raises(ProviderError, match=r"^the server refused the update as not authorized \(NOTAUTH\): check the TSIG key "
                                            r"and that it may update example\.test\.$"):
        provider().apply(ZONE, [Change(MX.key, None, MX)])


@pytest.mark.parametrize("rcode", [dns.rcode.REFUSED, dns.rcode.SERVFAIL, dns.rcode.NOTZONE])
def test_apply_refused(server, rcode):
    server.update_rcode = rcode
    with pytest.raises(ProviderError) as error:
        provider().apply(ZONE, [Change(MX.key, None, MX)])
    message = str(error.value)
    assert message.startswith("the server answered the update with %s; nothing was changed. Check its update policy" % dns.rcode.to_text(rcode))
    assert "BIND also refuses an MX whose in-zone target has no address record" in message


# --- transport errors ------------------------------------------------------------------------------

def test_timeout_names_server_port_and_timeout(server):
    server.error = dns.exception.Timeout(timeout=1.5)
    with pytest.raises(ProviderError) as error:
        provider(port=5353, protocol="udp", timeout=1.5).read(ZONE, [MX.key])
    assert str(error.value) == "no answer to the query for example.test. MX from 127.0.0.1 port 5353 within 1.5 s"


def test_timeout_of_the_update(server):
    server.update_error = dns.exception.Timeout(timeout=3)
    with pytest.raises(ProviderError, match=r"^no answer to the update from 127\.0\.0\.1 port 53 within 3 s$"):
        provider(timeout=3).apply(ZONE, [Change(MX.key, None, MX)])


@pytest.mark.parametrize("error", [dns.tsig.PeerBadSignature(), dns.tsig.PeerBadKey(), dns.exception.FormError("response requires a TSIG")],
                         ids=["bad-signature", "bad-key", "form-error"])
def test_tsig_rejection(server, error):
    server.update_error = error
    with pytest.raises(ProviderError) as raised:
        provider(key_name="mailsec-key.", key_secret=SECRET).apply(ZONE, [Change(MX.key, None, MX)])
    message = str(raised.value)
    assert message.startswith("the server rejected the update signed with TSIG key mailsec-key. (%s: " % type(error).__name__)
    assert message.endswith("check key_name, key_secret and key_algorithm")


@pytest.mark.parametrize("error", [ConnectionRefusedError(111, "Connection refused"), EOFError("EOF")])
def test_connection_errors(server, error):
    server.error = error
    with pytest.raises(ProviderError) as raised:
        provider(port=5353).read(ZONE, [MX.key])
    assert str(raised.value) == "cannot reach 127.0.0.1 port 5353 for the query for example.test. MX: %s" % error


# --- construction ------------------------------------------------------------------------------

@pytest.mark.parametrize("secret", [
    "not base64!", "abc", "c2VjcmV0\nLXNlY3JldA==", " c2VjcmV0LXNlY3JldA==", "c2VjcmV0LXNlY3JldA==\n", "c2VjcmV0-XNlY3JldA==",
    "c2VjcmV0LXNlY3JldA=\x00=", "c2VjcmV0LXNlY3JldA==QQ==", "c2VjcmV0LXNlY3JldA", "sécret",
], ids=["punctuation", "short", "inner-newline", "leading-space", "trailing-newline", "urlsafe", "nul", "data-after-padding",
        "no-padding", "non-ascii"])
def test_a_secret_that_is_not_strict_base64_is_refused_before_anything(server, monkeypatch, secret):
    # dnspython's own decoder skips what it does not know: these used to be taken, or fail with a confusing error.
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: pytest.fail("the server was looked up"))
    with pytest.raises(RecordSetError) as error:
        provider(key_name="mailsec-key.", key_secret=secret)
    message = str(error.value)
    assert message.startswith("key_secret is not valid base64 (")
    assert "strict RFC 4648 base64 only" in message
    assert secret not in message
    assert not server.sent


@pytest.mark.parametrize("secret, message", [(None, "key_secret is empty"), ("", "key_secret is empty"), ("====", r"key_secret is not valid base64 \(")])
def test_an_empty_secret_is_refused(server, secret, message):
    with pytest.raises(RecordSetError, match="^" + message):
        provider(key_name="mailsec-key.", key_secret=secret)


def test_the_secret_signs_with_its_decoded_bytes(server):
    provider(key_name="mailsec-key", key_secret=SECRET).read(ZONE, [MX.key])
    (sent,) = server.sent
    assert sent["message"].keyname == dns.name.from_text("mailsec-key.")
    assert sent["message"].keyring.secret == b"secret-secret-secret-secret-secret"


@pytest.mark.parametrize("key_name, message", [
    ("bad..key", r"key_name 'bad..key' is not a valid DNS name \("),
    ("x" * 64, r"key_name 'x{64}' is not a valid DNS name \("),
    ("mailsec-key\n", r"key_name: 'mailsec-key\\n' contains a control character \(U\+000A at offset 11\); remove it"),
    ("mail\rsec", r"key_name: 'mail\\rsec' contains a control character"),
    ("key\x00", r"key_name: 'key\\x00' contains a control character"),
    (" mailsec-key", r"key_name ' mailsec-key' is empty or has whitespace around it"),
    (".", r"key_name '\.' is the root name"),
])
def test_a_bad_key_name_gets_an_error_about_the_key_name(server, monkeypatch, key_name, message):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: pytest.fail("the server was looked up"))
    with pytest.raises(RecordSetError, match="^" + message):
        provider(key_name=key_name, key_secret=SECRET)
    assert not server.sent


@pytest.mark.parametrize("server_value", ["127.0.0.1\n", "ns1.example.test\r\nx", "\x00ns1"])
def test_a_server_with_a_control_character_is_refused_before_any_lookup(server, monkeypatch, server_value):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: pytest.fail("the server was looked up"))
    with pytest.raises(RecordSetError, match=r"^server: %s contains a control character" % re.escape(repr(server_value))):
        provider(server=server_value)


def test_unresolvable_server(monkeypatch):
    def gaierror(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", gaierror)
    with pytest.raises(ProviderError, match=r"^cannot resolve server 'ns1\.example\.test': .*Name or service not known"):
        provider(server="ns1.example.test")


def test_server_name_is_resolved_once(monkeypatch, server):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.53", 53))])
    provider(server="ns1.example.test").read(ZONE, [MX.key])
    assert server.sent[0]["where"] == "203.0.113.53"


def test_form_error_without_a_key_does_not_blame_a_key(server):
    server.error = dns.exception.FormError("truncated")
    with pytest.raises(ProviderError) as raised:
        provider().read(ZONE, [MX.key])
    assert "TSIG key None" not in str(raised.value)
