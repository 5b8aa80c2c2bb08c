#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mx_trap_firewall
short_description: Record senders that reach trap MX addresses without trying the host's own MX first
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Every connection to one of O(traps) passes on to the MTA. A source that completes a TCP handshake there without
    having tried O(mx_addresses) (the host's own MX addresses) within O(order_window) is recorded in a timed set (per
    O(ipv4_prefix) / O(ipv6_prefix) network) for O(suppress_time) seconds after its last trap hit. A forged SYN
    records no one. With O(suppress), recorded sources get O(action) on O(mx_addresses) and on the traps, except
    their first trap connection. Allowed and local sources are never recorded.
  - M(mailsec.mx.mx_trap_hits) lists what the traps remember.
options:
  name:
    description:
      - Names what the module owns. nftables table C(inet mailsec_<name>), iptables chain C(MAILSEC_<NAME>),
        ipsets C(mailsec_<name>_a4), C(_a6) (the allowlist), C(_h4), C(_h6) (hits), C(_s4), C(_s6) (first hits and
        counts), C(_t4), C(_t6) (tried), C(_k4), C(_k6) (knocked) and C(_tf).
      - 1 to 16 characters of V(a-z), V(0-9) and V(_), starting with a letter.
    type: str
    default: mx_trap
  traps:
    description: The trap addresses, on this host, that the highest MX records point at. Required with O(state=present).
    type: list
    elements: str
    default: []
  mx_addresses:
    description:
      - The host's own MX addresses (of its primary and backstop records). A source seen there first is an MTA
        walking the MX list; with O(suppress), recorded sources are refused there. Required with O(state=present);
        they must differ from O(traps).
    type: list
    elements: str
    default: []
  suppress:
    description: Refuse recorded sources (with O(action)) on O(mx_addresses) and on the traps.
    type: bool
    default: false
  action:
    description: What recorded sources get with O(suppress) - V(reset) at once, or V(drop).
    type: str
    choices: [reset, drop]
    default: reset
  suppress_time:
    description:
      - Seconds a source stays recorded (and, with O(suppress), refused) after its last trap hit. 1 to 2147483
        (ipset's limit).
      - First hits and hit counts are kept for a week, or O(suppress_time) if longer.
      - Suppression only ever learns from completed TCP handshakes, so a forged SYN records no one.
    type: int
    default: 3600
  order_window:
    description:
      - Seconds during which a source that tried one of O(mx_addresses) counts as an MTA walking down the MX list - its
        trap connections are then not recorded. Only senders that go to a trap without having tried a lower MX on this
        host are recorded.
      - Tried means a completed handshake (a 4xx or a busy primary), or a mere SYN (the primary refused or dropped
        the connection while the traps answer). A forged SYN can only spare a source this way, never get one refused.
      - The default (a day) covers an MTA's walk within one delivery attempt and its retries, including Exim, which
        skips a failed host until its retry time (up to 6 hours with its stock retry rules) and goes straight on down.
    type: int
    default: 86400
  ipv4_prefix:
    description: IPv4 sources are recorded and refused per network of this prefix length (8-32).
    type: int
    default: 32
  ipv6_prefix:
    description:
      - IPv6 sources are recorded and refused per network of this prefix length (32-128); by default per /64, so a
        bot rotating inside its /64 stays caught and one /64 fills one element, not thousands.
    type: int
    default: 64
  set_size:
    description:
      - Room in each of the trap's timed sets (per family) - C(hits), C(seen), C(tried) and C(knocked) (16 to 16777216).
      - No set ever evicts an element. A full C(seen) set loses first hits and counts only. When C(hits) is full, a
        trap connection that cannot be recorded is counted as C(unrecorded) and, with O(suppress), refused. When
        C(tried) is full, recording pauses for O(order_window), since an MTA's walk could not be remembered.
        M(mailsec.mx.mx_trap_hits) reports each set's fill level and warns above 90 %.
    type: int
    default: 262144
  allow_controller:
    description:
      - Add the addresses this controller connects from (towards the host, the traps and O(mx_addresses)) to
        O(allow), so that probing the traps from here (as M(mailsec.mx.mx_verify) does) never gets the controller
        recorded or refused. Worked out on the controller, without sending a packet.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - mailsec.mx.firewall
"""

EXAMPLES = r"""
- name: Record senders that go for the trap addresses, and refuse them on the primary for an hour
  mailsec.mx.mx_trap_firewall:
    traps: [203.0.113.91, "2001:db8::91"]
    mx_addresses: [203.0.113.20, "2001:db8::20"]
    suppress: true
    suppress_time: 3600
    allow: [198.51.100.0/24]
    allow_controller: true
    interface: eth0
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
  description: Trap hits, refused (suppressed) connections and trap connections that could not be recorded.
  returned: always
  type: dict
  sample: {trap_hits: 4, suppressed: 2, unrecorded: 0}
controller_allowed:
  description: With O(allow_controller), the controller's addresses that were added to the allowlist.
  returned: when O(allow_controller) is true
  type: list
  elements: str
  sample: [198.51.100.1]
missing_addresses:
  description: Trap addresses that no interface held (before O(interface) added them).
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
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.trap import TrapSpec


def main():
    run_module(TrapSpec)


if __name__ == "__main__":
    main()
