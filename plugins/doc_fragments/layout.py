# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The layout and the options every layout filter shares.
    DOCUMENTATION = r"""
options:
  _input:
    description:
      - The MX layout, a list of records.
      - V(preference) is an integer from 0 to 65535 (a string of digits is accepted, a boolean is not).
      - V(host) is an absolute domain name, trailing dot optional, compared case-insensitively;
        V(.) is the null MX of RFC 7505.
      - V(role) is V(live) (default, a real MX), V(dead) (the nolisting dead primary whose port 25 resets),
        V(backstop) (the highest MX, leading back to the primary) or V(trap) (a high MX with addresses of its own
        on the primary host).
      - V(addresses) optionally lists the IPv4/IPv6 addresses of that host, each written alone (no spaces, no IPv6
        scope id); they are compared as addresses. Loopback, link-local, multicast, unspecified and IPv4-mapped
        addresses are errors.
      - V(comment) is free text, kept and never published. Any other key is an error (a misspelt V(role) would
        otherwise make a dead primary a live MX).
    type: list
    elements: dict
    required: true
  allow_multiple_dead:
    description: Accept more than one record with role V(dead).
    type: bool
    default: false
  address_limit:
    description:
      - How many addresses a sender tries before it gives up (Postfix C(smtp_mx_address_limit) and
        Exim C(hosts_max_try) both default to 5). The records in front of the lowest live MX must list fewer.
    type: int
    default: 5
"""
