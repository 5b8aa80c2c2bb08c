# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nolisting audit: who was refused at the dead primary, and which of them came back to a live MX.

The dead primary's firewall remembers each source it refused (first and last refusal, a count, the number of
separate days) and each live MX host remembers each source whose TCP handshake to port 25 completed (first and
last arrival, a count); ``mailsec.mx.nolisting_sources`` reads both.  This module joins them, per source:

- ``retried``: it reached a live MX while it was being refused or within ``window`` seconds after: a real MTA
  walking the MX list;
- ``gave_up``: it never did: a spam bot, or a crude sender that nolisting turns away - an allowlist candidate.

A reset needs no handshake, so anyone can put a forged source into the refused list; an arrival needs one.  The
audit is advisory: it never changes an allowlist.  Pure Python over plain values; the DNS look-ups (forward-
confirmed reverse DNS) take a ``resolve`` callable so tests and benchmarks can give their own.
"""

from __future__ import annotations

import json
import math
import socket
import time

from ansible_collections.mailsec.mx.plugins.module_utils._traps import SOURCE_TABLE_HEADER
from ansible_collections.mailsec.mx.plugins.module_utils._values import check_text

VERDICTS = ("retried", "gave_up")
# How far an arrival may precede the first refusal and still count as one walk: the two hosts' clocks, each
# host's listing time (a 100,000-element listing takes seconds, and its elements' ages are read against one
# moment) and rounding (nftables keeps milliseconds, ipset whole seconds).  The mx_audit option clock_slack.
CLOCK_SLACK = 5.0
# The compact form of a host's sources (nolisting_sources' ``table``, written by _traps.source_table): a header
# line, then one line per source, '-' for unknown.  One header for the writer and this reader.
TABLE_HEADER = SOURCE_TABLE_HEADER
_FAMILIES = {4: (socket.AF_INET, 32), 6: (socket.AF_INET6, 128)}


class AuditError(ValueError):
    """An input of the audit is not what the sources module returns."""


def parse_source(source):
    """'198.51.100.7' -> (4, int, 32, canonical text); '2001:db8:1:2::/64' -> (6, int, 64, '2001:db8:1:2::/64').

    inet_pton takes only a bare address (no scope id, no blank, no control character); a network's host bits must
    be zero.  The canonical text (inet_ntop's) is what the join keys on, so equal sources meet however written.
    """
    if not isinstance(source, str):
        raise AuditError("source %r is not an address or a network" % (source,))
    address, slash, prefix = source.partition("/")
    version = 6 if ":" in address else 4
    family, bits = _FAMILIES[version]
    try:
        packed = socket.inet_pton(family, address)
    except (OSError, ValueError):
        raise AuditError("source %r is not an address or a network" % (source,)) from None
    length = bits
    if slash:
        if not prefix.isdigit() or not 0 < int(prefix) <= bits or len(prefix) > 3:
            raise AuditError("source %r is not an address or a network" % (source,))
        length = int(prefix)
    value = int.from_bytes(packed, "big")
    if value & ((1 << (bits - length)) - 1):
        raise AuditError("source %r is not an address or a network (host bits set)" % (source,))
    text = socket.inet_ntop(family, packed)
    return version, value, length, text if length == bits else "%s/%d" % (text, length)


def _number(value, what, source, allow_none=True):
    if value is None and allow_none:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):  # bool is not a number here, nor inf or nan
        raise AuditError("%s of source %s must be a finite number, not %r" % (what, source, value))
    return value


def _table_rows(table, what, name):
    """(source, first, last, count, days) of each line of a compact table (see TABLE_HEADER)."""
    if not isinstance(table, str):
        raise AuditError("%s of %s: table must be a string" % (what, name or "a host"))
    lines = table.split("\n")
    if lines[0] != TABLE_HEADER:
        raise AuditError("%s of %s: table must start with the line %r" % (what, name or "a host", TABLE_HEADER))
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        fields = line.split(" ")
        if len(fields) != 5:
            raise AuditError("%s of %s: table line %d must have 5 fields: %r" % (what, name or "a host", number, line[:100]))
        source, first, last, count, days = fields
        try:
            row = (source, None if first == "-" else float(first), float(last), None if count == "-" else int(count),
                   None if days == "-" else int(days))
            if not math.isfinite(row[2]) or (row[1] is not None and not math.isfinite(row[1])):
                raise ValueError(line)
            yield row
        except ValueError:
            raise AuditError("%s of %s: table line %d has a field that is not a number: %r" % (what, name or "a host", number, line[:100])) from None


def _list_rows(sources, what, name):
    """The same rows from a list of source dicts, each value checked."""
    for item in sources:
        if not isinstance(item, dict) or "source" not in item:
            raise AuditError("%s of %s: each source must be a dict with 'source'" % (what, name or "a host"))
        source = item["source"]
        yield (source, _number(item.get("first_seen"), "first_seen", source), _number(item.get("last_seen"), "last_seen", source, allow_none=False),
               _number(item.get("count"), "count", source), _number(item.get("days"), "days", source))


def render_table(sources):
    """The compact table of a list of source dicts (what nolisting_sources returns as ``table``)."""
    def field(value):
        return "-" if value is None else ("%.3f" % value if isinstance(value, float) else str(value))
    lines = [TABLE_HEADER]
    lines.extend("%s %s %s %s %s" % (item["source"], field(item.get("first_seen")), field(item["last_seen"]),
                                     field(item.get("count")), field(item.get("days"))) for item in sources)
    return "\n".join(lines) + "\n"


def merge_side(hosts, what):
    """Sources of several hosts of one side, as {canonical source: entry}: the earliest first, the latest last,
    counts added, days the highest (two dead primaries see the same sender's separate walks).

    ``hosts`` is a list of ``{'host': name, 'sources': [...]}`` or ``{'host': name, 'table': '...'}`` as
    ``nolisting_sources`` returns them.
    """
    merged = {}
    for host in hosts:
        if not isinstance(host, dict) or not isinstance(host.get("sources", []), list) or ("sources" in host and "table" in host):
            raise AuditError("%s: each item must be a dict with a 'sources' list or a 'table' (the result of mailsec.mx.nolisting_sources)" % what)
        name = check_text("host", str(host.get("host", "")))
        rows = _table_rows(host["table"], what, name) if "table" in host else _list_rows(host.get("sources", []), what, name)
        for source, first, last, count, days in rows:
            version, value, prefix, source = parse_source(source)
            first = last if first is None or first > last else first
            entry = merged.get(source)
            if entry is None:
                merged[source] = {"version": version, "value": value, "prefix": prefix, "first": first, "last": last,
                                  "count": count, "days": days, "hosts": [name] if name else []}
                continue
            entry["first"] = min(entry["first"], first)
            entry["last"] = max(entry["last"], last)
            entry["count"] = None if entry["count"] is None or count is None else entry["count"] + count
            if days is not None:
                entry["days"] = max(entry["days"] or 0, days)
            if name and name not in entry["hosts"]:
                entry["hosts"].append(name)
    return merged


def _network(entry, prefix):
    """The entry's network at ``prefix`` bits (at most its own), as an int key."""
    return entry["value"] >> (_FAMILIES[entry["version"]][1] - prefix)


def _arrival_index(arrivals):
    """{(version, prefix): [entries]}: arrivals looked up at whatever prefix a refused source has."""
    index = {}
    for entry in arrivals.values():
        index.setdefault((entry["version"], entry["prefix"]), []).append(entry)
    return index


def _arrivals_for(refused, index, cache):
    """The arrival entries that fall into a refused source's network (or contain it), merged into one."""
    found = []
    for (version, prefix), entries in index.items():
        if version != refused["version"]:
            continue
        shared = min(prefix, refused["prefix"])
        table = cache.get((version, prefix, shared))
        if table is None:
            table = {}
            for entry in entries:
                table.setdefault(_network(entry, shared), []).append(entry)
            cache[(version, prefix, shared)] = table
        found.extend(table.get(_network(refused, shared), ()))
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    counts = [entry["count"] for entry in found]
    return {"first": min(entry["first"] for entry in found), "last": max(entry["last"] for entry in found),
            "count": None if None in counts else sum(counts)}


def verdict_of(refused, arrived, window, slack=CLOCK_SLACK):
    """('retried' or 'gave_up', seconds from a refusal to the arrival that followed it, or None).

    Retried: the first or the last arrival lies between the first refusal (less ``slack`` seconds for the hosts'
    clocks and listing times) and ``window`` seconds after the last refusal.  Arrivals only before, or only long
    after (a partner's MTA delivering on other days while its crude client is refused), do not count.
    """
    if arrived is None:
        return "gave_up", None
    low, high = refused["first"] - slack, refused["last"] + window
    if not any(low <= arrived[side] <= high for side in ("first", "last")):
        return "gave_up", None
    delays = [arrived[side] - refused[side] for side in ("first", "last") if -slack <= arrived[side] - refused[side] <= window]
    return "retried", (round(max(0.0, min(delays)), 3) if delays else None)


_DAYS = {}


def timestamp(epoch):
    """Epoch seconds -> '2026-11-30T21:10:20.123Z' (UTC); the date is worked out once per day (100,000 sources)."""
    if epoch is None:
        return None
    millis = int(round(epoch * 1000))
    day, millis = divmod(millis, 86400000)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
    seconds, millis = divmod(millis, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return "%s%02d:%02d:%02d.%03dZ" % (date, hours, minutes, seconds, millis)


def join(refused_hosts, live_hosts, window=3600, slack=CLOCK_SLACK):
    """Every refused source with its verdict, as report entries (without reverse DNS), in source order."""
    for option, value in (("window", window), ("slack", slack)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise AuditError("%s must be a number of seconds >= 0, not %r" % (option, value))
    refused = merge_side(refused_hosts, "refused")
    arrivals = merge_side(live_hosts, "arrivals")
    index, cache = _arrival_index(arrivals), {}
    report = []
    for source, entry in refused.items():
        arrived = _arrivals_for(entry, index, cache)
        verdict, delay = verdict_of(entry, arrived, window, slack)
        report.append({
            "source": source,
            "verdict": verdict,
            "refused": entry["count"],
            "first_seen": timestamp(entry["first"]),
            "last_seen": timestamp(entry["last"]),
            "days": entry["days"],
            "arrivals": arrived["count"] if arrived else 0,
            "first_arrival": timestamp(arrived["first"]) if arrived else None,
            "last_arrival": timestamp(arrived["last"]) if arrived else None,
            "retry_delay": delay,
            "dead_primaries": entry["hosts"],
            "ptr": None,
            "ptr_status": "not_looked_up",
            "_last": entry["last"],
            "_order": (entry["version"], entry["value"], entry["prefix"]),
        })
    report.sort(key=lambda item: item["_order"])
    return report


def candidate_rank(item):
    """Sort key of a gave_up source as an allowlist candidate: the likely crude legitimate senders first.

    A forward-confirmed PTR, then more separate days, then more refusals, then the latest; a spam bot typically
    comes once, from an address with no confirmed name.
    """
    return (0 if item["ptr_status"] == "confirmed" else 1, -(item["days"] or 0), -(item["refused"] or 0),
            -item["_last"], item["_order"])


def lookup_order(report):
    """The sources whose reverse DNS is worth looking up, most useful first: gave_up by rank, then retried."""
    gave_up = sorted((item for item in report if item["verdict"] == "gave_up"), key=candidate_rank)
    retried = sorted((item for item in report if item["verdict"] == "retried"), key=lambda item: -item["_last"])
    return [item for item in gave_up + retried if "/" not in item["source"]]


def add_reverse_dns(report, resolve, limit):
    """Fill ``ptr``/``ptr_status`` of up to ``limit`` sources (``lookup_order``) with ``resolve(addresses)``.

    ``resolve`` maps a list of addresses to ``{address: (status, name)}``, status one of ``confirmed`` (the name's
    A/AAAA include the address), ``unconfirmed``, ``none``, ``error``.  A source grouped by prefix (a network) has no
    one name: ``network``.  Those beyond the limit keep ``not_looked_up``.
    """
    for item in report:
        if "/" in item["source"]:
            item["ptr_status"] = "network"
    chosen = lookup_order(report)[:limit]
    found = resolve([item["source"] for item in chosen]) if chosen else {}
    for item in chosen:
        status, name = found.get(item["source"], ("error", None))
        item["ptr_status"] = status
        item["ptr"] = name if status == "confirmed" else None
        if status == "unconfirmed":
            item["ptr_unconfirmed"] = name
    return report


def link_by_name(report):
    """A source that gave up, but whose forward-confirmed name is also that of a source that retried, retried too.

    A dual-stack MTA is refused on both families and may come back to a live MX over one only: its other address
    would look as if it gave up.  Only a confirmed name links two sources (anyone can publish any PTR).
    """
    retried = {}
    for item in report:
        if item["verdict"] == "retried" and item["ptr_status"] == "confirmed":
            retried.setdefault(item["ptr"], []).append(item["source"])
    for item in report:
        if item["verdict"] == "gave_up" and item["ptr_status"] == "confirmed" and item["ptr"] in retried:
            item["verdict"] = "retried"
            item["retried_as"] = retried[item["ptr"]]
    return report


def summarize(report, period):
    counts = {verdict: sum(1 for item in report if item["verdict"] == verdict) for verdict in VERDICTS}
    return {
        "refused_sources": len(report),
        "retried": counts["retried"],
        "gave_up": counts["gave_up"],
        "candidates": counts["gave_up"],
        "confirmed_ptr_gave_up": sum(1 for item in report if item["verdict"] == "gave_up" and item["ptr_status"] == "confirmed"),
        "period_seconds": period,
    }


def _period_words(seconds):
    days, rest = divmod(int(seconds), 86400)
    if not rest and days:
        return "%d day%s" % (days, "" if days == 1 else "s")
    hours, rest = divmod(int(seconds), 3600)
    return "%d hour%s" % (hours, "" if hours == 1 else "s") if not rest and hours else "%d s" % seconds


def _times(count):
    return "1 time" if count == 1 else "%s times" % ("?" if count is None else count)


def seconds_text(seconds):
    """0.034 -> '34 ms', 2.5 -> '2.5 s', 75 -> '75 s': enough digits to tell a walk (milliseconds) from a retry."""
    if seconds < 0.001:
        return "under 1 ms"
    return "%.0f ms" % (seconds * 1000) if seconds < 1 else ("%.1f s" % seconds if seconds < 10 else "%.0f s" % seconds)


def describe(item):
    """One line per source: what it did and what that suggests."""
    name = " (%s)" % item["ptr"] if item["ptr"] else ""
    days = item["days"]
    spread = "" if not days or days == 1 else " on %d days" % days
    if item.get("retried_as"):
        return "%s%s: refused %s%s, retried a live MX as %s (same forward-confirmed name: real MTA)" % (
            item["source"], name, _times(item["refused"]), spread, ", ".join(item["retried_as"]))
    if item["verdict"] == "retried":
        delay = item["retry_delay"]
        within = " %s later" % seconds_text(delay) if delay is not None else ""
        return "%s%s: refused %s%s, retried a live MX%s (real MTA)" % (item["source"], name, _times(item["refused"]), spread, within)
    return "%s%s: refused %s%s, never retried -> allowlist candidate" % (item["source"], name, _times(item["refused"]), spread)


def report_lines(report, summary, limit=20):
    """The play output: the summary sentence, then the candidates by rank and the retried sources, ``limit`` each."""
    lines = ["of %d source(s) refused at the dead primary in the last %s, %d retried a live MX, %d gave up"
             % (summary["refused_sources"], _period_words(summary["period_seconds"]), summary["retried"], summary["gave_up"])]
    gave_up = sorted((item for item in report if item["verdict"] == "gave_up"), key=candidate_rank)
    retried = [item for item in report if item["verdict"] == "retried"]  # the report is in source order
    for group in (gave_up, retried):
        lines.extend(describe(item) for item in group[:limit])
        if len(group) > limit:
            lines.append("... and %d more %s (see the JSON report)" % (len(group) - limit, group[0]["verdict"]))
    return lines


def candidates_text(report, generated):
    """The allowlist candidates in the format of dead_primary_allow_files: one entry per line, evidence in a comment.

    Never applied by the audit: the admin reads it and adds what is wanted.
    """
    gave_up = sorted((item for item in report if item["verdict"] == "gave_up"), key=candidate_rank)
    lines = [
        "# Allowlist candidates from the nolisting audit of %s (mailsec.mx.nolisting_audit)." % generated,
        "# Sources refused at the dead primary that never reached a live MX, likely crude legitimate senders first",
        "# (a forward-confirmed PTR, several days). Most are spam bots, and a forged SYN can put any address here:",
        "# review each line, then add the ones you want to dead_primary_allow_files. Nothing was allowed.",
    ]
    for item in gave_up:
        evidence = ["refused %s" % _times(item["refused"])]
        if item["days"]:
            evidence.append("on %d day%s" % (item["days"], "" if item["days"] == 1 else "s"))
        evidence.append("first %s, last %s" % (item["first_seen"], item["last_seen"]))
        if item["ptr"]:
            evidence.append("PTR %s (forward-confirmed)" % item["ptr"])
        elif item.get("ptr_unconfirmed"):
            evidence.append("PTR %s (NOT forward-confirmed)" % item["ptr_unconfirmed"])
        else:
            evidence.append({"none": "no PTR", "network": "a network", "error": "PTR look-up failed"}.get(item["ptr_status"], "PTR not looked up"))
        lines.append("%s  # %s" % (item["source"], ", ".join(evidence)))
    return "\n".join(lines) + "\n"


def public_report(report, summary, generated, window):
    """The JSON document written to mx_audit_report_path."""
    sources = [{key: value for key, value in item.items() if not key.startswith("_")} for item in report]
    return {
        "generated": generated,
        "window_seconds": window,
        "advisory": "A reset needs no handshake: forged SYNs can add any source to the refused list. Verdicts are "
                    "advice; the audit never changes an allowlist.",
        "summary": summary,
        "sources": sources,
    }


def report_json(document):
    """The report as JSON text, one source per line: readable, diffable, and fast at 100,000 sources."""
    head = {key: value for key, value in document.items() if key != "sources"}
    text = json.dumps(head, indent=1)
    sources = ",\n  ".join(json.dumps(item, separators=(", ", ": ")) for item in document["sources"])
    return text[:-2] + ',\n "sources": [\n  ' + sources + "\n ]\n}\n" if sources else text[:-2] + ',\n "sources": []\n}\n'


def metrics_text(summary, generated_epoch):
    """Prometheus text for node_exporter's textfile collector: the last audit's verdict counts (no per-address labels)."""
    lines = [
        "# HELP mailsec_mx_audit_sources Sources refused at the dead primary in the last audit, by verdict.",
        "# TYPE mailsec_mx_audit_sources gauge",
    ]
    lines.extend('mailsec_mx_audit_sources{verdict="%s"} %d' % (verdict, summary[verdict]) for verdict in VERDICTS)
    lines.extend([
        "# HELP mailsec_mx_audit_candidates_confirmed Sources that gave up and have a forward-confirmed PTR.",
        "# TYPE mailsec_mx_audit_candidates_confirmed gauge",
        "mailsec_mx_audit_candidates_confirmed %d" % summary["confirmed_ptr_gave_up"],
        "# HELP mailsec_mx_audit_last_run_timestamp_seconds When the last audit ran.",
        "# TYPE mailsec_mx_audit_last_run_timestamp_seconds gauge",
        "mailsec_mx_audit_last_run_timestamp_seconds %d" % int(generated_epoch),
    ])
    return "\n".join(lines) + "\n"
