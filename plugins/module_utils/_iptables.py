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
import tempfile

from ansible_collections.mailsec.mx.plugins.module_utils._firewall import (
    CONNLABEL,
    FirewallError,
    Snapshot,
    host_element,
    read_text,
    remove_file,
    enable_boot_service,
    write_file,
)
from ansible_collections.mailsec.mx.plugins.module_utils._traps import Entry, carry
from ansible_collections.mailsec.mx.plugins.module_utils._values import check_rule_token

PERSIST_DIR = "/etc/iptables"
IPSET_PLUGIN = "/usr/share/netfilter-persistent/plugins.d/10-ipset"
MULTIPORT_LIMIT = 15
MIN_MAXELEM = 65536
FAMILIES = (
    # (family, iptables command, ipset family, set suffix, host prefix)
    (4, "iptables", "inet", "a4", "32"),
    (6, "ip6tables", "inet6", "a6", "128"),
)
# A trap's timed sets per family: hits (refreshed at each hit), seen (first hit, with a counter), tried (sources that
# completed a handshake with one of the host's own MX addresses) and knocked (sources that sent one a SYN);
# tried_full ("tf") holds the port while the tried sets are full.
TIMED_SUFFIXES = ("h4", "h6", "s4", "s6", "t4", "t6", "k4", "k6", "tf")
ALL_SUFFIXES = ("a4", "a6") + TIMED_SUFFIXES
TRAP_HIT = "mailsec trap hit"
SUPPRESSED = "mailsec suppressed"
UNRECORDED = "mailsec unrecorded"
TAGS = (("trap_hits", TRAP_HIT), ("suppressed", SUPPRESSED), ("unrecorded", UNRECORDED))
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


class IptablesBackend:
    name = "iptables"

    def __init__(self, run, name):
        self.run = run
        self.chain = "MAILSEC_" + name.upper()
        self.set_prefix = "mailsec_" + name
        self._counters = {}
        self._timed = {}
        self._headers = {}
        self._suppressing = False
        self.warnings = []

    def set_name(self, suffix):
        return "%s_%s" % (self.set_prefix, suffix)

    # --- wanted state -----------------------------------------------------------------------

    def _elements(self, spec, family):
        return spec.allow4 if family == 4 else spec.allow6

    def jump_rules(self, spec, family):
        prefix = "32" if family == 4 else "128"
        ports = ",".join(str(check_rule_token("port", port)) for port in spec.ports)
        return [
            "-A INPUT -d %s/%s -p tcp -m multiport --dports %s%s -j %s" % (check_rule_token("address", address), prefix, ports, state, self.chain)
            for address in spec.guarded(family) for state in _jump_states(spec, family, address)
        ]

    def chain_rules(self, spec, family):
        verdict = "REJECT --reject-with tcp-reset" if spec.action == "reset" else "DROP"
        suffix = "4" if family == 4 else "6"
        allow = self.set_name("a" + suffix)
        if spec.kind == "dead":
            return [
                "-A %s -m set --match-set %s src -j RETURN" % (self.chain, allow),
                "-A %s -p tcp -j %s" % (self.chain, verdict),
            ]
        return self._trap_rules(spec, family, verdict)

    def _trap_rules(self, spec, family, verdict):
        """The trap chain of one family; see _nftables.trap_rules for why it is built this way."""
        suffix = "4" if family == 4 else "6"
        prefix = "32" if family == 4 else "128"
        chain = self.chain
        hits, seen, tried, knocked = (self.set_name(kind + suffix) for kind in ("h", "s", "t", "k"))
        full = self.set_name("tf")
        lines = [
            '-A %s -m conntrack --ctstate ESTABLISHED -m connlabel --label "%d" --set' % (chain, CONNLABEL),
            "-A %s -m set --match-set %s src -j RETURN" % (chain, self.set_name("a" + suffix)),
            "-A %s -m addrtype --src-type LOCAL -j RETURN" % chain,
        ]
        for address in spec.own(family):
            lines.append("-A %s -d %s/%s -m conntrack --ctstate NEW -j SET --add-set %s src --exist"
                         % (chain, check_rule_token("address", address), prefix, knocked))
        if spec.suppress:
            lines.append('-A %s -p tcp -m conntrack --ctstate NEW -m set --match-set %s src -m comment --comment "%s" -j %s'
                         % (chain, hits, SUPPRESSED, verdict))
        lines.append("-A %s -m conntrack --ctstate NEW -j RETURN" % chain)
        for address in spec.own(family):
            match = "-A %s -d %s/%s" % (chain, check_rule_token("address", address), prefix)
            lines.append("%s -j SET --add-set %s src --exist" % (match, tried))
            # Only when the tried set is full: recording pauses rather than risk an MTA's walk going unremembered.
            lines.append("%s -m set ! --match-set %s src -j SET --add-set %s dst --exist" % (match, tried, full))
            lines.append("%s -j RETURN" % match)
        lines.append('-A %s -m set --match-set %s dst -m comment --comment "%s" -j RETURN' % (chain, full, UNRECORDED))
        lines.append("-A %s -m set --match-set %s src -j RETURN" % (chain, tried))
        lines.append("-A %s -m set --match-set %s src -j RETURN" % (chain, knocked))
        lines.append('-A %s -m comment --comment "%s"' % (chain, TRAP_HIT))
        # The match counts the hit on an existing element; adding does not refresh it, so it keeps the first hit.
        lines.append("-A %s -m set --match-set %s src" % (chain, seen))
        lines.append("-A %s -j SET --add-set %s src" % (chain, seen))
        lines.append("-A %s -j SET --add-set %s src --exist" % (chain, hits))
        # Only when the hits set is full: counted, and with suppression refused rather than let through unremembered.
        unrecorded = '-m set ! --match-set %s src -m comment --comment "%s"' % (hits, UNRECORDED)
        lines.append("-A %s -p tcp %s -j %s" % (chain, unrecorded, verdict) if spec.suppress else "-A %s %s" % (chain, unrecorded))
        return lines

    def _structure(self, set_headers, family_lines):
        lines = ["ipset " + header for header in set_headers]
        for (family, command, dummy, dummy2, dummy3), rules in zip(FAMILIES, family_lines):
            lines.extend("%s %s" % (command, rule) for rule in rules)
        return "\n".join(lines) + "\n"

    def set_header(self, suffix, ipset_family, count, spec=None):
        """A set's header as _set_header reads it back from ``ipset save`` (and as ``create`` takes it)."""
        if suffix.startswith("a"):
            return "%s hash:net family %s maxelem %d" % (self.set_name(suffix), ipset_family, maxelem(count))
        if suffix == "tf":
            return "%s bitmap:port range 0-65535 timeout %d" % (self.set_name(suffix), spec.order_window)
        timeout = {"h": spec.suppress_time, "s": spec.seen_time, "t": spec.order_window, "k": spec.order_window}[suffix[0]]
        family = 4 if suffix.endswith("4") else 6
        netmask = "" if spec.whole_address(family) else " netmask %d" % spec.prefixes[family]
        counters = " counters" if suffix.startswith("s") else ""
        return "%s hash:ip family %s maxelem %d%s timeout %d%s" % (
            self.set_name(suffix), ipset_family, spec.set_size, netmask, timeout, counters)

    def _wanted_headers(self, spec):
        """{suffix: header} of every set the spec needs."""
        headers = {}
        for family, dummy, ipset_family, suffix, dummy2 in FAMILIES:
            headers[suffix] = self.set_header(suffix, ipset_family, len(self._elements(spec, family)))
            if spec.kind == "trap":
                for timed in ("h", "s", "t", "k"):
                    headers[timed + suffix[1]] = self.set_header(timed + suffix[1], ipset_family, 0, spec)
        if spec.kind == "trap":
            headers["tf"] = self.set_header("tf", None, 0, spec)
        return headers

    def check(self, spec, persist):
        """What would fail half-way, checked before anything changes."""
        if len(spec.ports) > MULTIPORT_LIMIT:
            raise FirewallError("the iptables backend takes at most %d ports (multiport); use nftables" % MULTIPORT_LIMIT)
        # Without netfilter-persistent's ipset plugin, rules.v4 would name sets that do not exist at boot,
        # and iptables-restore would then load none of the host's rules.
        if persist and not os.path.exists(IPSET_PLUGIN):
            raise FirewallError(
                "persisting needs netfilter-persistent with its ipset plugin (%s; Debian: ipset-persistent); "
                "install it or set persist to false" % IPSET_PLUGIN
            )

    def wanted(self, spec):
        if len(spec.ports) > MULTIPORT_LIMIT:
            raise FirewallError("the iptables backend takes at most %d ports (multiport); use nftables" % MULTIPORT_LIMIT)
        family_lines, sets = [], {}
        headers = self._wanted_headers(spec)
        for family, dummy, dummy2, suffix, dummy3 in FAMILIES:
            sets[self.set_name(suffix)] = self._elements(spec, family)
            family_lines.append(["-N " + self.chain] + self.jump_rules(spec, family) + self.chain_rules(spec, family))
        return Snapshot(self._structure([headers[suffix] for suffix in ALL_SUFFIXES if suffix in headers], family_lines), sets)

    # --- live state -------------------------------------------------------------------------

    def _command(self, args, data=None):
        rc, out, err = self.run(args, data=data)
        if rc != 0:
            raise FirewallError("%s failed: %s" % (" ".join(args[:3]), (err or out).strip()))
        return out

    def _live_sets(self, suffixes=ALL_SUFFIXES):
        """{set name: (header, elements, {element: Entry} when timed)} of our sets, one ``ipset save`` each."""
        names = set(self._command(["ipset", "list", "-n"]).split())
        found = {}
        for suffix in suffixes:
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
        self._headers = {name: header for name, (header, dummy, dummy2) in found.items()}
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
        for dummy, command, dummy2, dummy3, dummy4 in FAMILIES:
            live = self._live_rules(command)
            if live is None:
                family_lines.append([])
                continue
            found_any = True
            jumps, chain = live
            family_lines.append(["-N " + self.chain] + jumps + chain)
        if not found_any:
            return None
        self._timed = {name: timed for name, (dummy, dummy2, timed) in live_sets.items()}
        headers = [live_sets[name][0] for name in map(self.set_name, ALL_SUFFIXES) if name in live_sets]
        sets = {name: live_sets[name][1] for name in map(self.set_name, ("a4", "a6")) if name in live_sets}
        self._read_counters()
        self._suppressing = any(SUPPRESSED in line for lines in family_lines for line in lines)
        return Snapshot(self._structure(headers, family_lines), sets)

    def trap_entries(self):
        """({source: Entry} of the hits sets, the same of the seen sets, whether the ruleset suppresses), as last read."""
        hits, seen = {}, {}
        for family in ("4", "6"):
            hits.update(self._timed.get(self.set_name("h" + family), {}))
            seen.update(self._timed.get(self.set_name("s" + family), {}))
        return hits, seen, self._suppressing

    def prefixes(self):
        """{4: prefix, 6: prefix} the trap's sets group sources by, as last read."""
        found = {4: 32, 6: 128}
        for family in (4, 6):
            words = (self._headers.get(self.set_name("h%d" % family)) or "").split()
            if "netmask" in words:
                found[family] = int(words[words.index("netmask") + 1])
        return found

    def set_fill(self):
        """{set name: (elements, maxelem)} of the trap's timed address sets, as last read."""
        fill = {}
        for suffix in TIMED_SUFFIXES:
            name = self.set_name(suffix)
            words = (self._headers.get(name) or "").split()
            if "maxelem" in words:
                fill[name] = (len(self._timed.get(name, {})), int(words[words.index("maxelem") + 1]))
        return fill

    def _read_counters(self):
        listings = []
        for dummy, command, dummy2, dummy3, dummy4 in FAMILIES:
            rc, out, dummy5 = self.run([command, "-w", "-L", self.chain, "-n", "-v", "-x"])
            if rc == 0:
                listings.append(out)
        trap = any(TRAP_HIT in out for out in listings)
        self._counters = {key: 0 for key, dummy in TAGS} if trap else {"allowed": 0, "refused": 0}
        for out in listings:
            for line in out.splitlines():
                words = line.split()
                if len(words) < 3 or not words[0].isdigit():
                    continue
                if trap:
                    key = next((key for key, tag in TAGS if "/* %s */" % tag in line), None)
                else:
                    key = "allowed" if words[2] == "RETURN" else "refused"
                if key:
                    self._counters[key] += int(words[0])

    def counters(self):
        return dict(self._counters)

    # --- changes ----------------------------------------------------------------------------

    def apply(self, spec, before):
        wanted = self.wanted(spec)
        live_sets = self._live_sets()
        script = []
        headers = self._wanted_headers(spec)
        for family, dummy, ipset_family, suffix, dummy2 in FAMILIES:
            name = self.set_name(suffix)
            elements = self._elements(spec, family)
            live = live_sets.get(name)
            if live is not None and live[0] == headers[suffix] and tuple(sorted(live[1])) == wanted.sets[name]:
                continue
            script.extend(_fill_set_script(name, headers[suffix], elements, exists=live is not None))
        for suffix in TIMED_SUFFIXES if spec.kind == "trap" else ():
            name = self.set_name(suffix)
            live = live_sets.get(name)
            if live is not None and live[0] == headers[suffix]:
                continue
            # A new timeout or netmask needs a new set: the remembered sources move over with the time they have left.
            carried = _carried_elements(live[2], _header_timeout(headers[suffix]), spec.prefixes) if live and suffix != "tf" else []
            script.extend(_fill_set_script(name, headers[suffix], carried, exists=live is not None))
        if script:
            self._command(["ipset", "restore"], data="\n".join(script) + "\n")
        for family, command, dummy, dummy2, dummy3 in FAMILIES:
            live = self._live_rules(command)
            stale_jumps = live[0] if live else []
            lines = ["*filter", ":%s - [0:0]" % self.chain]
            lines.extend("-D" + jump[2:] for jump in stale_jumps)
            lines.extend(self.chain_rules(spec, family))
            # Inserted in reverse at position 1, so they end up first and in order.
            lines.extend("-I INPUT 1" + jump[len("-A INPUT"):] for jump in reversed(self.jump_rules(spec, family)))
            lines.append("COMMIT")
            self._restore(command, "\n".join(lines) + "\n")

    def _restore(self, command, text):
        with tempfile.NamedTemporaryFile("w", prefix="mailsec-", suffix=".rules", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            self._command([command + "-restore", "-w", "--test", "--noflush", handle.name])
            self._command([command + "-restore", "-w", "--noflush", handle.name])

    def remove(self):
        for dummy, command, dummy2, dummy3, dummy4 in FAMILIES:
            live = self._live_rules(command)
            if live is None:
                continue
            lines = ["*filter"] + ["-D" + jump[2:] for jump in live[0]]
            lines += ["-F " + self.chain, "-X " + self.chain, "COMMIT"]
            self._restore(command, "\n".join(lines) + "\n")
        names = set(self._command(["ipset", "list", "-n"]).split())
        script = ["destroy " + self.set_name(suffix) for suffix in ALL_SUFFIXES if self.set_name(suffix) in names]
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
            for family, dummy, dummy2, suffix, dummy3 in FAMILIES:
                ours.append("create " + headers[suffix])
                ours.extend("add %s %s" % (self.set_name(suffix), element) for element in self._elements(spec, family))
            # A trap's timed sets start empty at boot: what they remembered is not worth a reboot's delay.
            ours.extend("create " + headers[suffix] for suffix in TIMED_SUFFIXES if suffix in headers)
        names = [self.set_name(suffix) for suffix in ALL_SUFFIXES]
        text = merge_ipsets_file(read_text(ipsets_path), names, ours)
        if _write_or_remove(ipsets_path, text, check_mode):
            changed.append(ipsets_path)
        for family, dummy, dummy2, dummy3, dummy4 in FAMILIES:
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


def _jump_states(spec, family, address):
    """The conntrack matches of the INPUT jumps for one guarded address.

    A trap looks at a connection's first packet (an own address: knocked; with suppression: refused) and at its first
    packet after the handshake completed (recording; ASSURED, see _nftables.trap_rules), once: the conntrack label
    marks a connection already looked at.
    """
    if spec.kind != "trap":
        return [""]
    new = " -m conntrack --ctstate NEW"
    assured = ' -m conntrack --ctstate ESTABLISHED --ctstatus ASSURED --ctdir ORIGINAL -m connlabel ! --label "%d"' % CONNLABEL
    return ([new] if spec.suppress or address in spec.own(family) else []) + [assured]


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


def _header_timeout(header):
    words = header.split()
    return int(words[words.index("timeout") + 1])


def _carried_elements(remembered, timeout, prefixes):
    """Remembered elements for a set with a new timeout or netmask (see _traps.carry)."""
    return ["%s timeout %d" % (address, left) + (" packets %d bytes 0" % packets if packets is not None else "")
            for address, left, packets in carry(remembered, timeout, prefixes)]


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
