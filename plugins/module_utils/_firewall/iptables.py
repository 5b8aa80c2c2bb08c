# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""iptables backend: a chain of our own per family, ipsets for the allowlist.

The chain is reached from INPUT only for the guarded addresses and ports.  Rules
go in with ``iptables-restore --noflush`` after a ``--test`` run; set contents
are replaced by filling a new set and swapping it in, so no packet ever sees a
half-filled allowlist.
"""

from __future__ import annotations

import os

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.backend import Backend, carried
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import (
    FirewallError,
    LiveState,
    Snapshot,
    enable_boot_service,
    host_element,
    read_text,
    remove_file,
    write_file,
)
from ansible_collections.mailsec.mx.plugins.module_utils._traps import Entry
from ansible_collections.mailsec.mx.plugins.module_utils._values import check_rule_token

PERSIST_DIR = "/etc/iptables"
IPSET_PLUGIN = "/usr/share/netfilter-persistent/plugins.d/10-ipset"
MULTIPORT_LIMIT = 15
MIN_MAXELEM = 65536
FAMILIES = (
    # (family, iptables command, ipset family, allowlist set suffix)
    (4, "iptables", "inet", "a4"),
    (6, "ip6tables", "inet6", "a6"),
)
ALLOW_SUFFIXES = tuple(suffix for dummy, dummy2, dummy3, suffix in FAMILIES)
# ipset create options that take a value; the others (counters, comment, ...) are flags.
_VALUED_OPTIONS = ("family", "hashsize", "maxelem", "timeout", "bucketsize", "initval", "netmask", "markmask", "size", "range")
# The header options we compare and create with, in this order.
_HEADER_OPTIONS = ("family", "range", "maxelem", "netmask", "timeout")


def maxelem(count):
    """Room for the allowlist with headroom, a power of two no smaller than ipset's default."""
    size = MIN_MAXELEM
    while size < 2 * count:
        size *= 2
    return size


class IptablesBackend(Backend):
    name = "iptables"
    tools = ("iptables", "ipset", "ip6tables")
    words_shown = 3
    max_ports = MULTIPORT_LIMIT

    def __init__(self, run, name, kind):
        super().__init__(run, name, kind)
        self.chain = "MAILSEC_" + name.upper()
        self.set_prefix = "mailsec_" + name
        # {logical set name ('allow4', 'hits6', 'tried_full'): ipset suffix}, in listing order.
        self.suffixes = {"allow4": "a4", "allow6": "a6"}
        for set_name, short in kind.timed_address_sets:
            self.suffixes.update({"%s4" % set_name: short + "4", "%s6" % set_name: short + "6"})
        self.suffixes.update(dict(kind.timed_port_sets))
        self.timed_suffixes = [suffix for name, suffix in self.suffixes.items() if not name.startswith("allow")]

    def set_name(self, suffix):
        return "%s_%s" % (self.set_prefix, suffix)

    def _set_of(self, logical):
        """The ipset behind a set name as the rules use it ('hits4' -> mailsec_<name>_h4)."""
        return self.set_name(self.suffixes[logical])

    # --- wanted state -----------------------------------------------------------------------

    def jump_rules(self, spec, family):
        prefix = "32" if family == 4 else "128"
        ports = ",".join(str(check_rule_token("port", port)) for port in spec.ports)
        return [
            "-A INPUT -d %s/%s -p tcp -m multiport --dports %s%s -j %s" % (check_rule_token("address", address), prefix, ports, state, self.chain)
            for address in spec.guarded(family) for state in spec.iptables_jump_states(family, address)
        ]

    def chain_rules(self, spec, family):
        return spec.iptables_chain(family, self.chain, self._set_of)

    def _structure(self, set_headers, family_lines):
        lines = ["ipset " + header for header in set_headers]
        for (family, command, dummy, dummy2), rules in zip(FAMILIES, family_lines):
            lines.extend("%s %s" % (command, rule) for rule in rules)
        return "\n".join(lines) + "\n"

    def set_header(self, suffix, ipset_family, count, spec=None):
        """A set's header as _set_header reads it back from ``ipset save`` (and as ``create`` takes it)."""
        if suffix in ALLOW_SUFFIXES:
            return "%s hash:net family %s maxelem %d" % (self.set_name(suffix), ipset_family, maxelem(count))
        timed_set = self._timed_set_of(spec, suffix)
        if timed_set.ports:
            return "%s bitmap:port range 0-65535 timeout %d" % (self.set_name(suffix), timed_set.timeout)
        family = int(suffix[-1])
        whole = timed_set.prefixes[family] == (32 if family == 4 else 128)
        netmask = "" if whole else " netmask %d" % timed_set.prefixes[family]
        counters = " counters" if timed_set.counter else ""
        return "%s hash:ip family %s maxelem %d%s timeout %d%s" % (
            self.set_name(suffix), ipset_family, timed_set.size, netmask, timed_set.timeout, counters)

    def _wanted_headers(self, spec):
        """{suffix: header} of every set the spec needs, in listing order."""
        headers = {}
        for family, dummy, ipset_family, suffix in FAMILIES:
            headers[suffix] = self.set_header(suffix, ipset_family, len(spec.allow(family)))
        for timed_set in spec.timed_sets():
            if timed_set.ports:
                headers[timed_set.short] = self.set_header(timed_set.short, None, 0, spec)
                continue
            for family, dummy, ipset_family, dummy2 in FAMILIES:
                suffix = "%s%d" % (timed_set.short, family)
                headers[suffix] = self.set_header(suffix, ipset_family, 0, spec)
        return headers

    def _timed_set_of(self, spec, suffix):
        """The TimedSet behind an ipset suffix ('h4' -> hits)."""
        return next(timed_set for timed_set in spec.timed_sets()
                    if (timed_set.ports and suffix == timed_set.short)
                    or (not timed_set.ports and suffix[-1:] in ("4", "6") and suffix[:-1] == timed_set.short))

    def check(self, spec, persist):
        """What would fail half-way, checked before anything changes."""
        super().check(spec, persist)
        # Without netfilter-persistent's ipset plugin, rules.v4 would name sets that do not exist at boot,
        # and iptables-restore would then load none of the host's rules.
        if persist and not os.path.exists(IPSET_PLUGIN):
            raise FirewallError(
                "persisting needs netfilter-persistent with its ipset plugin (%s; Debian: ipset-persistent); "
                "install it or set persist to false" % IPSET_PLUGIN
            )

    def wanted(self, spec):
        self.check_ports(spec.ports)
        family_lines, sets = [], {}
        headers = self._wanted_headers(spec)
        for family, dummy, dummy2, suffix in FAMILIES:
            sets[self.set_name(suffix)] = spec.allow(family)
            family_lines.append(["-N " + self.chain] + self.jump_rules(spec, family) + self.chain_rules(spec, family))
        return Snapshot(self._structure(list(headers.values()), family_lines), sets)

    # --- live state -------------------------------------------------------------------------

    def _all_suffixes(self):
        return list(self.suffixes.values())

    def _live_sets(self):
        """{set name: (header, elements, {element: Entry} when timed)} of our sets, one ``ipset save`` each."""
        names = set(self._command(["ipset", "list", "-n"]).split())
        found = {}
        for suffix in self._all_suffixes():
            name = self.set_name(suffix)
            if name not in names:
                continue
            header, elements, timed, timeout = None, [], {}, None
            for line in self._command(["ipset", "save", name]).splitlines():
                words = line.split()
                if words[:1] == ["create"]:
                    header, timeout = _set_header(words)
                elif words[:1] == ["add"]:
                    elements.append(host_element(words[2]))
                    if timeout is not None:
                        timed[words[2]] = _entry(words[3:], timeout)
            found[name] = (header, elements, timed)
        return found

    def _live_rules(self, command):
        """(jump rules to our chain from INPUT, our chain's rules) or None without the chain."""
        rc, out, dummy = self.run([command, "-w", "-S", self.chain])
        if rc != 0:
            return None
        chain = [line for line in out.splitlines() if line.startswith("-A ")]
        inputs = self._command([command, "-w", "-S", "INPUT"]).splitlines()
        jumps = [line for line in inputs if line.startswith("-A INPUT ") and line.endswith(" -j " + self.chain)]
        return jumps, chain

    def current(self):
        live_sets = self._live_sets()
        family_lines, found_any = [], bool(live_sets)
        for dummy, command, dummy2, dummy3 in FAMILIES:
            live = self._live_rules(command)
            if live is None:
                family_lines.append([])
                continue
            found_any = True
            jumps, chain = live
            family_lines.append(["-N " + self.chain] + jumps + chain)
        if not found_any:
            return None
        headers = {name: header for name, (header, dummy, dummy2) in live_sets.items()}
        timed = {logical: live_sets[self.set_name(suffix)][2] for logical, suffix in self.suffixes.items()
                 if suffix in self.timed_suffixes and self.set_name(suffix) in live_sets}
        structure = self._structure([live_sets[name][0] for name in map(self.set_name, self._all_suffixes()) if name in live_sets],
                                    family_lines)
        sets = {name: live_sets[name][1] for name in map(self.set_name, ALLOW_SUFFIXES) if name in live_sets}
        return LiveState(structure, sets, counters=self._read_counters(), timed=timed,
                         prefixes=self._prefixes(headers), fill=self._fill(headers, live_sets))

    def _prefixes(self, headers):
        """{4: prefix, 6: prefix} the sets group sources by: the netmask of a timed set of each family."""
        found = {4: 32, 6: 128}
        for family in (4, 6):
            for suffix in self.timed_suffixes:
                words = (headers.get(self.set_name(suffix)) or "").split()
                if suffix.endswith(str(family)) and "netmask" in words:
                    found[family] = int(words[words.index("netmask") + 1])
                    break
        return found

    def _fill(self, headers, live_sets):
        """{set name: (elements, maxelem)} of the timed sets with a size."""
        fill = {}
        for suffix in self.timed_suffixes:
            name = self.set_name(suffix)
            words = (headers.get(name) or "").split()
            if "maxelem" in words:
                fill[name] = (len(live_sets[name][2]), int(words[words.index("maxelem") + 1]))
        return fill

    def _read_counters(self):
        counters = {name: 0 for name in self.kind.counters}
        for dummy, command, dummy2, dummy3 in FAMILIES:
            rc, out, dummy4 = self.run([command, "-w", "-L", self.chain, "-n", "-v", "-x"])
            if rc != 0:
                continue
            for line in out.splitlines():
                words = line.split()
                if len(words) < 3 or not words[0].isdigit():
                    continue
                key = self.kind.iptables_counter(words, line)
                if key:
                    counters[key] += int(words[0])
        # (packets, bytes) like nftables' counters; a rule change resets iptables' counters, so none carry over.
        return {name: (packets, 0) for name, packets in counters.items()}

    # --- changes ----------------------------------------------------------------------------

    def apply(self, spec, live):
        wanted = self.wanted(spec)
        live_sets = self._live_sets()
        script = []
        headers = self._wanted_headers(spec)
        for family, dummy, ipset_family, suffix in FAMILIES:
            name = self.set_name(suffix)
            live_set = live_sets.get(name)
            if live_set is not None and live_set[0] == headers[suffix] and tuple(sorted(live_set[1])) == wanted.sets[name]:
                continue
            script.extend(_fill_set_script(name, headers[suffix], spec.allow(family), exists=live_set is not None))
        for suffix in self.timed_suffixes:
            name = self.set_name(suffix)
            live_set = live_sets.get(name)
            if suffix not in headers or (live_set is not None and live_set[0] == headers[suffix]):
                continue
            # A new timeout or netmask needs a new set: the remembered sources move over with the time they have left.
            timed_set = self._timed_set_of(spec, suffix)
            kept = carried(live_set[2], timed_set, _timed_element) if live_set and not timed_set.ports else []
            script.extend(_fill_set_script(name, headers[suffix], kept, exists=live_set is not None))
        if script:
            self._command(["ipset", "restore"], data="\n".join(script) + "\n")
        for family, command, dummy, dummy2 in FAMILIES:
            live_rules = self._live_rules(command)
            stale_jumps = live_rules[0] if live_rules else []
            lines = ["*filter", ":%s - [0:0]" % self.chain]
            lines.extend("-D" + jump[2:] for jump in stale_jumps)
            lines.extend(self.chain_rules(spec, family))
            # Inserted in reverse at position 1, so they end up first and in order.
            lines.extend("-I INPUT 1" + jump[len("-A INPUT"):] for jump in reversed(self.jump_rules(spec, family)))
            lines.append("COMMIT")
            self._restore(command, "\n".join(lines) + "\n")
        # Sets this spec no longer has (recording switched off), once no rule uses them any more.
        stale = [self.set_name(suffix) for suffix in self.timed_suffixes if suffix not in headers and self.set_name(suffix) in live_sets]
        if stale:
            self._command(["ipset", "restore"], data="".join("destroy %s\n" % name for name in stale))

    def _restore(self, command, text):
        self._load_checked(text, ".rules", lambda path: [command + "-restore", "-w", "--test", "--noflush", path],
                           lambda path: [command + "-restore", "-w", "--noflush", path])

    def remove(self):
        for dummy, command, dummy2, dummy3 in FAMILIES:
            live = self._live_rules(command)
            if live is None:
                continue
            lines = ["*filter"] + ["-D" + jump[2:] for jump in live[0]]
            lines += ["-F " + self.chain, "-X " + self.chain, "COMMIT"]
            self._restore(command, "\n".join(lines) + "\n")
        names = set(self._command(["ipset", "list", "-n"]).split())
        script = ["destroy " + self.set_name(suffix) for suffix in self._all_suffixes() if self.set_name(suffix) in names]
        if script:
            self._command(["ipset", "restore"], data="\n".join(script) + "\n")

    # --- persistence ------------------------------------------------------------------------

    def persist(self, spec, check_mode):
        """Merge our chain and sets into the netfilter-persistent files; return changed paths."""
        changed = []
        ipsets_path = os.path.join(PERSIST_DIR, "ipsets")
        ours = []
        if spec is not None:
            headers = self._wanted_headers(spec)
            for family, dummy, dummy2, suffix in FAMILIES:
                ours.append("create " + headers[suffix])
                ours.extend("add %s %s" % (self.set_name(suffix), element) for element in spec.allow(family))
            # Timed sets start empty at boot: what they remembered is not worth a reboot's delay.
            ours.extend("create " + headers[suffix] for suffix in self.timed_suffixes if suffix in headers)
        names = [self.set_name(suffix) for suffix in self._all_suffixes()]
        text = merge_ipsets_file(read_text(ipsets_path), names, ours)
        if _write_or_remove(ipsets_path, text, check_mode):
            changed.append(ipsets_path)
        for family, dummy, dummy2, dummy3 in FAMILIES:
            path = os.path.join(PERSIST_DIR, "rules.v%d" % family)
            ours = []
            if spec is not None:
                ours = self.jump_rules(spec, family) + self.chain_rules(spec, family)
            text = merge_rules_file(read_text(path), self.chain, ours)
            if _write_or_remove(path, text, check_mode):
                changed.append(path)
        if spec is not None and enable_boot_service(self.run, "netfilter-persistent.service", check_mode):
            changed.append("netfilter-persistent.service")
        return changed


def _timed_element(address, left, packets):
    return "%s timeout %d" % (address, left) + (" packets %d bytes 0" % packets if packets is not None else "")


def _set_header(words):
    """``create NAME hash:net family inet hashsize 1024 maxelem N ...`` -> (the parts we compare, timeout or None)."""
    options, flags, position = {}, [], 3
    while position < len(words):
        if words[position] in _VALUED_OPTIONS:
            options[words[position]] = words[position + 1]
            position += 2
        else:
            flags.append(words[position])
            position += 1
    parts = [words[1], words[2]]
    for option in _HEADER_OPTIONS:
        if option in options:
            parts.extend((option, options[option]))
    if "counters" in flags:
        parts.append("counters")
    return " ".join(parts), (int(options["timeout"]) if "timeout" in options else None)


def _entry(words, timeout):
    """``timeout 3550 packets 2 bytes 120`` after an element of ``ipset save`` -> Entry.

    ipset keeps only the time left, not each element's own timeout: the set's stands in for it.
    """
    options = dict(zip(words[::2], words[1::2]))
    packets = int(options["packets"]) if "packets" in options else None
    return Entry(float(timeout), float(options.get("timeout", timeout)), packets)


def _fill_set_script(name, header, elements, exists):
    """``ipset restore`` lines that give set ``name`` exactly ``elements``, swapping if it exists."""
    target = name + "n" if exists else name
    options = header.split(" ", 1)[1]
    lines = []
    if exists:
        # A leftover from an interrupted run would make 'create' fail.
        lines.append("create %s %s -exist" % (target, options))
        lines.append("destroy %s" % target)
    lines.append("create %s %s" % (target, options))
    lines.extend("add %s %s" % (target, element) for element in elements)
    if exists:
        lines.append("swap %s %s" % (target, name))
        lines.append("destroy %s" % target)
    return lines


def merge_ipsets_file(text, names, ours):
    """An ``ipset save`` file with the sets ``names`` replaced by ``ours``; other sets are kept."""
    kept = [line for line in text.splitlines() if not _names_our_set(line, names)]
    merged = kept + list(ours)
    return "\n".join(merged) + "\n" if merged else ""


def _names_our_set(line, names):
    words = line.split()
    return len(words) > 1 and words[0] in ("create", "add") and words[1] in names


def merge_rules_file(text, chain, ours):
    """An ``iptables-save`` file with our chain and its INPUT jumps replaced by ``ours``.

    Everything else in the file is kept as it is.  Our jumps go first in INPUT.
    """
    lines = text.splitlines()
    if not ours:
        kept = [line for line in lines if not _names_our_chain(line, chain)]
        return _drop_empty_filter(kept)
    if "*filter" not in lines:
        lines += ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", "COMMIT"]
    start = lines.index("*filter")
    end = lines.index("COMMIT", start)
    section = [line for line in lines[start + 1:end] if not _names_our_chain(line, chain)]
    declarations = [line for line in section if line.startswith(":")]
    body = [line for line in section if not line.startswith(":")]
    section = declarations + [":%s - [0:0]" % chain] + ours + body
    return "\n".join(lines[:start + 1] + section + lines[end:]) + "\n"


def _names_our_chain(line, chain):
    words = line.split()
    if not words:
        return False
    if words[0] in (":" + chain, "-A", "-N") and (words[0] == ":" + chain or words[1] == chain):
        return True
    return words[0] == "-A" and words[-2:] == ["-j", chain]


def _drop_empty_filter(lines):
    """Without our chain, a filter section we created and nothing else uses goes away too."""
    text = "\n".join(lines) + "\n" if lines else ""
    untouched_filter = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    return "" if text == untouched_filter else text


def _write_or_remove(path, text, check_mode):
    if text:
        return write_file(path, text, check_mode)
    return remove_file(path, check_mode)
