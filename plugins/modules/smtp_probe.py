#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: smtp_probe
short_description: See what a sending MTA meets on port 25 of some addresses
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Connects to a TCP port (25 by default) of every given address, IPv4 and IPv6, reads the greeting and says
    C(QUIT). It never sends mail.
  - Reports per address the outcome, the greeting line and the latency, so a play can assert that a dead
    primary resets (V(refused)) and a live MX greets (V(greeting)).
  - Probes the addresses strictly one after the other, in the order given, never two at once. Give them in MX
    preference order (as the mailsec.mx.mx_ordered filter sorts them) and the probe is an orderly sender that a
    trap firewall never records.
  - A hostile or broken peer can neither stall nor balloon a probe - one deadline (O(timeout)) covers the connection
    and the whole greeting, however slowly the peer trickles it, and no more than 4096 octets of greeting are read
    (a reply line is at most 512 octets, RFC 5321).
options:
  addresses:
    description: The addresses to probe.
    type: list
    elements: str
    required: true
  port:
    description: The TCP port.
    type: int
    default: 25
  source:
    description: Local address to connect from (for example an allowlisted one).
    type: str
  timeout:
    description:
      - Seconds one address may take, the connection and the whole greeting together (one deadline per address,
        which a peer sending a byte at a time cannot extend).
    type: float
    default: 5.0
attributes:
  check_mode:
    support: full
    details: Probing changes nothing, so it runs in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: The dead primary must reset, at once
  mailsec.mx.smtp_probe:
    addresses: [203.0.113.10, "2001:db8::10"]
    timeout: 2
  register: probe

- name: Check it
  ansible.builtin.assert:
    that: probe.results | map(attribute='outcome') | unique == ['refused']
"""

RETURN = r"""
results:
  description: One entry per address, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    address:
      description: The address probed.
      type: str
    port:
      description: The port probed.
      type: int
    outcome:
      description:
        - V(greeting) (2xx), V(tempfail_greeting) (4xx), V(reject_greeting) (5xx), V(no_greeting) (closed or
          silent after connecting, or not SMTP), V(refused) (TCP reset), V(timeout) (no answer to the connection) or
          V(unreachable).
        - V(slow_greeting) - the peer started a greeting but did not finish it within O(timeout) (for example one
          byte at a time).
        - V(oversized) - a greeting line longer than 512 octets, or a greeting longer than 4096 octets in all.
      type: str
    greeting:
      description:
        - The (last) greeting line, if any; for V(slow_greeting) and V(oversized), the start of what was received.
        - Control characters and invalid UTF-8 are shown escaped (V(\\x1b)), never raw.
      type: str
    received:
      description: Octets of greeting read, at most 4097.
      type: int
    latency:
      description: Seconds from connecting to the outcome.
      type: float
    error:
      description: The socket error, if any.
      type: str
outcomes:
  description: The outcome per address.
  returned: always
  type: dict
  sample: {"203.0.113.10": refused}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailsec.mx.plugins.module_utils._smtp import probe


def main():
    module = AnsibleModule(
        argument_spec=dict(
            addresses=dict(type="list", elements="str", required=True),
            port=dict(type="int", default=25),
            source=dict(type="str"),
            timeout=dict(type="float", default=5.0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    # Strictly one after the other, in the order given: a trap firewall records a sender that reaches a trap
    # without having tried the MXes in front of it, or that connects to many addresses at once.
    results = []
    for address in params["addresses"]:
        results.append(probe(address, params["port"], params["timeout"], params["source"]))
    module.exit_json(changed=False, results=results, outcomes={result["address"]: result["outcome"] for result in results})


if __name__ == "__main__":
    main()
