# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""BIND zone files as a record-set provider: edit only the lines of the RRsets we publish.

Two readers look at every file, and they must agree:

- BIND itself: ``named-checkzone -D`` loads the file as named would (``$INCLUDE`` followed from the include
  directory, ``$GENERATE`` expanded, every inheritance rule of the master-file format) and prints each record on
  one canonical line. That is what the zone holds: the current RRsets are read from it, and the edited text is
  loaded the same way before it is written.
- A line-aware scanner of the master-file format (RFC 1035 section 5 and BIND's additions), here: it finds which
  lines of the file itself hold our RRsets and which token is the SOA serial, and knows what each record line
  inherits from the lines before it (a blank owner, a missing TTL).

If the lines the scanner finds for an RRset do not hold exactly what BIND loaded for it (a record of ours in an
``$INCLUDE``'d file or made by ``$GENERATE``), the file is not edited. An edit removes our records' lines, writes
the new RRsets as whole explicit lines (absolute owner, TTL, class ``IN``) where they cannot change what a following
line inherits, gives a following line its owner or TTL explicitly where a removed line used to lend it, and
increases the serial. Before anything is written the new text is loaded by BIND again and compared with the old:
every RRset that is not ours must be identical, ours exactly as wanted, the SOA identical except its serial.

The serial (RFC 1982) takes the date form ``YYYYMMDDnn`` when it already has that form (today's date, UTC, or one
more than the old serial, whichever is greater), else grows by one, wrapping past 2**32 - 1 to 1, never to 0.
"""

from __future__ import annotations

import bisect
import datetime
import os
import re
import shutil
import subprocess
import tempfile

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import ProviderError, RecordSet, RecordSetError, check_option, read_value
from ansible_collections.mailsec.mx.plugins.module_utils._textfile import ENCODING, ERRORS, TextFileProvider

CHECKZONE = "named-checkzone"
CHECKZONE_PACKAGES = "bind9-utils (Debian, Ubuntu) or bind-utils (RHEL, Fedora)"
# Reading: the file must load as named loads it. '-i local': integrity checks for in-zone names only, as named
# does; 'full' would look up every out-of-zone MX target in the DNS (slow, and offline on many controllers).
READ_OPTIONS = ("-i", "local")
# Writing: what named refuses in a primary zone (check-names), and an MX that points to a CNAME (RFC 2181 10.3).
WRITE_OPTIONS = ("-i", "local", "-k", "fail", "-M", "fail")
CHECKZONE_TIMEOUT = 300
MESSAGE_LINES = 20
SERIAL_MODULUS = 2 ** 32
SERIAL_HALF = 2 ** 31

# One lexeme of a line: blanks, a comment, a parenthesis, or a word (quoted parts and escapes kept as written).
_LEXEME = re.compile(r'[ \t\r\f\v]+|;.*|\(|\)|(?:"(?:[^"\\]|\\.)*"|[^ \t\r\f\v;()"\\]|\\.)+')
_BLANKS = " \t\r\f\v"
# A line without any of these is cut with str.split (fast); one with them goes through _LEXEME.
_SPECIAL = re.compile(r'[^\x20-\x7e\t\r\n]|["()\\]')
_TTL = re.compile(r"(?:[0-9]+[wdhms])+[0-9]*|[0-9]+", re.IGNORECASE)
_TTL_PART = re.compile(r"([0-9]+)([wdhms]?)", re.IGNORECASE)
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_CLASSES = {"IN", "CH", "CHAOS", "HS", "HESIOD", "CS", "NONE", "ANY"}
_CLASS_NUMBER = re.compile(r"CLASS[0-9]+", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")
_DATE_SERIAL = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})[0-9]{2}")
# named-checkzone's warning for an MX whose in-zone target has no address: "<owner>/MX '<target>' has no address records"
_NO_ADDRESS = re.compile(r"(\S+)/MX '([^']+)' has no address records")


class ZoneFileError(ValueError):
    """The scanner cannot read a line; ``line`` is 1-based."""

    def __init__(self, line, message):
        super().__init__("line %d: %s" % (line, message))
        self.line = line


def utc_today():
    """Today's date in UTC: the date of a YYYYMMDDnn serial."""
    return datetime.datetime.now(datetime.timezone.utc).date()


# --- serial numbers --------------------------------------------------------------------------------------------

def serial_greater(new, old):
    """RFC 1982: is ``new`` greater than ``old`` in serial number arithmetic?"""
    return new != old and (new - old) % SERIAL_MODULUS < SERIAL_HALF


def is_date_serial(serial):
    """True when ``serial`` reads as YYYYMMDDnn with a real date."""
    match = _DATE_SERIAL.fullmatch(str(serial))
    if not match:
        return False
    try:
        datetime.date(*(int(part) for part in match.groups()))
    except ValueError:
        return False
    return True


def next_serial(serial, today):
    """The serial after ``serial``: date form when it has that form (max(serial + 1, today's YYYYMMDD00)), else
    serial + 1, wrapping past 2**32 - 1 to 1 (0 is skipped: some tools read it as 'unset')."""
    if is_date_serial(serial):
        candidate = max(serial + 1, int(today.strftime("%Y%m%d")) * 100)
        if candidate < SERIAL_MODULUS and serial_greater(candidate, serial):
            return candidate
    return (serial + 1) % SERIAL_MODULUS or 1


# --- the scanner -----------------------------------------------------------------------------------------------

def parse_ttl(text, line):
    """A TTL as BIND writes them: seconds, or units (1h30m, 1W); ZoneFileError otherwise."""
    if text.isascii() and text.isdigit():
        return int(text)
    if not _TTL.fullmatch(text):
        raise ZoneFileError(line, "%r is not a TTL" % text)
    return sum(int(number) * _TTL_UNITS[unit.lower()] for number, unit in _TTL_PART.findall(text))


def absolute_name(token, origin):
    """A name token made absolute against ``origin``, lower case, escapes kept as written."""
    name = token.lower()
    if name == "@":
        return origin
    if name.endswith(".") and not name.endswith("\\."):
        return name
    return name + "." if origin == "." else "%s.%s" % (name, origin)


def _is_class(token):
    return token.upper() in _CLASSES or bool(_CLASS_NUMBER.fullmatch(token))


class Entry:
    """One logical line of the file: a record or a directive, spanning physical lines ``first``..``last`` (0-based).

    ``words``: its words as written. For a record: ``owner`` (absolute, lower case, inherited when
    ``owner_explicit`` is false), ``ttl`` (seconds, or a tuple naming where an unknown TTL comes from),
    ``ttl_explicit``, ``default_ttl`` (the $TTL in force, None without one), ``rtype``, ``rest`` (index in words of
    the first word after the owner), ``rdata`` (index of the first rdata word) and ``origin``.
    """

    __slots__ = ("index", "first", "last", "kind", "words", "owner", "owner_explicit", "ttl", "ttl_explicit",
                 "default_ttl", "rtype", "rest", "rdata", "origin")

    def __init__(self, index, first, last, kind, words):
        self.index = index
        self.first = first
        self.last = last
        self.kind = kind
        self.words = words
        self.owner = None
        self.owner_explicit = False
        self.ttl = None
        self.ttl_explicit = False
        self.default_ttl = None
        self.rtype = None
        self.rest = 0
        self.rdata = 0
        self.origin = None

    @property
    def key(self):
        return (self.owner, self.rtype)

    def positions(self, lines):
        """(line, start, end) of each word, found again in ``lines`` (only for the few words an edit touches)."""
        found = []
        depth = 0
        for number in range(self.first, self.last + 1):
            depth = _lex(lines[number], number, depth, found)
        return found


class Scan:
    """The file cut into physical lines (endings kept) and entries, each record resolved as BIND reads it."""

    def __init__(self, text, zone):
        self.zone = zone
        self.lines = _physical_lines(text)
        self.entries = []
        self.by_key = {}
        self.soa = []
        self.elsewhere = []  # (1-based line, directive) of $INCLUDE and $GENERATE: records from outside these lines
        crlf = text.count("\r\n")
        self.eol = "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"
        self._cut()
        self._resolve()
        self.firsts = [entry.first for entry in self.entries]

    def _cut(self):
        depth, found, first, kind = 0, [], 0, None
        for number, line in enumerate(self.lines):
            if depth == 0:
                stripped = line.lstrip(_BLANKS)
                if not stripped or stripped[0] in ";\n":
                    continue  # blank or comment-only line
                first, found = number, []
                kind = "blank" if line[0] in " \t" else "owner"
                if not _SPECIAL.search(line):
                    # The common line: no quotes, parentheses, escapes or control characters; a ';' starts a comment.
                    self._add(kind, first, number, line.split(";", 1)[0].split())
                    continue
            depth = _lex(line, number, depth, found)
            if depth == 0 and found:
                self._add(kind, first, number, [word[3] for word in found])
                found = []
        if depth:
            raise ZoneFileError(first + 1, "'(' is never closed")

    def _add(self, kind, first, last, words):
        if not words:
            return
        if kind == "owner" and words[0].startswith("$"):
            kind = words[0].upper()
        self.entries.append(Entry(len(self.entries), first, last, kind, words))

    def _resolve(self):
        """Owner, TTL and type of every record, as BIND derives them (origin, blank owners, $TTL, last TTL)."""
        origin, last_owner, last_ttl, default_ttl = self.zone, None, ("no TTL yet",), None
        for entry in self.entries:
            words, line = entry.words, entry.first + 1
            entry.origin = origin
            if entry.kind == "$ORIGIN":
                origin = absolute_name(_argument(words, 1, line), origin)
            elif entry.kind == "$TTL":
                default_ttl = parse_ttl(_argument(words, 1, line), line)
            elif entry.kind == "$INCLUDE":
                # The included file may set the last TTL (BIND keeps it after the include): only the same state
                # before the same $INCLUDE gives the same state after it. The owner reverts after an include.
                last_ttl = ("after the $INCLUDE on line %d" % line, last_ttl)
                self.elsewhere.append((line, "$INCLUDE"))
            elif entry.kind == "$GENERATE":
                if len(words) > 3 and words[3][:1].isdigit():
                    last_ttl = parse_ttl(words[3], line)
                self.elsewhere.append((line, "$GENERATE"))
            elif entry.kind in ("owner", "blank"):
                entry.kind = "record"
                entry.owner_explicit = not _starts_blank(self.lines[entry.first])
                if entry.owner_explicit:
                    entry.owner, rest = absolute_name(words[0], origin), 1
                elif last_owner is None:
                    raise ZoneFileError(line, "a record with a blank owner and no owner before it")
                else:
                    entry.owner, rest = last_owner, 0
                entry.rest = rest
                ttl, seen_class = None, False
                while rest < len(words):
                    word = words[rest]
                    if ttl is None and word[:1].isdigit():
                        ttl = parse_ttl(word, line)
                    elif not seen_class and _is_class(word):
                        seen_class = True
                    else:
                        break
                    rest += 1
                if rest >= len(words):
                    raise ZoneFileError(line, "a record without a type")
                entry.rtype = words[rest].upper()
                entry.rdata = rest + 1
                entry.default_ttl = default_ttl
                entry.ttl_explicit = ttl is not None
                if ttl is not None:
                    last_ttl = ttl
                elif default_ttl is not None:
                    ttl = default_ttl
                else:
                    ttl = last_ttl
                entry.ttl = ttl
                last_owner = entry.owner
                self.by_key.setdefault(entry.key, []).append(entry)
                if entry.rtype == "SOA":
                    self.soa.append(entry)

    def next_record_after(self, line, skip):
        """The first entry starting at or after physical ``line`` that is not in ``skip`` nor a $ORIGIN or $TTL
        (they pass owner and TTL on unchanged); None at the end of the file."""
        for entry in self.entries[bisect.bisect_left(self.firsts, line):]:
            if entry.index in skip or entry.kind in ("$ORIGIN", "$TTL"):
                continue
            return entry
        return None


def _physical_lines(text):
    """The lines, each with its '\\n' (only '\\n' ends a line in a zone file; '\\r' is a blank)."""
    lines = text.split("\n")
    result = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        result.append(lines[-1])
    return result


def _lex(line, number, depth, found):
    """Append (line, start, end, word) for each word of physical line ``number`` to ``found``; return the
    parenthesis depth after it. Quoted strings and escapes stay inside their word; ';' outside quotes ends the line."""
    content = line[:-1] if line.endswith("\n") else line
    position = 0
    while position < len(content):
        match = _LEXEME.match(content, position)
        if match is None:
            raise ZoneFileError(number + 1, "unbalanced quote, or a backslash at the end of the line")
        lexeme = match.group()
        head = lexeme[0]
        if head == ";":
            break
        if head == "(":
            depth += 1
        elif head == ")":
            depth -= 1
            if depth < 0:
                raise ZoneFileError(number + 1, "')' without '('")
        elif head not in _BLANKS:
            found.append((number, match.start(), match.end(), lexeme))
        position = match.end()
    return depth


def _starts_blank(line):
    return line[:1] in (" ", "\t")


def _argument(words, number, line):
    if len(words) <= number:
        raise ZoneFileError(line, "%s needs an argument" % words[0])
    return words[number]


# --- what named-checkzone prints -------------------------------------------------------------------------------

class Dump:
    """The records of a ``named-checkzone -D`` dump: one per line, ``owner ttl class type rdata``.

    Kept as the lines BIND printed; only the RRsets asked for (``record_set``) are taken apart.
    """

    def __init__(self, text, zone):
        self.zone = zone
        self.lines = [line for line in text.splitlines() if line and not line.startswith(";")]
        self._rrsets = None

    @staticmethod
    def fields(line):
        """(owner lower case, type, ttl, rdata) of one line."""
        owner, ttl, _rclass, rtype, *rdata = line.split(None, 4)
        return owner.lower(), rtype.upper(), int(ttl), rdata[0].strip() if rdata else ""

    def rrsets(self):
        if self._rrsets is None:
            self._rrsets = {}
            for line in self.lines:
                record = self.fields(line)
                self._rrsets.setdefault(record[:2], []).append(record)
        return self._rrsets

    def others(self, keys):
        """Every record line except those of ``keys`` and the SOA, as (owner, type, ttl, rdata), sorted."""
        rrsets = self.rrsets()
        return sorted(record for key, records in rrsets.items() if key not in keys and key[1] != "SOA" for record in records)

    def record_set(self, key):
        """The RRset at ``key`` as a RecordSet (values normalised like ours), or None."""
        records = self.rrsets().get(key)
        if not records:
            return None
        return RecordSet(key[0], key[1], records[0][2], [read_value(key[1], record[3], self.zone) for record in records])

    def soa(self):
        records = self.rrsets().get((self.zone, "SOA")) or []
        return records[0] if len(records) == 1 else None


def _located_value(entry, zone):
    """The value a record line of ours holds, normalised as read_value normalises BIND's canonical text."""
    rdata = entry.words[entry.rdata:]
    if entry.rtype == "MX" and len(rdata) == 2:
        return read_value("MX", "%s %s" % (rdata[0], absolute_name(rdata[1], entry.origin)), zone)
    return read_value(entry.rtype, " ".join(rdata), zone)


# --- the provider ----------------------------------------------------------------------------------------------

class ZoneFileProvider(TextFileProvider):
    """BIND zone files, one per zone (``settings`` = {zone: {"path": ...}})."""

    what = "zone file"
    empty = "its SOA and NS records"

    def __init__(self, settings, checkzone_command=CHECKZONE, include_directory=None, today=None):
        """RecordSetError for a bad option or a checker that cannot be found, before any file is read.

        ``include_directory``: where relative $INCLUDE paths resolve (named's ``directory``); default: each zone
        file's own directory. ``today``: a callable giving the date of a date-form serial (default: UTC today).
        """
        super().__init__(settings)
        check_option("checkzone_command", checkzone_command)
        if not checkzone_command:
            raise RecordSetError("checkzone_command is empty; give named-checkzone's name or path")
        if include_directory is not None:
            check_option("include_directory", include_directory)
        found = shutil.which(checkzone_command)
        if found is None:
            raise RecordSetError("checkzone_command %s: not found or not executable; install %s, or give its path"
                                 % (checkzone_command, CHECKZONE_PACKAGES))
        self.checkzone = found
        self.include_directory = os.path.expanduser(include_directory) if include_directory else None
        self.today = today
        self._loaded = {}
        self._pending = {}

    # --- reading ---

    def parse(self, zone, text, keys):
        scan, dump = self._load(zone, text)
        current = {}
        for key in keys:
            record_set = dump.record_set(key)
            located = scan.by_key.get(key, [])
            values = {_located_value(entry, zone) for entry in located}
            held = set(record_set.values) if record_set else set()
            if held - values:
                raise ProviderError(
                    "the zone file %s holds %s %s records outside its own lines (%s): this module edits only the "
                    "file's own lines, so move them into it, or out of the RRsets it manages; nothing was changed"
                    % (self.paths[zone], key[0], key[1], self._elsewhere(scan)))
            if values != held:
                raise ProviderError(
                    "the zone file %s: lines %s read as %s %s, but BIND loads other values for it; the file is left "
                    "as it is (nothing was changed)" % (self.paths[zone], ", ".join(str(entry.first + 1) for entry in located), key[0], key[1]))
            current[key] = record_set
        return current

    def _load(self, zone, text):
        """(Scan, Dump) of ``text``; kept for the same text, so the core's fresh read costs nothing more."""
        cached = self._loaded.get(zone)
        if cached is not None and cached[0] == text:
            return cached[1], cached[2]
        code, output, messages = self._checkzone(zone, text, READ_OPTIONS)
        if code != 0:
            raise ProviderError("the zone file %s does not load (named-checkzone: %s); nothing was changed" % (self.paths[zone], messages))
        try:
            scan = Scan(text, zone)
        except ZoneFileError as exc:
            raise ProviderError("the zone file %s cannot be edited safely: %s; nothing was changed" % (self.paths[zone], exc)) from None
        dump = Dump(output, zone)
        self._loaded[zone] = (text, scan, dump)
        return scan, dump

    def _elsewhere(self, scan):
        places = ["%s on line %d" % (directive, line) for line, directive in scan.elsewhere]
        return ", ".join(places) if places else "no $INCLUDE or $GENERATE found"

    def _directory(self, zone):
        directory = self.include_directory or os.path.dirname(os.path.abspath(self.paths[zone]))
        if not os.path.isdir(directory):
            raise ProviderError("the include directory %s of the zone file %s is not a directory; nothing was changed" % (directory, self.paths[zone]))
        return directory

    def _checkzone(self, zone, text, options):
        """(exit code, dump text, messages) of named-checkzone on ``text``, run from the include directory."""
        directory = self._directory(zone)
        try:
            descriptor, temporary = tempfile.mkstemp(prefix="mailsec-", suffix=".zone")
        except OSError as exc:
            raise ProviderError("cannot write a temporary copy of the zone file %s for named-checkzone: %s; nothing was changed"
                                % (self.paths[zone], exc.strerror or exc)) from None
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(text.encode(ENCODING, ERRORS))
            argv = [self.checkzone] + list(options) + ["-D", "-o", "-", zone, temporary]
            try:
                result = subprocess.run(argv, cwd=directory, stdin=subprocess.DEVNULL, capture_output=True, timeout=CHECKZONE_TIMEOUT, check=False)
            except OSError as exc:
                raise ProviderError("cannot run %s: %s; install %s, or set checkzone_command"
                                    % (self.checkzone, exc.strerror or exc, CHECKZONE_PACKAGES)) from None
            except subprocess.TimeoutExpired:
                raise ProviderError("%s did not finish within %d s on the zone file %s" % (self.checkzone, CHECKZONE_TIMEOUT, self.paths[zone])) from None
        finally:
            os.unlink(temporary)
        lines = [line.replace(temporary, self.paths[zone]) for line in result.stderr.decode(ENCODING, "replace").splitlines()
                 if line.strip() and line.strip() != "OK"]
        if len(lines) > MESSAGE_LINES:
            lines = lines[:MESSAGE_LINES] + ["(%d more lines)" % (len(lines) - MESSAGE_LINES)]
        return result.returncode, result.stdout.decode(ENCODING, ERRORS), "; ".join(lines)

    # --- writing ---

    def render(self, zone, text, changes):
        scan, _dump = self._load(zone, text)
        serial_token = self._serial_token(zone, scan)
        serial = next_serial(int(serial_token[3]), (self.today or utc_today)())
        removed = {entry.index for change in changes for entry in scan.by_key.get(change.key, [])}
        edits = {}
        _edit(edits, serial_token[0], serial_token[1], serial_token[2], str(serial))
        blocks = {}
        for change in changes:
            if change.after is not None:
                line = self._place(scan, change, removed)
                blocks.setdefault(line, []).extend(
                    "%s %d IN %s %s%s" % (change.after.name, change.after.ttl, change.after.type, value, scan.eol)
                    for value in change.after.values)
        self._keep_inheritance(zone, scan, removed, blocks, edits)
        gone = {number for entry in scan.entries if entry.index in removed for number in range(entry.first, entry.last + 1)}
        out = []
        for number, line in enumerate(scan.lines):
            out.extend(blocks.get(number, ()))
            if number in gone:
                continue
            for start, end, replacement in sorted(edits.get(number, ()), reverse=True):
                line = line[:start] + replacement + line[end:]
            out.append(line)
        tail = blocks.get(len(scan.lines))
        if tail:
            if out and not out[-1].endswith("\n"):
                out[-1] += scan.eol
            out.extend(tail)
        self._pending[zone] = (text, list(changes), serial)
        return "".join(out)

    def _serial_token(self, zone, scan):
        if len(scan.soa) != 1 or scan.soa[0].owner != zone:
            raise ProviderError("the zone file %s has no SOA record of %s in its own lines (%s), so its serial cannot be "
                                "increased; nothing was changed" % (self.paths[zone], zone, self._elsewhere(scan)))
        soa = scan.soa[0]
        rdata = soa.positions(scan.lines)[soa.rdata:]
        if len(rdata) != 7 or not _DIGITS.fullmatch(rdata[2][3]) or int(rdata[2][3]) >= SERIAL_MODULUS:
            raise ProviderError("the zone file %s: the SOA on line %d has no serial this module can increase; nothing was changed"
                                % (self.paths[zone], soa.first + 1))
        return rdata[2]

    @staticmethod
    def _place(scan, change, removed):
        """The physical line before which the new RRset goes: where its first line was, else after the last line
        of the same owner, else the end of the file - the first of them where the next record still inherits the
        owner and TTL it had (its own, or those of our lines when they are the same)."""
        candidates = []
        located = scan.by_key.get(change.key, [])
        if located:
            candidates.append(located[0].first)
        same_owner = [entry for entry in scan.entries
                      if entry.kind == "record" and entry.owner == change.key[0] and entry.index not in removed]
        if same_owner:
            candidates.append(same_owner[-1].last + 1)
        for line in candidates:
            following = scan.next_record_after(line, removed)
            if following is None or _inherits_the_same(following, change.after):
                return line
        return len(scan.lines)

    def _keep_inheritance(self, zone, scan, removed, blocks, edits):
        """Give a kept record its owner or TTL explicitly where it would otherwise inherit another one now."""
        block_lines = sorted(blocks)
        last_owner, last_ttl = None, ("no TTL yet",)
        for entry in scan.entries:
            while block_lines and block_lines[0] <= entry.first:
                line = block_lines.pop(0)
                fields = blocks[line][-1].split()
                last_owner, last_ttl = fields[0], int(fields[1])
            if entry.index in removed:
                continue
            if entry.kind == "$INCLUDE":
                last_ttl = ("after the $INCLUDE on line %d" % (entry.first + 1), last_ttl)
            elif entry.kind == "$GENERATE":
                if len(entry.words) > 3 and entry.words[3][:1].isdigit():
                    last_ttl = parse_ttl(entry.words[3], entry.first + 1)
            elif entry.kind == "record":
                if not entry.owner_explicit and last_owner != entry.owner:
                    _edit(edits, entry.first, 0, 0, entry.owner)
                if not entry.ttl_explicit and entry.default_ttl is None and last_ttl != entry.ttl:
                    if not isinstance(entry.ttl, int):
                        raise ProviderError("the zone file %s: line %d takes its TTL from the lines before it, which this change "
                                            "removes, and the TTL it had is not known here; give line %d an explicit TTL; "
                                            "nothing was changed" % (self.paths[zone], entry.first + 1, entry.first + 1))
                    token = entry.positions(scan.lines)[entry.rest]
                    _edit(edits, token[0], token[1], token[1], "%d " % entry.ttl)
                    last_ttl = entry.ttl
                last_owner = entry.owner
                if entry.ttl_explicit:
                    last_ttl = entry.ttl

    def validate(self, zone, path, text):
        """Load the new text with BIND and compare it with what the file holds now; ProviderError if anything but
        our RRsets and the serial would change, or if named-checkzone refuses it."""
        old_text, changes, serial = self._pending[zone]
        _scan, old = self._load(zone, old_text)
        code, output, messages = self._checkzone(zone, text, WRITE_OPTIONS)
        if code != 0:
            raise ProviderError("named-checkzone refuses the new zone file %s: %s; nothing was written" % (path, messages))
        new = Dump(output, zone)
        problems = self_check_problems(zone, old, new, changes, serial)
        problems.extend(_targets_without_address(messages, changes))
        if problems:
            raise ProviderError("the new zone file %s would not be what was asked (%s); nothing was written" % (path, "; ".join(problems)))


def _inherits_the_same(following, record_set):
    """Whether ``following``, a record right after lines of ``record_set``, still gets the owner and TTL it had."""
    if following.kind != "record":
        return False  # $INCLUDE, $GENERATE: what they inherit is not known here
    same_owner = following.owner_explicit or following.owner == record_set.name
    same_ttl = following.ttl_explicit or following.default_ttl is not None or following.ttl == record_set.ttl
    return same_owner and same_ttl


def _edit(edits, line, start, end, replacement):
    edits.setdefault(line, []).append((start, end, replacement))


def self_check_problems(zone, old, new, changes, serial):
    """What differs between the old and the new dump beyond ``changes`` and the serial (an empty list: nothing)."""
    ours = {change.key for change in changes}
    problems = []

    before, after = old.others(ours), new.others(ours)
    if before != after:
        lost = sorted(set(before) - set(after))
        gained = sorted(set(after) - set(before))
        shown = ["- %s %d %s %s" % (r[0], r[2], r[1], r[3]) for r in lost[:5]] + ["+ %s %d %s %s" % (r[0], r[2], r[1], r[3]) for r in gained[:5]]
        problems.append("records it does not manage would change: %s" % ", ".join(shown or ["their number or order"]))
    for change in changes:
        got = new.record_set(change.key)
        if got != change.after:
            problems.append("%s %s would be %s instead of %s" % (change.key[0], change.key[1], got, change.after))
    old_soa, new_soa = old.soa(), new.soa()
    if old_soa is None or new_soa is None:
        problems.append("the zone has no single SOA")
    else:
        fields = old_soa[3].split()
        fields[2] = str(serial)
        if (new_soa[2], new_soa[3].split()) != (old_soa[2], fields):
            problems.append("the SOA would be %s %s instead of %s %s" % (new_soa[2], new_soa[3], old_soa[2], " ".join(fields)))
    return problems


def _targets_without_address(messages, changes):
    """Our MX RRsets whose in-zone targets have no address (named-checkzone only warns; named refuses such an UPDATE)."""
    ours = {change.key[0] for change in changes if change.after is not None and change.key[1] == "MX"}
    problems = []
    for owner, target in _NO_ADDRESS.findall(messages):
        name = owner.lower().rstrip(".") + "."
        if name in ours:
            problems.append("the MX target %s of %s has no A or AAAA record in the zone" % (target, name))
    return problems
