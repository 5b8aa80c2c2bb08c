#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mx_trap_hits
short_description: List the senders that MX trap addresses caught
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Reads what a trap firewall of M(mailsec.mx.mx_trap_firewall) remembers -
    every source that connected to a trap address and is still recorded, with its first and last trap hit, how
    many hits, and when it is forgotten (and so, with suppression on, no longer refused).
  - Reads the kernel's sets only; changes nothing.
options:
  name:
    description: The O(mailsec.mx.mx_trap_firewall#module:name) the trap firewall was created with.
    type: str
    default: mx_trap
  backend:
    description: V(auto) reads nftables where C(nft) exists, else iptables with ipset (as the firewall module chooses).
    type: str
    choices: [auto, nftables, iptables]
    default: auto
attributes:
  check_mode:
    support: full
    details: Reading changes nothing, so it runs in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
notes:
  - First hits and counts come from a set that keeps a source for a week (or the suppression time if longer) from
    its first hit; a source caught longer ago, or when that set was full, shows V(null) there.
requirements:
  - nftables, or iptables and ipset, on the managed host
"""

EXAMPLES = r"""
- name: Who hit the traps?
  mailsec.mx.mx_trap_hits:
  register: trap

- name: Show them
  ansible.builtin.debug:
    msg: "{{ trap.summary }}"
"""

RETURN = r"""
backend:
  description: The backend read.
  returned: always
  type: str
  sample: nftables
present:
  description: Whether the trap firewall exists on the host.
  returned: always
  type: bool
suppressing:
  description: Whether the live ruleset refuses recorded sources.
  returned: always
  type: bool
hits:
  description: Every recorded source, latest hit first.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: The sender's address, or its network (such as V(2001:db8:1:2::/64)) when sources are grouped by prefix.
      type: str
      sample: 198.51.100.66
    first_seen:
      description: Its first trap hit (UTC), or V(null) when unknown.
      type: str
      sample: "2026-11-24T04:30:15Z"
    last_seen:
      description: Its latest trap hit (UTC).
      type: str
      sample: "2026-11-24T04:31:02Z"
    last_seen_ago:
      description: Seconds since its latest trap hit.
      type: int
    hits:
      description: Its connections to trap addresses since the first hit, or V(null) when unknown.
      type: int
    expires_in:
      description: Seconds until it is forgotten (and no longer refused).
      type: int
counters:
  description: Trap hits and refused connections since the firewall was last loaded.
  returned: always
  type: dict
  sample: {trap_hits: 4, suppressed: 2, unrecorded: 0}
  contains:
    trap_hits:
      description: Connections that completed a handshake with a trap without having tried a lower MX of this host first.
      type: int
    suppressed:
      description: New connections of recorded sources that were refused.
      type: int
    unrecorded:
      description:
        - Trap connections that were not recorded because a set was full - C(hits) (then refused, with suppression) or
          C(tried) (recording pauses for the order window). Above 0, raise the set size.
      type: int
sets:
  description: The fill level of each timed set of the trap, fullest first. A full set remembers no new source.
  returned: always
  type: list
  elements: dict
  sample: [{set: hits6, elements: 3, size: 262144, percent: 0.0}]
prefixes:
  description: The prefix lengths sources are grouped by - IPv4 and IPv6 (a grouped source is listed as its network).
  returned: always
  type: dict
  sample: {"4": 32, "6": 64}
summary:
  description: Lines for the play output.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import FirewallError, validate_name
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.host import open_backend
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.spec import COMMON_OPTIONS
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.trap import TrapSpec
from ansible_collections.mailsec.mx.plugins.module_utils._traps import fill_levels, fill_warnings, hit_list, summary


def main():
    module = AnsibleModule(
        argument_spec=dict(name=dict(TrapSpec.options["name"]), backend=dict(COMMON_OPTIONS["backend"])),
        supports_check_mode=True,
    )
    try:
        validate_name(module.params["name"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    choice, backend = open_backend(module, module.params["backend"], module.params["name"], TrapSpec,
                                   missing_tool="reading the %s backend needs %s on the host")
    try:
        live = backend.current()
    except FirewallError as exc:
        module.fail_json(msg=str(exc), backend=choice)
    present = live is not None
    hits, seen, suppressing = TrapSpec.remembered(live) if present else ({}, {}, False)
    prefixes = live.prefixes if present else {4: 32, 6: 128}
    listed = hit_list(hits, seen, prefixes=prefixes)
    levels = fill_levels(live.fill) if present else []
    warnings = fill_warnings(levels)
    counters = live.packets() if present else {}
    if counters.get("unrecorded"):
        warnings.append("%d trap connection(s) could not be recorded because a set was full; raise mx_trap_set_size"
                        % counters["unrecorded"])
    for warning in warnings:
        module.warn(warning)
    lines = summary(listed, suppressing) if present else ["no trap firewall %r on this host" % module.params["name"]]
    module.exit_json(changed=False, backend=choice, present=present, suppressing=suppressing, hits=listed,
                     counters=counters, sets=levels, prefixes={str(key): value for key, value in prefixes.items()},
                     summary=lines + warnings)


if __name__ == "__main__":
    main()
