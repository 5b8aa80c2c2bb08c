"""`up`: build a lab from its spec (bridge, namespaces, veths, keys, host files, sshd), then check every host answers.

Each host boots in fresh UTS and mount namespaces (lab.mxlab.boot) and becomes its sshd; `up`
waits until every sshd accepts TCP and `ssh root@host hostname` works, then writes
instances.json, inventory.yml and lab.json (what lab.mxlab.teardown needs) to the state folder.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import os
import re
import shutil
import socket
import stat
import sys
import time
from pathlib import Path

from lab.mxlab.access import ssh
from lab.mxlab.common import READY_TIMEOUT, SSH_PORT, LabError, check_environment, read_pid, run, write_json
from lab.mxlab.names import (FALLBACK_RUNTIME_ROOT, OVERLAY_DIRS, REGISTRY_DIR, bridge_name, choose_runtime_dir,
                             namespace_name, registry_file, veth_name)
from lab.mxlab.spec import HostSpec, IPInterface, LabSpec, parse_spec
from lab.mxlab.teardown import down
from lab.netns import process_alive

ANSIBLE_SSH_COMMON_ARGS = (
    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
    "-o IdentitiesOnly=yes -o LogLevel=ERROR"
)
# The folder that holds the `lab` package: a host boots with `python -m lab.mxlab.boot` from there.
IMPORT_ROOT = Path(__file__).resolve().parents[2]


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
        sys.executable, "-m", "lab.mxlab.boot", str(boot_file),
        cwd=IMPORT_ROOT, timeout=READY_TIMEOUT)


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
    lines = ["# Generated by lab.mxlab (python -m lab.mxlab up); replaced on every 'up'.", "all:", "  hosts:"]
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


def _check_mount_safe(path: Path) -> None:
    if re.search(r"[\s,:]", str(path)):
        raise LabError(f"{path}: the runtime folder may not contain blanks, commas or colons (overlay options)")
