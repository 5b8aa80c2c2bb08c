#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dead_primary_firewall
short_description: Reset port 25 of a nolisting dead primary, except for an allowlist
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Guards TCP port 25 (or other ports) of the given local addresses, the nolisting dead primary, so that every
    connection gets a TCP reset (or is dropped), except from allowlisted sources, whose packets pass on to whatever
    listens there.
  - A reset makes every MTA try the next MX at once; a 4xx greeting would make qmail defer, a drop would make every
    sender wait for its timeout.
  - With O(record) (the default) it remembers whom it refused, per O(ipv4_prefix) / O(ipv6_prefix) network, for
    O(record_time) seconds - the last refusal, the first refusal and how many, and on how many separate days the source
    came. M(mailsec.mx.nolisting_sources) reads it; the nolisting audit joins it with what the live MX hosts remember
    (M(mailsec.mx.mx_live_firewall)). Recording never changes what the firewall does - a full set only stops
    remembering. Allowlisted sources are never recorded (they are counted apart, as C(allowed)).
options:
  name:
    description:
      - Names what the module owns. nftables table C(inet mailsec_<name>), iptables chain C(MAILSEC_<NAME>),
        ipsets C(mailsec_<name>_a4) and C(mailsec_<name>_a6) (the allowlist) and, with O(record), C(_r4), C(_r6)
        (refused - the last refusal), C(_rs4), C(_rs6) (refused_seen - the first refusal and a count), C(_rd4),
        C(_rd6) (refused_day) and C(_rn4), C(_rn6) (refused_days - the number of separate days).
      - 1 to 16 characters of V(a-z), V(0-9) and V(_), starting with a letter.
    type: str
    default: dead_primary
  addresses:
    description: The dead primary's local IPv4/IPv6 addresses to guard. Required with O(state=present).
    type: list
    elements: str
    default: []
  action:
    description: V(reset) answers with a TCP reset at once; V(drop) makes every legitimate sender wait for its timeout.
    type: str
    choices: [reset, drop]
    default: reset
  record:
    description:
      - Remember each refused source (per O(ipv4_prefix) / O(ipv6_prefix) network) in timed sets - C(refused)
        (refreshed at each refusal - the last one, forgotten O(record_time) seconds after it), C(refused_seen) (added at
        the first refusal, with a counter - the first refusal and how many), C(refused_day) (a day from a refusal) and
        C(refused_days) (counted at a refusal outside such a day - on how many separate 24-hour periods it came);
        C(refused_seen) and C(refused_days) are forgotten O(record_time) seconds after the first refusal.
      - Each recording is a rule of its own without a verdict, after the allowlist and before the refusal, so a full
        set (or any failure to record) changes nothing about the reset. Allowlisted sources are never recorded.
      - A reset needs no TCP handshake, so a forged SYN can put any source into these sets - what they hold is
        advisory, for the audit; nothing the firewall does depends on it.
      - Each refused packet counts - one per connection with O(action=reset); with O(action=drop) a sender's
        retransmitted SYNs count too.
      - With V(false), the table or chain holds no set and no rule beyond the allowlist and the refusal.
    type: bool
    default: true
  record_time:
    description:
      - Seconds a refused source is remembered after its last refusal (C(refused)), and its first refusal, count and
        days after its first (1 to 2147483, ipset's limit). A week by default, the audit's period.
    type: int
    default: 604800
  ipv4_prefix:
    description: IPv4 sources are recorded per network of this prefix length (8-32), as the trap groups them.
    type: int
    default: 32
  ipv6_prefix:
    description:
      - IPv6 sources are recorded per network of this prefix length (32-128); by default per /64, so one site or one
        customer is one entry, not thousands. Use the same prefixes on the live MX hosts
        (M(mailsec.mx.mx_live_firewall)); the audit joins unequal ones at the shorter prefix.
    type: int
    default: 64
  set_size:
    description:
      - Room in each recording set, per family (16 to 16777216). No set ever evicts an element; a full set stops
        remembering new sources, and the reset goes on regardless. M(mailsec.mx.nolisting_sources) reports each set's
        fill level.
    type: int
    default: 262144
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - mailsec.mx.firewall
"""

EXAMPLES = r"""
- name: Reset port 25 of the dead primary, except for two known senders
  mailsec.mx.dead_primary_firewall:
    addresses: [203.0.113.10, "2001:db8::10"]
    allow: [198.51.100.0/24, "2001:db8:5::/48"]
    allow_files: [files/provider-ranges.txt]

- name: Remove it again
  mailsec.mx.dead_primary_firewall:
    state: absent
"""

RETURN = r"""
backend:
  description: The backend used.
  returned: always
  type: str
  sample: nftables
allow_count:
  description: How many merged allowlist networks per family the ruleset holds.
  returned: always
  type: dict
  sample: {ipv4: 2, ipv6: 1}
counters:
  description: Packets allowed through and refused (reset or dropped), as read before the change.
  returned: always
  type: dict
  sample: {allowed: 3, refused: 120}
missing_addresses:
  description: Dead addresses that no interface held (before O(interface) added them).
  returned: always
  type: list
  elements: str
persisted:
  description: Boot-time files and services that were (or in check mode would be) changed.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.dead_primary import DeadPrimarySpec
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.host import run_module


def main():
    run_module(DeadPrimarySpec)


if __name__ == "__main__":
    main()
