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
  - With O(domains), verifies many domains in one run (each DNS question asked once, each address probed once), returns
    every domain's checks and a summary that stays short for thousands of domains, and fails at the end naming the
    domains that failed.
options:
  layout:
    description:
      - The MX layout (see the mailsec.mx.mx_problems filter); it is checked first.
      - Required with O(zone); with O(domains), the layout of every entry that has none of its own.
    type: list
    elements: dict
  zone:
    description:
      - The zone; the MX owner defaults to its apex.
      - One of O(zone) and O(domains) is required.
    type: str
  name:
    description: Owner of the MX RRset; default the zone apex. Only with O(zone).
    type: str
  domains:
    description:
      - Many domains in one run, instead of O(zone), O(name) - a list of V({zone, name, layout}) - V(name) is the MX
        owner (default the zone apex), V(layout) the domain's layout (default O(layout)).
      - Every entry is checked first; any bad entry fails the module naming all of them, before anything is looked up
        or probed. Two entries must not have the same MX owner.
      - Each DNS question is asked once however many domains need it (a host name shared by many domains is looked up
        once), over one TCP connection with many queries in flight.
      - Each distinct address is probed once, however many domains list it, in the order the domains' probe plans
        first reach it, strictly one after the other; an address that some domain's layout makes a trap is probed
        only after an address of that trap host's own MXes (the primary or a backstop of such a domain) took a
        connection in this run. Every domain's checks then use that one result, against the domain's own role for
        the address.
      - A domain whose MX RRset or in-zone host gets no answer fails with a V(lookup) check; the other domains go on.
    type: list
    elements: dict
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
  report_path:
    description:
      - Write the result as JSON to this file on the host that runs the module (the directory must exist) - with
        O(zone), V({zone, ok, checks}) (indented); with O(domains), V({ok, domains_ok, domains_failed, probes,
        domains}), one domain per line. Written once the lookups ran, also when checks fail (not when an option is
        invalid - then nothing is looked up), replaced atomically, mode 0644.
      - Written here rather than by a task after the module, so thousands of domains' checks never go through a
        template.
      - Not written in check mode. A report is output, not state - the module still reports no change.
    type: path
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

- name: Verify many domains that share their MX hosts, each address probed once
  mailsec.mx.mx_verify:
    layout: "{{ mx_layout }}"
    domains:
      - zone: example.org
      - zone: example.net
      - zone: example.com
        layout: "{{ example_com_layout }}"
    nameservers: [198.51.100.53]
  delegate_to: localhost
  register: verify_all
"""

RETURN = r"""
checks:
  description:
    - Every check - check, target, expected, observed, ok, hint (what to fix). The probes' checks come last, in the
      order the addresses were probed.
    - A probe's observed value is an outcome of M(mailsec.mx.smtp_probe), or V(not probed) for a trap reached
      before any address of the primary or a backstop took a connection.
  returned: with O(zone)
  type: list
  elements: dict
table:
  description:
    - With O(zone), the checks as printable lines, failures last with what to fix.
    - With O(domains), a summary - domains passed and failed, the DNS questions asked, one line per address probed
      (its outcome and the roles the domains give it), then every distinct failure in full, with the domains that
      have it (the first 20 named, the rest counted).
  returned: always
  type: list
  elements: str
ok:
  description: Whether every check (of every domain) passed.
  returned: always
  type: bool
domains:
  description:
    - Per domain, in the order given - zone, owner (of the MX RRset), ok, checks (as RV(checks) of the one-domain
      form; a V(lookup) check when a name got no answer).
  returned: with O(domains)
  type: list
  elements: dict
domains_ok:
  description: The zones whose every check passed.
  returned: with O(domains)
  type: list
  elements: str
domains_failed:
  description: The zones with a failed check.
  returned: with O(domains)
  type: list
  elements: str
problems:
  description: Each bad entry of O(domains) - index, zone (V(null) when it could not be read), problem.
  returned: when entries of O(domains) are invalid (nothing was looked up or probed)
  type: list
  elements: dict
probes:
  description: Each address probed, once - address, port, outcome, latency, greeting, error, received (see M(mailsec.mx.smtp_probe)).
  returned: with O(domains) and O(probe)
  type: list
  elements: dict
"""

import ipaddress
import json
import os
import tempfile
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mailsec.mx.plugins.module_utils._layout import LayoutError, layout_rdata, normalize_host, ordered_layout
from ansible_collections.mailsec.mx.plugins.module_utils._smtp import probe
from ansible_collections.mailsec.mx.plugins.module_utils._values import check_text
from ansible_collections.mailsec.mx.plugins.module_utils._verify import check, check_addresses, check_mx, probe_plan, run_probes, table
from ansible_collections.mailsec.mx.plugins.module_utils._verify_domains import (
    DomainsError,
    PipelinedLookup,
    check_domains,
    failure_message,
    questions,
    summary,
    verify_domains,
)

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


def verify_many(params, domains, lookup, connect=None):
    """Every domain's lookups first (each question once), then each address's probe once; see _verify_domains."""
    asked = questions(domains)
    answers = lookup.answer_all(asked)
    if params["probe"] and connect is None:
        def connect(address):
            return probe(address, 25, params["timeout"], params["source"])
    verified, probes = verify_domains(domains, answers, connect if params["probe"] else None)
    return verified, probes, len(asked)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            layout=dict(type="list", elements="dict"),
            zone=dict(type="str"),
            name=dict(type="str"),
            # Entries are checked by check_domains, which names every bad one at once (and is fast for 10,000).
            domains=dict(type="list", elements="dict"),
            nameservers=dict(type="list", elements="str", required=True),
            port=dict(type="int", default=53),
            timeout=dict(type="float", default=5.0),
            probe=dict(type="bool", default=True),
            source=dict(type="str"),
            report_path=dict(type="path"),
        ),
        mutually_exclusive=[("zone", "domains"), ("name", "domains")],
        required_one_of=[("zone", "domains")],
        required_by={"zone": ("layout",)},
        supports_check_mode=True,
    )
    if dns is None:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=DNS_IMPORT_ERROR)
    params = module.params
    if params["domains"] is not None:
        verify_domains_main(module)
        return
    try:
        records = ordered_layout(params["layout"])
        zone = normalize_host(check_text("zone", params["zone"]))
        owner = normalize_host(check_text("name", params["name"] or params["zone"]))
    except (LayoutError, ValueError) as exc:
        module.fail_json(msg="the layout or name is invalid: %s" % exc)
    check_nameservers(module)
    try:
        results = verify(params, records, owner, zone, Lookup(params["nameservers"], params["port"], params["timeout"]))
    except LookupError as exc:
        write_report(module, {"zone": params["zone"], "ok": False, "checks": []})
        module.fail_json(msg=str(exc))
    lines = table(results)
    failed = [result for result in results if not result["ok"]]
    write_report(module, {"zone": params["zone"], "ok": not failed, "checks": results})
    if failed:
        module.fail_json(msg="%d of %d checks failed: %s" % (len(failed), len(results), "; ".join(
            "%s %s: %s" % (result["check"], result["target"], result["hint"]) for result in failed)),
            checks=results, table=lines, ok=False)
    module.exit_json(changed=False, checks=results, table=lines, ok=True)


def write_report(module, report):
    """``report`` as JSON into report_path (not in check mode): a temporary file beside it, then renamed over it.

    One domain: indented with sorted keys, as the mx_verify role wrote it with to_nice_json. Many: one domain a line.
    """
    path = module.params["report_path"]
    if not path or module.check_mode:
        return
    if "domains" in report:
        head = ",\n".join('"%s": %s' % (key, json.dumps(report[key], sort_keys=True)) for key in ("ok", "domains_ok", "domains_failed", "probes"))
        text = "{%s,\n\"domains\": [\n%s\n]}\n" % (head, ",\n".join(json.dumps(domain, sort_keys=True) for domain in report["domains"]))
    else:
        text = json.dumps(report, indent=4, sort_keys=True, separators=(",", ": "), ensure_ascii=False) + "\n"
    directory = os.path.dirname(os.path.abspath(path))
    try:
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".mx_verify.")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as report_file:
                report_file.write(text)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except (OSError, ValueError) as exc:
        module.fail_json(msg="cannot write the report %s: %s" % (path, exc))


def check_nameservers(module):
    """Fail on a name server that cannot be asked, or a report that could not be written, before any traffic."""
    problems = [_nameserver_problem("nameservers[%d]" % number, server) for number, server in enumerate(module.params["nameservers"], start=1)]
    problems.append(_report_path_problem(module.params["report_path"]))
    problem = next((problem for problem in problems if problem), None)
    if problem:
        module.fail_json(msg="%s; nothing was looked up or probed" % problem)


def _report_path_problem(path):
    """Why the report cannot be written to ``path`` (checked before any traffic), or None."""
    if not path:
        return None
    try:
        check_text("report_path", path)
    except ValueError as exc:
        return str(exc)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return "report_path: %s: the directory %s does not exist" % (path, directory)
    if os.path.isdir(path):
        return "report_path: %s is a directory; give a file name" % path
    return None


def verify_domains_main(module):
    """The many-domain form: every entry checked, then one run over all of them; fails at the end naming the failed."""
    params = module.params
    try:
        domains = check_domains(params["domains"], params["layout"])
    except DomainsError as exc:
        module.fail_json(msg=str(exc), problems=exc.problems)
    check_nameservers(module)
    lookup = PipelinedLookup(params["nameservers"], params["port"], params["timeout"])
    verified, probes, asked = verify_many(params, domains, lookup)
    result = dict(
        changed=False,
        ok=all(domain["ok"] for domain in verified),
        domains=verified,
        domains_ok=[domain["zone"] for domain in verified if domain["ok"]],
        domains_failed=[domain["zone"] for domain in verified if not domain["ok"]],
        table=summary(verified, probes, asked),
        probes=list(probes.values()),
    )
    write_report(module, {key: result[key] for key in ("ok", "domains_ok", "domains_failed", "probes", "domains")})
    if not params["probe"]:
        del result["probes"]
    # The arguments as given would come back in full (10,000 entries with their layouts): the controller would decode
    # them again for nothing. The invocation names how many entries there were instead.
    result["invocation"] = {"module_args": dict(params, domains="%d entries" % len(params["domains"]))}
    if not result["ok"]:
        module.fail_json(msg=failure_message(verified), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
