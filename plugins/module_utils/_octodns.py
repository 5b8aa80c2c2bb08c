# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An octoDNS YAML zone config (the file octoDNS's YamlProvider reads for a zone) as a record-set provider.

The file is edited as text, not loaded and dumped again: PyYAML's composer gives the position of every top-level
name and of every record under it, and only the records we publish are rendered; everything else (other names,
records of other types at our names, comments, blank lines, quoting, key order) is kept byte for byte. A name
that gains a second record turns from one record (a mapping) into a list, and back when it is down to one, as
octoDNS writes them; the records of other types are then re-indented, nothing else. A new name goes where
octoDNS's natural key order (``enforce_order``) puts it.

Before anything is written (and in check mode) the edited text is parsed again and compared with the old one:
every name and record that is not ours must be equal, ours exactly as wanted, the names still in order; then
``validate`` checks our records the way octoDNS would (values present, TTL an integer, MX exchange absolute).
What this module cannot edit safely is refused with a message naming the line: records of ours that carry
octoDNS metadata (``octodns:``, ``dynamic``, ``geo``) or keys it does not know, YAML anchors and aliases in a
record of ours or on its name, duplicate keys, merge keys at the top level, a name written twice or as an explicit
key.

PyYAML only: the octodns package belongs to the user's pipeline (the tests load what this writes with it).
"""

from __future__ import annotations

import bisect
import collections
import functools
import ipaddress
import os
import re

try:
    import yaml
except ImportError:
    yaml = None

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import (
    DEFAULT_TTL, MAX_TTL, ProviderError, RecordSet, RecordSetError, normalize_value, read_value)
from ansible_collections.mailsec.mx.plugins.module_utils._textfile import TextFileProvider

HAS_YAML = yaml is not None

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
# What a record of ours may hold; anything else (octoDNS metadata, a provider's own keys) would be dropped.
RECORD_KEYS = ("ttl", "type", "value", "values")
METADATA_KEYS = ("octodns", "dynamic", "geo")
# A scalar written plain when PyYAML reads it back as the same string; anything else is single-quoted.
_PLAIN = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.:-]*[A-Za-z0-9_.])?")
_DIGITS = re.compile(r"([0-9]+)")
_NUMBER = re.compile(r"\s*[0-9]+\s*")
_COLON = re.compile(r"[ \t]*:")


def natural_key(text):
    """octoDNS's key order (natsort's default key, which YamlProvider's ``enforce_order`` uses): runs of digits
    compare as numbers, the rest as text; ``''`` (the apex) comes first."""
    parts = [int(part) if _DIGITS.fullmatch(part) else part for part in _DIGITS.split(str(text)) if part]
    if parts and isinstance(parts[0], int):
        parts.insert(0, "")
    return tuple(parts)


def relative_name(name, zone):
    """``mail.example.org.`` in zone ``example.org.`` -> ``mail``; the apex -> ``''`` (octoDNS's names)."""
    if name == zone:
        return ""
    return name[:-1] if zone == "." else name[:-len(zone) - 1]


def _integer(value):
    """``value`` as octoDNS's int() takes it (an int, or digits in a string); None for anything else."""
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def absolute_name(name, zone):
    """The inverse of relative_name."""
    if not name:
        return zone
    return name + "." if zone == "." else "%s.%s" % (name, zone)


def octodns_name(key):
    """The name octoDNS makes of a top-level key (``str(key)``, lower case; Unicode labels IDNA-encoded)."""
    text = str(key).lower()
    if text.isascii():
        return text
    try:
        return ".".join(label.encode("idna").decode("ascii") if not label.isascii() else label for label in text.split("."))
    except UnicodeError:
        return text


@functools.lru_cache(maxsize=None)
def _resolver():
    return yaml.resolver.Resolver()


def yaml_scalar(value):
    """``value`` (a str or an int) as a YAML scalar that reads back as exactly that value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if _PLAIN.fullmatch(value) and _resolver().resolve(yaml.ScalarNode, value, (True, False)) == _STR:
        return value
    return "'%s'" % value.replace("'", "''")


class Tagged:
    """A value under a tag PyYAML's safe loader does not know (octoDNS's ``!include``): compared, never resolved."""

    __slots__ = ("tag", "value")
    __hash__ = None

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tagged) and (self.tag, self.value) == (other.tag, other.value)

    def __repr__(self):
        return "Tagged(%r, %r)" % (self.tag, self.value)


@functools.lru_cache(maxsize=None)
def _loader_class():
    """PyYAML's SafeLoader, remembering where anchors and aliases are, reading unknown tags as ``Tagged``."""

    class Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        def __init__(self, stream, name):
            super().__init__(stream)
            self.name = name  # marks (and so error messages) name the file
            self.anchored = []

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                self.anchored.append(event.start_mark.index)
            return super().compose_node(parent, index)

        def flatten_mapping(self, node):
            # octoDNS merges `<<: !include file`; we cannot read that file, so the pair stays an ordinary key.
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE and not isinstance(value_node, (yaml.MappingNode, yaml.SequenceNode)):
                    key_node.tag = _STR
            super().flatten_mapping(node)

    def construct_tagged(loader, suffix, node):
        del suffix
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = tuple(loader.construct_sequence(node, deep=True))
        else:
            value = tuple(sorted((repr(key), repr(item)) for key, item in loader.construct_mapping(node, deep=True).items()))
        return Tagged(node.tag, value)

    Loader.add_multi_constructor("", construct_tagged)
    return Loader


def _refuse(path, node_or_line, problem):
    line = node_or_line if isinstance(node_or_line, int) else node_or_line.start_mark.line + 1
    return ProviderError("%s line %d: %s" % (path, line, problem))


def _content_col(node):
    """The column a node's lines are indented to: a block collection's first child (after any anchor or tag on the
    line above), else where the node starts."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        first = node.value[0][0] if isinstance(node, yaml.MappingNode) else node.value[0]
        return first.start_mark.column
    return node.start_mark.column


def _content_end(node):
    """Index just after the last character of ``node``'s own text (a block collection ends at its last child)."""
    if isinstance(node, yaml.ScalarNode) or node.flow_style or not node.value:
        return node.end_mark.index
    if isinstance(node, yaml.MappingNode):
        return max(max(_content_end(key), _content_end(value)) for key, value in node.value)
    return max(_content_end(item) for item in node.value)


class _Record:
    """One record under a name: its node, the text it spans (whole lines, for a list item from its dash's line) and
    the columns its dash and its content start at."""

    __slots__ = ("node", "start", "end", "content_end", "dash_col", "col", "data", "type")

    def __init__(self, node, start, end, content_end, dash_col, col):
        self.node = node
        self.start = start
        self.end = end
        self.content_end = content_end
        self.dash_col = dash_col
        self.col = col
        self.data = None
        self.type = None


class _Entry:
    """One top-level name: its key and value nodes, the lines it spans, and its records."""

    __slots__ = ("key_node", "value_node", "start", "end", "key", "name", "order", "records", "is_list", "value")

    def __init__(self, key_node, value_node, start, end):
        self.key_node = key_node
        self.value_node = value_node
        self.start = start
        self.end = end
        self.key = self.name = None
        self.order = ()
        self.records = []
        self.is_list = isinstance(value_node, yaml.SequenceNode)
        self.value = None


class Style:
    """How the file indents: ``indent`` for a mapping under a key, ``seq`` for a list's dashes under a key."""

    __slots__ = ("indent", "seq", "newline")

    def __init__(self, indent=2, seq=2, newline="\n"):
        self.indent = indent
        self.seq = seq
        self.newline = newline


class Document:
    """The text of a config and its layout: top-level entries with their spans, records, constructed data."""

    def __init__(self, text, path):
        self.text = text
        self.path = path
        self.entries = []
        self.tail = len(text)  # where a first name goes in a config without names
        self.empty_flow = None  # (start, end) of `{}` in `--- {}`, which a first name replaces
        first_newline = text.find("\n")
        self.style = Style(newline="\r\n" if first_newline > 0 and text[first_newline - 1] == "\r" else "\n")
        try:
            loader = _loader_class()(text, path)  # the reader refuses bytes that are not UTF-8 here already
        except yaml.YAMLError as exc:
            raise ProviderError("the octoDNS config %s is not valid YAML: %s" % (path, _yaml_problem(exc))) from None
        try:
            try:
                root = loader.get_single_node()
            except yaml.YAMLError as exc:
                raise ProviderError("the octoDNS config %s is not valid YAML: %s" % (path, _yaml_problem(exc))) from None
            self.anchored = sorted(loader.anchored)
            # Spans first: constructing a mapping with merge keys rewrites its nodes.
            self._layout(root)
            self._check_duplicates(loader, root)
            try:
                data = loader.construct_document(root) if root is not None else None
            except (yaml.YAMLError, TypeError) as exc:
                raise ProviderError("the octoDNS config %s cannot be read: %s" % (path, _yaml_problem(exc))) from None
        finally:
            loader.dispose()
        # Duplicate keys and top-level merges are refused, so the mapping holds one item per entry, in order.
        for entry, (key, value) in zip(self.entries, data.items() if self.entries else ()):
            entry.key, entry.value = key, value
            entry.name, entry.order = octodns_name(key), natural_key(key)
            items = value if entry.is_list else [value]
            for record, item in zip(entry.records, items):
                record.data = item
                record.type = item.get("type") if isinstance(item, dict) else None
        self.sorted = all(a.order <= b.order for a, b in zip(self.entries, self.entries[1:]))

    # --- layout -------------------------------------------------------------------------------------------

    def _layout(self, root):
        if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL and not root.value):
            return  # empty, comments only, or `---` alone
        if isinstance(root, yaml.MappingNode) and root.flow_style and not root.value:
            start = root.start_mark.index
            while start > 0 and self.text[start - 1] in " \t":
                start -= 1
            self.empty_flow = (start, root.end_mark.index)
            self.tail = self.line_end(root.end_mark.index)[1]
            return
        if not isinstance(root, yaml.MappingNode) or root.flow_style or root.start_mark.column != 0:
            raise _refuse(self.path, root, "the config must be a block mapping of names to records, starting at column 0")
        for key_node, value_node in root.value:
            if key_node.tag == _MERGE:
                raise _refuse(self.path, key_node, "a merge key (<<) at the top level brings in names this module cannot "
                                                   "see; write the names out")
            start = self.text.rfind("\n", 0, key_node.start_mark.index) + 1
            end = self.line_end(max(_content_end(key_node), _content_end(value_node)))[1]
            entry = _Entry(key_node, value_node, start, end)
            entry.records = self._records(value_node)
            self.entries.append(entry)
        self._detect_style(root)

    def _records(self, value_node):
        if isinstance(value_node, yaml.SequenceNode) and not value_node.flow_style:
            records = []
            for item in value_node.value:
                dash = item.start_mark.index - 1
                while dash >= 0 and self.text[dash] in " \t\r\n":
                    dash -= 1
                line_start = self.text.rfind("\n", 0, dash) + 1
                if dash < 0 or self.text[dash] != "-" or self.text[line_start:dash].strip(" "):
                    dash_col = None  # not a plain `- ` item: the entry cannot be edited item by item
                    line_start = item.start_mark.index
                else:
                    dash_col = dash - line_start
                content_end = _content_end(item)
                records.append(_Record(item, line_start, self.line_end(content_end)[1], content_end, dash_col, _content_col(item)))
            return records
        content_end = _content_end(value_node)
        start = self.text.rfind("\n", 0, value_node.start_mark.index) + 1
        return [_Record(value_node, start, self.line_end(content_end)[1], content_end, None, _content_col(value_node))]

    def _detect_style(self, root):
        """The indentation of the first nested block mapping and the dash offset of the first block list under a key."""
        indent = seq = None
        pending = collections.deque([root])
        while pending and (indent is None or seq is None):
            node = pending.popleft()
            if not isinstance(node, yaml.MappingNode) or node.flow_style:
                if isinstance(node, yaml.SequenceNode):
                    pending.extend(node.value)
                continue
            for key_node, value_node in node.value:
                if isinstance(value_node, (yaml.MappingNode, yaml.SequenceNode)) and not value_node.flow_style \
                        and value_node.start_mark.line > key_node.start_mark.line:
                    offset = value_node.start_mark.column - key_node.start_mark.column
                    if isinstance(value_node, yaml.MappingNode) and indent is None and offset > 0:
                        indent = offset
                    elif isinstance(value_node, yaml.SequenceNode) and seq is None and offset >= 0:
                        seq = offset
                pending.append(value_node)
        self.style.indent = indent or 2
        self.style.seq = self.style.indent if seq is None else seq

    def _check_duplicates(self, loader, root):
        """A key written twice in one mapping (YAML keeps the last silently, octoDNS too): refused anywhere in the file."""
        seen, pending = set(), [root] if root is not None else []
        while pending:
            node = pending.pop()
            if id(node) in seen or isinstance(node, yaml.ScalarNode):
                continue
            seen.add(id(node))
            if isinstance(node, yaml.SequenceNode):
                pending.extend(node.value)
                continue
            keys = set()
            for key_node, value_node in node.value:
                pending.append(value_node)
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                    continue
                try:
                    key = loader.construct_object(key_node)
                    duplicate = key in keys
                    keys.add(key)
                except TypeError:
                    continue
                if duplicate:
                    raise _refuse(self.path, key_node, "the key %r appears twice in one mapping (YAML keeps only the last); "
                                                       "remove one" % (key,))

    def line_end(self, index):
        """(end without the line break, end after it) of the line holding the character before ``index``."""
        text = self.text
        if index > 0 and text[index - 1] == "\n":
            inner = index - 1
        else:
            newline = text.find("\n", index)
            if newline < 0:
                return len(text), len(text)
            inner, index = newline, newline + 1
        if inner > 0 and text[inner - 1] == "\r":
            inner -= 1
        return inner, index

    # --- names and records --------------------------------------------------------------------------------

    def entry(self, name):
        """The one entry octoDNS reads as ``name``; ProviderError if it is written twice (``Mail`` and ``mail``)."""
        found = [entry for entry in self.entries if entry.name == name]
        if len(found) > 1:
            raise _refuse(self.path, found[1].key_node, "%r is written twice (also line %d); octoDNS reads both as %r - merge "
                                                        "them" % (found[1].key, found[0].key_node.start_mark.line + 1, name))
        return found[0] if found else None

    def anchored_between(self, start, end):
        """Where anchors and aliases are between ``start`` and ``end``."""
        return self.anchored[bisect.bisect_left(self.anchored, start):bisect.bisect_left(self.anchored, end)]

    def insertion_point(self, name):
        """Where a new top-level ``name`` goes: before the first name octoDNS orders after it, else after the last."""
        order = natural_key(name)
        for number, entry in enumerate(self.entries):
            if entry.order > order:
                return self.entries[number - 1].end if number else self.comments_above(entry.start)
        return self.entries[-1].end if self.entries else self.tail

    def comments_above(self, index):
        """The start of the comment lines right above ``index`` (they describe what follows them)."""
        while index > 0:
            previous = self.text.rfind("\n", 0, index - 1) + 1
            if not self.text[previous:index].strip().startswith("#"):
                break
            index = previous
        return index

    def node_text(self, record):
        """The record's own text, from its first character to the end of its last line (without the line break)."""
        return self.text[record.node.start_mark.index:self.line_end(record.content_end)[0]]


def _yaml_problem(exc):
    return " ".join(str(exc).split())


# --- reading our records ------------------------------------------------------------------------------------

def _check_entry(document, entry, fqdn, types):
    """An entry we will edit (our ``types`` at ``fqdn``): a record or a list of records, ours written out in full.

    Anchors and aliases (& and *) inside the records of other types are fine (their text moves as it is); in ours,
    which are rewritten, or on the entry itself (a list may become a mapping), an alias elsewhere would break."""
    path = document.path
    if not _COLON.match(document.text, entry.key_node.end_mark.index):
        raise _refuse(path, entry.key_node, "%s is written as an explicit key (? ...); write it as a plain 'name:'" % fqdn)
    theirs = [(record.node.start_mark.index, record.content_end) for record in entry.records if record.type not in types]
    for position in document.anchored_between(entry.start, entry.end):
        if not any(start <= position < end for start, end in theirs):
            raise _refuse(path, entry.key_node, "%s uses YAML anchors or aliases (& or *) where this module writes; it only "
                                                "edits records written out in full" % fqdn)
    if not isinstance(entry.value, (dict, list)) or isinstance(entry.value, list) and not all(isinstance(item, dict) for item in entry.value):
        raise _refuse(path, entry.key_node, "%s is not a record or a list of records" % fqdn)
    if entry.is_list and (entry.value_node.flow_style or any(record.dash_col is None for record in entry.records)):
        raise _refuse(path, entry.key_node, "%s is a list this module cannot edit item by item; write it as a block list "
                                            "('- ' items)" % fqdn)
    for record in entry.records:
        rtype = record.type
        if not isinstance(rtype, str):
            raise _refuse(path, record.node, "a record of %s has no type" % fqdn)


def find_record(document, entry, fqdn, rtype):
    """The record of type ``rtype`` under ``entry`` (None if there is none), checked for what we would drop."""
    path = document.path
    found = [record for record in entry.records if record.type == rtype]
    for record in entry.records:
        if record.type != rtype and isinstance(record.type, str) and record.type.upper() == rtype:
            raise _refuse(path, record.node, "%s has type %r; octoDNS knows it as %s only" % (fqdn, record.type, rtype))
    if len(found) > 1:
        raise _refuse(path, found[1].node, "%s has two %s records; octoDNS refuses that - merge them" % (fqdn, rtype))
    if not found:
        return None
    record = found[0]
    metadata = [key for key in record.data if key in METADATA_KEYS]
    if metadata:
        raise _refuse(path, record.node, "%s %s carries octoDNS metadata (%s); this module would drop it - remove it or "
                                         "manage this record by hand" % (fqdn, rtype, ", ".join(metadata)))
    unknown = [key for key in record.data if key not in RECORD_KEYS]
    if unknown:
        raise _refuse(path, record.node, "%s %s has keys this module would drop (%s); it writes only %s"
                      % (fqdn, rtype, ", ".join(map(repr, unknown)), ", ".join(RECORD_KEYS)))
    if "value" in record.data and "values" in record.data:
        raise _refuse(path, record.node, "%s %s has both value and values; keep one" % (fqdn, rtype))
    return record


def record_set(document, record, fqdn, rtype, zone):
    """The RRset ``record`` holds, as octoDNS reads it (no ttl: octoDNS's default_ttl, 3600)."""
    data, path = record.data, document.path
    ttl = _integer(data.get("ttl", DEFAULT_TTL))
    if ttl is None or not 0 <= ttl <= MAX_TTL:
        raise _refuse(path, record.node, "%s %s has ttl %r, not an integer from 0 to %d" % (fqdn, rtype, data.get("ttl"), MAX_TTL))
    raw = data.get("values", data.get("value"))
    raw = [] if raw is None else raw if isinstance(raw, list) else [raw]
    values = []
    for value in raw:
        text = _mx_text(value) if rtype == "MX" else value
        if not isinstance(text, str):
            raise _refuse(path, record.node, "%s %s has a value this module cannot read: %r" % (fqdn, rtype, value))
        values.append(read_value(rtype, text, zone))
    return RecordSet(fqdn, rtype, ttl, values)


def _mx_text(value):
    """``preference exchange`` of an octoDNS MX value ({exchange, preference}, or the legacy {value, priority})."""
    if not isinstance(value, dict) or set(value) - {"exchange", "preference", "value", "priority"}:
        return None
    if ("preference" in value) == ("priority" in value) or ("exchange" in value) == ("value" in value):
        return None
    preference = _integer(value.get("preference", value.get("priority")))
    exchange = value.get("exchange", value.get("value"))
    if preference is None or not isinstance(exchange, str) or not exchange.strip():
        return None
    return "%d %s" % (preference, exchange.strip())


def record_problems(data, rtype, zone):
    """What octoDNS would refuse in a record we wrote (stricter: our own format): [] when it loads."""
    problems = []
    keys = list(data)
    if keys != sorted(keys, key=natural_key):
        problems.append("keys out of octoDNS's order")
    if data.get("type") != rtype:
        problems.append("type is not %s" % rtype)
    ttl = data.get("ttl")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL:
        problems.append("ttl %r is not an integer from 0 to %d" % (ttl, MAX_TTL))
    raw = data.get("values", data.get("value"))
    raw = [] if raw is None else raw if isinstance(raw, list) else [raw]
    if not raw:
        problems.append("no value")
    for value in raw:
        problems.extend(_value_problems(value, rtype, zone))
    return problems


def _value_problems(value, rtype, zone):
    if rtype in ("A", "AAAA"):
        try:
            address = ipaddress.ip_address(value) if isinstance(value, str) else None
        except ValueError:
            address = None
        if address is None or address.version != (4 if rtype == "A" else 6):
            return ["%r is not an IPv%d address" % (value, 4 if rtype == "A" else 6)]
        return []
    if not isinstance(value, dict) or sorted(value) != ["exchange", "preference"]:
        return ["MX value %r is not {exchange, preference}" % (value,)]
    preference, exchange = value["preference"], value["exchange"]
    if isinstance(preference, bool) or not isinstance(preference, int) or not 0 <= preference <= 65535:
        return ["MX preference %r is not an integer from 0 to 65535" % (preference,)]
    if not isinstance(exchange, str) or not exchange.endswith("."):
        return ["MX exchange %r is not absolute (octoDNS wants a trailing dot)" % (exchange,)]
    try:
        normalize_value("MX", "%d %s" % (preference, exchange), zone, False)
    except RecordSetError as exc:
        return [str(exc)]
    return []


# --- writing our records ------------------------------------------------------------------------------------

def _sorted_values(record_set):
    if record_set.type == "MX":
        pairs = [value.split(" ", 1) for value in record_set.values]
        return sorted((int(preference), exchange) for preference, exchange in pairs)
    return sorted(record_set.values, key=ipaddress.ip_address)


def record_lines(record_set, style):
    """The record's lines, its keys in octoDNS's order, indented relative to its first key."""
    lines = ["ttl: %d" % record_set.ttl, "type: %s" % yaml_scalar(record_set.type)]
    values = _sorted_values(record_set)
    indent, seq = " " * style.indent, " " * style.seq
    if record_set.type == "MX":
        mappings = [["exchange: %s" % yaml_scalar(exchange), "preference: %d" % preference] for preference, exchange in values]
        if len(mappings) == 1:
            lines.append("value:")
            lines.extend(indent + line for line in mappings[0])
        else:
            lines.append("values:")
            for mapping in mappings:
                lines.append(seq + "- " + mapping[0])
                lines.extend(seq + "  " + line for line in mapping[1:])
    elif len(values) == 1:
        lines.append("value: %s" % yaml_scalar(values[0]))
    else:
        lines.append("values:")
        lines.extend(seq + "- " + yaml_scalar(value) for value in values)
    return lines


def _shift(text, old_col, new_col, newline):
    """``text`` (a node's text, its first line starting at ``old_col``) with its other lines moved to start ``new_col``."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    delta = new_col - old_col
    moved = [lines[0]]
    for bare in lines[1:]:
        if not bare.strip():
            moved.append(bare)
        elif delta >= 0:
            moved.append(" " * delta + bare)
        elif bare.startswith(" " * -delta):
            moved.append(bare[-delta:])
        elif bare.lstrip(" ").startswith("#"):
            moved.append(bare.lstrip(" "))
        else:
            raise ValueError("line %r cannot move left by %d" % (bare, -delta))
    return newline.join(moved)


def _apply_edits(text, edits, newline):
    """``text`` with the (start, end, replacement, order) edits made; they never overlap. At one point, an entry's
    own items (order (0, ...)) go before a new name (order (1, ...)) that follows the entry."""
    out, cursor = [], 0
    for start, end, replacement, _order in sorted(edits, key=lambda edit: (edit[0], edit[1], edit[3])):
        if start < cursor:
            raise ValueError("overlapping edits at %d" % start)
        if start == len(text) and text and not text.endswith("\n") and replacement:
            replacement = newline + replacement
        out.append(text[cursor:start])
        out.append(replacement)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def _types_by_name(keys):
    by_name = {}
    for fqdn, rtype in keys:
        by_name.setdefault(fqdn, []).append(rtype)
    return by_name


class OctodnsProvider(TextFileProvider):
    """RRsets in octoDNS YAML zone configs: ``settings`` is {zone: {"path": ...}}."""

    what = "octoDNS config"
    empty = "--- {} for a zone with no records yet"

    def __init__(self, settings):
        super().__init__(settings)
        by_file = {}
        for zone, path in self.paths.items():
            other = by_file.setdefault(os.path.realpath(path), zone)
            if other != zone:
                raise RecordSetError("zones %s and %s have the same path %s; octoDNS reads one file per zone" % (other, zone, path))
        self._documents = {}  # zone -> the Document of the last text read
        self._rendered_documents = {}  # zone -> the Document of the last text rendered (parsed back by the self-check)
        self._written = {}  # zone -> {fqdn: [types]} the last rendering wrote

    def _document(self, zone, text):
        """The parsed ``text``; the fresh read before writing usually finds the same text, parsed once."""
        cached = self._documents.get(zone)
        if cached is not None and cached.text == text:
            return cached
        document = Document(text, self.paths[zone])
        self._documents[zone] = document
        return document

    # --- TextFileProvider --------------------------------------------------------------------------------

    def parse(self, zone, text, keys):
        document = self._document(zone, text)
        current = {}
        for fqdn, types in _types_by_name(keys).items():
            entry = document.entry(relative_name(fqdn, zone))
            if entry is not None:
                _check_entry(document, entry, fqdn, types)
            for rtype in types:
                record = find_record(document, entry, fqdn, rtype) if entry is not None else None
                current[(fqdn, rtype)] = None if record is None else record_set(document, record, fqdn, rtype, zone)
        return current

    def render(self, zone, text, changes):
        document = self._document(zone, text)
        wanted = {}
        for change in changes:
            wanted.setdefault(relative_name(change.key[0], zone), {})[change.key[1]] = change.after
        edits = []
        if document.empty_flow is not None and any(after for types in wanted.values() for after in types.values()):
            edits.append(document.empty_flow + ("", (0, ())))
        for name, types in sorted(wanted.items(), key=lambda item: natural_key(item[0])):
            entry = document.entry(name)
            try:
                if entry is None:
                    records = [types[rtype] for rtype in sorted(types) if types[rtype] is not None]
                    if records:
                        point = document.insertion_point(name)
                        edits.append((point, point, self._entry_text(document, yaml_scalar(name) + ":", records), (1, natural_key(name))))
                else:
                    edits.extend(self._entry_edits(document, entry, types))
            except ValueError as exc:
                raise _refuse(document.path, entry.key_node, "cannot re-indent the records at %r (%s); edit it by hand" % (name, exc)) from None
        try:
            new_text = _apply_edits(text, edits, document.style.newline)
        except ValueError as exc:
            raise ProviderError("%s: refusing to write the octoDNS config: %s; nothing was changed (please report this with the "
                                "file)" % (document.path, exc)) from None
        self._self_check(zone, document, new_text, wanted)
        self._written[zone] = _types_by_name(change.key for change in changes if change.after is not None)
        return new_text

    def validate(self, zone, path, text):
        """What octoDNS's YamlProvider would refuse in the records the new text (parsed with PyYAML's safe loader)
        has from us, and the key order. Records of ours left as they were are the owner's, as octoDNS took them."""
        rendered = self._rendered_documents.get(zone)
        document = rendered if rendered is not None and rendered.text == text and rendered.path == path else Document(text, path)
        old = self._documents.get(zone)
        if old is not None and old.sorted and not document.sorted:
            raise ProviderError("%s: the names would leave octoDNS's key order (enforce_order)" % path)
        for fqdn, types in self._written.get(zone, {}).items():
            entry = document.entry(relative_name(fqdn, zone))
            if entry is None:
                continue
            _check_entry(document, entry, fqdn, types)
            present = [record.type for record in entry.records]
            if "CNAME" in present and any(rtype in present for rtype in types):
                raise _refuse(path, entry.key_node, "%s has a CNAME; octoDNS refuses other records beside it" % fqdn)
            for rtype in types:
                record = find_record(document, entry, fqdn, rtype)
                problems = record_problems(record.data, rtype, zone) if record is not None else []
                if problems:
                    raise _refuse(path, record.node, "%s %s would not load in octoDNS: %s" % (fqdn, rtype, "; ".join(problems)))

    # --- rendering -----------------------------------------------------------------------------------------

    def _entry_edits(self, document, entry, types):
        """The edits that give ``entry`` the wanted records of ``types`` and keep its other records."""
        kept = [record for record in entry.records if record.type not in types]
        ours = [types[rtype] for rtype in sorted(types) if types[rtype] is not None]
        count = len(kept) + len(ours)
        if count == 0:
            return [(entry.start, entry.end, "", (0, ()))]
        if entry.is_list and count > 1:
            return self._list_edits(document, entry, types)
        # One record: a mapping under the key; several: a list. Rebuild the entry, moving the kept records' text.
        newline, style = document.style.newline, document.style
        text = document.text
        key_node, value_node = entry.key_node, entry.value_node
        if value_node.start_mark.line > key_node.end_mark.line:
            head_end = document.line_end(key_node.end_mark.index + 1)[1]
            head = text[entry.start:head_end]
            # In a list, the comment lines above an item describe it: they go with it (kept below) or with it when it
            # is removed. Above a mapping they are the entry's own.
            gap = text[head_end:entry.records[0].start] if entry.records and not entry.is_list else ""
        else:
            head, gap = text[entry.start:key_node.end_mark.index] + ":" + newline, ""
        items = [(str(record.type), record) for record in kept] + [(after.type, after) for after in ours]
        if count > 1:
            # A mapping becoming a list: the comment lines above it describe its one record, so they move above
            # that record's item (and come back above the mapping when the list shrinks to it again).
            moved = "".join(" " * style.seq + line.lstrip(" \t") for line in gap.splitlines(True))
            gap = ""
            items.sort(key=lambda item: item[0])
            body = "".join(("" if isinstance(item, RecordSet) else moved) + self._item_text(document, item, style.seq)
                           for _rtype, item in items)
        else:
            item = items[0][1]
            if isinstance(item, RecordSet):
                body = "".join(" " * style.indent + line + newline for line in record_lines(item, style))
            else:
                body = (self._comments_text(document, item, style.indent) if entry.is_list else "") + \
                    " " * style.indent + _shift(document.node_text(item), item.col, style.indent, newline) + newline
        return [(entry.start, entry.end, head + gap + body, (0, ()))]

    def _list_edits(self, document, entry, types):
        """Edits inside a list that stays a list: our items replaced, removed or inserted; the rest untouched."""
        edits = []
        dash_col = entry.records[0].dash_col
        existing = {record.type: record for record in entry.records if record.type in types}
        for rtype in sorted(types):
            after, record = types[rtype], existing.get(rtype)
            if record is not None and after is not None:
                edits.append((record.start, record.end, self._item_text(document, after, record.dash_col), (0, ())))
            elif record is not None:
                # Removed with the comment lines right above it, which describe it.
                edits.append((document.comments_above(record.start), record.end, "", (0, ())))
            elif after is not None:
                following = next((other for other in entry.records if str(other.type) > rtype), None)
                point = following.start if following is not None else entry.records[-1].end
                edits.append((point, point, self._item_text(document, after, dash_col), (0, (rtype,))))
        return edits

    @staticmethod
    def _comments_text(document, record, col):
        """The comment lines right above a kept list item, moved to column ``col``: they describe it and go with it."""
        lines = document.text[document.comments_above(record.start):record.start].splitlines(True)
        return "".join(" " * col + line.lstrip(" \t") for line in lines)

    def _item_text(self, document, item, dash_col):
        """A list item at ``dash_col``: a record of ours rendered, or a kept record's text moved there."""
        newline = document.style.newline
        if isinstance(item, RecordSet):
            lines = record_lines(item, document.style)
            return newline.join([" " * dash_col + "- " + lines[0]] + [" " * (dash_col + 2) + line for line in lines[1:]]) + newline
        return " " * dash_col + "- " + _shift(document.node_text(item), item.col, dash_col + 2, newline) + newline

    def _entry_text(self, document, head, records):
        newline, style = document.style.newline, document.style
        if len(records) == 1:
            body = "".join(" " * style.indent + line + newline for line in record_lines(records[0], style))
        else:
            body = "".join(self._item_text(document, record, style.seq) for record in records)
        return head + newline + body

    # --- the check before anything is written --------------------------------------------------------------

    def _self_check(self, zone, old, new_text, wanted):
        """Refuse unless, read back, the new text differs from the old only in our records, which are as wanted."""
        path = self.paths[zone]

        def refuse(problem):
            return ProviderError("%s: refusing to write the octoDNS config: %s; nothing was changed (please report this "
                                 "with the file)" % (path, problem))

        try:
            new = Document(new_text, path)
        except ProviderError as exc:
            raise refuse("the edited text would not parse (%s)" % exc) from None
        others = [(entry.key, entry.value) for entry in old.entries if entry.name not in wanted]
        if others != [(entry.key, entry.value) for entry in new.entries if entry.name not in wanted]:
            raise refuse("names that are not ours would change")
        for name, types in wanted.items():
            fqdn = absolute_name(name, zone)
            old_entry, new_entry = old.entry(name), new.entry(name)
            kept = [record.data for record in old_entry.records if record.type not in types] if old_entry else []
            if kept != ([record.data for record in new_entry.records if record.type not in types] if new_entry else []):
                raise refuse("records of other types at %s would change" % fqdn)
            for rtype, after in types.items():
                record = find_record(new, new_entry, fqdn, rtype) if new_entry else None
                found = record_set(new, record, fqdn, rtype, zone) if record is not None else None
                if found != after:
                    raise refuse("%s %s would read back as %r" % (fqdn, rtype, found))
        if old.sorted and not new.sorted:
            raise refuse("the names would leave octoDNS's key order")
        self._rendered_documents[zone] = new
