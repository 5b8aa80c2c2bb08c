# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dead primary: every source not allowed gets a TCP reset (or a drop) on the guarded ports of its addresses.

With ``record`` (the default) it also remembers whom it refused, per source (grouped per prefix, as the trap does),
in four timed sets per family: *refused* (refreshed at each refusal: the last one), *refused_seen* (added once, with
a counter: the first refusal and how many), *refused_day* (added once, forgotten after a day) and *refused_days*
(counted only when the source is not in *refused_day*: the number of separate days it came).  Each recording
statement is a rule of its own without a verdict, between the allowlist and the refusal: a full set only stops
remembering, and the refusal rule that follows still refuses the packet.  Allowlisted sources are counted apart
(``allowed``) and never recorded.  What is recorded is learned from SYNs (a reset needs no handshake), so a forged
source can be put into these sets: they are advisory, and nothing the firewall does depends on them.
"""

from __future__ import annotations

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import FAMILIES, split_addresses, validate_seconds
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.spec import (
    SOURCE_OPTIONS,
    FirewallSpec,
    TimedSet,
    nft_values,
    sorted_addresses,
)

# How long a refused source is remembered by default: a week (the audit's period).
RECORD_TIME = 7 * 86400
# The period of refused_day: a source's refusals within one such period count as one day in refused_days.
DAY = 86400


class DeadPrimarySpec(FirewallSpec):
    """Every source not allowed gets ``action`` on port(s) ``ports`` of ``addresses``; with ``record``, refused
    sources are remembered for ``record_time`` seconds (per ``ipv4_prefix``/``ipv6_prefix`` network)."""

    title = "dead primary"
    module = "mailsec.mx.dead_primary_firewall"
    options = dict(
        name=dict(type="str", default="dead_primary"),
        addresses=dict(type="list", elements="str", default=[]),
        record=dict(type="bool", default=True),
        record_time=dict(type="int", default=RECORD_TIME),
        **SOURCE_OPTIONS,
    )
    counters = ("allowed", "refused")
    address_options = ("addresses",)
    timed_address_sets = (("refused", "r"), ("refused_seen", "rs"), ("refused_day", "rd"), ("refused_days", "rn"))
    missing_address_effect = "being reset"

    def __init__(self, name, addresses, ports, action, allow=(), allow_by_family=None, record=True, record_time=RECORD_TIME,
                 ipv4_prefix=32, ipv6_prefix=64, set_size=262144):
        super().__init__(name, ports, action, allow, allow_by_family)
        self.addresses4, self.addresses6 = split_addresses(addresses, "addresses")
        if not isinstance(record, bool):
            raise ValueError("record: %r is not true or false" % (record,))
        self.record = record
        # Checked whether or not recording is on: a bad value is an error either way.
        self.record_time = validate_seconds("record_time", record_time)
        self.remember_sources(ipv4_prefix, ipv6_prefix, set_size)

    @classmethod
    def from_params(cls, params):
        return cls(params["name"], params["addresses"], params["ports"], params["action"], params["allow"],
                   params.get("merged_allow"), record=params["record"], record_time=params["record_time"],
                   ipv4_prefix=params["ipv4_prefix"], ipv6_prefix=params["ipv6_prefix"], set_size=params["set_size"])

    @property
    def addresses(self):
        return self.addresses4 + self.addresses6

    def guarded(self, family=None):
        if family is None:
            return self.addresses
        return self.addresses4 if family == 4 else self.addresses6

    @property
    def interface_addresses(self):
        return self.addresses

    def timed_sets(self):
        if not self.record:
            return []
        timeouts = {"refused_day": DAY}
        return [TimedSet(name, short, timeouts.get(name, self.record_time), self.set_size, self.prefixes,
                         counter=name in ("refused_seen", "refused_days"))
                for name, short in self.timed_address_sets]

    # --- nftables -------------------------------------------------------------------------------------------

    def _recording_nft(self, family, selector, match):
        """The recording rules of one family (each its own rule, no verdict), as nft lists them."""
        source = self._source(family, selector)
        return [
            "%s update @refused%d { %s }" % (match, family, source),
            "%s add @refused_seen%d { %s counter }" % (match, family, source),
            # Counted before the day is marked: only a source's first refusal within a day counts it.
            "%s %s add @refused_days%d { %s counter }" % (match, self._lookup(family, selector, "refused_day", negated=True), family, source),
            "%s add @refused_day%d { %s }" % (match, family, source),
        ]

    def nftables_chains(self):
        lines = []
        for family, dummy, selector in FAMILIES:
            addresses = self.guarded(family)
            if not addresses:
                continue
            match = "%s daddr %s tcp dport %s" % (selector, nft_values(sorted_addresses(addresses)), nft_values(self.ports))
            lines.append('%s %s saddr @allow%d counter name "allowed" accept' % (match, selector, family))
            if self.record:
                lines.extend(self._recording_nft(family, selector, match))
            lines.append('%s counter name "refused" %s' % (match, self.verdict_nft))
        return [("input", lines)]

    # --- iptables -------------------------------------------------------------------------------------------

    def iptables_jump_states(self, family, address):
        return [""]

    def iptables_chain(self, family, chain, set_name):
        lines = ["-A %s -m set --match-set %s src -j RETURN" % (chain, set_name("allow%d" % family))]
        if self.record:
            refused, seen, day, days = (set_name("%s%d" % (name, family)) for name, dummy in self.timed_address_sets)
            lines += [
                "-A %s -j SET --add-set %s src --exist" % (chain, refused),
                # The match counts a refusal of a source already there; adding a new one counts its first.
                "-A %s -m set --match-set %s src" % (chain, seen),
                "-A %s -j SET --add-set %s src" % (chain, seen),
                # Counted only outside a day already marked; --exist would reset the counter, so no refresh.
                "-A %s -m set ! --match-set %s src -m set --match-set %s src" % (chain, day, days),
                "-A %s -m set ! --match-set %s src -j SET --add-set %s src" % (chain, day, days),
                "-A %s -j SET --add-set %s src" % (chain, day),
            ]
        lines.append("-A %s -p tcp -j %s" % (chain, self.verdict_iptables))
        return lines

    @classmethod
    def iptables_counter(cls, words, line):
        # The recording rules count nothing of ours (their target column is SET or empty).
        return {"RETURN": "allowed", "REJECT": "refused", "DROP": "refused"}.get(words[2])

    # --- reading back -----------------------------------------------------------------------------------------

    @classmethod
    def remembered(cls, live):
        """({source: Entry} of the refused sets, the same of refused_seen, the same of refused_days)."""
        return tuple(cls.remembered_entries(live, name) for name in ("refused", "refused_seen", "refused_days"))
