"""Throwaway network namespaces for tests and benchmarks that need a network of their own.

    with Namespace("mxfw", addresses=["198.51.100.10", "2001:db8:51::10"]) as namespace:
        namespace.sh("nft list ruleset")
        namespace.run([sys.executable, "-c", code], input=data)
    # gone: every process started in it, its links, the namespace itself

A bare namespace: `lo` up, the given addresses on `lo`, the machine's own file system,
entered with `ip netns exec`. Two namespaces can be wired together with `link()` (a veth
pair; no dummy devices: the kernels this runs on may lack the module). The hosts Ansible
reaches over SSH (private /etc, an sshd) are `lab.mxlab`'s job.

Names are `<prefix>-<pid>-<n>`: distinct between processes running at the same time and within
one, and recognisable when a killed run left one behind. Addresses must lie in the
documentation ranges (never on a real network, even inside a namespace). Stdlib only; needs
root and iproute2.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

# The ranges a namespace may carry: RFC 5737 TEST-NET-2/3 and RFC 3849. 192.0.2.0/24
# (TEST-NET-1) is left out on purpose: it is the real network of the machines this runs on.
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(network) for network in ("203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32")
)
PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
NETNS_DIR = Path("/run/netns")
# TERM, then KILL after this grace; a KILLed process may take longer to be gone on a busy machine.
KILL_GRACE = 3.0
KILL_DEADLINE = 60.0

_serial = itertools.count(1)


class NamespaceError(RuntimeError):
    """Creating, using or removing a throwaway namespace failed."""


def unique_name(prefix: str, pid: int | None = None, serial: int | None = None) -> str:
    """`<prefix>-<pid>-<n>`: the process id keeps parallel runs apart, the counter a run's own namespaces."""
    if not PREFIX_RE.match(prefix):
        raise ValueError(f"namespace prefix {prefix!r}: 1-20 characters of a-z, 0-9 and '-', starting with a letter")
    return f"{prefix}-{os.getpid() if pid is None else pid}-{next(_serial) if serial is None else serial}"


def address_arguments(address: str) -> list[str]:
    """What follows `ip addr add` for 'addr' or 'addr/len' (a bare address is a host route: /32, /128).

    IPv6 gets `nodad`, so the address is usable at once rather than after duplicate detection.
    """
    try:
        interface = ipaddress.ip_interface(address)
    except ValueError as error:
        raise ValueError(f"{address!r} is not an address: {error}") from None
    if not any(interface.network.subnet_of(network) for network in DOCUMENTATION_NETWORKS
               if network.version == interface.version):
        ranges = ", ".join(str(network) for network in DOCUMENTATION_NETWORKS)
        raise ValueError(f"{address}: outside the documentation ranges a namespace may use ({ranges})")
    return [str(interface)] + (["nodad"] if interface.version == 6 else [])


def exec_argv(name: str, argv: Sequence[str]) -> list[str]:
    """The argv that runs `argv` inside namespace `name`."""
    return ["ip", "netns", "exec", name, *argv]


def namespace_pids(name: str) -> list[int]:
    """Every process whose network namespace is `name` (none when it does not exist)."""
    result = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False)
    return [int(pid) for pid in result.stdout.split()]


def process_alive(pid: int) -> bool:
    """True for a running process; a zombie counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_processes(names: Iterable[str], grace: float = KILL_GRACE, deadline: float = KILL_DEADLINE) -> set[int]:
    """TERM every process in the namespaces, KILL what is left after `grace`; return what survived even that."""
    names = list(names)
    pids = {pid for name in names for pid in namespace_pids(name)}
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, deadline)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        pids = _wait_for_exit(pids, wait)
        # Processes forked while we signalled join the list.
        pids |= {pid for name in names for pid in namespace_pids(name)}
        if not pids:
            break
    return pids


def _wait_for_exit(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    alive = {pid for pid in pids if process_alive(pid)}
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {pid for pid in alive if process_alive(pid)}
    return alive


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


class Namespace:
    """A network namespace of its own until `close()` (or the end of a `with` block)."""

    def __init__(self, prefix: str, addresses: Iterable[str] = ()):
        """`lo` up, with `addresses` on it."""
        self.name = unique_name(prefix)
        self.closed = False
        _ip("netns", "add", self.name)
        try:
            _ip("-n", self.name, "link", "set", "lo", "up")
            self.add_addresses(addresses)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"<Namespace {self.name}{' (closed)' if self.closed else ''}>"

    def __enter__(self) -> Namespace:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def add_addresses(self, addresses: Iterable[str], device: str = "lo") -> None:
        """Each 'addr' or 'addr/len' on `device` (IPv6 without duplicate detection)."""
        for address in addresses:
            _ip("-n", self.name, "addr", "add", *address_arguments(address), "dev", device)

    def link(self, other: Namespace, device: str = "eth0") -> None:
        """A veth pair between this namespace and `other`, called `device` on both sides, both up."""
        _ip("link", "add", device, "netns", self.name, "type", "veth", "peer", "name", device, "netns", other.name)
        for namespace in (self, other):
            _ip("-n", namespace.name, "link", "set", device, "up")

    def command(self, argv: Sequence[str]) -> list[str]:
        """The argv that runs `argv` in this namespace (for callers that start processes themselves)."""
        return exec_argv(self.name, argv)

    def run(self, argv: Sequence[str], *, input: str | None = None, check: bool = False,
            **kwargs) -> subprocess.CompletedProcess:
        """Run `argv` in the namespace; text output captured (`check`: raise CalledProcessError on failure)."""
        return subprocess.run(self.command(argv), input=input, capture_output=True, text=True, check=check, **kwargs)

    def python(self, code: str, *args: str, interpreter: str = "python3", **kwargs) -> subprocess.CompletedProcess:
        """Run Python `code` (with `args` as sys.argv[1:]) in the namespace, as `run` does."""
        return self.run([interpreter, "-c", code, *args], **kwargs)

    def sh(self, script: str, *, input: str | None = None, check: bool = True) -> str:
        """Run a `sh -e` script in the namespace; its stdout. A failure raises NamespaceError unless `check` is false."""
        result = self.run(["sh", "-ec", script], input=input)
        if check and result.returncode != 0:
            raise NamespaceError(f"in {self.name}: {script} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def pids(self) -> list[int]:
        return namespace_pids(self.name)

    def close(self) -> None:
        """Stop every process in the namespace and delete it (its links go with it). Harmless twice."""
        if self.closed:
            return
        survivors = stop_processes([self.name])
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)
        self.closed = True
        if survivors:
            raise NamespaceError(f"{self.name}: processes survived SIGKILL: {sorted(survivors)}")
        if (NETNS_DIR / self.name).exists():
            raise NamespaceError(f"{self.name}: still in {NETNS_DIR} after 'ip netns del'")


class Pair:
    """Two namespaces on one veth (``eth0`` on both sides): ``host`` (the machine under test) and ``net`` (its peers).

    Subclasses add addresses, routes and listeners in ``set_up``; if anything fails half-way, both go again.
    """

    def __init__(self, prefix: str):
        self.host: Namespace | None = Namespace(prefix + "-h")
        self.net: Namespace | None = None
        try:
            self.net = Namespace(prefix + "-n")
            self.host.link(self.net, "eth0")
            self.set_up()
        except BaseException:
            self.delete()
            raise

    def set_up(self) -> None:
        """What the caller needs on top of the link."""

    def delete(self) -> None:
        for namespace in (self.host, self.net):
            if namespace is not None:
                namespace.close()
