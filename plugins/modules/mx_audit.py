#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mx_audit
short_description: Join whom the dead primary refused with who reached a live MX - the nolisting audit
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Takes what M(mailsec.mx.nolisting_sources) read on the dead primary hosts (sources refused, with first and last
    refusal, count and the number of separate days) and on the live MX hosts (sources whose TCP handshake to port 25
    completed), and gives each refused source a verdict - V(retried) (it reached a live MX while it was being refused
    or within O(window) seconds after - a real MTA walking the MX list) or V(gave_up) (it never did - a spam bot, or a
    crude sender that nolisting turns away).
  - Looks up the forward-confirmed reverse DNS name of up to O(ptr_limit) sources through O(resolvers), the sources
    that gave up first (ranked), then those that retried. A source that gave up but has the same forward-confirmed
    name as one that retried is V(retried) too - a dual-stack MTA refused on both families may come back over one.
  - Writes a JSON report to O(report_path) and the allowlist candidates (every source that gave up, likely crude
    legitimate senders first - a confirmed PTR, several days) to O(candidates_path), in the format of
    C(dead_primary_allow_files) with the evidence in a comment on each line. It never changes an allowlist.
  - Runs on the controller, as an action plugin (its input can be every remembered source of every host - 100,000s
    - which a module would pass through JSON twice); paths are the controller's. The playbook
    C(mailsec.mx.nolisting_audit) reads the hosts and runs it.
options:
  refused:
    description:
      - The results of M(mailsec.mx.nolisting_sources) with O(mailsec.mx.nolisting_sources#module:kind=dead_primary),
        one per host, each with C(host) set to the host's name, and either its C(sources) list or its compact
        C(table) (one string, which crosses Ansible far faster at 100,000 sources).
    type: list
    elements: dict
    required: true
  arrivals:
    description: The same for O(mailsec.mx.nolisting_sources#module:kind=mx_live) on every live MX host.
    type: list
    elements: dict
    required: true
  window:
    description: Seconds after a source's last refusal within which an arrival at a live MX still counts as its retry.
    type: float
    default: 3600
  clock_slack:
    description:
      - Seconds an arrival may seem to precede the first refusal and still be its retry - the hosts' clocks differ, and
        a large listing takes seconds. Keep the hosts' clocks in sync (NTP).
    type: float
    default: 5
  period:
    description:
      - How long the dead primary remembers a refused source, for the summary sentence; unset - the longest
        C(record_time) of O(refused), else a week.
    type: int
  resolvers:
    description: Addresses of the resolvers that look up reverse DNS names; empty uses the controller's C(/etc/resolv.conf).
    type: list
    elements: str
    default: []
  resolver_port:
    description: Port of O(resolvers).
    type: int
    default: 53
  dns_timeout:
    description:
      - Seconds for each source's reverse DNS look-up, the PTR and the forward confirmation together (one deadline;
        at most 5 PTR names are confirmed, so a hostile reverse zone cannot stretch it).
    type: float
    default: 3
  ptr_limit:
    description: At most this many sources get a reverse DNS look-up (V(0) none); a source grouped by prefix never does.
    type: int
    default: 1000
  report_path:
    description: Where to write the JSON report; nothing is written when unset.
    type: path
  candidates_path:
    description: Where to write the allowlist candidates; nothing is written when unset.
    type: path
  lines:
    description: At most this many sources of each verdict in RV(summary).
    type: int
    default: 20
  return_sources:
    description: Return every source in RV(sources) too (the JSON report at O(report_path) holds them anyway).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reads, joins and looks up, but writes no file.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
notes:
  - A TCP reset needs no handshake, so a forged SYN can put any address into the refused list; an arrival needs a
    completed handshake and cannot be forged blindly. Treat verdicts and candidates as advice.
  - A sender refused in the last minutes may still retry (a queue's next attempt); its verdict is V(gave_up) until it does.
requirements:
  - dnspython (for reverse DNS, when O(ptr_limit) is above 0)
seealso:
  - module: mailsec.mx.nolisting_sources
"""

EXAMPLES = r"""
- name: Who gave up at the dead primary?
  mailsec.mx.mx_audit:
    refused: "{{ groups['dead_primary'] | map('extract', hostvars, 'mx_audit_read_dead_primary') | list }}"
    arrivals: "{{ groups['mx_live'] | map('extract', hostvars, 'mx_audit_read_mx_live') | list }}"
    resolvers: [198.51.100.53]
    report_path: /var/tmp/nolisting-audit.json
    candidates_path: /var/tmp/allowlist-candidates.txt
  run_once: true
  register: audit
"""

RETURN = r"""
summary:
  description: The summary sentence, then one line per source (candidates first, by rank).
  returned: always
  type: list
  elements: str
  sample:
    - of 2 source(s) refused at the dead primary in the last 7 days, 1 retried a live MX, 1 gave up
    - "198.51.100.41: refused 2 times, never retried -> allowlist candidate"
    - "198.51.100.30 (postfix.example.test): refused 16 times, retried a live MX 80 ms later (real MTA)"
counts:
  description: The report's summary - C(refused_sources), C(retried), C(gave_up), C(candidates), C(confirmed_ptr_gave_up), C(period_seconds).
  returned: always
  type: dict
sources:
  description:
    - Every refused source - C(source) (an address, or a network when grouped by prefix), C(verdict), C(refused),
      C(first_seen), C(last_seen) (UTC), C(days), C(arrivals), C(first_arrival), C(last_arrival), C(retry_delay)
      (seconds from a refusal to the arrival that followed, when known), C(dead_primaries), C(ptr) (the
      forward-confirmed name or V(null)) and C(ptr_status) (V(confirmed), V(unconfirmed), V(none), V(error),
      V(network), V(not_looked_up)); C(retried_as) lists the sources with the same forward-confirmed name that
      retried, when that is what made it V(retried) (a dual-stack MTA that came back over the other family).
  returned: when O(return_sources) is true
  type: list
  elements: dict
metrics:
  description: Prometheus text with the verdict counts, for node_exporter's textfile collector.
  returned: always
  type: str
written:
  description: The files written (none in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailsec.mx.plugins.module_utils._audit import AuditError
from ansible_collections.mailsec.mx.plugins.module_utils._audit_module import ARGUMENT_SPEC, run


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = run(module.params, module.check_mode)
    except AuditError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
