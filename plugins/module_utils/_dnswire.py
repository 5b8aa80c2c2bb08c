# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS over one TCP connection, many messages in flight: the fast path of the RFC 2136 provider.

Reading 10,000 zones means 50,000 queries. dnspython builds, signs and parses a
message in about 1 ms of Python, and a connection per message adds a handshake;
this module builds a query from bytes, signs and checks TSIG (RFC 8945) with
hmac, parses only what the provider reads (the answer section; TSIG at the end),
and keeps up to ``window`` messages in flight on one connection (RFC 7766
pipelining), matching answers by ID (the caller checks the question), so the
server works while we parse. UPDATEs are built here too and go through the same
connection.

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
import select
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
    """The connection failed (refused, reset, closed, no answer in time); ``timeout`` says which of the last.

    Raised by Pipeline.exchange, ``answers`` holds what came before (as exchange returns them, None where no answer
    came): an UPDATE answered there was applied even though the exchange as a whole failed."""

    def __init__(self, message, timeout=False, answers=None):
        super().__init__(message)
        self.timeout = timeout
        self.answers = answers


def name_wire(name):
    """``name`` (absolute text such as ``mail.example.test.``, dnspython's escapes allowed) in uncompressed, lower-case
    wire form; ValueError for a name no message can carry (an empty label, a label over 63 or a name over 255 octets)."""
    if name == ".":
        return b"\x00"
    if "\\" in name:
        labels = _escaped_labels(name)
    else:
        labels = name.lower().encode("ascii").split(b".")
        if labels[-1] == b"":
            labels.pop()
    wire = b"".join(bytes((len(label),)) + label for label in labels if 0 < len(label) <= 63) + b"\x00"
    if len(wire) != sum(len(label) + 1 for label in labels) + 1 or len(wire) > 255:
        raise ValueError("%r is not a DNS name a message can carry (empty label, label over 63 or name over 255 octets)"
                         % (name,))
    return wire


_ESCAPE = re.compile(r"\\([0-9]{3}|.)", re.DOTALL)


def _escaped_labels(name):
    """The lower-case labels of a name with dnspython's escapes (``\\.``, ``\\032``); ValueError for a bad escape."""
    labels, label, position = [], bytearray(), 0
    while position < len(name):
        char = name[position]
        if char == "\\":
            escape = _ESCAPE.match(name, position)
            if escape is None or (len(escape.group(1)) == 3 and int(escape.group(1)) > 255):
                raise ValueError("%r has a bad escape at %d" % (name, position))
            code = escape.group(1)
            label.extend(bytes((int(code),)) if len(code) == 3 else code.encode("ascii"))
            position = escape.end()
            continue
        if char == ".":
            labels.append(bytes(label).lower())
            label = bytearray()
        else:
            label.extend(char.encode("ascii"))
        position += 1
    if label:
        labels.append(bytes(label).lower())
    return labels


def read_name(wire, offset):
    """(text, offset after the name) of the possibly compressed name at ``offset``; lower case, dnspython's escapes.

    A pointer must point backwards (RFC 1035 4.1.4: to a prior occurrence); a name longer than 255 octets, which a
    loop through backward pointers makes, is an error as well."""
    labels, end, jumps, size = [], None, 0, 1
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
        size += 1 + length
        if size > 255:
            raise WireError("a name is longer than 255 octets")
        label = wire[offset + 1:offset + 1 + length]
        if len(label) != length:
            raise WireError("a label runs past the end of the message")
        labels.append(_label_text(label))
        offset += 1 + length


# dnspython escapes these with a backslash, other octets outside 0x21-0x7E as \DDD: the text never holds a control
# character or a space, and reads back as the same name (name_wire), as dnspython's own text does.
_ESCAPED = frozenset(b'"().;\\@$')


def _label_text(label):
    if _PLAIN_LABEL.fullmatch(label):
        return label.decode("ascii").lower()
    text = []
    for byte in label.lower():
        if byte in _ESCAPED:
            text.append("\\" + chr(byte))
        elif 0x20 < byte < 0x7F:
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
        if values is not None and not values:
            raise ValueError("a prerequisite on %s %s with no values would require nothing" % (name, rtype))
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
        # Absolute, lower case, escaped as read_name escapes the owner of an answer's TSIG record: compared with it.
        self.name_wire = name_wire(name)  # absolute, with or without the final dot
        self.name = read_name(self.name_wire, 0)[0]
        self.secret = secret
        self.algorithm_name, self.digest = HASHES[algorithm]
        self.algorithm_wire = name_wire(self.algorithm_name)

    def _variables(self, signed, fudge, error=0, other=b""):
        """The TSIG variables the MAC covers after the message (RFC 8945 4.3.3), with the fudge the record carries."""
        return (self.name_wire + struct.pack("!HI", CLASS_ANY, 0) + self.algorithm_wire
                + struct.pack("!HIHHH", signed >> 32, signed & 0xFFFFFFFF, fudge, error, len(other)) + other)

    def sign(self, wire, now=None):
        """(signed wire, MAC): ``wire`` with a TSIG record appended and ARCOUNT raised."""
        signed = int(time.time() if now is None else now)
        mac = hmac.new(self.secret, wire + self._variables(signed, TSIG_FUDGE), self.digest).digest()
        message_id = wire[:2]
        rdata = (self.algorithm_wire + struct.pack("!HIHH", signed >> 32, signed & 0xFFFFFFFF, TSIG_FUDGE, len(mac)) + mac
                 + message_id + struct.pack("!HH", 0, 0))
        record = self.name_wire + _RR.pack(TYPES["TSIG"], CLASS_ANY, 0, len(rdata)) + rdata
        arcount = struct.unpack_from("!H", wire, 10)[0] + 1
        return wire[:10] + struct.pack("!H", arcount) + wire[12:] + record, mac

    def verify(self, wire, tsig, request_mac, now=None):
        """Check the answer's TSIG (``tsig`` as parse() found it) against the request's MAC; TsigError when it fails.

        The MAC first (RFC 8945 5.3.2), over the fudge the answer carries; then its time, which must lie within that
        fudge of this clock. A TSIG error (BADKEY, BADSIG: sent unsigned) is reported as such."""
        if tsig is None:
            raise TsigError("the answer is not signed")
        owner, start, algorithm, signed, fudge, mac, original_id, error, other = tsig
        if owner != self.name or algorithm != self.algorithm_name:
            raise TsigError("the answer is signed with another key (%s, %s)" % (owner, algorithm))
        if error:
            name = TSIG_ERRORS.get(error, str(error))
            detail = ""
            if error == 18 and len(other) == 6:  # BADTIME: the other data hold the server's clock (RFC 8945 5.2.3)
                high, low = struct.unpack("!HI", other)
                detail = " (its clock is %+d s from this one)" % (((high << 32) | low) - int(time.time() if now is None else now))
            raise TsigError("the server answered with TSIG error %s%s" % (name, detail), name)
        arcount = struct.unpack_from("!H", wire, 10)[0] - 1
        unsigned = struct.pack("!H", original_id) + wire[2:10] + struct.pack("!H", arcount) + wire[12:start]
        expected = hmac.new(self.secret, struct.pack("!H", len(request_mac)) + request_mac + unsigned
                            + self._variables(signed, fudge, error, other), self.digest).digest()
        if not hmac.compare_digest(expected, mac):
            raise TsigError("the answer's TSIG signature does not match", "BADSIG")
        current = int(time.time() if now is None else now)
        if abs(current - signed) > fudge:
            raise TsigError("the answer was signed %d s away from this clock (fudge %d s)" % (signed - current, fudge), "BADTIME")


class Answer:
    """What the provider reads from an answer: header fields, the question, the answer records, the TSIG record."""

    __slots__ = ("id", "flags", "opcode", "rcode", "question", "records", "tsig")

    def __init__(self, message_id, flags, question, records, tsig):
        self.id = message_id
        self.flags = flags
        self.opcode = (flags >> 11) & 0x0F
        self.rcode = flags & 0x000F
        self.question = question
        self.records = records
        self.tsig = tsig


def parse(wire):
    """An Answer: the answer section as [(owner, type name or number, ttl, value text or None)], the TSIG record if any.

    A message without QR is no answer (without TSIG, an echo of our own UPDATE would otherwise read as applied)."""
    if len(wire) < _HEADER.size:
        raise WireError("the answer is shorter than a DNS header")
    message_id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    if not flags & FLAG_QR:
        raise WireError("the message is not an answer (QR is not set)")
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
            if number != total - 1 or number < ancount + nscount:
                raise WireError("a TSIG record that is not the last one of the additional section")
            if rclass != CLASS_ANY:
                raise WireError("a TSIG record of class %d, not ANY" % rclass)
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


# What makes the connection worth a read: octets, the end (HUP), or an error that recv then reports.
_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR


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
    new one; an UPDATE in flight gets ConnectionLost as its answer, since it may or may not have been applied (one
    of which not an octet was written yet is simply sent on the new connection). A server that cannot be reached,
    or lets ``timeout`` seconds pass without taking a message or giving an answer (octets that answer nothing do not
    count), raises ConnectionLost for the whole exchange: every later message would wait as long.

    The socket is non-blocking: what the kernel takes is written at once, and while some is left, one poll waits for
    both directions. With a large window of large messages, a server that answers before it reads on (its send
    buffer full because we are still writing, ours full because it is not reading) would otherwise hold both ends
    until the timeout. Octets of a frame that has not fully arrived stay buffered with the connection, across
    exchanges.
    """

    RECONNECTS = 3
    # Octets offered to one send(): a slice this size is cheap to copy, and the kernel seldom takes more at once.
    SEND_CHUNK = 262144
    # Reads that may find stray octets on an idle connection before it counts as open (a server streaming junk at us
    # is then left to the exchange's timeout).
    IDLE_READS = 16

    def __init__(self, address, port, timeout, window=64):
        self.address = address
        self.port = port
        self.timeout = timeout
        self.window = window
        self.sock = None
        self._buffer = bytearray()
        self._ids = random.SystemRandom().randrange(0x10000)

    def next_id(self):
        """IDs are handed out in sequence from a random start: the messages in flight (at most ``window`` in a row) never
        share one. (exchange never has two messages of one ID in flight either way.)"""
        self._ids = (self._ids + 1) & 0xFFFF
        return self._ids

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._buffer = bytearray()

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
        sock.setblocking(False)
        self.sock = sock

    def _alive(self):
        """Whether the open connection still works. A server closes an idle one (BIND after its tcp-idle-timeout): an
        UPDATE written into it would be reported lost although it never reached the server. Stray octets that came
        meanwhile are taken into the buffer, so that the framing goes on."""
        for dummy in range(self.IDLE_READS):
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            self._buffer += data
            self._take_answers({}, [])
        return True

    def _take_answers(self, in_flight, answers):
        """Take the complete frames out of the buffer: an answer to a message in flight becomes its answer (the message
        leaves ``in_flight``), one to nothing we asked is dropped, never taken for another. How many were taken."""
        buffer, offset, taken = self._buffer, 0, 0
        while len(buffer) - offset >= 2:
            end = offset + 2 + ((buffer[offset] << 8) | buffer[offset + 1])
            if end > len(buffer):
                break
            if end - offset >= 4:
                index = in_flight.pop((buffer[offset + 2] << 8) | buffer[offset + 3], None)
                if index is not None:
                    answers[index] = bytes(buffer[offset + 2:end])
                    taken += 1
            offset = end
        if offset:
            del buffer[:offset]
        return taken

    def exchange(self, messages):
        """[Outgoing] -> their answers in order: wire bytes, or ConnectionLost for an UPDATE whose outcome is unknown.

        ConnectionLost (with the answers so far) when the server cannot be reached, goes silent or keeps closing;
        ValueError, before anything is sent, for a message too long for a TCP frame."""
        answers = [None] * len(messages)
        if not messages:
            return answers
        longest = max(len(message.wire) for message in messages)
        if longest > 0xFFFF:
            raise ValueError("a message of %d octets does not fit in a DNS TCP frame (65,535 at most)" % longest)
        queue = list(range(len(messages)))
        queue.reverse()  # pop() from the end: the first message first
        if self.sock is not None and not self._alive():
            self.close()
        if self.sock is None:
            self._connect()
        self._exchange(messages, answers, queue)
        return answers

    def _exchange(self, messages, answers, queue):
        in_flight = {}  # message ID: index of the message awaiting its answer
        starts = {}  # index: where its frame starts in the octets this connection was given to write
        out = bytearray()  # given to write, not yet written; its first octet is octet ``written`` of the connection
        written, failures, write_error, poller, registered = 0, 0, None, None, None
        deadline = time.monotonic() + self.timeout
        while queue or in_flight:
            # Two messages of one ID are never in flight together: the answer could not tell which one it is for.
            while queue and len(in_flight) < self.window and messages[queue[-1]].id not in in_flight:
                index = queue.pop()
                in_flight[messages[index].id] = index
                starts[index] = written + len(out)
                out += struct.pack("!H", len(messages[index].wire)) + messages[index].wire
            if out and write_error is None:
                try:
                    sent = self.sock.send(out[:self.SEND_CHUNK])
                except BlockingIOError:
                    sent = 0
                except OSError as exc:
                    # Reset: stop writing, but read on - the answers already on their way are still to be taken, and
                    # the reading side reports the end.
                    write_error, sent = exc, 0
                if sent:
                    del out[:sent]
                    written += sent
                    deadline = time.monotonic() + self.timeout
            events = _READABLE | (select.POLLOUT if out and write_error is None else 0)
            if poller is None:
                poller = select.poll()
                poller.register(self.sock.fileno(), events)
            elif events != registered:
                poller.modify(self.sock.fileno(), events)
            registered = events
            ready = poller.poll(max(0, int((deadline - time.monotonic()) * 1000) + 1))
            if not ready:
                self.close()
                raise ConnectionLost("no answer within %s s" % self.timeout, timeout=True, answers=answers)
            closed, reason = False, None
            if ready[0][1] & _READABLE:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    data = None
                except OSError as exc:
                    closed, reason = True, exc
                else:
                    if data:
                        self._buffer += data
                        if self._take_answers(in_flight, answers):
                            failures = 0
                            deadline = time.monotonic() + self.timeout
                    else:
                        closed, reason = True, write_error
            if not closed:
                if time.monotonic() > deadline:  # octets came, but nothing taken, nothing answered
                    self.close()
                    raise ConnectionLost("no answer within %s s (only octets that answer nothing)" % self.timeout,
                                         timeout=True, answers=answers)
                continue
            # Closed: resend the queries in flight on a new connection; an UPDATE in flight has an unknown outcome.
            failures += 1
            if failures > self.RECONNECTS:
                self.close()
                raise ConnectionLost("the server closed the connection %d times without answering%s"
                                     % (failures, ": %s" % reason if reason else ""), answers=answers)
            for index in sorted(in_flight.values(), reverse=True):
                if messages[index].retry or starts[index] >= written:
                    queue.append(index)
                else:
                    answers[index] = ConnectionLost("the connection closed before the answer came%s"
                                                    % (": %s" % reason if reason else ""))
            in_flight.clear()
            starts.clear()
            out = bytearray()
            written, write_error, poller = 0, None, None
            self.close()
            if queue:  # nothing left to send (the lost UPDATEs were the last): no new connection until one is needed
                try:
                    self._connect()
                except ConnectionLost as exc:
                    exc.answers = answers
                    raise
                deadline = time.monotonic() + self.timeout
