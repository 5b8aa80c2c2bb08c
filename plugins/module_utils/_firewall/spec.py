# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of every kind of firewall: what a kind must say about itself, and the options all kinds share.

A *kind* (the dead primary, the trap) is a subclass of ``FirewallSpec`` in a module of its own.  It validates its
options in ``__init__`` (nothing is touched before every check passed) and describes its rules for each backend:
``nftables_chains()`` and ``iptables_jump_states()``/``iptables_chain()``.  The backends render everything else
from what the spec declares (its counters, its allowlist, its timed sets), so a backend never asks which kind
it serves.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import (
    ACTIONS,
    rule_network,
    validate_int,
    validate_name,
    validate_ports,
)
from ansible_collections.mailsec.mx.plugins.module_utils._values import check_rule_token

# The module options every kind has; a kind adds its own (``FirewallSpec.options``).  This is the one place their
# types and defaults are written: the modules and the action plugins both build their argument spec from here.
COMMON_OPTIONS = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    backend=dict(type="str", choices=["auto", "nftables", "iptables"], default="auto"),
    ports=dict(type="list", elements="int", default=[25]),
    action=dict(type="str", choices=list(ACTIONS), default="reset"),
    allow=dict(type="list", elements="str", default=[]),
    allow_files=dict(type="list", elements="path", default=[]),
    allow_min_prefix4=dict(type="int", default=8),
    allow_min_prefix6=dict(type="int", default=16),
    persist=dict(type="bool", default=True),
    interface=dict(type="str"),
    validate_only=dict(type="bool", default=False),
    # Set by the action plugin, never by hand: the merged allowlist ({'ipv4': 'a\nb', 'ipv6': ...}: one string per
    # family crosses to the host far faster than a list of 100,000 entries) and the SSH connection's address and port.
    merged_allow=dict(type="dict"),
    ssh_address=dict(type="str"),
    ssh_port=dict(type="int"),
)

# The options of every kind that remembers sources in timed sets (FirewallSpec.remember_sources checks them).
SOURCE_OPTIONS = dict(
    # Sources are remembered per prefix: one IPv4 address, one IPv6 /64 (what one site or one customer gets).
    ipv4_prefix=dict(type="int", default=32),
    ipv6_prefix=dict(type="int", default=64),
    # Room in each timed set (per family); see docs/security.md for what happens when one is full.
    set_size=dict(type="int", default=262144),
)


class TimedSet:
    """A set the kernel fills itself, each element forgotten ``timeout`` seconds after it was added or refreshed.

    ``name`` is the set's name in nftables rules (with the family appended for address sets: 'hits4'),
    ``short`` its suffix in ipset names ('h' -> mailsec_<name>_h4).  Address sets hold source addresses (per
    ``prefixes`` network) and exist once per family; a port set (``ports``) holds TCP ports, once.
    """

    def __init__(self, name, short, timeout, size, prefixes=None, counter=False, ports=False):
        self.name = name
        self.short = short
        self.timeout = timeout
        self.size = size
        self.prefixes = prefixes or {4: 32, 6: 128}
        self.counter = counter
        self.ports = ports


class FirewallSpec:
    """The wanted firewall of one kind, validated; subclasses fill in what is left empty here."""

    # What the kind is called in messages ("the dead primary"), and the module that serves it.
    title = ""
    module = ""
    # The module options of this kind, beyond COMMON_OPTIONS (with ``name``'s default).
    options = {}
    # The options that list local addresses (the controller works out its own address towards them).
    address_options = ()
    # Named counters, in the order the nftables table lists them.
    counters = ()
    # (set name, ipset suffix) of the timed address sets and of the timed port sets, in listing order.
    timed_address_sets = ()
    timed_port_sets = ()
    # What a guarded address no interface holds means for senders.
    missing_address_effect = ""
    # Whether recording trusts conntrack's view of a TCP handshake (see the trap's liberal-tracking warning).
    trusts_conntrack = False
    # Whether the guarded addresses are spread over several hosts, each guarding those it holds (the live MX
    # addresses): then an address this host does not hold is expected, and only holding none of them is worth a word.
    addresses_span_hosts = False
    # How the timed sets group sources ({4: prefix, 6: prefix}) and the room in each; see remember_sources.
    prefixes = {4: 32, 6: 128}
    set_size = 0

    def __init__(self, name, ports, action, allow=(), allow_by_family=None):
        self.name = validate_name(name)
        self.ports = validate_ports(ports)
        if action not in ACTIONS:
            raise ValueError("action %r must be one of %s" % (action, ", ".join(ACTIONS)))
        self.action = action
        if allow_by_family is not None:
            # Merged and checked on the controller already, one string per family: split, and checked again
            # for what may reach a rules file.
            self.allow4 = sorted(rule_network(entry) for entry in allow_by_family.get("ipv4", "").split())
            self.allow6 = sorted(rule_network(entry) for entry in allow_by_family.get("ipv6", "").split())
        else:
            self.allow4 = sorted(rule_network(entry) for entry in allow if ":" not in entry)
            self.allow6 = sorted(rule_network(entry) for entry in allow if ":" in entry)

    @classmethod
    def argument_spec(cls):
        """The module's argument spec: COMMON_OPTIONS plus the kind's own."""
        spec = {key: dict(value) for key, value in COMMON_OPTIONS.items()}
        spec.update({key: dict(value) for key, value in cls.options.items()})
        return spec

    @classmethod
    def from_params(cls, params):
        """The spec from a module's (validated) parameters."""
        raise NotImplementedError

    # --- what a kind declares ---------------------------------------------------------------------------

    def guarded(self, family=None):
        """The local addresses whose ports the ruleset acts on (of one family: 4 or 6), v4 then v6."""
        raise NotImplementedError

    @property
    def interface_addresses(self):
        """The addresses this firewall may bring up on an interface."""
        raise NotImplementedError

    def timed_sets(self):
        """The ``TimedSet`` of each timed set, in listing order (none for a kind without memory)."""
        return []

    def nftables_chains(self):
        """[(chain name, [rule, ...]), ...] as ``nft list table`` prints them; the first chain hooks into input."""
        raise NotImplementedError

    def iptables_jump_states(self, family, address):
        """The conntrack matches (strings, '' for none) of the INPUT jumps to our chain for one guarded address."""
        raise NotImplementedError

    def iptables_chain(self, family, chain, set_name):
        """Our chain's rules for one family; ``set_name('allow4')`` gives the ipset of a set the rules use."""
        raise NotImplementedError

    @classmethod
    def iptables_counter(cls, words, line):
        """The counter a rule of ``iptables -L -v -x`` counts for (``words``: the line split), or None."""
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------------------------

    @property
    def verdict_nft(self):
        return "reject with tcp reset" if self.action == "reset" else "drop"

    @property
    def verdict_iptables(self):
        return "REJECT --reject-with tcp-reset" if self.action == "reset" else "DROP"

    def allow(self, family):
        return self.allow4 if family == 4 else self.allow6

    # --- remembering sources (kinds with timed address sets) ----------------------------------------------------

    def remember_sources(self, ipv4_prefix, ipv6_prefix, set_size):
        """Check and keep how sources are grouped (SOURCE_OPTIONS) and how many each timed set holds."""
        self.prefixes = {4: validate_int("ipv4_prefix", ipv4_prefix, 8, 32), 6: validate_int("ipv6_prefix", ipv6_prefix, 32, 128)}
        self.set_size = validate_int("set_size", set_size, 16, 16777216)

    def mask(self, family):
        """The netmask sources are grouped by, as an address ('255.255.255.255' = each address on its own)."""
        bits = 32 if family == 4 else 128
        value = ((1 << self.prefixes[family]) - 1) << (bits - self.prefixes[family])
        return str(ipaddress.ip_address(value) if family == 4 else ipaddress.IPv6Address(value))

    def whole_address(self, family):
        """Whether sources of this family are remembered one address each (no mask)."""
        return self.prefixes[family] == (32 if family == 4 else 128)

    def _source(self, family, selector):
        """A source as the sets remember it (nft): its address, or its prefix."""
        if self.whole_address(family):
            return "%s saddr" % selector
        return "%s saddr & %s" % (selector, self.mask(family))

    def _lookup(self, family, selector, name, negated=False):
        """Whether the source is (``negated``: is not) in set ``name`` of its family, as nft lists the match."""
        # nft lists a lookup of a masked source with an explicit '=='.
        operator = "!= " if negated else ("" if self.whole_address(family) else "== ")
        if self.whole_address(family):
            return "%s saddr %s@%s%d" % (selector, operator, name, family)
        return "%s saddr & %s %s@%s%d" % (selector, self.mask(family), operator, name, family)

    @staticmethod
    def remembered_entries(live, name):
        """{source: Entry} of timed address set ``name`` of both families, as a backend read it (LiveState)."""
        entries = dict(live.timed.get("%s4" % name, {}))
        entries.update(live.timed.get("%s6" % name, {}))
        return entries


def sorted_addresses(addresses):
    return sorted(addresses, key=ipaddress.ip_address)


def nft_values(values):
    """One value, or an anonymous set of them, as nft lists it; each checked for what may reach a rules file."""
    values = [str(check_rule_token("value", value)) for value in values]
    return values[0] if len(values) == 1 else "{ %s }" % ", ".join(values)
