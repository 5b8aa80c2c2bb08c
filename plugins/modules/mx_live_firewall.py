#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mx_live_firewall
short_description: Remember the senders that reach the live MX addresses, refusing no one
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Records each source that completes a TCP handshake with O(ports) of one of O(addresses) (the layout's live MX
    addresses) in timed sets, per O(ipv4_prefix) / O(ipv6_prefix) network - C(arrived) (refreshed at each arrival - the
    last one, forgotten O(record_time) seconds after it) and C(arrived_seen) (added at the first arrival, with a
    counter - the first arrival and how many connections, forgotten O(record_time) seconds after the first).
  - A connection is looked at once, at the first packet after its handshake completed (conntrack's assured status,
    marked with conntrack label 102), so a forged SYN records no one. The host's own sources are not recorded.
  - It never refuses nor accepts anything - every packet goes on to the host's other rules and the MTA. A full set only
    stops remembering.
  - The layout's live addresses are usually spread over several hosts - give every live MX host all of them; each
    records what reaches the addresses it holds, brings no address up and warns only when it holds none of them.
  - M(mailsec.mx.nolisting_sources) reads what it remembers; the nolisting audit joins it with the dead primary's
    refusals (M(mailsec.mx.dead_primary_firewall) with O(mailsec.mx.dead_primary_firewall#module:record)).
options:
  name:
    description:
      - Names what the module owns. nftables table C(inet mailsec_<name>), iptables chain C(MAILSEC_<NAME>),
        ipsets C(mailsec_<name>_ar4), C(_ar6) (arrived) and C(_as4), C(_as6) (arrived_seen), and the empty allowlist
        sets C(_a4), C(_a6) every firewall of the collection has.
      - 1 to 16 characters of V(a-z), V(0-9) and V(_), starting with a letter.
    type: str
    default: mx_live
  addresses:
    description:
      - The live MX addresses (IPv4 and IPv6) - all of the layout's, also those other hosts hold. Required with
        O(state=present).
    type: list
    elements: str
    default: []
  record_time:
    description:
      - Seconds a source is remembered after its last arrival (C(arrived)), and its first arrival and count after its
        first (1 to 2147483, ipset's limit). A week by default, the audit's period.
    type: int
    default: 604800
  ipv4_prefix:
    description: IPv4 sources are recorded per network of this prefix length (8-32).
    type: int
    default: 32
  ipv6_prefix:
    description:
      - IPv6 sources are recorded per network of this prefix length (32-128), by default per /64. Use the dead primary's
        prefixes, so that the audit matches a refused source with its arrival.
    type: int
    default: 64
  set_size:
    description:
      - Room in each timed set, per family (16 to 16777216). No set ever evicts an element; a full set stops remembering
        new sources and nothing else. M(mailsec.mx.nolisting_sources) reports each set's fill level.
    type: int
    default: 262144
  action:
    description:
      - Does not apply - this firewall refuses no one. Any value but the default is refused, so that nobody expects an
        effect it never has.
    type: str
    choices: [reset, drop]
    default: reset
  allow:
    description:
      - Does not apply - every source but the host's own is recorded, and no one is refused. A non-empty list (or
        O(allow_files)) is refused.
    type: list
    elements: str
    default: []
  interface:
    description:
      - Does not apply - the live addresses are spread over several hosts and this firewall brings none up. Setting it
        is refused.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - mailsec.mx.firewall
notes:
  - Runs beside the trap (M(mailsec.mx.mx_trap_firewall)) on the primary host - the two use different conntrack label
    bits (101 and 102), so each looks at every connection once.
  - With C(net.netfilter.nf_conntrack_tcp_be_liberal = 1) a forged SYN and ACK can look like a handshake; the module
    warns when it finds that setting.
"""

EXAMPLES = r"""
- name: Remember who reaches the live MX addresses (every live MX host gets all of them)
  mailsec.mx.mx_live_firewall:
    addresses: [203.0.113.20, "2001:db8::20", 203.0.113.30, "2001:db8::30"]

- name: Remove it again
  mailsec.mx.mx_live_firewall:
    state: absent
"""

RETURN = r"""
backend:
  description: The backend used.
  returned: always
  type: str
  sample: nftables
allow_count:
  description: Always zero - the live MX firewall has no allowlist.
  returned: always
  type: dict
  sample: {ipv4: 0, ipv6: 0}
counters:
  description: Connections recorded (arrivals), as read before the change.
  returned: always
  type: dict
  sample: {arrivals: 42}
missing_addresses:
  description: Always empty - this firewall brings no address up.
  returned: always
  type: list
  elements: str
persisted:
  description: Boot-time files and services that were (or in check mode would be) changed.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.host import run_module
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.live import LiveSpec


def main():
    run_module(LiveSpec)


if __name__ == "__main__":
    main()
