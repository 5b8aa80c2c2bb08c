"""Names of a lab's kernel objects and where its files go (pure: nothing here touches the machine)."""

from __future__ import annotations

import re
from pathlib import Path

OVERLAY_DIRS = ("/etc", "/var", "/root")
# Paths a host does not see as the controller does: the runtime folder (keys,
# sshd config, pid files) must live elsewhere.
HIDDEN_IN_HOSTS = OVERLAY_DIRS + ("/run",)
FALLBACK_RUNTIME_ROOT = Path("/tmp/mxlab")
REGISTRY_DIR = Path("/run/mxlab")
STATE_FILES = ("lab.json", "instances.json", "inventory.yml")
RUNTIME_FILES = ("id_ed25519", "id_ed25519.pub", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub")


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


def registry_file(lab: str) -> Path:
    return REGISTRY_DIR / f"{lab}.json"
