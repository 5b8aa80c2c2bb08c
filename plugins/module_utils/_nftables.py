# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nftables backend: one table of our own, replaced in one ``nft -f`` transaction.

The structure is rendered exactly as ``nft -s -t list table`` prints it, so the
live table compares with the wanted one as text; set elements compare as sets.
"""

from __future__ import annotations

import os
import tempfile

from ansible_collections.mailsec.mx.plugins.module_utils._firewall import (
    FirewallError,
    Snapshot,
    host_element,
    read_text,
    remove_file,
    boot_service_enabled,
    enable_boot_service,
    write_file,
)

NFTABLES_CONF = "/etc/nftables.conf"
NFTABLES_CONF_HEADER = "#!/usr/sbin/nft -f\n"
PERSIST_DIR = "/etc/nftables.d"
COUNTERS = ("allowed", "refused")


def _anonymous(values):
    values = [str(value) for value in values]
    return values[0] if len(values) == 1 else "{ %s }" % ", ".join(values)


def rules(spec):
    """The rules of the input chain, as nft lists them."""
    verdict = "reject with tcp reset" if spec.action == "reset" else "drop"
    lines = []
    for family, addresses, allow_set in (("ip", spec.addresses4, "allow4"), ("ip6", spec.addresses6, "allow6")):
        if not addresses:
            continue
        match = "%s daddr %s tcp dport %s" % (family, _anonymous(addresses), _anonymous(spec.ports))
        lines.append('%s %s saddr @%s counter name "allowed" accept' % (match, family, allow_set))
        lines.append('%s counter name "refused" %s' % (match, verdict))
    return lines


def _table_text(spec, table, elements=None, counters=None):
    """The table as nft lists it (no ``elements``), or as a file to load (with them)."""
    blocks = []
    for name in COUNTERS:
        packets, octets = (counters or {}).get(name, (0, 0))
        inner = ["\t\tpackets %d bytes %d" % (packets, octets)] if counters is not None else []
        blocks.append(["\tcounter %s {" % name] + inner + ["\t}"])
    for name, kind in (("allow4", "ipv4_addr"), ("allow6", "ipv6_addr")):
        block = ["\tset %s {" % name, "\t\ttype %s" % kind, "\t\tflags interval"]
        if elements is not None and elements[name]:
            block.append("\t\telements = {\n\t\t\t%s\n\t\t}" % ",\n\t\t\t".join(elements[name]))
        blocks.append(block + ["\t}"])
    chain = ["\tchain input {", "\t\ttype filter hook input priority filter - 10; policy accept;"]
    blocks.append(chain + ["\t\t" + rule for rule in rules(spec)] + ["\t}"])
    body = "\n\n".join("\n".join(block) for block in blocks)
    comment = '\tcomment "mailsec.mx %s: managed by Ansible, changes here are overwritten"' % spec.name
    return "table inet %s {\n%s\n%s\n}\n" % (table, comment, body)


def load_file(spec, table, counters=None):
    """A file for ``nft -f`` that replaces only our table, atomically (nft 1.0.6 has no 'destroy')."""
    elements = {"allow4": spec.allow4, "allow6": spec.allow6}
    return "table inet %s {}\ndelete table inet %s\n%s" % (table, table, _table_text(spec, table, elements, counters))


class NftablesBackend:
    name = "nftables"

    def __init__(self, run, name):
        self.run = run
        self.table = "mailsec_" + name
        self.persist_path = os.path.join(PERSIST_DIR, self.table + ".nft")
        self._counters = {}
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
                self._counters = {}
                return None
            raise FirewallError("nft list table inet %s failed: %s" % (self.table, err.strip()))
        structure, sets, self._counters = parse_listing(listing)
        return Snapshot(structure, sets)

    def counters(self):
        """Packets per counter as last read, e.g. {'allowed': 3, 'refused': 12}."""
        return {name: values[0] for name, values in self._counters.items()}

    def apply(self, spec, before):
        # The table is replaced whole: carry its counters over.
        counters = self._counters if before is not None else None
        self._load(load_file(spec, self.table, counters))

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
    """Split ``nft list table`` output into (structure as ``nft -s -t`` prints it, set elements, counters)."""
    structure, sets, counters = [], {}, {}
    block = None
    elements = None
    for line in listing.splitlines():
        words = line.split()
        if elements is not None:
            elements.extend(_elements_in(line))
            if line.rstrip().endswith("}"):
                elements = None
            continue
        if words[:1] in (["set"], ["counter"]) and words[-1:] == ["{"]:
            block = (words[0], words[1])
            if block[0] == "set":
                sets[block[1]] = []
        elif block and block[0] == "set" and words[:2] == ["elements", "="]:
            elements = sets[block[1]]
            elements.extend(_elements_in(line.split("{", 1)[1]))
            if line.rstrip().endswith("}"):
                elements = None
            continue
        elif block and block[0] == "counter" and words[:1] == ["packets"]:
            counters[block[1]] = (int(words[1]), int(words[3]))
            continue
        elif words == ["}"]:
            block = None
        structure.append(line)
    return "\n".join(structure) + "\n", sets, counters


def _elements_in(text):
    return [host_element(token) for token in text.replace("}", " ").replace(",", " ").split()]
