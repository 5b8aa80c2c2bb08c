# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every kind of firewall and every backend shares: validation, snapshots, the converge flow, files.

A backend turns a spec into a *snapshot* (structure text plus set elements), reads the live snapshot, and
applies a change atomically.  Comparing two snapshots is plain equality, so check mode, diff mode and
idempotence are written once, here.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket

from ansible_collections.mailsec.mx.plugins.module_utils._values import check_rule_token, mx_address

ACTIONS = ("reset", "drop")
# ipset's largest timeout; nftables takes more, but both backends must hold the same rules.
MAX_SUPPRESS_TIME = 2147483
# (family, nft element type, nft address selector)
FAMILIES = ((4, "ipv4_addr", "ip"), (6, "ipv6_addr", "ip6"))
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
# What Linux takes as an interface name (at most 15 bytes, no '/', no white space); never an option to 'ip'.
_INTERFACE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$")
# Sets larger than this are summarised in diff output instead of listed.
DIFF_ELEMENT_LIMIT = 1000


class FirewallError(Exception):
    """A command failed or the host cannot take the wanted ruleset."""


def validate_seconds(option, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SUPPRESS_TIME:
        raise ValueError("%s: %r is not a number of seconds from 1 to %d" % (option, value, MAX_SUPPRESS_TIME))
    return value


def validate_int(option, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError("%s: %r is not a whole number from %d to %d" % (option, value, low, high))
    return value


def rule_network(entry):
    """An allowlist entry as it goes into a rules file: a plain address or CIDR, nothing else."""
    text = str(entry)
    try:
        ipaddress.ip_network(check_rule_token("allow", text))
    except ValueError:
        raise ValueError("allow: %r is not a plain address or CIDR" % (entry,)) from None
    return text


def validate_name(name):
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError("name %r must be 1-16 characters of a-z, 0-9 and _, starting with a letter" % (name,))
    return name


def validate_interface(interface):
    """The interface addresses are brought up on (None: none), as it goes onto the 'ip' command line."""
    if interface is not None and (not isinstance(interface, str) or not _INTERFACE.fullmatch(interface)):
        raise ValueError("interface %r is not an interface name (1-15 of A-Z, a-z, 0-9, _ . : @ -, not starting with "
                         "'.', ':', '@' or '-')" % (interface,))
    return interface


def split_addresses(addresses, option="addresses", required=True):
    if not addresses and required:
        raise ValueError("%s: list at least one address whose port 25 the firewall guards" % option)
    parsed = []
    for entry in addresses or ():
        address = mx_address(option, entry)
        if address not in parsed:
            parsed.append(address)
    parsed.sort(key=lambda address: (address.version, address))
    return (
        [str(address) for address in parsed if address.version == 4],
        [str(address) for address in parsed if address.version == 6],
    )


def validate_ports(ports):
    if not ports:
        raise ValueError("ports: list at least one TCP port")
    checked = set()
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError("ports: %r is not a TCP port (1-65535)" % (port,))
        checked.add(port)
    return sorted(checked)


def host_element(entry):
    """A set element as 'address/prefix', whatever form a tool printed it in."""
    if "/" in entry:
        return entry
    return entry + ("/128" if ":" in entry else "/32")


class Snapshot:
    """A firewall's state as compared: structure text and the elements of each named set."""

    def __init__(self, structure, sets):
        self.structure = structure
        self.sets = {name: tuple(sorted(elements)) for name, elements in sets.items()}

    def __eq__(self, other):
        return isinstance(other, Snapshot) and self.structure == other.structure and self.sets == other.sets

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.structure, tuple(sorted(self.sets.items()))))

    def render(self, other=None):
        """Text for diff output; sets with many elements show only what differs from ``other``."""
        lines = [self.structure.rstrip("\n")]
        for name in sorted(self.sets):
            elements = self.sets[name]
            lines.append("# set %s: %d elements" % (name, len(elements)))
            if len(elements) <= DIFF_ELEMENT_LIMIT:
                lines.extend("  " + element for element in elements)
                continue
            theirs = set(other.sets.get(name, ())) if other is not None else set()
            only_here = [element for element in elements if element not in theirs]
            lines.extend("  " + element for element in only_here[:DIFF_ELEMENT_LIMIT])
            if len(only_here) > DIFF_ELEMENT_LIMIT:
                lines.append("  ... and %d more not in the other state" % (len(only_here) - DIFF_ELEMENT_LIMIT))
        return "\n".join(lines) + "\n"


def snapshot_diff(before, after):
    """Ansible's diff dict for two snapshots (either may be None: absent)."""
    return {
        "before": before.render(after) if before is not None else "",
        "after": after.render(before) if after is not None else "",
    }


def ssh_guard(spec, environ=None, fallback=None, resolve=None):
    """Refuse a spec that could catch the SSH connection Ansible runs over; fail closed when unsure.

    SSH_CONNECTION names the server end; sudo's env_reset drops it, so the action plugin's view of the
    connection (``fallback``: address or name, port) stands in for it.  A name is resolved; when the port in
    use is one the spec guards and the address cannot be told, the spec is refused.
    """
    environ = os.environ if environ is None else environ
    fields = environ.get("SSH_CONNECTION", "").split()
    if len(fields) != 4:
        if not fallback or not fallback[0] or not fallback[1]:
            return
        fields = ["", "", str(fallback[0]), str(fallback[1])]
    server, port = fields[2].split("%")[0], fields[3]
    try:
        port = int(port)
    except ValueError:
        port = None
    if port is not None and port not in spec.ports:
        return
    addresses = _addresses_of(server, resolve or socket.getaddrinfo)
    guarded = set(spec.guarded())
    if port is None or not addresses:
        raise ValueError(
            "refusing to guard port(s) %s: Ansible connects over SSH to %r port %r, and which address and port that is "
            "cannot be told; connect by IP address, or leave the SSH port out of ports" % (
                ", ".join(map(str, spec.ports)), server, fields[3]))
    caught = sorted(addresses & guarded)
    if caught:
        raise ValueError(
            "refusing to guard %s port %d: Ansible is connected over SSH to exactly that address and port" % (caught[0], port)
        )


def _addresses_of(server, resolve):
    """The addresses ``server`` (an address or a name) stands for, as strings; empty when it cannot be resolved."""
    try:
        return {str(ipaddress.ip_address(server))}
    except ValueError:
        pass
    try:
        infos = resolve(server, None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return set()
    found = set()
    for info in infos:
        try:
            found.add(str(ipaddress.ip_address(info[4][0].split("%")[0])))
        except ValueError:
            continue
    return found


class LiveState(Snapshot):
    """A firewall as read from the host: its snapshot, plus what the kernel counted and remembers.

    ``counters``: {name: (packets, bytes)}; ``timed``: {set name: {element: Entry}} of the sets with timeouts (by the
    kind's set names: 'hits4', 'tried_full'); ``prefixes``: {4: prefix, 6: prefix} sources are grouped by;
    ``fill``: {set name as the backend shows it: (elements, size)} of the sized sets.
    """

    def __init__(self, structure, sets, counters=None, timed=None, prefixes=None, fill=None):
        super().__init__(structure, sets)
        self.counters = counters or {}
        self.timed = timed or {}
        self.prefixes = prefixes or {4: 32, 6: 128}
        self.fill = fill or {}

    def packets(self):
        """Packets per counter, e.g. {'allowed': 3, 'refused': 12}."""
        return {name: values[0] for name, values in self.counters.items()}


_UNREAD = object()


def converge(backend, spec, state, check_mode, persist, live=_UNREAD):
    """Bring the backend to ``state``; return (changed, diff, details) and touch nothing in check mode.

    ``live`` is the backend's current() when the caller read it already (None: nothing there).
    """
    before = backend.current() if live is _UNREAD else live
    after = backend.wanted(spec) if state == "present" else None
    changed = before != after
    if changed and not check_mode:
        if after is None:
            backend.remove()
        else:
            backend.apply(spec, before)
    # Without persistence (or when removing), our boot-time files go too, or a reboot would bring back old rules.
    persisted = backend.persist(spec if state == "present" and persist else None, check_mode)
    changed = changed or bool(persisted)
    return changed, snapshot_diff(before, after), persisted


def systemd_running():
    """True where systemd is PID 1: only then is a boot service enabled."""
    return os.path.isdir("/run/systemd/system")


def boot_service_enabled(run, unit):
    """Whether systemd runs and starts ``unit`` at boot."""
    if not systemd_running():
        return False
    rc, out, dummy = run(["systemctl", "is-enabled", unit])
    return rc == 0 and out.strip() == "enabled"


def enable_boot_service(run, unit, check_mode):
    """Enable ``unit`` where systemd runs and it is not enabled yet; return whether it was (or would be)."""
    if not systemd_running() or boot_service_enabled(run, unit):
        return False
    if not check_mode:
        rc, out, err = run(["systemctl", "enable", unit])
        if rc != 0:
            raise FirewallError("systemctl enable %s failed: %s" % (unit, (err or out).strip()))
    return True


def write_file(path, text, check_mode):
    """Write ``text`` to ``path`` if it differs; return whether it changed.

    The file is replaced atomically; a file that existed keeps its mode and owner, a new one gets 0600.
    """
    existing = None
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
        existing = os.stat(path)
    except FileNotFoundError:
        pass
    if not check_mode:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        temporary = "%s.mailsec-%d" % (path, os.getpid())
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            handle.write(text)
        if existing is not None:
            os.chmod(temporary, existing.st_mode & 0o7777)
            os.chown(temporary, existing.st_uid, existing.st_gid)
        os.replace(temporary, path)
    return True


def remove_file(path, check_mode):
    """Remove ``path`` if it exists; return whether it did."""
    if not os.path.exists(path):
        return False
    if not check_mode:
        os.unlink(path)
    return True


def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""
