# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options of every *_record_set module: what to publish, provider-neutral.
    DOCUMENTATION = r"""
options:
  zone:
    description:
      - The zone to change, for example V(example.org). Required unless O(zones) is given.
    type: str
  record_sets:
    description:
      - The RRsets to manage in O(zone). Each is changed as a whole; RRsets not listed are left alone.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Owner name, absolute (a trailing dot is optional), inside the zone. With O(relative_names=true),
            a name without a trailing dot is relative to the zone and V(@) is the apex.
        type: str
        required: true
      type:
        description: The record type.
        type: str
        choices: [A, AAAA, MX]
        required: true
      ttl:
        description: TTL in seconds; a TTL change alone is a change.
        type: int
        default: 3600
      values:
        description:
          - The values, compared as a set. V(A)/V(AAAA) - addresses. V(MX) - V(preference exchange), the exchange
            absolute unless O(relative_names=true).
          - Required with O(state=present).
        type: list
        elements: str
        default: []
  zones:
    description:
      - Many zones in one call, each V({zone, record_sets}); each zone still gets one atomic change of its own.
    type: list
    elements: dict
    default: []
  domains:
    description:
      - Many domains in one call, each published from an MX layout - V({zone, name, layout}); V(name) (the MX owner)
        defaults to the zone apex, V(layout) to the O(layout) option. Each zone gets the MX RRset and the A/AAAA RRsets
        of the layout hosts inside it (see the mailsec.mx.mx_record_sets filter), in one atomic change of its own.
      - The fast way to publish thousands of zones - a layout shared by all is sent once, not once per zone.
      - Every entry is checked before anything is sent; the error names every bad entry.
      - Mutually exclusive with O(zone), O(record_sets) and O(zones).
    type: list
    elements: dict
    default: []
  layout:
    description: The MX layout of every O(domains) entry without its own (see the mailsec.mx.mx_problems filter).
    type: list
    elements: dict
    default: []
  ttl:
    description: TTL of the record sets made from O(domains) layouts.
    type: int
    default: 3600
  allow_multiple_dead:
    description: Allow more than one dead record in a O(domains) layout.
    type: bool
    default: false
  address_limit:
    description: The most addresses a sender tries per delivery, for the O(domains) layout checks.
    type: int
    default: 5
  state:
    description:
      - V(present) - each listed RRset ends with exactly these values. V(absent) - each listed RRset is removed.
    type: str
    choices: [present, absent]
    default: present
  relative_names:
    description: Take names and MX exchanges without a trailing dot as relative to the zone.
    type: bool
    default: false
notes:
  - Every input is checked before anything is sent; one bad entry fails the run and nothing changes.
  - All changes to one zone go in one atomic operation. Check mode sends no change; diff mode shows the RRsets
    before and after.
  - A zone the server or API refuses does not stop the others - they are published, and the module fails at the
    end naming the failed zones (RV(failed_zones)); a rerun changes only what is left. A server that cannot be
    reached stops the run at once.
  - On the controller (O(ignore:delegate_to=localhost), a local connection without become, async or a task
    environment) the module runs inside Ansible's own process through its action plugin - the zones make no JSON
    round trip, and a progress line shows after every 1,000 zones. Elsewhere it runs as a module.
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""
