"""What every part of the lab shares: its errors, the tools it needs, and small process and file helpers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SSH_PORT = 22
# Deadlines, not speed checks: generous so that a busy machine never fails a lab (a host is
# usually up in well under a second).
READY_TIMEOUT = 120.0

REQUIRED_TOOLS = ("ip", "unshare", "nsenter", "mount", "ssh", "ssh-keygen", SSHD)


class LabError(RuntimeError):
    """Building or reaching the lab failed."""


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


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
