# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trap hits as the kernel keeps them, turned into what an admin reads.

Both backends keep two timed sets per family: *hits* (refreshed at every trap
hit, so its remaining time tells the last hit) and *seen* (added once, never
refreshed, with a counter: its remaining time tells the first hit and its
counter how many there were).  Backends read them into ``Entry`` values; this
module does the arithmetic once.
"""

from __future__ import annotations

import datetime
import re

_DURATION = re.compile(r"(\d+)(ms|d|h|m|s)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


class Entry:
    """One element of a timed set: its timeout, the time left, and its packet counter (or None)."""

    __slots__ = ("timeout", "expires", "packets")

    def __init__(self, timeout, expires, packets=None):
        self.timeout = timeout
        self.expires = expires
        self.packets = packets

    def __eq__(self, other):
        return isinstance(other, Entry) and (self.timeout, self.expires, self.packets) == (other.timeout, other.expires, other.packets)

    def __repr__(self):
        return "Entry(%r, %r, %r)" % (self.timeout, self.expires, self.packets)

    @property
    def age(self):
        """Seconds since the element was added or last refreshed."""
        return max(0.0, self.timeout - self.expires)


def parse_duration(text):
    """nft's '1d2h3m4s5ms' (or plain seconds) -> seconds as a float."""
    text = text.strip()
    if text.isdigit():
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError("not a duration: %r" % text)
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def format_duration(seconds):
    """Whole seconds as nft prints them: 3600 -> '1h', 604800 -> '7d', 90 -> '1m30s'."""
    seconds = int(seconds)
    if seconds == 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size:
            out.append("%d%s" % (seconds // size, unit))
            seconds %= size
    return "".join(out)


def _timestamp(now, seconds_ago):
    moment = now - datetime.timedelta(seconds=round(seconds_ago))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def hit_list(hits, seen, now=None):
    """Every source the traps remember, latest hit first.

    ``hits`` and ``seen`` map a source address to its ``Entry``.  A source is listed while it is in
    *hits*; *seen* may have lost it (full, or older than its timeout), and then first hit and count
    are unknown (None).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    listed = []
    for source, hit in hits.items():
        first = seen.get(source)
        listed.append({
            "source": source,
            "last_seen": _timestamp(now, hit.age),
            "last_seen_ago": int(round(hit.age)),
            "first_seen": _timestamp(now, first.age) if first is not None else None,
            "hits": first.packets if first is not None else None,
            "expires_in": int(round(hit.expires)),
        })
    listed.sort(key=lambda item: (item["last_seen_ago"], item["source"]))
    return listed


def summary(listed, suppressing, limit=20):
    """Lines for the play output: who was caught, and what that means for them."""
    if not listed:
        return ["no trap hits remembered"]
    verb = "refused on every MX address of this host" if suppressing else "recorded (suppression is off)"
    lines = ["%d source(s) hit a trap, %s:" % (len(listed), verb)]
    for item in listed[:limit]:
        count = "%s hit(s)" % item["hits"] if item["hits"] is not None else "hits unknown"
        first = item["first_seen"] or "unknown"
        lines.append("%s: %s, first %s, last %s (%d s ago), forgotten in %d s"
                     % (item["source"], count, first, item["last_seen"], item["last_seen_ago"], item["expires_in"]))
    if len(listed) > limit:
        lines.append("... and %d more (see the module's hits list)" % (len(listed) - limit))
    return lines
