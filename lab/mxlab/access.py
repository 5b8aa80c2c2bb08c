"""Reaching a built lab's hosts: over SSH as Ansible does, or with nsenter into a host's namespaces (`exec`)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lab.mxlab.common import READY_TIMEOUT, LabError, read_json, read_pid, run
from lab.netns import process_alive

SSH_CLIENT_OPTIONS = (
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "IdentitiesOnly=yes",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=30",
)


def ssh(instance: dict, *command: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command on a lab host over SSH, as Ansible would reach it."""
    return run("ssh", "-F", "/dev/null", *SSH_CLIENT_OPTIONS, "-i", instance["identity_file"],
               "-p", str(instance["port"]), f"{instance['user']}@{instance['address']}", "--", *command,
               check=check, timeout=READY_TIMEOUT)


def host_pid(state_dir: str | os.PathLike, host: str) -> int:
    """The live sshd pid of `host`, whose namespaces are the host's."""
    record = read_json(Path(state_dir) / "lab.json")
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
