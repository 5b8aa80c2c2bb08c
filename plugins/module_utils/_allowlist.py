# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Allowlists of source networks: validated, read from plain-text files and merged (controller side).

Entries are IPv4/IPv6 addresses or CIDRs.  They are merged with netaddr into the
smallest list of networks per family, the form that nftables interval sets and
ipset ``hash:net`` sets take without overlaps.  Files are read here, line by
line, never through YAML or Jinja: at 100,000 entries that is the difference
between seconds and minutes.

Hostile entries are refused before anything changes: a control character
(newline, carriage return, NUL, ...) in an entry or anywhere on a file line,
an IPv6 scope id, and networks broader than a minimum prefix length (see
merge_allowlist).
"""

from __future__ import annotations

import socket

from ansible_collections.mailsec.mx.plugins.module_utils._values import control_character

try:
    import netaddr
except ImportError:  # reported by the caller, so a missing library is a clear error
    netaddr = None


class AllowlistError(ValueError):
    """An allowlist entry is invalid; the message names it and where it came from."""


_FAMILIES = ((socket.AF_INET, 4, 32), (socket.AF_INET6, 6, 128))
MIN_PREFIX4 = 8
MIN_PREFIX6 = 16


def _parse(entry, origin, min_prefix, checked=False):
    """An entry as a netaddr.IPNetwork; strict: plain literals and a decimal prefix only.

    socket.inet_pton does the parsing (no shorthand like '203.0.113', no leading
    zeros, no scope id): five times faster than netaddr's own parser at 100,000
    entries.  ``min_prefix`` maps the IP version to the shortest prefix allowed;
    ``checked``: read_allow_file already refused control characters on the line.
    """
    if isinstance(entry, str):
        found = None if checked else control_character(entry)
        if found:
            raise AllowlistError("%s: %r contains a control character (%s); remove it" % (origin, entry, found))
        if "%" in entry:
            raise AllowlistError("%s: %r has an IPv6 scope id (%%...); list the address or network alone" % (origin, entry))
    text = entry.strip() if isinstance(entry, str) else ""
    address, slash, prefix = text.partition("/")
    for family, version, bits in _FAMILIES:
        if (":" in address) != (version == 6):
            continue
        try:
            value = int.from_bytes(socket.inet_pton(family, address), "big")
        except (OSError, ValueError):
            break
        if not slash:
            return netaddr.IPNetwork((value, bits), version=version)
        if not (prefix.isascii() and prefix.isdigit() and int(prefix) <= bits):
            break
        length = int(prefix)
        if length == 0:
            raise AllowlistError("%s: %r would open the dead primary to everyone; list the senders' own networks" % (origin, entry))
        if value & ((1 << (bits - length)) - 1):
            network = netaddr.IPNetwork((value, length), version=version).cidr
            raise AllowlistError("%s: %r has host bits set; did you mean %s?" % (origin, entry, network))
        if length < min_prefix[version]:
            raise AllowlistError(
                "%s: %r is broader than /%d, the widest IPv%d network allowed (min_prefix%d); list the senders' own networks"
                % (origin, entry, min_prefix[version], version, version)
            )
        return netaddr.IPNetwork((value, length), version=version)
    raise AllowlistError("%s: %r is not an IP address or CIDR" % (origin, entry))


def read_allow_file(path):
    """Yield (entry, origin) of a file: one IP or CIDR per line, '#' starts a comment.

    Lines end at LF only, and one CR before it is dropped (CRLF files read
    clean); any other control character on a line (a CR or NUL in the middle,
    in a comment too) raises AllowlistError naming the file and line.  Tabs
    count as spaces.
    """
    try:
        with open(path, encoding="utf-8", newline="\n") as handle:
            for number, line in enumerate(handle, start=1):
                line = line[:-1] if line.endswith("\n") else line
                line = line[:-1] if line.endswith("\r") else line
                found = control_character(line.replace("\t", " ") if "\t" in line else line)
                if found:
                    raise AllowlistError("%s line %d: %r contains a control character (%s); remove it" % (path, number, line, found))
                entry = line.split("#", 1)[0].strip()
                if entry:
                    yield entry, (path, number)
    except OSError as exc:
        raise AllowlistError("allow file %s cannot be read: %s" % (path, exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise AllowlistError("allow file %s is not UTF-8 text" % path) from None


def _check_min_prefix(option, value, bits):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= bits:
        raise AllowlistError("%s must be an integer from 1 to %d, not %r" % (option, bits, value))
    return value


def merge_allowlist(entries=(), files=(), *, min_prefix4=MIN_PREFIX4, min_prefix6=MIN_PREFIX6):
    """Validate every entry and return ``(ipv4, ipv6)``: merged CIDR strings, sorted.

    ``entries`` are strings from variables; ``files`` are paths of allow files.
    The first invalid entry raises AllowlistError naming it (with file and line):
    not an address or CIDR, host bits set, a control character, an IPv6 scope id,
    ``/0`` (everyone), or a prefix shorter than ``min_prefix4`` (IPv4) or
    ``min_prefix6`` (IPv6).  The limits apply after merging as well: entries
    that are fine one by one but merge into a network broader than the limit
    (``10.0.0.0/8`` + ``11.0.0.0/8`` = ``10.0.0.0/7``) are refused, naming the
    merged network and the limit.

    Why /8 and /16 by default: an allowlist names the networks of real senders
    (a provider's relays, a partner's outbound hosts).  No real sender list needs
    an IPv4 network broader than /8 (the largest block ever assigned to one
    organisation) or an IPv6 network broader than /16 (IANA hands the regional
    registries /12s; no single organisation holds anything near a /16); anything
    broader is a typo (``10.0.0.0/1`` for ``/16``) or an attempt to open the dead
    primary to a large part of the Internet.  Raise the numbers (up to 32 / 128) to be
    stricter; lower them (down to 1) only knowingly.
    """
    if netaddr is None:
        raise AllowlistError("the Python library netaddr is required on the controller (pip install netaddr)")
    min_prefix = {4: _check_min_prefix("min_prefix4", min_prefix4, 32), 6: _check_min_prefix("min_prefix6", min_prefix6, 128)}
    networks = [_parse(entry, "allow entry %d" % number, min_prefix) for number, entry in enumerate(entries, start=1)]
    for path in files:
        for entry, (name, line) in read_allow_file(path):
            networks.append(_parse(entry, "%s line %d" % (name, line), min_prefix, checked=True))
    merged = netaddr.cidr_merge(networks)
    # Entries that are fine one by one can still merge into everyone (0.0.0.0/1 + 128.0.0.0/1), or into a network broader
    # than the limit (10.0.0.0/8 + 11.0.0.0/8).
    for network in merged:
        if network.prefixlen == 0:
            raise AllowlistError("the allowlist as a whole covers %s and would open the dead primary to everyone" % network)
        if network.prefixlen < min_prefix[network.version]:
            raise AllowlistError(
                "the allowlist as a whole merges into %s, broader than /%d, the widest IPv%d network allowed (min_prefix%d); "
                "list the senders' own networks" % (network, min_prefix[network.version], network.version, network.version)
            )
    ipv4 = [str(network) for network in merged if network.version == 4]
    ipv6 = [str(network) for network in merged if network.version == 6]
    return ipv4, ipv6
