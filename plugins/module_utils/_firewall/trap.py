# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The trap: sources that reach a trap address without having tried the host's own MX addresses are recorded.

Nothing that decides who is refused learns from a packet that is cheap to forge: a source is looked at once per
connection, at the first packet it sends after the TCP handshake completed (conntrack's *assured* status: set by the
ACK that completes the handshake; its *established* state alone only means a reply was seen, and the RST a victim
sends back to a SYN-ACK it never asked for already has it), and a conntrack label marks the connection as looked at.
A handshake with one of the host's own MX addresses puts the source into *tried* (an MTA walking the MX list), and
so does, into *knocked*, a mere SYN to one of them (the primary may refuse or drop connections while the traps
answer: an MTA walking past it never completes a handshake there); a handshake with a trap records the source in
*hits* only if it is in neither.  A forged SYN can only shield a source from being recorded, never get anyone
refused, and a full *knocked* set changes nothing else.  Suppression (with ``suppress``) refuses a recorded
source's new connections; its first trap connection always reaches the MTA.  When *tried* is full, recording pauses
for the order window instead of risking an MTA whose walk could not be remembered; when *hits* is full, the
connection that could not be recorded is counted as unrecorded and, with suppression, refused; no set ever evicts
an element.
"""

from __future__ import annotations

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import (
    FAMILIES,
    split_addresses,
    validate_seconds,
)
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.spec import (
    SOURCE_OPTIONS,
    FirewallSpec,
    TimedSet,
    nft_values,
    sorted_addresses,
)
from ansible_collections.mailsec.mx.plugins.module_utils._values import check_rule_token

# How long a trap keeps a source's first hit and hit count: at least a week, and never less than the suppression.
SEEN_TIME = 7 * 86400
# The conntrack label bit that marks a connection to a trap host's address as already looked at (once per connection).
CONNLABEL = 101
# iptables rule comments that name the counters.
TRAP_HIT = "mailsec trap hit"
SUPPRESSED = "mailsec suppressed"
UNRECORDED = "mailsec unrecorded"
TAGS = (("trap_hits", TRAP_HIT), ("suppressed", SUPPRESSED), ("unrecorded", UNRECORDED))


class TrapSpec(FirewallSpec):
    """A source that completes a handshake with one of ``traps`` without having tried ``mx_addresses`` (the host's
    own MX addresses) within ``order_window`` is recorded (unless allowed or local), per ``prefixes`` network, for
    ``suppress_time`` seconds; with ``suppress``, recorded sources get ``action`` on ``mx_addresses`` and the traps.
    """

    title = "trap"
    module = "mailsec.mx.mx_trap_firewall"
    options = dict(
        name=dict(type="str", default="mx_trap"),
        traps=dict(type="list", elements="str", default=[]),
        mx_addresses=dict(type="list", elements="str", default=[]),
        suppress=dict(type="bool", default=False),
        suppress_time=dict(type="int", default=3600),
        # A walk inside one delivery attempt takes seconds to minutes; Exim then skips a failed host until its retry
        # time (up to 6 h with its stock rules) and goes straight on down the list: a day covers the retries.
        order_window=dict(type="int", default=86400),
        allow_controller=dict(type="bool", default=False),
        **SOURCE_OPTIONS,
    )
    counters = ("trap_hits", "suppressed", "unrecorded")
    address_options = ("traps", "mx_addresses")
    timed_address_sets = (("hits", "h"), ("seen", "s"), ("tried", "t"), ("knocked", "k"))
    timed_port_sets = (("tried_full", "tf"),)
    missing_address_effect = "reaching the MTA"
    trusts_conntrack = True

    def __init__(self, name, traps, mx_addresses, ports, action, allow=(), allow_by_family=None, suppress=False,
                 suppress_time=3600, order_window=86400, ipv4_prefix=32, ipv6_prefix=64, set_size=262144):
        super().__init__(name, ports, action, allow, allow_by_family)
        self.suppress = bool(suppress)
        # A trap needs the host's own MX addresses: a source seen there first is an MTA walking the MX list.
        self.mx_addresses4, self.mx_addresses6 = split_addresses(mx_addresses, "mx_addresses")
        self.traps4, self.traps6 = split_addresses(traps, "traps")
        shared = sorted(set(self.mx_addresses) & set(self.traps))
        if shared:
            raise ValueError("traps: %s is also one of the host's own MX addresses; a trap needs addresses of its own"
                             % ", ".join(shared))
        self.suppress_time = validate_seconds("suppress_time", suppress_time)
        self.order_window = validate_seconds("order_window", order_window)
        self.remember_sources(ipv4_prefix, ipv6_prefix, set_size)

    @classmethod
    def from_params(cls, params):
        return cls(params["name"], params["traps"], params["mx_addresses"], params["ports"], params["action"],
                   params["allow"], params.get("merged_allow"), suppress=params["suppress"],
                   suppress_time=params["suppress_time"], order_window=params["order_window"],
                   ipv4_prefix=params["ipv4_prefix"], ipv6_prefix=params["ipv6_prefix"], set_size=params["set_size"])

    @property
    def mx_addresses(self):
        return self.mx_addresses4 + self.mx_addresses6

    @property
    def traps(self):
        return self.traps4 + self.traps6

    @property
    def seen_time(self):
        return max(SEEN_TIME, self.suppress_time)

    def own(self, family):
        """The host's own MX addresses of one family (4 or 6)."""
        return self.mx_addresses4 if family == 4 else self.mx_addresses6

    def guarded(self, family=None):
        families = {4: self.traps4 + self.mx_addresses4, 6: self.traps6 + self.mx_addresses6}
        if family is not None:
            return families[family]
        return families[4] + families[6]

    @property
    def interface_addresses(self):
        return self.traps

    def timed_sets(self):
        timeouts = {"hits": self.suppress_time, "seen": self.seen_time, "tried": self.order_window, "knocked": self.order_window}
        sets = [TimedSet(name, short, timeouts[name], self.set_size, self.prefixes, counter=name == "seen")
                for name, short in self.timed_address_sets]
        sets.extend(TimedSet(name, short, self.order_window, 65536, ports=True) for name, short in self.timed_port_sets)
        return sets

    # --- nftables -------------------------------------------------------------------------------------------

    def nftables_chains(self):
        """The trap's chains as nft lists them: input (hooked), record, refuse."""
        exempt = ["ip saddr @allow4 return", "ip6 saddr @allow6 return", "fib saddr type local return"]
        ports = nft_values(self.ports)
        jumps, refuse, record = [], list(exempt), list(exempt)
        for family, dummy, selector in FAMILIES:
            own = self.own(family)
            if own:
                jumps.append("%s daddr %s tcp dport %s ct state new update @knocked%d { %s }"
                             % (selector, nft_values(sorted_addresses(own)), ports, family, self._source(family, selector)))
        for family, dummy, selector in FAMILIES:
            guarded = self.guarded(family)
            if self.suppress and guarded:
                jumps.append("%s daddr %s tcp dport %s ct state new jump refuse" % (selector, nft_values(sorted_addresses(guarded)), ports))
        for family, dummy, selector in FAMILIES:
            guarded = self.guarded(family)
            if guarded:
                jumps.append("%s daddr %s tcp dport %s ct state established ct status assured ct direction original ct label ! %d ct label set %d jump record"
                             % (selector, nft_values(sorted_addresses(guarded)), ports, CONNLABEL, CONNLABEL))
        for family, dummy, selector in FAMILIES:
            if self.suppress:
                refuse.append('meta l4proto tcp %s counter name "suppressed" %s' % (self._lookup(family, selector, "hits"), self.verdict_nft))
        for family, dummy, selector in FAMILIES:
            own = self.own(family)
            if own:
                match = "%s daddr %s" % (selector, nft_values(sorted_addresses(own)))
                record.append("%s update @tried%d { %s } return" % (match, family, self._source(family, selector)))
                # Reached only when the tried set is full.
                record.append("%s update @tried_full { tcp dport } return" % match)
        record.append('tcp dport @tried_full counter name "unrecorded" return')
        record.extend("%s return" % self._lookup(family, selector, name) for name in ("tried", "knocked") for family, dummy, selector in FAMILIES)
        record.append('counter name "trap_hits"')
        record.extend("add @seen%d { %s counter }" % (family, self._source(family, selector)) for family, dummy, selector in FAMILIES)
        record.extend("update @hits%d { %s } return" % (family, self._source(family, selector)) for family, dummy, selector in FAMILIES)
        # Reached only when the hits set is full.
        record.append('meta l4proto tcp counter name "unrecorded" %s' % self.verdict_nft if self.suppress else 'counter name "unrecorded"')
        return [("input", jumps), ("record", record), ("refuse", refuse)]

    # --- iptables -------------------------------------------------------------------------------------------

    def iptables_jump_states(self, family, address):
        """A trap looks at a connection's first packet (an own address: knocked; with suppression: refused) and at its
        first packet after the handshake completed (recording; ASSURED, see the module docstring), once: the
        conntrack label marks a connection already looked at.
        """
        new = " -m conntrack --ctstate NEW"
        assured = ' -m conntrack --ctstate ESTABLISHED --ctstatus ASSURED --ctdir ORIGINAL -m connlabel ! --label "%d"' % CONNLABEL
        return ([new] if self.suppress or address in self.own(family) else []) + [assured]

    def iptables_chain(self, family, chain, set_name):
        prefix = "32" if family == 4 else "128"
        hits, seen, tried, knocked = (set_name("%s%d" % (kind, family)) for kind in ("hits", "seen", "tried", "knocked"))
        full = set_name("tried_full")
        verdict = self.verdict_iptables
        lines = [
            '-A %s -m conntrack --ctstate ESTABLISHED -m connlabel --label "%d" --set' % (chain, CONNLABEL),
            "-A %s -m set --match-set %s src -j RETURN" % (chain, set_name("allow%d" % family)),
            "-A %s -m addrtype --src-type LOCAL -j RETURN" % chain,
        ]
        for address in self.own(family):
            lines.append("-A %s -d %s/%s -m conntrack --ctstate NEW -j SET --add-set %s src --exist"
                         % (chain, check_rule_token("address", address), prefix, knocked))
        if self.suppress:
            lines.append('-A %s -p tcp -m conntrack --ctstate NEW -m set --match-set %s src -m comment --comment "%s" -j %s'
                         % (chain, hits, SUPPRESSED, verdict))
        lines.append("-A %s -m conntrack --ctstate NEW -j RETURN" % chain)
        for address in self.own(family):
            match = "-A %s -d %s/%s" % (chain, check_rule_token("address", address), prefix)
            lines.append("%s -j SET --add-set %s src --exist" % (match, tried))
            # Only when the tried set is full: recording pauses rather than risk an MTA's walk going unremembered.
            lines.append("%s -m set ! --match-set %s src -j SET --add-set %s dst --exist" % (match, tried, full))
            lines.append("%s -j RETURN" % match)
        lines.append('-A %s -m set --match-set %s dst -m comment --comment "%s" -j RETURN' % (chain, full, UNRECORDED))
        lines.append("-A %s -m set --match-set %s src -j RETURN" % (chain, tried))
        lines.append("-A %s -m set --match-set %s src -j RETURN" % (chain, knocked))
        lines.append('-A %s -m comment --comment "%s"' % (chain, TRAP_HIT))
        # The match counts the hit on an existing element; adding does not refresh it, so it keeps the first hit.
        lines.append("-A %s -m set --match-set %s src" % (chain, seen))
        lines.append("-A %s -j SET --add-set %s src" % (chain, seen))
        lines.append("-A %s -j SET --add-set %s src --exist" % (chain, hits))
        # Only when the hits set is full: counted, and with suppression refused rather than let through unremembered.
        unrecorded = '-m set ! --match-set %s src -m comment --comment "%s"' % (hits, UNRECORDED)
        lines.append("-A %s -p tcp %s -j %s" % (chain, unrecorded, verdict) if self.suppress else "-A %s %s" % (chain, unrecorded))
        return lines

    @classmethod
    def iptables_counter(cls, words, line):
        return next((key for key, tag in TAGS if "/* %s */" % tag in line), None)

    # --- reading back -----------------------------------------------------------------------------------------

    @staticmethod
    def suppressing(live):
        """Whether a live ruleset refuses recorded sources (either backend's listing)."""
        structure = live.structure
        nft = 'name "suppressed"' in structure and ("reject" in structure or "drop" in structure)
        return nft or SUPPRESSED in structure

    @classmethod
    def remembered(cls, live):
        """({source: Entry} of the hits sets, the same of the seen sets, whether the ruleset suppresses)."""
        return cls.remembered_entries(live, "hits"), cls.remembered_entries(live, "seen"), cls.suppressing(live)
