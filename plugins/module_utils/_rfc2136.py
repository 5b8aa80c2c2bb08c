# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RFC 2136 provider (dnspython): read RRsets with queries, change a zone with one signed UPDATE.

The UPDATE carries prerequisites that the RRsets it touches still hold the
values the plan was made from, so a change made by someone else in between
fails it atomically (NXRRSET/YXRRSET) instead of being overwritten; the core's
fresh read right before catches a TTL-only change too.
"""

from __future__ import annotations

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
    import dns.tsigkeyring
    import dns.update
except ImportError:  # reported by the module with missing_required_lib
    dns = None

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import ProviderError, RecordSet, read_value

TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")


class Rfc2136Provider:
    def __init__(self, server, port=53, protocol="tcp", key_name=None, key_secret=None, key_algorithm="hmac-sha256", timeout=10.0):
        self.server = _resolve(server, port)
        self.port = port
        self.protocol = protocol
        self.timeout = timeout
        self.key_name = key_name
        self.keyring = None
        self.algorithm = None
        if key_name:
            try:
                self.keyring = dns.tsigkeyring.from_text({key_name: key_secret})
            except Exception as exc:  # dnspython raises binascii errors for a bad secret
                raise ProviderError("key_secret is not valid base64 (%s)" % exc) from None
            # dnspython knows the algorithms by their wire names (hmac-md5 is HMAC-MD5.SIG-ALG.REG.INT).
            self.algorithm = getattr(dns.tsig, key_algorithm.upper().replace("-", "_"))

    def _send(self, message, what):
        if self.keyring is not None:
            message.use_tsig(self.keyring, keyname=self.key_name, algorithm=self.algorithm)
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

    def apply(self, zone, changes):
        update = dns.update.UpdateMessage(zone)
        for change in changes:
            name = dns.name.from_text(change.key[0])
            if change.before is None:
                update.absent(name, change.key[1])
            else:
                # RFC 2136 3.2.5: a value-dependent prerequisite carries TTL 0.
                update.present(name, _rdataset(change.before, ttl=0))
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
        touched = ", ".join("%s %s" % change.key for change in changes)
        if rcode in (dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN):
            raise ProviderError(
                "someone changed %s between our read and our update (%s); nothing was changed, run again"
                % (touched, dns.rcode.to_text(rcode))
            )
        if rcode == dns.rcode.NOTAUTH:
            raise ProviderError(
                "the server refused the update as not authorized (NOTAUTH): check the TSIG key and that it may update %s" % zone
            )
        raise ProviderError(
            "the server answered the update with %s; nothing was changed. Check its update policy for this key "
            "(BIND also refuses an MX whose in-zone target has no address record)" % dns.rcode.to_text(rcode)
        )


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
