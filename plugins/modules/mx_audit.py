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
  - Runs where the files are to be written, normally on the controller (C(delegate_to=localhost)). The playbook
    C(mailsec.mx.nolisting_audit) reads the hosts and runs this module.
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
    refused: "{{ groups['dead_primary'] | map('extract', hostvars, '__audit_refused') | list }}"
    arrivals: "{{ groups['mx_live'] | map('extract', hostvars, '__audit_arrived') | list }}"
    resolvers: [198.51.100.53]
    report_path: /var/tmp/nolisting-audit.json
    candidates_path: /var/tmp/allowlist-candidates.txt
  delegate_to: localhost
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

import concurrent.futures
import ipaddress
import os
import tempfile
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mailsec.mx.plugins.module_utils._audit import (
    AuditError,
    add_reverse_dns,
    candidates_text,
    join,
    link_by_name,
    metrics_text,
    public_report,
    report_json,
    report_lines,
    summarize,
    timestamp,
)
from ansible_collections.mailsec.mx.plugins.module_utils._values import check_text

DNS_IMPORT_ERROR = None
try:
    import dns.exception
    import dns.resolver
    import dns.reversename
except ImportError:
    dns = None
    DNS_IMPORT_ERROR = traceback.format_exc()

# Reverse look-ups run side by side: one slow or silent resolver answer must not stall a thousand others.
LOOKUP_WORKERS = 16


def make_resolver(resolvers, port, timeout):
    resolver = dns.resolver.Resolver(configure=not resolvers)
    if resolvers:
        resolver.nameservers = list(resolvers)
    resolver.port = port
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


# A hostile reverse zone may list many names: only this many are confirmed, within the one deadline.
MAX_PTR_NAMES = 5


def confirmed_name(resolver, address, timeout):
    """(status, name) of one address: its PTR, confirmed when the name's A/AAAA include the address.

    One deadline of ``timeout`` seconds covers every query made for the address.
    """
    deadline = time.monotonic() + timeout

    def ask(name, rtype):
        left = deadline - time.monotonic()
        if left <= 0:
            raise dns.exception.Timeout()
        return resolver.resolve(name, rtype, lifetime=left)

    try:
        answer = ask(dns.reversename.from_address(address), "PTR")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return "none", None
    except (dns.exception.DNSException, OSError):
        return "error", None
    names = sorted(rdata.target.to_text() for rdata in answer)[:MAX_PTR_NAMES]
    version = ipaddress.ip_address(address).version
    for name in names:
        try:
            forward = ask(name, "A" if version == 4 else "AAAA")
        except (dns.exception.DNSException, OSError):
            continue
        if any(ipaddress.ip_address(rdata.address) == ipaddress.ip_address(address) for rdata in forward):
            return "confirmed", check_text("PTR", name.rstrip("."))
    return "unconfirmed", check_text("PTR", names[0].rstrip(".")) if names else None


def resolve_all(resolver, timeout):
    def resolve(addresses):
        with concurrent.futures.ThreadPoolExecutor(max_workers=LOOKUP_WORKERS) as pool:
            return dict(zip(addresses, pool.map(lambda address: confirmed_name(resolver, address, timeout), addresses)))
    return resolve


def write_atomically(module, path, text):
    """Replace ``path`` with ``text`` in one rename; the directory must exist."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".mx_audit.")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    module.atomic_move(temporary, path)


def record_time(refused):
    """The longest time the dead primaries remember a source, as nolisting_sources read it; a week when unknown."""
    times = [item.get("record_time") for item in refused if isinstance(item.get("record_time"), (int, float))]
    return int(max(times)) if times else 604800


def check_params(params):
    """Every option checked before anything is looked up or written; a list of problems."""
    problems = []
    for number, server in enumerate(params["resolvers"], start=1):
        option = "resolvers[%d]" % number
        try:
            check_text(option, server)
            ipaddress.ip_address(server)
        except ValueError as exc:
            problems.append(str(exc) if "control" in str(exc) else "%s: %r is not an IP address" % (option, server))
    for option, low in (("window", 0), ("clock_slack", 0), ("ptr_limit", 0), ("lines", 0), ("period", 1), ("dns_timeout", 0.001)):
        if params[option] is not None and params[option] < low:
            problems.append("%s must be at least %s, not %s" % (option, low, params[option]))
    if not 1 <= params["resolver_port"] <= 65535:
        problems.append("resolver_port must be from 1 to 65535, not %s" % params["resolver_port"])
    for option in ("report_path", "candidates_path"):
        path = params[option]
        if path is None:
            continue
        try:
            check_text(option, path)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            problems.append("%s: the directory of %s does not exist" % (option, path))
    return problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            refused=dict(type="list", elements="dict", required=True),
            arrivals=dict(type="list", elements="dict", required=True),
            window=dict(type="float", default=3600),
            clock_slack=dict(type="float", default=5),
            period=dict(type="int"),
            resolvers=dict(type="list", elements="str", default=[]),
            resolver_port=dict(type="int", default=53),
            dns_timeout=dict(type="float", default=3),
            ptr_limit=dict(type="int", default=1000),
            report_path=dict(type="path"),
            candidates_path=dict(type="path"),
            lines=dict(type="int", default=20),
            return_sources=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    problems = check_params(params)
    if problems:
        module.fail_json(msg="; ".join(problems) + "; nothing was looked up or written")
    if params["ptr_limit"] and dns is None:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=DNS_IMPORT_ERROR)
    try:
        report = join(params["refused"], params["arrivals"], params["window"], params["clock_slack"])
    except (AuditError, ValueError) as exc:
        module.fail_json(msg="%s; nothing was looked up or written" % exc)
    if params["ptr_limit"]:
        resolver = make_resolver(params["resolvers"], params["resolver_port"], params["dns_timeout"])
        add_reverse_dns(report, resolve_all(resolver, params["dns_timeout"]), params["ptr_limit"])
        link_by_name(report)
    now = time.time()
    generated = timestamp(now)
    summary = summarize(report, params["period"] or record_time(params["refused"]))
    document = public_report(report, summary, generated, params["window"])
    written = []
    if not module.check_mode:
        if params["report_path"]:
            write_atomically(module, params["report_path"], report_json(document))
            written.append(params["report_path"])
        if params["candidates_path"]:
            write_atomically(module, params["candidates_path"], candidates_text(report, generated))
            written.append(params["candidates_path"])
    result = dict(changed=bool(params["report_path"] or params["candidates_path"]), summary=report_lines(report, summary, params["lines"]),
                  counts=summary, metrics=metrics_text(summary, now), written=written)
    if params["return_sources"]:
        result["sources"] = document["sources"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
