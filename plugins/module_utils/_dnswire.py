# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS over one TCP connection, many messages in flight: the fast path of the RFC 2136 provider.

Reading 10,000 zones means 50,000 queries. dnspython builds, signs and parses a
message in about 1 ms of Python, and a connection per message adds a handshake;
this module builds a query from bytes, signs and checks TSIG (RFC 8945) with
hmac, parses only what the provider reads (the answer section; TSIG at the end),
and keeps up to ``window`` messages in flight on one connection (RFC 7766
pipelining), matching answers by ID and question, so the server works while we
parse. Messages it does not build (UPDATEs, built by dnspython) go through the
same connection as wire bytes.

Everything that reaches a message was checked by the provider (names by the
record-set core, the key by _rfc2136). Answers are parsed defensively: a
compression loop, a truncated record or an answer to another question is an
error, never a hang or a wrong value.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import socket
import struct
import time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "AAAA": 28, "OPT": 41, "TSIG": 250}
TYPE_NAMES = {number: name for name, number in TYPES.items()}
CLASS_IN = 1
CLASS_ANY = 255
FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
TSIG_FUDGE = 300
# Algorithm names as they go on the wire, and the hash behind each (RFC 8945 6).
HASHES = {
    "hmac-md5": ("hmac-md5.sig-alg.reg.int.", hashlib.md5),
    "hmac-sha1": ("hmac-sha1.", hashlib.sha1),
    "hmac-sha224": ("hmac-sha224.", hashlib.sha224),
    "hmac-sha256": ("hmac-sha256.", hashlib.sha256),
    "hmac-sha384": ("hmac-sha384.", hashlib.sha384),
    "hmac-sha512": ("hmac-sha512.", hashlib.sha512),
}
TSIG_ERRORS = {16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 22: "BADTRUNC"}
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_MAX_POINTERS = 128
# A label that reads the same as text: what every name we publish is made of. Anything else is shown escaped.
_PLAIN_LABEL = re.compile(rb"[A-Za-z0-9_*-]+")
OPCODE_UPDATE = 5 << 11
CLASS_NONE = 254


class WireError(Exception):
    """An answer that cannot be parsed, or whose TSIG does not check out; the message says which."""


class TsigError(WireError):
    """The server rejected our signature (``error`` names its TSIG error), or its answer is not signed as it must be."""

    def __init__(self, message, error=None):
        super().__init__(message)
        self.error = error


class ConnectionLost(Exception):
    """The connection failed (refused, reset, closed, no answer in time); ``timeout`` says which of the last."""

    def __init__(self, message, timeout=False):
        super().__init__(message)
        self.timeout = timeout


def name_wire(name):
    """``name`` (absolute, already checked text such as ``mail.example.test.``) in uncompressed, lower-case wire form."""
    labels = [label for label in name.lower().rstrip(".").split(".") if label] if name != "." else []
    return b"".join(bytes((len(label),)) + label.encode("ascii") for label in labels) + b"\x00"


def read_name(wire, offset):
    """(text, offset after the name) of the possibly compressed name at ``offset``; lower case, dnspython's escapes."""
    labels, end, jumps = [], None, 0
    while True:
        if offset >= len(wire):
            raise WireError("a name runs past the end of the message")
        length = wire[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(wire):
                raise WireError("a compression pointer runs past the end of the message")
            pointer = ((length & 0x3F) << 8) | wire[offset + 1]
            if end is None:
                end = offset + 2
            jumps += 1
            if jumps > _MAX_POINTERS or pointer >= offset:
                raise WireError("a compression pointer loops or points forward")
            offset = pointer
            continue
        if length & 0xC0:
            raise WireError("a label has an unknown type")
        if length == 0:
            return (".".join(labels) + ".") if labels else ".", end if end is not None else offset + 1
        label = wire[offset + 1:offset + 1 + length]
        if len(label) != length:
            raise WireError("a label runs past the end of the message")
        labels.append(_label_text(label))
        offset += 1 + length


def _label_text(label):
    if _PLAIN_LABEL.fullmatch(label):
        return label.decode("ascii").lower()
    text = []
    for byte in label.lower():
        if 0x61 <= byte <= 0x7A or 0x30 <= byte <= 0x39 or byte in (0x2D, 0x5F, 0x2A):
            text.append(chr(byte))
        else:
            text.append("\\%03d" % byte)
    return "".join(text)


def query(message_id, name, rtype):
    """A query for ``name`` ``rtype`` (no EDNS: over TCP an answer may take 64 KiB), without TSIG."""
    return _HEADER.pack(message_id, 0, 1, 0, 0, 0) + name_wire(name) + struct.pack("!HH", TYPES[rtype], CLASS_IN)


def rdata_wire(rtype, value):
    """One value, as the record-set core normalised it (an address, or ``preference exchange.``), in wire form."""
    if rtype == "A":
        return socket.inet_pton(socket.AF_INET, value)
    if rtype == "AAAA":
        return socket.inet_pton(socket.AF_INET6, value)
    preference, exchange = value.split()
    return struct.pack("!H", int(preference)) + name_wire(exchange)


def update(message_id, zone, prerequisites, changes):
    """An RFC 2136 UPDATE of ``zone``, without TSIG.

    ``prerequisites``: [(name, type, values)], values None for "this RRset does not exist" (2.4.3), else the exact
    values it must hold (2.4.2, TTL 0). ``changes``: [(name, type, before, after)], each an RRset replaced: deleted
    when it existed (2.5.2), its new values added when it has any (``after``: (ttl, values) or None).
    """
    records = []
    for name, rtype, values in prerequisites:
        owner = name_wire(name)
        if values is None:
            records.append(owner + _RR.pack(TYPES[rtype], CLASS_NONE, 0, 0))
        else:
            records.extend(owner + _RR.pack(TYPES[rtype], CLASS_IN, 0, len(data)) + data
                           for data in (rdata_wire(rtype, value) for value in values))
    prerequisite_count = len(records)
    for name, rtype, before, after in changes:
        owner = name_wire(name)
        if before:
            records.append(owner + _RR.pack(TYPES[rtype], CLASS_ANY, 0, 0))
        if after:
            ttl, values = after
            records.extend(owner + _RR.pack(TYPES[rtype], CLASS_IN, ttl, len(data)) + data
                           for data in (rdata_wire(rtype, value) for value in values))
    header = _HEADER.pack(message_id, OPCODE_UPDATE, 1, prerequisite_count, len(records) - prerequisite_count, 0)
    return header + name_wire(zone) + struct.pack("!HH", TYPES["SOA"], CLASS_IN) + b"".join(records)


class Key:
    """A TSIG key: signs a message's wire form and checks an answer's (RFC 8945 4.3 and 5.3)."""

    def __init__(self, name, secret, algorithm="hmac-sha256"):
        self.name = name.lower() if name.endswith(".") else name.lower() + "."
        self.secret = secret
        self.algorithm_name, self.digest = HASHES[algorithm]
        self.name_wire = name_wire(self.name)
        self.algorithm_wire = name_wire(self.algorithm_name)

    def _variables(self, signed, error=0, other=b""):
        return (self.name_wire + struct.pack("!HI", CLASS_ANY, 0) + self.algorithm_wire
                + struct.pack("!HIHHH", signed >> 32, signed & 0xFFFFFFFF, TSIG_FUDGE, error, len(other)) + other)

    def sign(self, wire, now=None):
        """(signed wire, MAC): ``wire`` with a TSIG record appended and ARCOUNT raised."""
        signed = int(time.time() if now is None else now)
        mac = hmac.new(self.secret, wire + self._variables(signed), self.digest).digest()
        message_id = wire[:2]
        rdata = (self.algorithm_wire + struct.pack("!HIHH", signed >> 32, signed & 0xFFFFFFFF, TSIG_FUDGE, len(mac)) + mac
                 + message_id + struct.pack("!HH", 0, 0))
        record = self.name_wire + _RR.pack(TYPES["TSIG"], CLASS_ANY, 0, len(rdata)) + rdata
        arcount = struct.unpack_from("!H", wire, 10)[0] + 1
        return wire[:10] + struct.pack("!H", arcount) + wire[12:] + record, mac

    def verify(self, wire, tsig, request_mac, now=None):
        """Check the answer's TSIG (``tsig`` as parse() found it) against the request's MAC; TsigError when it fails."""
        if tsig is None:
            raise TsigError("the answer is not signed")
        owner, start, algorithm, signed, fudge, mac, original_id, error, other = tsig
        if owner != self.name or algorithm != self.algorithm_name:
            raise TsigError("the answer is signed with another key (%s, %s)" % (owner, algorithm))
        if error:
            raise TsigError("the server answered with TSIG error %s" % TSIG_ERRORS.get(error, error), TSIG_ERRORS.get(error, str(error)))
        arcount = struct.unpack_from("!H", wire, 10)[0] - 1
        unsigned = struct.pack("!H", original_id) + wire[2:10] + struct.pack("!H", arcount) + wire[12:start]
        expected = hmac.new(self.secret, struct.pack("!H", len(request_mac)) + request_mac + unsigned
                            + self._variables(signed, error, other), self.digest).digest()
        if not hmac.compare_digest(expected, mac):
            raise TsigError("the answer's TSIG signature does not match", "BADSIG")
        current = int(time.time() if now is None else now)
        if abs(current - signed) > fudge:
            raise TsigError("the answer was signed %d s away from this clock (fudge %d s)" % (signed - current, fudge), "BADTIME")


class Answer:
    """What the provider reads from an answer: header fields, the question, the answer records, the TSIG record."""

    __slots__ = ("id", "flags", "rcode", "question", "records", "tsig")

    def __init__(self, message_id, flags, question, records, tsig):
        self.id = message_id
        self.flags = flags
        self.rcode = flags & 0x000F
        self.question = question
        self.records = records
        self.tsig = tsig


def parse(wire):
    """An Answer: the answer section as [(owner, type name or number, ttl, value text or None)], the TSIG record if any."""
    if len(wire) < _HEADER.size:
        raise WireError("the answer is shorter than a DNS header")
    message_id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    offset = _HEADER.size
    question = None
    for dummy in range(qdcount):
        qname, offset = read_name(wire, offset)
        if offset + 4 > len(wire):
            raise WireError("the question runs past the end of the message")
        qtype = struct.unpack_from("!H", wire, offset)[0]
        offset += 4
        question = question or (qname, qtype)
    records, tsig = [], None
    total = ancount + nscount + arcount
    for number in range(total):
        record_start = offset
        owner, offset = read_name(wire, offset)
        if offset + _RR.size > len(wire):
            raise WireError("a record runs past the end of the message")
        rtype, rclass, ttl, length = _RR.unpack_from(wire, offset)
        offset += _RR.size
        if offset + length > len(wire):
            raise WireError("a record's data runs past the end of the message")
        if number < ancount and rclass == CLASS_IN:
            records.append((owner, TYPE_NAMES.get(rtype, rtype), ttl, _value(wire, offset, length, rtype)))
        elif rtype == TYPES["TSIG"]:
            if number != total - 1:
                raise WireError("a TSIG record that is not the last one")
            tsig = _tsig(wire, owner, record_start, offset, length)
        offset += length
    if offset != len(wire):
        raise WireError("the message has %d octets after its last record" % (len(wire) - offset))
    return Answer(message_id, flags, question, records, tsig)


def _value(wire, offset, length, rtype):
    if rtype == TYPES["A"] and length == 4:
        return socket.inet_ntop(socket.AF_INET, wire[offset:offset + 4])
    if rtype == TYPES["AAAA"] and length == 16:
        return socket.inet_ntop(socket.AF_INET6, wire[offset:offset + 16])
    if rtype == TYPES["MX"] and length >= 3:
        exchange, end = read_name(wire, offset + 2)
        if end != offset + length:
            raise WireError("an MX record's length does not match its data")
        return "%d %s" % (struct.unpack_from("!H", wire, offset)[0], exchange)
    if rtype == TYPES["CNAME"]:
        target, end = read_name(wire, offset)
        if end != offset + length:
            raise WireError("a CNAME record's length does not match its data")
        return target
    if rtype in (TYPES["A"], TYPES["AAAA"], TYPES["MX"]):
        raise WireError("a %s record of %d octets" % (TYPE_NAMES[rtype], length))
    return None


def _tsig(wire, owner, start, offset, length):
    end = offset + length
    algorithm, offset = read_name(wire, offset)
    if offset + 10 > end:
        raise WireError("a TSIG record is too short")
    high, low, fudge, mac_size = struct.unpack_from("!HIHH", wire, offset)
    offset += 10
    mac = wire[offset:offset + mac_size]
    offset += mac_size
    if offset + 6 > end:
        raise WireError("a TSIG record is too short")
    original_id, error, other_size = struct.unpack_from("!HHH", wire, offset)
    offset += 6
    other = wire[offset:offset + other_size]
    if offset + other_size != end:
        raise WireError("a TSIG record's length does not match its data")
    return (owner, start, algorithm, (high << 32) | low, fudge, mac, original_id, error, other)


class Outgoing:
    """A message to send: its wire form, its ID, whether it may be sent again on a new connection (a query may; an
    UPDATE may not: it may have been applied), and what the caller needs to read its answer."""

    __slots__ = ("wire", "id", "retry", "context")

    def __init__(self, wire, message_id, retry, context=None):
        self.wire = wire
        self.id = message_id
        self.retry = retry
        self.context = context


class Pipeline:
    """One TCP connection to a DNS server with up to ``window`` messages in flight (RFC 7766 6.2.1).

    ``exchange`` returns each message's answer (wire bytes), matched by ID: servers may answer out of order. When
    the server closes the connection (an idle or per-connection limit), the queries in flight are sent again on a
    new one; an UPDATE in flight gets ConnectionLost as its answer, since it may or may not have been applied.
    A server that cannot be reached, or sends nothing for ``timeout`` seconds, raises ConnectionLost for the whole
    exchange: every later message would wait as long.
    """

    RECONNECTS = 3

    def __init__(self, address, port, timeout, window=64):
        self.address = address
        self.port = port
        self.timeout = timeout
        self.window = window
        self.sock = None
        self._ids = random.SystemRandom().randrange(0x10000)

    def next_id(self):
        """IDs are handed out in sequence from a random start: the messages in flight (at most ``window`` in a row) never
        share one."""
        self._ids = (self._ids + 1) & 0xFFFF
        return self._ids

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _connect(self):
        self.close()
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect((self.address, self.port))
        except socket.timeout:
            sock.close()
            raise ConnectionLost("no connection within %s s" % self.timeout, timeout=True) from None
        except OSError as exc:
            sock.close()
            raise ConnectionLost(str(exc)) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock

    def exchange(self, messages):
        answers = [None] * len(messages)
        queue = list(range(len(messages)))
        queue.reverse()  # pop() from the end: the first message first
        in_flight = {}
        buffer = b""
        failures = 0
        if self.sock is None:
            self._connect()
        while queue or in_flight:
            outgoing = []
            while queue and len(in_flight) < self.window:
                index = queue.pop()
                in_flight[messages[index].id] = index
                wire = messages[index].wire
                outgoing.append(struct.pack("!H", len(wire)) + wire)
            try:
                if outgoing:
                    self.sock.sendall(b"".join(outgoing))
                data = self.sock.recv(65536)
            except socket.timeout:
                self.close()
                raise ConnectionLost("no answer within %s s" % self.timeout, timeout=True) from None
            except OSError as exc:
                data, closed_by = b"", exc
            else:
                closed_by = None
            if not data:
                # Closed: resend the queries in flight on a new connection; an UPDATE in flight has an unknown outcome.
                failures += 1
                if failures > self.RECONNECTS:
                    self.close()
                    raise ConnectionLost("the server closed the connection %d times without answering%s"
                                         % (failures, ": %s" % closed_by if closed_by else ""))
                for message_id, index in sorted(in_flight.items(), key=lambda item: -item[1]):
                    if messages[index].retry:
                        queue.append(index)
                    else:
                        answers[index] = ConnectionLost("the connection closed before the answer came%s"
                                                        % (": %s" % closed_by if closed_by else ""))
                in_flight.clear()
                buffer = b""
                self._connect()
                continue
            buffer += data
            while len(buffer) >= 2:
                length = struct.unpack_from("!H", buffer)[0]
                if len(buffer) < 2 + length:
                    break
                frame, buffer = buffer[2:2 + length], buffer[2 + length:]
                index = in_flight.pop(struct.unpack_from("!H", frame)[0], None) if len(frame) >= 2 else None
                if index is not None:  # an answer to nothing we asked is dropped, never taken for another
                    answers[index] = frame
                    failures = 0
        return answers
