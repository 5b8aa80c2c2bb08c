#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nolisting_sources
short_description: List the sources a dead primary refused, or that reached a live MX
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Reads what a recording firewall remembers - the sources the dead primary refused
    (M(mailsec.mx.dead_primary_firewall) with O(mailsec.mx.dead_primary_firewall#module:record)), or the sources
    that completed a handshake with a live MX address (M(mailsec.mx.mx_live_firewall)) - with their first and last
    time, a count and, for the dead primary, on how many separate days they came.
  - Reads the kernel's sets only; changes nothing. The nolisting audit joins the two sides per source.
options:
  kind:
    description: Which firewall to read - V(dead_primary) (refused sources) or V(mx_live) (arrivals).
    type: str
    choices: [dead_primary, mx_live]
    required: true
  name:
    description:
      - The O(mailsec.mx.dead_primary_firewall#module:name) or O(mailsec.mx.mx_live_firewall#module:name) the
        firewall was created with. Default - V(dead_primary) or V(mx_live), after O(kind).
    type: str
  backend:
    description: V(auto) reads nftables where C(nft) exists, else iptables with ipset (as the firewall modules choose).
    type: str
    choices: [auto, nftables, iptables]
    default: auto
  format:
    description:
      - V(list) returns RV(sources), a list of dicts. V(table) returns the same as one text instead, RV(table) - at
        100,000 sources one string crosses Ansible in a fraction of the time a list of dicts takes (the nolisting audit
        reads either).
    type: str
    choices: [list, table]
    default: list
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
  - Times are worked out on the host from the time each set element has left, against the host's clock (RV(now)); an
    iptables host keeps whole seconds, so its times may be up to a second early.
  - A source is listed while the set refreshed at each event remembers it (C(refused) or C(arrived)). First times,
    counts and days come from sets that keep a source for the record time from its first event; a source first seen
    longer ago, or when that set was full, shows V(null) there.
  - What the dead primary records is learned from SYNs (a reset needs no handshake), so a forged source can be among
    its refused sources; an arrival needs a completed handshake.
requirements:
  - nftables, or iptables and ipset, on the managed host
"""

EXAMPLES = r"""
- name: Who did the dead primary refuse?
  mailsec.mx.nolisting_sources:
    kind: dead_primary
  register: refused

- name: Who reached a live MX address of this host?
  mailsec.mx.nolisting_sources:
    kind: mx_live
  register: arrived
"""

RETURN = r"""
present:
  description: Whether the firewall exists on the host.
  returned: always
  type: bool
backend:
  description: The backend read.
  returned: always
  type: str
  sample: nftables
now:
  description: The host's time (epoch seconds) the times were worked out against.
  returned: always
  type: float
  sample: 1764000000.123
prefixes:
  description: The prefix lengths sources are grouped by - IPv4 and IPv6 (a grouped source is listed as its network).
  returned: always
  type: dict
  sample: {"4": 32, "6": 64}
counters:
  description:
    - Packets counted since the firewall was last loaded - the dead primary's C(allowed) and C(refused), a live MX host's
      C(arrivals) (connections recorded). Empty when the firewall is not there.
  returned: always
  type: dict
  sample: {allowed: 3, refused: 120}
sets:
  description: The fill level of each timed set, fullest first. A full set remembers no new source.
  returned: always
  type: list
  elements: dict
  sample: [{set: refused4, elements: 3, size: 262144, percent: 0.0}]
sources:
  description: Every remembered source, in address order (IPv4 first).
  returned: with O(format=list)
  type: list
  elements: dict
  contains:
    source:
      description: The address, or its network (such as V(2001:db8:1:2::/64)) when sources are grouped by prefix.
      type: str
      sample: 198.51.100.7
    first_seen:
      description: The first refusal (or arrival), epoch seconds, or V(null) when unknown.
      type: float
      sample: 1763990000.5
    last_seen:
      description: The last refusal (or arrival), epoch seconds.
      type: float
      sample: 1763999000.25
    count:
      description: Refusals (or connections) since the first, or V(null) when unknown.
      type: int
    days:
      description:
        - Dead primary only - on how many separate 24-hour periods the source was refused since the first, or V(null)
          when unknown. A live MX host's sources have no such key.
      type: int
record_time:
  description: How long the firewall remembers a source, in seconds, as its remembered sources say; V(null) when it remembers none.
  returned: always
  type: float
  sample: 604800
table:
  description:
    - RV(sources) as one text - the line C(source first_seen last_seen count days), then one line per source with
      those five fields separated by a space, times with three decimals, C(-) where unknown (and for C(days) on a live
      MX host).
  returned: with O(format=table)
  type: str
  sample: "source first_seen last_seen count days\n198.51.100.7 1763990000.500 1763999000.250 3 2\n"
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import FirewallError, validate_name
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.dead_primary import DeadPrimarySpec
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.host import open_backend
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.live import LiveSpec
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.spec import COMMON_OPTIONS
from ansible_collections.mailsec.mx.plugins.module_utils._traps import fill_levels, fill_warnings, source_list, source_table

# {kind: (spec class, the role variable that sizes its sets)}
KINDS = {"dead_primary": (DeadPrimarySpec, "dead_primary_set_size"), "mx_live": (LiveSpec, "mx_live_set_size")}


def main():
    module = AnsibleModule(
        argument_spec=dict(kind=dict(type="str", choices=sorted(KINDS), required=True), name=dict(type="str"),
                           backend=dict(COMMON_OPTIONS["backend"]), format=dict(type="str", choices=["list", "table"], default="list")),
        supports_check_mode=True,
    )
    kind, set_size_variable = KINDS[module.params["kind"]]
    name = module.params["name"] or kind.options["name"]["default"]
    try:
        validate_name(name)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    choice, backend = open_backend(module, module.params["backend"], name, kind,
                                   missing_tool="reading the %s backend needs %s on the host")
    # Taken before the read: the kernel reports the time each element has left as of the start of its listing.
    now = time.time()
    try:
        live = backend.current()
    except FirewallError as exc:
        module.fail_json(msg=str(exc), backend=choice)
    present = live is not None
    # (last event, first event and count, days or None) per source, each kind from its own sets.
    last, first, days = kind.remembered(live) if present else ({}, {}, None)
    prefixes = live.prefixes if present else {4: 32, 6: 128}
    if module.params["format"] == "table":
        remembered = dict(table=source_table(last, first, days, now=now, prefixes=prefixes))
    else:
        remembered = dict(sources=source_list(last, first, days, now=now, prefixes=prefixes))
    levels = fill_levels(live.fill) if present else []
    for warning in fill_warnings(levels, variable=set_size_variable):
        module.warn(warning)
    if present and not levels:
        module.warn("the %s firewall %r remembers no sources (recording is off)" % (kind.title, name))
    # How long the sets keep a source, as their elements say (each carries its set's timeout); None when empty.
    record_time = max((entry.timeout for entry in last.values()), default=None)
    module.exit_json(changed=False, present=present, backend=choice, now=round(now, 3), record_time=record_time,
                     prefixes={str(key): value for key, value in prefixes.items()},
                     counters=live.packets() if present else {}, sets=levels, **remembered)


if __name__ == "__main__":
    main()
