# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks for values that reach a rules file, a name or a DNS message: hostile input is refused here.

Every value a user (or a file, or another host) hands us may end up in text
that another program parses line by line: ``nft -f``, ``iptables-restore``,
``ipset restore``, a zone file, a DNS message, a report.  One newline in an
address is one more firewall rule.  These functions are small, pure (standard
library only) and strict; each raises ValueError whose message names the option
and the offending value (its repr, so a newline shows as ``\\n``).

- :func:`check_text` - no control characters in any text value
  (:func:`control_character` says where the first one is, without raising).
- :func:`mx_address` - one IP address, parsed strictly, that can be a dead, trap
  or MX address (UnusableAddressError for a well-formed one that cannot).
- :func:`check_rule_token` - defence in depth for the firewall renderers: a value
  about to be written into a ruleset contains only what an address, network,
  port or name may contain.
"""

from __future__ import annotations

import ipaddress
import re

# C0 controls (NUL, TAB, LF, CR, ESC, ...), DEL, C1 controls (U+0080..U+009F, NEL among them), and the two
# Unicode line and paragraph separators that Python's str.splitlines() also breaks lines on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What an address, a CIDR, a port, a port range or a set/chain/host name may contain, and nothing else.
_RULE_TOKEN = re.compile(r"[0-9A-Za-z._:/-]+")
# What a textual IPv4/IPv6 address may contain (dotted quad inside IPv6 included); no '%', no space.
_ADDRESS_CHARACTERS = re.compile(r"[0-9A-Fa-f.:]+")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_LIMITED_BROADCAST = ipaddress.ip_address("255.255.255.255")


class UnusableAddressError(ValueError):
    """Raised by :func:`mx_address` for a well-formed address that cannot be a dead, trap or MX address."""


def control_character(value):
    """Describe the first control character of the str ``value`` (``"U+000A at offset 4"``), or return None.

    The characters are those :func:`check_text` refuses.
    """
    found = _CONTROL.search(value)
    return "U+%04X at offset %d" % (ord(found.group()), found.start()) if found else None


def check_text(option, value):
    """Return ``value`` (a str) unchanged if it holds no control character; raise ValueError otherwise.

    Refused anywhere in the text: C0 controls (U+0000..U+001F: NUL, TAB, LF, CR ...),
    DEL (U+007F), C1 controls (U+0080..U+009F) and the line/paragraph separators
    U+2028 and U+2029.  Use it for any value that reaches a rules file, a name or
    a DNS message.  ``option`` names where the value came from in the message.
    A value that is not a str is refused too.
    """
    if not isinstance(value, str):
        raise ValueError("%s: %r is not a string" % (option, value))
    found = control_character(value)
    if found:
        raise ValueError("%s: %r contains a control character (%s); remove it" % (option, value, found))
    return value


def mx_address(option, value):
    """Parse ``value`` as exactly one IP address that can be a dead, trap or MX address; return an ipaddress object.

    Strict: ``value`` must be a str holding nothing but the address (no
    surrounding or embedded whitespace, no control character, no IPv6 scope id
    ``%...``, no prefix length).  Refused as well, because no sender can reach
    them as an MX (or a firewall rule on them means something else): the
    unspecified address (``0.0.0.0``, ``::``), ``0.0.0.0/8``, the limited broadcast
    ``255.255.255.255``, loopback, multicast, link-local, IPv4-mapped IPv6
    (``::ffff:a.b.c.d``: write the IPv4 address) and IPv4-compatible IPv6
    (``::a.b.c.d``, deprecated by RFC 4291).

    Raises ValueError naming ``option`` and the repr of ``value``; for a
    well-formed but unusable address, its subclass UnusableAddressError.
    """
    if not isinstance(value, str):
        raise ValueError("%s: %r is not a string holding an IP address" % (option, value))
    check_text(option, value)
    if value != value.strip() or " " in value:
        raise ValueError("%s: %r has whitespace around or inside the address; write the address alone" % (option, value))
    if "%" in value:
        raise ValueError("%s: %r has an IPv6 scope id (%%...); scope ids are not allowed, write the address alone" % (option, value))
    not_one = "%s: %r is not a single IPv4/IPv6 address" % (option, value)
    if not _ADDRESS_CHARACTERS.fullmatch(value):
        raise ValueError(not_one)
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(not_one) from None
    reason = _unusable(address)
    if reason:
        raise UnusableAddressError("%s: %r is %s; it cannot be a dead, trap or MX address" % (option, value, reason))
    return address


def _unusable(address):
    """Why ``address`` cannot be an MX address, or None."""
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address (write %s)" % address.ipv4_mapped
        if address.is_unspecified:
            return "the unspecified address"
        if address.is_loopback:
            return "a loopback address"
        if int(address) >> 32 == 0:
            return "an IPv4-compatible IPv6 address (deprecated; write %s)" % ipaddress.IPv4Address(int(address))
    else:
        if address.is_unspecified or address in _THIS_NETWORK:
            return "the unspecified address" if address.is_unspecified else "in 0.0.0.0/8 ('this network')"
        if address == _LIMITED_BROADCAST:
            return "the limited broadcast address"
        if address.is_loopback:
            return "a loopback address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    return None


def check_rule_token(kind, value):
    """Return ``value`` unchanged if it is safe to write into a ruleset as one token; raise ValueError otherwise.

    Defence in depth for the firewall renderers (nftables, iptables, ipset): the
    values were validated where they came in, and this check makes sure that
    whatever reaches the rules text can only be one address, CIDR, port, port
    range or name: ASCII letters and digits, ``.``, ``:``, ``/``, ``_`` and ``-``,
    at least one of them.  A non-negative int (a port, a preference) is accepted
    as is; a bool is not.  ``kind`` names the value in the message (``"address"``,
    ``"set name"``, ...).
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _RULE_TOKEN.fullmatch(value):
        return value
    raise ValueError(
        "refusing to write %s %r into a ruleset: only letters, digits and . : / _ - are allowed" % (kind, value)
    )
