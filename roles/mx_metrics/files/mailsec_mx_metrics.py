# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailsec-mx-metrics: the mailsec.mx firewalls' counters and set fill levels as a Prometheus text file.

Installed by the role mailsec.mx.mx_metrics as /usr/local/sbin/mailsec-mx-metrics and run by a timer. Each run finds
every firewall of the collection on the host - nftables: the inet tables named ``mailsec_*``; iptables: the filter
chains named ``MAILSEC_*`` and the ipsets their rules use - works out each one's kind from what it holds (its counter
names; with iptables, its rule comments and verdicts), and replaces ``<directory>/mailsec_mx_firewall.prom``
atomically (a temporary file in the same directory, fsync, rename), so node_exporter's textfile collector never reads
half a file.

No metric carries a source address: the labels are ``table`` (the nftables table or iptables chain, as
``nft list tables`` / ``iptables -S`` name it), ``set`` (as ``nft list sets`` / ``ipset list -n`` name it) and
``family``. A name that is not UTF-8 or holds control characters is written with ``\\xNN`` escapes, and every label
value is escaped as the exposition format wants, so an odd name can never break the file.

nftables is read over netlink rather than through ``nft``: nft 1.0.6 (Debian 12) fetches and decodes every element
of every set for any command, even ``nft list tables`` (0.56 s with 100,000 elements in one set; ``nft -j list
ruleset`` and parsing it take 1.1 s), while counting the elements over netlink costs about 0.25 s of CPU per
100,000, most of it the kernel's, spread over a socket per core. ``--nft-reader nft``
reads ``nft -j list ruleset`` instead; ``auto`` (the default) falls back to it when netlink fails.

A table that cannot be read is reported as ``mailsec_mx_table_up{table="..."} 0`` (and on stderr; the exit status is
then 1) while every other table is still written. Exit status 2: the file could not be written.

Stdlib only, and nothing from Ansible: it runs on the managed host with the host's python3 (the role adds the
``#!/usr/bin/python3`` line when it installs the script; this copy has none, as ansible-test wants of a role's file).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

DEFAULT_DIRECTORY = "/var/lib/prometheus/node-exporter"
OUTPUT_NAME = "mailsec_mx_firewall.prom"
NFT_TABLE_PREFIX = "mailsec_"
IPTABLES_CHAIN_PREFIX = "MAILSEC_"
# Where the firewall tools live, for a timer whose PATH lacks the sbin directories.
TOOL_PATH = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"

# What each kind counts, by its nftables counter names (the names the firewall modules give them).
KIND_COUNTERS = (
    ("live", ("arrivals",)),
    ("trap", ("trap_hits", "suppressed", "unrecorded")),
    ("dead_primary", ("allowed", "refused")),
)
# The iptables rule comments that name what a rule counts (plugins/module_utils/_firewall/trap.py, live.py).
TRAP_HIT = "mailsec trap hit"
SUPPRESSED = "mailsec suppressed"
UNRECORDED = "mailsec unrecorded"
ARRIVAL = "mailsec arrival"
VERDICTS = ("REJECT", "DROP")

RESETS = (" It starts again from 0 when the table is loaded afresh (a reboot; with iptables, any change of the chain);"
          " rate() and increase() cope.")
# (kind, counter, metric, help); the help says what one unit is.
COUNTER_METRICS = (
    ("dead_primary", "refused", "mailsec_mx_dead_primary_refused_total",
     "Packets the dead primary refused on its guarded ports (reset or dropped): one per connection attempt, "
     "retransmitted SYNs included."),
    ("dead_primary", "allowed", "mailsec_mx_dead_primary_allowed_total",
     "Packets from allowlisted sources that the dead primary let through (every packet of their connections)."),
    ("trap", "trap_hits", "mailsec_mx_trap_hits_total",
     "Connections recorded at a trap: their source had not tried the host's own MX addresses first."),
    ("trap", "suppressed", "mailsec_mx_trap_suppressed_total",
     "Packets of new connections a trap host refused because their source is recorded (with suppress)."),
    ("trap", "unrecorded", "mailsec_mx_trap_unrecorded_total",
     "Trap connections that could not be recorded because a set was full."),
    ("live", "arrivals", "mailsec_mx_live_arrivals_total",
     "Connections that completed a TCP handshake with a live MX address, counted once each."),
)
SET_METRICS = (
    ("entries", "mailsec_mx_set_entries", "Elements a set of the firewall holds now (an interval set: its ranges)."),
    ("size", "mailsec_mx_set_size", "Elements the set can hold (nftables: its size; ipset: its maxelem or range)."),
    ("fill_ratio", "mailsec_mx_set_fill_ratio", "Entries divided by size: 1 means full (see docs/security.md for "
     "what a full set does)."),
)


class ReadError(Exception):
    """A listing that could not be read or understood."""


class SetLevel:
    """How full one set is: ``size`` is None for a set without a bound (an nftables interval set)."""

    def __init__(self, name, family, entries, size=None):
        self.name = name
        self.family = family
        self.entries = entries
        self.size = size

    def __eq__(self, other):
        return isinstance(other, SetLevel) and vars(self) == vars(other)

    def __repr__(self):
        return "SetLevel(%r, %r, %r, %r)" % (self.name, self.family, self.entries, self.size)


class Table:
    """One firewall of the collection as read: its kind (None when unknown), counters and sets, or an error."""

    def __init__(self, name, backend):
        self.name = name
        self.backend = backend
        self.kind = None
        self.counters = {}
        self.sets = []
        self.error = None

    def __repr__(self):
        return "Table(%r, %r, kind=%r, counters=%r, sets=%r, error=%r)" % (
            self.name, self.backend, self.kind, self.counters, self.sets, self.error)


def kind_of_counters(names):
    """The kind whose counters a table holds (nftables), or None."""
    return next((kind for kind, counters in KIND_COUNTERS if set(counters) <= set(names)), None)


def printable(name):
    """A name as text: bytes that are not UTF-8 and control characters other than a newline become \\xNN."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "backslashreplace")
    return "".join("\\x%02x" % ord(char) if (ord(char) < 32 and char != "\n") or ord(char) == 127 else char
                   for char in name)


# --- nftables over netlink -----------------------------------------------------------------------------------------

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETTABLE = 1
NFT_MSG_GETSET = 10
NFT_MSG_GETSETELEM = 13
NFT_MSG_GETGEN = 16
NFT_MSG_GETOBJ = 19
NFPROTO_INET = 1
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLA_TYPE_MASK = 0x3FFF
NLMSG_HEADER = struct.Struct("=IHHII")
NFGENMSG = struct.Struct("=BBH")
NLATTR = struct.Struct("=HH")
# Attribute numbers (linux/netfilter/nf_tables.h).
NFTA_TABLE_NAME = 1
NFTA_SET_TABLE, NFTA_SET_NAME, NFTA_SET_FLAGS, NFTA_SET_KEY_TYPE, NFTA_SET_DESC = 1, 2, 3, 4, 9
NFTA_SET_DESC_SIZE = 1
NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_ELEMENTS = 1, 2, 3
NFTA_SET_ELEM_FLAGS = 3
NFTA_OBJ_TABLE, NFTA_OBJ_NAME, NFTA_OBJ_TYPE, NFTA_OBJ_DATA = 1, 2, 3, 4
NFTA_COUNTER_PACKETS = 2
NFTA_GEN_ID = 1
NFT_OBJECT_COUNTER = 1
NFT_SET_ANONYMOUS = 0x1
NFT_SET_INTERVAL = 0x4
NFT_SET_ELEM_INTERVAL_END = 0x1
# nft's data types of a set's key (nftables/include/datatype.h).
NFT_KEY_FAMILIES = {7: "ipv4", 8: "ipv6"}
NFT_JSON_FAMILIES = {"ipv4_addr": "ipv4", "ipv6_addr": "ipv6"}
RECEIVE_BUFFER = 65536
READ_ATTEMPTS = 3
# Sockets counting set elements at once (no more than the host has cores).
MAX_WORKERS = 4


class NetlinkError(ReadError):
    """The kernel refused a request (``errno`` set) or answered something unexpected."""

    def __init__(self, message, errno=None):
        super().__init__(message)
        self.errno = errno


def attributes(data, start=0, end=None):
    """(type, start, end) of each netlink attribute in ``data[start:end]``, nested flags masked off."""
    end = len(data) if end is None else end
    position = start
    while position + 4 <= end:
        length, kind = NLATTR.unpack_from(data, position)
        if length < 4 or position + length > end:
            raise NetlinkError("a netlink attribute runs past its message")
        yield kind & NLA_TYPE_MASK, position + 4, position + length
        position += (length + 3) & ~3


def attribute(kind, value):
    """One netlink attribute; a str becomes a NUL-terminated string."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape") + b"\0"
    length = 4 + len(value)
    return NLATTR.pack(length, kind) + value + b"\0" * (-length % 4)


def _string(data, start, end):
    return data[start:end].split(b"\0", 1)[0]


def _u32(data, start):
    return struct.unpack_from(">I", data, start)[0]


def _u64(data, start):
    return struct.unpack_from(">Q", data, start)[0]


class NetlinkSocket:
    """Requests to nf_tables over one NETLINK_NETFILTER socket; each answer as a list of message bodies."""

    def __init__(self):
        try:
            self.socket = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        except OSError as error:
            raise NetlinkError("no netfilter netlink socket: %s" % error, error.errno) from None
        self.socket.bind((0, 0))
        self.sequence = int(time.time()) & 0xFFFF
        self.buffer = bytearray(RECEIVE_BUFFER)

    def close(self):
        self.socket.close()

    def exchange(self, message, payload=b"", dump=True):
        """[(type, flags, attributes), ...] of the answer to one nf_tables request (a dump, or one object)."""
        self.sequence += 1
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        body = NFGENMSG.pack(NFPROTO_INET, 0, 0) + payload
        header = NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), NFNL_SUBSYS_NFTABLES << 8 | message, flags,
                                   self.sequence, 0)
        self.socket.send(header + body)
        replies = []
        while True:
            received, dummy, message_flags, dummy2 = self.socket.recvmsg_into([self.buffer])
            if message_flags & socket.MSG_TRUNC:
                raise NetlinkError("a netlink answer did not fit the receive buffer")
            position = 0
            while position + NLMSG_HEADER.size <= received:
                length, kind, reply_flags, sequence, dummy = NLMSG_HEADER.unpack_from(self.buffer, position)
                if length < NLMSG_HEADER.size:
                    raise NetlinkError("a netlink message shorter than its header")
                start, end = position + NLMSG_HEADER.size, position + length
                position += (length + 3) & ~3
                if sequence != self.sequence:
                    continue
                if kind in (NLMSG_ERROR, NLMSG_DONE):
                    code = struct.unpack_from("=i", self.buffer, start)[0] if end - start >= 4 else 0
                    if code:
                        raise NetlinkError(os.strerror(-code), -code)
                    return replies
                replies.append((kind, reply_flags, bytes(self.buffer[start + NFGENMSG.size:end])))


def _replies(transport, message, payload=b"", dump=True):
    replies = transport.exchange(message, payload, dump)
    if any(flags & NLM_F_DUMP_INTR for dummy, flags, dummy2 in replies):
        raise _Changed()
    return [data for dummy, dummy2, data in replies]


class _Changed(Exception):
    """The ruleset changed during a dump: read again."""


def _generation(transport):
    for data in _replies(transport, NFT_MSG_GETGEN, dump=False):
        for kind, start, dummy in attributes(data):
            if kind == NFTA_GEN_ID:
                return _u32(data, start)
    raise NetlinkError("no ruleset generation in the kernel's answer")


def _mailsec_tables(transport):
    names = []
    for data in _replies(transport, NFT_MSG_GETTABLE):
        for kind, start, end in attributes(data):
            name = _string(data, start, end)
            if kind == NFTA_TABLE_NAME and name.startswith(NFT_TABLE_PREFIX.encode()):
                names.append(name)
    return names


def _counters(transport, table):
    counters = {}
    request = attribute(NFTA_OBJ_TABLE, table) + attribute(NFTA_OBJ_TYPE, struct.pack(">I", NFT_OBJECT_COUNTER))
    for data in _replies(transport, NFT_MSG_GETOBJ, request):
        name, packets, object_type = None, None, None
        for kind, start, end in attributes(data):
            if kind == NFTA_OBJ_NAME:
                name = _string(data, start, end)
            elif kind == NFTA_OBJ_TYPE:
                object_type = _u32(data, start)
            elif kind == NFTA_OBJ_DATA:
                packets = next((_u64(data, inner) for inner_kind, inner, dummy in attributes(data, start, end)
                                if inner_kind == NFTA_COUNTER_PACKETS), 0)
        if object_type == NFT_OBJECT_COUNTER and name is not None:
            counters[printable(name)] = packets or 0
    return counters


def _sets(transport, table):
    """[(name as bytes, flags, family, size)] of the table's named sets."""
    found = []
    for data in _replies(transport, NFT_MSG_GETSET, attribute(NFTA_SET_TABLE, table)):
        name, flags, family, size = None, 0, None, None
        for kind, start, end in attributes(data):
            if kind == NFTA_SET_NAME:
                name = _string(data, start, end)
            elif kind == NFTA_SET_FLAGS:
                flags = _u32(data, start)
            elif kind == NFTA_SET_KEY_TYPE:
                family = NFT_KEY_FAMILIES.get(_u32(data, start))
            elif kind == NFTA_SET_DESC:
                size = next((_u32(data, inner) for inner_kind, inner, dummy in attributes(data, start, end)
                             if inner_kind == NFTA_SET_DESC_SIZE), None)
        # Anonymous sets are a rule's own ({ a, b } in a match), not a set of the firewall.
        if name is not None and not flags & NFT_SET_ANONYMOUS:
            found.append((name, flags, family, size))
    return found


def _element_count(transport, table, name, interval):
    """Elements of a set; an interval set holds each range as a start and an end element: only starts count."""
    request = attribute(NFTA_SET_ELEM_LIST_TABLE, table) + attribute(NFTA_SET_ELEM_LIST_SET, name)
    count = 0
    for data in _replies(transport, NFT_MSG_GETSETELEM, request):
        for kind, start, end in attributes(data):
            if kind != NFTA_SET_ELEM_LIST_ELEMENTS:
                continue
            if not interval:
                count += _count_attributes(data, start, end)
                continue
            for dummy, element_start, element_end in attributes(data, start, end):
                if not any(inner_kind == NFTA_SET_ELEM_FLAGS and _u32(data, inner) & NFT_SET_ELEM_INTERVAL_END
                           for inner_kind, inner, dummy2 in attributes(data, element_start, element_end)):
                    count += 1
    return count


def _count_attributes(data, start, end):
    """How many attributes ``data[start:end]`` holds: attributes() without a tuple per element (100,000 of them)."""
    count, position, unpack = 0, start, NLATTR.unpack_from
    while position + 4 <= end:
        length = unpack(data, position)[0]
        if length < 4 or position + length > end:
            raise NetlinkError("a netlink attribute runs past its message")
        count += 1
        position += (length + 3) & ~3
    return count


def _read_table(transport, table):
    """The table's counters and the headers of its sets: [(Table, [(set name as bytes, interval)])]."""
    result = Table(printable(table), "nftables")
    wanted = []
    try:
        result.counters = _counters(transport, table)
        for set_name, flags, family, size in _sets(transport, table):
            result.sets.append(SetLevel(printable(set_name), family, None, size))
            wanted.append((set_name, bool(flags & NFT_SET_INTERVAL)))
    except NetlinkError as error:
        _failed(result, error)
    result.kind = kind_of_counters(result.counters)
    return result, wanted


def _failed(table, error):
    table.error = "reading nftables table inet %s failed: %s" % (table.name, error)
    table.counters, table.sets = {}, []


class _Counting:
    """Element dumps on a socket per thread, so that the kernel's work for several sets runs on several cores (it is
    most of the cost: about 0.25 s per 100,000 elements with timeouts)."""

    def __init__(self, open_transport, workers):
        self.open_transport = open_transport
        self.pool = concurrent.futures.ThreadPoolExecutor(workers)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.opened = []

    def count(self, table, set_name, interval):
        if not hasattr(self.local, "transport"):
            self.local.transport = self.open_transport()
            with self.lock:
                self.opened.append(self.local.transport)
        return _element_count(self.local.transport, table, set_name, interval)

    def close(self):
        self.pool.shutdown()
        for transport in self.opened:
            transport.close()


def _count_elements(transport, read, counting):
    """Fill in each set's entries: [(Table, [(set name, interval)])] as _read_table gives them, one table per raw name."""
    jobs = [(table, raw, position, set_name, interval) for raw, (table, wanted) in read.items()
            for position, (set_name, interval) in enumerate(wanted) if not table.error]
    if counting is None:
        results = [_attempt(_element_count, transport, raw, set_name, interval)
                   for table, raw, position, set_name, interval in jobs]
    else:
        results = list(counting.pool.map(lambda job: _attempt(counting.count, job[1], job[3], job[4]), jobs))
    for (table, raw, position, set_name, interval), (entries, error) in zip(jobs, results):
        if isinstance(error, _Changed):
            raise error
        if table.error:
            continue
        if error is not None:
            _failed(table, error)
        else:
            table.sets[position].entries = entries


def _attempt(count, *args):
    """(result, None) or (None, the NetlinkError or _Changed it raised): a worker's failure goes to its own table."""
    try:
        return count(*args), None
    except (NetlinkError, _Changed) as error:
        return None, error


def read_nftables_netlink(transport, open_transport=None, workers=1):
    """Every inet table named mailsec_*, read over netlink; the whole read again when the ruleset changed under it.

    With ``open_transport`` and more than one worker, sets are counted on that many sockets at once.
    """
    counting = _Counting(open_transport, workers) if open_transport is not None and workers > 1 else None
    try:
        for attempt in range(READ_ATTEMPTS):
            try:
                generation = _generation(transport)
                read = {raw: _read_table(transport, raw) for raw in _mailsec_tables(transport)}
                _count_elements(transport, read, counting)
                if _generation(transport) == generation:
                    return [table for table, wanted in read.values()]
            except _Changed:
                pass
    finally:
        if counting is not None:
            counting.close()
    raise NetlinkError("the ruleset changed during each of %d reads" % READ_ATTEMPTS)


# --- nftables through nft -j ---------------------------------------------------------------------------------------

def read_nftables_json(run):
    """The same as read_nftables_netlink, from ``nft -j list ruleset`` (one listing: nft reads every set anyway)."""
    rc, out, err = run(["nft", "-j", "list", "ruleset"])
    if rc != 0:
        raise ReadError("nft -j list ruleset failed: %s" % printable(err.strip()))
    try:
        items = json.loads(out)["nftables"]
    except (ValueError, KeyError, TypeError) as error:
        raise ReadError("nft -j list ruleset: not the JSON nft writes (%s)" % error) from None
    tables = {}
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            continue
        kind, value = next(iter(item.items()))
        if not isinstance(value, dict) or value.get("family") != "inet":
            continue
        owner = value.get("name") if kind == "table" else value.get("table")
        if not isinstance(owner, str) or not owner.startswith(NFT_TABLE_PREFIX):
            continue
        if kind == "table":
            tables[owner] = Table(printable(owner), "nftables")
        elif kind == "counter" and owner in tables:
            tables[owner].counters[printable(value["name"])] = int(value.get("packets", 0))
        elif kind == "set" and owner in tables:
            tables[owner].sets.append(SetLevel(printable(value["name"]), NFT_JSON_FAMILIES.get(value.get("type")),
                                               len(value.get("elem") or []), value.get("size")))
    for table in tables.values():
        table.kind = kind_of_counters(table.counters)
    return list(tables.values())


# --- iptables and ipset --------------------------------------------------------------------------------------------

class Rule:
    """One rule of ``iptables-save -c``: its packet count and its words."""

    def __init__(self, packets, words):
        self.packets = packets
        self.words = words

    def option(self, name):
        """The value after ``name`` ('-j', '--comment'), or None."""
        if name in self.words[:-1]:
            return self.words[self.words.index(name) + 1]
        return None

    def sets(self):
        return [self.words[index + 1] for index, word in enumerate(self.words[:-1])
                if word in ("--match-set", "--add-set", "--del-set")]


def split_rule(text):
    """A rule of ``iptables-save`` split into words as iptables-save quotes them.

    iptables-save writes names (chains, sets) as they are and puts a value in double quotes, with backslash escapes,
    only when it needs them (a comment with a blank): a word that starts with a quote is a quoted one, any other ends
    at the next blank, quotes and all.
    """
    words, position, length = [], 0, len(text)
    while position < length:
        if text[position] in " \t":
            position += 1
        elif text[position] == '"':
            word, position = [], position + 1
            while position < length and text[position] != '"':
                if text[position] == "\\" and position + 1 < length:
                    position += 1
                word.append(text[position])
                position += 1
            if position >= length:
                raise ValueError("a quote is not closed")
            words.append("".join(word))
            position += 1
        else:
            end = min((index for index in (text.find(" ", position), text.find("\t", position)) if index >= 0),
                      default=length)
            words.append(text[position:end])
            position = end
    return words


def parse_iptables_save(text):
    """({chain: [Rule, ...]}, {chain: problem}) of the MAILSEC_* chains in the filter table of ``iptables-save -c``.

    A rule that cannot be split makes its chain a problem, not the whole listing.
    """
    chains, problems, section = {}, {}, None
    for line in text.splitlines():
        if line.startswith("*"):
            section = line[1:].strip()
        elif section != "filter":
            continue
        elif line.startswith(":" + IPTABLES_CHAIN_PREFIX):
            chains.setdefault(line[1:].split()[0], [])
        elif line.startswith("[") and " -A " + IPTABLES_CHAIN_PREFIX in line:
            counts, dummy, chain, rule = (line.split(None, 3) + [""])[:4]
            if dummy != "-A" or not chain.startswith(IPTABLES_CHAIN_PREFIX):
                continue
            try:
                packets = int(counts.strip("[]").split(":")[0])
                words = split_rule(rule)
            except ValueError as error:
                problems[chain] = "a rule not understood (%s): %s" % (error, printable(line))
                continue
            chains.setdefault(chain, []).append(Rule(packets, words))
    return chains, problems


def parse_ipset_terse(text):
    """{set name: SetLevel} from ``ipset list -t`` (headers and counts; no elements)."""
    blocks, current = [], None
    for line in text.splitlines():
        key, separator, value = line.partition(": ")
        if key == "Name" and separator:
            current = {"Name": value}
            blocks.append(current)
        elif current is not None and separator:
            current[key] = value
    levels = {}
    for block in blocks:
        header = block.get("Header", "").split()
        options = dict(zip(header[::2], header[1::2]))
        try:
            entries = int(block["Number of entries"])
        except (KeyError, ValueError):
            continue
        size = None
        if "maxelem" in options:
            size = int(options["maxelem"])
        elif "range" in options and "-" in options["range"]:
            low, high = options["range"].split("-", 1)
            size = int(high) - int(low) + 1 if low.isdigit() and high.isdigit() else None
        family = {"inet": "ipv4", "inet6": "ipv6"}.get(options.get("family"))
        levels[block["Name"]] = SetLevel(printable(block["Name"]), family, entries, size)
    return levels


def kind_of_rules(rules):
    """The kind of an iptables chain, from its rule comments and verdicts, or None."""
    comments = {rule.option("--comment") for rule in rules}
    if ARRIVAL in comments:
        return "live"
    if TRAP_HIT in comments:
        return "trap"
    if any(rule.option("-j") in VERDICTS for rule in rules):
        return "dead_primary"
    return None


def counters_of_rules(kind, rules):
    """{counter: packets} of an iptables chain of a known kind (both families' rules summed)."""
    def total(matches):
        return sum(rule.packets for rule in rules if matches(rule))
    if kind == "live":
        return {"arrivals": total(lambda rule: rule.option("--comment") == ARRIVAL)}
    if kind == "trap":
        return {name: total(lambda rule, tag=tag: rule.option("--comment") == tag)
                for name, tag in (("trap_hits", TRAP_HIT), ("suppressed", SUPPRESSED), ("unrecorded", UNRECORDED))}
    if kind == "dead_primary":
        # The allowlist's RETURN is the chain's only rule that lets a source go on; every refusal has a verdict.
        return {"allowed": total(lambda rule: rule.option("-j") == "RETURN" and rule.sets()),
                "refused": total(lambda rule: rule.option("-j") in VERDICTS)}
    return {}


def read_iptables(run, tool):
    """Every MAILSEC_* chain of iptables and ip6tables, with the ipsets its rules use.

    Returns (tables, errors): errors are listings that failed while no chain could be named.
    """
    rules, problems, failed = {}, {}, []
    for command in ("iptables-save", "ip6tables-save"):
        if not tool(command):
            continue
        rc, out, err = run([command, "-c"])
        if rc != 0:
            failed.append("%s -c failed: %s" % (command, printable(err.strip())))
            continue
        chains, chain_problems = parse_iptables_save(out)
        for chain, chain_rules in chains.items():
            rules.setdefault(chain, []).extend(chain_rules)
        problems.update(chain_problems)
    if not rules:
        return [], failed
    levels, ipset_error = {}, None
    if any(rule.sets() for chain_rules in rules.values() for rule in chain_rules):
        rc, out, err = run(["ipset", "list", "-t"]) if tool("ipset") else (127, "", "ipset is not installed")
        if rc != 0:
            ipset_error = "ipset list -t failed: %s" % printable(err.strip())
        else:
            levels = parse_ipset_terse(out)
    tables = []
    for chain in sorted(rules):
        table = Table(printable(chain), "iptables")
        used = []
        for rule in rules[chain]:
            used.extend(name for name in rule.sets() if name not in used)
        missing = [name for name in used if name not in levels]
        # A chain's counters are whole only when both families were read.
        if failed or chain in problems:
            table.error = "chain %s: %s" % (table.name, "; ".join(failed + [problems.get(chain, "")]).strip("; "))
        elif used and ipset_error:
            table.error = "chain %s: %s" % (table.name, ipset_error)
        elif missing:
            table.error = "chain %s: its rules use ipset(s) %s, which ipset list -t does not show" % (
                table.name, ", ".join(printable(name) for name in missing))
        else:
            table.kind = kind_of_rules(rules[chain])
            table.counters = counters_of_rules(table.kind, rules[chain])
            table.sets = [levels[name] for name in used]
        tables.append(table)
    return tables, []


# --- reading the host ----------------------------------------------------------------------------------------------

def run_command(argv):
    """(returncode, stdout, stderr) of a command; undecodable output bytes become \\xNN."""
    environment = dict(os.environ, LC_ALL="C", PATH=os.environ.get("PATH", "") + ":" + TOOL_PATH)
    try:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False, env=environment)
    except OSError as error:
        return 127, "", str(error)
    return (result.returncode, result.stdout.decode("utf-8", "backslashreplace"),
            result.stderr.decode("utf-8", "backslashreplace"))


def has_tool(name):
    return shutil.which(name, path=os.environ.get("PATH", "") + ":" + TOOL_PATH) is not None


def read_nftables(nft_reader, run, tool, open_netlink, required=False):
    """(tables or None when nftables is not in use here, problems, notes); ``required``: nftables was asked for."""
    problems, notes = [], []
    if nft_reader in ("auto", "netlink"):
        try:
            transport = open_netlink()
            try:
                return read_nftables_netlink(transport, open_netlink, min(os.cpu_count() or 1, MAX_WORKERS)), [], []
            finally:
                transport.close()
        except NetlinkError as error:
            problems.append("reading nftables over netlink failed: %s" % error)
    if nft_reader == "nft" or (nft_reader == "auto" and tool("nft")):
        try:
            tables = read_nftables_json(run)
        except ReadError as error:
            return None, problems + [str(error)], notes
        return tables, [], ["%s; read nft -j list ruleset instead" % problem for problem in problems]
    # Netlink failed and there is no nft: a host without nftables, unless nftables was asked for.
    return None, (problems if required or nft_reader == "netlink" else []), notes


def read_host(backend="auto", nft_reader="auto", run=run_command, tool=has_tool, open_netlink=NetlinkSocket):
    """(tables, errors, notes): every table read, listings that failed outright, and what else stderr should say."""
    tables, errors, notes = [], [], []
    if backend in ("auto", "nftables"):
        nft_tables, problems, nft_notes = read_nftables(nft_reader, run, tool, open_netlink, backend == "nftables")
        tables.extend(nft_tables or [])
        errors.extend(problems)
        notes.extend(nft_notes)
    if backend in ("auto", "iptables"):
        iptables_tables, problems = read_iptables(run, tool)
        tables.extend(iptables_tables)
        errors.extend(problems)
    for table in tables:
        if table.error:
            notes.append(table.error)
        elif table.kind is None:
            notes.append("%s %s: not a kind this exporter knows (its sets are reported, no counters)"
                         % (table.backend, table.name))
    return tables, errors, notes


# --- the exposition format -----------------------------------------------------------------------------------------

def label_value(value):
    """A label value as the text exposition format writes it (printable() first, then its three escapes)."""
    return printable(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value):
    if isinstance(value, float):
        return repr(value)
    return str(int(value))


def render(tables, errors, now, duration):
    """The text file: HELP and TYPE once per metric, its samples together, no duplicate series."""
    families = [
        ("mailsec_mx_metrics_last_run_timestamp_seconds", "gauge",
         "When mailsec-mx-metrics last ran (Unix time).", [({}, float(round(now, 3)))]),
        ("mailsec_mx_metrics_run_duration_seconds", "gauge",
         "How long its last run took to read the firewalls.", [({}, float(round(duration, 6)))]),
        ("mailsec_mx_metrics_errors", "gauge",
         "Listings the last run could not read (tables with mailsec_mx_table_up 0, listings that failed outright).",
         [({}, len(errors) + sum(1 for table in tables if table.error))]),
        ("mailsec_mx_table_up", "gauge",
         "1 for each table or chain of the collection that was read, 0 for one that could not be read (see stderr).",
         [({"table": table.name}, 0 if table.error else 1) for table in tables]),
    ]
    readable = [table for table in tables if not table.error]
    for kind, counter, metric, text in COUNTER_METRICS:
        samples = [({"table": table.name}, table.counters.get(counter, 0)) for table in readable if table.kind == kind]
        families.append((metric, "counter", text + RESETS, samples))
    for field, metric, text in SET_METRICS:
        samples = []
        for table in readable:
            for level in table.sets:
                labels = {"table": table.name, "set": level.name}
                if level.family:
                    labels["family"] = level.family
                if field == "entries":
                    samples.append((labels, level.entries))
                elif level.size:
                    samples.append((labels, level.size if field == "size" else level.entries / level.size))
        families.append((metric, "gauge", text, samples))
    lines = []
    for metric, metric_type, text, samples in families:
        if not samples:
            continue
        lines += ["# HELP %s %s" % (metric, text), "# TYPE %s %s" % (metric, metric_type)]
        seen = set()
        for labels, value in samples:
            text_labels = ",".join('%s="%s"' % (key, label_value(labels[key])) for key in ("table", "set", "family")
                                   if key in labels)
            series = "%s{%s}" % (metric, text_labels) if text_labels else metric
            if series in seen:
                continue
            seen.add(series)
            lines.append("%s %s" % (series, _number(value)))
    return "\n".join(lines) + "\n"


def write_atomically(directory, text, name=OUTPUT_NAME):
    """Replace ``directory/name`` with ``text`` so that a reader sees the old file or the new one, never a part."""
    target = os.path.join(directory, name)
    # node_exporter reads only *.prom files: the temporary one is never read half-written.
    descriptor, temporary = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    directory_descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_descriptor)
    finally:
        os.close(directory_descriptor)
    return target


def main(argv=None, read=read_host, clock=time.time, timer=time.perf_counter, stderr=None):
    stderr = stderr or sys.stderr
    parser = argparse.ArgumentParser(prog="mailsec-mx-metrics", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--directory", default=DEFAULT_DIRECTORY,
                        help="node_exporter's textfile directory (default: %(default)s)")
    parser.add_argument("--backend", choices=("auto", "nftables", "iptables"), default="auto",
                        help="which firewalls to read (default: every one found)")
    parser.add_argument("--nft-reader", choices=("auto", "netlink", "nft"), default="auto",
                        help="read nftables over netlink, or with nft -j (auto: netlink, nft if that fails)")
    parser.add_argument("--stdout", action="store_true", help="print the metrics instead of writing the file")
    args = parser.parse_args(argv)
    started = timer()
    tables, errors, notes = read(args.backend, args.nft_reader)
    text = render(tables, errors, clock(), timer() - started)
    for line in errors + notes:
        print("mailsec-mx-metrics: %s" % line, file=stderr)
    if args.stdout:
        sys.stdout.write(text)
    else:
        try:
            write_atomically(args.directory, text)
        except OSError as error:
            print("mailsec-mx-metrics: cannot write %s: %s" % (os.path.join(args.directory, OUTPUT_NAME), error),
                  file=stderr)
            return 2
    return 1 if errors or any(table.error for table in tables) else 0


if __name__ == "__main__":
    sys.exit(main())
