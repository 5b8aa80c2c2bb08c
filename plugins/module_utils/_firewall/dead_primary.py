# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dead primary: every source not allowed gets a TCP reset (or a drop) on the guarded ports of its addresses."""

from __future__ import annotations

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import split_addresses
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.spec import FirewallSpec, nft_values, sorted_addresses


class DeadPrimarySpec(FirewallSpec):
    """Every source not allowed gets ``action`` on port(s) ``ports`` of ``addresses``."""

    title = "dead primary"
    module = "mailsec.mx.dead_primary_firewall"
    options = dict(
        name=dict(type="str", default="dead_primary"),
        addresses=dict(type="list", elements="str", default=[]),
    )
    counters = ("allowed", "refused")
    address_options = ("addresses",)
    missing_address_effect = "being reset"

    def __init__(self, name, addresses, ports, action, allow=(), allow_by_family=None):
        super().__init__(name, ports, action, allow, allow_by_family)
        self.addresses4, self.addresses6 = split_addresses(addresses, "addresses")

    @classmethod
    def from_params(cls, params):
        return cls(params["name"], params["addresses"], params["ports"], params["action"], params["allow"],
                   params.get("merged_allow"))

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

    def nftables_chains(self):
        lines = []
        for family, addresses, allow_set in (("ip", self.addresses4, "allow4"), ("ip6", self.addresses6, "allow6")):
            if not addresses:
                continue
            match = "%s daddr %s tcp dport %s" % (family, nft_values(sorted_addresses(addresses)), nft_values(self.ports))
            lines.append('%s %s saddr @%s counter name "allowed" accept' % (match, family, allow_set))
            lines.append('%s counter name "refused" %s' % (match, self.verdict_nft))
        return [("input", lines)]

    def iptables_jump_states(self, family, address):
        return [""]

    def iptables_chain(self, family, chain, set_name):
        return [
            "-A %s -m set --match-set %s src -j RETURN" % (chain, set_name("allow%d" % family)),
            "-A %s -p tcp -j %s" % (chain, self.verdict_iptables),
        ]

    @classmethod
    def iptables_counter(cls, words, line):
        return "allowed" if words[2] == "RETURN" else "refused"
