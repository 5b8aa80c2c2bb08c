# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record sets, provider-neutral: normalise, compare wanted with current, plan one atomic change per zone.

Check mode, diff mode and idempotence are written here once; a provider (a
subclass of Provider) only reads the current RRsets of a zone and applies a
change set atomically, and may show a change its own way (a file diff).
Records are normalised once (lower-case absolute names, canonical addresses,
MX as ``preference exchange.``), so comparing is plain equality.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from ansible_collections.mailsec.mx.plugins.module_utils._values import check_text, control_character

SUPPORTED_TYPES = ("A", "AAAA", "MX")
MAX_TTL = 2147483647
DEFAULT_TTL = 3600
# Owner names may carry underscores (service labels) and a leading wildcard; MX targets may not.
# Used with fullmatch only: '$' would also match before a trailing newline.
_OWNER_LABEL = re.compile(r"\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Address records go in before the MX records that point at them (BIND refuses an
# MX whose in-zone target has no address yet); deletions run the other way round.
_ADD_ORDER = {"A": 0, "AAAA": 0, "MX": 1}


class RecordSetError(ValueError):
    """Bad input; the message names the entry. Nothing was sent."""


class ProviderError(Exception):
    """The DNS server or API refused or failed; the message says what to check."""


class ServerUnavailable(ProviderError):
    """The server or API cannot be reached (or its credentials cannot be used): every zone would fail alike and wait as
    long, so the run stops at once instead of trying each.

    ``outcomes``: set by apply_many when some UPDATEs were already sent ([None or ProviderError] per request);
    converge_zones then sets ``done``, the ZoneOutcomes of every zone it can still account for."""

    outcomes = None
    done = ()


class RecordSet:
    """One RRset: owner name, type, TTL and the set of values, all normalised.

    ``disabled``: values a provider holds but does not serve (PowerDNS's disabled records). They are part of the
    RRset as read, so an RRset holding any is never equal to a wanted one (which has none): the change that
    replaces it shows them in the diff and the plan instead of dropping them silently.
    """

    __slots__ = ("name", "type", "ttl", "values", "disabled")

    def __init__(self, name, rtype, ttl, values, disabled=()):
        self.name = name
        self.type = rtype
        self.ttl = ttl
        self.values = tuple(sorted(set(values)))
        self.disabled = tuple(sorted(set(disabled)))

    @property
    def key(self):
        return (self.name, self.type)

    def __eq__(self, other):
        return isinstance(other, RecordSet) and (self.key, self.ttl, self.values, self.disabled) == (
            other.key, other.ttl, other.values, other.disabled)

    def __hash__(self):
        return hash((self.key, self.ttl, self.values, self.disabled))

    def __repr__(self):
        extra = ", disabled=%r" % (self.disabled,) if self.disabled else ""
        return "RecordSet(%r, %r, %r, %r%s)" % (self.name, self.type, self.ttl, self.values, extra)

    def lines(self):
        """Zone-file lines, for diffs; a disabled value is commented out and marked."""
        return (["%s %d IN %s %s" % (self.name, self.ttl, self.type, value) for value in self.values]
                + ["; %s %d IN %s %s ; disabled" % (self.name, self.ttl, self.type, value) for value in self.disabled])

    def as_dict(self):
        result = {"name": self.name, "type": self.type, "ttl": self.ttl, "values": list(self.values)}
        if self.disabled:
            result["disabled"] = list(self.disabled)
        return result


def check_option(option, value):
    """``value`` unchanged when it holds no control character; RecordSetError naming ``option`` and repr(value) otherwise.

    For every text that reaches a DNS message or a request: nothing is sent with a newline, CR or NUL in it.
    """
    try:
        return check_text(option, value)
    except ValueError as exc:
        raise RecordSetError(str(exc)) from None


def check_http_url(option, url, example):
    """``(scheme, host)`` of an http:// or https:// URL with a host; RecordSetError naming ``option`` otherwise (a
    control character too: the URL reaches a request line)."""
    check_option(option, url)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise RecordSetError("%s %r is not a URL (%s)" % (option, url, exc)) from None
    if parts.scheme not in ("http", "https") or not host:
        raise RecordSetError("%s %r must be an http:// or https:// URL with a host, for example %s" % (option, url, example))
    return parts.scheme, host


def _shown(value):
    """A value as a message may show it: as is when it is plain text, else its repr."""
    return value if isinstance(value, str) and not control_character(value) else repr(value)


def normalize_zone(zone):
    check_option("zone", zone)
    try:
        return _absolute_name(zone, None, False, _HOST_LABEL, "zone")
    except RecordSetError as exc:
        raise RecordSetError("zone %r: %s" % (zone, exc)) from None


def _absolute_name(name, zone, relative, label_pattern, what):
    if not isinstance(name, str) or not name.strip():
        raise RecordSetError("%s is empty" % what)
    text = name.strip().lower()
    if relative and zone is not None:
        if text == "@":
            return zone
        if not text.endswith("."):
            text = "%s.%s" % (text, zone)
    if text == ".":
        return text
    bare = text[:-1] if text.endswith(".") else text
    if len(bare) > 253:
        raise RecordSetError("%s %r is longer than 253 octets" % (what, name))
    for label in bare.split("."):
        if not label_pattern.fullmatch(label):
            raise RecordSetError("%s %r has an invalid label %r" % (what, name, label))
    return bare + "."


def _in_zone(name, zone):
    return zone == "." or name == zone or name.endswith("." + zone)


def normalize_value(rtype, value, zone, relative):
    """One value in canonical text form, or RecordSetError naming it."""
    text = str(value).strip() if isinstance(value, (str, int)) else None
    if not text:
        raise RecordSetError("%s value %r is empty or not text" % (rtype, value))
    if rtype in ("A", "AAAA"):
        version = 4 if rtype == "A" else 6
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise RecordSetError("%s value %r is not an IPv%d address" % (rtype, value, version)) from None
        if address.version != version or "%" in text:
            raise RecordSetError("%s value %r is not an IPv%d address" % (rtype, value, version))
        return address.compressed
    fields = text.split()
    if len(fields) != 2 or not fields[0].isdigit() or not 0 <= int(fields[0]) <= 65535:
        raise RecordSetError("MX value %r must be 'preference exchange', preference 0..65535" % (value,))
    exchange = _absolute_name(fields[1], zone, relative, _HOST_LABEL, "MX exchange")
    return "%d %s" % (int(fields[0]), exchange)


def read_value(rtype, text, zone):
    """A value as a server holds it, normalised like ours where it can be (DNS allows more than we publish)."""
    try:
        return normalize_value(rtype, text, zone, False)
    except RecordSetError:
        return " ".join(text.lower().split())


def parse_record_sets(raw_sets, zone, relative=False, need_values=True):
    """Validate the module's ``record_sets`` option; return RecordSets. Every check runs before anything is sent."""
    zone = normalize_zone(zone)
    if not isinstance(raw_sets, list):
        raise RecordSetError("record_sets must be a list")
    parsed, seen = [], set()
    for number, raw in enumerate(raw_sets, start=1):
        where = "record_sets[%d]" % number
        if not isinstance(raw, dict):
            raise RecordSetError("%s is not a mapping with name, type, ttl and values" % where)
        _check_entry(where, raw)
        rtype = str(raw.get("type", "")).upper()
        if rtype not in SUPPORTED_TYPES:
            raise RecordSetError("%s: type %r is not supported (use %s)" % (where, raw.get("type"), ", ".join(SUPPORTED_TYPES)))
        try:
            name = _absolute_name(raw.get("name"), zone, relative, _OWNER_LABEL, "name")
        except RecordSetError as exc:
            raise RecordSetError("%s: %s" % (where, exc)) from None
        if not _in_zone(name, zone):
            raise RecordSetError("%s: name %s is not inside zone %s" % (where, name, zone))
        ttl = raw.get("ttl", DEFAULT_TTL)
        if isinstance(ttl, str) and ttl.strip().isdigit():
            ttl = int(ttl)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL:
            raise RecordSetError("%s: ttl %r must be an integer from 0 to %d" % (where, raw.get("ttl"), MAX_TTL))
        values = raw.get("values") or []
        if not isinstance(values, list):
            raise RecordSetError("%s: values must be a list" % where)
        if need_values and not values:
            raise RecordSetError("%s: values is empty; use state=absent to remove %s %s" % (where, name, rtype))
        try:
            normalized = [normalize_value(rtype, value, zone, relative) for value in values]
        except RecordSetError as exc:
            raise RecordSetError("%s (%s %s): %s" % (where, name, rtype, exc)) from None
        if (name, rtype) in seen:
            raise RecordSetError("%s: %s %s is listed twice; give one entry with all its values" % (where, name, rtype))
        seen.add((name, rtype))
        parsed.append(RecordSet(name, rtype, ttl, normalized))
    return zone, parsed


def _check_entry(where, raw):
    """No control character in an entry's name, type or values (they reach the DNS message or the API request)."""
    for field in ("name", "type"):
        if isinstance(raw.get(field), str):
            check_option("%s.%s" % (where, field), raw[field])
    values = raw.get("values")
    if isinstance(values, list):
        for number, value in enumerate(values, start=1):
            if isinstance(value, str):
                check_option("%s.values[%d]" % (where, number), value)


class Provider:
    """What every provider implements: ``read`` and ``apply``; ``preview`` where a change is better shown as
    what the provider writes (a file provider shows the file's diff) than as RRset lines."""

    def read(self, zone, keys):
        """{(name, type): RecordSet or None} for every key, as the provider holds the zone now."""
        raise NotImplementedError

    def apply(self, zone, changes, unchanged=()):
        """Apply ``changes`` (ordered, planned from the last read) in one atomic operation, or raise ProviderError
        having changed nothing. ``unchanged``: [(key, RecordSet or None)], the listed RRsets the change relies on, as read."""
        raise NotImplementedError

    def read_many(self, requests):
        """[(zone, keys)] -> [{key: RecordSet or None} or ProviderError]: one zone's failure is its result, not the end of
        the others. A provider that can read many zones at once (pipelined queries) does it here."""
        results = []
        for zone, keys in requests:
            try:
                results.append(self.read(zone, keys))
            except ServerUnavailable:
                raise
            except ProviderError as exc:
                results.append(exc)
        return results

    def apply_many(self, requests):
        """[(zone, changes, unchanged)] -> [None or ProviderError], as ``apply`` zone by zone (each still atomic)."""
        results = []
        for zone, changes, unchanged in requests:
            try:
                self.apply(zone, changes, unchanged)
            except ServerUnavailable:
                raise
            except ProviderError as exc:
                results.append(exc)
            else:
                results.append(None)
        return results

    def finish(self):
        """Called once after the last zone was applied: what can wait for all zones at once (Route 53's INSYNC).
        A ProviderError here fails the run, reporting the zones already changed as changed."""

    def preview(self, zone, changes):
        """The diff mode view of ``changes`` planned from the last read: {"before", "after"} and, optionally,
        "before_header"/"after_header" (a file's path). Called in check mode too: it must not change anything."""
        return diff(changes)


class Change:
    """What happens to one RRset: ``before`` and ``after`` (None: absent)."""

    __slots__ = ("key", "before", "after")

    def __init__(self, key, before, after):
        self.key = key
        self.before = before
        self.after = after

    def as_dict(self):
        return {
            "name": self.key[0],
            "type": self.key[1],
            "before": self.before.as_dict() if self.before else None,
            "after": self.after.as_dict() if self.after else None,
        }


def plan(wanted, current, state):
    """The changes that bring ``current`` ({key: RecordSet or None}) to ``wanted``, in a safe order."""
    changes = []
    for record_set in wanted:
        before = current.get(record_set.key)
        after = record_set if state == "present" else None
        if before != after:
            changes.append(Change(record_set.key, before, after))
    return order_changes(changes)


def order_changes(changes):
    """Address RRsets before MX when adding; MX first when only removing."""
    def rank(change):
        order = _ADD_ORDER[change.key[1]]
        return order if change.after is not None else -1 - order
    return sorted(changes, key=lambda change: (rank(change), change.key))


def diff(changes):
    before, after = [], []
    for change in sorted(changes, key=lambda change: change.key):
        before.extend(change.before.lines() if change.before else [])
        after.extend(change.after.lines() if change.after else [])
    return {"before": "".join(line + "\n" for line in before), "after": "".join(line + "\n" for line in after)}


# Zones go through read, plan, fresh read and apply in chunks of this many: however many zones a run has, a zone's
# fresh read and its update stay seconds apart, and a long run has a progress line after each chunk.
CHUNK_ZONES = 1000


class ZoneOutcome:
    """What became of one zone: the changes planned (applied unless in check mode or failed), their diff, or the
    ProviderError that stopped this zone (and no other)."""

    __slots__ = ("zone", "changes", "diff", "error")

    def __init__(self, zone, changes=(), error=None):
        self.zone = zone
        self.changes = list(changes)
        self.diff = None
        self.error = error

    @property
    def changed(self):
        return bool(self.changes) and self.error is None

    def as_dict(self):
        result = {"zone": self.zone, "changed": self.changed, "changes": [change.as_dict() for change in self.changes]}
        if self.error is not None:
            result.update(failed=True, msg=str(self.error))
        return result


def converge_zones(provider, requests, state, check_mode, progress=None, chunk=CHUNK_ZONES):
    """Read, plan and (unless in check mode) apply every zone of ``requests`` ([(zone, wanted)]); [ZoneOutcome] in order.

    Each zone's change relies on every listed RRset, not only on those it changes: the MX RRset and the A/AAAA RRsets
    of its targets. Right before applying, all of them are read again: a change someone made since the plan (a TTL
    too, which RFC 2136 prerequisites do not compare; any change at all for an API without prerequisites) fails that
    zone instead of being overwritten. ``provider.apply_many`` gets the unchanged ones too (as they were read), so RFC
    2136 prerequisites cover every RRset the change relies on. The diff is the provider's ``preview`` of the changes,
    taken after the last read (what is applied is rendered from that read).

    A zone the provider fails (its ProviderError) is that zone's outcome; the others go on. ServerUnavailable (the
    server cannot be reached) ends the run at once. Zones go in chunks (``chunk``), each read, planned, read again
    and applied together, so a provider can pipeline them; ``progress(outcomes so far, total)`` after each chunk.
    """
    outcomes = []
    for start in range(0, len(requests), chunk):
        part = requests[start:start + chunk]
        keys = [[record_set.key for record_set in wanted] for zone, wanted in part]
        results, pending = [], []
        for number, ((zone, wanted), current) in enumerate(zip(part, provider.read_many([(zone, zone_keys) for (zone, dummy), zone_keys in zip(part, keys)]))):
            if isinstance(current, ProviderError):
                results.append(ZoneOutcome(zone, error=current))
                continue
            results.append(ZoneOutcome(zone, plan(wanted, current, state)))
            if results[-1].changes and not check_mode:
                pending.append((number, current))
            else:
                _preview(provider, results[-1])
        fresh = provider.read_many([(part[number][0], keys[number]) for number, dummy in pending]) if pending else []
        applying = []
        for (number, current), now in zip(pending, fresh):
            outcome = results[number]
            if isinstance(now, ProviderError):
                outcome.error = now
                continue
            moved = ["%s %s" % key for key in sorted(keys[number]) if now.get(key) != current.get(key)]
            if moved:
                outcome.error = ProviderError("someone changed %s since it was read; nothing was changed, run again" % ", ".join(moved))
                continue
            if _preview(provider, outcome):
                changed = {change.key for change in outcome.changes}
                applying.append((outcome, (outcome.zone, outcome.changes,
                                           [(key, current.get(key)) for key in sorted(keys[number]) if key not in changed])))
        try:
            applied = provider.apply_many([request for dummy, request in applying]) if applying else []
        except ServerUnavailable as exc:
            # Zones already applied stay reported: the earlier chunks, and this chunk's zones whose outcome is known.
            for (outcome, dummy), error in zip(applying, exc.outcomes or [exc] * len(applying)):
                outcome.error = error
            exc.done = outcomes + [outcome for outcome, dummy in applying]
            raise
        for (outcome, dummy), error in zip(applying, applied):
            outcome.error = error
        outcomes.extend(results)
        if progress is not None:
            progress(outcomes, len(requests))
    return outcomes


def _preview(provider, outcome):
    """Set the outcome's diff; False (and the error set) when the provider cannot show it."""
    try:
        outcome.diff = provider.preview(outcome.zone, outcome.changes)
    except ServerUnavailable:
        raise
    except ProviderError as exc:
        outcome.error = exc
        return False
    return True


def converge_zone(provider, zone, wanted, state, check_mode):
    """One zone (see converge_zones); return (changes, diff), or raise its ProviderError."""
    outcome = converge_zones(provider, [(zone, wanted)], state, check_mode)[0]
    if outcome.error is not None:
        raise outcome.error
    return outcome.changes, outcome.diff


def progress_line(outcomes, total):
    """``1,000 of 10,000 zones done: 998 changed, 2 failed``."""
    changed = sum(1 for outcome in outcomes if outcome.changed)
    failed = sum(1 for outcome in outcomes if outcome.error is not None)
    return "{:,} of {:,} zones done: {:,} changed, {:,} failed".format(len(outcomes), total, changed, failed)


def failure_summary(outcomes, shown=20):
    """The failed zones grouped by error (a wrong key fails every zone alike), at most ``shown`` zones named per error."""
    groups = {}
    for outcome in outcomes:
        if outcome.error is not None:
            groups.setdefault(str(outcome.error), []).append(outcome.zone)
    parts = []
    for message, zones in groups.items():
        named = ", ".join(zones[:shown]) + (" and %d more" % (len(zones) - shown) if len(zones) > shown else "")
        parts.append("%s: %s" % (named, message))
    return "; ".join(parts)


def zone_requests(params, zone_options=()):
    """The (zone, raw record_sets, {option: value}) of the module options: ``zone`` + ``record_sets`` (and the
    ``zone_options`` of the module, such as a file's ``path``), ``zones`` (each entry carrying its own), or ``domains``
    (each published from its MX layout)."""
    if params.get("domains"):
        if params.get("zones") or params.get("zone") or params.get("record_sets"):
            raise RecordSetError("give either domains, zones, or zone with record_sets, not two of them")
        for option in zone_options:
            if params.get(option):
                raise RecordSetError("%s goes into each domains entry ({zone, %s}), not beside domains" % (option, option))
        return domain_requests(params, zone_options)
    if params.get("zones"):
        if params.get("zone") or params.get("record_sets"):
            raise RecordSetError("give either zones, or zone with record_sets, not both")
        for option in zone_options:
            if params.get(option):
                raise RecordSetError("%s goes into each zones entry ({zone, %s, record_sets}), not beside zones" % (option, option))
        requests = []
        for number, entry in enumerate(params["zones"], start=1):
            if not isinstance(entry, dict) or "zone" not in entry:
                raise RecordSetError("zones[%d] must be a mapping with zone and record_sets" % number)
            check_option("zones[%d].zone" % number, entry["zone"])
            unknown = sorted(set(entry) - {"zone", "record_sets"} - set(zone_options))
            if unknown:
                raise RecordSetError("zones[%d] has unknown keys %s (known: %s)"
                                     % (number, ", ".join(map(_shown, unknown)), ", ".join(("zone", "record_sets") + tuple(zone_options))))
            requests.append((entry["zone"], entry.get("record_sets") or [], {option: entry.get(option) for option in zone_options}))
        return requests
    if not params.get("zone"):
        raise RecordSetError("zone is required (or zones, for many zones in one call)")
    check_option("zone", params["zone"])
    return [(params["zone"], params.get("record_sets") or [], {option: params.get(option) for option in zone_options})]


# How many of the bad domains entries an error names: all problems are found, but 10,000 alike would bury the message.
SHOWN_PROBLEMS = 20


def domain_requests(params, zone_options=()):
    """The requests of ``domains``: each entry's MX layout (its own, or the ``layout`` option) made into record sets.

    Every entry is checked before anything is sent, and the error names every bad one (the first SHOWN_PROBLEMS, and
    how many more), so one run shows all that is wrong. A bad shared ``layout`` is reported once, not once per domain.
    """
    # _layout imports this module (names, zones): imported here, where it is needed, to keep the import one-way.
    from ansible_collections.mailsec.mx.plugins.module_utils._layout import LayoutError, layout_problems, layout_record_sets, ordered_layout

    options = dict(ttl=params.get("ttl", DEFAULT_TTL), allow_multiple_dead=params.get("allow_multiple_dead", False),
                   address_limit=params.get("address_limit", 5), for_removal=params["state"] == "absent")
    shared = params.get("layout") or None
    if shared is not None:
        errors = [problem["message"] for problem in layout_problems(shared, options["allow_multiple_dead"], options["address_limit"])
                  if problem["severity"] == "error"]
        if errors:
            raise RecordSetError("layout (the layout of every domains entry without its own): %s" % "; ".join(errors))
        # Checked and ordered once for every domain that shares it.
        shared_records = ordered_layout(shared, options["allow_multiple_dead"], options["address_limit"])
    known = ("zone", "name", "layout") + tuple(zone_options)
    requests, problems = [], []
    for number, entry in enumerate(params["domains"], start=1):
        where = "domains[%d]" % number
        if not isinstance(entry, dict) or not isinstance(entry.get("zone"), str) or not entry["zone"].strip():
            problems.append("%s must be a mapping with zone (and optionally name, layout)" % where)
            continue
        try:
            check_option("%s.zone" % where, entry["zone"])
        except RecordSetError as exc:
            problems.append(str(exc))
            continue
        where = "%s (%s)" % (where, entry["zone"])
        unknown = sorted(set(entry) - set(known))
        if unknown:
            problems.append("%s has unknown keys %s (known: %s)" % (where, ", ".join(map(_shown, unknown)), ", ".join(known)))
            continue
        layout = entry.get("layout") or shared
        if layout is None:
            problems.append("%s has no layout, and no layout option gives one for every domain" % where)
            continue
        try:
            raw = layout_record_sets(layout, entry["zone"], entry.get("name") or None,
                                     ordered=None if entry.get("layout") else shared_records, **options)
        except (LayoutError, ValueError) as exc:
            problems.append("%s: %s" % (where, exc))
            continue
        requests.append((entry["zone"], raw, {option: entry.get(option) for option in zone_options}))
    if problems:
        more = len(problems) - SHOWN_PROBLEMS
        raise RecordSetError("%d of %d domains entries are invalid: %s%s" % (
            len(problems), len(params["domains"]), "; ".join(problems[:SHOWN_PROBLEMS]), "; and %d more" % more if more > 0 else ""))
    return requests


def run_module(module, make_provider, zone_options=()):
    """The whole module: validate every zone first, then converge zone by zone (one atomic change each).

    ``make_provider`` is called only once every input is valid, so a bad entry is reported before
    anything (even a name lookup of the server) happens; it checks its own options (server, key, URL) before
    it connects anywhere, and may raise RecordSetError for them. With ``zone_options`` (options a module takes
    per zone, such as ``path``), it is called with {zone: {option: value}}, the zones normalised.
    """
    params = module.params
    state = params["state"]
    parsed, settings = [], {}
    try:
        for zone, raw, options in zone_requests(params, zone_options):
            try:
                zone_name, wanted = parse_record_sets(raw, zone, params.get("relative_names", False), need_values=state == "present")
            except RecordSetError as exc:
                raise RecordSetError("zone %s: %s" % (_shown(zone), exc)) from None
            if zone_name in settings:
                raise RecordSetError("zone %s is listed twice; give one entry with all its record sets" % zone_name)
            settings[zone_name] = options
            parsed.append((zone_name, wanted))
        provider = make_provider(settings) if zone_options else make_provider()
    except RecordSetError as exc:
        module.fail_json(msg="%s; nothing was sent" % exc)
    lines = []

    def progress(done, total):
        lines.append(progress_line(done, total))
        # Where the module runs inside Ansible's own process (the record-set action plugins), the line shows at once.
        getattr(module, "show_progress", lambda line: None)(lines[-1])

    try:
        outcomes = converge_zones(provider, parsed, state, module.check_mode, progress=progress)
    except ServerUnavailable as exc:
        # Every zone would fail alike (and wait as long): the zones already done are reported, the rest are not tried.
        done = list(exc.done)
        module.fail_json(msg="%s%s" % (exc, "; stopped, the other zones were not tried" if len(parsed) > 1 else ""),
                         changed=any(outcome.changed for outcome in done), zones=[outcome.as_dict() for outcome in done],
                         failed_zones=[outcome.zone for outcome in done if outcome.error is not None])
    results = [outcome.as_dict() for outcome in outcomes]
    changed = any(outcome.changed for outcome in outcomes)
    failed = [outcome.zone for outcome in outcomes if outcome.error is not None]
    try:
        provider.finish()
    except ProviderError as exc:
        module.fail_json(msg=str(exc), zones=results, changed=changed, failed_zones=failed)
    result = {"changed": changed, "zones": results, "failed_zones": failed, "progress": lines}
    if getattr(module, "_diff", True):  # 10,000 zones make a diff of 100,000 lines: only when diff mode asks for it
        result["diff"] = _module_diff([outcome.diff for outcome in outcomes if outcome.diff is not None])
    if len(results) == 1:
        result["changes"] = results[0]["changes"]
    if failed:
        single = len(outcomes) == 1
        module.fail_json(msg=("zone %s: %s" % (failed[0], outcomes[0].error)) if single else "%d of %d zones failed (the others were %s): %s" % (
            len(failed), len(outcomes), "checked" if module.check_mode else "published", failure_summary(outcomes)), **result)
    module.exit_json(**result)


def _module_diff(diffs):
    """RRset diffs joined into one before/after; diffs with headers (files) kept apart, one per file, as Ansible shows a list."""
    if any("before_header" in zone_diff for zone_diff in diffs):
        return diffs[0] if len(diffs) == 1 else diffs
    return {"before": "".join(zone_diff["before"] for zone_diff in diffs), "after": "".join(zone_diff["after"] for zone_diff in diffs)}


def record_set_argument_spec():
    """The options every *_record_set module shares (documented in doc_fragments/record_sets.py)."""
    return dict(
        zone=dict(type="str"),
        record_sets=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str", required=True),
                type=dict(type="str", required=True, choices=list(SUPPORTED_TYPES)),
                ttl=dict(type="int", default=DEFAULT_TTL),
                values=dict(type="list", elements="str", default=[]),
            ),
        ),
        zones=dict(type="list", elements="dict", default=[]),
        domains=dict(type="list", elements="dict", default=[]),
        layout=dict(type="list", elements="dict", default=[]),
        ttl=dict(type="int", default=DEFAULT_TTL),
        allow_multiple_dead=dict(type="bool", default=False),
        address_limit=dict(type="int", default=5),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        relative_names=dict(type="bool", default=False),
    )
