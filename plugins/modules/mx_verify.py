#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mx_verify
short_description: Check a published MX layout as resolvers and senders see it
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Looks up the MX RRset and the addresses of every MX target through the given name servers and compares them with
    the layout - the MX values as a set, each target's A/AAAA, no CNAME.
  - Then connects to port 25 of every address, as a sender would - the dead primary must answer with a TCP reset
    (V(refused)), live MXes, the backstop and traps with a 2xx greeting. It never sends mail.
  - The probes are an orderly sender's - strictly one address after the other, never two at once, in MX preference
    order (lowest first; within a record, the addresses in layout order), after every DNS lookup. The trap firewall
    on the primary host records a sender that reaches a trap without having connected to the primary (or backstop)
    shortly before, so this order keeps the controller from being recorded, even from behind a NAT. A trap is
    probed only once an address of the primary (the lowest live record) or of a backstop took a connection in the
    same run; otherwise its check fails as V(not probed).
  - A hostile MX can neither stall nor balloon the run - see M(mailsec.mx.smtp_probe) for the limits
    (V(slow_greeting), V(oversized)).
  - Fails when any check fails, saying what to fix; returns the checks, a printable table and a report.
options:
  layout:
    description: The MX layout (see the mailsec.mx.mx_problems filter); it is checked first.
    type: list
    elements: dict
    required: true
  zone:
    description: The zone; the MX owner defaults to its apex.
    type: str
    required: true
  name:
    description: Owner of the MX RRset; default the zone apex.
    type: str
  nameservers:
    description: Addresses of the name servers to ask (the zone's authoritative servers, or a resolver).
    type: list
    elements: str
    required: true
  port:
    description: DNS port of the name servers.
    type: int
    default: 53
  timeout:
    description:
      - Seconds to wait for each DNS answer, and for each address probed (the connection and the whole greeting
        together, one deadline).
    type: float
    default: 5
  probe:
    description: Connect to port 25 of every address (V(false) checks DNS only).
    type: bool
    default: true
  source:
    description: Local address to probe from (not on the dead primary's allowlist, or the dead primary lets it through).
    type: str
attributes:
  check_mode:
    support: full
    details: It only looks and connects, so it runs in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
requirements:
  - dnspython >= 2.3
"""

EXAMPLES = r"""
- name: Verify what the world sees
  mailsec.mx.mx_verify:
    layout: "{{ mx_layout }}"
    zone: example.org
    nameservers: [198.51.100.53]
  delegate_to: localhost
  register: verify

- name: Show it
  ansible.builtin.debug:
    msg: "{{ verify.table }}"
"""

RETURN = r"""
checks:
  description:
    - Every check - check, target, expected, observed, ok, hint (what to fix). The probes' checks come last, in the
      order the addresses were probed.
    - A probe's observed value is an outcome of M(mailsec.mx.smtp_probe), or V(not probed) for a trap reached
      before any address of the primary or a backstop took a connection.
  returned: always
  type: list
  elements: dict
table:
  description: The checks as printable lines, failures last with what to fix.
  returned: always
  type: list
  elements: str
ok:
  description: Whether every check passed.
  returned: always
  type: bool
"""

import ipaddress
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mailsec.mx.plugins.module_utils._layout import LayoutError, layout_rdata, normalize_host, ordered_layout
from ansible_collections.mailsec.mx.plugins.module_utils._smtp import probe
from ansible_collections.mailsec.mx.plugins.module_utils._values import check_text
from ansible_collections.mailsec.mx.plugins.module_utils._verify import check, check_addresses, check_mx, probe_plan, run_probes, table

DNS_IMPORT_ERROR = None
try:
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
except ImportError:
    dns = None
    DNS_IMPORT_ERROR = traceback.format_exc()


class Lookup:
    """Queries to the first name server that answers, over TCP."""

    def __init__(self, nameservers, port, timeout):
        self.nameservers = nameservers
        self.port = port
        self.timeout = timeout

    def values(self, name, rtype):
        query = dns.message.make_query(name, rtype)
        errors = []
        for server in self.nameservers:
            try:
                response = dns.query.tcp(query, server, timeout=self.timeout, port=self.port)
            except (dns.exception.DNSException, OSError, EOFError) as exc:
                errors.append("%s: %s" % (server, exc))
                continue
            if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                errors.append("%s: %s" % (server, dns.rcode.to_text(response.rcode())))
                continue
            wanted = dns.rdatatype.from_text(rtype)
            return sorted(rdata.to_text().lower() for rrset in response.answer if rrset.rdtype == wanted for rdata in rrset)
        raise LookupError("no name server answered %s %s (%s)" % (name, rtype, "; ".join(errors)))

    def addresses(self, name, zone):
        """(A + AAAA values, CNAME values); None for a name outside ``zone`` that the servers will not answer."""
        try:
            return self.values(name, "A") + self.values(name, "AAAA"), self.values(name, "CNAME")
        except LookupError:
            if name == zone or name.endswith("." + zone):
                raise
            return None, []


def _nameserver_problem(option, server):
    """Why ``server`` cannot be asked (it is sent to as an address), or None."""
    try:
        check_text(option, server)
    except ValueError as exc:
        return str(exc)
    try:
        ipaddress.ip_address(server)
    except ValueError:
        return "%s: %r is not an IP address" % (option, server)
    return None


def verify(params, records, owner, zone, lookup, connect=None):
    """Every DNS lookup and check first, then the probes, in MX order (see _verify.probe_plan and run_probes)."""
    results = [check_mx(owner, layout_rdata(params["layout"]), lookup.values(owner, "MX"))]
    targets = []
    for record in records:
        if record["host"] == ".":
            continue
        published, cname = lookup.addresses(record["host"], zone)
        if published is None:
            results.append(check("resolves", record["host"], "outside the zone", "outside the zone",
                                 "not looked up: the name servers given do not answer for it"))
            continue
        results.extend(check_addresses(record, published, cname))
        targets.append((record, published))
    if params["probe"]:
        if connect is None:
            def connect(address):
                return probe(address, 25, params["timeout"], params["source"])
        results.extend(run_probes(probe_plan(targets), connect, records))
    return results


def main():
    module = AnsibleModule(
        argument_spec=dict(
            layout=dict(type="list", elements="dict", required=True),
            zone=dict(type="str", required=True),
            name=dict(type="str"),
            nameservers=dict(type="list", elements="str", required=True),
            port=dict(type="int", default=53),
            timeout=dict(type="float", default=5.0),
            probe=dict(type="bool", default=True),
            source=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    if dns is None:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=DNS_IMPORT_ERROR)
    params = module.params
    try:
        records = ordered_layout(params["layout"])
        zone = normalize_host(check_text("zone", params["zone"]))
        owner = normalize_host(check_text("name", params["name"] or params["zone"]))
    except (LayoutError, ValueError) as exc:
        module.fail_json(msg="the layout or name is invalid: %s" % exc)
    for number, server in enumerate(params["nameservers"], start=1):
        problem = _nameserver_problem("nameservers[%d]" % number, server)
        if problem:
            module.fail_json(msg="%s; nothing was looked up or probed" % problem)
    try:
        results = verify(params, records, owner, zone, Lookup(params["nameservers"], params["port"], params["timeout"]))
    except LookupError as exc:
        module.fail_json(msg=str(exc))
    lines = table(results)
    failed = [result for result in results if not result["ok"]]
    if failed:
        module.fail_json(msg="%d of %d checks failed: %s" % (len(failed), len(results), "; ".join(
            "%s %s: %s" % (result["check"], result["target"], result["hint"]) for result in failed)),
            checks=results, table=lines, ok=False)
    module.exit_json(changed=False, checks=results, table=lines, ok=True)


if __name__ == "__main__":
    main()
