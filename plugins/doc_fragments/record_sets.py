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
        The fast way to publish hundreds or thousands of zones.
    type: list
    elements: dict
    default: []
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
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""
