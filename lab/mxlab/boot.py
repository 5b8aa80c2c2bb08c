"""Inside a new host: runs in the host's fresh UTS and mount namespaces (started by `up`), then becomes its sshd.

    python -m lab.mxlab.boot BOOT_FILE      (from the folder that holds the `lab` package)

BOOT_FILE is the host's run/boot.json, written by lab.mxlab.build: its overlays on /etc, /var,
/root (and /usr), its hostname and addresses, its sshd config and log.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from lab.mxlab.common import SSHD, LabError
from lab.netns import NETNS_DIR


def boot(boot_file: str) -> None:
    # Its parent is `up`, in the controller's mount namespace: never mount there.
    if os.readlink("/proc/self/ns/mnt") == os.readlink(f"/proc/{os.getppid()}/ns/mnt"):
        raise LabError("boot must run in a fresh mount namespace (it is started by 'up')")
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m lab.mxlab.boot BOOT_FILE (run by 'up' inside a new host)", file=sys.stderr)
        return 2
    boot(args[0])
    return 127  # not reached: boot() becomes sshd


if __name__ == "__main__":
    sys.exit(main())
