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
import tempfile

from ansible_collections.mailsec.mx.plugins.module_utils._firewall import (
    CONNLABEL,
    FirewallError,
    Snapshot,
    host_element,
    read_text,
    remove_file,
    boot_service_enabled,
    enable_boot_service,
    write_file,
)
from ansible_collections.mailsec.mx.plugins.module_utils._traps import Entry, carry, format_duration, parse_duration
from ansible_collections.mailsec.mx.plugins.module_utils._values import check_rule_token

NFTABLES_CONF = "/etc/nftables.conf"
NFTABLES_CONF_HEADER = "#!/usr/sbin/nft -f\n"
PERSIST_DIR = "/etc/nftables.d"
COUNTERS = {"dead": ("allowed", "refused"), "trap": ("trap_hits", "suppressed", "unrecorded")}
# (family, element type, nft address selector)
FAMILIES = ((4, "ipv4_addr", "ip"), (6, "ipv6_addr", "ip6"))
# A trap's timed sets of source addresses: name prefix -> the Spec attribute holding its timeout.
TIMED_SETS = (("hits", "suppress_time"), ("seen", "seen_time"), ("tried", "order_window"), ("knocked", "order_window"))


def _anonymous(values):
    values = [str(check_rule_token("value", value)) for value in values]
    return values[0] if len(values) == 1 else "{ %s }" % ", ".join(values)


def _sorted_addresses(addresses):
    return sorted(addresses, key=ipaddress.ip_address)


def rules(spec):
    """The rules of the dead primary's input chain, as nft lists them."""
    verdict = "reject with tcp reset" if spec.action == "reset" else "drop"
    lines = []
    for family, addresses, allow_set in (("ip", spec.addresses4, "allow4"), ("ip6", spec.addresses6, "allow6")):
        if not addresses:
            continue
        match = "%s daddr %s tcp dport %s" % (family, _anonymous(addresses), _anonymous(spec.ports))
        lines.append('%s %s saddr @%s counter name "allowed" accept' % (match, family, allow_set))
        lines.append('%s counter name "refused" %s' % (match, verdict))
    return lines


def _source(spec, family, selector):
    """A source as the sets remember it: its address, or its prefix."""
    if spec.whole_address(family):
        return "%s saddr" % selector
    return "%s saddr & %s" % (selector, spec.mask(family))


def _lookup(spec, family, selector, name):
    # nft lists a lookup of a masked source with an explicit '=='.
    if spec.whole_address(family):
        return "%s saddr @%s%d" % (selector, name, family)
    return "%s saddr & %s == @%s%d" % (selector, spec.mask(family), name, family)


def trap_rules(spec):
    """The trap's chains as nft lists them: {'input': [...], 'refuse': [...], 'record': [...]}.

    Nothing that decides who is refused learns from a packet that is cheap to forge: a source is looked at once per
    connection, at the first packet it sends after the TCP handshake completed (conntrack's *assured* status: set by
    the ACK that completes the handshake; its *established* state alone only means a reply was seen, and the RST a
    victim sends back to a SYN-ACK it never asked for already has it), and a conntrack label marks the connection as
    looked at.  A handshake with one of the host's own MX addresses puts the source into *tried* (an MTA
    walking the MX list), and so does, into *knocked*, a mere SYN to one of them (the primary may refuse or drop
    connections while the traps answer: an MTA walking past it never completes a handshake there); a handshake with a
    trap records the source in *hits* only if it is in neither.  A forged SYN can only shield a source from being
    recorded, never get anyone refused, and a full *knocked* set changes nothing else.  Suppression
    (with ``suppress``) refuses a recorded source's new connections; its first trap connection always reaches the
    MTA.  When *tried* is full, recording pauses for the order window instead of risking an MTA whose walk could not
    be remembered; when *hits* is full, the connection that could not be recorded is counted as unrecorded and, with
    suppression, refused; no set ever evicts an element.
    """
    verdict = "reject with tcp reset" if spec.action == "reset" else "drop"
    exempt = ["ip saddr @allow4 return", "ip6 saddr @allow6 return", "fib saddr type local return"]
    ports = _anonymous(spec.ports)
    jumps, refuse, record = [], list(exempt), list(exempt)
    for family, dummy, selector in FAMILIES:
        own = spec.own(family)
        if own:
            jumps.append("%s daddr %s tcp dport %s ct state new update @knocked%d { %s }"
                         % (selector, _anonymous(_sorted_addresses(own)), ports, family, _source(spec, family, selector)))
    for family, dummy, selector in FAMILIES:
        guarded = spec.guarded(family)
        if spec.suppress and guarded:
            jumps.append("%s daddr %s tcp dport %s ct state new jump refuse" % (selector, _anonymous(_sorted_addresses(guarded)), ports))
    for family, dummy, selector in FAMILIES:
        guarded = spec.guarded(family)
        if guarded:
            jumps.append("%s daddr %s tcp dport %s ct state established ct status assured ct direction original ct label != %d ct label set %d jump record"
                         % (selector, _anonymous(_sorted_addresses(guarded)), ports, CONNLABEL, CONNLABEL))
    for family, dummy, selector in FAMILIES:
        if spec.suppress:
            refuse.append('meta l4proto tcp %s counter name "suppressed" %s' % (_lookup(spec, family, selector, "hits"), verdict))
    for family, dummy, selector in FAMILIES:
        own = spec.own(family)
        if own:
            match = "%s daddr %s" % (selector, _anonymous(_sorted_addresses(own)))
            record.append("%s update @tried%d { %s } return" % (match, family, _source(spec, family, selector)))
            # Reached only when the tried set is full.
            record.append("%s update @tried_full { tcp dport } return" % match)
    record.append('tcp dport @tried_full counter name "unrecorded" return')
    record.extend("%s return" % _lookup(spec, family, selector, name) for name in ("tried", "knocked") for family, dummy, selector in FAMILIES)
    record.append('counter name "trap_hits"')
    record.extend("add @seen%d { %s counter }" % (family, _source(spec, family, selector)) for family, dummy, selector in FAMILIES)
    record.extend("update @hits%d { %s } return" % (family, _source(spec, family, selector)) for family, dummy, selector in FAMILIES)
    # Reached only when the hits set is full.
    record.append('meta l4proto tcp counter name "unrecorded" %s' % verdict if spec.suppress else 'counter name "unrecorded"')
    return {"input": jumps, "refuse": refuse, "record": record}


def _set_blocks(spec, elements, dynamic):
    blocks = []
    for family, kind, dummy in FAMILIES:
        block = ["\tset allow%d {" % family, "\t\ttype %s" % kind, "\t\tflags interval"]
        if elements is not None and elements["allow%d" % family]:
            block.append("\t\telements = {\n\t\t\t%s\n\t\t}" % ",\n\t\t\t".join(elements["allow%d" % family]))
        blocks.append(block + ["\t}"])
    if spec.kind != "trap":
        return blocks
    for prefix, attribute in TIMED_SETS:
        timeout = getattr(spec, attribute)
        for family, kind, dummy in FAMILIES:
            name = "%s%d" % (prefix, family)
            block = ["\tset %s {" % name, "\t\ttype %s" % kind, "\t\tsize %d" % spec.set_size,
                     "\t\tflags dynamic,timeout", "\t\ttimeout %s" % format_duration(timeout)]
            carried = _carried_elements((dynamic or {}).get(name, {}), timeout, spec.prefixes)
            if carried:
                block.append("\t\telements = {\n\t\t\t%s\n\t\t}" % ",\n\t\t\t".join(carried))
            blocks.append(block + ["\t}"])
    blocks.append(["\tset tried_full {", "\t\ttype inet_service", "\t\tsize 65536", "\t\tflags dynamic,timeout",
                   "\t\ttimeout %s" % format_duration(spec.order_window), "\t}"])
    return blocks


def _carried_elements(remembered, timeout, prefixes):
    """Remembered elements written back under the (maybe new) set timeout and prefixes (see _traps.carry)."""
    elements = []
    for address, left, packets in carry(remembered, timeout, prefixes):
        counter = "counter packets %d bytes 0 " % packets if packets is not None else ""
        elements.append("%s %stimeout %s expires %s" % (address, counter, format_duration(timeout), format_duration(left)))
    return elements


def _table_text(spec, table, elements=None, counters=None, dynamic=None):
    """The table as nft lists it (no ``elements``), or as a file to load (with them)."""
    blocks = []
    for name in COUNTERS[spec.kind]:
        packets, octets = (counters or {}).get(name, (0, 0))
        inner = ["\t\tpackets %d bytes %d" % (packets, octets)] if counters is not None else []
        blocks.append(["\tcounter %s {" % name] + inner + ["\t}"])
    blocks.extend(_set_blocks(spec, elements, dynamic))
    base = "\t\ttype filter hook input priority filter - 10; policy accept;"
    if spec.kind == "trap":
        chains = trap_rules(spec)
        blocks.append(["\tchain input {", base] + ["\t\t" + rule for rule in chains["input"]] + ["\t}"])
        blocks.extend(["\tchain %s {" % name] + ["\t\t" + rule for rule in chains[name]] + ["\t}"] for name in ("record", "refuse"))
    else:
        blocks.append(["\tchain input {", base] + ["\t\t" + rule for rule in rules(spec)] + ["\t}"])
    body = "\n\n".join("\n".join(block) for block in blocks)
    comment = '\tcomment "mailsec.mx %s: managed by Ansible, changes here are overwritten"' % spec.name
    return "table inet %s {\n%s\n%s\n}\n" % (table, comment, body)


def load_file(spec, table, counters=None, dynamic=None):
    """A file for ``nft -f`` that replaces only our table, atomically (nft 1.0.6 has no 'destroy')."""
    elements = {"allow4": spec.allow4, "allow6": spec.allow6}
    return "table inet %s {}\ndelete table inet %s\n%s" % (table, table, _table_text(spec, table, elements, counters, dynamic))


class NftablesBackend:
    name = "nftables"

    def __init__(self, run, name):
        self.run = run
        self.table = "mailsec_" + name
        self.persist_path = os.path.join(PERSIST_DIR, self.table + ".nft")
        self._counters = {}
        self._timed = {}
        self._suppressing = False
        self._structure = ""
        self.warnings = []

    def _nft(self, *args, **kwargs):
        rc, out, err = self.run(["nft"] + list(args), **kwargs)
        if rc != 0:
            raise FirewallError("nft %s failed: %s" % (" ".join(args), (err or out).strip()))
        return out

    def check(self, spec, persist):
        """Nothing to check beyond ``nft -c``, which runs right before every change."""

    def wanted(self, spec):
        return Snapshot(_table_text(spec, self.table), {"allow4": spec.allow4, "allow6": spec.allow6})

    def current(self):
        # One listing: every nft call reads the whole ruleset, set elements included
        # (about a second at 100,000 elements), so structure, elements and counters
        # all come from the same text.
        rc, listing, err = self.run(["nft", "list", "table", "inet", self.table])
        if rc != 0:
            if "No such file or directory" in err:
                self._counters, self._timed, self._suppressing = {}, {}, False
                return None
            raise FirewallError("nft list table inet %s failed: %s" % (self.table, err.strip()))
        structure, sets, self._counters, self._timed = parse_listing(listing)
        self._suppressing = 'name "suppressed"' in structure and ("reject" in structure or "drop" in structure)
        self._structure = structure
        return Snapshot(structure, {name: sets[name] for name in ("allow4", "allow6") if name in sets})

    def trap_entries(self):
        """({source: Entry} of the hits sets, the same of the seen sets, whether the ruleset suppresses), as last read."""
        hits, seen = {}, {}
        for family, dummy, dummy2 in FAMILIES:
            hits.update(self._timed.get("hits%d" % family, {}))
            seen.update(self._timed.get("seen%d" % family, {}))
        return hits, seen, self._suppressing

    def prefixes(self):
        """{4: prefix, 6: prefix} the trap's sets group sources by, as last read."""
        found = dict(DEFAULT_WHOLE)
        for family, dummy, selector in FAMILIES:
            match = re.search(r"update @hits%d \{ %s saddr & ([0-9a-f:.]+) \}" % (family, selector), self._structure)
            if match:
                found[family] = _mask_length(match.group(1))
        return found

    def set_fill(self):
        """{set name: (elements, size)} of the trap's sized sets, as last read."""
        sizes = set_sizes(self._structure)
        return {name: (len(self._timed.get(name, {})), size) for name, size in sizes.items()}

    def counters(self):
        """Packets per counter as last read, e.g. {'allowed': 3, 'refused': 12}."""
        return {name: values[0] for name, values in self._counters.items()}

    def apply(self, spec, before):
        # The table is replaced whole: carry its counters and the traps' memory over.
        counters = self._counters if before is not None else None
        dynamic = self._timed if before is not None and spec.kind == "trap" else None
        self._load(load_file(spec, self.table, counters, dynamic))

    def remove(self):
        self._load("delete table inet %s\n" % self.table)

    def _load(self, text):
        with tempfile.NamedTemporaryFile("w", prefix="mailsec-", suffix=".nft", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            self._nft("-c", "-f", handle.name)
            self._nft("-f", handle.name)

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


def _entry(words, default_timeout):
    """'counter packets 3 bytes 180 timeout 2h expires 59m1s' -> Entry."""
    packets, timeout, expires = None, default_timeout, None
    position = 0
    while position < len(words):
        word = words[position]
        if word == "counter":
            packets = int(words[position + 2])
            position += 5
            continue
        if word == "timeout":
            timeout = parse_duration(words[position + 1])
        elif word == "expires":
            expires = parse_duration(words[position + 1])
        position += 2
    return Entry(timeout, timeout if expires is None else expires, packets)
