# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The MX layout: one data model and its rules, written once.

A layout is a list of records ``{preference, host, role, addresses}``.  The
filters, the publishing modules and the verification all call this module,
so a rule lives here and nowhere else.  It is pure Python (standard library
only) so unit tests and every plugin can import it without Jinja.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import normalize_zone
from ansible_collections.mailsec.mx.plugins.module_utils._values import (
    UnusableAddressError,
    check_text,
    control_character,
    mx_address,
)

ROLES = ("live", "dead", "backstop", "trap")
DEFAULT_ROLE = "live"
NULL_MX = "."
# The keys a record may have: the four of the layout, and a free-text comment that is kept and never published.
KEYS = ("preference", "host", "role", "addresses", "comment")
ERROR = "error"
WARNING = "warning"

# Used with fullmatch only: '$' would also match before a trailing newline.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DIGITS = re.compile(r"[0-9]+")
_MAX_NAME_OCTETS = 253
_MAX_LABEL_OCTETS = 63
_MAX_PREFERENCE = 65535


class LayoutError(ValueError):
    """The layout has errors; ``problems`` holds every one of them."""

    def __init__(self, message, problems):
        super().__init__(message)
        self.problems = problems


class _Record:
    """One layout record as read: normalised fields are None where invalid."""

    __slots__ = ("index", "raw", "preference", "host", "role", "addresses", "listed_addresses")

    def __init__(self, index, raw):
        self.index = index
        self.raw = raw
        self.preference = None
        self.host = None
        self.role = None
        self.addresses = ()
        self.listed_addresses = 0

    @property
    def label(self):
        """How messages name the record: its position and, when known, its MX value."""
        preference = self.preference if self.preference is not None else _shown(self.raw_field("preference"))
        host = self.host if self.host is not None else _shown(self.raw_field("host"))
        return "record %d (%s %s)" % (self.index + 1, preference, host)

    def raw_field(self, key):
        return self.raw.get(key) if isinstance(self.raw, dict) else None

    @property
    def valid_position(self):
        """True when preference and host are both usable for ordering rules."""
        return self.preference is not None and self.host is not None


def _shown(value):
    """A raw value as a message shows it: as is, or its repr if it is not a string or holds a control character."""
    return value if isinstance(value, str) and not control_character(value) else repr(value)


def normalize_host(value):
    """Return ``value`` as an absolute lower-case name with a trailing dot, or raise ValueError."""
    if not isinstance(value, str):
        raise ValueError("is not a domain name")
    found = control_character(value)
    if found:
        raise ValueError("contains a control character (%s); a host name is letters, digits, hyphens and dots" % found)
    if not value.strip():
        raise ValueError("is empty; give the mail host's domain name")
    name = value.strip().lower()
    if name == NULL_MX:
        return NULL_MX
    if _is_ip_literal(name):
        raise ValueError("is an IP address literal; an MX must name a host, put the address under 'addresses'")
    bare = name[:-1] if name.endswith(".") else name
    if len(bare) > _MAX_NAME_OCTETS:
        raise ValueError("is longer than %d octets" % _MAX_NAME_OCTETS)
    labels = bare.split(".")
    if len(labels) < 2:
        raise ValueError("is a single label; MX hosts are absolute names such as mail.example.org")
    for label in labels:
        if not label:
            raise ValueError("has an empty label")
        if len(label) > _MAX_LABEL_OCTETS:
            raise ValueError("has a label longer than %d octets (%s)" % (_MAX_LABEL_OCTETS, label))
        if not _LABEL.fullmatch(label):
            raise ValueError(
                "has an invalid label %r: use letters, digits and hyphens only, "
                "not starting or ending with a hyphen (IDNs in their xn-- form)" % label
            )
    return bare + "."


def _is_ip_literal(name):
    try:
        ipaddress.ip_address(name.strip("[]").rstrip("."))
    except ValueError:
        return False
    return True


def normalize_preference(value):
    """Return ``value`` as an int in 0..65535 (a string of digits is accepted), or raise ValueError."""
    if isinstance(value, bool) or value is None:
        raise ValueError("must be an integer from 0 to %d" % _MAX_PREFERENCE)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and not control_character(value) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise ValueError("must be an integer from 0 to %d" % _MAX_PREFERENCE)
    if not 0 <= number <= _MAX_PREFERENCE:
        raise ValueError("is outside 0..%d" % _MAX_PREFERENCE)
    return number


def normalize_address(value, option="address"):
    """Return ``value`` as a compressed IPv4/IPv6 address string, or raise ValueError naming ``option``.

    Strict (see _values.mx_address): no whitespace, control characters or scope
    ids; unspecified, loopback, multicast, link-local and IPv4-mapped addresses
    are refused (UnusableAddressError, a ValueError).
    """
    return mx_address(option, value).compressed


def _address_family(address):
    return 6 if ":" in address else 4


def _rdata(preference, host):
    return "%d %s" % (preference, host)


class _Checker:
    """Reads a layout once and collects every problem, in record order then rule order."""

    def __init__(self, layout, allow_multiple_dead, address_limit):
        self.allow_multiple_dead = allow_multiple_dead
        self.address_limit = address_limit
        self.problems = []
        self.records = [self._read(index, raw) for index, raw in enumerate(layout)]

    def report(self, code, message, record=None, severity=ERROR):
        self.problems.append({
            "code": code,
            "severity": severity,
            "message": message,
            "host": record.host if record is not None else None,
            "preference": record.preference if record is not None else None,
        })

    def _read(self, index, raw):
        record = _Record(index, raw)
        if not isinstance(raw, dict):
            self.report("record-invalid", "%s is not a mapping with preference, host, role and addresses." % record.label)
            return record
        try:
            record.host = normalize_host(raw.get("host"))
        except ValueError as exc:
            self.report("host-invalid", "%s: host %r %s." % (record.label, raw.get("host"), exc), record)
        try:
            record.preference = normalize_preference(raw.get("preference"))
        except ValueError as exc:
            self.report("preference-invalid", "%s: preference %r %s." % (record.label, raw.get("preference"), exc), record)
        self._check_keys(record, raw)
        role = raw.get("role", DEFAULT_ROLE)
        record.role = role if isinstance(role, str) and role in ROLES else None
        if record.role is None:
            hint = "; leave the key out for %r" % DEFAULT_ROLE if role is None else ""
            self.report("role-invalid", "%s: role %r is not one of %s%s." % (record.label, role, ", ".join(ROLES), hint), record)
        self._read_addresses(record, raw.get("addresses"))
        return record

    def _check_keys(self, record, raw):
        for key in raw:
            if key in KEYS:
                continue
            close = difflib.get_close_matches(key.lower(), KEYS, n=1, cutoff=0.6) if isinstance(key, str) else []
            self.report(
                "key-unknown",
                "%s: unknown key %r%s; a record has only the keys %s." % (
                    record.label, key, " (did you mean %r?)" % close[0] if close else "", ", ".join(KEYS)),
                record,
            )

    def _read_addresses(self, record, addresses):
        if addresses is None:
            return
        if not isinstance(addresses, (list, tuple)):
            self.report("address-invalid", "%s: addresses must be a list of IP addresses, not %r." % (record.label, addresses), record)
            return
        record.listed_addresses = len(addresses)
        normalized = []
        for entry in addresses:
            try:
                address = normalize_address(entry, "%s: address" % record.label)
            except UnusableAddressError as exc:
                self.report("address-unusable", "%s." % exc, record)
                continue
            except ValueError as exc:
                self.report("address-invalid", "%s." % exc, record)
                continue
            if address not in normalized:
                normalized.append(address)
        record.addresses = tuple(normalized)

    def with_role(self, role):
        return [record for record in self.records if record.role == role]

    def primary(self):
        live = [record for record in self.with_role("live") if record.valid_position]
        return min(live, key=lambda record: (record.preference, record.host)) if live else None

    def run(self):
        self.check_duplicates()
        self.check_null_mx()
        if not self.with_role("live"):
            self.report("no-live", "The layout has no record with role 'live': no MX would accept mail. Add the real mail host.")
        self.check_dead()
        self.check_backstops()
        self.check_traps()
        self.check_address_limit()
        return self.problems

    def check_duplicates(self):
        seen = set()
        for record in self.records:
            if not record.valid_position:
                continue
            key = (record.preference, record.host)
            if key in seen:
                self.report("duplicate-record", "%s: MX %s is listed twice; remove one." % (record.label, _rdata(*key)), record)
            seen.add(key)

    def check_null_mx(self):
        null = [record for record in self.records if record.host == NULL_MX]
        if null and len(self.records) > 1:
            self.report(
                "null-mx-mixed",
                "%s: a null MX ('.') says the domain accepts no mail and must be the only MX record; "
                "remove it or the other records." % null[0].label,
                null[0],
            )
        for record in null:
            if record.preference is not None and record.preference != 0:
                self.report(
                    "null-mx-preference",
                    "%s: a null MX ('.') has preference 0 (RFC 7505); write 0 ." % record.label,
                    record,
                )
            if record.listed_addresses:
                self.report(
                    "null-mx-address",
                    "%s: a null MX ('.') names no host, so it has no addresses; remove them." % record.label,
                    record,
                )

    def _addresses_of_others(self, roles_excluded=(), exclude=None):
        """Map each address to the labels of records (other than ``exclude``) that list it."""
        owners = {}
        for record in self.records:
            if record is exclude or record.role in roles_excluded:
                continue
            for address in record.addresses:
                owners.setdefault(address, []).append(record)
        return owners

    def check_dead(self):
        dead = self.with_role("dead")
        others = [record for record in self.records if record.role not in (None, "dead") and record.preference is not None]
        lowest_other = min((record.preference for record in others), default=None)
        non_dead_addresses = self._addresses_of_others(roles_excluded=(None, "dead"))
        roles_by_host = {}
        for record in self.records:
            if record.host is not None and record.role is not None:
                roles_by_host.setdefault(record.host, set()).add(record.role)
        ordered_dead = sorted(dead, key=lambda record: (record.preference is None, record.preference or 0, record.host or ""))
        for number, record in enumerate(ordered_dead):
            if record.preference is not None and lowest_other is not None and record.preference >= lowest_other:
                self.report(
                    "dead-not-lowest",
                    "%s: the dead primary's preference must be lower than every other MX (lowest other: %d); "
                    "a tie or a higher value defeats nolisting. Give it a lower preference." % (record.label, lowest_other),
                    record,
                )
            if number > 0 and not self.allow_multiple_dead:
                self.report(
                    "multiple-dead",
                    "%s: more than one dead record (%s is the first); keep one, or set allow_multiple_dead=true "
                    "if you mean it." % (record.label, ordered_dead[0].label),
                    record,
                )
            if not record.listed_addresses:
                self.report(
                    "dead-no-address",
                    "%s: a dead primary needs its addresses listed so the firewall can reset port 25 there." % record.label,
                    record,
                )
            for family in (4, 6):
                same_family = [address for address in record.addresses if _address_family(address) == family]
                if len(same_family) > 1:
                    self.report(
                        "dead-many-addresses",
                        "%s: %d IPv%d addresses (%s); every one costs a legitimate sender a connection attempt. "
                        "One per family is enough." % (record.label, len(same_family), family, ", ".join(same_family)),
                        record,
                        WARNING,
                    )
            for address in record.addresses:
                sharers = non_dead_addresses.get(address)
                if sharers:
                    self.report(
                        "dead-address-shared",
                        "%s: address %s is also listed by %s; the firewall would kill that MX too. "
                        "Give the dead primary an address of its own." % (record.label, address, ", ".join(r.label for r in sharers)),
                        record,
                    )
            if record.host is not None and len(roles_by_host.get(record.host, ())) > 1:
                other_roles = sorted(roles_by_host[record.host] - {"dead"})
                self.report(
                    "host-role-conflict",
                    "%s: host %s is dead here but also listed with role %s; use a name of its own for the dead primary."
                    % (record.label, record.host, ", ".join(other_roles)),
                    record,
                )

    def check_backstops(self):
        backstops = self.with_role("backstop")
        if not backstops:
            return
        front = [record.preference for record in self.records if record.role in ("dead", "live") and record.preference is not None]
        highest_front = max(front, default=None)
        primary = self.primary()
        for record in backstops:
            if record.preference is not None and highest_front is not None and record.preference <= highest_front:
                self.report(
                    "backstop-not-highest",
                    "%s: a backstop must have a higher preference than every dead and live MX (highest: %d)."
                    % (record.label, highest_front),
                    record,
                )
            if primary is None:
                self.report("backstop-not-primary", "%s: there is no live primary for the backstop to lead back to." % record.label, record)
                continue
            if record.host == primary.host:
                self.report(
                    "backstop-reuses-name",
                    "%s: the backstop reuses the primary's name %s; it works, but checkers flag a name listed twice. "
                    "A distinct name with the primary's addresses is better." % (record.label, primary.host),
                    record,
                    WARNING,
                )
            elif not (record.addresses and primary.addresses and set(record.addresses) <= set(primary.addresses)):
                self.report(
                    "backstop-not-primary",
                    "%s: a backstop must lead back to the primary %s: use its name, or list a non-empty subset of "
                    "its addresses (%s)." % (record.label, primary.label, ", ".join(primary.addresses) or "none listed"),
                    record,
                )

    def check_traps(self):
        traps = self.with_role("trap")
        if not traps:
            return
        highest_live = max((record.preference for record in self.with_role("live") if record.preference is not None), default=None)
        for record in traps:
            if record.preference is not None and highest_live is not None and record.preference <= highest_live:
                self.report(
                    "trap-not-above-live",
                    "%s: a trap must have a higher preference than every live MX (highest: %d), "
                    "or legitimate mail would reach it." % (record.label, highest_live),
                    record,
                )
            if not record.listed_addresses:
                self.report("trap-no-address", "%s: a trap needs addresses of its own to catch senders on." % record.label, record)
        owners = self._addresses_of_others()
        for record in traps:
            for address in record.addresses:
                sharers = [other for other in owners.get(address, ()) if other is not record]
                if sharers:
                    self.report(
                        "trap-address-shared",
                        "%s: trap address %s is also listed by %s; a trap needs addresses no other MX uses."
                        % (record.label, address, ", ".join(other.label for other in sharers)),
                        record,
                    )

    def check_address_limit(self):
        live = [record.preference for record in self.with_role("live") if record.preference is not None]
        if not live:
            return
        lowest_live = min(live)
        in_front = [record for record in self.records if record.preference is not None and record.preference < lowest_live]
        addresses = {address for record in in_front for address in record.addresses}
        if len(addresses) >= self.address_limit:
            self.report(
                "address-limit",
                "The records in front of the lowest live MX (%s) list %d addresses; Postfix (smtp_mx_address_limit) "
                "and Exim (hosts_max_try) try %d addresses and would give up before a live MX. List fewer."
                % (", ".join(record.label for record in in_front), len(addresses), self.address_limit),
            )


def _check_options(allow_multiple_dead, address_limit):
    if not isinstance(allow_multiple_dead, bool):
        raise TypeError("allow_multiple_dead must be a boolean, not %r" % (allow_multiple_dead,))
    if isinstance(address_limit, bool) or not isinstance(address_limit, int) or address_limit < 1:
        raise TypeError("address_limit must be a positive integer, not %r" % (address_limit,))


def layout_problems(layout, allow_multiple_dead=False, address_limit=5):
    """Return every problem of ``layout`` as dicts (code, severity, message, host, preference)."""
    _check_options(allow_multiple_dead, address_limit)
    if not isinstance(layout, (list, tuple)):
        return [{
            "code": "layout-invalid",
            "severity": ERROR,
            "message": "The layout must be a list of MX records, not %s." % type(layout).__name__,
            "host": None,
            "preference": None,
        }]
    return _Checker(layout, allow_multiple_dead, address_limit).run()


def ordered_layout(layout, allow_multiple_dead=False, address_limit=5):
    """Return the normalised records sorted by (preference, host); raise LayoutError on any error."""
    problems = layout_problems(layout, allow_multiple_dead, address_limit)
    errors = [problem for problem in problems if problem["severity"] == ERROR]
    if errors:
        raise LayoutError(
            "the MX layout has %d error(s):\n%s" % (len(errors), "\n".join("- [%s] %s" % (p["code"], p["message"]) for p in errors)),
            errors,
        )
    records = []
    for raw in layout:
        record = dict(raw)
        record["preference"] = normalize_preference(raw["preference"])
        record["host"] = normalize_host(raw["host"])
        record["role"] = raw.get("role", DEFAULT_ROLE)
        record["addresses"] = list(dict.fromkeys(normalize_address(address) for address in raw.get("addresses") or ()))
        records.append(record)
    records.sort(key=lambda record: (record["preference"], record["host"]))
    return records


def layout_rdata(layout, allow_multiple_dead=False, address_limit=5):
    """Return the MX RRset values ("10 mx.example.org.") in layout order; raise LayoutError on any error."""
    return [_rdata(record["preference"], record["host"]) for record in ordered_layout(layout, allow_multiple_dead, address_limit)]


def layout_record_sets(layout, zone, name=None, ttl=3600, allow_multiple_dead=False, address_limit=5, for_removal=False,
                       ordered=None):
    """The RRsets that publish ``layout`` in ``zone``: the MX RRset at ``name`` (default the apex) and the
    A/AAAA RRsets of every layout host inside the zone that lists addresses. Raises LayoutError on any error.

    ``for_removal``: the RRsets to remove instead - the same, minus the addresses of live hosts, which the
    rest of the world (web, IMAP, SPF) still needs once the MX layout is gone.
    ``ordered``: ordered_layout's result for ``layout``, when the caller has it (one layout shared by 10,000 domains
    is checked once, not 10,000 times).
    """
    check_text("zone", zone)
    if name:
        check_text("name", name)
    zone = normalize_zone(zone)
    owner = normalize_zone(name) if name else zone
    if owner != zone and not owner.endswith("." + zone) and zone != ".":
        raise ValueError("the MX owner %s is not inside zone %s" % (owner, zone))
    records = ordered if ordered is not None else ordered_layout(layout, allow_multiple_dead, address_limit)
    record_sets = [{"name": owner, "type": "MX", "ttl": ttl, "values": [_rdata(r["preference"], r["host"]) for r in records]}]
    live_hosts = {record["host"] for record in records if record["role"] == "live"}
    addresses = {}
    for record in records:
        if for_removal and record["host"] in live_hosts:
            continue
        if zone == "." or record["host"] == zone or record["host"].endswith("." + zone):
            addresses.setdefault(record["host"], []).extend(record["addresses"])
    for host in sorted(addresses):
        for rtype, version in (("A", 4), ("AAAA", 6)):
            values = sorted({address for address in addresses[host] if _address_family(address) == version})
            if values:
                record_sets.append({"name": host, "type": rtype, "ttl": ttl, "values": values})
    return record_sets


# --- the addresses a layout implies ---------------------------------------------------------------------------------

# The keys of layout_targets' result.
TARGETS = ("dead", "live", "primary", "backstop", "trap", "trap_host")

# Which role variable of which group's hosts harden_mx.yml fills with which target, and how messages name the target.
# The inventory may repeat these variables; target_conflicts reports every value that says otherwise.
TARGET_VARIABLES = (
    ("dead_primary", "dead_primary_addresses", "dead", "the dead record"),
    ("mx_trap", "mx_trap_addresses", "trap", "the trap records"),
    ("mx_trap", "mx_trap_primary_addresses", "trap_host", "the primary and backstop records"),
    ("mx_live", "mx_live_addresses", "live", "the live records"),
)


def layout_targets(layout, allow_multiple_dead=False, address_limit=5):
    """The addresses ``layout`` implies, as plain lists of canonical addresses; raise LayoutError on any error.

    Records are taken in MX order (ordered_layout: preference, then host), each record's addresses in layout order;
    the lists of a role hold the addresses of all its records one after the other, as listed:

    - ``dead``: the dead records' addresses (the dead primary's firewall);
    - ``live``: every live record's addresses, in the order an orderly sender tries them (the preflight probe);
    - ``primary``: the primary's addresses: the lowest live record (ties broken by host name, as the backstop
      rules read it);
    - ``backstop``: the backstop records' addresses;
    - ``trap``: the trap records' addresses;
    - ``trap_host``: the addresses of the trap host's own MX records, the primary's then the backstops', each once
      (the primary host holds the traps: its firewall refuses recorded senders on these).
    """
    records = ordered_layout(layout, allow_multiple_dead, address_limit)

    def addresses_of(role):
        return [address for record in records if record["role"] == role for address in record["addresses"]]

    live = [record for record in records if record["role"] == "live"]
    primary = list(live[0]["addresses"]) if live else []
    backstop = addresses_of("backstop")
    return {
        "dead": addresses_of("dead"),
        "live": addresses_of("live"),
        "primary": primary,
        "backstop": backstop,
        "trap": addresses_of("trap"),
        "trap_host": list(dict.fromkeys(primary + backstop)),
    }


def _shown_list(values):
    return "[%s]" % ", ".join(_shown(value) for value in values)


def _disagreement(variable, value, expected):
    """Why ``value`` (the inventory's ``variable``) is not the list of addresses ``expected``, or None if it is."""
    if not isinstance(value, (list, tuple)):
        return "%s, not a list of addresses" % _shown(value)
    given = set()
    for entry in value:
        try:
            given.add(normalize_address(entry, variable))
        except ValueError as exc:
            return "%s (%s)" % (_shown_list(value), exc)
    return None if given == set(expected) else _shown_list(value)


def target_conflicts(targets, hostvars, groups):
    """Every inventory value that gives a host other addresses than the layout implies, as messages.

    ``targets`` is layout_targets' result; ``hostvars`` maps host names to their inventory variables and ``groups``
    group names to host names (Ansible's ``hostvars`` and ``groups``: hostvars hold no play or role variables). For each
    entry of TARGET_VARIABLES, every host of the group that sets the variable must list the same addresses as the
    layout: compared as a set of addresses, so order, case, duplicates and IPv6 spelling do not matter. A value that
    is not a list of usable addresses disagrees. Returns an empty list when everything agrees.
    """
    if not isinstance(targets, dict) or any(not isinstance(targets.get(key), (list, tuple)) for key in TARGETS):
        raise TypeError("targets must be the result of mx_targets (keys %s), not %s" % (", ".join(TARGETS), _shown(targets)))
    if not isinstance(hostvars, Mapping) or not isinstance(groups, Mapping):
        raise TypeError("hostvars and groups must be mappings (pass Ansible's hostvars and groups)")
    messages = []
    for group, variable, key, records in TARGET_VARIABLES:
        expected = targets[key]
        for host in groups.get(group) or ():
            if host not in hostvars:
                raise TypeError("group %s lists host %s, which hostvars does not hold" % (group, _shown(host)))
            variables = hostvars[host]
            if variable not in variables:
                continue
            given = _disagreement(variable, variables[variable], expected)
            if given is not None:
                messages.append(
                    "host %s: the inventory (or an extra var) sets %s to %s, but the layout says %s (%s). The "
                    "playbook takes %s from mx_layout: remove it from the inventory, or list the same addresses."
                    % (_shown(host), variable, given, _shown_list(expected), records, variable)
                )
    return messages


# --- many domains --------------------------------------------------------------------------------------------------

# The keys of an mx_domains entry: the domain, and the options a provider takes per zone (a file's path, a hosted zone).
DOMAIN_KEYS = ("zone", "name", "layout", "path", "hosted_zone_id")
# How many problems an error names: every domain is checked, but 10,000 alike would bury the message.
SHOWN_PROBLEMS = 20
# Roles an address may hold in two domains' layouts at once: the primary's addresses are its backstop's.
_COMPATIBLE_ROLES = {frozenset(("live",)), frozenset(("backstop",)), frozenset(("live", "backstop")), frozenset(("dead",)),
                     frozenset(("trap",))}


def domains_targets(domains, layout=None, allow_multiple_dead=False, address_limit=5):
    """The addresses of many domains' layouts together (layout_targets' keys, each the union in order of first
    appearance, plus ``domains``: how many), so every host is firewalled once for all of them.

    ``domains``: [{zone, name (MX owner, default the apex), layout (default ``layout``)}], as mx_domains. Every entry
    is checked, and LayoutError names every problem at once (the first SHOWN_PROBLEMS): a bad layout, a zone listed
    twice, a name outside its zone, an address that one domain's layout gives another role than another's (a dead
    primary's firewall resets port 25 for every domain; a trap address records whoever arrives). A shared ``layout``
    is checked once, however many domains use it.
    """
    if not isinstance(domains, list) or not domains:
        message = "mx_domains must be a non-empty list of {zone, name, layout}, not %s" % _shown(domains)
        raise LayoutError(message, [{"severity": ERROR, "message": message}])
    problems = []
    shared = None
    if layout:
        try:
            shared = layout_targets(layout, allow_multiple_dead, address_limit)
        except LayoutError as exc:
            problems.append("mx_layout (the layout of every domain without its own): %s" % exc)
    union = {key: {} for key in TARGETS}
    roles = {}  # address -> {role: first zone that gives it}
    seen = set()
    for number, entry in enumerate(domains, start=1):
        where = "mx_domains[%d]" % number
        if not isinstance(entry, Mapping) or not isinstance(entry.get("zone"), str):
            problems.append("%s must be a mapping with zone (and optionally name, layout), not %s" % (where, _shown(entry)))
            continue
        unknown = sorted(set(entry) - set(DOMAIN_KEYS), key=str)
        try:
            zone = normalize_zone(check_text("%s.zone" % where, entry["zone"]))
            owner = normalize_zone(check_text("%s.name" % where, entry["name"])) if entry.get("name") else zone
        except ValueError as exc:
            problems.append(str(exc))
            continue
        where = "%s (%s)" % (where, zone)
        if unknown:
            problems.append("%s has unknown keys %s (known: %s)" % (where, ", ".join(map(_shown, unknown)), ", ".join(DOMAIN_KEYS)))
        if owner != zone and not owner.endswith("." + zone) and zone != ".":
            problems.append("%s: the MX owner %s is not inside the zone" % (where, owner))
        if zone in seen:
            problems.append("%s: zone %s is listed twice; give one entry per zone" % (where, zone))
        seen.add(zone)
        if entry.get("layout"):
            try:
                targets = layout_targets(entry["layout"], allow_multiple_dead, address_limit)
            except LayoutError as exc:
                problems.append("%s: %s" % (where, exc))
                continue
        elif layout:
            targets = shared
        else:
            problems.append("%s has no layout, and mx_layout gives none for every domain" % where)
            continue
        if targets is None:
            continue  # the shared layout is bad: reported once above
        for key in TARGETS:
            union[key].update(dict.fromkeys(targets[key]))
        for role in ("dead", "live", "backstop", "trap"):
            for address in targets[role]:
                roles.setdefault(address, {}).setdefault(role, zone)
    for address, held in roles.items():
        if frozenset(held) not in _COMPATIBLE_ROLES:
            problems.append("address %s is %s: one firewall cannot treat it both ways, so one of these domains would lose "
                            "mail or record its senders" % (address, " but ".join(
                                "%s in %s" % (role, zone) for role, zone in sorted(held.items(), key=lambda item: item[1]))))
    if problems:
        more = len(problems) - SHOWN_PROBLEMS
        raise LayoutError("%d problem(s) in mx_domains; nothing was changed: %s%s" % (
            len(problems), "; ".join(problems[:SHOWN_PROBLEMS]), "; and %d more" % more if more > 0 else ""),
            [{"severity": ERROR, "message": problem} for problem in problems])
    result = {key: list(union[key]) for key in TARGETS}
    result["domains"] = len(domains)
    return result


def domains_without(domains, zones):
    """The ``domains`` entries whose zone is not one of ``zones`` (compared as normalised zone names)."""
    skipped = {normalize_zone(zone) for zone in zones}
    return [entry for entry in domains if normalize_zone(entry["zone"]) not in skipped]
