# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live MX addresses: remember who arrived, refuse no one.

A source is recorded once per connection, at the first packet it sends after the TCP handshake with one of the
live MX addresses completed (conntrack's *assured* status, as the trap looks at it: a forged SYN records no one),
and a conntrack label (102; the trap, often on the same host, uses 101) marks the connection as looked at.  Two
timed sets per family: *arrived* (refreshed at each arrival: the last one) and *arrived_seen* (added once, with a
counter: the first arrival and how many).  The host's own sources are not recorded.  Nothing here has a verdict:
every packet goes on to the host's other rules and the MTA, and a full set only stops remembering.

A layout's live addresses are spread over several hosts: every live host gets all of them and records what
reaches the ones it holds, so the kind neither brings addresses up nor warns about the ones other hosts hold.
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

# How long an arrival is remembered by default: a week (the audit's period).
RECORD_TIME = 7 * 86400
# The conntrack label bit of a connection to a live address already looked at; the trap's is 101.
CONNLABEL = 102
# The iptables rule comment that names the counter.
ARRIVAL = "mailsec arrival"


class LiveSpec(FirewallSpec):
    """Sources that complete a handshake with port(s) ``ports`` of one of ``addresses`` are remembered for
    ``record_time`` seconds (per ``ipv4_prefix``/``ipv6_prefix`` network); nobody is refused."""

    title = "live MX"
    module = "mailsec.mx.mx_live_firewall"
    options = dict(
        name=dict(type="str", default="mx_live"),
        addresses=dict(type="list", elements="str", default=[]),
        record_time=dict(type="int", default=RECORD_TIME),
        **SOURCE_OPTIONS,
    )
    counters = ("arrivals",)
    address_options = ("addresses",)
    timed_address_sets = (("arrived", "ar"), ("arrived_seen", "as"))
    trusts_conntrack = True
    addresses_span_hosts = True

    def __init__(self, name, addresses, ports, action="reset", allow=(), allow_by_family=None, record_time=RECORD_TIME,
                 ipv4_prefix=32, ipv6_prefix=64, set_size=262144, interface=None):
        super().__init__(name, ports, action, allow, allow_by_family)
        # Refused rather than ignored: whoever sets them expects an effect this kind never has.
        if action != "reset":
            raise ValueError("action: the live MX firewall refuses no one, so %r does not apply; leave action out" % (action,))
        if self.allow4 or self.allow6:
            raise ValueError("allow: the live MX firewall refuses no one and records every source but the host's own, "
                             "so an allowlist does not apply; leave allow and allow_files out")
        if interface:
            raise ValueError("interface: the live MX addresses are spread over several hosts, and each records what "
                             "reaches the ones it holds; the live MX firewall brings no address up, leave interface out")
        self.addresses4, self.addresses6 = split_addresses(addresses, "addresses")
        self.record_time = validate_seconds("record_time", record_time)
        self.remember_sources(ipv4_prefix, ipv6_prefix, set_size)

    @classmethod
    def from_params(cls, params):
        return cls(params["name"], params["addresses"], params["ports"], params["action"], params["allow"],
                   params.get("merged_allow"), record_time=params["record_time"], ipv4_prefix=params["ipv4_prefix"],
                   ipv6_prefix=params["ipv6_prefix"], set_size=params["set_size"], interface=params.get("interface"))

    @property
    def addresses(self):
        return self.addresses4 + self.addresses6

    def guarded(self, family=None):
        if family is None:
            return self.addresses
        return self.addresses4 if family == 4 else self.addresses6

    @property
    def interface_addresses(self):
        return []

    def timed_sets(self):
        return [TimedSet(name, short, self.record_time, self.set_size, self.prefixes, counter=name == "arrived_seen")
                for name, short in self.timed_address_sets]

    # --- nftables -------------------------------------------------------------------------------------------

    def nftables_chains(self):
        """The chains as nft lists them: input (hooked: once per connection, after the handshake) and record."""
        ports = nft_values(self.ports)
        jumps = []
        for family, dummy, selector in FAMILIES:
            addresses = self.guarded(family)
            if addresses:
                jumps.append("%s daddr %s tcp dport %s ct state established ct status assured ct direction original ct label ! %d ct label set %d jump record"
                             % (selector, nft_values(sorted_addresses(addresses)), ports, CONNLABEL, CONNLABEL))
        record = ["fib saddr type local return", 'counter name "arrivals"']
        # Each its own rule: a full set stops only its own statement.
        record.extend("update @arrived%d { %s }" % (family, self._source(family, selector)) for family, dummy, selector in FAMILIES)
        record.extend("add @arrived_seen%d { %s counter }" % (family, self._source(family, selector)) for family, dummy, selector in FAMILIES)
        return [("input", jumps), ("record", record)]

    # --- iptables -------------------------------------------------------------------------------------------

    def iptables_jump_states(self, family, address):
        """Only the first packet after the handshake completed (ASSURED, see the module docstring), once per connection."""
        return [' -m conntrack --ctstate ESTABLISHED --ctstatus ASSURED --ctdir ORIGINAL -m connlabel ! --label "%d"' % CONNLABEL]

    def iptables_chain(self, family, chain, set_name):
        arrived, seen = (set_name("%s%d" % (name, family)) for name, dummy in self.timed_address_sets)
        return [
            '-A %s -m conntrack --ctstate ESTABLISHED -m connlabel --label "%d" --set' % (chain, CONNLABEL),
            "-A %s -m addrtype --src-type LOCAL -j RETURN" % chain,
            '-A %s -m comment --comment "%s"' % (chain, ARRIVAL),
            "-A %s -j SET --add-set %s src --exist" % (chain, arrived),
            # The match counts an arrival of a source already there; adding a new one counts its first.
            "-A %s -m set --match-set %s src" % (chain, seen),
            "-A %s -j SET --add-set %s src" % (chain, seen),
        ]

    @classmethod
    def iptables_counter(cls, words, line):
        return "arrivals" if "/* %s */" % ARRIVAL in line else None

    # --- reading back -----------------------------------------------------------------------------------------

    @classmethod
    def remembered(cls, live):
        """({source: Entry} of the arrived sets, the same of arrived_seen, None: a live MX host keeps no days)."""
        return cls.remembered_entries(live, "arrived"), cls.remembered_entries(live, "arrived_seen"), None
