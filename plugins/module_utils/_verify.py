# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live verification of a published layout: what resolvers and senders see, compared with the layout.

The checks are pure functions over what was looked up and probed, so unit tests
feed them observations directly; the module does the lookups and the probes.
"""

from __future__ import annotations

# What a sender must meet at each role's addresses.
EXPECTED_OUTCOME = {"dead": "refused", "live": "greeting", "backstop": "greeting", "trap": "greeting"}
HINTS = {
    ("dead", "greeting"): "the dead primary greets: nolisting does nothing. Apply the dead_primary role to that host",
    ("dead", "tempfail_greeting"): "the dead primary greets with 4xx: qmail gives up instead of trying the next MX. "
                                   "It must answer with a TCP reset (dead_primary role, action reset)",
    ("dead", "timeout"): "the dead primary drops silently: every legitimate sender waits 30 s to 5 min. "
                         "Use action reset, and check that the address is on an interface",
    ("live", "refused"): "a live MX refuses connections: mail that skips the dead primary finds no server. Start its MTA",
    ("live", "timeout"): "a live MX does not answer: check its MTA and firewall",
}


def check(name, target, expected, observed, hint=""):
    ok = expected == observed
    return {"check": name, "target": target, "expected": expected, "observed": observed, "ok": ok, "hint": "" if ok else hint}


def check_mx(owner, wanted_rdata, published_rdata):
    """The MX RRset as resolvers see it equals the layout's, as a set (DNS keeps no order)."""
    wanted, published = sorted(set(wanted_rdata)), sorted(set(published_rdata))
    hint = "publish the layout (mx_records role); missing: %s; unexpected: %s" % (
        ", ".join(sorted(set(wanted) - set(published))) or "none", ", ".join(sorted(set(published) - set(wanted))) or "none")
    return check("mx-rrset", owner, wanted, published, hint)


def check_addresses(record, published, cname):
    """A layout host resolves to its listed addresses (or to some address when none are listed), never via a CNAME."""
    results = []
    if cname:
        results.append(check("no-cname", record["host"], None, cname, "an MX target must not be a CNAME (RFC 2181 10.3); give it A/AAAA records"))
    if record["addresses"]:
        results.append(check("addresses", record["host"], sorted(record["addresses"]), sorted(published),
                             "publish the host's A/AAAA records as the layout lists them"))
    else:
        results.append(check("resolves", record["host"], True, bool(published), "the MX target has no A/AAAA record: senders skip it"))
    return results


def check_probe(record, probe):
    expected = EXPECTED_OUTCOME[record["role"]]
    observed = probe["outcome"]
    hint = HINTS.get((record["role"], observed), "expected %s from a %s MX" % (expected, record["role"]))
    result = check("smtp-%s" % record["role"], "%s %s" % (record["host"], probe["address"]), expected, observed, hint)
    result["latency"] = probe.get("latency")
    result["greeting"] = probe.get("greeting", "")
    return result


def table(results):
    """A fixed-width table for the play output: one line per check, failures with what to do."""
    rows = [("", "check", "target", "expected", "observed")]
    for result in results:
        rows.append(("OK" if result["ok"] else "FAIL", result["check"], result["target"],
                     _short(result["expected"]), _short(result["observed"])))
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.extend("FAIL %s %s: %s" % (r["check"], r["target"], r["hint"]) for r in results if not r["ok"] and r["hint"])
    return lines


def _short(value):
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "-"
    return "-" if value is None else str(value)
