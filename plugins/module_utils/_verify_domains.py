# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verification of many domains in one run (mx_verify's ``domains``): each question asked once, each address probed once.

A hosting provider's domains share their MX hosts, so 10,000 domains are 10,000 MX RRsets but only a handful of host
names and addresses. The work is split so that none of it is repeated:

- ``check_domains``: every entry checked before any traffic (all bad entries in one error); a layout shared by many
  domains is checked once.
- ``questions``: the DNS questions of all domains, each once (an MX per owner, A, AAAA and CNAME per host name);
  ``PipelinedLookup`` asks them over one TCP connection with many queries in flight.
- ``probe_order`` and ``probe_all``: every distinct address once, one after the other, keeping ``_verify``'s rule that
  a trap is connected to only after one of its host's own MX addresses took a connection in this run.
- ``domain_checks``: each domain's checks from the shared answers and probe results, against its own layout's roles,
  in the order and form the one-domain verification gives them (``_verify.run_probes`` on the recorded results).
- ``summary``: a table that stays short for 10,000 domains (failures in full, passes counted).

Everything but ``PipelinedLookup`` and the ``connect`` callable is pure, so unit tests feed it observations.
"""

from __future__ import annotations

import json
import secrets
import select
import socket
import struct

from ansible_collections.mailsec.mx.plugins.module_utils._layout import LayoutError, layout_rdata, normalize_host, ordered_layout
from ansible_collections.mailsec.mx.plugins.module_utils._values import check_text
from ansible_collections.mailsec.mx.plugins.module_utils._verify import (
    CONNECTED,
    NOT_PROBED,
    check,
    check_addresses,
    check_mx,
    own_mx_addresses,
    probe_plan,
    run_probes,
)

try:
    import dns.exception
    import dns.flags
    import dns.name
    import dns.opcode
    import dns.rcode
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.wire
except ImportError:  # the module reports the missing library before anything here runs
    dns = None

# An entry of mx_domains as harden_mx.yml passes it: a file provider's path and Route 53's hosted zone id are the
# publishing's, not verification's, and are taken and left alone.
ENTRY_KEYS = ("zone", "name", "layout", "path", "hosted_zone_id")
ADDRESS_TYPES = ("A", "AAAA", "CNAME")
# How many zones a message or a summary line names before it counts the rest.
SHOWN_ZONES = 20
# Distinct failures the failure message spells out (the table has them all).
SHOWN_FAILURES = 5
# Queries in flight on one connection: enough to hide the round trip, few enough that neither side's socket buffer
# fills (a server that cannot write its answers stops reading questions).
WINDOW = 128
LOOKUP_HINT = "the name servers gave no usable answer: check nameservers and port, and that they serve this name"
CONFLICT_HINT = ("not probed: another domain's layout makes this address a trap, and no address of that trap host's own "
                 "MXes took a connection first (the trap firewall would record this controller)")


class DomainsError(ValueError):
    """Entries of ``domains`` that cannot be verified; ``problems`` lists each as {index, zone, problem}."""

    def __init__(self, message, problems):
        super().__init__(message)
        self.problems = problems


# --- the entries --------------------------------------------------------------------------------------------------

def check_domains(entries, default_layout=None):
    """The domains to verify, each {index, zone, owner, records, rdata}; raise DomainsError naming every bad entry.

    An entry is {zone, name (optional: the zone apex), layout (optional: ``default_layout``)}. Each distinct layout
    is checked once, however many entries share it.
    """
    if not isinstance(entries, (list, tuple)) or not entries:
        raise DomainsError("domains: give a non-empty list of entries, each with zone (and name, layout)", [])
    layouts = {}
    domains, problems, owners = [], [], {}
    for index, entry in enumerate(entries):
        where = "domains[%d]" % index
        if not isinstance(entry, dict):
            problems.append(_problem(index, None, "%s: is a %s, not a mapping of zone, name and layout" % (where, type(entry).__name__)))
            continue
        unknown = sorted(str(key) for key in entry if key not in ENTRY_KEYS)
        if unknown:
            problems.append(_problem(index, None, "%s: unknown key(s) %s; an entry has zone, name, layout (path, hosted_zone_id)"
                                     % (where, ", ".join(unknown))))
            continue
        try:
            zone = _name("%s.zone" % where, entry.get("zone"))
            owner = _name("%s.name" % where, entry["name"]) if entry.get("name") not in (None, "") else zone
        except ValueError as exc:
            problems.append(_problem(index, None, str(exc)))
            continue
        layout = entry.get("layout")
        if layout is None:
            layout = default_layout
        if layout is None:
            problems.append(_problem(index, zone, "%s (%s): no layout, and the module's layout option is not set" % (where, zone)))
            continue
        checked = _checked_layout(layouts, layout)
        if isinstance(checked, str):
            problems.append(_problem(index, zone, "%s (%s): %s" % (where, zone, checked)))
            continue
        if owner in owners:
            problems.append(_problem(index, zone, "%s (%s): the MX owner %s is listed already, at domains[%d]" % (where, zone, owner, owners[owner])))
            continue
        owners[owner] = index
        domains.append({"index": index, "zone": zone, "owner": owner, "records": checked[0], "rdata": checked[1]})
    if problems:
        raise DomainsError("%d of %d entries of domains cannot be verified; nothing was looked up or probed:\n%s" % (
            len(problems), len(entries), "\n".join(_grouped_problems(problems))), problems)
    return domains


def _problem(index, zone, text):
    return {"index": index, "zone": zone, "problem": text}


def _name(option, value):
    if value is None or value == "":
        raise ValueError("%s: is missing; give the domain's name" % option)
    check_text(option, value)
    try:
        return normalize_host(value)
    except ValueError as exc:
        raise ValueError("%s: %r %s" % (option, value, exc)) from None


def _checked_layout(cache, layout):
    """(ordered records, MX rdata) of ``layout``, or why it is invalid; each distinct layout is checked once."""
    try:
        key = json.dumps(layout, sort_keys=True)
    except (TypeError, ValueError):
        key = None
    if key is not None and key in cache:
        return cache[key]
    try:
        checked = (ordered_layout(layout), layout_rdata(layout))
    except LayoutError as exc:
        checked = str(exc)
    if key is not None:
        cache[key] = checked
    return checked


def _grouped_problems(problems):
    """One line per problem; entries that share a layout error are named together (up to SHOWN_ZONES, then counted)."""
    lines, shared = [], {}
    for problem in problems:
        text = problem["problem"]
        # "domains[N] (zone): <the layout's errors>" - the same layout errors for many entries are shown once.
        head, separator, rest = text.partition("): ")
        if separator and problem["zone"] is not None and "\n" in rest:
            shared.setdefault(rest, []).append(head + ")")
        else:
            lines.append("- " + text)
    for rest, heads in shared.items():
        lines.append("- %s: %s" % (_named(heads), rest))
    return lines


def _named(names, shown=SHOWN_ZONES):
    if len(names) <= shown:
        return ", ".join(names)
    return "%s and %d more" % (", ".join(names[:shown]), len(names) - shown)


# --- DNS ----------------------------------------------------------------------------------------------------------

def questions(domains):
    """Every (name, type) the domains need answered, each once: the MX of each owner, then A, AAAA, CNAME per host."""
    wanted = dict.fromkeys((domain["owner"], "MX") for domain in domains)
    for domain in domains:
        for record in domain["records"]:
            if record["host"] != ".":
                wanted.update(dict.fromkeys((record["host"], rtype) for rtype in ADDRESS_TYPES))
    return list(wanted)


def _in_zone(name, zone):
    return name == zone or name.endswith("." + zone)


def domain_lookups(domain, answers):
    """(checks, targets) of one domain from the shared ``answers`` ({(name, type): values or LookupError}).

    The checks and targets are those of the one-domain verification (see mx_verify.verify); where that one stops the
    run because a name in the zone got no answer, this fails the domain with a ``lookup`` check and goes on.
    """
    owner, zone = domain["owner"], domain["zone"]
    published_mx = answers[(owner, "MX")]
    if isinstance(published_mx, LookupError):
        results = [check("lookup", "%s MX" % owner, "an answer", str(published_mx), LOOKUP_HINT)]
    else:
        results = [check_mx(owner, domain["rdata"], published_mx)]
    targets = []
    for record in domain["records"]:
        host = record["host"]
        if host == ".":
            continue
        found = [answers[(host, rtype)] for rtype in ADDRESS_TYPES]
        failed = next((answer for answer in found if isinstance(answer, LookupError)), None)
        if failed is not None:
            if _in_zone(host, zone):
                results.append(check("lookup", "%s A/AAAA" % host, "an answer", str(failed), LOOKUP_HINT))
            else:
                results.append(check("resolves", host, "outside the zone", "outside the zone",
                                     "not looked up: the name servers given do not answer for it"))
            continue
        published, cname = found[0] + found[1], found[2]
        results.extend(check_addresses(record, published, cname))
        targets.append((record, published))
    return results, targets


class PipelinedLookup:
    """Many DNS questions over TCP, many in flight on one connection to the first name server that answers.

    Answers are matched to questions by id and question (a server may answer pipelined queries in any order). A
    question the server does not answer cleanly - the connection closes or stalls before its answer, the answer is
    truncated, malformed, or has an rcode other than NOERROR or NXDOMAIN - goes to the next name server, as the
    one-domain lookup does; with none left it gets a LookupError naming each server's error. A connection that closes
    after answering some questions is opened again for the rest.
    """

    def __init__(self, nameservers, port, timeout, window=WINDOW):
        self.nameservers = nameservers
        self.port = port
        self.timeout = timeout
        self.window = window

    def answer_all(self, wanted):
        """{(name, type): sorted values, lower case, or a LookupError} for every question of ``wanted``."""
        answers, errors = {}, {question: [] for question in wanted}
        pending = list(wanted)
        for server in self.nameservers:
            if not pending:
                break
            for question, outcome in self._ask(server, pending).items():
                if isinstance(outcome, str):
                    errors[question].append("%s: %s" % (server, outcome))
                else:
                    answers[question] = outcome
            pending = [question for question in pending if question not in answers]
        for name, rtype in pending:
            answers[(name, rtype)] = LookupError("no name server answered %s %s (%s)" % (name, rtype, "; ".join(errors[(name, rtype)])))
        return answers

    def _ask(self, server, pending):
        """{question: values or an error text} from one server; reconnects while a connection still makes progress."""
        outcomes = {}
        left = list(pending)
        while left:
            try:
                connection = socket.create_connection((server, self.port), timeout=self.timeout)
            except OSError as exc:
                outcomes.update((question, str(exc)) for question in left)
                break
            before = len(outcomes)
            with connection:
                stopped = self._pipeline(connection, left, outcomes)
            left = [question for question in left if question not in outcomes]
            # A connection that settled nothing would be opened again and again.
            if left and len(outcomes) == before:
                outcomes.update((question, stopped or "no answer") for question in left)
        return outcomes

    def _pipeline(self, connection, questions_left, outcomes):
        """Send ``questions_left`` with at most ``window`` in flight and record their outcomes; return why it stopped
        early ("" when every question was settled)."""
        connection.settimeout(self.timeout)
        in_flight = {}
        queue = iter(questions_left)
        buffer = b""
        exhausted = False
        next_id = secrets.randbelow(0x10000)
        while True:
            batch = []
            while not exhausted and len(in_flight) < self.window:
                question = next(queue, None)
                if question is None:
                    exhausted = True
                    break
                while next_id in in_flight:
                    next_id = (next_id + 1) & 0xFFFF
                query = Query(next_id, question)
                in_flight[next_id] = query
                next_id = (next_id + 1) & 0xFFFF
                batch.append(query.wire)
            if batch:
                try:
                    connection.sendall(b"".join(batch))
                except OSError as exc:
                    return str(exc)
            if not in_flight:
                return ""
            try:
                ready, dummy, dummy = select.select([connection], [], [], self.timeout)
                chunk = connection.recv(65536) if ready else None
            except OSError as exc:
                return str(exc)
            if chunk is None:
                return "no answer within %s s" % self.timeout
            if not chunk:
                return "the server closed the connection"
            buffer += chunk
            while len(buffer) >= 2:
                length = struct.unpack("!H", buffer[:2])[0]
                if len(buffer) < 2 + length:
                    break
                wire, buffer = buffer[2:2 + length], buffer[2 + length:]
                query = in_flight.get(struct.unpack("!H", wire[:2])[0]) if len(wire) >= 2 else None
                outcome = query.outcome(wire) if query is not None else None
                # Anything that does not answer a question in flight is dropped: its question is asked again.
                if outcome is not None:
                    del in_flight[query.id]
                    outcomes[query.question] = outcome


class Query:
    """One question on the wire (recursion desired, no EDNS: what dns.message.make_query sends) and how to read its
    answer - the header, the question and the answer section only, which is most of the speed: the authority and
    additional sections, which the checks never read, are not parsed."""

    __slots__ = ("id", "question", "qname", "qtype", "wire")

    def __init__(self, query_id, question):
        self.id = query_id
        self.question = question
        self.qname = dns.name.from_text(question[0])
        self.qtype = dns.rdatatype.from_text(question[1])
        message = struct.pack("!HHHHHH", query_id, dns.flags.RD, 1, 0, 0, 0) + self.qname.to_wire() + struct.pack(
            "!HH", self.qtype, dns.rdataclass.IN)
        self.wire = struct.pack("!H", len(message)) + message

    def outcome(self, wire):
        """The sorted values (lower case, as rdata text) of the answer ``wire``, an error text (truncated, an rcode
        other than NOERROR and NXDOMAIN, malformed), or None when ``wire`` does not answer this question."""
        parser = dns.wire.Parser(wire)
        try:
            ident, flags, qdcount, ancount, dummy, dummy = parser.get_struct("!HHHHHH")
            if (ident != self.id or not flags & dns.flags.QR or dns.opcode.from_flags(flags) != dns.opcode.QUERY
                    or qdcount != 1):
                return None
            qname = parser.get_name(None, True)
            qtype, qclass = parser.get_struct("!HH")
        except dns.exception.DNSException:
            return None
        if qname != self.qname or qtype != self.qtype or qclass != dns.rdataclass.IN:
            return None
        if flags & dns.flags.TC:
            return "truncated answer"
        rcode = dns.rcode.from_flags(flags, 0)
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return dns.rcode.to_text(rcode)
        values = []
        try:
            for dummy in range(ancount):
                parser.get_name(None, True)
                rtype, rclass, dummy, length = parser.get_struct("!HHIH")
                with parser.restrict_to(length):
                    if rtype == self.qtype and rclass == dns.rdataclass.IN:
                        values.append(dns.rdata.from_wire_parser(rclass, rtype, parser).to_text().lower())
                    else:
                        parser.get_bytes(length)
        except dns.exception.DNSException as exc:
            return "malformed answer (%s)" % exc
        return sorted(values)


# --- the probes ---------------------------------------------------------------------------------------------------

def probe_order(plans):
    """The distinct addresses of every domain's probe plan ([(record, address)], _verify.probe_plan), in the order
    they first appear, and for each address that some domain's layout makes a trap, its guard: the own MX addresses
    (_verify.own_mx_addresses) of every domain that makes it one."""
    order, guards = {}, {}
    for records, plan in plans:
        own = None
        for record, address in plan:
            order.setdefault(address, None)
            if record["role"] == "trap":
                if own is None:
                    own = own_mx_addresses(records)
                guards.setdefault(address, set()).update(own)
    return list(order), guards


def probe_all(order, guards, connect):
    """Probe each address of ``order`` once, strictly one after the other; return {address: probe result}.

    A guarded address (a trap in some domain) is connected to only once an address of its guard took a connection in
    this run; one whose guard is not met yet where it first appears waits until every other address was probed, and is
    left out if its guard is still not met then (so the trap firewall never records this controller).
    """
    results, connected, waiting = {}, set(), []
    for address in order:
        if address in guards and not guards[address] & connected:
            waiting.append(address)
            continue
        _probe_once(address, connect, results, connected)
    for address in waiting:
        if guards[address] & connected:
            _probe_once(address, connect, results, connected)
    return results


def _probe_once(address, connect, results, connected):
    result = connect(address)
    results[address] = result
    if result["outcome"] in CONNECTED:
        connected.add(address)


def domain_probe_checks(records, plan, results):
    """The probe checks of one domain, as _verify.run_probes gives them, from the run's shared ``results``."""
    def recorded(address):
        if address in results:
            return results[address]
        return {"address": address, "outcome": NOT_PROBED, "latency": None, "greeting": ""}

    checks = run_probes(plan, recorded, records)
    for result in checks:
        # A non-trap address of this domain left out because another domain makes it a trap.
        if result["observed"] == NOT_PROBED and result["check"] != "smtp-trap":
            result["hint"] = CONFLICT_HINT
    return checks


# --- the whole run ------------------------------------------------------------------------------------------------

def verify_domains(domains, answers, connect=None):
    """Every domain's {zone, owner, ok, checks} and the probe results by address ({} without ``connect``).

    ``answers`` holds every question of ``questions(domains)``; ``connect(address)`` probes one address (see
    _smtp.probe), or None to check DNS only.
    """
    looked_up = [domain_lookups(domain, answers) for domain in domains]
    plans = [(domain["records"], probe_plan(targets)) for domain, (dummy, targets) in zip(domains, looked_up)]
    results = {}
    if connect is not None:
        order, guards = probe_order(plans)
        results = probe_all(order, guards, connect)
    verified = []
    for domain, (checks, dummy), (records, plan) in zip(domains, looked_up, plans):
        if connect is not None:
            checks = checks + domain_probe_checks(records, plan, results)
        verified.append({"zone": domain["zone"], "owner": domain["owner"], "ok": all(result["ok"] for result in checks), "checks": checks})
    return verified, results


def probe_roles(domains_verified):
    """{address: {(role, ok): number of domains}} from the domains' probe checks."""
    roles = {}
    for domain in domains_verified:
        for result in domain["checks"]:
            if result["check"].startswith("smtp-"):
                address = result["target"].rsplit(" ", 1)[1]
                key = (result["check"][len("smtp-"):], result["ok"])
                counts = roles.setdefault(address, {})
                counts[key] = counts.get(key, 0) + 1
    return roles


def failures(domains_verified):
    """The distinct failed checks, in the order first met: [(check, [zones that have it])].

    A failure shared by many domains (the same check, target and observation: a shared MX host that does not
    answer) is one entry naming them all."""
    grouped = {}
    for domain in domains_verified:
        for result in domain["checks"]:
            if not result["ok"]:
                key = (result["check"], result["target"], _text(result["expected"]), _text(result["observed"]), result["hint"])
                grouped.setdefault(key, (result, []))[1].append(domain["zone"])
    return list(grouped.values())


def summary(domains_verified, probe_results, questions_asked=None):
    """Printable lines that stay short for 10,000 domains: counts, one line per address probed, every failure."""
    failed = [domain for domain in domains_verified if not domain["ok"]]
    lines = ["%d domains: %d passed, %d failed" % (len(domains_verified), len(domains_verified) - len(failed), len(failed))]
    if questions_asked is not None:
        lines.append("DNS: %d questions, each asked once" % questions_asked)
    if probe_results:
        roles = probe_roles(domains_verified)
        lines.append("probes: %d addresses, each probed once" % len(probe_results))
        rows = []
        for address, result in probe_results.items():
            counts = roles.get(address, {})
            bad = sum(number for (role, ok), number in counts.items() if not ok)
            uses = ", ".join("%s in %d" % (role, number) for role, number in _by_role(counts))
            rows.append(("FAIL" if bad else "OK", address, result["outcome"], uses))
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        lines.extend(("  %s  %s  %s  %s" % (row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2]), row[3])).rstrip()
                     for row in rows)
    for result, zones in failures(domains_verified):
        where = zones[0] if len(zones) == 1 else "%d domains: %s" % (len(zones), _named(zones))
        lines.append("FAIL %s %s (%s): expected %s, observed %s%s" % (
            result["check"], result["target"], where, _text(result["expected"]), _text(result["observed"]),
            ": " + result["hint"] if result["hint"] else ""))
    return lines


def _by_role(counts):
    roles = {}
    for (role, dummy), number in counts.items():
        roles[role] = roles.get(role, 0) + number
    return sorted(roles.items())


def failure_message(domains_verified):
    """The module's failure message: how many domains failed, which (the first SHOWN_ZONES), the first failures."""
    failed = [domain["zone"] for domain in domains_verified if not domain["ok"]]
    found = failures(domains_verified)
    shown = ["%s %s: %s" % (result["check"], result["target"], result["hint"] or "expected %s" % _text(result["expected"]))
             for result, dummy in found[:SHOWN_FAILURES]]
    more = " and %d more kinds of failure (see table)" % (len(found) - SHOWN_FAILURES) if len(found) > SHOWN_FAILURES else ""
    return "%d of %d domains failed: %s. %s%s" % (len(failed), len(domains_verified), _named(failed), "; ".join(shown), more)


def _text(value):
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "-"
    return "-" if value is None else str(value)
