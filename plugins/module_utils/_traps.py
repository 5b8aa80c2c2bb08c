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
import ipaddress
import math
import re
import socket
import time

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


def network_of(address, prefix):
    """The address a source is remembered under: '2001:db8:1:2::5' with prefix 64 -> '2001:db8:1:2::'."""
    ip = ipaddress.ip_address(address)
    return str(ipaddress.ip_network((ip, prefix), strict=False).network_address)


def carry(entries, timeout, prefixes):
    """Remembered elements, moved into a set with ``timeout`` whose sources are grouped by ``prefixes``.

    ``entries`` maps an address to its ``Entry``; ``prefixes`` maps 4 and 6 to a prefix length.  Returns
    sorted ``(address, seconds left, packets or None)``: each element keeps its age, so first and last hits stay
    right (rounded up: a carry-over never shortens a suppression); one older than the new timeout is dropped;
    elements that fall into one prefix merge (the latest hit, the counts added).
    """
    merged = {}
    for address, entry in entries.items():
        key = network_of(address, prefixes[ipaddress.ip_address(address).version])
        left = min(int(math.ceil(timeout - entry.age)), int(timeout))
        if left < 1:
            continue
        if key in merged:
            known_left, known_packets = merged[key]
            packets = None if known_packets is None and entry.packets is None else (known_packets or 0) + (entry.packets or 0)
            merged[key] = (max(known_left, left), packets)
        else:
            merged[key] = (left, entry.packets)
    return [(address, left, packets) for address, (left, packets) in sorted(merged.items())]


def source_label(address, prefixes):
    """How a remembered source is shown: the address, or its network when sources are grouped by prefix."""
    version = ipaddress.ip_address(address).version
    prefix = (prefixes or {}).get(version, 32 if version == 4 else 128)
    return address if prefix == (32 if version == 4 else 128) else "%s/%d" % (address, prefix)


def fill_levels(sets):
    """{set name: (elements, size)} -> [{'set', 'elements', 'size', 'percent'}], fullest first."""
    levels = [{"set": name, "elements": count, "size": size, "percent": round(100.0 * count / size, 1) if size else 0.0}
              for name, (count, size) in sets.items()]
    levels.sort(key=lambda level: (-level["percent"], level["set"]))
    return levels


def fill_warnings(levels, threshold=90.0, variable="mx_trap_set_size"):
    """Warnings for sets filled above ``threshold`` percent: a full set stops remembering new sources."""
    return ["set %s is %.1f %% full (%d of %d): once full, new sources are not remembered there; raise the set size "
            "(%s) or shorten its time" % (level["set"], level["percent"], level["elements"], level["size"], variable)
            for level in levels if level["percent"] > threshold]


def _timestamp(now, seconds_ago):
    moment = now - datetime.timedelta(seconds=round(seconds_ago))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def hit_list(hits, seen, now=None, prefixes=None):
    """Every source the traps remember, latest hit first.

    ``hits`` and ``seen`` map a source address to its ``Entry``; ``prefixes`` ({4: 32, 6: 64}) says how sources
    are grouped, and a grouped source is shown as its network.  A source is listed while it is in
    *hits*; *seen* may have lost it (full, or older than its timeout), and then first hit and count
    are unknown (None).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    listed = []
    for source, hit in hits.items():
        first = seen.get(source)
        listed.append({
            "source": source_label(source, prefixes),
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


def _sort_key(source):
    """Address order, IPv4 first, without building ipaddress objects (100,000 of them cost seconds)."""
    if ":" in source:
        return 6, socket.inet_pton(socket.AF_INET6, source)
    return 4, socket.inet_pton(socket.AF_INET, source)


def _source_rows(last, first, days, now, prefixes):
    """(label, first, last, count, days or None) per source in ``last``, in address order; see source_list."""
    whole = {4: 32, 6: 128}
    suffix = {version: "" if (prefixes or whole).get(version, whole[version]) == whole[version]
              else "/%d" % prefixes[version] for version in (4, 6)}
    for source in sorted(last, key=_sort_key):
        seen = first.get(source)
        last_seen = round(now - last[source].age, 3)
        counted = days.get(source) if days is not None else None
        yield (source + suffix[6 if ":" in source else 4],
               # Both sets got the source at the same moment; their remaining times may round apart (ipset: seconds).
               min(round(now - seen.age, 3), last_seen) if seen is not None else None,
               last_seen,
               seen.packets if seen is not None else None,
               counted.packets if counted is not None else None)


def source_list(last, first, days=None, now=None, prefixes=None):
    """Every source a recording firewall remembers, in address order (IPv4 first), with epoch times.

    ``last`` maps a source to the ``Entry`` of the set refreshed at each event (its age: the last one), ``first`` to
    that of the set added once with a counter (the first event and the count), ``days`` (None: the kind keeps no
    days, and items have no 'days' key) to that of the set counted once per day.  A source is listed while it is in
    ``last``; the other sets may have lost it (full, or older than their timeout), and then those fields are None.
    ``now`` is the host's time.time(); times are epoch seconds rounded to milliseconds.
    """
    now = time.time() if now is None else now
    listed = []
    for label, first_seen, last_seen, count, counted_days in _source_rows(last, first, days, now, prefixes):
        item = {"source": label, "first_seen": first_seen, "last_seen": last_seen, "count": count}
        if days is not None:
            item["days"] = counted_days
        listed.append(item)
    return listed


# The header of source_table's text; the audit (_audit.py) reads it with this same constant.
SOURCE_TABLE_HEADER = "source first_seen last_seen count days"


def source_table(last, first, days=None, now=None, prefixes=None):
    """source_list as one text: the header line, then one line per source with its five fields separated by a space,
    times with three decimals, '-' for unknown (and for days where the kind keeps none).  At 100,000 sources one
    string crosses Ansible in a fraction of the time a list of dicts takes."""
    now = time.time() if now is None else now

    def field(value, decimals=False):
        if value is None:
            return "-"
        return "%.3f" % value if decimals else str(value)

    lines = [SOURCE_TABLE_HEADER]
    lines.extend("%s %s %s %s %s" % (label, field(first_seen, True), field(last_seen, True), field(count), field(counted_days))
                 for label, first_seen, last_seen, count, counted_days in _source_rows(last, first, days, now, prefixes))
    return "\n".join(lines) + "\n"
