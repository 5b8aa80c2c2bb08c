# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RFC 2136 provider (dnspython): read RRsets with queries, change a zone with one signed UPDATE.

The UPDATE carries prerequisites that every RRset the change relies on - those
it changes and the listed ones it leaves as they are (the MX RRset, every
target's A/AAAA) - still holds the values the plan was made from, so a change
made by someone else in between fails it atomically (NXRRSET/YXRRSET) instead of
being overwritten or leaving an MX pointing at addresses nobody planned; the
core's fresh read right before catches a TTL-only change too.

Every option that reaches a message (server, key name) is checked before
anything is sent: no control characters, a key name that is a DNS name, a
secret that is strict base64.
"""

from __future__ import annotations

import base64
import binascii
import random
import socket

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.tsig
    import dns.update
except ImportError:  # reported by the module with missing_required_lib
    dns = None

from ansible_collections.mailsec.mx.plugins.module_utils import _dnswire
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import (
    Provider, ProviderError, RecordSet, RecordSetError, ServerUnavailable, check_option, read_value)

TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")


class Rfc2136Provider(Provider):
    def __init__(self, server, port=53, protocol="tcp", key_name=None, key_secret=None, key_algorithm="hmac-sha256", timeout=10.0):
        """Raises RecordSetError for a bad option (before any lookup or traffic), ProviderError when the server has no address."""
        check_option("server", server)
        self.keyring = None
        self.algorithm = None
        self.key_name = None
        self.wire_key = None
        self.pipeline = None
        if key_name:
            self.key_name = _key_name(key_name)
            # dnspython knows the algorithms by their wire names (hmac-md5 is HMAC-MD5.SIG-ALG.REG.INT).
            self.algorithm = getattr(dns.tsig, key_algorithm.upper().replace("-", "_"))
            secret = _tsig_secret(key_secret)
            self.keyring = dns.tsig.Key(self.key_name, secret, self.algorithm)
            self.wire_key = _dnswire.Key(self.key_name.to_text(), secret, key_algorithm)
        self.server = _resolve(server, port)
        self.port = port
        self.protocol = protocol
        self.timeout = timeout

    def _send(self, message, what):
        if self.keyring is not None:
            message.use_tsig(self.keyring)
        send = dns.query.tcp if self.protocol == "tcp" else dns.query.udp
        try:
            return send(message, self.server, timeout=self.timeout, port=self.port)
        except dns.exception.Timeout:
            raise ProviderError("no answer to the %s from %s port %d within %s s" % (what, self.server, self.port, self.timeout)) from None
        except dns.exception.FormError as exc:
            if self.keyring is None:
                raise ProviderError("%s port %d sent a malformed answer to the %s: %s" % (self.server, self.port, what, exc)) from None
            # PowerDNS answers a bad key with REFUSED and no TSIG record: dnspython's FormError.
            raise ProviderError(
                "the server rejected the %s signed with TSIG key %s (%s: %s): check key_name, key_secret and key_algorithm"
                % (what, self.key_name, type(exc).__name__, exc)
            ) from None
        except dns.tsig.PeerError as exc:
            # BIND and Knot answer a bad key with a TSIG error (PeerBadKey, PeerBadSignature).
            raise ProviderError(
                "the server rejected the %s signed with TSIG key %s (%s: %s): check key_name, key_secret and key_algorithm"
                % (what, self.key_name, type(exc).__name__, exc)
            ) from None
        except (OSError, EOFError) as exc:
            raise ProviderError("cannot reach %s port %d for the %s: %s" % (self.server, self.port, what, exc)) from None

    def read(self, zone, keys):
        """{(name, type): RecordSet or None} as the zone's authoritative server answers."""
        current = {}
        for name, rtype in keys:
            query = dns.message.make_query(name, rtype, use_edns=0, payload=1232)
            response = self._send(query, "query for %s %s" % (name, rtype))
            if response.flags & dns.flags.TC:
                raise ProviderError("the answer for %s %s was truncated over UDP; use protocol tcp" % (name, rtype))
            rcode = response.rcode()
            if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                raise ProviderError("the query for %s %s got %s" % (name, rtype, dns.rcode.to_text(rcode)))
            if not response.flags & dns.flags.AA:
                raise ProviderError("%s port %d is not authoritative for %s" % (self.server, self.port, zone))
            current[(name, rtype)] = _answer(response, name, rtype, zone)
        return current

    def apply(self, zone, changes, unchanged=()):
        """One UPDATE: prerequisites for every RRset in ``changes`` and ``unchanged`` ([(key, RecordSet or None)]
        as read: the listed RRsets the change relies on without changing them), then the changes."""
        # A random ID: over UDP without TSIG it is all that tells our answer from a forged one.
        wire, relied = _update(zone, changes, unchanged, random.SystemRandom().randrange(0x10000))
        _check_update_rcode(self._send(dns.message.from_wire(wire), "update").rcode(), zone, relied)

    # --- many zones over one connection (protocol tcp) ---------------------------------------------------------

    def read_many(self, requests):
        """[(zone, keys)] -> [{key: RecordSet or None} or ProviderError], every query pipelined on one TCP connection."""
        if self.protocol != "tcp":
            return super().read_many(requests)
        messages = []
        for number, (zone, keys) in enumerate(requests):
            for key in keys:
                message_id = self._pipeline().next_id()
                wire, mac = self._signed(_dnswire.query(message_id, key[0], key[1]))
                messages.append(_dnswire.Outgoing(wire, message_id, True, (number, zone, key, mac)))
        answers = self._exchange(messages)
        results = [{} for dummy in requests]
        for message, answer in zip(messages, answers):
            number, zone, key, mac = message.context
            if isinstance(results[number], ProviderError):
                continue
            try:
                results[number][key] = self._read_answer(answer, zone, key, mac)
            except ProviderError as exc:
                results[number] = exc
        return results

    def apply_many(self, requests):
        """[(zone, changes, unchanged)] -> [None or ProviderError]: one UPDATE per zone, pipelined on one TCP connection.

        When the connection fails on the way (ServerUnavailable), the exception's ``outcomes`` still say which zones'
        UPDATEs were answered, applied or refused, and which may or may not have been applied."""
        if self.protocol != "tcp":
            return super().apply_many(requests)
        messages, results = [], [None] * len(requests)
        for number, (zone, changes, unchanged) in enumerate(requests):
            message_id = self._pipeline().next_id()
            try:
                wire, relied = _update(zone, changes, unchanged, message_id)
            except ValueError as exc:  # a message over 64 KiB, or a value the wire cannot carry: this zone only
                results[number] = ProviderError("the update of %s cannot be sent: %s" % (zone, exc))
                continue
            wire, mac = self._signed(wire)
            messages.append(_dnswire.Outgoing(wire, message_id, False, (number, zone, relied, mac)))
        try:
            answers = self._exchange(messages)
        except ServerUnavailable as exc:
            lost = exc.answers if exc.answers is not None else [None] * len(messages)
            self._settle(messages, lost, results, "%s (%s)" % (exc, "no answer came"))
            exc.outcomes = results
            raise
        self._settle(messages, answers, results, None)
        return results

    def _settle(self, messages, answers, results, lost_because):
        """Each UPDATE's outcome from its answer; an UPDATE without one may or may not have been applied."""
        for message, answer in zip(messages, answers):
            number, zone, relied, mac = message.context
            try:
                if answer is None or isinstance(answer, _dnswire.ConnectionLost):
                    raise ProviderError("%s port %d did not answer the update (%s); it may or may not have been applied: "
                                        "run again to see" % (self.server, self.port, answer or lost_because))
                checked = self._checked(answer, mac, "update")
                if checked.opcode != _dnswire.OPCODE_UPDATE >> 11 or checked.question not in (None, (zone.lower(), _dnswire.TYPES["SOA"])):
                    raise ProviderError("%s port %d answered the update of %s with another message" % (self.server, self.port, zone))
                _check_update_rcode(checked.rcode, zone, relied)
            except ProviderError as exc:
                results[number] = exc

    def finish(self):
        if self.pipeline is not None:
            self.pipeline.close()

    def _pipeline(self):
        if self.pipeline is None:
            self.pipeline = _dnswire.Pipeline(self.server, self.port, self.timeout)
        return self.pipeline

    def _signed(self, wire):
        if self.wire_key is None:
            return wire, None
        return self.wire_key.sign(wire)

    def _exchange(self, messages):
        """The answers; ServerUnavailable (every zone would fail alike) when the server cannot be reached or goes silent,
        with ``answers``: those that came before."""
        try:
            return self._pipeline().exchange(messages)
        except _dnswire.ConnectionLost as exc:
            if exc.timeout:
                error = ServerUnavailable("no answer from %s port %d within %s s (%s)" % (self.server, self.port, self.timeout, exc))
            else:
                error = ServerUnavailable("cannot reach %s port %d: %s" % (self.server, self.port, exc))
            error.answers = exc.answers
            raise error from None

    def _checked(self, wire, mac, what):
        """The parsed answer once its TSIG checks out (when we signed); ProviderError naming ``what`` otherwise."""
        try:
            answer = _dnswire.parse(wire)
            if self.wire_key is not None:
                try:
                    self.wire_key.verify(wire, answer.tsig, mac)
                except _dnswire.TsigError as exc:
                    if answer.tsig is None and answer.rcode != dns.rcode.REFUSED and answer.rcode != dns.rcode.NOTAUTH:
                        raise
                    raise ProviderError(
                        "the server rejected the %s signed with TSIG key %s (%s, %s): check key_name, key_secret and key_algorithm"
                        % (what, self.key_name, exc.error or exc, dns.rcode.to_text(answer.rcode))) from None
        except _dnswire.WireError as exc:
            raise ProviderError("%s port %d sent a bad answer to the %s: %s" % (self.server, self.port, what, exc)) from None
        return answer

    def _read_answer(self, wire, zone, key, mac):
        name, rtype = key
        what = "query for %s %s" % key
        answer = self._checked(wire, mac, what)
        if answer.question != (name.lower(), _dnswire.TYPES[rtype]):
            raise ProviderError("%s port %d answered another question than the %s" % (self.server, self.port, what))
        if answer.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise ProviderError("the query for %s %s got %s" % (name, rtype, dns.rcode.to_text(answer.rcode)))
        if not answer.flags & _dnswire.FLAG_AA:
            raise ProviderError("%s port %d is not authoritative for %s" % (self.server, self.port, zone))
        values, ttls = [], []
        for owner, found, ttl, value in answer.records:
            if owner != name.lower():
                continue
            if found == "CNAME":
                raise ProviderError("%s is a CNAME; an MX target or address owner must not be one" % name)
            if found == rtype:
                values.append(read_value(rtype, value, zone))
                ttls.append(ttl)
        return RecordSet(name, rtype, min(ttls), values) if values else None


def _update(zone, changes, unchanged, message_id=0):
    """The UPDATE of one zone in wire form (no TSIG), and the RRsets its prerequisites cover ([(key, RecordSet or None)]).

    Prerequisites: every RRset the change relies on still holds what was read (RFC 2136 3.2.5: value-dependent,
    TTL 0), or is still absent; then each changed RRset is deleted and added with its new values.
    """
    relied = [(change.key, change.before) for change in changes] + list(unchanged)
    wire = _dnswire.update(
        message_id, zone,
        [(key[0], key[1], before.values if before is not None else None) for key, before in relied],
        [(change.key[0], change.key[1], change.before is not None,
          (change.after.ttl, change.after.values) if change.after is not None else None) for change in changes])
    return wire, relied


def _check_update_rcode(rcode, zone, relied):
    """Nothing when the server applied the update; ProviderError saying why not otherwise."""
    if rcode == dns.rcode.NOERROR:
        return
    touched = ", ".join("%s %s" % key for key, before in relied)
    if rcode in (dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN):
        raise ProviderError(
            "someone changed %s between our read and our update (%s); nothing was changed, run again"
            % (("one of " if len(relied) > 1 else "") + touched, dns.rcode.to_text(rcode))
        )
    if rcode == dns.rcode.NOTAUTH:
        raise ProviderError(
            "the server refused the update as not authorized (NOTAUTH): check the TSIG key and that it may update %s" % zone
        )
    raise ProviderError(
        "the server answered the update with %s; nothing was changed. Check its update policy for this key "
        "(BIND also refuses an MX whose in-zone target has no address record)" % dns.rcode.to_text(rcode)
    )


def _key_name(key_name):
    """The TSIG key name as a dnspython Name; RecordSetError about the key name otherwise."""
    check_option("key_name", key_name)
    if not key_name.strip() or key_name != key_name.strip():
        raise RecordSetError("key_name %r is empty or has whitespace around it" % (key_name,))
    try:
        name = dns.name.from_text(key_name)
    except dns.exception.DNSException as exc:
        raise RecordSetError("key_name %r is not a valid DNS name (%s)" % (key_name, exc)) from None
    if name == dns.name.root:
        raise RecordSetError("key_name %r is the root name; give the key's name" % (key_name,))
    return name


def _tsig_secret(secret):
    """The secret's bytes when it is strict base64 (RFC 4648: A-Z a-z 0-9 + /, '=' padding, nothing else); RecordSetError
    about the secret otherwise. The message never shows the secret."""
    if not isinstance(secret, str) or not secret:
        raise RecordSetError("key_secret is empty; give the TSIG secret (base64)")
    try:
        decoded = base64.b64decode(secret.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        reason = "non-ASCII characters" if isinstance(exc, UnicodeEncodeError) else str(exc)
        raise RecordSetError(
            "key_secret is not valid base64 (%s): strict RFC 4648 base64 only - A-Z, a-z, 0-9, +, / and = padding, "
            "no spaces or line breaks; copy the secret from the key file (tsig-keygen, keymgr)" % reason) from None
    if not decoded:
        raise RecordSetError("key_secret is empty once decoded; give the TSIG secret (base64)")
    return decoded


def _resolve(server, port):
    try:
        return socket.getaddrinfo(server, port, proto=socket.IPPROTO_TCP)[0][4][0]
    except socket.gaierror as exc:
        raise ProviderError("cannot resolve server %r: %s" % (server, exc)) from None


def _answer(response, name, rtype, zone):
    qname = dns.name.from_text(name)
    for rrset in response.answer:
        if rrset.name != qname:
            continue
        if rrset.rdtype == dns.rdatatype.CNAME:
            raise ProviderError("%s is a CNAME; an MX target or address owner must not be one" % name)
        if rrset.rdtype == dns.rdatatype.from_text(rtype):
            values = [read_value(rtype, rdata.to_text(), zone) for rdata in rrset]
            return RecordSet(name, rtype, rrset.ttl, values)
    return None
