"""The DNS wire codec of the fast RFC 2136 path, checked against dnspython, and its Pipeline against a real TCP server.

TSIG signatures are checked by dnspython both ways; parse() is fed handmade hostile messages; update() must say what
dnspython's own UpdateMessage says. ``DnsServer`` (also used by test_rfc2136_pipeline.py) is a threaded TCP server on
a loopback address that answers with dnspython, and can misbehave on purpose: answer out of order, close after a
number of answers, never answer, send decoys or partial frames.
"""

import fcntl
import random
import socket
import struct
import termios
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.update
import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _dnswire
from ansible_collections.mailsec.mx.plugins.module_utils._dnswire import (
    HASHES, ConnectionLost, Key, Outgoing, Pipeline, TsigError, WireError, name_wire, parse, query, read_name, update)
from tests.loopback import closed_port

KEY_NAME = "mailsec-key."
SECRET = b"0123456789abcdef0123456789abcdef"
OTHER_SECRET = b"fedcba9876543210fedcba9876543210"
# Long enough for a loaded machine, short enough that a test that goes wrong fails in seconds instead of hanging.
TIMEOUT = 5.0
SERVER_TIMEOUT = 30.0


def dnspython_keyring(name=KEY_NAME, secret=SECRET, algorithm="hmac-sha256"):
    return {dns.name.from_text(name): dns.tsig.Key(name, secret, HASHES[algorithm][0])}


# --- a DNS server on loopback -----------------------------------------------------------------------------------


def frame(wire):
    return struct.pack("!H", len(wire)) + wire


def read_exactly(conn, size):
    data = b""
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(conn):
    """One length-prefixed message, or None once the peer has closed."""
    header = read_exactly(conn, 2)
    if header is None:
        return None
    return read_exactly(conn, struct.unpack("!H", header)[0])


def hang_up(conn):
    """Close after what was sent has gone out: FIN first, then read until the client closes its end."""
    try:
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass
    except OSError:
        pass


def tsig_error_answer(wire, error, rcode=dns.rcode.NOTAUTH):
    """What BIND sends for a request whose key it does not know (BADKEY) or whose MAC is wrong (BADSIG): the answer,
    unsigned, with a TSIG record that carries the error and an empty MAC."""
    request = dns.message.from_wire(wire, keyring=False)
    response = dns.message.make_response(request)
    response.set_rcode(rcode)
    unsigned = bytearray(response.to_wire())
    unsigned[10:12] = struct.pack("!H", struct.unpack_from("!H", unsigned, 10)[0] + 1)
    algorithm = request.keyalgorithm.to_wire()
    rdata = algorithm + struct.pack("!HIHH", 0, int(time.time()), 300, 0) + struct.pack("!HHH", request.id, error, 0)
    return bytes(unsigned) + request.keyname.to_wire() + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata


class DnsServer:
    """An authoritative server for ``zones`` on ``address`` (TCP), answering with dnspython, a thread per connection.

    ``records``: {(name, type): (ttl, [values])}; UPDATEs change them after checking their prerequisites as RFC 2136
    3.2 does (YXRRSET, NXRRSET). ``rcodes``: {name or zone: rcode} answered to a query instead; ``update_rcodes``:
    {zone: rcode} answered to an UPDATE instead of applying it; ``not_authoritative``: zones answered without AA.
    ``keyring``: every request must be signed with one of its keys (dnspython checks), answers are signed;
    ``tsig_failure``: how a bad signature is answered, "bind" (NOTAUTH with a TSIG error) or "powerdns" (REFUSED,
    unsigned). ``connections``: how each connection is served, by number (the last entry holds for later ones):
    options of ``serve`` (``batch``, ``close_after``, ``decoys``, ``silent``) or ``handler`` (a function of server
    and connection).
    """

    def __init__(self, address="127.0.0.1", zones=("example.test.",), records=None, rcodes=None, update_rcodes=None,
                 not_authoritative=(), keyring=None, tsig_failure="bind", connections=({},)):
        self.zones = [dns.name.from_text(zone) for zone in zones]
        self.records = dict(records or {})
        self.rcodes = dict(rcodes or {})
        self.update_rcodes = dict(update_rcodes or {})
        self.not_authoritative = set(not_authoritative)
        self.keyring = keyring
        self.tsig_failure = tsig_failure
        self.connections = list(connections)
        self.received = []  # every request as dnspython parsed it, in the order read
        self.applied = []  # the UPDATEs applied
        self.tsig_failures = []
        self.window_exceeded = []
        self.lock = threading.Lock()
        self.accepted = 0
        self.threads = []
        self.open_connections = []
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((address, 0))
        self.listener.listen(16)
        self.address = address
        self.port = self.listener.getsockname()[1]
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.accepting.join(SERVER_TIMEOUT)
        for conn in self.open_connections:  # a test that failed may have left its client connected
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self.threads:
            thread.join(SERVER_TIMEOUT)

    def _accept(self):
        while True:
            try:
                conn, dummy = self.listener.accept()
            except OSError:
                return
            options = self.connections[min(self.accepted, len(self.connections) - 1)]
            self.accepted += 1
            self.open_connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn, options), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn, options):
        conn.settimeout(SERVER_TIMEOUT)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            if "handler" in options:
                options["handler"](self, conn)
                return
            self.serve(conn, **options)

    def serve(self, conn, batch=1, close_after=None, silent_close=False, decoys=False, silent=False, window=None):
        """Read requests and answer them: ``batch`` at a time, the last first; hang up instead of giving answer number
        ``close_after`` + 1 (or, ``silent_close``, say nothing more); ``decoys``: before each answer, a copy under an
        ID nobody asked for; ``silent``: read, never answer; ``window``: record in window_exceeded when more than that
        many requests came unanswered."""
        answered, pending = 0, []
        while True:
            wire = read_frame(conn)
            if wire is None:
                return
            pending.append(wire)
            if window is not None and len(pending) >= window and _readable_bytes(conn):
                self.window_exceeded.append(len(pending))
            if silent or len(pending) < batch:
                continue
            for wire in reversed(pending):
                if close_after is not None and answered >= close_after:
                    if silent_close:
                        read_frame(conn)
                    hang_up(conn)
                    return
                reply = self.answer(wire)
                if decoys:
                    decoy = bytearray(reply)
                    decoy[0] ^= 0x80
                    conn.sendall(frame(bytes(decoy)))
                conn.sendall(frame(reply))
                answered += 1
            pending = []

    def answer(self, wire):
        """The answer's wire form, as the server would send it."""
        try:
            request = dns.message.from_wire(wire, keyring=self.keyring)
        except (dns.message.UnknownTSIGKey, dns.tsig.BadSignature) as exc:
            with self.lock:
                self.tsig_failures.append(type(exc).__name__)
            if self.tsig_failure == "powerdns":
                response = dns.message.make_response(dns.message.from_wire(wire, keyring=False))
                response.set_rcode(dns.rcode.REFUSED)
                return _unsigned(response)  # PowerDNS: REFUSED, no TSIG record
            error = dns.rcode.BADKEY if isinstance(exc, dns.message.UnknownTSIGKey) else dns.rcode.BADSIG
            return tsig_error_answer(wire, error)
        with self.lock:
            self.received.append(request)
            response = dns.message.make_response(request)
            if request.opcode() == dns.opcode.UPDATE:
                self._update(request, response)
            else:
                self._query(request, response)
        return response.to_wire()

    def _zone(self, name):
        found = [zone for zone in self.zones if name.is_subdomain(zone)]
        return max(found, key=len) if found else None

    def _query(self, request, response):
        question = request.question[0]
        name = question.name.to_text()
        zone = self._zone(question.name)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return
        rcode = self.rcodes.get(name, self.rcodes.get(zone.to_text()))
        if rcode is not None:
            response.set_rcode(rcode)
            return
        if zone.to_text() not in self.not_authoritative:
            response.flags |= dns.flags.AA
        for rtype in ("CNAME", dns.rdatatype.to_text(question.rdtype)):
            if (name, rtype) in self.records:
                ttl, values = self.records[(name, rtype)]
                response.answer.append(dns.rrset.from_text_list(question.name, ttl, "IN", rtype, values))
                break

    def _update(self, request, response):
        zone = request.zone[0].name
        rcode = self.update_rcodes.get(zone.to_text())
        if rcode is None and self._zone(zone) != zone:
            rcode = dns.rcode.NOTAUTH
        if rcode is None:
            rcode = self._prerequisites(request)
        if rcode is not None:
            response.set_rcode(rcode)
            return
        for rrset in request.update:
            key = (rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype))
            if rrset.deleting == dns.rdataclass.ANY:
                self.records.pop(key, None)
            else:
                values = self.records.get(key, (rrset.ttl, []))[1]
                self.records[key] = (rrset.ttl, sorted(set(values) | {rdata.to_text() for rdata in rrset}))
        self.applied.append(request)

    def _prerequisites(self, request):
        # dnspython reads an UPDATE one record per RRset: the values of one RRset are gathered first.
        absent, present = set(), {}
        for rrset in request.prerequisite:
            key = (rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype))
            if rrset.deleting == dns.rdataclass.NONE:
                absent.add(key)
            else:
                present.setdefault(key, set()).update(rdata.to_text() for rdata in rrset)
        if any(key in self.records for key in absent):
            return dns.rcode.YXRRSET
        if any(values != set(self.records.get(key, (0, []))[1]) for key, values in present.items()):
            return dns.rcode.NXRRSET
        return None


def _unsigned(response):
    response.keyring = None
    response.tsig = None
    return response.to_wire()


def _readable_bytes(sock):
    """Octets received and not yet read (SIOCINQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def _unsent_bytes(sock):
    """Octets sent and not yet acknowledged by the peer (SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]


def hang_up_acknowledged(conn):
    """Send FIN and wait until the client's kernel acknowledged it (FIN_WAIT2): the client's next read sees the end."""
    conn.shutdown(socket.SHUT_WR)
    wait_for(lambda: conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == TCP_FIN_WAIT2, "the FIN to be acknowledged")


TCP_FIN_WAIT2 = 5  # tcpi_state, include/net/tcp_states.h


def wait_for(condition, what):
    deadline = time.monotonic() + SERVER_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting for %s" % what)
        time.sleep(0.001)


# --- TSIG ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", sorted(HASHES))
def test_signed_query_and_update_pass_dnspython(algorithm):
    key = Key("MailSec-Key", SECRET, algorithm)  # no final dot, mixed case: the MAC uses the canonical name
    for message_id, wire in ((0x1234, query(0x1234, "example.test.", "MX")),
                             (0xBEEF, update(0xBEEF, "example.test.", [("example.test.", "MX", None)],
                                             [("example.test.", "MX", False, (300, ["10 mail.example.test."]))]))):
        signed, mac = key.sign(wire)
        message = dns.message.from_wire(signed, keyring=dnspython_keyring(algorithm=algorithm))
        assert message.had_tsig and message.mac == mac and message.id == message_id
        assert message.keyname == dns.name.from_text(KEY_NAME)
        with pytest.raises(dns.tsig.BadSignature):
            dns.message.from_wire(signed, keyring=dnspython_keyring(secret=OTHER_SECRET, algorithm=algorithm))


def signed_exchange(algorithm="hmac-sha256", fudge=300, sign_with=None, records=(("mail.example.test.", "A", "203.0.113.20"),)):
    """(key, answer wire, request MAC): a query signed by Key, answered by dnspython (signed with ``sign_with``,
    a dnspython key, when given instead of the request's key)."""
    key = Key("MailSec-KEY.", SECRET, algorithm)  # the name compares as DNS names do: without case
    wire, mac = key.sign(query(0x4242, "mail.example.test.", "A"))
    request = dns.message.from_wire(wire, keyring=dnspython_keyring(algorithm=algorithm))
    response = dns.message.make_response(request, fudge=fudge)
    response.flags |= dns.flags.AA
    for name, rtype, value in records:
        response.answer.append(dns.rrset.from_text(name, 300, "IN", rtype, value))
    if sign_with is not None:
        response.use_tsig(sign_with, fudge=fudge)
        response.request_mac = mac
    return key, response.to_wire(), mac


@pytest.mark.parametrize("algorithm", sorted(HASHES))
def test_answer_signed_by_dnspython_verifies(algorithm):
    key, wire, mac = signed_exchange(algorithm)
    answer = parse(wire)
    key.verify(wire, answer.tsig, mac)
    assert answer.records == [("mail.example.test.", "A", 300, "203.0.113.20")]
    with pytest.raises(TsigError) as refused:  # the MAC covers the request's MAC: an answer to another request fails
        key.verify(wire, answer.tsig, bytes(len(mac)))
    assert refused.value.error == "BADSIG"


def test_answer_fudge_is_the_one_it_carries():
    """RFC 8945 4.3.3: the MAC covers the fudge the answer carries (not ours); its time must lie within that fudge."""
    key, wire, mac = signed_exchange(fudge=60)
    answer = parse(wire)
    signed = answer.tsig[3]
    key.verify(wire, answer.tsig, mac, now=signed + 60)
    key.verify(wire, answer.tsig, mac, now=signed - 60)
    for now in (signed + 61, signed - 61):
        with pytest.raises(TsigError) as refused:
            key.verify(wire, answer.tsig, mac, now=now)
        assert refused.value.error == "BADTIME"


def test_every_changed_octet_of_a_signed_answer_is_refused():
    key, wire, mac = signed_exchange(records=(("mail.example.test.", "A", "203.0.113.20"), ("mail.example.test.", "A", "203.0.113.21")))
    answer = parse(wire)
    key.verify(wire, answer.tsig, mac)
    owner_end = read_name(wire, answer.tsig[1])[1]
    tsig_ttl = range(owner_end + 4, owner_end + 8)
    # The ID may change on the way (the MAC covers the original ID); the TSIG record's TTL carries nothing.
    for position in set(range(2, len(wire))) - set(tsig_ttl):
        changed = bytearray(wire)
        changed[position] ^= 0x01
        with pytest.raises(WireError):
            key.verify(bytes(changed), parse(bytes(changed)).tsig, mac)


@pytest.mark.parametrize("sign_with, reason", [
    (dns.tsig.Key("other-key.", SECRET, dns.tsig.HMAC_SHA256), "another key"),
    (dns.tsig.Key(KEY_NAME, SECRET, dns.tsig.HMAC_SHA512), "another key"),
    (dns.tsig.Key(KEY_NAME, OTHER_SECRET, dns.tsig.HMAC_SHA256), "does not match"),
])
def test_answer_signed_with_another_key_is_refused(sign_with, reason):
    key, wire, mac = signed_exchange(sign_with=sign_with)
    with pytest.raises(TsigError, match=reason):
        key.verify(wire, parse(wire).tsig, mac)


def test_answer_signed_outside_the_fudge_is_refused():
    key, wire, mac = signed_exchange()
    answer = parse(wire)
    with pytest.raises(TsigError, match="300 s") as refused:
        key.verify(wire, answer.tsig, mac, now=time.time() + 3600)
    assert refused.value.error == "BADTIME"


@pytest.mark.parametrize("error, name", [(dns.rcode.BADKEY, "BADKEY"), (dns.rcode.BADSIG, "BADSIG"), (dns.rcode.BADTIME, "BADTIME")])
def test_tsig_error_of_the_server_is_refused(error, name):
    key = Key(KEY_NAME, SECRET)
    wire, mac = key.sign(query(7, "example.test.", "MX"))
    answer_wire = tsig_error_answer(wire, error)
    answer = parse(answer_wire)
    assert answer.rcode == dns.rcode.NOTAUTH
    with pytest.raises(TsigError, match=name) as refused:
        key.verify(answer_wire, answer.tsig, mac)
    assert refused.value.error == name


def test_unsigned_answer_is_refused():
    key = Key(KEY_NAME, SECRET)
    wire, mac = key.sign(query(7, "example.test.", "MX"))
    answer_wire = _unsigned(dns.message.make_response(dns.message.from_wire(wire, keyring=dnspython_keyring())))
    answer = parse(answer_wire)
    assert answer.tsig is None
    with pytest.raises(TsigError, match="not signed"):
        key.verify(answer_wire, answer.tsig, mac)


@pytest.mark.parametrize("text", ["tsig\\032key.ex\\.ample.", "TSIG\\032key.ex\\046ample"])
def test_key_name_with_escapes_signs_and_verifies_as_dnspython_does(text):
    name = dns.name.from_text("tsig\\032key.ex\\.ample.")
    keyring = {name: dns.tsig.Key(name, SECRET, dns.tsig.HMAC_SHA256)}
    key = Key(text, SECRET)
    signed, mac = key.sign(query(9, "example.test.", "MX"))
    request = dns.message.from_wire(signed, keyring=keyring)
    assert request.keyname == name and request.mac == mac
    wire = dns.message.make_response(request).to_wire()
    key.verify(wire, parse(wire).tsig, mac)


# --- parse ---------------------------------------------------------------------------------------------------------


def header(message_id=1, flags=0x8400, qdcount=0, ancount=0, nscount=0, arcount=0):
    return struct.pack("!HHHHHH", message_id, flags, qdcount, ancount, nscount, arcount)


def record(owner, rtype, rdata, rclass=1, ttl=300):
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def answer_of(message, *records):
    """A dnspython message's wire form with ``records`` (wire) added to its answer section."""
    wire = bytearray(message.to_wire())
    wire[6:8] = struct.pack("!H", struct.unpack_from("!H", wire, 6)[0] + len(records))
    return bytes(wire) + b"".join(records)


def mx_answer():
    request = dns.message.make_query("example.test.", "MX")
    response = dns.message.make_response(request)
    response.flags |= dns.flags.AA
    response.answer.append(dns.rrset.from_text("example.test.", 3600, "IN", "MX", "10 mail.example.test.", "20 MX2.Example.Test."))
    response.answer.append(dns.rrset.from_text("mail.example.test.", 300, "IN", "A", "203.0.113.20"))
    response.answer.append(dns.rrset.from_text("mail.example.test.", 300, "IN", "AAAA", "2001:db8::20"))
    response.answer.append(dns.rrset.from_text("www.example.test.", 60, "IN", "CNAME", "mail.example.test."))
    return response


def test_values_of_a_compressed_answer():
    wire = mx_answer().to_wire()
    assert b"\xc0" in wire[12:]  # dnspython compressed it: pointers backwards
    answer = parse(wire)
    assert answer.question == ("example.test.", 15)
    assert answer.flags & _dnswire.FLAG_AA and answer.rcode == 0 and answer.tsig is None
    assert sorted(answer.records) == sorted([
        ("example.test.", "MX", 3600, "10 mail.example.test."),
        ("example.test.", "MX", 3600, "20 mx2.example.test."),
        ("mail.example.test.", "A", 300, "203.0.113.20"),
        ("mail.example.test.", "AAAA", 300, "2001:db8::20"),
        ("www.example.test.", "CNAME", 60, "mail.example.test."),
    ])


def test_owner_names_are_lower_case():
    response = dns.message.make_response(dns.message.make_query("Mail.EXAMPLE.test.", "A"))
    response.answer.append(dns.rrset.from_text("MAIL.Example.Test.", 300, "IN", "A", "203.0.113.20"))
    answer = parse(response.to_wire())
    assert answer.question == ("mail.example.test.", 1)
    assert answer.records == [("mail.example.test.", "A", 300, "203.0.113.20")]


def test_record_of_another_class_is_not_a_value():
    response = dns.message.make_response(dns.message.make_query("mail.example.test.", "A"))
    response.answer.append(dns.rrset.from_text("mail.example.test.", 300, "IN", "A", "203.0.113.20"))
    chaos = record(name_wire("mail.example.test."), 1, bytes([203, 0, 113, 99]), rclass=3)
    assert parse(answer_of(response, chaos)).records == [("mail.example.test.", "A", 300, "203.0.113.20")]


def test_answer_to_another_question_is_visible():
    response = dns.message.make_response(dns.message.make_query("other.example.test.", "A"))
    assert parse(response.to_wire()).question != ("mail.example.test.", 1)
    response = dns.message.make_response(dns.message.make_query("mail.example.test.", "AAAA"))
    assert parse(response.to_wire()).question == ("mail.example.test.", 28)


def test_message_that_is_not_an_answer_is_refused():
    """Without TSIG, an echo of our own UPDATE (QR clear, RCODE 0) must not pass for an answer that applied it."""
    with pytest.raises(WireError, match="not an answer"):
        parse(update(5, "example.test.", [], [("example.test.", "MX", True, None)]))
    assert parse(bytes(header(flags=0x8000))).opcode == 0
    assert parse(bytes(header(flags=0x8000 | _dnswire.OPCODE_UPDATE))).opcode == 5


@pytest.mark.parametrize("rtype, rdata", [(1, b"\x01\x02\x03"), (1, b"\x01\x02\x03\x04\x05"), (28, bytes(15)), (15, b"\x00\x0a")])
def test_value_of_the_wrong_length_is_refused(rtype, rdata):
    wire = header(ancount=1) + record(name_wire("mail.example.test."), rtype, rdata)
    with pytest.raises(WireError, match="octets"):
        parse(wire)


@pytest.mark.parametrize("rtype", [15, 5])
def test_name_in_rdata_must_fill_it(rtype):
    exchange = (b"\x00\x0a" if rtype == 15 else b"") + name_wire("mail.example.test.")
    for rdata in (exchange + b"\x00", exchange[:-1]):
        with pytest.raises(WireError):
            parse(header(ancount=1) + record(name_wire("example.test."), rtype, rdata))


def test_compression_pointers_forward_to_self_and_in_loops_are_refused():
    owner = b"\x04mail\xc0\x0c"  # at 12: ends with a pointer to itself (offset 12 + 5 = 17 points to 12: backwards)
    # Backwards, fine: a name at 12, a second name pointing to it.
    wire = header(ancount=2) + record(name_wire("example.test."), 1, bytes(4)) + record(b"\x04mail\xc0\x0c", 1, bytes(4))
    assert [found[0] for found in parse(wire).records] == ["example.test.", "mail.example.test."]
    # Forward: the owner points past itself.
    with pytest.raises(WireError, match="pointer"):
        parse(header(ancount=1) + record(b"\xc0\x20", 1, bytes(4)) + bytes(20))
    # To itself.
    with pytest.raises(WireError, match="pointer"):
        parse(header(ancount=1) + record(b"\xc0\x0c", 1, bytes(4)))
    # A loop through a backward pointer: "mail" then a pointer back to "mail".
    with pytest.raises(WireError):
        parse(header(ancount=1) + record(owner, 1, bytes(4)))
    # A chain of 200 pointers, each to the one before: each is backwards, the chain is not a name.
    chain = b"\x00" + b"".join(struct.pack("!H", 0xC000 | (12 if number == 0 else 11 + 2 * number)) for number in range(200))
    wire = bytearray(header(ancount=1) + chain)
    wire += struct.pack("!H", 0xC000 | (len(wire) - 2)) + struct.pack("!HHIH", 1, 1, 300, 4) + bytes(4)
    with pytest.raises(WireError):
        parse(bytes(wire))


def test_names_longer_than_255_octets_are_refused():
    label = b"\x3f" + b"a" * 63
    too_long = label * 4 + b"\x00"  # 257 octets
    with pytest.raises(WireError, match="255"):
        read_name(too_long, 0)
    assert read_name(label * 3 + b"\x3d" + b"a" * 61 + b"\x00", 0)[1] == 255
    with pytest.raises(ValueError):
        name_wire(".".join(["a" * 63] * 4) + ".")
    with pytest.raises(ValueError):
        name_wire("a" * 64 + ".example.test.")
    with pytest.raises(ValueError):
        name_wire("mail..example.test.")


def test_every_truncation_of_an_answer_is_refused():
    key, wire, mac = signed_exchange()
    for wire in (mx_answer().to_wire(), wire):
        for end in range(len(wire)):
            with pytest.raises(WireError):
                parse(wire[:end])


def test_trailing_octets_are_refused():
    with pytest.raises(WireError, match="after its last record"):
        parse(mx_answer().to_wire() + b"\x00")


def test_tsig_record_must_be_the_last_additional_one():
    key, wire, mac = signed_exchange()
    start = parse(wire).tsig[1]
    extra = record(name_wire("mail.example.test."), 1, bytes(4))
    not_last = bytearray(wire[:start] + wire[start:] + extra)
    not_last[10:12] = struct.pack("!H", struct.unpack_from("!H", not_last, 10)[0] + 1)
    with pytest.raises(WireError, match="not the last"):
        parse(bytes(not_last))
    # The same record as the last one of the answer section instead of the additional one.
    in_answer = bytearray(wire)
    in_answer[6:8] = struct.pack("!H", struct.unpack_from("!H", in_answer, 6)[0] + 1)
    in_answer[10:12] = struct.pack("!H", struct.unpack_from("!H", in_answer, 10)[0] - 1)
    with pytest.raises(WireError, match="TSIG"):
        parse(bytes(in_answer))
    # Of another class than ANY (RFC 8945 4.2).
    other_class = bytearray(wire)
    class_at = start + len(name_wire(KEY_NAME)) + 2
    other_class[class_at:class_at + 2] = struct.pack("!H", 1)
    with pytest.raises(WireError, match="TSIG"):
        parse(bytes(other_class))


def test_odd_label_octets_are_escaped_as_dnspython_does():
    for octet in range(256):
        label = bytes([octet]) + b"x"
        wire = bytes([len(label)]) + label + b"\x04test\x00"
        text, end = read_name(wire, 0)
        assert end == len(wire)
        assert text == dns.name.from_wire(wire, 0)[0].to_text().lower()
        assert all(0x20 < ord(char) < 0x7F for char in text), text
        assert name_wire(text) == wire.lower()  # the text reads back as the same name


def test_hostile_answers_raise_only_wire_errors():
    """Random damage to real answers: parse either reads them or raises WireError; no text carries a control character."""
    key, signed, mac = signed_exchange()
    samples = [mx_answer().to_wire(), signed]
    generator = random.Random(15)
    for dummy in range(3000):
        wire = bytearray(generator.choice(samples))
        for dummy in range(generator.randint(1, 4)):
            wire[generator.randrange(len(wire))] = generator.randrange(256)
        try:
            answer = parse(bytes(wire))
        except WireError:
            continue
        texts = [answer.question[0]] if answer.question else []
        texts += [text for owner, rtype, ttl, value in answer.records for text in (owner, value) if isinstance(text, str)]
        for text in texts:
            assert all(0x20 < ord(char) < 0x7F or char == " " for char in text), text


# --- update() -----------------------------------------------------------------------------------------------------


def sections(message):
    """A message's sections as sorted text lines (TTLs included, which dnspython's == ignores)."""
    return [sorted(line for rrset in section for line in rrset.to_text().splitlines()) for section in message.sections]


def test_update_says_what_dnspython_says():
    zone = "example.test."
    wire = update(0x2A2A, zone,
                  [("example.test.", "MX", ["10 mail.example.test.", "20 backup.example.test."]),
                   ("mail.example.test.", "A", ["203.0.113.20"]),
                   ("new.example.test.", "AAAA", None)],
                  [("example.test.", "MX", True, (3600, ["10 mail.example.test.", "30 new.example.test."])),
                   ("old.example.test.", "A", True, None),
                   ("new.example.test.", "AAAA", False, (300, ["2001:db8::30", "2001:db8::31"]))])
    ours = dns.message.from_wire(wire)
    built = dns.update.UpdateMessage(zone, id=0x2A2A)
    built.present("example.test.", dns.rdataset.from_text("IN", "MX", 0, "10 mail.example.test.", "20 backup.example.test."))
    built.present("mail.example.test.", dns.rdataset.from_text("IN", "A", 0, "203.0.113.20"))
    built.absent("new.example.test.", "AAAA")
    built.delete("example.test.", "MX")
    built.add("example.test.", 3600, "MX", "10 mail.example.test.", "30 new.example.test.")
    built.delete("old.example.test.", "A")
    built.add("new.example.test.", 300, "AAAA", "2001:db8::30", "2001:db8::31")
    theirs = dns.message.from_wire(built.to_wire())  # as dnspython sends it (its own copy holds names relative to the zone)
    assert isinstance(ours, dns.update.UpdateMessage)
    assert ours == theirs
    assert sections(ours) == sections(theirs)
    assert (ours.id, ours.flags) == (theirs.id, theirs.flags)


def test_update_refuses_a_prerequisite_without_values():
    with pytest.raises(ValueError, match="mail.example.test. A"):
        update(1, "example.test.", [("mail.example.test.", "A", [])], [])


# --- Pipeline against a real server -------------------------------------------------------------------------------


ADDRESSES = {"mail%d.example.test." % number: "203.0.113.%d" % number for number in range(1, 60)}


def address_server(**options):
    records = {(name, "A"): (300, [address]) for name, address in ADDRESSES.items()}
    return DnsServer(records=records, **options)


def queries(count, first_id=100):
    names = sorted(ADDRESSES)[:count]
    return [Outgoing(query(first_id + number, name, "A"), first_id + number, True, name) for number, name in enumerate(names)]


def assert_answered(messages, answers):
    for message, answer in zip(messages, answers):
        assert isinstance(answer, bytes), (message.context, answer)
        parsed = parse(answer)
        assert parsed.id == message.id
        assert parsed.question == (message.context, 1)
        assert parsed.records == [(message.context, "A", 300, ADDRESSES[message.context])]


def pipeline(server, window=64, timeout=TIMEOUT):
    return Pipeline(server.address, server.port, timeout, window=window)


def test_answers_out_of_order_are_matched_by_id():
    messages = queries(20)
    with address_server(connections=[{"batch": 20}]) as server:
        client = pipeline(server)
        answers = client.exchange(messages)
        client.close()
    assert_answered(messages, answers)
    assert [request.id for request in server.received] == [message.id for message in reversed(messages)]


def test_more_messages_than_the_window():
    messages = queries(48)  # the server answers 4 at a time
    with address_server(connections=[{"batch": 4, "window": 4}]) as server:
        client = pipeline(server, window=4)
        answers = client.exchange(messages)
        client.close()
    assert_answered(messages, answers)
    assert not server.window_exceeded
    assert len(server.received) == 48 and server.accepted == 1


def test_window_is_checked_by_the_server():
    """The check above can fail: a client that sends more than the window is seen."""
    messages = queries(8)
    with address_server(connections=[{"batch": 8, "window": 4}]) as server:
        client = pipeline(server, window=8)
        assert_answered(messages, client.exchange(messages))
        client.close()
    assert server.window_exceeded


def test_server_closing_after_some_answers():
    """Queries in flight are sent again on a new connection; an UPDATE in flight is reported lost, not resent."""
    messages = queries(6)
    update_wire = update(999, "example.test.", [], [("new.example.test.", "A", False, (300, ["203.0.113.99"]))])
    messages.insert(3, Outgoing(update_wire, 999, False, "update"))
    with address_server(connections=[{"batch": 7, "close_after": 2}, {}]) as server:
        client = pipeline(server)
        answers = client.exchange(messages)
        client.close()
    lost = answers.pop(3)
    del messages[3]
    assert isinstance(lost, ConnectionLost) and not lost.timeout
    assert_answered(messages, answers)
    assert server.accepted == 2
    assert not server.applied  # the update was not resent
    assert sum(1 for request in server.received if request.opcode() == dns.opcode.UPDATE) == 0


def test_server_closing_every_connection_gives_up():
    messages = queries(3)
    with address_server(connections=[{"close_after": 0}]) as server:
        client = pipeline(server)
        with pytest.raises(ConnectionLost, match="closed the connection") as lost:
            client.exchange(messages)
    assert not lost.value.timeout
    assert server.accepted == Pipeline.RECONNECTS + 1


def test_answers_with_unknown_ids_are_ignored():
    messages = queries(9)
    with address_server(connections=[{"batch": 3, "decoys": True}]) as server:
        client = pipeline(server)
        answers = client.exchange(messages)
        client.close()
    assert_answered(messages, answers)


def test_server_that_never_answers():
    with address_server(connections=[{"silent": True}]) as server:
        client = pipeline(server, timeout=0.3)
        with pytest.raises(ConnectionLost) as lost:
            client.exchange(queries(3))
        assert lost.value.timeout
        assert client.sock is None


def test_silence_after_some_answers_keeps_them():
    """An UPDATE answered before the server went silent was applied: the ConnectionLost carries its answer."""
    messages = queries(3)
    with address_server(connections=[{"close_after": 2, "batch": 3, "silent_close": True}]) as server:
        client = pipeline(server, timeout=0.3)
        with pytest.raises(ConnectionLost) as lost:
            client.exchange(messages)
    assert lost.value.timeout
    answered = [answer for answer in lost.value.answers if answer is not None]
    assert len(answered) == 2
    assert_answered(messages[1:], lost.value.answers[1:])


def test_server_streaming_octets_that_answer_nothing():
    """A server that sends frames for IDs nobody asked for, without end: ConnectionLost(timeout) all the same."""
    state = {}

    def stream(server, conn):
        read_frame(conn)
        junk = frame(b"\xff\xff" + bytes(1000)) * 64
        state["by_client"] = False
        deadline = time.monotonic() + SERVER_TIMEOUT
        while time.monotonic() < deadline:
            try:
                conn.sendall(junk)
            except OSError:
                state["by_client"] = True  # the client closed the connection: it gave up while we still talked
                return

    with address_server(connections=[{"handler": stream}]) as server:
        client = pipeline(server, timeout=0.5)
        with pytest.raises(ConnectionLost) as lost:
            client.exchange(queries(1))
    assert lost.value.timeout and state["by_client"]


def test_message_too_long_for_a_frame_is_refused_before_anything_is_sent():
    with address_server() as server:
        client = pipeline(server)
        with pytest.raises(ValueError, match="65,535"):
            client.exchange(queries(1) + [Outgoing(bytes(70000), 1, True)])
    assert server.accepted == 0


def test_connection_refused():
    client = Pipeline("127.0.0.1", closed_port(), TIMEOUT)
    with pytest.raises(ConnectionLost) as lost:
        client.exchange(queries(1))
    assert not lost.value.timeout


def test_ipv6_loopback():
    messages = queries(5)
    with address_server(address="::1", connections=[{"batch": 5}]) as server:
        client = pipeline(server)
        answers = client.exchange(messages)
        client.close()
    assert_answered(messages, answers)


def test_answers_arriving_octet_by_octet():
    """Each octet of each answer is read by the client before the next is sent: every frame boundary is split."""
    messages = queries(4)
    holder = {}

    def dribble(server, conn):
        wires = [read_frame(conn) for dummy in messages]
        data = b"".join(frame(server.answer(wire)) for wire in reversed(wires))
        for position in range(len(data)):
            conn.sendall(data[position:position + 1])
            wait_for(lambda: _unsent_bytes(conn) == 0, "the client's kernel to take the octet")
            wait_for(lambda: holder["client"].sock is None or _readable_bytes(holder["client"].sock) == 0,
                     "the client to read the octet")
        read_frame(conn)

    with address_server(connections=[{"handler": dribble}]) as server:
        client = holder["client"] = pipeline(server)
        answers = client.exchange(messages)
        client.close()
    assert_answered(messages, answers)


def test_many_large_messages_in_flight_while_the_server_talks():
    """A window of large messages while the server sends much before reading on: the client must read while it
    writes, or both wait on full buffers until the timeout."""
    count, size = 150, 60000
    junk = bytes(size - 2)
    messages = [Outgoing(struct.pack("!H", number) + junk, number, True) for number in range(count)]

    def talkative(server, conn):
        first = read_frame(conn)
        noise = frame(b"\xff\xff" + bytes(65000))  # an ID nobody uses
        for dummy in range(300):  # about 20 MB, more than the client's receive buffer holds unread
            conn.sendall(noise)
        wires = [first] + [read_frame(conn) for dummy in range(count - 1)]
        for wire in wires:
            conn.sendall(frame(wire[:2] + b"answer"))
        read_frame(conn)

    with DnsServer(connections=[{"handler": talkative}]) as server:
        client = pipeline(server, window=count, timeout=3)
        answers = client.exchange(messages)
        client.close()
    assert answers == [struct.pack("!H", number) + b"answer" for number in range(count)]


def test_messages_sharing_an_id_are_not_confused():
    """Two messages with one ID are never in flight together: each answer goes to its own message."""
    first = Outgoing(query(77, "mail1.example.test.", "A"), 77, True, "mail1.example.test.")
    second = Outgoing(query(77, "mail2.example.test.", "A"), 77, True, "mail2.example.test.")
    with address_server(connections=[{}]) as server:
        client = pipeline(server)
        answers = client.exchange([first, second])
        client.close()
    assert_answered([first, second], answers)


@pytest.mark.parametrize("stray", [b"", frame(b"\xff\xfflate answer to nothing")])
def test_connection_closed_while_idle_is_replaced_before_an_update(stray):
    """A server closes an idle connection (BIND after tcp-idle-timeout) between two exchanges, maybe after a stray
    frame: the UPDATE of the second exchange goes out on a new connection and is answered, not reported lost."""
    def answer_once(server, conn):
        conn.sendall(frame(server.answer(read_frame(conn))))
        assert first_done.wait(SERVER_TIMEOUT)
        conn.sendall(stray)
        hang_up_acknowledged(conn)
        closed.set()
        hang_up(conn)

    first_done, closed = threading.Event(), threading.Event()
    with address_server(connections=[{"handler": answer_once}, {}]) as server:
        client = pipeline(server)
        assert_answered(queries(1), client.exchange(queries(1)))
        first_done.set()
        assert closed.wait(SERVER_TIMEOUT)
        update_wire = update(555, "example.test.", [], [("new.example.test.", "A", False, (300, ["203.0.113.99"]))])
        answers = client.exchange([Outgoing(update_wire, 555, False)])
        client.close()
    assert isinstance(answers[0], bytes) and parse(answers[0]).id == 555
    assert len(server.applied) == 1


def test_update_not_yet_written_when_the_connection_breaks_is_sent_again():
    """Only a message of which an octet was written can have reached the server: the UPDATEs behind it in the window
    go out on the new connection; the ones written are reported lost and not resent."""
    count, size = 200, 60000
    messages = [Outgoing(struct.pack("!H", number) + bytes(size - 2), number, False) for number in range(count)]
    second = []

    def reset(server, conn):
        read_frame(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST

    def echo(server, conn):
        while True:
            wire = read_frame(conn)
            if wire is None:
                return
            second.append(struct.unpack_from("!H", wire)[0])
            conn.sendall(frame(wire[:2] + b"answer"))

    with DnsServer(connections=[{"handler": reset}, {"handler": echo}]) as server:
        client = pipeline(server, window=count)
        answers = client.exchange(messages)
        client.close()
    lost = [number for number, answer in enumerate(answers) if isinstance(answer, ConnectionLost)]
    assert lost and lost == list(range(len(lost)))  # the first was read by the server: surely lost
    assert len(lost) < count  # 12 MB cannot all have been written before the reset
    assert second == list(range(len(lost), count))
    assert answers[len(lost):] == [struct.pack("!H", number) + b"answer" for number in range(len(lost), count)]


def test_octets_left_over_from_one_exchange_do_not_shift_the_next():
    """A server sends a stray frame split over two exchanges: the next answers are still framed right."""
    messages = queries(2)

    def stray(server, conn):
        wire = read_frame(conn)
        decoy = frame(b"\xff\xff" + b"stray answer to nothing")
        conn.sendall(frame(server.answer(wire)) + decoy[:7])
        wire = read_frame(conn)
        conn.sendall(decoy[7:] + frame(server.answer(wire)))
        read_frame(conn)

    with address_server(connections=[{"handler": stray}]) as server:
        client = pipeline(server, timeout=2)
        assert_answered(messages[:1], client.exchange(messages[:1]))
        assert_answered(messages[1:], client.exchange(messages[1:]))
        client.close()


def test_no_messages_no_connection():
    with address_server() as server:
        client = pipeline(server)
        assert client.exchange([]) == []
        assert server.accepted == 0 and client.sock is None
