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
import socket

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdataclass
    import dns.rdataset
    import dns.rdatatype
    import dns.tsig
    import dns.update
except ImportError:  # reported by the module with missing_required_lib
    dns = None

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import Provider, ProviderError, RecordSet, RecordSetError, check_option, read_value

TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")


class Rfc2136Provider(Provider):
    def __init__(self, server, port=53, protocol="tcp", key_name=None, key_secret=None, key_algorithm="hmac-sha256", timeout=10.0):
        """Raises RecordSetError for a bad option (before any lookup or traffic), ProviderError when the server has no address."""
        check_option("server", server)
        self.keyring = None
        self.algorithm = None
        self.key_name = None
        if key_name:
            self.key_name = _key_name(key_name)
            # dnspython knows the algorithms by their wire names (hmac-md5 is HMAC-MD5.SIG-ALG.REG.INT).
            self.algorithm = getattr(dns.tsig, key_algorithm.upper().replace("-", "_"))
            self.keyring = dns.tsig.Key(self.key_name, _tsig_secret(key_secret), self.algorithm)
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
        update = dns.update.UpdateMessage(zone)
        relied = [(change.key, change.before) for change in changes] + list(unchanged)
        for key, before in relied:
            name = dns.name.from_text(key[0])
            if before is None:
                update.absent(name, key[1])
            else:
                # RFC 2136 3.2.5: a value-dependent prerequisite carries TTL 0.
                update.present(name, _rdataset(before, ttl=0))
        for change in changes:
            name = dns.name.from_text(change.key[0])
            if change.before is not None:
                update.delete(name, change.key[1])
            if change.after is not None:
                update.add(name, _rdataset(change.after))
        response = self._send(update, "update")
        rcode = response.rcode()
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


def _rdataset(record_set, ttl=None):
    ttl = record_set.ttl if ttl is None else ttl
    return dns.rdataset.from_text_list(dns.rdataclass.IN, record_set.type, ttl, list(record_set.values))
