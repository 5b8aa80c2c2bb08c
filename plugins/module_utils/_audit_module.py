# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the mx_audit module does, once, for its two ways to run: the action plugin on the controller (which keeps
100,000 sources out of a module's JSON round trip) and the module itself.

``run(params, check_mode)`` takes validated options (``ARGUMENT_SPEC``) and returns the result; a bad input raises
``AuditError`` before anything is looked up or written.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import os
import tempfile
import time
import traceback

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

ARGUMENT_SPEC = dict(
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
)


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


def write_atomically(path, text):
    """Replace ``path`` with ``text`` in one rename (a reader sees the old file or the new one, never half of one),
    keeping the mode of the file it replaces (0644 for a new one); the directory must exist."""
    path = os.path.abspath(os.path.expanduser(path))
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".mx_audit.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


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


def run(params, check_mode):
    """The module's result for validated ``params``; AuditError (nothing looked up or written) on a bad input."""
    problems = check_params(params)
    if problems:
        raise AuditError("; ".join(problems) + "; nothing was looked up or written")
    if params["ptr_limit"] and dns is None:
        raise AuditError("the reverse DNS look-ups need dnspython on the controller (or ptr_limit: 0): %s" % DNS_IMPORT_ERROR)
    try:
        report = join(params["refused"], params["arrivals"], params["window"], params["clock_slack"])
    except ValueError as exc:
        raise AuditError("%s; nothing was looked up or written" % exc) from None
    if params["ptr_limit"]:
        resolver = make_resolver(params["resolvers"], params["resolver_port"], params["dns_timeout"])
        add_reverse_dns(report, resolve_all(resolver, params["dns_timeout"]), params["ptr_limit"])
        link_by_name(report)
    now = time.time()
    generated = timestamp(now)
    summary = summarize(report, params["period"] or record_time(params["refused"]))
    lines = report_lines(report, summary, params["lines"])
    candidates = candidates_text(report, generated) if params["candidates_path"] else None
    document = public_report(report, summary, generated, params["window"])
    written = []
    if not check_mode:
        if params["report_path"]:
            write_atomically(params["report_path"], report_json(document))
            written.append(params["report_path"])
        if params["candidates_path"]:
            write_atomically(params["candidates_path"], candidates)
            written.append(params["candidates_path"])
    result = dict(changed=bool(params["report_path"] or params["candidates_path"]), summary=lines, counts=summary,
                  metrics=metrics_text(summary, now), written=written)
    if params["return_sources"]:
        result["sources"] = document["sources"]
    return result
