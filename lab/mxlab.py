"""Throwaway test hosts as Linux network namespaces.

Each host is a network namespace wired to a bridge in the root namespace,
with private overlays on /etc, /var and /root, a tmpfs on /run, its own
hostname, and an sshd the controller reaches with a generated key.
See lab/README.md for the spec format and the commands.

Stdlib only; needs root, iproute2, util-linux (unshare, nsenter, mount)
and OpenSSH (sshd, ssh, ssh-keygen).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ALLOWED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in ("203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32")
)
LAB_NAME_RE = re.compile(r"^[a-z0-9]{1,6}$")
HOST_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
MAX_HOSTS = 999
SPEC_KEYS = {"name", "bridge_addresses", "hosts"}
# Molecule platforms carry keys of their own (groups, children, ...): a host
# entry may have them, the lab ignores them.
HOST_KEYS = {"name", "addresses", "extra_addresses", "private_usr"}

OVERLAY_DIRS = ("/etc", "/var", "/root")
# Paths a host does not see as the controller does: the runtime folder (keys,
# sshd config, pid files) must live elsewhere.
HIDDEN_IN_HOSTS = OVERLAY_DIRS + ("/run",)
FALLBACK_RUNTIME_ROOT = Path("/tmp/mxlab")
REGISTRY_DIR = Path("/run/mxlab")
NETNS_DIR = Path("/run/netns")

SSHD = "/usr/sbin/sshd"
SSH_PORT = 22
# Deadlines, not speed checks: generous so that a busy machine never fails a lab (a host is
# usually up in well under a second).
READY_TIMEOUT = 120.0
# TERM, then KILL after this grace; a KILLed process may take longer to be gone on a busy machine.
KILL_GRACE = 3.0
KILL_DEADLINE = 60.0
SSH_CLIENT_OPTIONS = (
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "IdentitiesOnly=yes",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=30",
)
ANSIBLE_SSH_COMMON_ARGS = (
    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
    "-o IdentitiesOnly=yes -o LogLevel=ERROR"
)
REQUIRED_TOOLS = ("ip", "unshare", "nsenter", "mount", "ssh", "ssh-keygen", SSHD)

STATE_FILES = ("lab.json", "instances.json", "inventory.yml")
RUNTIME_FILES = ("id_ed25519", "id_ed25519.pub", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub")


class SpecError(ValueError):
    """The lab spec is invalid; nothing was created."""


class LabError(RuntimeError):
    """Building or reaching the lab failed."""


# --------------------------------------------------------------------------
# Spec

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


# --------------------------------------------------------------------------
# Names and paths

def namespace_name(lab: str, host: str) -> str:
    return f"{lab}-{host}"


def bridge_name(lab: str) -> str:
    return f"{lab}-br"


def veth_name(lab: str, index: int) -> str:
    """Root-namespace end of host number `index` (1-based); the other end is eth0."""
    return f"{lab}-{index}h"


def lab_link_pattern(lab: str) -> re.Pattern[str]:
    # Lab names have no hyphen, so "<lab>-" never matches another lab's links.
    return re.compile(rf"^{re.escape(lab)}-(br|\d+h)$")


def choose_runtime_dir(state_dir: Path, lab: str) -> Path:
    """Where keys, sshd files and overlay layers go: visible the same way inside hosts."""
    if any(_is_within(state_dir, Path(hidden)) for hidden in HIDDEN_IN_HOSTS):
        return FALLBACK_RUNTIME_ROOT / lab
    return state_dir


def _is_within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _check_mount_safe(path: Path) -> None:
    if re.search(r"[\s,:]", str(path)):
        raise LabError(f"{path}: the runtime folder may not contain blanks, commas or colons (overlay options)")


def registry_file(lab: str) -> Path:
    return REGISTRY_DIR / f"{lab}.json"


# --------------------------------------------------------------------------
# Small process helpers

def run(*cmd: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, **kwargs)
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return result


def check_environment() -> None:
    if os.geteuid() != 0:
        raise LabError("mxlab needs root (network namespaces, mounts)")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)}")


def process_alive(pid: int) -> bool:
    """True for a running process; a zombie counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------------------------
# up

def up(spec: dict | LabSpec, state_dir: str | os.PathLike, keep_on_failure: bool = False) -> list[dict]:
    """Build the lab described by `spec`; return the instances (see instances.json)."""
    lab = spec if isinstance(spec, LabSpec) else parse_spec(spec)
    check_environment()
    state = Path(state_dir).resolve()
    runtime = choose_runtime_dir(state, lab.name)
    _check_mount_safe(runtime)
    state.mkdir(parents=True, exist_ok=True)
    down(state_dir=state, name=lab.name, quiet=True)
    _check_no_conflicts(lab)

    record = _initial_record(lab, state, runtime)
    _register(lab.name, state, runtime)
    write_json(state / "lab.json", record)
    try:
        _build(lab, record, runtime)
        instances = _instances(lab, record, runtime)
        _wait_until_reachable(lab, instances)
    except BaseException as error:
        if isinstance(error, LabError):
            error = LabError(f"{error}{_sshd_log_tails(record)}")
        if not keep_on_failure:
            down(state_dir=state, quiet=True)
        raise error from None
    write_json(state / "lab.json", record)
    write_json(state / "instances.json", instances)
    (state / "inventory.yml").write_text(render_inventory(instances), encoding="utf-8")
    return instances


def _check_no_conflicts(lab: LabSpec) -> None:
    """Refuse addresses or networks this machine already uses (e.g. another lab)."""
    in_use = _root_namespace_addresses()
    ours = list(lab.bridge_addresses) + [a for h in lab.hosts for a in h.addresses]
    clashes = sorted({str(a.ip) for a in ours if a.ip in in_use})
    if clashes:
        raise LabError(f"address(es) already in use on this machine: {', '.join(clashes)} (another lab?)")
    routed = _root_namespace_routes()
    for address in lab.bridge_addresses:
        if address.network in routed:
            raise LabError(f"{address.network} is already routed via {routed[address.network]} (another lab?)")


def _root_namespace_addresses() -> set:
    data = json.loads(run("ip", "-j", "addr", "show").stdout or "[]")
    return {ipaddress.ip_address(info["local"]) for link in data for info in link.get("addr_info", [])}


def _root_namespace_routes() -> dict:
    routes = {}
    for family in ("-4", "-6"):
        for route in json.loads(run("ip", family, "-j", "route", "show").stdout or "[]"):
            try:
                routes[ipaddress.ip_network(route["dst"])] = route.get("dev", "?")
            except ValueError:  # "default" and friends
                continue
    return routes


def _initial_record(lab: LabSpec, state: Path, runtime: Path) -> dict:
    return {
        "name": lab.name,
        "state_dir": str(state),
        "runtime_dir": str(runtime),
        "bridge": bridge_name(lab.name),
        "bridge_addresses": [str(a) for a in lab.bridge_addresses],
        "hosts": [
            {
                "name": host.name,
                "namespace": namespace_name(lab.name, host.name),
                "veth": veth_name(lab.name, index),
                "host_dir": str(runtime / "hosts" / host.name),
                "pid_file": str(runtime / "hosts" / host.name / "run" / "sshd.pid"),
                "sshd_pid": None,
            }
            for index, host in enumerate(lab.hosts, start=1)
        ],
    }


def _register(lab: str, state: Path, runtime: Path) -> None:
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    write_json(registry_file(lab), {"state_dir": str(state), "runtime_dir": str(runtime)})


def _build(lab: LabSpec, record: dict, runtime: Path) -> None:
    if runtime.parent == FALLBACK_RUNTIME_ROOT:
        _make_private_dir(FALLBACK_RUNTIME_ROOT)
    runtime.mkdir(parents=True, exist_ok=True)
    if runtime.parent == FALLBACK_RUNTIME_ROOT:
        _make_private_dir(runtime)
    _generate_keys(runtime, lab.name)
    _create_bridge(lab)
    for host, host_record in zip(lab.hosts, record["hosts"]):
        _create_host_network(lab, host, host_record)
        _write_host_files(host, host_record, runtime)
    # Booting is mostly interpreter start-up: boot every host at once.
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(_boot_host, record["hosts"]))
    for host_record in record["hosts"]:
        host_record["sshd_pid"] = _wait_for_pid(Path(host_record["pid_file"]), host_record["name"])


def _make_private_dir(path: Path) -> None:
    """A folder under /tmp that holds the lab's keys: root's own, not a link, 0700.

    Anyone can create paths in /tmp; a folder planted there must not get to hold the key
    that opens the lab hosts.
    """
    path.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise LabError(f"{path} is not a folder of our own (a link, or another owner's): remove it first")
    os.chmod(path, 0o700)


def _generate_keys(runtime: Path, lab: str) -> None:
    for name in ("id_ed25519", "ssh_host_ed25519_key"):
        key = runtime / name
        for stale in (key, key.with_name(name + ".pub")):
            stale.unlink(missing_ok=True)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"mxlab-{lab}", "-f", str(key))


def _create_bridge(lab: LabSpec) -> None:
    bridge = bridge_name(lab.name)
    run("ip", "link", "add", bridge, "type", "bridge")
    for address in lab.bridge_addresses:
        _add_address([], bridge, address)
    run("ip", "link", "set", bridge, "up")


def _add_address(netns_args: list[str], device: str, address: IPInterface) -> None:
    # nodad: usable at once, sshd can bind it without waiting for DAD.
    extra = ["nodad"] if address.version == 6 else []
    run("ip", *netns_args, "addr", "add", str(address), "dev", device, *extra)


def _create_host_network(lab: LabSpec, host: HostSpec, host_record: dict) -> None:
    netns, veth = host_record["namespace"], host_record["veth"]
    run("ip", "netns", "add", netns)
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
    run("ip", "link", "set", veth, "master", bridge_name(lab.name), "up")
    inside = ["-n", netns]
    run("ip", *inside, "link", "set", "lo", "up")
    for address in host.addresses:
        _add_address(inside, "eth0", address)
    run("ip", *inside, "link", "set", "eth0", "up")


def _write_host_files(host: HostSpec, host_record: dict, runtime: Path) -> None:
    host_dir = Path(host_record["host_dir"])
    shutil.rmtree(host_dir, ignore_errors=True)
    overlays = {}
    for target in OVERLAY_DIRS + (("/usr",) if host.private_usr else ()):
        layer = target.strip("/")
        upper, work = host_dir / "upper" / layer, host_dir / "work" / layer
        upper.mkdir(parents=True)
        work.mkdir(parents=True)
        overlays[target] = {"upper": str(upper), "work": str(work)}
    run_dir = host_dir / "run"
    run_dir.mkdir(parents=True)
    sshd_config = run_dir / "sshd_config"
    sshd_config.write_text(render_sshd_config(host, runtime, Path(host_record["pid_file"])), encoding="utf-8")
    boot = {
        "hostname": host.name,
        "addresses": [str(a.ip) for a in host.addresses],
        "overlays": overlays,
        "sshd_config": str(sshd_config),
        "sshd_log": str(run_dir / "sshd.log"),
    }
    write_json(run_dir / "boot.json", boot)


def render_sshd_config(host: HostSpec, runtime: Path, pid_file: Path) -> str:
    listen = "".join(f"ListenAddress {_bracket(a.ip)}:{SSH_PORT}\n" for a in host.addresses)
    return (
        f"# mxlab host {host.name}: generated, replaced on every 'up'\n"
        f"{listen}"
        f"HostKey {runtime / 'ssh_host_ed25519_key'}\n"
        f"PidFile {pid_file}\n"
        f"AuthorizedKeysFile {runtime / 'id_ed25519.pub'}\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        # The key lives in a shared folder (often /tmp) that root does not own alone.
        "StrictModes no\n"
        "UseDNS no\n"
        "PrintMotd no\n"
        "MaxStartups 100:30:200\n"
        "MaxSessions 100\n"
        "AcceptEnv LANG LC_*\n"
        "Subsystem sftp internal-sftp\n"
    )


def _bracket(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return f"[{ip}]" if ip.version == 6 else str(ip)


def _boot_host(host_record: dict) -> None:
    boot_file = Path(host_record["host_dir"]) / "run" / "boot.json"
    # `ip netns exec` remounts /sys for the namespace; unshare then gives the
    # host its own UTS and (private) mount namespace for the overlays.
    run("ip", "netns", "exec", host_record["namespace"],
        "unshare", "--uts", "--mount", "--propagation", "private", "--",
        sys.executable, str(Path(__file__).resolve()), "_boot", str(boot_file),
        timeout=READY_TIMEOUT)


def _wait_for_pid(pid_file: Path, host: str) -> int:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        pid = read_pid(pid_file)
        if pid is not None and process_alive(pid):
            return pid
        time.sleep(0.02)
    raise LabError(f"host {host}: sshd wrote no pid file {pid_file}")


def _instances(lab: LabSpec, record: dict, runtime: Path) -> list[dict]:
    identity = str(runtime / "id_ed25519")
    return [
        {
            "instance": host.name,
            "address": str(host.main_address.ip),
            "user": "root",
            "port": SSH_PORT,
            "identity_file": identity,
            "namespace": host_record["namespace"],
            "sshd_pid": host_record["sshd_pid"],
            "addresses": [str(a.ip) for a in host.addresses],
            "extra_addresses": [str(a.ip) for a in host.extra_addresses],
        }
        for host, host_record in zip(lab.hosts, record["hosts"])
    ]


def _wait_until_reachable(lab: LabSpec, instances: list[dict]) -> None:
    bridge_networks = [a.network for a in lab.bridge_addresses]
    deadline = time.monotonic() + READY_TIMEOUT
    for instance in instances:
        for address in instance["addresses"]:
            if any(ipaddress.ip_address(address) in net for net in bridge_networks):
                _wait_for_port(instance["instance"], address, deadline)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(_check_ssh, instances))


def _wait_for_port(host: str, address: str, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((address, SSH_PORT), timeout=0.5):
                return
        except OSError as error:
            if time.monotonic() > deadline:
                raise LabError(f"host {host}: sshd on {address}:{SSH_PORT} not reachable "
                               f"within {READY_TIMEOUT:.0f} s: {error}") from None
            time.sleep(0.05)


def _check_ssh(instance: dict) -> None:
    result = ssh(instance, "hostname", check=False)
    if result.returncode != 0:
        raise LabError(f"host {instance['instance']}: ssh root@{instance['address']} failed: {result.stderr.strip()}")
    if result.stdout.strip() != instance["instance"]:
        raise LabError(f"host {instance['instance']}: hostname is {result.stdout.strip()!r}")


def ssh(instance: dict, *command: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command on a lab host over SSH, as Ansible would reach it."""
    return run("ssh", "-F", "/dev/null", *SSH_CLIENT_OPTIONS, "-i", instance["identity_file"],
               "-p", str(instance["port"]), f"{instance['user']}@{instance['address']}", "--", *command,
               check=check, timeout=READY_TIMEOUT)


def _sshd_log_tails(record: dict) -> str:
    tails = []
    for host in record["hosts"]:
        log = Path(host["host_dir"]) / "run" / "sshd.log"
        if log.exists():
            lines = log.read_text(errors="replace").strip().splitlines()[-5:]
            if lines:
                tails.append(f"\n--- sshd log of {host['name']} ---\n" + "\n".join(lines))
    return "".join(tails)


def render_inventory(instances: list[dict]) -> str:
    """An Ansible YAML inventory; JSON scalars are valid YAML, so no PyYAML needed."""
    lines = ["# Generated by lab/mxlab.py; replaced on every 'up'.", "all:", "  hosts:"]
    for instance in instances:
        host_vars = {
            "ansible_host": instance["address"],
            "ansible_port": instance["port"],
            "ansible_user": instance["user"],
            "ansible_ssh_private_key_file": instance["identity_file"],
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": ANSIBLE_SSH_COMMON_ARGS,
            "lab_addresses": instance["addresses"],
            "lab_extra_addresses": instance["extra_addresses"],
        }
        lines.append(f"    {json.dumps(instance['instance'])}:")
        lines += [f"      {key}: {json.dumps(value)}" for key, value in host_vars.items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Inside a host (runs in the new namespaces, then becomes sshd)

def boot(boot_file: str) -> None:
    # Its parent is `up`, in the controller's mount namespace: never mount there.
    if os.readlink("/proc/self/ns/mnt") == os.readlink(f"/proc/{os.getppid()}/ns/mnt"):
        raise LabError("_boot must run in a fresh mount namespace (it is started by 'up')")
    config = json.loads(Path(boot_file).read_text(encoding="utf-8"))
    # Copies of every lab's /run/netns/* mounts would keep those namespaces
    # (and their veths) alive after `ip netns del`, as long as this host lives.
    subprocess.run(["umount", "--recursive", "--lazy", str(NETNS_DIR)], capture_output=True, check=False)
    for target, layers in config["overlays"].items():
        options = f"lowerdir={target},upperdir={layers['upper']},workdir={layers['work']}"
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, target], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", "/run"], check=True)
    os.mkdir("/run/sshd", 0o755)
    os.mkdir("/run/lock", 0o1777)
    os.chmod("/run/lock", 0o1777)
    socket.sethostname(config["hostname"])
    _write_identity_files(config["hostname"], config["addresses"])
    os.execv(SSHD, [SSHD, "-f", config["sshd_config"], "-E", config["sshd_log"]])


def _write_identity_files(hostname: str, addresses: list[str]) -> None:
    """/etc/hostname and /etc/hosts name this host (inside its overlay only)."""
    Path("/etc/hostname").write_text(hostname + "\n", encoding="utf-8")
    hosts = Path("/etc/hosts")
    existing = hosts.read_text(encoding="utf-8") if hosts.exists() else "127.0.0.1\tlocalhost\n"
    own = "".join(f"{address}\t{hostname}\n" for address in addresses)
    hosts.write_text(existing.rstrip("\n") + "\n# mxlab\n" + own, encoding="utf-8")


# --------------------------------------------------------------------------
# down

def down(state_dir: str | os.PathLike | None = None, name: str | None = None, quiet: bool = False) -> None:
    """Remove everything a lab created; safe after a half-failed up, and twice."""
    state = Path(state_dir).resolve() if state_dir else None
    labs = [lab for lab in _labs_to_remove(state, name) if _lab_exists(*lab)]
    for lab_name, lab_state, runtime in labs:
        _stop_lab(lab_name)
        _remove_files(lab_state, runtime, lab_name)
        if not quiet:
            print(f"mxlab: lab {lab_name} is down")
    if not labs and not quiet:
        print("mxlab: nothing to tear down")


def _labs_to_remove(state: Path | None, name: str | None) -> list[tuple[str, Path | None, Path | None]]:
    """(name, state dir, runtime dir) of each lab the arguments point at."""
    found: dict[str, tuple[Path | None, Path | None]] = {}
    if state is not None:
        record = _read_json(state / "lab.json")
        if record:
            found[record["name"]] = (state, Path(record["runtime_dir"]))
    if name is not None:
        if not LAB_NAME_RE.match(name):
            raise SpecError(f"lab name {name!r}: must be 1-6 characters of a-z and 0-9")
        registered = _read_json(registry_file(name)) or {}
        known_state, known_runtime = found.get(name, (None, None))
        fallback = FALLBACK_RUNTIME_ROOT / name
        found[name] = (
            known_state or _optional_path(registered.get("state_dir")) or state,
            known_runtime or _optional_path(registered.get("runtime_dir"))
            or (fallback if fallback.exists() else None),
        )
    return [(lab, lab_state, runtime) for lab, (lab_state, runtime) in found.items()]


def _lab_exists(lab: str, state: Path | None, runtime: Path | None) -> bool:
    """Anything of the lab left: namespaces, links, registry entry or files."""
    leftovers = [registry_file(lab)]
    if state is not None:
        leftovers += [state / name for name in STATE_FILES]
    if runtime is not None:
        leftovers += [runtime / "hosts"] + [runtime / name for name in RUNTIME_FILES]
    return bool(lab_namespaces(lab) or lab_links(lab) or any(p.exists() for p in leftovers))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _stop_lab(lab: str) -> None:
    namespaces = lab_namespaces(lab)
    kill_namespace_processes(namespaces)
    for link in lab_links(lab):
        # Deleting the root end of a veth removes the pair; the bridge goes last.
        if not link.endswith("-br"):
            run("ip", "link", "del", link, check=False)
    for netns in namespaces:
        run("ip", "netns", "del", netns, check=False)
    run("ip", "link", "del", bridge_name(lab), check=False)


def lab_namespaces(lab: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(f"{lab}-"))
    except FileNotFoundError:
        return []


def lab_links(lab: str) -> list[str]:
    pattern = lab_link_pattern(lab)
    links = json.loads(run("ip", "-j", "link", "show").stdout or "[]")
    return sorted(link["ifname"] for link in links if pattern.match(link["ifname"]))


def namespace_pids(netns: str) -> list[int]:
    result = run("ip", "netns", "pids", netns, check=False)
    return [int(pid) for pid in result.stdout.split()]


def kill_namespace_processes(namespaces: list[str]) -> None:
    """TERM every process in the namespaces, KILL what is left after a grace period."""
    pids = {pid for netns in namespaces for pid in namespace_pids(netns)}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        pids = _wait_for_exit(pids, KILL_GRACE if sig == signal.SIGTERM else KILL_DEADLINE)
        # Processes forked while we signalled (e.g. a fresh ssh session) join the list.
        pids |= {pid for netns in namespaces for pid in namespace_pids(netns)}
        if not pids:
            return
    if pids:
        raise LabError(f"processes survived SIGKILL: {sorted(pids)}")


def _wait_for_exit(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    alive = {pid for pid in pids if process_alive(pid)}
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {pid for pid in alive if process_alive(pid)}
    return alive


def _remove_files(state: Path | None, runtime: Path | None, lab: str) -> None:
    if runtime is not None:
        shutil.rmtree(runtime / "hosts", ignore_errors=True)
        for name in RUNTIME_FILES:
            (runtime / name).unlink(missing_ok=True)
        if runtime == FALLBACK_RUNTIME_ROOT / lab:
            shutil.rmtree(runtime, ignore_errors=True)
    if state is not None:
        for name in STATE_FILES:
            (state / name).unlink(missing_ok=True)
    registry_file(lab).unlink(missing_ok=True)


# --------------------------------------------------------------------------
# exec

def host_pid(state_dir: str | os.PathLike, host: str) -> int:
    """The live sshd pid of `host`, whose namespaces are the host's."""
    record = _read_json(Path(state_dir) / "lab.json")
    if not record:
        raise LabError(f"{state_dir}: no lab.json; is the lab up?")
    for entry in record["hosts"]:
        if entry["name"] == host:
            pid = read_pid(Path(entry["pid_file"]))
            if pid is None or not process_alive(pid):
                raise LabError(f"host {host}: sshd is not running")
            return pid
    raise LabError(f"host {host}: not in lab {record['name']} ({', '.join(h['name'] for h in record['hosts'])})")


def exec_command(state_dir: str | os.PathLike, host: str, command: list[str]) -> list[str]:
    """The argv that runs `command` inside `host` (network, mount and UTS namespaces)."""
    return ["nsenter", "-t", str(host_pid(state_dir, host)), "-n", "-m", "-u", "--", *command]


# --------------------------------------------------------------------------
# CLI

def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except (SpecError, LabError) as error:
        print(f"mxlab: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, SpecError) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mxlab", description="Throwaway namespace hosts reachable over SSH.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    up_cmd = commands.add_parser("up", help="build a lab from SPEC (JSON, or YAML with PyYAML)")
    up_cmd.add_argument("spec", metavar="SPEC", help="spec file, or - for stdin")
    up_cmd.add_argument("--state-dir", required=True, help="folder for keys, inventory and teardown data")
    up_cmd.add_argument("--keep-on-failure", action="store_true", help="leave a failed lab for inspection")
    up_cmd.set_defaults(handler=_cli_up)

    down_cmd = commands.add_parser("down", help="tear a lab down (by state dir and/or name)")
    down_cmd.add_argument("--state-dir")
    down_cmd.add_argument("--name")
    down_cmd.set_defaults(handler=_cli_down)

    exec_cmd = commands.add_parser("exec", help="run a command inside a host's namespaces")
    exec_cmd.add_argument("--state-dir", required=True)
    exec_cmd.add_argument("host")
    exec_cmd.add_argument("command", nargs=argparse.REMAINDER, help="-- cmd args...")
    exec_cmd.set_defaults(handler=_cli_exec)

    boot_cmd = commands.add_parser("_boot", help=argparse.SUPPRESS)
    boot_cmd.add_argument("boot_file")
    boot_cmd.set_defaults(handler=lambda args: boot(args.boot_file))
    return parser


def _cli_up(args: argparse.Namespace) -> int:
    spec = parse_spec(load_spec_file(args.spec))
    started = time.monotonic()
    instances = up(spec, args.state_dir, keep_on_failure=args.keep_on_failure)
    elapsed = time.monotonic() - started
    print(f"mxlab: lab {spec.name} up in {elapsed:.1f} s ({len(instances)} hosts, "
          f"bridge {bridge_name(spec.name)} {' '.join(map(str, spec.bridge_addresses))})")
    for instance in instances:
        print(f"  {instance['instance']:<16} {' '.join(instance['addresses']):<40} "
              f"netns {instance['namespace']}  sshd pid {instance['sshd_pid']}")
    print(f"  inventory: {Path(args.state_dir).resolve() / 'inventory.yml'}")
    return 0


def _cli_down(args: argparse.Namespace) -> int:
    if not args.state_dir and not args.name:
        raise LabError("down needs --state-dir and/or --name")
    check_environment()
    started = time.monotonic()
    down(state_dir=args.state_dir, name=args.name)
    print(f"mxlab: down in {time.monotonic() - started:.1f} s")
    return 0


def _cli_exec(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise LabError("exec needs a command after --")
    argv = exec_command(args.state_dir, args.host, command)
    os.execvp(argv[0], argv)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
