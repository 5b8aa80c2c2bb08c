# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live verification of a published layout: what resolvers and senders see, compared with the layout.

The checks are pure functions over what was looked up and probed, so unit tests
feed them observations directly; the module does the lookups and the probes.
"""

from __future__ import annotations

# Outcomes after which the TCP connection was made: a trap firewall counts these as "connected".
CONNECTED = frozenset(("greeting", "tempfail_greeting", "reject_greeting", "no_greeting", "slow_greeting", "oversized"))
# What a sender must meet at each role's addresses.
EXPECTED_OUTCOME = {"dead": "refused", "live": "greeting", "backstop": "greeting", "trap": "greeting"}
# A dead primary that greets at all, whatever the code: what fixes it.
_DEAD_GREETS_FIX = "Apply the dead_primary role to that host (dead_primary_action: reset): a TCP reset, never a listener"
# qmail-remote takes any greeting but 220 as a temporary failure of the whole delivery, and never tries the next MX
# (measured in docs/compatibility.md, 4xx variant).
_QMAIL_DEFERS = ("qmail senders defer the whole message and never reach the next MX (they retry the dead primary until "
                 "their queue lifetime ends, then bounce)")
HINTS = {
    ("dead", "greeting"): "the dead primary greets with 2xx: every sender delivers there, spam bots included - nolisting "
                          "does nothing. " + _DEAD_GREETS_FIX,
    ("dead", "tempfail_greeting"): "the dead primary greets with 4xx: " + _QMAIL_DEFERS + "; every other sender waits for "
                                   "that greeting on every try before it moves on. " + _DEAD_GREETS_FIX,
    ("dead", "reject_greeting"): "the dead primary greets with 5xx: " + _QMAIL_DEFERS + "; other senders move on or bounce "
                                 "the message, depending on their settings. " + _DEAD_GREETS_FIX,
    ("dead", "timeout"): "the dead primary drops silently: every legitimate sender waits 30 s to 5 min. "
                         "Use action reset, and check that the address is on an interface",
    ("live", "refused"): "a live MX refuses connections: mail that skips the dead primary finds no server. Start its MTA",
    ("live", "timeout"): "a live MX does not answer: check its MTA and firewall",
}
GENERIC_HINTS = {
    "slow_greeting": "the peer trickles its greeting and did not finish it in time: a broken or hostile MTA, or a tarpit",
    "oversized": "the peer sent a greeting line longer than 512 octets or a greeting longer than 4 KiB: not an SMTP server",
}
NOT_PROBED = "not probed"


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
    hint = HINTS.get((record["role"], observed)) or GENERIC_HINTS.get(observed) or "expected %s from a %s MX" % (expected, record["role"])
    result = check("smtp-%s" % record["role"], "%s %s" % (record["host"], probe["address"]), expected, observed, hint)
    result["latency"] = probe.get("latency")
    result["greeting"] = probe.get("greeting", "")
    return result


def probe_plan(targets):
    """The (record, address) pairs to probe, in the order an orderly sender tries them.

    ``targets`` is [(record, published addresses)]. Records go in MX preference order, lowest first (then host, as
    ordered_layout sorts them); within a record, the addresses the layout lists in layout order, then any other
    address DNS publishes for the host (sorted). The trap firewall on the primary host records a sender that reaches
    a trap without having connected to the primary (or backstop) shortly before, so the order is what keeps the
    controller from being recorded - even behind a NAT that it shares with others.
    """
    plan = []
    for record, published in sorted(targets, key=lambda target: (target[0]["preference"], target[0]["host"])):
        listed = [address for address in record["addresses"] if address in published]
        others = sorted(set(published) - set(listed))
        plan.extend((record, address) for address in listed + others)
    return plan


def run_probes(plan, connect, records=None):
    """Probe ``plan`` strictly one address after the other (never two at once); return the checks.

    ``connect(address)`` returns a probe result (see _smtp.probe). A trap is probed only once one of the trap
    host's own MX addresses - the primary's (the lowest live record) or a backstop's - took a connection in this
    run; otherwise its check fails as not probed rather than having the trap firewall record the controller.
    ``records``: the whole layout (default: the plan's records), so a primary that was not looked up is still known.
    """
    own = own_mx_addresses(records if records is not None else [record for record, address in plan])
    results = []
    met_own_mx = False
    for record, address in plan:
        if record["role"] == "trap" and not met_own_mx:
            results.append(check("smtp-trap", "%s %s" % (record["host"], address), EXPECTED_OUTCOME["trap"], NOT_PROBED,
                                 "not probed: no address of the primary or backstop took a connection first, and the trap "
                                 "firewall records a sender that reaches a trap without one (this controller too). Fix the "
                                 "primary, or give name servers that answer for its name"))
            continue
        result = connect(address)
        if address in own and result["outcome"] in CONNECTED:
            met_own_mx = True
        results.append(check_probe(record, result))
    return results


def own_mx_addresses(records):
    """The trap host's own MX addresses: the primary's (the lowest-preference live record) and every backstop's."""
    live = [record for record in records if record["role"] == "live"]
    primary = min(live, key=lambda record: (record["preference"], record["host"])) if live else None
    return {address for record in records if record is primary or record["role"] == "backstop" for address in record["addresses"]}


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
