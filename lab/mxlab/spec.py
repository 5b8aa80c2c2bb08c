"""A lab description: parse, validate and normalise it before anything is created.

A spec is a mapping (JSON, or YAML when PyYAML is importable) with a lab `name`, its `hosts`
and optional `bridge_addresses`; see lab/README.md. Every problem raises SpecError naming the
entry, so a bad spec never leaves half a lab behind.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from lab.netns import DOCUMENTATION_NETWORKS

# The ranges of the throwaway namespaces too: never 192.0.2.0/24, this machine's real network.
ALLOWED_NETWORKS = DOCUMENTATION_NETWORKS
LAB_NAME_RE = re.compile(r"^[a-z0-9]{1,6}$")
HOST_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
MAX_HOSTS = 999
SPEC_KEYS = {"name", "bridge_addresses", "hosts"}
# Molecule platforms carry keys of their own (groups, children, ...): a host
# entry may have them, the lab ignores them.
HOST_KEYS = {"name", "addresses", "extra_addresses", "private_usr"}


class SpecError(ValueError):
    """The lab spec is invalid; nothing was created."""


IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True)
class HostSpec:
    name: str
    addresses: tuple[IPInterface, ...]
    extra_addresses: tuple[IPInterface, ...]
    # A private overlay on /usr too, so packages can be installed in this host alone
    # (for example an MTA that conflicts with the machine's own).
    private_usr: bool = False

    @property
    def main_address(self) -> IPInterface:
        """The address the controller uses: the first IPv4 one, else the first."""
        ipv4 = [a for a in self.addresses if a.version == 4]
        return (ipv4 or list(self.addresses))[0]


@dataclass(frozen=True)
class LabSpec:
    name: str
    bridge_addresses: tuple[IPInterface, ...]
    hosts: tuple[HostSpec, ...]


def load_spec_file(path: str) -> dict:
    """Read a spec from JSON, or YAML when PyYAML is importable."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as json_error:
        try:
            import yaml  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise SpecError(f"{path}: not valid JSON ({json_error}) and PyYAML is not installed") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as yaml_error:
            raise SpecError(f"{path}: neither JSON nor YAML: {yaml_error}") from None


def parse_spec(raw: object) -> LabSpec:
    """Validate a spec (a dict as loaded from JSON/YAML) and normalise it."""
    if not isinstance(raw, dict):
        raise SpecError("spec: must be a mapping with name, hosts and optional bridge_addresses")
    _reject_unknown_keys("spec", raw, SPEC_KEYS)
    name = raw.get("name")
    if not isinstance(name, str) or not LAB_NAME_RE.match(name):
        raise SpecError(f"spec.name {name!r}: must be 1-6 characters of a-z and 0-9")
    hosts = _parse_hosts(raw.get("hosts"))
    if "bridge_addresses" in raw and raw["bridge_addresses"] is not None:
        bridge = _parse_addresses("spec.bridge_addresses", raw["bridge_addresses"])
    else:
        bridge = derive_bridge_addresses(hosts)
    spec = LabSpec(name=name, bridge_addresses=bridge, hosts=hosts)
    _check_unique_addresses(spec)
    _check_reachable(spec)
    return spec


def _reject_unknown_keys(where: str, mapping: dict, allowed: set[str]) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _parse_hosts(raw_hosts: object) -> tuple[HostSpec, ...]:
    if not isinstance(raw_hosts, list) or not raw_hosts:
        raise SpecError("spec.hosts: must be a non-empty list")
    if len(raw_hosts) > MAX_HOSTS:
        raise SpecError(f"spec.hosts: at most {MAX_HOSTS} hosts")
    hosts = tuple(_parse_host(index, raw) for index, raw in enumerate(raw_hosts))
    names = [host.name for host in hosts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"spec.hosts: duplicate host name(s) {', '.join(duplicates)}")
    return hosts


def _parse_host(index: int, raw: object) -> HostSpec:
    where = f"spec.hosts[{index}]"
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: must be a mapping with name and addresses")
    name = raw.get("name")
    if not isinstance(name, str) or not HOST_NAME_RE.match(name):
        raise SpecError(f"{where}.name {name!r}: must be a hostname label (letters, digits, inner hyphens)")
    where = f"host {name}"
    addresses = _parse_addresses(f"{where}: addresses", raw.get("addresses"))
    if not addresses:
        raise SpecError(f"{where}: addresses must not be empty")
    extra = _parse_addresses(f"{where}: extra_addresses", raw.get("extra_addresses") or [])
    private_usr = raw.get("private_usr", False)
    if not isinstance(private_usr, bool):
        raise SpecError(f"{where}: private_usr must be true or false")
    return HostSpec(name=name, addresses=addresses, extra_addresses=extra, private_usr=private_usr)


def _parse_addresses(where: str, raw: object) -> tuple[IPInterface, ...]:
    if not isinstance(raw, list):
        raise SpecError(f"{where}: must be a list of addresses with prefix length, e.g. 203.0.113.10/24")
    return tuple(parse_address(where, entry) for entry in raw)


def parse_address(where: str, entry: object) -> IPInterface:
    """Parse 'addr/len' and insist it lies inside a documentation range."""
    try:
        address = ipaddress.ip_interface(str(entry))
    except ValueError as error:
        raise SpecError(f"{where}: {entry!r} is not an address: {error}") from None
    if not any(address.network.subnet_of(allowed) for allowed in ALLOWED_NETWORKS
               if allowed.version == address.version):
        allowed_text = ", ".join(str(net) for net in ALLOWED_NETWORKS)
        raise SpecError(f"{where}: {entry} is outside the lab ranges ({allowed_text}); "
                        "address and prefix must both fit inside one of them")
    return address


def derive_bridge_addresses(hosts: tuple[HostSpec, ...]) -> tuple[IPInterface, ...]:
    """One controller address per network the hosts use: its lowest free host address."""
    taken = {a.ip for host in hosts for a in host.addresses + host.extra_addresses}
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for host in hosts:
        for address in host.addresses:
            if address.network not in networks:
                networks.append(address.network)
    bridge = []
    for network in networks:
        free = next((ip for ip in network.hosts() if ip not in taken), None)
        if free is None:
            raise SpecError(f"spec: no free address left in {network} for the bridge; set bridge_addresses")
        bridge.append(ipaddress.ip_interface(f"{free}/{network.prefixlen}"))
    return tuple(bridge)


def _check_unique_addresses(spec: LabSpec) -> None:
    owners: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    entries = [("bridge", a) for a in spec.bridge_addresses]
    entries += [(f"host {h.name}", a) for h in spec.hosts for a in h.addresses + h.extra_addresses]
    for owner, address in entries:
        if address.ip in owners:
            raise SpecError(f"{owner}: address {address.ip} is also used by {owners[address.ip]}")
        owners[address.ip] = owner


def _check_reachable(spec: LabSpec) -> None:
    bridge_networks = [a.network for a in spec.bridge_addresses]
    for host in spec.hosts:
        if not any(host.main_address.ip in network for network in bridge_networks):
            raise SpecError(f"host {host.name}: {host.main_address} is on no bridge network "
                            f"({', '.join(map(str, bridge_networks)) or 'none'}); the controller could not reach it")
