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
options:
  name:
    description:
      - Names what the module owns. nftables table C(inet mailsec_<name>), iptables chain C(MAILSEC_<NAME>),
        ipsets C(mailsec_<name>_a4) and C(mailsec_<name>_a6).
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
