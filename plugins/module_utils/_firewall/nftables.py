# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nftables backend: one table of our own, replaced in one ``nft -f`` transaction.

The structure is rendered exactly as ``nft -s -t list table`` prints it, so the
live table compares with the wanted one as text; set elements compare as sets.
"""

from __future__ import annotations

import ipaddress
import os
import re

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.backend import Backend, carried
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import (
    FAMILIES,
    FirewallError,
    LiveState,
    Snapshot,
    boot_service_enabled,
    enable_boot_service,
    host_element,
    read_text,
    remove_file,
    write_file,
)
from ansible_collections.mailsec.mx.plugins.module_utils._traps import Entry, format_duration, parse_duration

NFTABLES_CONF = "/etc/nftables.conf"
NFTABLES_CONF_HEADER = "#!/usr/sbin/nft -f\n"
PERSIST_DIR = "/etc/nftables.d"
BASE_CHAIN = "\t\ttype filter hook input priority filter - 10; policy accept;"


def _set_blocks(spec, elements, dynamic):
    blocks = []
    for family, element_type, dummy in FAMILIES:
        block = ["\tset allow%d {" % family, "\t\ttype %s" % element_type, "\t\tflags interval"]
        if elements is not None and elements["allow%d" % family]:
            block.append("\t\telements = {\n\t\t\t%s\n\t\t}" % ",\n\t\t\t".join(elements["allow%d" % family]))
        blocks.append(block + ["\t}"])
    for timed_set in spec.timed_sets():
        if timed_set.ports:
            blocks.append(["\tset %s {" % timed_set.name, "\t\ttype inet_service", "\t\tsize %d" % timed_set.size,
                           "\t\tflags dynamic,timeout", "\t\ttimeout %s" % format_duration(timed_set.timeout), "\t}"])
            continue
        for family, element_type, dummy in FAMILIES:
            name = "%s%d" % (timed_set.name, family)
            block = ["\tset %s {" % name, "\t\ttype %s" % element_type, "\t\tsize %d" % timed_set.size,
                     "\t\tflags dynamic,timeout", "\t\ttimeout %s" % format_duration(timed_set.timeout)]
            elements_carried = carried((dynamic or {}).get(name, {}), timed_set, _timed_element(timed_set.timeout))
            if elements_carried:
                block.append("\t\telements = {\n\t\t\t%s\n\t\t}" % ",\n\t\t\t".join(elements_carried))
            blocks.append(block + ["\t}"])
    return blocks


def _timed_element(timeout):
    def render(address, left, packets):
        counter = "counter packets %d bytes 0 " % packets if packets is not None else ""
        return "%s %stimeout %s expires %s" % (address, counter, format_duration(timeout), format_duration(left))
    return render


def _table_text(spec, table, elements=None, counters=None, dynamic=None):
    """The table as nft lists it (no ``elements``), or as a file to load (with them)."""
    blocks = []
    for name in spec.counters:
        packets, octets = (counters or {}).get(name, (0, 0))
        inner = ["\t\tpackets %d bytes %d" % (packets, octets)] if counters is not None else []
        blocks.append(["\tcounter %s {" % name] + inner + ["\t}"])
    blocks.extend(_set_blocks(spec, elements, dynamic))
    for position, (name, chain_rules) in enumerate(spec.nftables_chains()):
        base = [BASE_CHAIN] if position == 0 else []
        blocks.append(["\tchain %s {" % name] + base + ["\t\t" + rule for rule in chain_rules] + ["\t}"])
    body = "\n\n".join("\n".join(block) for block in blocks)
    comment = '\tcomment "mailsec.mx %s: managed by Ansible, changes here are overwritten"' % spec.name
    return "table inet %s {\n%s\n%s\n}\n" % (table, comment, body)


def load_file(spec, table, counters=None, dynamic=None):
    """A file for ``nft -f`` that replaces only our table, atomically (nft 1.0.6 has no 'destroy')."""
    elements = {"allow4": spec.allow4, "allow6": spec.allow6}
    return "table inet %s {}\ndelete table inet %s\n%s" % (table, table, _table_text(spec, table, elements, counters, dynamic))


class NftablesBackend(Backend):
    name = "nftables"
    tools = ("nft",)

    def __init__(self, run, name, kind):
        super().__init__(run, name, kind)
        self.table = "mailsec_" + name
        self.persist_path = os.path.join(PERSIST_DIR, self.table + ".nft")

    def wanted(self, spec):
        return Snapshot(_table_text(spec, self.table), {"allow4": spec.allow4, "allow6": spec.allow6})

    def current(self):
        # One listing: every nft call reads the whole ruleset, set elements included
        # (about a second at 100,000 elements), so structure, elements and counters
        # all come from the same text.
        rc, listing, err = self.run(["nft", "list", "table", "inet", self.table])
        if rc != 0:
            if "No such file or directory" in err:
                return None
            raise FirewallError("nft list table inet %s failed: %s" % (self.table, err.strip()))
        structure, sets, counters, timed = parse_listing(listing)
        sizes = set_sizes(structure)
        return LiveState(structure, {name: sets[name] for name in ("allow4", "allow6") if name in sets},
                         counters=counters, timed=timed, prefixes=_prefixes(structure),
                         fill={name: (len(timed.get(name, {})), size) for name, size in sizes.items()})

    def apply(self, spec, live):
        # The table is replaced whole: carry its counters and the timed sets' memory over.
        counters = live.counters if live is not None else None
        dynamic = live.timed if live is not None else None
        self._load(load_file(spec, self.table, counters, dynamic))

    def remove(self):
        self._load("delete table inet %s\n" % self.table)

    def _load(self, text):
        self._load_checked(text, ".nft", lambda path: ["nft", "-c", "-f", path], lambda path: ["nft", "-f", path])

    def persist(self, spec, check_mode):
        """Keep the table across reboots: our file, included by /etc/nftables.conf; return changed paths."""
        include = 'include "%s"' % self.persist_path
        conf = read_text(NFTABLES_CONF)
        lines = conf.splitlines()
        changed = []
        if spec is None:
            if remove_file(self.persist_path, check_mode):
                changed.append(self.persist_path)
                if not check_mode and os.path.isdir(PERSIST_DIR) and not os.listdir(PERSIST_DIR):
                    os.rmdir(PERSIST_DIR)
            if include in lines:
                kept = "".join(line + "\n" for line in lines if line != include)
                # A conf we created holds nothing else: remove it rather than leave a stub.
                if kept == NFTABLES_CONF_HEADER:
                    remove_file(NFTABLES_CONF, check_mode)
                else:
                    write_file(NFTABLES_CONF, kept, check_mode)
                changed.append(NFTABLES_CONF)
            return changed
        if write_file(self.persist_path, load_file(spec, self.table), check_mode):
            changed.append(self.persist_path)
        if include not in lines:
            head = conf if conf else NFTABLES_CONF_HEADER
            if not head.endswith("\n"):
                head += "\n"
            write_file(NFTABLES_CONF, head + include + "\n", check_mode)
            changed.append(NFTABLES_CONF)
        other = self._other_firewall_at_boot()
        if other:
            # nftables.conf starts with 'flush ruleset' on Debian: enabling it next to another firewall
            # service would wipe that firewall's rules at boot.
            self.warnings.append(
                "nftables.service was not enabled: %s loads rules at boot too, and /etc/nftables.conf usually flushes "
                "the whole ruleset. Make sure %s is loaded at boot some other way." % (other, self.persist_path)
            )
        elif enable_boot_service(self.run, "nftables.service", check_mode):
            changed.append("nftables.service")
        return changed

    def _other_firewall_at_boot(self):
        """The first enabled firewall service other than nftables, or ''."""
        units = ("netfilter-persistent.service", "ufw.service", "firewalld.service")
        return next((unit for unit in units if boot_service_enabled(self.run, unit)), "")


def parse_listing(listing):
    """Split ``nft list table`` output into its parts.

    Returns (structure as ``nft -s -t`` would print it, {set: elements}, {counter: (packets, bytes)},
    {set: {element: Entry}} for sets with timeouts).
    """
    structure, texts, counters, timeouts = [], {}, {}, {}
    block = None
    collecting = None
    for line in listing.splitlines():
        words = line.split()
        if collecting is not None:
            collecting.append(line)
            if line.rstrip().endswith("}"):
                collecting = None
            continue
        if words[:1] in (["set"], ["counter"]) and words[-1:] == ["{"]:
            block = (words[0], words[1])
        elif block and block[0] == "set" and words[:2] == ["elements", "="]:
            collecting = texts.setdefault(block[1], [])
            collecting.append(line.split("{", 1)[1])
            if line.rstrip().endswith("}"):
                collecting = None
            continue
        elif block and block[0] == "set" and words[:1] == ["timeout"] and len(words) == 2:
            timeouts[block[1]] = parse_duration(words[1])
        elif block and block[0] == "counter" and words[:1] == ["packets"]:
            counters[block[1]] = (int(words[1]), int(words[3]))
            continue
        elif words == ["}"]:
            block = None
        structure.append(line)
    sets, timed = {}, {}
    for name, lines in texts.items():
        items = [item.split() for item in " ".join(lines).replace("}", " ").split(",") if item.strip()]
        sets[name] = [host_element(item[0]) for item in items]
        if name in timeouts:
            timed[name] = {item[0]: _entry(item[1:], timeouts[name]) for item in items}
    for name in structure_sets(structure):
        sets.setdefault(name, [])
        if name in timeouts:
            timed.setdefault(name, {})
    return "\n".join(structure) + "\n", sets, counters, timed


DEFAULT_WHOLE = {4: 32, 6: 128}


def _prefixes(structure):
    """{4: prefix, 6: prefix} the sets group sources by, from the masks the rules apply (whole addresses: none)."""
    found = dict(DEFAULT_WHOLE)
    for family, dummy, selector in FAMILIES:
        match = re.search(r"\b%s saddr & ([0-9a-f:.]+) " % selector, structure)
        if match:
            found[family] = _mask_length(match.group(1))
    return found


def _mask_length(mask):
    """'ffff:ffff:ffff:ffff::' -> 64."""
    return bin(int(ipaddress.ip_address(mask))).count("1")


def set_sizes(structure):
    """{set name: size} of the sets with a size in a listing's structure."""
    sizes, current = {}, None
    for line in structure.splitlines():
        words = line.split()
        if words[:1] == ["set"] and words[-1:] == ["{"]:
            current = words[1]
        elif current and words[:1] == ["size"]:
            sizes[current] = int(words[1])
        elif words == ["}"]:
            current = None
    return sizes


def structure_sets(structure_lines):
    return [line.split()[1] for line in structure_lines if line.split()[:1] == ["set"] and line.rstrip().endswith("{")]


# A duration as nft prints it (days, hours, minutes, seconds, milliseconds, in that order); anything else goes to
# parse_duration.  Read once per element of every timed set: at 100,000 sources the plain parser doubles the read.
_NFT_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?")


def _duration(text):
    match = _NFT_DURATION.fullmatch(text)
    if match is None or not text:
        return parse_duration(text)
    days, hours, minutes, seconds, milliseconds = match.groups()
    whole = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    return whole + int(milliseconds) * 0.001 if milliseconds else whole


def _entry(words, default_timeout):
    """'counter packets 3 bytes 180 timeout 2h expires 59m1s' -> Entry."""
    # The two shapes dynamic sets list (with the set's own timeout), read without the general loop.
    if len(words) == 2 and words[0] == "expires":
        return Entry(default_timeout, _duration(words[1]))
    if len(words) == 7 and words[0] == "counter" and words[5] == "expires":
        return Entry(default_timeout, _duration(words[6]), int(words[2]))
    packets, timeout, expires = None, default_timeout, None
    position = 0
    while position < len(words):
        word = words[position]
        if word == "counter":
            packets = int(words[position + 2])
            position += 5
            continue
        if word == "timeout":
            timeout = _duration(words[position + 1])
        elif word == "expires":
            expires = _duration(words[position + 1])
        position += 2
    return Entry(timeout, timeout if expires is None else expires, packets)
